/** `letterbox monitor`: a plain serial console (protocol frames are hidden). */
import { Command, Option } from "commander";
import { BAUD_RATE, openPort } from "../serial/client";
import { FrameReader } from "../serial/protocol";
import { action, PortOptions, resolvePort, withPortOptions } from "./common";

export function registerMonitor(program: Command): void {
  withPortOptions(program.command("monitor").description("Show what the board prints and send it what you type (Ctrl-] or Ctrl-C to quit)."))
    .addOption(new Option("--baud <rate>", "line speed").default(BAUD_RATE).argParser(Number))
    .action(
      action(async (opts: PortOptions & { baud: number }) => {
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
