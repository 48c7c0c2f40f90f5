/**
 * The header cache of a message (docs/STORE.md, "The header cache"): the
 * header fields a listing shows, picked from the message's header section
 * once, after its commit, and kept in a small file beside it, so that a
 * listing opens no message. Issue 17 (IMAP) adds its BODYSTRUCTURE after
 * these fields, under a new version byte.
 *
 * The file (/LB/MSG/<seq as 8 hex>.HDR): byte 0 the format version (1);
 * bytes 1-4 the arrival time in seconds (big-endian); bytes 5-6 the length
 * L of the header lines (big-endian); then the L octets of lines, raw as in
 * the message, each ending CRLF. A later version keeps this prefix and adds
 * after it. A file shorter than its L says is damaged and built again.
 */
import type { FileHandle } from "./hal";
import { word } from "./mailindex";
import { find, lower } from "./text";

/** The cache's figures (a const enum: inlined, no variable kept in RAM). */
export const enum HeaderCache {
  /** The format version, the first byte of the file. */
  Version = 1,
  /** Offset of the header lines in the file (version, time, length). */
  Start = 7,
  /** Octets of the message read at most to find the header section, and per read. */
  MaxRead = 16384,
  Chunk = 2048,
  /** Octets of header lines kept in all; per field, and for Subject (encoded words run long). */
  MaxLines = 2048,
  MaxField = 512,
  MaxSubject = 1024,
  /** A field name longer than this is none of the wanted ones. */
  MaxName = 32,
}

/** Octets field `line` may keep (MaxField, MaxSubject), or 0 when it is not one a listing needs. */
function fieldCap(line: string): number {
  const colon = line.indexOf(":");
  if (colon <= 0 || colon > HeaderCache.MaxName) return 0;
  let name = lower(line.substring(0, colon));
  // RFC 5322 4.5.3 (obsolete syntax): white space before the colon.
  while (name.length > 0 && (name.charCodeAt(name.length - 1) === 32 || name.charCodeAt(name.length - 1) === 9)) name = name.substring(0, name.length - 1);
  if (name.length === 0 || name.indexOf(" ") >= 0 || name.indexOf("\t") >= 0) return 0;
  if (name === "subject") return HeaderCache.MaxSubject;
  return find(" from to cc date message-id content-type ", " " + name + " ", 0) >= 0 ? HeaderCache.MaxField : 0;
}

/**
 * The raw lines of the From, To, Cc, Subject, Date, Message-ID and
 * Content-Type fields of the message `file` reads from its start, with
 * their folded continuation lines (RFC 5322 2.2.3), in message order, each
 * ending CRLF (a bare LF in the message counts as a line end). It stops at
 * the blank line that ends the header section, at the end of the file, or
 * after HeaderCache.MaxRead octets (a line cut there is dropped). A field
 * keeps its lines while it stays within its cap and all within MaxLines,
 * so a cut is always at a line end; a field that does not fit at all is
 * left out and later ones may still fit. Reads HeaderCache.Chunk octets at
 * a time; memory stays within a chunk, a line of MaxSubject and the output.
 * Throws what the file's read throws.
 */
export function pickHeaders(file: FileHandle): string {
  let out = "";
  /** The current field's kept lines, and what it may grow to (0: not kept). */
  let field = "";
  let cap = 0;
  let buf = "";
  let read = 0;
  /** Inside a line too long to keep: the rest of it up to its end goes. */
  let skip = false;
  let done = false;
  while (!done) {
    let chunk: string | undefined = undefined;
    if (read < HeaderCache.MaxRead) chunk = file.read(HeaderCache.Chunk);
    if (chunk === undefined || chunk.length === 0) {
      done = true;
      // The end of the message ends its last line; the read limit drops a line cut there.
      if (read < HeaderCache.MaxRead && !skip) buf += "\n";
    } else {
      read += chunk.length;
      buf += chunk;
    }
    let pos = 0;
    for (let nl = buf.indexOf("\n", 0); nl >= 0; nl = buf.indexOf("\n", pos)) {
      let line = buf.substring(pos, nl);
      pos = nl + 1;
      if (skip) {
        skip = false;
        continue;
      }
      if (line.charCodeAt(line.length - 1) === 13) line = line.substring(0, line.length - 1);
      if (line.length === 0) {
        done = true; // the blank line: the body follows
        break;
      }
      const c = line.charCodeAt(0);
      if (c !== 32 && c !== 9) {
        out += field;
        field = "";
        cap = fieldCap(line);
      }
      if (cap > 0 && field.length + line.length + 2 <= cap && out.length + field.length + line.length + 2 <= HeaderCache.MaxLines) field += line + "\r\n";
      else cap = 0; // the field ends at its last line that fitted
    }
    buf = buf.substring(pos);
    if (buf.length > HeaderCache.MaxSubject && !done) {
      // A line too long to keep whoever it belongs to: note what it starts, drop the rest.
      const c = buf.charCodeAt(0);
      if (c !== 32 && c !== 9) {
        out += field;
        field = "";
      }
      cap = 0;
      buf = "";
      skip = true;
    }
  }
  return out + field;
}

/** The cache file's contents for these header lines (at most 65535 octets) and arrival `time` (seconds). */
export function headerRecord(lines: string, time: number): string {
  return String.fromCharCode(HeaderCache.Version) + word(time) + String.fromCharCode(Math.floor(lines.length / 256), lines.length & 255) + lines;
}
