/** `letterbox sim`: run the simulator in the foreground until Ctrl-C. */
import * as path from "node:path";
import { Command, Option } from "commander";
import { ConfigError, loadConfigFile, toCoreConfig } from "../config";
import { startSimulator } from "../../sim/simulator";
import { PtySerialLine } from "../../sim/serial";
import { RUNTIME_NAMES } from "../../sim/runtimes";
import type { RuntimeName } from "../../sim/runtime";

const DEFAULT_CONFIG = path.join(__dirname, "../../../sim/default-config.json");

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new Error(`not a port number: ${value}`);
  return n;
}

export function registerSim(program: Command): void {
  program
    .command("sim")
    .description("Run a letterbox on this computer: SMTP and POP3 on loopback, the card in a directory.")
    .option("--config <file>", "configuration file (JSON); default: the demo configuration")
    .option("--data <dir>", "directory holding the simulated SD card", "sim-data")
    .option("--smtp-port <n>", "host port for SMTP (0 = any free port)", port, 2525)
    .option("--pop3-port <n>", "host port for POP3 (0 = any free port)", port, 1100)
    .option("--bind <address>", "address to listen on", "127.0.0.1")
    .addOption(new Option("--runtime <name>", "which build of the core to run").choices(RUNTIME_NAMES).default("node"))
    .option("--verbose", "log every session event")
    .option("--serial", "expose the board's serial line as a pseudo-terminal (needs socat) for provision, status, ...")
    .option("--flash <dir>", "directory emulating the board's internal flash (provisioned settings)", "sim-flash")
    .action(async (opts) => {
      let file;
      try {
        file = loadConfigFile(opts.config || DEFAULT_CONFIG);
      } catch (e) {
        if (e instanceof ConfigError) {
          for (const p of e.problems) console.error(`letterbox: config: ${p}`);
          process.exit(2);
        }
        throw e;
      }
      const config = toCoreConfig(file);
      const serial = opts.serial ? await PtySerialLine.open() : undefined;
      let sim;
      try {
        sim = await startSimulator({
          serial,
          flashDir: path.resolve(opts.flash),
          runtime: opts.runtime as RuntimeName,
          config,
          dataDir: path.resolve(opts.data),
          smtpPort: opts.smtpPort,
          pop3Port: opts.pop3Port,
          bindHost: opts.bind,
          log: opts.verbose ? (line) => console.log(`log: ${line}`) : () => {},
        });
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
        if (err.code === "EADDRINUSE") {
          console.error(`letterbox: ${err.address}:${err.port} is already in use (another simulator?). ` +
            "Stop it, or choose other ports: --smtp-port N --pop3-port N (0 picks free ones).");
          if (serial) serial.close();
          process.exit(1);
        }
        throw e;
      }
      console.log(`letterbox simulator (${opts.runtime} runtime), card in ${path.resolve(opts.data)}`);
      console.log(`SMTP  ${opts.bind}:${sim.smtpPort}`);
      console.log(`POP3  ${opts.bind}:${sim.pop3Port}`);
      if (serial) console.log(`serial ${serial.path}   (letterbox status --port ${serial.path})`);
      if (sim.provisioned) {
        const p = sim.provisioned;
        console.log(`settings: provisioned, from ${path.resolve(opts.flash)} (they win over --config)`);
        console.log(`domains: ${p.domains.join(", ")}`);
        console.log(`users: ${p.users.map((u) => u.name).join(", ")}`);
      } else {
        console.log(`domains: ${config.domains.join(", ")}`);
        if (!opts.config) {
          for (const u of config.users) console.log(`user ${u.name}@${config.domains[0]}  password ${u.password}`);
        } else {
          console.log(`users: ${config.users.map((u) => u.name).join(", ")}`);
        }
      }
      console.log("Ctrl-C to stop.");
      const stop = () => {
        if (serial) serial.close();
        void sim.stop().then(() => process.exit(0));
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
