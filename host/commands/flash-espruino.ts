/** The Espruino half of `letterbox flash`: build, check the budget, send with EspruinoTools, show progress. */
import { Presets, SingleBar } from "cli-progress";
import { buildEspruino } from "../espruino/build";
import { FlashError, flashEspruino } from "../flash-espruino";
import { PortError } from "../serial/ports";
import { PortOptions, resolvePort, UsageError } from "./common";
import { pageForFlash, writePageAfterFlash } from "./web";

export interface FlashEspruinoCommandOptions extends PortOptions {
  force?: boolean;
  progress: boolean;
  verbose?: boolean;
  /** The page to write after the firmware: a built page's directory, undefined for dist/web, false for none. */
  web?: string | false;
}

export async function flashEspruinoCommand(opts: FlashEspruinoCommandOptions): Promise<void> {
  const build = await buildEspruino();
  for (const line of build.report) console.log(line);
  if (build.overBudget && !opts.force) throw new UsageError("the Espruino bundle is over the board's budget (--force flashes it anyway)");
  const port = await resolvePort(opts);
  // The page is read (built when missing) before anything is sent: a page that cannot be had stops the flash.
  // Not over tcp:// (the console of a Linux build is Espruino's REPL, not letterbox's).
  const tcp = port.startsWith("tcp://");
  const page = opts.web === false || tcp ? undefined : pageForFlash(opts.web);
  const bar = new SingleBar({ format: "flash [{bar}] {percentage}% | {value}/{total} bytes", stream: process.stderr }, Presets.shades_classic);
  let started = false;
  try {
    const result = await flashEspruino({
      port,
      file: build.file,
      baud: build.board.upload.speed,
      log: (line) => console.error(`letterbox: ${line}`),
      debug: opts.verbose ? (line) => console.error(`espruino-tools: ${line}`) : undefined,
      onProgress: (sent, total) => {
        if (!opts.progress) return;
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.setTotal(total);
        bar.update(sent);
      },
    });
    if (started) bar.stop();
    console.log(`flashed ${result.bytes} bytes to ${port} (${result.board}, Espruino ${result.version}), verified by CRC32 and started`);
  } catch (e) {
    if (started) bar.stop();
    throw e instanceof FlashError ? new PortError(e.message) : e;
  }
  // Then the page onto the card, through letterbox's own console.
  if (page) await writePageAfterFlash(port, page, opts);
  else if (tcp && opts.web !== false) console.log("the web page was not written over tcp://: letterbox web --port <serial port> writes it");
}
