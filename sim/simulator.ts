/**
 * The desktop simulator: a letterbox on this computer. It runs the core in
 * the chosen runtime against real TCP sockets and a simulated card kept in a
 * host directory (which survives restarts, like the SD card).
 */
import type { Config } from "../firmware/config";
import { HTTP_PORT, IMAP_PORT, POP3_PORT, SMTP_PORT } from "../firmware/main";
import type { SerialLine } from "../firmware/hal";
import { SimCard } from "./card";
import { SimFlash } from "./flash";
import { loadSettings } from "../firmware/settings";
import type { RunningBox, RuntimeName } from "./runtime";
import { getRuntime } from "./runtimes";
import { DirectoryLock, lockDirectory } from "./lock";
import { installPage } from "./webinstall";

export interface SimulatorOptions {
  runtime: RuntimeName;
  config: Config;
  /** Host directory holding the simulated card. */
  dataDir: string;
  /** Host ports (0 = any free port). */
  smtpPort: number;
  pop3Port: number;
  /** The web page's host port; 0 (any free port) when absent. */
  httpPort?: number;
  /** IMAP's host port; 0 (any free port) when absent. */
  imapPort?: number;
  bindHost?: string;
  log?: (line: string) => void;
  clock?: () => number;
  card?: SimCard;
  /** The board's serial line, e.g. a PtySerialLine (sim/serial.ts); log lines are written to it too. */
  serial?: SerialLine;
  /** Host directory emulating the board's internal flash (settings, secrets); in memory when absent. */
  flashDir?: string;
  /** A built web page (dist/web/: MANIFEST and its files) to put on the card at start unless it serves it already (sim/webinstall.ts). */
  webDir?: string;
}

/** Where a board's flash is kept by default: beside its card, so a new card is a new board (sim-data: sim-flash, /tmp/card: /tmp/card-flash). */
export function defaultFlashDir(dataDir: string): string {
  return dataDir.replace(/[\\/]+$/, "").replace(/-data$/, "") + "-flash";
}

export interface Simulator extends RunningBox {
  smtpPort: number;
  pop3Port: number;
  /** The web page's host port. */
  httpPort: number;
  /** IMAP's host port. */
  imapPort: number;
  card: SimCard;
  flash: SimFlash;
  /** The configuration provisioned into the flash, which the box runs with instead of `config`. */
  provisioned?: Config;
  /** Stale locks taken over (a simulator that was killed): what and whose. */
  tookOver: { dir: string; pid: number }[];
  /** With webDir: the log line saying whether the page was installed, was there already, or why not. */
  web?: string;
}

/**
 * Starts a simulated board. The card directory and the flash directory are
 * locked for as long as it runs (sim/lock.ts): a second simulator on either
 * gets a LockedError naming the process that holds it.
 */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const locks: DirectoryLock[] = [];
  const tookOver: { dir: string; pid: number }[] = [];
  const unlock = () => {
    for (const l of locks) l.release();
  };
  try {
    for (const [dir, what] of [[options.dataDir, "card"], [options.flashDir, "flash"]] as [string | undefined, string][]) {
      if (!dir) continue;
      const lock = lockDirectory(dir, what);
      locks.push(lock);
      if (lock.tookOverFrom !== undefined) tookOver.push({ dir, pid: lock.tookOverFrom });
    }
    const sim = await boardOn(options);
    return { ...sim, tookOver, stop: () => sim.stop().finally(unlock) };
  } catch (e) {
    unlock();
    throw e;
  }
}

async function boardOn(options: SimulatorOptions): Promise<Omit<Simulator, "tookOver">> {
  const card = options.card || new SimCard({ dir: options.dataDir });
  // The device's ports (25, 110, 80, 143), which portMap maps to host ports.
  const services = structuredClone(options.config.services);
  services.smtp.port = SMTP_PORT;
  services.pop3.port = POP3_PORT;
  services.http.port = HTTP_PORT;
  services.imap.port = IMAP_PORT;
  const config: Config = { ...options.config, services };
  const flash = new SimFlash(options.flashDir);
  const stored = loadSettings(flash);
  const log = options.log || (() => {});
  const serial = options.serial;
  const runtime = getRuntime(options.runtime);
  // The page goes on the card before the board starts, as `letterbox flash` leaves it.
  let web: string | undefined;
  if (options.webDir !== undefined) {
    try {
      web = installPage(card, options.webDir);
    } catch (e) {
      web = `web page: not installed: ${(e as Error).message}`;
    }
    log(web);
  }
  let box: RunningBox;
  let stopping = false;
  const boot = (portMap: { [devicePort: number]: number }) =>
    runtime.start({
      config,
      card,
      portMap,
      bindHost: options.bindHost || "127.0.0.1",
      // As on a board, log lines go out on the serial console too.
      log: serial ? (line) => (log(line), serial.write(line + "\r\n")) : log,
      clock: options.clock || (() => Math.floor(Date.now() / 1000)),
      serial,
      flash,
      // A reboot (letterbox reboot) restarts the core on the same ports, keeping card and flash.
      reboot: () => {
        void box.stop().then(async () => {
          if (stopping) return;
          box = await boot(box.ports);
          if (stopping) await box.stop();
        });
      },
    });
  box = await boot({ [SMTP_PORT]: options.smtpPort, [POP3_PORT]: options.pop3Port, [HTTP_PORT]: options.httpPort || 0, [IMAP_PORT]: options.imapPort || 0 });
  return {
    runtime: box.runtime,
    ports: box.ports,
    smtpPort: box.ports[SMTP_PORT],
    pop3Port: box.ports[POP3_PORT],
    httpPort: box.ports[HTTP_PORT],
    imapPort: box.ports[IMAP_PORT],
    card,
    flash,
    provisioned: stored && stored.settings.config,
    web,
    stop: () => ((stopping = true), box.stop()),
  };
}
