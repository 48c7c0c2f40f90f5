/**
 * The `espruino` runtime: the core as built for Espruino (dist/espruino/
 * letterbox.js, rebuilt when stale) run on an emulated Espruino board
 * (sim/espruino/board.ts) in node:vm. The configuration reaches it the way
 * it reaches a real board: as settings in the internal flash.
 */
import * as fs from "node:fs";
import { encode } from "../firmware/msgpack";
import { settingsToMap } from "../firmware/settings";
import { buildEspruino, ESPRUINO_BUNDLE, espruinoBundleStale, estimateCodeVariables } from "../host/espruino/build";
import { EspruinoBoard } from "./espruino/board";
import { SimFlash } from "./flash";
import type { RunningBox, Runtime, RuntimeOptions } from "./runtime";

export interface EspruinoBox extends RunningBox {
  /** The emulated board, for memory estimates and uncaught errors. */
  board: EspruinoBoard;
}

let building: Promise<void> | undefined;
const codeVariables = new Map<string, number>();

/** Builds the bundle once per process when a source is newer than it. */
export async function ensureEspruinoBundle(): Promise<string> {
  if (!building) building = espruinoBundleStale() ? buildEspruino({ measure: false }).then(() => undefined) : Promise.resolve();
  await building;
  return ESPRUINO_BUNDLE;
}

/** Storage file with the settings a board starts with until provisioned (boards/espruino/main.ts). */
export const DEFAULTS_FILE = "lbdefault.cfg";

/** estimateCodeVariables, once per bundle: parsing it takes a moment. */
function codeVariablesOf(code: string): number {
  let n = codeVariables.get(code);
  if (n === undefined) {
    n = estimateCodeVariables(code);
    codeVariables.clear();
    codeVariables.set(code, n);
  }
  return n;
}

export const espruinoRuntime: Runtime & { start(options: RuntimeOptions): Promise<EspruinoBox> } = {
  name: "espruino",
  async start(options: RuntimeOptions): Promise<EspruinoBox> {
    const file = await ensureEspruinoBundle();
    const code = fs.readFileSync(file, "latin1");
    // The simulator's configuration plays the part of the board's defaults:
    // settings provisioned into the flash win over it, as on the node runtime.
    const board = new EspruinoBoard({
      card: options.card,
      flash: options.flash || new SimFlash(),
      romFiles: { [DEFAULTS_FILE]: encode(settingsToMap({ config: options.config })) },
      onReboot: options.reboot,
      serial: options.serial,
      codeVariables: codeVariablesOf(code),
      portMap: options.portMap,
      bindHost: options.bindHost,
      log: options.log,
      clock: options.clock,
    });
    board.run(code, file);
    if (board.errors.length > 0) {
      await board.stop();
      throw new Error(`the Espruino bundle failed at boot: ${board.errors[0]}`);
    }
    const ports = await board.ports();
    return {
      runtime: "espruino",
      ports,
      board,
      stop: () => board.stop(),
    };
  },
};
