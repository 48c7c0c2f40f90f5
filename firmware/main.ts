/**
 * The core's entry point: startLetterbox(hal, config) opens the store on the
 * card and starts the SMTP and POP3 servers. Boards and the simulator call it.
 */
import type { Config } from "./config";
import { applyConfigInPlace, bootConsole } from "./console";
import type { Hal } from "./hal";

export interface Letterbox {
  /** Stops listening and closes every session. */
  stop(): void;
}

/** Ports the core listens on, as on the device; the simulator maps them to host ports. */
export const SMTP_PORT = 25;
export const POP3_PORT = 110;

export function startLetterbox(hal: Hal, fallbackConfig: Config): Letterbox {
  // Provisioned settings in internal flash win over the board's defaults.
  const booted = bootConsole(hal, fallbackConfig);
  const config = booted.config;
  // Wired up in the next commits (SMTP, POP3, store).
  hal.log("letterbox starting on " + hal.implementation + " for " + config.hostname);
  const serialConsole = booted.attach({
    applyConfig: function (next: Config) {
      applyConfigInPlace(config, next);
    },
    // Until the store lands: no messages.
    listMessages: function () {
      return [];
    },
    readMessage: function () {
      return undefined;
    },
  });
  return {
    stop: function () {
      if (serialConsole) serialConsole.stop();
    },
  };
}
