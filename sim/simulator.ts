/**
 * The desktop simulator: a letterbox on this computer. It runs the core in
 * the chosen runtime against real TCP sockets and a simulated card kept in a
 * host directory (which survives restarts, like the SD card).
 */
import type { Config } from "../firmware/config";
import { POP3_PORT, SMTP_PORT } from "../firmware/main";
import { SimCard } from "./card";
import type { RunningBox, RuntimeName } from "./runtime";
import { getRuntime } from "./runtimes";

export interface SimulatorOptions {
  runtime: RuntimeName;
  config: Config;
  /** Host directory holding the simulated card. */
  dataDir: string;
  /** Host ports (0 = any free port). */
  smtpPort: number;
  pop3Port: number;
  bindHost?: string;
  log?: (line: string) => void;
  clock?: () => number;
  card?: SimCard;
}

export interface Simulator extends RunningBox {
  smtpPort: number;
  pop3Port: number;
  card: SimCard;
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const card = options.card || new SimCard({ dir: options.dataDir });
  const config: Config = { ...options.config, smtpPort: SMTP_PORT, pop3Port: POP3_PORT };
  const box = await getRuntime(options.runtime).start({
    config,
    card,
    portMap: { [SMTP_PORT]: options.smtpPort, [POP3_PORT]: options.pop3Port },
    bindHost: options.bindHost || "127.0.0.1",
    log: options.log || (() => {}),
    clock: options.clock || (() => Math.floor(Date.now() / 1000)),
  });
  return { ...box, smtpPort: box.ports[SMTP_PORT], pop3Port: box.ports[POP3_PORT], card };
}
