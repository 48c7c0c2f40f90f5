/** Built web pages for tests: files and a MANIFEST as `make web` writes them (firmware/webfiles.ts has the format). */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";

export interface TestPageFile {
  url: string;
  name: string;
  type: string;
  /** The file as the browser reads it; stored gzip-compressed unless `plain`. */
  body: string | Buffer;
  plain?: boolean;
}

/** The MANIFEST line of a stored file. */
export function manifestLine(f: TestPageFile, stored: Buffer): string {
  const etag = '"' + crypto.createHash("md5").update(stored).digest("hex").slice(0, 8) + '"';
  return `${f.url} ${f.name} ${f.type} ${etag} ${f.plain ? 0 : 1}\n`;
}

/** Writes a page into `dir` (made anew); returns the stored bytes by name. */
export function makePage(dir: string, files: TestPageFile[]): Map<string, Buffer> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const stored = new Map<string, Buffer>();
  let manifest = "";
  for (const f of files) {
    const body = Buffer.isBuffer(f.body) ? f.body : Buffer.from(f.body, "utf8");
    const data = f.plain ? body : zlib.gzipSync(body, { level: 9 });
    fs.writeFileSync(path.join(dir, f.name), data);
    stored.set(f.name, data);
    manifest += manifestLine(f, data);
  }
  fs.writeFileSync(path.join(dir, "MANIFEST"), manifest);
  return stored;
}

/** Bytes nobody can compress much (a seeded generator: the same every run). */
export function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 255;
  }
  return out;
}

/** A page of three files, one over several frames, one stored plain; `version` changes every file. */
export function samplePage(dir: string, version: number): Map<string, Buffer> {
  return makePage(dir, [
    { url: "/", name: "INDEX.HTM", type: "text/html;charset=utf-8", body: `<!doctype html><title>letterbox ${version}</title><script src="app.js"></script>` },
    { url: "/app.js", name: "APP.JS", type: "text/javascript;charset=utf-8", body: noise(5000 + version, version) },
    { url: "/favicon.ico", name: "FAVICON.ICO", type: "image/x-icon", body: noise(300, version + 7), plain: true },
  ]);
}
