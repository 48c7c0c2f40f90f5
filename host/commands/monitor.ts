/** `letterbox monitor`: a plain serial console (protocol frames are hidden). */
import { Command, Option } from "commander";
import { BAUD_RATE, openPort } from "../serial/client";
import { FrameReader } from "../serial/protocol";
import { action, PortOptions, resolvePort, wholeNumber, withPortOptions } from "./common";

export function registerMonitor(program: Command): void {
  withPortOptions(program.command("monitor").description("Show what the board prints and send it what you type (Ctrl-] or Ctrl-C to quit)."))
    .addOption(new Option("--baud <rate>", "line speed").default(BAUD_RATE).argParser(wholeNumber(1, 10000000)))
    .option("--no-echo", "do not show what is typed (for a board whose REPL echoes it itself)")
    .action(
      action(async (opts: PortOptions & { baud: number; echo: boolean }) => {
        const path = await resolvePort(opts);
        const port = await openPort(path, opts.baud);
        const reader = new FrameReader({ frame: () => {}, text: (t) => process.stdout.write(t), reject: () => {} });
        port.on("data", (chunk: Buffer) => reader.push(chunk));
        process.stderr.write(`monitor on ${path} at ${opts.baud} baud; Ctrl-] to quit\n`);
        await new Promise<void>((resolve) => {
          const quit = () => resolve();
          const stdin = process.stdin;
          if (stdin.isTTY) stdin.setRawMode(true);
          stdin.on("data", (d: Buffer) => {
            if (stdin.isTTY && (d.includes(0x1d) || d.includes(0x03))) return quit();
            // What is typed is shown (a terminal in raw mode shows nothing by itself), Enter as a new line.
            if (opts.echo) process.stdout.write(d.toString("latin1").replace(/\r\n?|\n/g, "\r\n").replace(/\x7f/g, "\b \b"), "latin1");
            port.write(d);
          });
          // Without input (stdin at its end, e.g. </dev/null) keep showing output until Ctrl-C.
          port.on("close", quit);
          process.once("SIGINT", quit);
          process.once("SIGTERM", quit);
        });
        if (process.stdin.isTTY) process.stdin.setRawMode(false);
        process.stdin.pause();
        if (port.isOpen) await new Promise<void>((resolve) => port.drain(() => port.close(() => resolve())));
      }),
    );
}
