/** `letterbox flash --runtime nodemcu`: build the Lua firmware and write it through the board's Lua prompt. */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, Option } from "commander";
import { Presets, SingleBar } from "cli-progress";
import { buildNodemcu, lfsModuleName, overBudget, readBoard, sizeReport } from "../nodemcu/build";
import { FlashError, flashNodemcu } from "../nodemcu/flash";
import { flashEspruinoCommand } from "./flash-espruino";
import { pageForFlash, writePageAfterFlash } from "./web";
import { PortError } from "../serial/ports";
import { action, PortOptions, resolvePort, UsageError, withPortOptions } from "./common";

interface FlashCommandOptions extends PortOptions {
  runtime: string;
  restart: boolean;
  force?: boolean;
  progress: boolean;
  luacCross?: string;
  lfsImage?: string;
  /** The page to write after the firmware: a built page's directory, undefined for dist/web, false for none. */
  web?: string | false;
}

/** The SPIFFS name of the uploaded LFS image. */
const LFS_IMAGE_NAME = "lfs.img";

/**
 * The LFS image of the build: made by the `luac.cross` of the user's own
 * NodeMCU build (`luac.cross -f -o <image> letterbox.lua`: luac.cross names
 * the module after the file), or an image the user made.
 */
function lfsImage(opts: FlashCommandOptions, bundlePath: string): Buffer {
  if (opts.lfsImage) return fs.readFileSync(opts.lfsImage);
  if (!opts.luacCross) {
    throw new UsageError(
      "NodeMCU runs letterbox from its Lua Flash Store: give --luac-cross <path> (the luac.cross of your NodeMCU build, " +
        "build/luac_cross/luac.cross) or --lfs-image <image made with luac.cross -f> (see docs/NODEMCU.md)",
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-lfs-"));
  const out = path.join(dir, LFS_IMAGE_NAME);
  try {
    execFileSync(opts.luacCross, ["-f", "-o", out, bundlePath], { stdio: ["ignore", "inherit", "inherit"] });
    return fs.readFileSync(out);
  } catch (e) {
    throw new UsageError(`${opts.luacCross} could not make the LFS image: ${(e as Error).message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function registerFlash(program: Command): void {
  withPortOptions(
    program
      .command("flash")
      .description(
        "Build the firmware and write it to the board (NodeMCU: init.lua and an LFS image through the Lua prompt, verified by size and SHA-256, then loaded into the Lua Flash Store; " +
          "Espruino: with EspruinoTools into flash as boot code, verified by CRC32; --port also takes tcp://HOST:PORT).",
      ),
  )
    .addOption(new Option("--runtime <name>", "the board's firmware").choices(["nodemcu", "espruino"]).default("nodemcu"))
    .option("--no-restart", "leave the board at the prompt instead of restarting it")
    .option("--force", "flash even when the build is over the board's Lua Flash Store budget")
    .option("--no-progress", "no progress bar")
    .option("--luac-cross <path>", "NodeMCU: the luac.cross of your NodeMCU build, to make the LFS image")
    .option("--lfs-image <path>", "NodeMCU: an LFS image of dist/nodemcu/letterbox.lua you made with luac.cross -f")
    .option("--web <dir>", "the built web page to write onto the card after the firmware (default: dist/web, built first when missing)")
    .option("--no-web", "flash the firmware only, not the web page (letterbox web writes it later)")
    .action(
      action(async (opts: FlashCommandOptions) => {
        // Espruino: the bundle goes to flash as boot code through EspruinoTools (host/commands/flash-espruino.ts).
        if (opts.runtime === "espruino") return flashEspruinoCommand(opts);
        const build = buildNodemcu();
        console.log(sizeReport(build));
        const problem = overBudget(build);
        if (problem && !opts.force) throw new UsageError(`${problem} (--force flashes it anyway)`);
        const board = readBoard();
        // init.lua in SPIFFS; the core as an LFS image, loaded into the Lua Flash Store on the board.
        const files = [
          { name: path.basename(build.initPath), data: fs.readFileSync(build.initPath) },
          { name: LFS_IMAGE_NAME, data: lfsImage(opts, build.bundlePath) },
        ];
        // The page is read (built when missing) before anything is sent: a page that cannot be had stops the flash.
        const page = opts.web === false ? undefined : pageForFlash(opts.web);
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
            lfsImage: LFS_IMAGE_NAME,
            lfsModule: lfsModuleName(board),
            onProgress: (written) => opts.progress && bar.update(written),
          });
        } catch (e) {
          throw e instanceof FlashError && e.portProblem ? new PortError(e.message) : e;
        } finally {
          if (opts.progress) bar.stop();
        }
        console.log(`flashed ${files.map((f) => `${f.name} (${f.data.length} bytes)`).join(", ")} to ${port}, verified; ${lfsModuleName(board)} loaded into LFS`);
        // Then the page onto the card, through letterbox's own console once the board has restarted into it.
        if (page && opts.restart) await writePageAfterFlash(port, page, opts);
        else if (page) console.log("the web page was not written (--no-restart leaves the board at the Lua prompt): letterbox web writes it");
      }),
    );
}
