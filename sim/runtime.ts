/**
 * The contract every simulator runtime (node, lua, espruino) fulfils: run the
 * core, built for that runtime, against real TCP sockets on the host and the
 * simulated card. Tests run every TCP-level suite against each runtime.
 */
import type { Config } from "../firmware/config";
import type { InternalFlash, SerialLine } from "../firmware/hal";
import type { SimCard } from "./card";

export type RuntimeName = "node" | "lua" | "espruino";

export interface RuntimeOptions {
  /** Validated configuration; its services listen on the device's ports (25, 110, 80). */
  config: Config;
  card: SimCard;
  /** Device port -> host port to bind on `bindHost` (0 = any free port). */
  portMap: { [devicePort: number]: number };
  /** Host address to bind (127.0.0.1 unless told otherwise). */
  bindHost: string;
  log: (line: string) => void;
  /** Seconds since the epoch; tests may move it. */
  clock: () => number;
  /** The board's serial line (sim/serial.ts), when the simulator exposes one. */
  serial?: SerialLine;
  /** The board's internal flash (sim/flash.ts): provisioned settings. */
  flash?: InternalFlash;
  /** Restarts the box (hal.reboot). */
  reboot?: () => void;
}

export interface RunningBox {
  runtime: RuntimeName;
  /** Host ports actually bound, by device port. */
  ports: { [devicePort: number]: number };
  /** Stops the servers and drops every session. */
  stop(): Promise<void>;
}

export interface Runtime {
  name: RuntimeName;
  start(options: RuntimeOptions): Promise<RunningBox>;
}
