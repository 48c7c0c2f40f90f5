/**
 * The core's entry point: startLetterbox(hal, config) opens the store on the
 * card and starts the SMTP and POP3 servers. Boards and the simulator call it.
 */
import type { Config } from "./config";
import type { Hal } from "./hal";

export interface Letterbox {
  /** Stops listening and closes every session. */
  stop(): void;
}

/** Ports the core listens on, as on the device; the simulator maps them to host ports. */
export const SMTP_PORT = 25;
export const POP3_PORT = 110;

export function startLetterbox(hal: Hal, config: Config): Letterbox {
  // Wired up in the next commits (SMTP, POP3, store).
  hal.log("letterbox starting on " + hal.implementation + " for " + config.hostname);
  return { stop: function () {} };
}
