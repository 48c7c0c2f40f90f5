/**
 * The header cache of a message (docs/STORE.md, "The header cache"): the
 * header fields a listing shows, picked from the message's header section
 * once, after its commit, and kept in a small file beside it, so that a
 * listing opens no message; and after them the message's MIME structure
 * for IMAP (mimestruct.ts), built in steps after the commit.
 *
 * The file (/LB/MSG/<seq as 8 hex>.HDR): byte 0 the format version (2),
 * or 3 for a version 2 whose lines are whole (below: IMAP's HEADER.FIELDS
 * may then be answered from them); bytes 1-4 the arrival time in seconds (big-endian); bytes 5-6 the length
 * L of the header lines (big-endian); then the L octets of lines, raw as in
 * the message, each ending CRLF; then, once built, the structure
 * (mimestruct.ts structureRecord). A later version keeps this prefix and
 * adds after it. A file shorter than its L says is damaged and built again;
 * version 1 (without Sender, Reply-To, Bcc, In-Reply-To) is built again.
 */
import type { FileHandle, Hal } from "./hal";
import { word } from "./mailindex";
import { type MessageStructure, parseStructure, structureRecord, StructureReader } from "./mimestruct";
import { describe, headerPath, messagePath } from "./msgfiles";
import { hex } from "./num";
import type { MailStore } from "./store";
import { find, upper } from "./text";

/** The cache's figures (a const enum: inlined, no variable kept in RAM). */
export const enum HeaderCache {
  /** The format version, the first byte of the file (2: the fields ENVELOPE needs, and the structure after the lines). */
  Version = 2,
  /** Version 2 whose lines are whole: every line of every field kept is there, octet for octet as in the message (pickHeaders' `whole`). */
  Whole = 3,
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
  /** Octets of a message the structure's build reads per timer tick, and per read. */
  StepRead = 16384,
  StepChunk = 2048,
}

/** The names of the fields kept, upper case, each between spaces. */
const KEPT = " FROM TO CC DATE MESSAGE-ID CONTENT-TYPE SENDER REPLY-TO BCC IN-REPLY-TO SUBJECT ";

/** Octets field `line` may keep (MaxField, MaxSubject), or 0 when it is not one a listing needs. */
function fieldCap(line: string): number {
  const colon = line.indexOf(":");
  if (colon <= 0 || colon > HeaderCache.MaxName) return 0;
  let name = upper(line.substring(0, colon));
  // RFC 5322 4.5.3 (obsolete syntax): white space before the colon.
  while (name.length > 0 && (name.charCodeAt(name.length - 1) === 32 || name.charCodeAt(name.length - 1) === 9)) name = name.substring(0, name.length - 1);
  if (name.length === 0 || name.indexOf(" ") >= 0 || name.indexOf("\t") >= 0) return 0;
  if (name === "SUBJECT") return HeaderCache.MaxSubject;
  return find(KEPT, " " + name + " ", 0) >= 0 ? HeaderCache.MaxField : 0;
}

/** Whether every name of `names` (upper case, each between spaces: " FROM TO ", as imapfetch.ts FetchItem.fields) is one the lines keep. */
export function keptNames(names: string): boolean {
  for (let p = 1; p < names.length; ) {
    const q = names.indexOf(" ", p);
    if (q < 0) return false;
    if (find(KEPT, names.substring(p - 1, q + 1), 0) < 0) return false;
    p = q + 1;
  }
  return true;
}

/** The header lines of cache record `record` when they are whole (version Whole: every line of every field of those names, as in the message), else undefined. */
export function wholeLines(record: string): string | undefined {
  if (record.length < HeaderCache.Start || record.charCodeAt(0) !== HeaderCache.Whole) return undefined;
  return record.substring(HeaderCache.Start, HeaderCache.Start + record.charCodeAt(5) * 256 + record.charCodeAt(6));
}

/**
 * The raw lines of the From, To, Cc, Subject, Date, Message-ID,
 * Content-Type, Sender, Reply-To, Bcc and In-Reply-To fields (those a
 * listing and IMAP's ENVELOPE need) of the message `file` reads from its start, with
 * their folded continuation lines (RFC 5322 2.2.3), in message order, each
 * ending CRLF (a bare LF in the message counts as a line end). It stops at
 * the blank line that ends the header section, at the end of the file, or
 * after HeaderCache.MaxRead octets (a line cut there is dropped). A field
 * keeps its lines while it stays within its cap and all within MaxLines,
 * so a cut is always at a line end; a field that does not fit at all is
 * left out and later ones may still fit. Reads HeaderCache.Chunk octets at
 * a time; memory stays within a chunk, a line of MaxSubject and the output.
 * `picked.whole` (when given) is set true when the lines hold every line of
 * every field of those names in the header section, octet for octet: the
 * section was read to its end, no such field was cut or left out, none
 * ended in a bare LF (kept with CRLF) or was too long to keep, and no
 * line had its colon past MaxName (a name of another shape). Throws what
 * the file's read throws.
 */
export function pickHeaders(file: FileHandle, picked?: { whole: boolean }): string {
  let out = "";
  /** The current field's kept lines, and what it may grow to (0: not kept). */
  let field = "";
  let cap = 0;
  let buf = "";
  let read = 0;
  /** Inside a line too long to keep: the rest of it up to its end goes. */
  let skip = false;
  let done = false;
  let whole = true;
  while (!done) {
    let chunk: string | undefined = undefined;
    if (read < HeaderCache.MaxRead) chunk = file.read(HeaderCache.Chunk);
    if (chunk === undefined || chunk.length === 0) {
      done = true;
      // The end of the message ends its last line; the read limit drops a line cut there.
      if (read < HeaderCache.MaxRead && !skip) buf += "\n";
      // A line the end of the message cut is kept with a CRLF it does not have; one cut by the read limit is dropped.
      if (buf.length > 1 || read >= HeaderCache.MaxRead) whole = false;
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
      const crlf = line.charCodeAt(line.length - 1) === 13;
      if (crlf) line = line.substring(0, line.length - 1);
      if (line.length === 0) {
        done = true; // the blank line: the body follows
        break;
      }
      const c = line.charCodeAt(0);
      if (c !== 32 && c !== 9) {
        out += field;
        field = "";
        cap = fieldCap(line);
        if (cap === 0 && line.indexOf(":") > HeaderCache.MaxName) whole = false;
      }
      if (cap > 0 && field.length + line.length + 2 <= cap && out.length + field.length + line.length + 2 <= HeaderCache.MaxLines) {
        field += line + "\r\n";
        if (!crlf) whole = false;
      } else {
        if (cap > 0) whole = false;
        cap = 0; // the field ends at its last line that fitted
      }
    }
    buf = buf.substring(pos);
    if (buf.length > HeaderCache.MaxSubject && !done) {
      // A line too long to keep whoever it belongs to: note what it starts, drop the rest.
      const c = buf.charCodeAt(0);
      if (c !== 32 && c !== 9) {
        out += field;
        field = "";
        cap = fieldCap(buf);
        if (cap === 0 && buf.indexOf(":") > HeaderCache.MaxName) whole = false;
      }
      if (cap > 0) whole = false; // a field kept, cut
      cap = 0;
      buf = "";
      skip = true;
    }
  }
  if (picked !== undefined) picked.whole = whole;
  return out + field;
}

/** The cache file's contents for these header lines (at most 65535 octets) and arrival `time` (seconds); `whole`: pickHeaders said so. */
export function headerRecord(lines: string, time: number, whole?: boolean): string {
  return String.fromCharCode(whole === true ? HeaderCache.Whole : HeaderCache.Version) + word(time) + String.fromCharCode(Math.floor(lines.length / 256), lines.length & 255) + lines;
}

/**
 * The structure kept in header cache record `record` (after its lines), or
 * undefined when it is not there (not built yet, or cut short).
 */
export function keptStructure(record: string): MessageStructure | undefined {
  if (record.length < HeaderCache.Start) return undefined;
  const at = HeaderCache.Start + record.charCodeAt(5) * 256 + record.charCodeAt(6);
  return record.length > at ? parseStructure(record, at) : undefined;
}

/**
 * Builds messages' structures (mimestruct.ts) into their header caches, in
 * the background: one message at a time, HeaderCache.StepRead octets per
 * timer tick, read in StepChunk pieces through a handle opened and closed
 * within the tick (none is held between ticks, so the file-handle budget
 * is not touched). When one is done it is written after the header lines
 * (the whole .HDR rewritten: a cut leaves a file whose structure reads as
 * cut short, built again) and `ready(seq)` is called. Memory: the reader
 * (flat in message size) and the queue of seqs waiting.
 */
export class StructureBuilder {
  /** Seqs waiting for a build; the one being read is first. */
  private queue: number[] = [];
  private reader: StructureReader | undefined = undefined;
  private offset = 0;
  private running = false;
  /** The last one built, for when the card is full and it could not be written. */
  private lastSeq = -1;
  private last: MessageStructure | undefined = undefined;
  /** Seqs whose build failed (a card error), each told once by structure(): a waiting FETCH answers NO instead of waiting for ever. */
  private failed: number[] = [];

  constructor(
    private store: MailStore,
    private hal: Hal,
    private ready: (seq: number) => void,
  ) {}

  /**
   * Message `seq`'s structure from its header cache `record` (as
   * store.header gives it); undefined when it is not built yet, and then
   * its build is started (ready(seq) says when it is done). Throws, once,
   * when the last build of it failed on a card error.
   */
  structure(seq: number, record: string): MessageStructure | undefined {
    const kept = keptStructure(record);
    if (kept !== undefined) return kept;
    if (seq === this.lastSeq && this.last !== undefined) return this.last;
    const failed = this.failed.indexOf(seq);
    if (failed >= 0) {
      // Told once; the next call builds it again.
      this.failed.splice(failed, 1);
      throw new Error("the structure of message " + hex(seq, 8) + " could not be read (card error)");
    }
    this.start(seq);
    return undefined;
  }

  /** Queues message `seq`'s build (once). */
  start(seq: number): void {
    if (this.queue.indexOf(seq) < 0) this.queue.push(seq);
    if (!this.running) {
      this.running = true;
      const self = this;
      this.hal.setTimer(0, function () {
        self.step();
      });
    }
  }

  /** One tick's work: reads up to StepRead octets of the first message waiting; finishes it at its end. */
  private step(): void {
    const store = this.store;
    const seq = this.queue[0];
    let done = true;
    let told = false;
    try {
      if (store.available() && store.index.held(seq)) {
        if (this.reader === undefined) {
          this.reader = new StructureReader(this.hal.log);
          this.offset = 0;
        }
        const file = this.hal.storage.open(messagePath(store.index.file(seq)), "r"); // the data file keeps the number it was received under
        let read = 0;
        let chunk: string | undefined = "";
        try {
          if (this.offset > 0) file.seek(this.offset);
          while (read < HeaderCache.StepRead && chunk !== undefined) {
            chunk = file.read(HeaderCache.StepChunk);
            if (chunk === undefined || chunk.length === 0) chunk = undefined;
            else {
              this.reader.push(chunk);
              read += chunk.length;
            }
          }
        } finally {
          file.close();
        }
        this.offset += read;
        done = chunk === undefined;
        if (done) told = this.finish(seq, this.reader.finish());
      }
    } catch (e) {
      // Told to the next structure() (its waiter is woken); built again after that.
      this.hal.log("store: structure of " + hex(seq, 8) + " not built: " + describe(e));
      done = true;
      if (this.failed.indexOf(seq) < 0) this.failed.push(seq);
      if (this.failed.length > 8) this.failed.shift();
      told = true;
    }
    if (done) {
      this.reader = undefined;
      this.queue.shift();
    }
    this.running = this.queue.length > 0;
    const self = this;
    if (this.running) {
      this.hal.setTimer(0, function () {
        self.step();
      });
    }
    if (told) {
      try {
        this.ready(seq);
      } catch (e) {
        this.hal.log("store: onStructureReady: " + describe(e)); // the waiter's fault; building goes on
      }
    }
  }

  /** Writes message `seq`'s structure after its header lines; true (it is ready). */
  private finish(seq: number, ms: MessageStructure): boolean {
    this.lastSeq = seq;
    this.last = ms;
    const record = this.store.header(seq, -1);
    if (record.length >= HeaderCache.Start && !this.store.cardFull) {
      const file = this.hal.storage.open(headerPath(this.store.index.file(seq)), "w");
      try {
        file.write(record.substring(0, HeaderCache.Start + record.charCodeAt(5) * 256 + record.charCodeAt(6)) + structureRecord(ms));
      } finally {
        file.close();
      }
    }
    return true;
  }
}
