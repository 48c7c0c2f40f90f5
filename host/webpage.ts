/**
 * The web page as built for the card (dist/web/, `make web`, host/web/build.ts):
 * MANIFEST and the files it names, read and checked on the host before any
 * of it goes to a board or a simulated card (firmware/webfiles.ts has the format).
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
/** Where `make web` puts the page. */
export const WEB_DIST = path.join(ROOT, "dist/web");
/** The card reads MANIFEST whole, up to this size (firmware/webfiles.ts, Web.ManifestMax). */
export const MANIFEST_MAX = 2048;

const NAME_83 = /^[A-Z0-9_-]{1,8}(\.[A-Z0-9_-]{1,3})?$/;

/** The page is missing or damaged: the message says what to do. */
export class PageError extends Error {}

export interface PageFile {
  /** The 8.3 name on the card. */
  name: string;
  data: Buffer;
  /** MD5 of `data`, 32 lowercase hex digits. */
  md5: string;
}

export interface Page {
  dir: string;
  manifest: Buffer;
  /** Each file MANIFEST names, once, in its order; MANIFEST itself not among them. */
  files: PageFile[];
  /** Url paths, in MANIFEST's order, with the file and etag each must be served from. */
  entries: { url: string; name: string; type: string; etag: string; gzip: boolean }[];
  /** Bytes of every file, MANIFEST included. */
  bytes: number;
}

export function md5(data: Buffer): string {
  return crypto.createHash("md5").update(data).digest("hex");
}

/** Reads and checks the page in `dir`: every line well formed, every file present and matching its etag. */
export function readPage(dir: string = WEB_DIST): Page {
  const manifestPath = path.join(dir, "MANIFEST");
  if (!fs.existsSync(manifestPath)) throw new PageError(`the web page is not built: ${manifestPath} is missing (make web builds it)`);
  const manifest = fs.readFileSync(manifestPath);
  const damaged = (what: string) => new PageError(`the web page in ${dir} is damaged: ${what} (make web builds it again)`);
  if (manifest.length > MANIFEST_MAX) throw damaged(`MANIFEST has ${manifest.length} bytes, the card reads at most ${MANIFEST_MAX}`);
  const text = manifest.toString("latin1");
  if (!text.endsWith("\n")) throw damaged("MANIFEST's last line has no line feed");
  const files: PageFile[] = [];
  const entries: Page["entries"] = [];
  for (const [i, line] of text.slice(0, -1).split("\n").entries()) {
    const f = line.split(" ");
    const where = `MANIFEST line ${i + 1}`;
    if (f.length !== 5 || !f[0].startsWith("/") || f[2] === "" || !/^"[^" ]+"$/.test(f[3]) || (f[4] !== "0" && f[4] !== "1")) {
      throw damaged(`${where} is not <url-path> <8.3-name> <type> "<etag>" <0|1>`);
    }
    if (!NAME_83.test(f[1]) || f[1] === "MANIFEST") throw damaged(`${where}: ${f[1]} is not an 8.3 name in upper case`);
    if (entries.some((e) => e.url === f[0])) throw damaged(`${where}: ${f[0]} twice`);
    entries.push({ url: f[0], name: f[1], type: f[2], etag: f[3], gzip: f[4] === "1" });
    if (files.some((p) => p.name === f[1])) continue;
    const file = path.join(dir, f[1]);
    if (!fs.existsSync(file)) throw damaged(`${f[1]} is missing`);
    const data = fs.readFileSync(file);
    const sum = md5(data);
    if (f[3] !== `"${sum.slice(0, 8)}"`) throw damaged(`${f[1]} does not match its etag ${f[3]}`);
    files.push({ name: f[1], data, md5: sum });
  }
  return { dir, manifest, files, entries, bytes: files.reduce((n, f) => n + f.data.length, manifest.length) };
}

/**
 * The page in dist/web/, built first when it is missing (host/web/build.ts,
 * as `make web` does). `say` reports that it is building.
 */
export function builtPage(say: (line: string) => void = () => {}): Page {
  if (!fs.existsSync(path.join(WEB_DIST, "MANIFEST"))) {
    say("building the web page (make web)");
    try {
      execFileSync("make", ["-s", "web"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      const stderr = String((e as { stderr?: Buffer }).stderr || "").trim();
      throw new PageError(`the web page is not built and \`make web\` failed${stderr ? `: ${stderr}` : ""}`);
    }
  }
  return readPage(WEB_DIST);
}
