/**
 * The `letterbox` command line. Each subcommand lives in host/commands/ and
 * registers itself here. Exit codes (also in `letterbox --help`):
 *   0 success, 1 failure while running, 2 bad usage or invalid input (config, arguments),
 *   3 no board found / port problem.
 */
import { Command, CommanderError } from "commander";
import { registerSim } from "./commands/sim";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_NO_BOARD = 3;

export function buildProgram(): Command {
  const program = new Command("letterbox")
    .description("Build, simulate, flash and provision letterbox mail boxes.")
    .version(require("../../package.json").version)
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 failure, 2 bad usage or invalid input, 3 no board found or port problem.",
    );
  registerSim(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    throw err;
  }
}
