/**
 * The mail store on the card, as the mailbox sees it: messages received,
 * committed to users' maildrops, listed, read and deleted. Each message is
 * stored once as a data file (msgfiles.ts); the journal (journal.ts) says
 * which messages exist and who may see them, and is replayed at boot
 * into an index in memory (mailindex.ts) that listing and
 * reading use. It works without rename: see docs/STORE.md for the format,
 * the order of writes and why every power cut leaves a consistent store.
 */
import type { FileHandle, Storage } from "./hal";
import { Format, Journal, JOURNALS, replay as replayJournal } from "./journal";
import { Entry, Keyword, Keywords, MailIndex, Maildrop, word } from "./mailindex";
import { HeaderCache, headerRecord, pickHeaders } from "./hdrcache";
import { describe, headerPath, Layout, MessageFiles, messagePath, parseHex8 } from "./msgfiles";
import { sortBytewise, type MsgValue } from "./msgpack";
import { decimal, div, hex } from "./num";

/** When the store asks the board for its free memory (indexFull), and what it keeps free (a const enum: inlined). */
const enum Memory {
  /** Commits between two readings: 16 entries are at most 128 bytes more index, far below any reserve. */
  Every = 16,
  /** Espruino variables kept free: a few sessions (~300 each, measured on the real interpreter) and a command in flight. */
  ReserveVariables = 1500,
  /** Bytes kept free where the board counts bytes (NodeMCU's Lua heap: a session is ~3 KB). */
  ReserveBytes = 40960,
}

/**
 * Sequence numbers reserved per B record: one durable journal append per
 * this many messages instead of one per message (each append is a sync).
 */
const RESERVE_BLOCK = 8;

export class MailStore {
  /** True after a successful open() and until a card error is seen. */
  ready = false;
  /** The spare room is in use (or cannot be made): refuse new mail; reading and deleting go on. */
  cardFull = false;
  /** Compact once the journal has grown this much since the last snapshot... */
  compactAfterBytes = 32768;
  /** ...or after this many deletions. */
  compactAfterDeletions = 32;
  /** Random id of this store, part of every UIDL. */
  epoch = 0;
  /**
   * The board's free memory now (hal.freeMemory) and the least the index may
   * leave of it, in the same unit (setMemory); none: the index is never full.
   */
  private freeMemory: (() => number) | undefined = undefined;
  private memoryReserve = 0;
  /** The last reading was below the reserve. */
  private memoryLow = false;
  /** Commits since the last reading (a reading is due at Memory.Every). */
  private sinceReading = Memory.Every as number;
  private nextSeq = 1;
  /** @internal The journal (tests read which file is active, JOURNALS[journal.active], and its generation). */
  readonly journal: Journal;
  /** @internal The message files (tests read `files.open`, the open handles: at most Layout.MessageFiles). No getters: each is a function and, in Lua, a descriptor table kept in RAM. */
  readonly files: MessageFiles;
  /** @internal Who holds what (mailindex.ts): the mailbox reads stored flags from it, index.flags(user, seq), as they are now. */
  index = new MailIndex();
  /** IMAP keywords (mailindex.ts): per user the table of names, per owner the bits of messages that have any. */
  keywords = new Keywords();
  private deletionsSinceSnapshot = 0;
  /** Sequence numbers reserved by messages still being received. */
  private inflight: number[] = [];
  /** Seqs below this are covered by a B record in the active journal. */
  private reservedUpTo = 0;
  /**
   * Called when a message file closes, so that sessions waiting for a free
   * handle can try again. It runs inside the closer's call: it must only
   * schedule the retry (main.ts does, with a timer).
   */
  onFileFreed: (() => void) | undefined = undefined;
  /**
   * Called after each commit with the message's seq and arrival time
   * (seconds), inside the committer's call: the mailbox schedules
   * header(seq, time) with it, so the header cache is built after the 250.
   */
  onCommitted: ((seq: number, time: number) => void) | undefined = undefined;
  /**
   * Called with the owner key (a user's name for INBOX, `user/n` for a
   * folder) after each commit point that changed what that maildrop holds or
   * its flags (a message committed, deleted, flagged; a folder deleted),
   * inside the committer's call. The mailbox passes it on (Mailbox.onChange).
   */
  onChange: ((owner: string) => void) | undefined = undefined;

  /** `random` picks the epoch of a new store (give it hal.random); Math.random otherwise. */
  constructor(
    private storage: Storage,
    private log: (line: string) => void,
    private random?: () => number,
  ) {
    this.journal = new Journal(storage);
    this.files = new MessageFiles(storage, this);
  }

  /** Boot: create /LB dirs if missing, read the journal, recover, compact if needed. False (logged) when the card is unusable; may be retried. */
  open(): boolean {
    if (!this.reopen()) return false;
    this.keepSpare();
    return true;
  }

  /** open() without making the spare file again (after giving it up for room). */
  private reopen(): boolean {
    this.ready = false;
    this.journal.newer = "";
    try {
      this.storage.mkdir(Layout.Root);
      this.storage.mkdir(Layout.MessageDir);
      try {
        this.loadJournal(false);
      } catch (e) {
        if (this.journal.newer !== "") throw e;
        // Too full to compact? The spare file makes room; and a whole
        // journal can be used uncompacted. A card error fails again here.
        this.log("store: " + describe(e) + "; retrying with the spare room");
        if (this.files.releaseSpare()) this.cardFull = true; // new mail is refused until it is back
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
    const first = this.journal.headerGeneration(1) > this.journal.headerGeneration(0) ? 1 : 0;
    // A newer build's card is refused whole, never taken for an empty one.
    if (this.journal.newer !== "") throw new Error(this.journal.newer);
    if (!this.load(first, uncompacted) && !this.load(1 - first, uncompacted)) this.initialize();
  }

  /**
   * Makes sure the spare file exists. When it cannot be, the card is full:
   * new mail is refused until deletions make room again. Never throws; a
   * card error shows at the next use.
   */
  private keepSpare(): void {
    try {
      this.files.makeSpare(this.compactAfterBytes + 4096);
      if (this.cardFull) this.log("store: the card has room again");
      this.cardFull = false;
    } catch (e) {
      if (!this.cardFull) this.log("store: the card is full: " + describe(e));
      this.cardFull = true;
    }
  }

  /** Starts receiving a message; undefined when no file handle is free. Throws on card errors. */
  beginMessage(): IncomingMessage | undefined {
    this.requireReady();
    if (this.files.open >= Layout.MessageFiles) return undefined;
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
    const file = this.files.openFile(seq, "w");
    this.inflight.push(seq);
    return new IncomingMessage(this, seq, file);
  }

  /** Bytes currently stored for a user in all of the user's folders (for the quota check). */
  usage(user: string): number {
    const bytes = this.index.bytes;
    const key = "u:" + user;
    let total = 0;
    for (const k in bytes) if (k === key || k.substring(0, key.length + 1) === key + "/") total += bytes[k];
    return total;
  }

  /** Every user with mail on the card (in any folder), configured or not (a removed user's mail stays until deleted). */
  owners(): string[] {
    const out: string[] = [];
    const bytes = this.index.bytes;
    for (const key in bytes) {
      const slash = key.indexOf("/");
      const name = slash < 0 ? key.substring(2) : key.substring(2, slash);
      if (bytes[key] > 0 && out.indexOf(name) < 0) out.push(name);
    }
    return out;
  }

  /**
   * A snapshot of the user's maildrop, oldest first, from the index in
   * memory. One size() call checks that the card is still there (a card
   * pulled out shows here, as when listing read the journal). Throws on
   * card error.
   */
  maildrop(user: string): Maildrop {
    this.requireReady();
    let present = false;
    try {
      present = this.storage.size(JOURNALS[this.journal.active]) >= this.journal.end;
    } catch (e) {
      throw this.cardFailed(e);
    }
    if (!present) throw this.cardFailed(new Error(JOURNALS[this.journal.active] + " is gone"));
    const key = "u:" + user;
    const drop = new Maildrop(this.epoch, this.index.list(user), this.index.bytes[key] || 0);
    drop.keys = this.keywords.bits[key] || "";
    const slash = user.indexOf("/");
    drop.names = this.keywords.names[slash < 0 ? key : key.substring(0, slash + 2)] || "";
    return drop;
  }

  /**
   * Opens a card file that is not a message (the web page's, read-only)
   * under the message files' handle budget: undefined while none is free
   * (onFileFreed says when to try again). Throws on card errors.
   */
  openFile(path: string): FileHandle | undefined {
    const files = this.files;
    if (files.open >= Layout.MessageFiles) return undefined;
    // Its errors are the caller's alone: a missing page file is no card failure of the store's.
    const file = this.storage.open(path, "r");
    files.open++;
    const store = this;
    let closed = false;
    return {
      read: function (length: number): string | undefined {
        return file.read(length);
      },
      write: function (data: string): void {
        file.write(data);
      },
      seek: function (offset: number): void {
        file.seek(offset);
      },
      close: function (): void {
        if (closed) return;
        closed = true;
        files.open--;
        try {
          file.close();
        } finally {
          const freed = store.onFileFreed;
          if (freed !== undefined) freed();
        }
      },
    };
  }

  /** Opens a stored message for reading; undefined when no file handle is free. Throws on card error. */
  openMessage(seq: number): FileHandle | undefined {
    this.requireReady();
    if (this.files.open >= Layout.MessageFiles) return undefined;
    return this.files.openFile(this.index.file(seq), "r");
  }

  /**
   * Commits the deletion of these messages from the user's maildrop (one D
   * record), then removes data files no recipient needs any more. Messages
   * the maildrop no longer holds (another opener deleted them) are left
   * out; when none is left, nothing is written. Throws only when the D
   * record could not be written: once it is on the card the deletion
   * stands, and a later failure is logged and left to recovery.
   */
  deleteMessages(user: string, seqs: number[]): void {
    this.requireReady();
    const held: number[] = [];
    for (let i = 0; i < seqs.length; i++) if (this.index.flags(user, seqs[i]) >= 0 && held.indexOf(seqs[i]) < 0) held.push(seqs[i]);
    if (held.length === 0) return;
    this.appendMaking(["D", user, held]);
    this.index.remove(user, held);
    this.keywords.remove(user, held);
    this.removed(user, held);
  }

  /**
   * The board's free memory (hal.freeMemory) in `unit` (hal.memoryUnit:
   * "variables", "KiB" or bytes): new mail is refused (indexFull) while it
   * is below a reserve, so that the index never takes the room the sessions
   * need, and never the last of the heap.
   */
  setMemory(free: () => number, unit: string | undefined): void {
    this.freeMemory = free;
    this.memoryReserve = unit === "variables" ? Memory.ReserveVariables : unit === "KiB" ? div(Memory.ReserveBytes, 1024) : Memory.ReserveBytes;
  }

  /**
   * True when new mail must be refused for now (SMTP 452 4.3.1, IMAP NO):
   * the board's free memory was below the reserve. Asks the board every
   * Memory.Every commits, after a deletion, and at every call while it is
   * low (a refusal is the moment to see whether room came back). Mail
   * already accepted is committed whatever this says.
   */
  indexFull(): boolean {
    const free = this.freeMemory;
    if (free === undefined || (!this.memoryLow && this.sinceReading < Memory.Every)) return this.memoryLow;
    this.sinceReading = 0;
    let low = this.memoryLow;
    try {
      const left = free();
      low = left < this.memoryReserve;
      if (low !== this.memoryLow) this.log(low ? "store: " + decimal(left) + " free, below the reserve: new mail is refused" : "store: memory is free again");
    } catch (e) {
      // no reading: as before
    }
    this.memoryLow = low;
    return low;
  }

  /** After a deletion's commit point: the files no one holds go, compaction when due, the spare again, onChange. Never throws. */
  private removed(owner: string, seqs: number[]): void {
    this.deletionsSinceSnapshot++;
    this.sinceReading = Memory.Every; // room may have come back
    try {
      for (let i = 0; i < seqs.length; i++) {
        if (!this.index.held(seqs[i])) this.files.removeMessage(this.index.file(seqs[i]));
      }
      if (this.deletionsSinceSnapshot >= this.compactAfterDeletions) this.compact();
      else this.compactIfGrown();
    } catch (e) {
      this.cardFailed(e);
    }
    if (this.cardFull && this.ready) this.keepSpare(); // the deleted mail may have made room
    if (this.onChange !== undefined) this.onChange(owner);
  }

  /**
   * Writes folder `owner`'s record: M, its IMAP name, subscription and
   * UIDNEXT (a new folder's is the next seq: above every UID it can have
   * held); or, when `name` is "", X: the folder goes with every message it
   * holds (data files no one else holds are removed). A folder is
   * `user/n`, n >= 1; an INBOX (`user`) takes M only (its subscription).
   * Throws when the record could not be written; then nothing changed.
   */
  folder(owner: string, name: string, subscribed: boolean): void {
    this.requireReady();
    const index = this.index;
    const key = "u:" + owner;
    if (name === "") {
      if (index.folders[key] === undefined || owner.indexOf("/") < 0) return;
      this.appendNew(["X", owner]);
      this.keywords.drop(owner);
      this.removed(owner, index.folder(owner, "", 0));
      return;
    }
    const uidnext = index.next[key] || (owner.indexOf("/") >= 0 ? this.nextSeq : 1);
    this.appendNew(["M", owner, name, uidnext, subscribed ? 1 : 0]);
    index.folder(owner, (subscribed ? "+" : "-") + name, uidnext);
    try {
      this.compactIfGrown();
    } catch (e) {
      this.cardFailed(e); // the record stands all the same
    }
  }

  /**
   * Sets the user's stored flag bits of message `seq` (0 to 31), and its
   * keyword bits `keys` when given (slots of keywordBits): one F record,
   * then the index, so every opener sees them at once. Nothing happens
   * when the bits are already so, or the maildrop no longer holds the
   * message. Throws when the record could not be written; then nothing
   * changed.
   */
  storeFlags(user: string, seq: number, bits: number, keys?: number): void {
    this.requireReady();
    bits = bits & Entry.FlagMask;
    const was = this.index.flags(user, seq);
    const had = this.keywords.of(user, seq);
    if (keys === undefined) keys = had;
    if (was < 0 || (was === bits && keys === had)) return;
    this.appendNew(keys === had ? ["F", user, seq, bits] : ["F", user, seq, bits, keys]);
    this.index.setFlags(user, seq, bits);
    this.keywords.set(user, seq, keys);
    try {
      this.compactIfGrown();
    } catch (e) {
      this.cardFailed(e); // the flags are stored all the same
    }
    if (this.onChange !== undefined) this.onChange(user);
  }

  /**
   * The bits of keywords `names` in `user`'s table (RFC 3501 2.3.2): a
   * name not in it yet takes a free slot (one K record) when `create`, else
   * is left out. -1 when the table is full (Keyword.Max names). Throws when
   * a K record could not be written.
   */
  keywordBits(user: string, names: string[], create: boolean): number {
    const keywords = this.keywords;
    let bits = 0;
    for (let i = 0; i < names.length; i++) {
      let slot = keywords.find(user, names[i]);
      if (slot < 0 && create) {
        this.requireReady();
        slot = keywords.free(user);
        if (slot < 0) return -1;
        this.appendNew(["K", user, slot, names[i]]);
        keywords.name(user, slot, names[i]);
      }
      if (slot >= 0) bits = bits | (1 << slot);
    }
    return bits;
  }

  /** appendMaking, after rewriting an older journal: it must not get a record its format lacks (an older build would stop reading there). */
  private appendNew(record: MsgValue[]): void {
    if (this.journal.version < Format.Version) {
      try {
        this.compact();
      } catch (e) {
        throw this.cardFailed(e);
      }
    }
    this.appendMaking(record);
  }

  /**
   * Appends a record that must get onto the card even when it is full
   * (a deletion makes room; a flag is what a reader asks for): when the
   * append fails, the spare room goes, the store reopens (a torn piece of
   * the record is compacted away) and it is tried once more. Throws when
   * it is not on the card.
   */
  private appendMaking(record: MsgValue[]): void {
    try {
      this.append(record);
    } catch (e) {
      if (!this.files.releaseSpare()) throw e;
      this.cardFull = true;
      if (!this.reopen()) throw e;
      this.append(record);
    }
  }

  /** @internal Marks the store unusable until the next open(); returns the error to rethrow. */
  cardFailed(e: unknown): unknown {
    if (this.ready) this.log("store: card error: " + describe(e));
    this.ready = false;
    return e;
  }

  /**
   * @internal IncomingMessage.commit: the data file is closed, then one A
   * record makes it visible, with the stored flags `flags` (0 to 31) and
   * keyword bits `keys` for every owner when not 0. A folder that does not exist (deleted
   * meanwhile) refuses it: nothing is committed, the file goes. A message
   * committed after one with a higher seq reached one of its owners (two
   * deliveries at once, the later-begun finishing first) takes a new seq
   * (`message.seq` then says it), its data file keeps its name (the A
   * record's seventh field): IMAP's UIDs, the seqs, must only grow in
   * every folder (RFC 3501 2.3.1.1), and the card has no rename.
   */
  commitMessage(message: IncomingMessage, file: FileHandle, recipients: string[], time: number, flags: number, keys: number): void {
    const seq = message.seq;
    let uid = seq;
    this.forget(seq); // from now on recovery decides: committed if and only if the A record is whole
    file.close();
    this.requireReady();
    const users: string[] = [];
    const bits: number[] = [];
    const keyBits: number[] = [];
    let refused = message.bytes > Entry.SizeMask ? "message too large for the store" : "";
    for (let i = 0; i < recipients.length; i++) {
      const owner = recipients[i];
      if (owner.indexOf("/") >= 0 && this.index.folders["u:" + owner] === undefined) refused = "no such folder: " + owner;
      if ((this.index.next["u:" + owner] || 0) > seq) uid = this.nextSeq;
      if (users.indexOf(owner) < 0) {
        users.push(owner);
        bits.push(flags & Entry.FlagMask);
        keyBits.push(keys);
      }
    }
    try {
      if (refused !== "") this.files.removeIfPresent(messagePath(seq));
      else if (this.journal.version < Format.Version) this.compact(); // an older build must not meet folders or flags it lacks
    } catch (e) {
      throw this.cardFailed(e);
    }
    if (refused !== "") throw new Error(refused);
    if (uid !== seq) this.nextSeq = uid + 1; // never reused, even if the A record fails (no data file: nothing to reserve)
    this.append(keys !== 0 ? ["A", uid, message.bytes, users, time, bits, seq, keyBits] : uid !== seq ? ["A", uid, message.bytes, users, time, bits, seq] : (flags & Entry.FlagMask) !== 0 ? ["A", seq, message.bytes, users, time, bits] : ["A", seq, message.bytes, users, time]);
    if (uid !== seq) this.index.aliases += word(uid) + word(seq);
    message.seq = uid;
    this.sinceReading++;
    this.index.add(uid, message.bytes, users);
    if ((flags & Entry.FlagMask) !== 0) for (let i = 0; i < users.length; i++) this.index.setFlags(users[i], uid, bits[i]);
    if (keys !== 0) for (let i = 0; i < users.length; i++) this.keywords.set(users[i], uid, keys);
    try {
      this.compactIfGrown();
    } catch (e) {
      this.cardFailed(e); // the message is committed all the same
    }
    if (this.onCommitted !== undefined) this.onCommitted(uid, time);
    for (let i = 0; i < users.length; i++) if (this.onChange !== undefined) this.onChange(users[i]);
  }

  /**
   * Message `seq`'s header cache record as its .HDR file holds it, "" when
   * the file is missing or damaged (or no maildrop holds the message):
   * nothing is built, unlike header() (IMAP's header sync reads the message
   * instead of building every cache of an old card, one journal scan each).
   * Throws card errors (and the store is then not ready).
   */
  keptHeader(seq: number): string {
    this.requireReady();
    if (!this.index.held(seq)) return "";
    try {
      return this.readHeader(headerPath(this.index.file(seq)));
    } catch (e) {
      throw this.cardFailed(e);
    }
  }

  /** The header cache file at `path` when it is whole (this version or a later one, which keeps this prefix; version 1 lacks fields) and as long as it says; else "". Throws card errors. */
  private readHeader(path: string): string {
    const size = this.storage.size(path);
    if (size < HeaderCache.Start) return "";
    let data: string | undefined = undefined;
    const file = this.storage.open(path, "r");
    try {
      data = file.read(size);
    } finally {
      file.close();
    }
    if (data === undefined || data.length < HeaderCache.Start || data.charCodeAt(0) < HeaderCache.Version) return "";
    return HeaderCache.Start + data.charCodeAt(5) * 256 + data.charCodeAt(6) <= data.length ? data : "";
  }

  /**
   * Message `seq`'s header cache record (hdrcache.ts: version, arrival
   * time, header lines), read from its .HDR file, or built from the
   * message when that is missing or damaged (right after the commit; a
   * card older than the cache; a cut between commit and cache) and
   * written. `time`: the arrival time when known (the commit's), else -1:
   * then it is looked up in the journal's A record. "" when no maildrop
   * holds the message. Its files are opened and closed within this call,
   * like the journal's, so it never waits for a handle. Throws card errors
   * met while reading: on first use (`time` -1) they make the store not
   * ready, as any read does; after the commit (in the background) they do
   * not, and the services' next use of the card finds out. A cache file
   * that cannot be written is only logged (and not tried while the card is
   * full).
   */
  header(seq: number, time: number): string {
    this.requireReady();
    if (!this.index.held(seq)) return "";
    const path = headerPath(this.index.file(seq));
    let data = "";
    let lines = "";
    const picked = { whole: false };
    try {
      data = this.readHeader(path);
      if (data !== "") return data;
      const file = this.storage.open(messagePath(this.index.file(seq)), "r");
      try {
        lines = pickHeaders(file, picked);
      } finally {
        file.close();
      }
    } catch (e) {
      throw time < 0 ? this.cardFailed(e) : e;
    }
    if (time < 0) {
      time = 0;
      this.journal.scan(function (record) {
        if (record[0] === "A" && record[1] === seq) time = record[4] as number;
      });
    }
    data = headerRecord(lines, time, picked.whole);
    if (this.cardFull) return data; // the room is for deletions; built again next time
    try {
      const file = this.storage.open(path, "w");
      try {
        file.write(data);
      } finally {
        file.close();
      }
    } catch (e) {
      // A partial file reads as damaged and is built again.
      this.log("store: cannot write the header cache of " + hex(seq, 8) + ": " + describe(e));
    }
    return data;
  }

  /** @internal IncomingMessage.abort: the data file goes; its reservation stays, harmless. */
  abortMessage(seq: number, file: FileHandle): void {
    this.forget(seq);
    try {
      file.close();
    } catch (e) {
      // closing failed: the removal below may still work
    }
    try {
      this.files.removeIfPresent(messagePath(seq));
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

  /** Appends one record to the active journal, durably; a card error marks the store failed. */
  private append(record: MsgValue[]): void {
    try {
      this.journal.append(record);
    } catch (e) {
      throw this.cardFailed(e);
    }
  }

  /** Replays journal `index` into a new index, recovers and compacts as needed. False when the file is not a complete journal. */
  private load(index: number, uncompacted: boolean): boolean {
    if (this.journal.headerGeneration(index) < 0) return false;
    const replay = replayJournal(this.storage, index, this.inflight);
    if (!replay.complete) return false;
    const torn = replay.torn;
    this.epoch = replay.epoch;
    this.nextSeq = replay.nextSeq;
    this.reservedUpTo = this.nextSeq; // a new block before the next message
    const journal = this.journal;
    journal.active = index;
    journal.version = replay.version;
    journal.generation = replay.generation;
    journal.end = replay.end;
    journal.snapshotEnd = replay.snapshotEnd;
    this.index = replay.index;
    this.keywords = replay.keywords;
    this.deletionsSinceSnapshot = replay.deletions;
    // Recovery: a reservation without a commit is a message nobody was told about.
    for (let i = 0; i < replay.uncommitted.length; i++) this.files.removeMessage(replay.uncommitted[i]);
    if (torn) this.log("store: journal ends in a torn record at byte " + hex(replay.end, 8) + "; dropping it");
    if (!torn && uncompacted) this.compactAtBoot();
    else if (torn || replay.reservations > 0 || replay.deletions > 0 || replay.version < Format.Version) this.compact();
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
      this.files.removeIfPresent(JOURNALS[1 - this.journal.active]);
    }
  }

  /** A new store: no valid journal exists, so no message was ever committed on this card. */
  private initialize(): void {
    this.epoch = this.pickEpoch();
    // Data files left by an unreadable journal are no one's mail, but their names stay taken.
    this.nextSeq = 1;
    const names = this.storage.list(Layout.MessageDir);
    for (let i = 0; i < names.length; i++) {
      const seq = parseHex8(names[i].substring(0, 8));
      if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    }
    this.reservedUpTo = this.nextSeq;
    const fresh = names.length === 0 && this.storage.size(JOURNALS[0]) <= 0 && this.storage.size(JOURNALS[1]) <= 0;
    this.log(fresh ? "store: new store created" : "store: no valid journal; starting a new store");
    this.index = new MailIndex();
    this.keywords = new Keywords();
    const journal = this.journal;
    journal.generation = 0;
    journal.active = 1; // so that compaction writes JRNL.A
    journal.end = 0;
    this.compact();
  }

  private pickEpoch(): number {
    if (this.random) return this.random();
    return Math.floor(Math.random() * 65536) * 32768 + Math.floor(Math.random() * 32768);
  }

  private compactIfGrown(): void {
    if (this.journal.end - this.journal.snapshotEnd >= this.compactAfterBytes) this.compact();
  }

  /**
   * Writes the live state into the other journal file (H, M for folders, K
   * for the keywords some message has, one A per live message with the
   * users whose maildrop still holds it, R for messages being received, S), then appends go there. Data files no maildrop holds
   * are removed on the way: the active journal already says so, so a cut
   * here only repeats the work. The A records' times are on the card only,
   * so the active journal is read once, in order.
   */
  private compact(): void {
    const journal = this.journal;
    const generation = journal.generation + 1;
    const epoch = this.epoch;
    const nextSeq = this.nextSeq;
    const reservedUpTo = this.reservedUpTo;
    const inflight = this.inflight;
    const index = this.index;
    const files = this.files;
    const keywords = this.keywords;
    keywords.prune(); // a slot no message uses is free again (it has no K record in the new file)
    let aliases = "";
    const written = journal.rewrite(function (add) {
      add(["H", Format.Version, generation, epoch, nextSeq]);
      // The folders (sorted: the same card on every runtime), with their UIDNEXT. An INBOX
      // needs no record while its A records give its UIDNEXT back (it still holds the seq below).
      const keys: string[] = [];
      for (const key in index.next) keys.push(key);
      sortBytewise(keys);
      for (let i = 0; i < keys.length; i++) {
        const owner = keys[i].substring(2);
        const name = index.folders[keys[i]];
        const next = index.next[keys[i]];
        if (name === undefined && (owner.indexOf("/") >= 0 || index.flags(owner, next - 1) >= 0)) continue;
        add(["M", owner, name === undefined ? "INBOX" : name.substring(1), next, name === undefined || name.charAt(0) === "+" ? 1 : 0]);
      }
      const tables: string[] = [];
      for (const key in keywords.names) tables.push(key);
      sortBytewise(tables);
      for (let i = 0; i < tables.length; i++) {
        const user = tables[i].substring(2);
        for (let slot = 0; slot < Keyword.Max; slot++) {
          const name = keywords.text(user, 1 << slot);
          if (name !== "") add(["K", user, slot, name.substring(1)]);
        }
      }
      journal.scan(function (record) {
        if (record[0] !== "A") return;
        const seq = record[1] as number;
        const users = record[3] as string[];
        const remaining: string[] = [];
        // The users' flags ride on the A record when any is set (version 2).
        const flags: number[] = [];
        const keyBits: number[] = [];
        let any = false;
        let anyKey = false;
        for (let i = 0; i < users.length; i++) {
          const bits = index.flags(users[i], seq);
          if (bits < 0) continue; // deleted by this user
          remaining.push(users[i]);
          flags.push(bits);
          if (bits > 0) any = true;
          keyBits.push(keywords.of(users[i], seq));
          if (keyBits[keyBits.length - 1] !== 0) anyKey = true;
        }
        // A message whose data file has another number keeps it (the seventh field).
        const file = record.length > 6 ? (record[6] as number) : seq;
        if (remaining.length === 0) files.removeMessage(file);
        else if (anyKey) add(["A", seq, record[2], remaining, record[4], flags, file, keyBits]);
        else if (file !== seq) add(["A", seq, record[2], remaining, record[4], flags, file]);
        else if (any) add(["A", seq, record[2], remaining, record[4], flags]);
        else add(["A", seq, record[2], remaining, record[4]]);
        if (remaining.length > 0 && file !== seq) aliases += word(seq) + word(file);
      });
      for (let i = 0; i < inflight.length; i++) add(["R", inflight[i]]);
      // The rest of the current block stays reserved (H's nextSeq is where it resumes).
      if (reservedUpTo > nextSeq) add(["B", reservedUpTo - 1]);
      // S: from now on the other file is the journal (the switch without rename).
      add(["S", generation]);
    });
    index.aliases = aliases; // those of live messages only
    journal.active = 1 - journal.active;
    journal.version = Format.Version;
    journal.generation++;
    journal.end = written;
    journal.snapshotEnd = written;
    this.deletionsSinceSnapshot = 0;
  }
}

export class IncomingMessage {
  /** Bytes written so far. */
  bytes = 0;
  private file: FileHandle | undefined;

  constructor(
    private store: MailStore,
    /** Its number: names the data file; after commit() the message's seq (its UID), which may be a new one (MailStore.commitMessage). */
    public seq: number,
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

  /**
   * Closes the data file and commits the message to these owners'
   * maildrops (one A record; an owner is a user's INBOX, `user`, or folder,
   * `user/n`), with stored flags `flags` (StoredFlag bits, APPEND and COPY;
   * none when not given) and keyword bits `keys` (MailStore.keywordBits of
   * the owners' user). `time`: its arrival, seconds. Committed when it
   * returns; throws when it is not (a folder gone, a card error).
   */
  commit(recipients: string[], time: number, flags?: number, keys?: number): void {
    const file = this.file;
    if (file === undefined) throw new Error("message already finished");
    this.file = undefined;
    this.store.commitMessage(this, file, recipients, time, flags || 0, keys || 0);
  }

  /** Closes and removes the data file. Never throws; does nothing after commit() was called. */
  abort(): void {
    const file = this.file;
    if (file === undefined) return;
    this.file = undefined;
    this.store.abortMessage(this.seq, file);
  }
}
