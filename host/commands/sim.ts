/** `letterbox sim`: run the simulator in the foreground until Ctrl-C. */
import * as path from "node:path";
import { Command, Option } from "commander";
import { ConfigError, loadConfigFile, toCoreConfig } from "../config";
import { defaultFlashDir, startSimulator, Simulator } from "../../sim/simulator";
import { LockedError } from "../../sim/lock";
import { PtySerialLine } from "../../sim/serial";
import { RUNTIME_NAMES } from "../../sim/runtimes";
import type { RuntimeName } from "../../sim/runtime";
import { EXIT_FAILURE, EXIT_USAGE, printConfigProblems, wholeNumber } from "./common";
import { builtPage } from "../webpage";

const DEFAULT_CONFIG = path.join(__dirname, "../../../sim/default-config.json");
const port = wholeNumber(0, 65535, "a port number");

interface SimOptions {
  config?: string;
  data: string;
  flash?: string;
  smtpPort: number;
  pop3Port: number;
  httpPort: number;
  imapPort: number;
  bind: string;
  runtime: RuntimeName;
  verbose?: boolean;
  serial?: boolean;
  web?: string;
}

/** Shell-quotes a path for a command line the user may copy. */
function quote(p: string): string {
  return /^[\w./+-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

export function registerSim(program: Command): void {
  program
    .command("sim")
    .description("Run a letterbox on this computer: SMTP, POP3, IMAP and the web page on loopback, the card in a directory.")
    .option("--config <file>", "configuration file (JSON); default: the demo configuration")
    .option("--data <dir>", "directory holding the simulated SD card", "sim-data")
    .option("--flash <dir>", "directory emulating the board's internal flash (provisioned settings); default: beside the card, <data> with -data replaced by -flash (sim-flash), or <data>-flash")
    .option("--smtp-port <n>", "host port for SMTP (0 = any free port)", port, 2525)
    .option("--pop3-port <n>", "host port for POP3 (0 = any free port)", port, 1100)
    .option("--http-port <n>", "host port for the web page (0 = any free port)", port, 8080)
    .option("--imap-port <n>", "host port for IMAP (0 = any free port)", port, 1143)
    .option("--bind <address>", "address to listen on", "127.0.0.1")
    .addOption(new Option("--runtime <name>", "which build of the core to run").choices(RUNTIME_NAMES).default("node"))
    .option("--verbose", "print the board's log lines")
    .option("--serial", "expose the board's serial line as a pseudo-terminal (needs socat) for provision, status, ...")
    .option("--web <dir>", "the built web page to put on the card at start (default: dist/web, built first when missing)")
    .addHelpText(
      "after",
      "\nA card and its flash make one simulated board: a new --data is a new board, and --config applies to it." +
        "\nSettings provisioned into the flash win over --config; remove the flash directory to go back to --config (or the demo setup).",
    )
    .action(async (opts: SimOptions) => {
      let file;
      try {
        file = loadConfigFile(opts.config || DEFAULT_CONFIG);
      } catch (e) {
        if (e instanceof ConfigError) {
          printConfigProblems(e);
          process.exit(EXIT_USAGE);
        }
        throw e;
      }
      const config = toCoreConfig(file);
      const dataDir = path.resolve(opts.data);
      const flashDir = path.resolve(opts.flash || defaultFlashDir(opts.data));
      if (flashDir === dataDir || flashDir.startsWith(dataDir + path.sep)) {
        console.error(`letterbox: --flash ${flashDir} is on the card (--data ${dataDir}): settings and passwords never go on the card. Choose another directory.`);
        process.exit(EXIT_USAGE);
      }
      // The page goes on the card at start (a log line says so); one that cannot be built leaves mail running without it.
      let webDir = opts.web && path.resolve(opts.web);
      if (!webDir) {
        try {
          webDir = builtPage((line) => console.error(`letterbox: ${line}`)).dir;
        } catch (e) {
          console.error(`letterbox: web page not installed: ${(e as Error).message}`);
        }
      }
      const serial = opts.serial ? await PtySerialLine.open() : undefined;
      let sim: Simulator;
      try {
        sim = await startSimulator({
          serial,
          flashDir,
          runtime: opts.runtime,
          config,
          dataDir,
          smtpPort: opts.smtpPort,
          pop3Port: opts.pop3Port,
          httpPort: opts.httpPort,
          imapPort: opts.imapPort,
          bindHost: opts.bind,
          webDir,
          log: opts.verbose ? (line) => console.log(`log: ${line}`) : () => {},
        });
      } catch (e) {
        if (serial) serial.close();
        const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
        if (e instanceof LockedError) {
          console.error(`letterbox: ${e.message}.`);
          // The advice names the option that chose the directory in use: a card is --data, a flash --flash.
          const own = e.what === "flash" ? "a flash of its own: --flash DIR" : "a card of its own: --data DIR";
          console.error(`letterbox: one ${e.what} is used by one box at a time. Stop that simulator (kill ${e.pid}), or give this one ${own}.`);
          process.exit(EXIT_USAGE);
        }
        if (err.code === "EADDRINUSE") {
          console.error(`letterbox: ${err.address}:${err.port} is already in use (another simulator?). ` +
            "Stop it, or choose other ports: --smtp-port N --pop3-port N --imap-port N --http-port N (0 picks free ones).");
          process.exit(EXIT_FAILURE);
        }
        throw e;
      }
      // Before anything is printed: whoever reads "Ctrl-C to stop." may press it at once.
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        // In a terminal Ctrl-C leaves "^C" at the end of the line: start ours on the next one.
        if (signal === "SIGINT" && process.stdout.isTTY) process.stdout.write("\n");
        if (stopping) {
          // A second Ctrl-C: no waiting. The store's journal keeps what was accepted; unfinished messages were never acknowledged.
          console.log(`letterbox stopped at once. Every message accepted is on the card (${dataDir}).`);
          process.exit(130);
        }
        stopping = true;
        if (serial) serial.close();
        sim.stop().then(
          () => {
            console.log(`letterbox stopped. The card is safe: every message accepted is on it (${dataDir}).`);
            process.exit(0);
          },
          (e: Error) => {
            console.error(`letterbox: stopping failed: ${e.message}. Every message accepted is on the card (${dataDir}).`);
            process.exit(EXIT_FAILURE);
          },
        );
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      for (const t of sim.tookOver) console.log(`${t.dir}: took over the lock of process ${t.pid}, which is no longer running`);
      console.log(`letterbox simulator (${opts.runtime} runtime), card in ${dataDir}, flash in ${flashDir}`);
      console.log(`SMTP  ${opts.bind}:${sim.smtpPort}`);
      console.log(`POP3  ${opts.bind}:${sim.pop3Port}`);
      console.log(`IMAP  ${opts.bind}:${sim.imapPort}`);
      if (sim.httpPort !== undefined) console.log(`web   http://${opts.bind}:${sim.httpPort}/`);
      if (serial) console.log(`serial ${serial.path}   (letterbox status --port ${serial.path})`);
      if (sim.web && sim.web.startsWith("web page: not installed")) console.error(`letterbox: ${sim.web}`);
      if (sim.provisioned) {
        const p = sim.provisioned;
        console.log(`settings: provisioned into ${flashDir}; they win over ${opts.config ? "--config" : "the demo setup"}`);
        console.log(`domains: ${p.domains.join(", ")}`);
        console.log(`users: ${p.users.map((u) => u.name).join(", ")}`);
        console.log(
          `To go back to ${opts.config ? "--config" : "the demo setup"}: stop, then rm -r ${quote(flashDir)} (the settings; the mail on the card stays).`,
        );
      } else {
        console.log(`domains: ${config.domains.join(", ")}`);
        if (!opts.config) {
          for (const u of config.users) console.log(`user ${u.name}@${config.domains[0]}  password ${u.password}`);
        } else {
          console.log(`users: ${config.users.map((u) => u.name).join(", ")}`);
        }
      }
      console.log("Ctrl-C to stop.");
    });
}
