/** `letterbox sim`: run the simulator in the foreground until Ctrl-C. */
import * as path from "node:path";
import { Command, Option } from "commander";
import { ConfigError, loadConfigFile, toCoreConfig } from "../config";
import { startSimulator } from "../../sim/simulator";
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
      const sim = await startSimulator({
        runtime: opts.runtime as RuntimeName,
        config,
        dataDir: path.resolve(opts.data),
        smtpPort: opts.smtpPort,
        pop3Port: opts.pop3Port,
        bindHost: opts.bind,
        log: opts.verbose ? (line) => console.log(`log: ${line}`) : () => {},
      });
      console.log(`letterbox simulator (${opts.runtime} runtime), card in ${path.resolve(opts.data)}`);
      console.log(`SMTP  ${opts.bind}:${sim.smtpPort}`);
      console.log(`POP3  ${opts.bind}:${sim.pop3Port}`);
      console.log(`domains: ${config.domains.join(", ")}`);
      if (!opts.config) {
        for (const u of config.users) console.log(`user ${u.name}@${config.domains[0]}  password ${u.password}`);
      } else {
        console.log(`users: ${config.users.map((u) => u.name).join(", ")}`);
      }
      console.log("Ctrl-C to stop.");
      const stop = () => {
        void sim.stop().then(() => process.exit(0));
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
