/**
 * The web page on the card (issue 18). Two directories, /LB/WEB/A and
 * /LB/WEB/B, each hold a whole page: its files (gzip-compressed, 8.3 names)
 * and MANIFEST, one line per file:
 *   `<url-path> <8.3-name> <content-type> <etag> <gzip:0|1>\n`
 * e.g. `/ INDEX.HTM text/html;charset=utf-8 "a1b2c3d4" 1` (the etag: the
 * first 8 hex digits of the file's MD5, quoted). The LAST byte of
 * /LB/WEB/CURRENT ("A" or "B") names the directory served.
 *
 * A new page goes into the other directory and is checked there (the
 * console's web.* operations, docs/SERIAL.md, or the simulator at start);
 * only then is one byte appended to CURRENT. An append changes the file's
 * size in its directory entry, one sector write; a truncating rewrite
 * ("w") would first leave CURRENT empty, so a power cut between the two
 * would serve no page at all. A cut anywhere else leaves the old page served.
 */
import type { Storage } from "./hal";
import { decimal } from "./num";
import { find } from "./text";

/** Where the page lives (a const enum: inlined, nothing kept in RAM). */
export const enum Web {
  Root = "/LB",
  Dir = "/LB/WEB",
  Current = "/LB/WEB/CURRENT",
  Manifest = "MANIFEST",
  /** MANIFEST is read whole: at most this many bytes (about 30 files); a longer one is damage. */
  ManifestMax = 2048,
}

/** What the static handler needs for one url path. */
export interface WebFile {
  /** Card path, e.g. "/LB/WEB/A/INDEX.HTM". */
  file: string;
  /** Content-Type value. */
  type: string;
  /** Quoted, as sent in ETag: "\"a1b2c3d4\"". */
  etag: string;
  /** Stored gzip-compressed: send with Content-Encoding: gzip. */
  gzip: boolean;
  /** Bytes on the card (Content-Length). */
  size: number;
}

/** A FAT 8.3 name as the page uses them: 1-8 of A-Z 0-9 _ -, optionally "." and 1-3 more; never a path. */
export function valid83(name: string): boolean {
  const dot = name.indexOf(".");
  const base = dot < 0 ? name.length : dot;
  if (base < 1 || base > 8 || (dot >= 0 && (name.length - dot < 2 || name.length - dot > 4))) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (i === dot) continue;
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45)) return false;
  }
  return true;
}

/** "A" or "B": the directory served, "" when there is no page (or CURRENT is damaged). Throws on card errors. */
export function currentDir(storage: Storage): string {
  const size = storage.size(Web.Current);
  if (size < 1) return "";
  const file = storage.open(Web.Current, "r");
  let last: string | undefined;
  try {
    file.seek(size - 1);
    last = file.read(1);
  } finally {
    file.close();
  }
  return last === "A" || last === "B" ? last : "";
}

/** A directory's MANIFEST (at most Web.ManifestMax + 1 bytes are read). Throws when it is missing or the card fails. */
export function readManifest(storage: Storage, dir: string): string {
  const file = storage.open(Web.Dir + "/" + dir + "/" + Web.Manifest, "r");
  try {
    const text = file.read(Web.ManifestMax + 1);
    return text === undefined ? "" : text;
  } finally {
    file.close();
  }
}

/**
 * The file serving `urlPath` (raw, as requested, without the query), or
 * undefined: no page, no such path, a damaged pointer, manifest or line, a
 * missing file, a card error. Never throws. Costs a size and one small read
 * of CURRENT, one read of MANIFEST, one search in it, and a size.
 */
export function lookup(storage: Storage, urlPath: string): WebFile | undefined {
  try {
    const dir = currentDir(storage);
    return dir === "" ? undefined : entry(storage, dir, readManifest(storage, dir), urlPath);
  } catch (e) {
    return undefined;
  }
}

/** The line of `manifest` (directory `dir`) for `urlPath`, with its file's size; undefined when absent or damaged. */
export function entry(storage: Storage, dir: string, manifest: string, urlPath: string): WebFile | undefined {
  if (urlPath === "" || urlPath.indexOf(" ") >= 0 || urlPath.indexOf("\n") >= 0 || manifest.length > Web.ManifestMax) return undefined;
  const key = urlPath + " ";
  let at = 0;
  if (manifest.substring(0, key.length) !== key) {
    at = find(manifest, "\n" + key, 0);
    if (at < 0) return undefined;
    at++;
  }
  const end = manifest.indexOf("\n", at);
  if (end < 0) return undefined; // a line cut short
  const f = fields(manifest.substring(at, end));
  if (!f) return undefined;
  const file = Web.Dir + "/" + dir + "/" + f[1];
  const size = storage.size(file);
  return size < 0 ? undefined : { file: file, type: f[2], etag: f[3], gzip: f[4] === "1", size: size };
}

/** A manifest line's five fields, or undefined when it is not `<url-path> <8.3-name> <type> "<etag>" <0|1>`. */
function fields(line: string): string[] | undefined {
  const f = line.split(" ");
  if (f.length !== 5 || f[0].charAt(0) !== "/" || !valid83(f[1]) || f[2] === "" || (f[4] !== "0" && f[4] !== "1")) return undefined;
  const etag = f[3];
  return etag.length >= 3 && etag.charAt(0) === '"' && etag.charAt(etag.length - 1) === '"' ? f : undefined;
}

/**
 * What is wrong with a manifest about to be switched to, "" when nothing:
 * every line well formed, its url path not repeated, its file among
 * `checked` (names each preceded and followed by a space).
 */
export function manifestProblem(manifest: string, checked: string): string {
  if (manifest.length > Web.ManifestMax) return "MANIFEST is over 2048 bytes";
  if (manifest === "" || manifest.charAt(manifest.length - 1) !== "\n") return "MANIFEST is empty or its last line has no line feed";
  const lines = manifest.substring(0, manifest.length - 1).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const f = fields(lines[i]);
    const what = "MANIFEST line " + decimal(i + 1) + ": ";
    if (!f) return what + "not <url-path> <8.3-name> <type> \"<etag>\" <0|1>";
    if (find(checked, " " + f[1] + " ", 0) < 0) return what + f[1] + " was not written and checked";
    for (let k = 0; k < i; k++) if (lines[k].substring(0, f[0].length + 1) === f[0] + " ") return what + f[0] + " twice";
  }
  return "";
}

/** Makes the directory not served exist and empty, for a new page; returns its letter. Throws on card errors. */
export function clearDir(storage: Storage): string {
  const dir = currentDir(storage) === "A" ? "B" : "A";
  storage.mkdir(Web.Root);
  storage.mkdir(Web.Dir);
  const path = Web.Dir + "/" + dir;
  storage.mkdir(path);
  const names = storage.list(path);
  for (let i = 0; i < names.length; i++) storage.remove(path + "/" + names[i]);
  return dir;
}

/** Serves `dir` from now on: one byte appended to CURRENT (above). Throws on card errors. */
export function switchTo(storage: Storage, dir: string): void {
  const file = storage.open(Web.Current, "a");
  try {
    file.write(dir);
  } finally {
    file.close();
  }
}
