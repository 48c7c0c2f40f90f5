/** `letterbox flash --runtime nodemcu`: build the Lua firmware and write it through the board's Lua prompt. */
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, Option } from "commander";
import { Presets, SingleBar } from "cli-progress";
import { buildNodemcu, overBudget, readBoard, sizeReport } from "../nodemcu/build";
import { FlashError, flashNodemcu } from "../nodemcu/flash";
import { flashEspruinoCommand } from "./flash-espruino";
import { PortError } from "../serial/ports";
import { action, PortOptions, resolvePort, UsageError, withPortOptions } from "./common";

interface FlashCommandOptions extends PortOptions {
  runtime: string;
  restart: boolean;
  force?: boolean;
  progress: boolean;
}

export function registerFlash(program: Command): void {
  withPortOptions(
    program
      .command("flash")
      .description(
        "Build the firmware and write it to the board (NodeMCU: through the Lua prompt, verified by size and SHA-256; " +
          "Espruino: with EspruinoTools into flash as boot code, verified by CRC32; --port also takes tcp://HOST:PORT).",
      ),
  )
    .addOption(new Option("--runtime <name>", "the board's firmware").choices(["nodemcu", "espruino"]).default("nodemcu"))
    .option("--no-restart", "leave the board at the prompt instead of restarting it")
    .option("--force", "flash even when the build is over the board's Lua Flash Store budget")
    .option("--no-progress", "no progress bar")
    .action(
      action(async (opts: FlashCommandOptions) => {
        // Espruino: the bundle goes to flash as boot code through EspruinoTools (host/commands/flash-espruino.ts).
        if (opts.runtime === "espruino") return flashEspruinoCommand(opts);
        const build = buildNodemcu();
        console.log(sizeReport(build));
        const problem = overBudget(build);
        if (problem && !opts.force) throw new UsageError(`${problem} (--force flashes it anyway)`);
        const board = readBoard();
        const files = [build.bundlePath, build.initPath].map((p) => ({ name: path.basename(p), data: fs.readFileSync(p) }));
        const port = await resolvePort(opts);
        const bar = new SingleBar({ format: "flash [{bar}] {percentage}% | {value}/{total} bytes", stream: process.stderr }, Presets.shades_classic);
        const total = files.reduce((n, f) => n + f.data.length, 0);
        if (opts.progress) bar.start(total, 0);
        try {
          await flashNodemcu({
            port,
            baudRate: board.upload.speed,
            files,
            timeoutMs: opts.timeout,
            restart: opts.restart,
            onProgress: (written) => opts.progress && bar.update(written),
          });
        } catch (e) {
          throw e instanceof FlashError && e.portProblem ? new PortError(e.message) : e;
        } finally {
          if (opts.progress) bar.stop();
        }
        console.log(`flashed ${files.map((f) => `${f.name} (${f.data.length} bytes)`).join(", ")} to ${port}, verified`);
      }),
    );
}
