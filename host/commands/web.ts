/**
 * `letterbox web`: writes the web page (dist/web/, built first when missing)
 * onto the board's card over the serial line (docs/SERIAL.md, web.*): into
 * the directory not served, each file read back and checked by MD5 on the
 * board, then switched to; finally every url path is asked for as the board
 * would serve it. `letterbox flash` calls writePage after the firmware.
 */
import { Command } from "commander";
import { Presets, SingleBar } from "cli-progress";
import { DeviceClient, DeviceError, LinkError } from "../serial/client";
import { builtPage, md5, Page, readPage } from "../webpage";
import { action, connect, PortOptions, resolvePort, withPortOptions } from "./common";

/** Bytes of a file per web.write: the request with its 60-byte header fits a 1024-byte frame. */
export const WRITE_CHUNK = 960;

export interface WriteOptions {
  /** Show a progress bar on stderr. */
  progress: boolean;
  /** Write even when the board serves this page already. */
  force?: boolean;
}

/** The board's words, with what to do when the card is the problem or the firmware predates the page. */
function explain(e: unknown): unknown {
  if (!(e instanceof DeviceError)) return e;
  if (e.codeName === "unknown request") {
    return new Error("the board's firmware cannot take the web page (it has no web.* operations): flash a newer one with letterbox flash");
  }
  if (e.codeName === "storage failure") {
    return new Error(
      `the board cannot write its card (${e.message}). Is a FAT-formatted SD card in the slot? ` +
        "letterbox status shows the card; the page served before is unchanged.",
    );
  }
  return new Error(`the board refused the web page: ${e.message}; the page served before is unchanged`);
}

/** True when the board serves exactly `page`: the same MANIFEST, and every url path answered from a file of the right size and etag. */
async function serves(client: DeviceClient, page: Page): Promise<boolean> {
  const { map } = await client.request("web.info");
  if (map.manifest !== md5(page.manifest)) return false;
  return (await mismatches(client, page)).length === 0;
}

/** Url paths the board does not serve as `page` says (its lookup, firmware/webfiles.ts), each with what is wrong. */
async function mismatches(client: DeviceClient, page: Page): Promise<string[]> {
  const problems: string[] = [];
  for (const e of page.entries) {
    const size = page.files.find((f) => f.name === e.name)!.data.length;
    try {
      const { map } = await client.request("web.info", { path: e.url });
      if (map.etag !== e.etag || map.type !== e.type || map.gzip !== e.gzip || map.size !== size) {
        problems.push(`${e.url}: served as ${map.file} ${map.type} ${map.etag} (${map.size} bytes), expected ${e.name} ${e.type} ${e.etag} (${size} bytes)`);
      }
    } catch (err) {
      if (!(err instanceof DeviceError && err.codeName === "not found")) throw err;
      problems.push(`${e.url}: not served`);
    }
  }
  return problems;
}

/**
 * Writes `page` to the board's card and switches to it (unless it is served
 * already and not `force`). Resolves with the card directory now served and
 * whether anything was written. The old page stays served until the switch.
 */
export async function writePage(client: DeviceClient, page: Page, opts: WriteOptions): Promise<{ dir: string; written: boolean }> {
  try {
    if (!opts.force && (await serves(client, page))) {
      const { map } = await client.request("web.info");
      return { dir: String(map.dir), written: false };
    }
    const { map: begun } = await client.request("web.begin");
    const bar = new SingleBar({ format: "web   [{bar}] {percentage}% | {value}/{total} bytes written and checked", stream: process.stderr }, Presets.shades_classic);
    // Each byte is sent once and read back once on the board: both count.
    const files = [...page.files, { name: "MANIFEST", data: page.manifest, md5: md5(page.manifest) }];
    let done = 0;
    if (opts.progress) bar.start(page.bytes * 2, 0);
    try {
      for (const f of files) {
        for (let offset = 0; offset === 0 || offset < f.data.length; offset += WRITE_CHUNK) {
          const data = f.data.subarray(offset, offset + WRITE_CHUNK);
          await client.request("web.write", { name: f.name, offset, data });
          if (opts.progress) bar.update((done += data.length));
        }
        for (let checked = 0; ; ) {
          const { map } = await client.request("web.check", { name: f.name, md5: f.md5 });
          if (map.done !== true && !(Number(map.checked) > checked)) throw new Error(`the board's check of ${f.name} stopped at byte ${checked}`);
          if (opts.progress) bar.update((done += Number(map.checked) - checked));
          checked = Number(map.checked);
          if (map.done === true) break;
        }
      }
    } finally {
      if (opts.progress) bar.stop();
    }
    const { map: committed } = await client.request("web.commit");
    const problems = await mismatches(client, page);
    if (problems.length > 0) throw new Error(`the board does not serve the page as written:\n  ${problems.join("\n  ")}`);
    return { dir: String(committed.dir || begun.dir), written: true };
  } catch (e) {
    throw e instanceof LinkError ? e : explain(e);
  }
}

/** One line for the user: what is served now. */
export function pageReport(page: Page, result: { dir: string; written: boolean }, port: string): string {
  const what = `${page.files.length} files, ${page.bytes} bytes`;
  return result.written
    ? `wrote the web page (${what}) to the card of the board on ${port}, checked by MD5 there; it serves it from /LB/WEB/${result.dir}`
    : `the board on ${port} serves this web page already (${what}, /LB/WEB/${result.dir}); --force writes it again`;
}

/** How long a board may take to boot letterbox after flashing before it answers on its serial line. */
const BOOT_WAIT_MS = 30000;

/**
 * `letterbox flash`, after the firmware: waits for the freshly flashed board
 * to answer, then writes the page (unless it serves it already).
 */
export async function writePageAfterFlash(port: string, page: Page, opts: { timeout: number; progress: boolean }): Promise<void> {
  const deadline = Date.now() + BOOT_WAIT_MS;
  let client: DeviceClient | undefined;
  while (!client) {
    try {
      client = await DeviceClient.open({ path: port, timeoutMs: Math.min(opts.timeout, 2000), onText: () => {} });
    } catch (e) {
      if (Date.now() > deadline) {
        throw new Error(`the board did not answer on ${port} within ${BOOT_WAIT_MS / 1000} s after flashing (${(e as Error).message}); the firmware is on it: write the page later with letterbox web`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    const result = await writePage(client, page, { progress: opts.progress });
    console.log(pageReport(page, result, port));
  } finally {
    await client.close();
  }
}

/** The page `letterbox flash` writes after the firmware, read (and built when missing) before anything is flashed. */
export function pageForFlash(dir?: string): Page {
  try {
    return dir ? readPage(dir) : builtPage((line) => console.error(`letterbox: ${line}`));
  } catch (e) {
    throw new Error(`${(e as Error).message}; nothing was flashed (--no-web flashes the firmware alone)`);
  }
}

export function registerWeb(program: Command): void {
  withPortOptions(
    program
      .command("web")
      .description("Write the web page (dist/web, built first when missing) to the board's card, checked by MD5 there; the old page is served until the new one is complete."),
  )
    .option("--dir <dir>", "a built page to write instead of dist/web (MANIFEST and its files)")
    .option("--force", "write it even when the board serves this page already")
    .option("--no-progress", "no progress bar")
    .action(
      action(async (opts: PortOptions & { dir?: string; force?: boolean; progress: boolean }) => {
        const page = opts.dir ? readPage(opts.dir) : builtPage((line) => console.error(`letterbox: ${line}`));
        const port = await resolvePort(opts);
        const client = await connect({ ...opts, port });
        try {
          const result = await writePage(client, page, { progress: opts.progress, force: opts.force });
          console.log(pageReport(page, result, port));
        } finally {
          await client.close();
        }
      }),
    );
}
