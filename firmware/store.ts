/**
 * The mail store on the card: each message stored once as a data file, and
 * a journal of MessagePack records that says which messages exist and who
 * may see them. It works without rename: see docs/STORE.md for the format,
 * the order of writes and why every power cut leaves a consistent store.
 *
 * Memory is the scarce resource on Espruino, so nothing here keeps a
 * per-message object: the journal is streamed in chunks whenever a list is
 * needed, and lists are packed into strings of fixed-width entries.
 */
import type { FileHandle, Storage } from "./hal";
import { fletcher31 } from "./checksum";
import { decode, encode, INCOMPLETE, type MsgValue } from "./msgpack";
import { hex } from "./num";
import { find, upper } from "./text";

const ROOT = "/LB";
const MESSAGE_DIR = "/LB/MSG";
const JOURNALS = ["/LB/JRNL.A", "/LB/JRNL.B"];
/**
 * Room kept in reserve: when the card is too full for a compaction, this
 * file goes and the compaction fits (see docs/STORE.md, "A full card").
 */
const SPARE = "/LB/SPARE";
const FORMAT_VERSION = 1;
/** The card allows four open files; one always stays free for the journal. */
const MESSAGE_FILES = 3;
/**
 * Sequence numbers reserved per B record: one durable journal append per
 * this many messages instead of one per message (each append is a sync).
 */
const RESERVE_BLOCK = 8;
/** Journal bytes read or written per card call. */
const CHUNK = 512;

export function messagePath(seq: number): string {
  return MESSAGE_DIR + "/" + upper(hex(seq, 8)) + ".EML";
}

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
  if (tag === "A") return r.length === 5 && isCount(r[1]) && isCount(r[2]) && isListOf(r[3], "string") && typeof r[4] === "number";
  if (tag === "R" || tag === "S" || tag === "B") return r.length === 2 && isCount(r[1]);
  if (tag === "D") return r.length === 3 && typeof r[1] === "string" && isListOf(r[2], "number");
  if (tag === "H") return r.length === 5 && isCount(r[1]) && isCount(r[2]) && isCount(r[3]) && isCount(r[4]);
  return false;
}

/** Four bytes, big-endian, of a non-negative int32: the fixed-width entries of packed lists. */
function word(n: number): string {
  return (
    String.fromCharCode(Math.floor((n & 0x7f000000) / 16777216)) +
    String.fromCharCode(Math.floor((n & 0xff0000) / 65536)) +
    String.fromCharCode(Math.floor((n & 0xff00) / 256)) +
    String.fromCharCode(n & 0xff)
  );
}

function wordAt(s: string, i: number): number {
  return ((s.charCodeAt(i) * 256 + s.charCodeAt(i + 1)) * 256 + s.charCodeAt(i + 2)) * 256 + s.charCodeAt(i + 3);
}

/** Offset of the entry of `stride` bytes that starts with `key` in a packed list, or -1. */
function entryOffset(packed: string, key: string, stride: number): number {
  let i = find(packed, key, 0);
  while (i >= 0 && i % stride !== 0) i = find(packed, key, i + 1);
  return i;
}

function describe(e: unknown): string {
  if (typeof e === "string") return e;
  if (e !== null && typeof e === "object" && typeof (e as { message?: unknown }).message === "string") {
    return (e as { message: string }).message;
  }
  return "unknown error";
}

function parseHex8(s: string): number {
  if (s.length !== 8) return -1;
  let n = 0;
  for (let i = 0; i < 8; i++) {
    const c = s.charCodeAt(i);
    let digit = -1;
    if (c >= 48 && c <= 57) digit = c - 48;
    else if (c >= 65 && c <= 70) digit = c - 55;
    else if (c >= 97 && c <= 102) digit = c - 87;
    if (digit < 0 || (i === 0 && digit > 7)) return -1;
    n = n * 16 + digit;
  }
  return n;
}

/**
 * Streams the records of a journal file. Every chunk is read with its own
 * open/seek/read/close, so a scan never holds a file handle between calls
 * and compaction can read one journal while writing the other with the one
 * handle the store keeps free.
 */
class JournalReader {
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

/** Writes a new journal file in chunks: "w" for the first, "a" after. */
class JournalWriter {
  private pending = "";
  private started = false;
  written = 0;

  constructor(
    private storage: Storage,
    private path: string,
  ) {}

  add(record: MsgValue[]): void {
    this.pending += frame(record);
    if (this.pending.length >= CHUNK) this.flush();
  }

  flush(): void {
    const file = this.storage.open(this.path, this.started ? "a" : "w");
    try {
      if (this.pending.length > 0) file.write(this.pending);
    } finally {
      file.close();
    }
    this.started = true;
    this.written += this.pending.length;
    this.pending = "";
  }
}

/** A message file opened through the store, which counts open handles. */
class TrackedFile implements FileHandle {
  private closed = false;

  constructor(
    private file: FileHandle,
    private store: MailStore,
  ) {}

  read(length: number): string | undefined {
    try {
      return this.file.read(length);
    } catch (e) {
      throw this.store.cardFailed(e);
    }
  }

  write(data: string): void {
    try {
      this.file.write(data);
    } catch (e) {
      throw this.store.cardFailed(e);
    }
  }

  seek(offset: number): void {
    this.file.seek(offset);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.store.fileClosed();
    try {
      this.file.close();
    } catch (e) {
      throw this.store.cardFailed(e);
    }
  }
}

/** Per-user byte counts, keyed "u:" + user so that no user name meets Object.prototype. */
interface Usage {
  [key: string]: number;
}

export class MailStore {
  /** True after a successful open() and until a card error is seen. */
  ready = false;
  /** The spare room is in use (or cannot be made): refuse new mail; reading and deleting go on. */
  cardFull = false;
  /** Compact once the journal has grown this much since the last snapshot... */
  compactAfterBytes = 32768;
  /** ...or after this many deletions (compaction keeps their (user, seq) pairs in memory). */
  compactAfterDeletions = 32;
  /** Random id of this store, part of every UIDL. */
  epoch = 0;
  private generation = 0;
  private nextSeq = 1;
  /** Index in JOURNALS of the file records are appended to. */
  private active = 0;
  /** Length of the active journal's good records, and of its snapshot. */
  private journalEnd = 0;
  private snapshotEnd = 0;
  private deletionsSinceSnapshot = 0;
  private usageBy: Usage = {};
  /** Sequence numbers reserved by messages still being received. */
  private inflight: number[] = [];
  /** Seqs below this are covered by a B record in the active journal. */
  private reservedUpTo = 0;
  private openFiles = 0;
  /**
   * Called when a message file closes, so that sessions waiting for a free
   * handle can try again. It runs inside the closer's call: it must only
   * schedule the retry (main.ts does, with a timer).
   */
  onFileFreed: (() => void) | undefined = undefined;

  /** `random` picks the epoch of a new store (give it hal.random); Math.random otherwise. */
  constructor(
    private storage: Storage,
    private log: (line: string) => void,
    private random?: () => number,
  ) {}

  /** Boot: create /LB dirs if missing, read the journal, recover, compact if needed. False (logged) when the card is unusable; may be retried. */
  open(): boolean {
    if (!this.reopen()) return false;
    this.keepSpare();
    return true;
  }

  /** open() without making the spare file again (after giving it up for room). */
  private reopen(): boolean {
    this.ready = false;
    try {
      this.storage.mkdir(ROOT);
      this.storage.mkdir(MESSAGE_DIR);
      try {
        this.loadJournal(false);
      } catch (e) {
        // Too full to compact? The spare file makes room; and a whole
        // journal can be used uncompacted. A card error fails again here.
        this.log("store: " + describe(e) + "; retrying with the spare room");
        this.releaseSpare();
        this.loadJournal(true);
      }
      this.ready = true;
      return true;
    } catch (e) {
      this.log("store: card unusable: " + describe(e));
      return false;
    }
  }

  /** True when the store can be used now, reopening it after a card error (a card put back in). */
  available(): boolean {
    return this.ready || this.open();
  }

  /** `uncompacted`: a whole journal that cannot be compacted is used as it is. */
  private loadJournal(uncompacted: boolean): void {
    // The valid journal with the highest generation is the store; the
    // other is an older snapshot, or a compaction cut short (no S record).
    const first = this.headerGeneration(1) > this.headerGeneration(0) ? 1 : 0;
    if (!this.load(first, uncompacted) && !this.load(1 - first, uncompacted)) this.initialize();
  }

  /** Removes the spare file to make room; true when there was one. New mail is refused until it is back. */
  private releaseSpare(): boolean {
    try {
      if (this.storage.size(SPARE) < 0) return false;
      this.storage.remove(SPARE);
    } catch (e) {
      return false;
    }
    this.cardFull = true;
    return true;
  }

  /**
   * Makes sure the spare file exists (it is written in 1 KiB pieces). When
   * it cannot be, the card is full: new mail is refused until deletions
   * make room again. Never throws; a card error shows at the next use.
   */
  private keepSpare(): void {
    const bytes = this.compactAfterBytes + 4096;
    try {
      if (this.storage.size(SPARE) >= bytes) {
        this.cardFull = false;
        return;
      }
      let block = "-";
      while (block.length < 1024) block += block;
      const file = this.storage.open(SPARE, "w");
      try {
        for (let written = 0; written < bytes; written += block.length) file.write(block);
      } finally {
        file.close();
      }
      if (this.cardFull) this.log("store: the card has room again");
      this.cardFull = false;
    } catch (e) {
      if (!this.cardFull) this.log("store: the card is full: " + describe(e));
      this.cardFull = true;
      try {
        this.removeIfPresent(SPARE); // a partial spare only takes room
      } catch (e2) {
        // the next operation finds out what is wrong with the card
      }
    }
  }

  /** Starts receiving a message; undefined when no file handle is free. Throws on card errors. */
  beginMessage(): IncomingMessage | undefined {
    this.requireReady();
    if (this.openFiles >= MESSAGE_FILES) return undefined;
    try {
      this.compactIfGrown(); // reservations of aborted messages add up even when nothing commits
    } catch (e) {
      throw this.cardFailed(e);
    }
    if (this.nextSeq >= this.reservedUpTo) {
      // Durable before any data file of the block exists, so recovery finds them all.
      this.append(["B", this.nextSeq + RESERVE_BLOCK - 1]);
      this.reservedUpTo = this.nextSeq + RESERVE_BLOCK;
    }
    const seq = this.nextSeq;
    this.nextSeq = seq + 1; // never reused, even if the message is never committed
    const file = this.openTracked(messagePath(seq), "w");
    this.inflight.push(seq);
    return new IncomingMessage(this, seq, file);
  }

  /** Bytes currently stored for a user (for the quota check). */
  usage(user: string): number {
    return this.usageBy["u:" + user] || 0;
  }

  /** Every user with mail on the card, configured or not (a removed user's mail stays until deleted). */
  owners(): string[] {
    const out: string[] = [];
    for (const key in this.usageBy) if (this.usageBy[key] > 0) out.push(key.substring(2));
    return out;
  }

  /** A snapshot of the user's maildrop, oldest first. Throws on card error. */
  maildrop(user: string): Maildrop {
    this.requireReady();
    const drop = new MaildropBuilder(user);
    try {
      this.scan(function (record) {
        drop.add(record);
      });
    } catch (e) {
      throw this.cardFailed(e);
    }
    return new Maildrop(this.epoch, drop.entries, drop.count, drop.totalBytes);
  }

  /** Opens a stored message for reading; undefined when no file handle is free. Throws on card error. */
  openMessage(seq: number): FileHandle | undefined {
    this.requireReady();
    if (this.openFiles >= MESSAGE_FILES) return undefined;
    return this.openTracked(messagePath(seq), "r");
  }

  /**
   * Commits the deletion of these messages from the user's maildrop (one D
   * record), then removes data files no recipient needs any more. Throws
   * only when the D record could not be written: once it is on the card the
   * deletion stands, and a later failure is logged and left to recovery.
   */
  deleteMessages(user: string, seqs: number[]): void {
    this.requireReady();
    if (seqs.length === 0) return;
    try {
      this.append(["D", user, seqs]);
    } catch (e) {
      // A full card: give up the spare room, recover (a torn tail goes) and try once more.
      if (!this.releaseSpare() || !this.reopen()) throw e;
      this.append(["D", user, seqs]);
    }
    this.deletionsSinceSnapshot++;
    try {
      this.collectDeleted(user, seqs);
      if (this.deletionsSinceSnapshot >= this.compactAfterDeletions) this.compact();
      else this.compactIfGrown();
    } catch (e) {
      this.cardFailed(e);
    }
    if (this.cardFull && this.ready) this.keepSpare(); // the deleted mail may have made room
  }

  /** The journal file records are appended to, and its generation (for tests and status). */
  get journalPath(): string {
    return JOURNALS[this.active];
  }

  get journalGeneration(): number {
    return this.generation;
  }

  /** Open message files (at most 3). */
  get openFileCount(): number {
    return this.openFiles;
  }

  /** @internal A tracked file was closed. */
  fileClosed(): void {
    this.openFiles--;
    if (this.onFileFreed !== undefined) this.onFileFreed();
  }

  /** @internal Marks the store unusable until the next open(); returns the error to rethrow. */
  cardFailed(e: unknown): unknown {
    if (this.ready) this.log("store: card error: " + describe(e));
    this.ready = false;
    return e;
  }

  /** @internal IncomingMessage.commit: the data file is closed, then one A record makes it visible. */
  commitMessage(message: IncomingMessage, file: FileHandle, recipients: string[], time: number): void {
    this.forget(message.seq); // from now on recovery decides: committed if and only if the A record is whole
    file.close();
    this.requireReady();
    const users: string[] = [];
    for (let i = 0; i < recipients.length; i++) {
      if (users.indexOf(recipients[i]) < 0) users.push(recipients[i]);
    }
    this.append(["A", message.seq, message.bytes, users, time]);
    for (let i = 0; i < users.length; i++) this.usageBy["u:" + users[i]] = this.usage(users[i]) + message.bytes;
    try {
      this.compactIfGrown();
    } catch (e) {
      this.cardFailed(e); // the message is committed all the same
    }
  }

  /** @internal IncomingMessage.abort: the data file goes; its R record stays, harmless. */
  abortMessage(seq: number, file: FileHandle): void {
    this.forget(seq);
    try {
      file.close();
    } catch (e) {
      // closing failed: the removal below may still work
    }
    try {
      this.removeIfPresent(messagePath(seq));
    } catch (e) {
      this.cardFailed(e); // recovery removes it at the next open()
    }
  }

  private forget(seq: number): void {
    const i = this.inflight.indexOf(seq);
    if (i >= 0) this.inflight.splice(i, 1);
  }

  private requireReady(): void {
    if (!this.ready) throw new Error("store not ready");
  }

  private openTracked(path: string, mode: string): FileHandle {
    let file: FileHandle;
    try {
      file = this.storage.open(path, mode);
    } catch (e) {
      throw this.cardFailed(e);
    }
    this.openFiles++;
    return new TrackedFile(file, this);
  }

  private removeIfPresent(path: string): void {
    if (this.storage.size(path) >= 0) this.storage.remove(path);
  }

  /** Appends one record to the active journal, durably. */
  private append(record: MsgValue[]): void {
    const data = frame(record);
    try {
      const file = this.storage.open(JOURNALS[this.active], "a");
      try {
        file.write(data);
      } finally {
        file.close();
      }
    } catch (e) {
      throw this.cardFailed(e);
    }
    this.journalEnd += data.length;
  }

  /** Calls `visit` for every record of the active journal. */
  private scan(visit: (record: MsgValue[]) => void): void {
    const reader = new JournalReader(this.storage, JOURNALS[this.active], this.journalEnd);
    for (let record = reader.next(); record !== undefined; record = reader.next()) visit(record);
  }

  /** Replays journal `index`, recovers and compacts as needed. False when the file is not a complete journal. */
  private load(index: number, uncompacted: boolean): boolean {
    if (this.headerGeneration(index) < 0) return false;
    const replay = new Replay(this.storage, this.inflight);
    const reader = new JournalReader(this.storage, JOURNALS[index], -1);
    // A record out of place (a second header, say) ends the journal like a torn one.
    let torn = false;
    for (let record = reader.next(); record !== undefined; record = reader.next()) {
      if (!replay.add(record, reader.end)) {
        torn = true;
        break;
      }
    }
    if (!replay.complete) return false;
    if (reader.torn) torn = true;
    this.epoch = replay.epoch;
    this.generation = replay.generation;
    this.nextSeq = replay.nextSeq;
    this.reservedUpTo = this.nextSeq; // a new block before the next message
    this.active = index;
    this.journalEnd = replay.end;
    this.snapshotEnd = replay.snapshotEnd;
    this.usageBy = replay.usage;
    this.deletionsSinceSnapshot = replay.deletions;
    // Recovery: a reservation without a commit is a message nobody was told about.
    for (let i = 0; i < replay.uncommitted.length; i++) this.removeIfPresent(messagePath(replay.uncommitted[i]));
    if (torn) this.log("store: journal ends in a torn record at byte " + hex(replay.end, 8) + "; dropping it");
    if (!torn && uncompacted) this.compactAtBoot();
    else if (torn || replay.reservations > 0 || replay.deletions > 0) this.compact();
    else this.compactIfGrown();
    return true;
  }

  /**
   * A whole journal needs no compaction to be used: when it fails (a full
   * card), the other file, which may hold a complete but unwanted snapshot,
   * goes, and appends continue on the active one. (A torn tail cannot be
   * appended after: that needs the compaction.)
   */
  private compactAtBoot(): void {
    try {
      this.compact();
    } catch (e) {
      this.log("store: compaction failed (" + describe(e) + "); going on with the journal as it is");
      this.removeIfPresent(JOURNALS[1 - this.active]);
    }
  }

  /** Generation in the first record of a journal file, or -1 when it does not start with a good header. */
  private headerGeneration(index: number): number {
    if (this.storage.size(JOURNALS[index]) <= 0) return -1;
    const first = new JournalReader(this.storage, JOURNALS[index], -1).next();
    return first !== undefined && first[0] === "H" && first[1] === FORMAT_VERSION ? (first[2] as number) : -1;
  }

  /** A new store: no valid journal exists, so no message was ever committed on this card. */
  private initialize(): void {
    this.epoch = this.pickEpoch();
    this.generation = 0;
    this.nextSeq = 1;
    // Data files left by an unreadable journal are no one's mail, but their names stay taken.
    const names = this.storage.list(MESSAGE_DIR);
    for (let i = 0; i < names.length; i++) {
      const seq = parseHex8(names[i].substring(0, 8));
      if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    }
    this.reservedUpTo = this.nextSeq;
    const fresh = names.length === 0 && this.storage.size(JOURNALS[0]) <= 0 && this.storage.size(JOURNALS[1]) <= 0;
    this.log(fresh ? "store: new store created" : "store: no valid journal; starting a new store");
    this.usageBy = {};
    this.active = 1; // so that compaction writes JRNL.A
    this.journalEnd = 0;
    this.compact();
  }

  private pickEpoch(): number {
    if (this.random) return this.random();
    return Math.floor(Math.random() * 65536) * 32768 + Math.floor(Math.random() * 32768);
  }

  private compactIfGrown(): void {
    if (this.journalEnd - this.snapshotEnd >= this.compactAfterBytes) this.compact();
  }

  /**
   * Writes the live state into the other journal file (H, one A per live
   * message with the users that still have it, R for messages being
   * received, S), then appends go there. Data files whose every recipient
   * deleted them are removed on the way: the D records in the current
   * journal already say so, so a cut here only repeats the work.
   */
  private compact(): void {
    const deleted = new DeletionSet();
    this.scan(function (record) {
      if (record[0] === "D") deleted.add(record[1] as string, record[2] as number[]);
    });
    const target = 1 - this.active;
    const generation = this.generation + 1;
    const writer = new JournalWriter(this.storage, JOURNALS[target]);
    writer.add(["H", FORMAT_VERSION, generation, this.epoch, this.nextSeq]);
    const usage: Usage = {};
    const store = this;
    this.scan(function (record) {
      if (record[0] !== "A") return;
      const seq = record[1] as number;
      const size = record[2] as number;
      const users = record[3] as string[];
      const remaining: string[] = [];
      for (let i = 0; i < users.length; i++) {
        if (!deleted.has(users[i], seq)) {
          remaining.push(users[i]);
          usage["u:" + users[i]] = (usage["u:" + users[i]] || 0) + size;
        }
      }
      if (remaining.length > 0) writer.add(["A", seq, size, remaining, record[4]]);
      else store.removeIfPresent(messagePath(seq));
    });
    for (let i = 0; i < this.inflight.length; i++) writer.add(["R", this.inflight[i]]);
    // The rest of the current block stays reserved (H's nextSeq is where it resumes).
    if (this.reservedUpTo > this.nextSeq) writer.add(["B", this.reservedUpTo - 1]);
    writer.add(["S", generation]);
    writer.flush();
    this.active = target;
    this.generation = generation;
    this.journalEnd = writer.written;
    this.snapshotEnd = writer.written;
    this.usageBy = usage;
    this.deletionsSinceSnapshot = 0;
  }

  /** After a D record: recount the user's bytes and remove data files that every recipient has now deleted. */
  private collectDeleted(user: string, seqs: number[]): void {
    const drop = new MaildropBuilder(user);
    // Users still holding each target, packed per target: "\n" + user for each.
    const holders: { [key: string]: string } = {};
    this.scan(function (record) {
      drop.add(record);
      const tag = record[0];
      if (tag === "A" && seqs.indexOf(record[1] as number) >= 0) {
        const users = record[3] as string[];
        let list = "";
        for (let i = 0; i < users.length; i++) list += "\n" + users[i] + "\n";
        holders["s" + hex(record[1] as number, 8)] = list;
      } else if (tag === "D") {
        const deletedSeqs = record[2] as number[];
        for (let i = 0; i < deletedSeqs.length; i++) {
          const key = "s" + hex(deletedSeqs[i], 8);
          const list = holders[key];
          if (list === undefined) continue;
          const at = find(list, "\n" + (record[1] as string) + "\n", 0);
          if (at >= 0) holders[key] = list.substring(0, at) + list.substring(at + (record[1] as string).length + 2);
        }
      }
    });
    this.usageBy["u:" + user] = drop.totalBytes;
    for (let i = 0; i < seqs.length; i++) {
      if (holders["s" + hex(seqs[i], 8)] === "") this.removeIfPresent(messagePath(seqs[i]));
    }
  }
}

/** (user, seq) pairs deleted since the last snapshot, packed per user as 4-byte seqs. */
class DeletionSet {
  private byUser: { [key: string]: string } = {};

  add(user: string, seqs: number[]): void {
    let packed = this.byUser["u:" + user] || "";
    for (let i = 0; i < seqs.length; i++) packed += word(seqs[i]);
    this.byUser["u:" + user] = packed;
  }

  has(user: string, seq: number): boolean {
    const packed = this.byUser["u:" + user];
    return packed !== undefined && entryOffset(packed, word(seq), 4) >= 0;
  }
}

/** Builds one user's list of (seq, size) entries, 8 bytes each, from journal records in order. */
class MaildropBuilder {
  entries = "";
  count = 0;
  totalBytes = 0;

  constructor(private user: string) {}

  add(record: MsgValue[]): void {
    const tag = record[0];
    if (tag === "A") {
      if ((record[3] as string[]).indexOf(this.user) < 0) return;
      this.entries += word(record[1] as number) + word(record[2] as number);
      this.count++;
      this.totalBytes += record[2] as number;
    } else if (tag === "D" && record[1] === this.user) {
      const seqs = record[2] as number[];
      for (let i = 0; i < seqs.length; i++) {
        const at = entryOffset(this.entries, word(seqs[i]), 8);
        if (at < 0) continue;
        this.totalBytes -= wordAt(this.entries, at + 4);
        this.count--;
        this.entries = this.entries.substring(0, at) + this.entries.substring(at + 8);
      }
    }
  }
}

/** What replaying one journal file at boot learns. */
class Replay {
  complete = false;
  epoch = 0;
  generation = 0;
  nextSeq = 1;
  snapshotEnd = 0;
  end = 0;
  reservations = 0;
  deletions = 0;
  usage: Usage = {};
  /** Reserved seqs whose data file exists and no A record has committed (yet). */
  uncommitted: number[] = [];
  private started = false;

  constructor(
    private storage: Storage,
    private inflight: number[],
  ) {}

  /** Takes the next good record (ending at file offset `end`); false when the file is not a journal. */
  add(record: MsgValue[], end: number): boolean {
    const tag = record[0];
    if (!this.started) {
      if (tag !== "H" || record[1] !== FORMAT_VERSION) return false;
      this.started = true;
      this.generation = record[2] as number;
      this.epoch = record[3] as number;
      this.nextSeq = record[4] as number;
    } else if (tag === "S") {
      if (this.complete || record[1] !== this.generation) return false;
      this.complete = true;
      this.snapshotEnd = end;
    } else if (tag === "R") {
      const seq = record[1] as number;
      this.reserved(seq);
      this.reservations++;
      if (this.inflight.indexOf(seq) < 0 && this.storage.size(messagePath(seq)) >= 0) this.uncommitted.push(seq);
    } else if (tag === "B") {
      // Every seq from the next unused one up to `last` may have a data file.
      const last = record[1] as number;
      for (let seq = this.nextSeq; seq <= last; seq++) {
        if (this.inflight.indexOf(seq) < 0 && this.storage.size(messagePath(seq)) >= 0) this.uncommitted.push(seq);
      }
      this.reserved(last);
      this.reservations++;
    } else if (tag === "A") {
      const seq = record[1] as number;
      this.reserved(seq);
      const at = this.uncommitted.indexOf(seq);
      if (at >= 0) this.uncommitted.splice(at, 1);
      const users = record[3] as string[];
      for (let i = 0; i < users.length; i++) {
        this.usage["u:" + users[i]] = (this.usage["u:" + users[i]] || 0) + (record[2] as number);
      }
    } else if (tag === "D") {
      this.deletions++; // usage is recounted by the compaction that follows
    } else {
      return false; // a second header
    }
    this.end = end;
    return true;
  }

  private reserved(seq: number): void {
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
  }
}

export class IncomingMessage {
  /** Bytes written so far. */
  bytes = 0;
  private file: FileHandle | undefined;

  constructor(
    private store: MailStore,
    readonly seq: number,
    file: FileHandle,
  ) {
    this.file = file;
  }

  /** Appends to the data file. Throws on card errors. */
  write(data: string): void {
    if (this.file === undefined) throw new Error("message already finished");
    this.file.write(data);
    this.bytes += data.length;
  }

  /** Closes the data file and commits the message to these users' maildrops (one A record). Committed when it returns. */
  commit(recipients: string[], time: number): void {
    const file = this.file;
    if (file === undefined) throw new Error("message already finished");
    this.file = undefined;
    this.store.commitMessage(this, file, recipients, time);
  }

  /** Closes and removes the data file. Never throws; does nothing after commit() was called. */
  abort(): void {
    const file = this.file;
    if (file === undefined) return;
    this.file = undefined;
    this.store.abortMessage(this.seq, file);
  }
}

export class Maildrop {
  constructor(
    private epoch: number,
    private entries: string,
    readonly count: number,
    readonly totalBytes: number,
  ) {}

  /** i is 0-based */
  seq(i: number): number {
    return wordAt(this.entries, i * 8);
  }

  size(i: number): number {
    return wordAt(this.entries, i * 8 + 4);
  }

  /** RFC 1939 UIDL: store epoch and sequence number, unique forever and stable across restarts. */
  uid(i: number): string {
    return hex(this.epoch, 8) + "-" + hex(this.seq(i), 8);
  }
}
