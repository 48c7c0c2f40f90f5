/**
 * The `letterbox` command line. Each subcommand lives in host/commands/ and
 * registers itself here. Exit codes (also in `letterbox --help`):
 *   0 success, 1 failure while running (the board refused, a check failed),
 *   2 bad usage or invalid input (config, arguments), 3 no board found / port problem.
 */
import { Command, CommanderError } from "commander";
import { registerBackup } from "./commands/backup";
import { registerBoards } from "./commands/boards";
import { registerBuild } from "./commands/build";
import { registerFlash } from "./commands/flash";
import { EXIT_USAGE } from "./commands/common";
import { registerLogs } from "./commands/logs";
import { registerMonitor } from "./commands/monitor";
import { registerProvision } from "./commands/provision";
import { registerSim } from "./commands/sim";
import { registerStatus } from "./commands/status";
import { registerUsers } from "./commands/users";
import { registerWeb } from "./commands/web";

export { EXIT_FAILURE, EXIT_NO_BOARD, EXIT_OK, EXIT_USAGE } from "./commands/common";

const EXIT_CODES =
  "\nExit codes: 0 ok, 1 failure (the board refused, a check failed), 2 bad usage or invalid input, 3 no board found or port problem.";

export function buildProgram(): Command {
  const program = new Command("letterbox")
    .description("Build, simulate, flash and provision letterbox mail boxes.")
    .version(require("../../package.json").version)
    // A usage error is one line in the tool's voice, and where to look; the whole help only on --help.
    .showHelpAfterError("(add --help to see the options)")
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, "letterbox: ")) })
    .exitOverride() // before the subcommands are added, so they inherit it: usage errors exit 2
    .addHelpText("after", EXIT_CODES);
  registerSim(program);
  registerProvision(program);
  registerStatus(program);
  registerUsers(program);
  registerLogs(program);
  registerMonitor(program);
  registerBackup(program);
  registerBoards(program);
  registerFlash(program);
  registerBuild(program);
  registerWeb(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    throw err;
  }
}
