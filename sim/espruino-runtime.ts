/**
 * The `espruino` runtime: the core as built for Espruino (dist/espruino/
 * letterbox.js, rebuilt when stale) run on an emulated Espruino board
 * (sim/espruino/board.ts) in node:vm. The configuration reaches it the way
 * it reaches a real board: as settings in the internal flash.
 */
import * as fs from "node:fs";
import type { InternalFlash } from "../firmware/hal";
import { saveSettings } from "../firmware/settings";
import { buildEspruino, ESPRUINO_BUNDLE, espruinoBundleStale } from "../host/espruino/build";
import { EspruinoBoard } from "./espruino/board";
import type { RunningBox, Runtime, RuntimeOptions } from "./runtime";

export interface EspruinoBox extends RunningBox {
  /** The emulated board, for memory estimates and uncaught errors. */
  board: EspruinoBoard;
}

let building: Promise<void> | undefined;

/** Builds the bundle once per process when a source is newer than it. */
export async function ensureEspruinoBundle(): Promise<string> {
  if (!building) building = espruinoBundleStale() ? buildEspruino().then(() => undefined) : Promise.resolve();
  await building;
  return ESPRUINO_BUNDLE;
}

/** An InternalFlash on a plain map, as the emulated board's Storage keeps it. */
export function mapFlash(files: Map<string, string>): InternalFlash {
  return {
    read: (name) => files.get(name),
    write: (name, data) => void files.set(name, data),
    erase: (name) => void files.delete(name),
  };
}

export const espruinoRuntime: Runtime & { start(options: RuntimeOptions): Promise<EspruinoBox> } = {
  name: "espruino",
  async start(options: RuntimeOptions): Promise<EspruinoBox> {
    const file = await ensureEspruinoBundle();
    const code = fs.readFileSync(file, "latin1");
    const flash = new Map<string, string>();
    saveSettings(mapFlash(flash), { config: options.config }, undefined);
    const board = new EspruinoBoard({
      card: options.card,
      flash,
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
