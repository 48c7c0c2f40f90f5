/** What the board-talking commands share: port options, connecting, errors to exit codes. */
import { Command, InvalidArgumentError, Option } from "commander";
import { loadBoards } from "../boards";
import { ConfigError } from "../config";
import { DeviceClient, LinkError } from "../serial/client";
import { choosePort, listPorts, PortError } from "../serial/ports";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_NO_BOARD = 3;

export interface PortOptions {
  port?: string;
  timeout: number;
}

/** --port and --timeout, for every command that talks to a board. */
export function withPortOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("-p, --port <path>", "the board's serial port (default: found by USB id; the simulator prints its own)").env(
        "LETTERBOX_PORT",
      ),
    )
    .option("--timeout <ms>", "how long to wait for each reply", positive, 5000);
}

/**
 * An option parser for a whole number in [min, max]. Commander turns the
 * InvalidArgumentError into a usage error (exit 2) naming the option.
 */
export function wholeNumber(min: number, max: number, what = "a whole number"): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`"${value}" is not ${what} from ${min} to ${max}.`);
    return n;
  };
}

/** --timeout and --interval: milliseconds, at least 1. */
export const positive = wholeNumber(1, 2147483647, "a whole number of milliseconds");

/** Bad arguments found after parsing: exit code 2. */
export class UsageError extends Error {}

/** The port to use: the one given, or the single board found by USB id. */
export async function resolvePort(opts: PortOptions): Promise<string> {
  if (opts.port) return opts.port;
  return choosePort(await listPorts(), loadBoards());
}

/** Prints the board's console text (bytes outside frames) line by line on stderr. */
export function consoleTextPrinter(stream: NodeJS.WritableStream = process.stderr): (text: Buffer) => void {
  let partial = "";
  return (text) => {
    const lines = (partial + text.toString("latin1")).split(/\r?\n/);
    partial = lines.pop() || "";
    for (const line of lines) if (line !== "") stream.write(`board| ${line}\n`);
  };
}

export async function connect(opts: PortOptions, onText?: (text: Buffer) => void): Promise<DeviceClient> {
  const path = await resolvePort(opts);
  return DeviceClient.open({ path, timeoutMs: opts.timeout, onText: onText || consoleTextPrinter() });
}

/** Runs a command body, turning errors into a message and the documented exit code. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (e) {
      process.exitCode = exitCodeFor(e);
      if (e instanceof ConfigError) {
        printConfigProblems(e);
        console.error("letterbox: nothing was sent to the board.");
      } else {
        console.error(`letterbox: ${(e as Error).message}`);
      }
    }
  };
}

/** One line per problem (a JSON syntax error brings its own lines). */
export function printConfigProblems(e: ConfigError): void {
  for (const p of e.problems) console.error(`letterbox: config: ${p}`);
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof ConfigError || e instanceof UsageError) return EXIT_USAGE;
  if (e instanceof PortError || e instanceof LinkError) return EXIT_NO_BOARD;
  return EXIT_FAILURE; // the board refused (DeviceError), a check failed, anything else
}

/** Reads a password: from stdin when it is not a terminal (scripts, tests), else asked twice without echo. */
export async function readPassword(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const first = Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0];
    if (first === "") throw new UsageError("no password was given: type it when asked, or pipe it in (echo 'the-password' | letterbox users ...)");
    return first;
  }
  const a = await askHidden(`${prompt}: `);
  const b = await askHidden(`${prompt} (again): `);
  if (a !== b) throw new UsageError("the passwords differ");
  return a;
}

function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    process.stderr.write(prompt);
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.resume();
    let value = "";
    const onData = (d: Buffer) => {
      for (const ch of d.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off("data", onData);
          process.stderr.write("\n");
          resolve(value);
          return;
        }
        if (ch === "\u0003") process.exit(130);
        if (ch === "\u007f") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}
