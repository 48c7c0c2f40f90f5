/**
 * The `lua` runtime: the NodeMCU build of the core (dist/nodemcu, rebuilt
 * when a source is newer) run on the reference Lua 5.3 interpreter with the
 * board's numbers (LUA_32BITS, as WebAssembly: sim/lua/wasm.ts) and the
 * dev-esp32 modules emulated from their sources (sim/lua/nodemcu.ts) on the
 * simulator's real sockets, simulated card and clock. Boots as the board
 * does: init.lua from SPIFFS, the core from the Lua Flash Store.
 * An uncaught Lua error restarts the emulated board, as NodeMCU does.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { InternalFlash } from "../firmware/hal";
import { encode } from "../firmware/msgpack";
import { settingsToMap } from "../firmware/settings";
import { buildNodemcu, lfsModuleName, NODEMCU_DIST, readBoard } from "../host/nodemcu/build";
import { LfsStore } from "./lua/lfs";
import { NodeMcu } from "./lua/nodemcu";
import { Spiffs } from "./lua/spiffs";
import { LuaError, LuaVm } from "./lua/vm";
import type { RunningBox, Runtime, RuntimeOptions } from "./runtime";

const ROOT = path.resolve(__dirname, "../..");
const SOURCES = [path.join(ROOT, "firmware"), path.join(ROOT, "boards/nodemcu"), path.join(ROOT, "boards/nodemcu-esp32.json")];

function newestSource(entry: string): number {
  const st = fs.statSync(entry);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const name of fs.readdirSync(entry)) newest = Math.max(newest, newestSource(path.join(entry, name)));
  return newest;
}

/** The built bundle and init.lua, rebuilding them when a source is newer. */
export function luaBuildFiles(): { bundle: Buffer; init: Buffer } {
  const board = readBoard();
  const bundlePath = path.join(NODEMCU_DIST, board.files.bundle);
  const initPath = path.join(NODEMCU_DIST, board.files.boot);
  const built = fs.existsSync(bundlePath) && fs.existsSync(initPath) ? Math.min(fs.statSync(bundlePath).mtimeMs, fs.statSync(initPath).mtimeMs) : 0;
  if (built < Math.max(...SOURCES.map(newestSource))) buildNodemcu(NODEMCU_DIST); // the simulator runs any size: make lua checks the budget
  return { bundle: fs.readFileSync(bundlePath), init: fs.readFileSync(initPath) };
}

/** SPIFFS as the core's InternalFlash, for writing settings from the host side. */
export function spiffsFlash(spiffs: Spiffs): InternalFlash {
  return {
    read: (name) => spiffs.read(name)?.toString("latin1"),
    write: (name, data) => spiffs.write(name, Buffer.from(data, "latin1")),
    erase: (name) => spiffs.remove(name),
  };
}

/** One boot of the emulated board. */
export interface LuaBoard {
  nodemcu: NodeMcu;
  vm: LuaVm;
}

export interface LuaRunningBox extends RunningBox {
  /** The board as it runs now (a restart replaces it). */
  board(): LuaBoard;
  /** Uncaught Lua errors so far (each restarted the board). */
  errors: string[];
  restarts: number;
}

/** Splits console output into log lines. */
function lineWriter(log: (line: string) => void): (text: string) => void {
  let pending = "";
  return (text) => {
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      log(pending.slice(0, nl).replace(/\r$/, ""));
      pending = pending.slice(nl + 1);
    }
  };
}

export const luaRuntime: Runtime = {
  name: "lua",
  start(options: RuntimeOptions): Promise<LuaRunningBox> {
    return startLuaBox(options);
  },
};

export async function startLuaBox(options: RuntimeOptions, seed = 1): Promise<LuaRunningBox> {
  const board = readBoard();
  const files = luaBuildFiles();
  const spiffs = new Spiffs(options.flash, [board.files.boot]);
  spiffs.write(board.files.boot, files.init);
  // As if `letterbox flash` had loaded the LFS image: the core in the Lua Flash Store.
  const lfs = new LfsStore();
  lfs.set(lfsModuleName(board), files.bundle);
  // The simulator's configuration stands in for unprovisioned flash, as the node runtime's fallback does.
  const fallback = Buffer.from(encode(settingsToMap({ config: options.config })), "latin1");
  const errors: string[] = [];
  let restarts = 0;
  let current: LuaBoard;
  let ports: { [devicePort: number]: number } = {};
  let restarting: Promise<void> = Promise.resolve();

  const bootOnce = async (portMap: { [devicePort: number]: number }): Promise<LuaBoard> => {
    const vm = new LuaVm({
      write: lineWriter(options.log),
      onError: (message) => {
        errors.push(message);
        options.log(`lua error (the board restarts): ${message}`);
        restart();
      },
    });
    const nodemcu = new NodeMcu({
      vm,
      spiffs,
      card: options.card,
      portMap,
      bindHost: options.bindHost,
      clock: options.clock,
      serial: options.serial,
      lfs,
      onRestart: () => (options.reboot ? options.reboot() : restart()),
      seed: seed + restarts,
    });
    try {
      // Boot as the board does: init.lua from SPIFFS, which starts the core
      // from LFS after its pause; the pause alone is skipped here.
      vm.setGlobalBytes("__letterbox_fallback", fallback);
      vm.run(`dofile("${board.files.boot}") letterbox_boot:unregister() __letterbox = letterbox_start()`, "=boot");
    } catch (e) {
      await nodemcu.stop();
      throw e;
    }
    if (vm.evaluate("__letterbox ~= nil") !== "true") {
      await nodemcu.stop();
      throw new LuaError("boot() did not start the box (see the log)");
    }
    for (const b of await Promise.all(nodemcu.binds)) ports[b.devicePort] = b.hostPort;
    return { vm, nodemcu };
  };

  const shutDown = async (b: LuaBoard) => {
    try {
      b.vm.run("__letterbox:stop()", "=stop");
    } catch {
      // a board that failed keeps no promises on the way down
    }
    await b.nodemcu.stop();
  };

  const restart = () => {
    restarting = restarting.then(async () => {
      restarts++;
      await shutDown(current);
      current = await bootOnce({ ...ports });
    });
  };

  current = await bootOnce(options.portMap);
  ports = { ...ports };
  return {
    runtime: "lua",
    ports,
    board: () => current,
    errors,
    get restarts() {
      return restarts;
    },
    async stop() {
      await restarting;
      await shutDown(current);
    },
  };
}
