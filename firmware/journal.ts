/**
 * The store's journal: two append-only files of MessagePack records, each
 * followed by its Fletcher checksum (docs/STORE.md, "The journal"). This
 * module frames, reads and writes records, keeps which file is active, and
 * replays a file at boot; store.ts decides what to write.
 */
import type { Storage } from "./hal";
import { fletcher31 } from "./checksum";
import { decode, encode, INCOMPLETE, type MsgValue } from "./msgpack";
import { Keyword, Keywords, MailIndex, word } from "./mailindex";
import { messagePath } from "./msgfiles";
import { decimal } from "./num";

export const JOURNALS = ["/LB/JRNL.A", "/LB/JRNL.B"];
/** The card format (a const enum: inlined where used, no variable kept in RAM). */
export const enum Format {
  /**
   * The version, the second field of every H record. A build replays every
   * version from 1 up to this one and writes only this one (at its next
   * compaction); a journal of a newer version is refused, never
   * overwritten. Version 1: the records A, B, D, H, R, S of
   * docs/STORE.md. Version 2 adds the F record (stored flags) and the
   * flags field of A. Version 3 adds IMAP's folders: owner keys
   * `user/n` in A, D and F, the M record (a folder's name, subscription
   * and UIDNEXT), the X record (a folder deleted with its messages), and
   * the flags field of A at commit (COPY, APPEND). Version 4 adds IMAP
   * keywords: the K record (a user's keyword table), F's fifth field and
   * A's eighth (keyword bits).
   */
  Version = 4,
}
/** Journal bytes read or written per card call. */
const CHUNK = 512;

/** One journal record as written: the msgpack array, then its checksum. */
function frame(record: MsgValue[]): string {
  const body = encode(record);
  return body + encode(fletcher31(body, 0, body.length));
}

function isCount(v: MsgValue): boolean {
  return typeof v === "number" && v >= 0;
}

function isListOf(v: MsgValue, type: string): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== type || (type === "number" && (v[i] as number) < 0)) return false;
  }
  return true;
}

/** Only records of a known shape are replayed: anything else ends the journal. */
function wellFormed(r: MsgValue[]): boolean {
  const tag = r[0];
  if (tag === "A") {
    if (!(isCount(r[1]) && isCount(r[2]) && isListOf(r[3], "string") && typeof r[4] === "number")) return false;
    // Version 2's compaction adds the users' flag bits, one per user, when any is set; version 3 the data file's number.
    if (r.length === 5) return true;
    const n = (r[3] as MsgValue[]).length;
    // Version 4: the owners' keyword bits, in the owners' order.
    if (r.length === 8 && !(isListOf(r[7], "number") && (r[7] as MsgValue[]).length === n)) return false;
    return (r.length === 6 || ((r.length === 7 || r.length === 8) && isCount(r[6]))) && isListOf(r[5], "number") && (r[5] as MsgValue[]).length === n;
  }
  if (tag === "F") return (r.length === 4 || (r.length === 5 && isCount(r[4]))) && typeof r[1] === "string" && isCount(r[2]) && isCount(r[3]);
  // Version 4: ["K", user, slot, name].
  if (tag === "K") return r.length === 4 && typeof r[1] === "string" && isCount(r[2]) && (r[2] as number) < Keyword.Max && typeof r[3] === "string" && (r[3] as string).length > 0;
  if (tag === "R" || tag === "S" || tag === "B") return r.length === 2 && isCount(r[1]);
  if (tag === "D") return r.length === 3 && typeof r[1] === "string" && isListOf(r[2], "number");
  if (tag === "H") return r.length === 5 && isCount(r[1]) && isCount(r[2]) && isCount(r[3]) && isCount(r[4]);
  // Version 3: ["M", owner, name, uidnext, subscribed] and ["X", owner].
  if (tag === "M") return r.length === 5 && typeof r[1] === "string" && typeof r[2] === "string" && (r[2] as string).length > 0 && isCount(r[3]) && (r[4] === 0 || r[4] === 1);
  if (tag === "X") return r.length === 2 && typeof r[1] === "string";
  return false;
}

/**
 * Streams the records of a journal file. Every chunk is read with its own
 * open/seek/read/close, so a scan never holds a file handle between calls
 * and compaction can read one journal while writing the other with the one
 * handle the store keeps free.
 */
export class JournalReader {
  private buf = "";
  private pos = 0;
  /** File offset of buf[0]. */
  private base = 0;
  private eof = false;
  private done = false;
  /** File offset just after the last good record. */
  end = 0;
  /** Reading stopped at bytes that are not a whole, valid record. */
  torn = false;

  /** `limit` < 0 reads the whole file and verifies checksums (boot); else reads only the first `limit` bytes, known good. */
  constructor(
    private storage: Storage,
    private path: string,
    private limit: number,
  ) {}

  next(): MsgValue[] | undefined {
    while (!this.done) {
      const body = decode(this.buf, this.pos);
      const sum = body.end >= 0 ? decode(this.buf, body.end) : body;
      if (sum.end === INCOMPLETE && !this.eof) {
        this.refill();
        continue;
      }
      const record = body.value as MsgValue[];
      if (sum.end === INCOMPLETE && this.pos === this.buf.length) {
        this.done = true; // a clean end
      } else if (
        sum.end < 0 ||
        !Array.isArray(record) ||
        !wellFormed(record) ||
        (this.limit < 0 && sum.value !== fletcher31(this.buf, this.pos, body.end))
      ) {
        this.done = true;
        this.torn = true;
      } else {
        this.pos = sum.end;
        this.end = this.base + this.pos;
        return record;
      }
    }
    return undefined;
  }

  private refill(): void {
    const offset = this.base + this.buf.length;
    let length = CHUNK;
    if (this.limit >= 0 && offset + length > this.limit) length = this.limit - offset;
    let chunk: string | undefined = undefined;
    if (length > 0) {
      const file = this.storage.open(this.path, "r");
      try {
        file.seek(offset);
        chunk = file.read(length);
      } finally {
        file.close();
      }
    }
    this.buf = this.buf.substring(this.pos);
    this.base += this.pos;
    this.pos = 0;
    if (chunk === undefined || chunk.length === 0) this.eof = true;
    else this.buf += chunk;
  }
}

/** The active journal file: where records are appended, and how far it has grown since its snapshot. */
export class Journal {
  /** Index in JOURNALS of the file records are appended to. */
  active = 0;
  generation = 0;
  /** Length of the active file's good records, and of its snapshot. */
  end = 0;
  snapshotEnd = 0;
  /** Set when a file is a journal of a newer format than this build reads: the card must be left alone. */
  newer = "";
  /** Format version of the active file (an older one is rewritten before a record it lacks is appended). */
  version = Format.Version;

  constructor(private storage: Storage) {}

  /** Appends one record to the active file, durably (open, write, close). Throws card errors as they come. */
  append(record: MsgValue[]): void {
    const data = frame(record);
    const file = this.storage.open(JOURNALS[this.active], "a");
    try {
      file.write(data);
    } finally {
      file.close();
    }
    this.end += data.length;
  }

  /** Calls `visit` for every good record of the active file. */
  scan(visit: (record: MsgValue[]) => void): void {
    const reader = new JournalReader(this.storage, JOURNALS[this.active], this.end);
    for (let record = reader.next(); record !== undefined; record = reader.next()) visit(record);
  }

  /**
   * Writes the other journal file anew with the records `fill` adds (in
   * CHUNK-sized writes: "w" for the first, "a" after) and returns its
   * length. Compaction reads the active file meanwhile. Throws card errors.
   */
  rewrite(fill: (add: (record: MsgValue[]) => void) => void): number {
    const storage = this.storage;
    const path = JOURNALS[1 - this.active];
    let pending = "";
    let written = 0;
    const flush = function () {
      const file = storage.open(path, written > 0 ? "a" : "w");
      try {
        if (pending.length > 0) file.write(pending);
      } finally {
        file.close();
      }
      written += pending.length;
      pending = "";
    };
    fill(function (record) {
      pending += frame(record);
      if (pending.length >= CHUNK) flush();
    });
    flush();
    return written;
  }

  /**
   * Generation in the H record that starts file `index`; -1 when it does not
   * start with a good header of a version this build reads (a newer version
   * also sets `newer`).
   */
  headerGeneration(index: number): number {
    if (this.storage.size(JOURNALS[index]) <= 0) return -1;
    const first = new JournalReader(this.storage, JOURNALS[index], -1).next();
    if (first === undefined || first[0] !== "H") return -1;
    const version = first[1] as number;
    if (version > Format.Version) this.newer = JOURNALS[index] + " is format " + decimal(version) + ", this build reads 1 to " + decimal(Format.Version);
    return version >= 1 && version <= Format.Version ? (first[2] as number) : -1;
  }
}

/**
 * Boot: what replaying one journal file found, and what recovery must do
 * afterwards (docs/STORE.md, "Boot: choosing the journal and recovering").
 */
export interface Replay {
  /** The S record was seen: the file is a journal. */
  complete: boolean;
  /** The file ends in bytes that are not a good record, or a record out of place (a second header, say): a torn tail. */
  torn: boolean;
  epoch: number;
  /** The file's format version (H). */
  version: number;
  generation: number;
  nextSeq: number;
  snapshotEnd: number;
  /** File offset just after the last record taken. */
  end: number;
  reservations: number;
  deletions: number;
  index: MailIndex;
  keywords: Keywords;
  /** Reserved seqs whose data file exists and no A record has committed (yet). */
  uncommitted: number[];
}

/**
 * Replays journal file `file` (0 or 1) into a new index. `inflight`: seqs of
 * messages being received right now (a reopen at run time): not recovery's
 * to remove. One function, not a class: it runs at boot only, and a class
 * keeps its prototype in RAM for the box's life.
 */
export function replay(storage: Storage, file: number, inflight: number[]): Replay {
  const r: Replay = {
    complete: false,
    torn: false,
    epoch: 0,
    version: 0,
    generation: 0,
    nextSeq: 1,
    snapshotEnd: 0,
    end: 0,
    reservations: 0,
    deletions: 0,
    index: new MailIndex(),
    keywords: new Keywords(),
    uncommitted: [],
  };
  const reader = new JournalReader(storage, JOURNALS[file], -1);
  let started = false;
  for (let record = reader.next(); record !== undefined; record = reader.next()) {
    const tag = record[0];
    /** A seq reserved or committed by this record: the next new message comes after it. */
    let used = -1;
    if (!started) {
      if (tag !== "H" || (record[1] as number) < 1 || (record[1] as number) > Format.Version) {
        r.torn = true;
        break;
      }
      started = true;
      r.version = record[1] as number;
      r.generation = record[2] as number;
      r.epoch = record[3] as number;
      r.nextSeq = record[4] as number;
    } else if (tag === "S") {
      if (r.complete || record[1] !== r.generation) {
        r.torn = true;
        break;
      }
      r.complete = true;
      r.snapshotEnd = reader.end;
    } else if (tag === "R") {
      used = record[1] as number;
      r.reservations++;
      if (inflight.indexOf(used) < 0 && storage.size(messagePath(used)) >= 0) r.uncommitted.push(used);
    } else if (tag === "B") {
      // Every seq from the next unused one up to `used` may have a data file.
      used = record[1] as number;
      for (let seq = r.nextSeq; seq <= used; seq++) {
        if (inflight.indexOf(seq) < 0 && storage.size(messagePath(seq)) >= 0) r.uncommitted.push(seq);
      }
      r.reservations++;
    } else if (tag === "A") {
      used = record[1] as number;
      // Its data file is named by the seventh field when there is one (store.ts, commitMessage).
      const file = record.length > 6 ? (record[6] as number) : used;
      if (file !== used) r.index.aliases += word(used) + word(file);
      const at = r.uncommitted.indexOf(file);
      if (at >= 0) r.uncommitted.splice(at, 1);
      const users = record[3] as string[];
      r.index.add(used, record[2] as number, users);
      const flags = record[5] as number[] | undefined;
      if (flags !== undefined) for (let i = 0; i < users.length; i++) r.index.setFlags(users[i], used, flags[i]);
      const keys = record[7] as number[] | undefined;
      if (keys !== undefined) for (let i = 0; i < users.length; i++) r.keywords.set(users[i], used, keys[i]);
    } else if (tag === "D") {
      r.index.remove(record[1] as string, record[2] as number[]);
      r.keywords.remove(record[1] as string, record[2] as number[]);
      r.deletions++;
    } else if (tag === "F") {
      r.index.setFlags(record[1] as string, record[2] as number, record[3] as number);
      if (record.length > 4 && r.index.flags(record[1] as string, record[2] as number) >= 0) r.keywords.set(record[1] as string, record[2] as number, record[4] as number);
    } else if (tag === "K") {
      r.keywords.name(record[1] as string, record[2] as number, record[3] as string);
    } else if (tag === "M") {
      r.index.folder(record[1] as string, (record[4] === 1 ? "+" : "-") + (record[2] as string), record[3] as number);
    } else if (tag === "X") {
      r.index.folder(record[1] as string, "", 0);
      r.keywords.drop(record[1] as string);
      r.deletions++; // compaction removes the data files no one holds
    } else {
      r.torn = true; // a second header
      break;
    }
    if (used >= r.nextSeq) r.nextSeq = used + 1;
    r.end = reader.end;
  }
  if (reader.torn) r.torn = true;
  return r;
}
