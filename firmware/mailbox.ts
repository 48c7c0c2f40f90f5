/**
 * The mailbox boundary: what every service (SMTP and POP3 today; IMAP, the
 * web page and the outbound relay later) may ask of the box's mailboxes.
 * Shaped after nodemailer smtp-server's onAuth / onRcptTo / onData hooks
 * and WildDuck's onListMessages / onFetch / onUpdate: a service
 * authenticates a login, routes an address, delivers a message as a body
 * stream, and opens a maildrop to list, read and delete. The store on the
 * card (store.ts) lives behind it; nothing else uses the store.
 *
 * Memory: no per-message object. A maildrop is one packed listing string
 * (the store's) plus the session's deletion marks; the body of a message
 * goes to and from the card through the store's own handles, so the hot
 * paths (a DATA chunk, a RETR chunk) cross no extra call here. Every
 * function costs about 12 variables on Espruino even with its body in flash
 * (sim/espruino/memory.ts), so what the store already answers is handed out
 * as the store itself, seen through an interface (Card, Delivery, Listing),
 * not wrapped.
 */
import type { Config } from "./config";
import type { FileHandle, Hal } from "./hal";
import { md5hex } from "./md5";
import { decimal, parseDecimal } from "./num";
import { HeaderCache, StructureBuilder, wholeLines } from "./hdrcache";
import type { MessageStructure } from "./mimestruct";
import { describe, Layout } from "./msgfiles";
import { packWith } from "./mailindex";
import { MailStore } from "./store";
import { findLast, lower, printable } from "./text";

/**
 * The login throttle's figures: a const enum, so that they are inlined
 * where used instead of kept as variables (each would hold RAM on the
 * board for the box's life).
 */
export const enum Throttle {
  /** Failed-login delay: doubles per recent failure for that name, up to MaxDelayMs (milliseconds). */
  DelayMs = 500,
  MaxDelayMs = 8000,
  /** Failures are forgotten this long after the last one (seconds). */
  MemorySeconds = 300,
  /**
   * After this many recent failures a name is locked out: every login for it,
   * even with the right password, is refused (POP3: -ERR [LOGIN-DELAY], RFC
   * 2449 8.1.1) until its failures are forgotten. Other names are not affected.
   */
  LockoutFailures = 5,
  /**
   * After this many recent failures from one client address, whatever the
   * names, the address is locked out the same way. It catches a client
   * guessing across many names, which the per-name counts cannot see (the
   * records of names that are no user's are few and pushed out); four names'
   * worth, so a household behind one address that mistypes does not reach it.
   */
  ClientLockoutFailures = 20,
  /**
   * Failure records kept per client address (about 10 Espruino variables or
   * 150 bytes of Lua heap each, none while nobody fails). When full, the one
   * with the fewest failures goes, the oldest among equals: a client that
   * changes address pushes out its own small records before a locked one.
   */
  MaxClientRecords = 8,
  /** Failure records kept for names that are no user's (the oldest goes first), and the octets of such a name kept. */
  MaxUnknownRecords = 8,
  MaxKey = 64,
  /** Characters of a typed name shown (escaped) in a log line, so the line stays within the log ring's 200. */
  LogName = 48,
}

interface FailRecord {
  /** The user's name, or for a name that is no user's the name as typed (in lower case). */
  name: string;
  known: boolean;
  count: number;
  /** hal.now() of the last failure, in seconds. */
  last: number;
}

/** Seconds left while the record for `key` in `list` has `limit` recent failures or more, else 0. */
function lockSeconds(list: FailRecord[], key: string, limit: number, now: number): number {
  key = key.substring(0, Throttle.MaxKey);
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (r.name === key && r.count >= limit && now - r.last <= Throttle.MemorySeconds) return Throttle.MemorySeconds - (now - r.last) + 1;
  }
  return 0;
}

/**
 * Records a failed login from the client `address` and returns its recent
 * failures, this one included. The table keeps Throttle.MaxClientRecords: a new
 * address pushes out the record with the fewest failures (the oldest
 * among equals); forgotten ones go first. A function, not a method: the
 * Mailbox prototype stays within 8 entries (a Lua table grows by powers of two).
 */
function recordClientFailure(list: FailRecord[], address: string, now: number): number {
  address = address.substring(0, Throttle.MaxKey);
  let record: FailRecord | undefined = undefined;
  let weakest = -1;
  for (let i = list.length - 1; i >= 0; i--) {
    const r = list[i];
    if (now - r.last > Throttle.MemorySeconds) {
      list.splice(i, 1);
      if (weakest > i) weakest--;
    } else if (r.name === address) record = r;
    else if (weakest < 0 || r.count < list[weakest].count || (r.count === list[weakest].count && r.last <= list[weakest].last)) weakest = i;
  }
  if (record === undefined) {
    if (list.length >= Throttle.MaxClientRecords) list.splice(weakest, 1);
    record = { name: address, known: false, count: 0, last: now };
    list.push(record);
  }
  record.count++;
  record.last = now;
  return record.count;
}

/** Milliseconds to wait before answering the `count`th recent failed login of a name: doubling, up to the cap. */
export function failDelay(count: number): number {
  let delay = Throttle.DelayMs;
  for (let i = 1; i < count && delay < Throttle.MaxDelayMs; i++) delay = delay * 2;
  return delay < Throttle.MaxDelayMs ? delay : Throttle.MaxDelayMs;
}

/** Index in config.users of the user called `name` (exact, lower case), or -1: the one lookup of a user by name. */
export function userIndex(config: Config, name: string): number {
  for (let i = 0; i < config.users.length; i++) if (config.users[i].name === name) return i;
  return -1;
}

/** A login attempt, as a service received it. */
export interface Credentials {
  /** The service, for log lines: "pop3". */
  service: string;
  /** The mechanism, for log lines: "USER/PASS" or "APOP". */
  method: string;
  /** The name as typed: a user's name, or name@domain in any configured domain, in any letter case. */
  name: string;
  /** The password; for APOP the hex MD5 digest (any case) of `challenge` and the password (RFC 1939 7). */
  secret: string;
  /** APOP: the greeting's timestamp the digest covers; "" when `secret` is the password itself. */
  challenge: string;
}

/** What authenticate decided: exactly one of `user`, `lockedSeconds`, `delayMs` says it. */
export interface AuthResult {
  /** The user now logged in, "" when refused. */
  user: string;
  /** The name is locked out for this many more seconds: the attempt was neither checked nor counted (answer at once). */
  lockedSeconds: number;
  /** Refused: wait this many milliseconds (failDelay) before saying so. */
  delayMs: number;
  /** lockedSeconds is the client address's lockout (Throttle.ClientLockoutFailures), not the name's. */
  lockedClient?: boolean;
}

/** Where mail for an address goes (RFC 5321 4.1.1.3 RCPT). */
export const enum RouteKind {
  Local = 0,
  /** To another host through the outbound relay. Not offered yet: a foreign domain is refused. */
  Relay = 1,
  Refuse = 2,
}

export interface Route {
  kind: RouteKind;
  /** Local: the user who receives it. */
  user: string;
  /** Refuse: the SMTP reply, code, enhanced code (RFC 3463) and text. "" otherwise. */
  reply: string;
}

/**
 * A message being received (nodemailer's onData stream; the store's
 * IncomingMessage as it is, so that a DATA chunk costs one call): write()
 * the body in chunks, then commit() or abort(). `seq` names it in the
 * Received header and the 250 reply.
 */
export interface Delivery {
  readonly seq: number;
  /** Octets written so far. */
  readonly bytes: number;
  /** Appends to the message. Throws on card errors. */
  write(data: string): void;
  /**
   * Makes the message visible in these maildrops (each once): a user's
   * INBOX is the user's name, folder n of the user `user + "/" + n`
   * (APPEND). `time`: its arrival, seconds; `flags`: its stored flags
   * (StoredFlag, APPEND's flag list), none when not given; `keys`: its
   * keyword bits (MailStore.keywordBits of the owners' user). Committed
   * when it returns; throws when it is not (a card error, a folder gone).
   */
  commit(recipients: string[], time: number, flags?: number, keys?: number): void;
  /** Drops the message. Never throws; does nothing after commit(). */
  abort(): void;
}

/**
 * What a service may ask of the card itself (the store, through this
 * interface: no wrapper). Errors: see docs/STORE.md, "Failures".
 */
export interface Card {
  /** Boot: opens the store on the card. False (logged) when the card is unusable; available() tries again. */
  open(): boolean;
  /** True when the card can be used now; reopens the store after a card error (a card put back in). */
  available(): boolean;
  /** The store has given up its spare room: refuse new mail (reading and deleting go on). */
  readonly cardFull: boolean;
  /** The board's memory is too low for the index to grow: refuse new mail for now (MailStore.indexFull). */
  indexFull(): boolean;
  /** Octets stored for `user` (the quota check). */
  usage(user: string): number;
  /** Every user with mail on the card, configured or not (a removed user's mail stays until deleted). */
  owners(): string[];
  /**
   * Starts a delivery: undefined while every message file is in use
   * (onFileFreed says when to try again). Throws on card errors.
   */
  beginMessage(): Delivery | undefined;
  /** Called when a message file closes, inside the closer's call: it must only schedule a retry. */
  onFileFreed: (() => void) | undefined;
}

/** A maildrop's messages as listed when it was opened, oldest first, numbered from 0 (the store's listing). */
export interface Listing {
  readonly count: number;
  /** Octets of every message listed. */
  readonly totalBytes: number;
  /** Octets of message `i` as stored (CRLF lines). */
  size(i: number): number;
  /** RFC 1939 7 UIDL: unique forever on this card, stable across restarts (store epoch and sequence number). */
  uid(i: number): string;
  /** Stored flag bits (StoredFlag) of message `i` as they were when listed; Maildrop.stored has them as they are now. */
  flags(i: number): number;
  /** IMAP keyword bits (MailStore.keywordBits) of message `i` as they were when listed. */
  keywords(i: number): number;
  /** The user's keyword table (mailindex.ts Keywords.names) when listed, or as an IMAP session last told it (FLAGS). */
  names: string;
  /** @internal The store's number of message `i`. */
  seq(i: number): number;
  /** IMAP's UID of message `i` (= seq(i)): ascending in every folder, never reused on this card (RFC 3501 2.3.1.1). */
  uidAt(i: number): number;
  /** Index of the message whose UIDL is `uid`, or -1. */
  find(uid: string): number;
}

/** How a maildrop is opened. */
export const enum Access {
  /** One session at a time (POP3, RFC 1939 4: the maildrop is locked); a second exclusive open is refused. */
  Exclusive = 0,
  /** Readers that neither take nor respect the exclusive lock (the console, the web page, IMAP): a POP3 session's lock does not keep them out. */
  Shared = 1,
}

/**
 * A maildrop opener's own marks on a message (Maildrop.flags): Deleted is
 * the mark until commit() (POP3 DELE). Not stored.
 */
export const enum Flag {
  Deleted = 1,
}

/**
 * Flags stored on the card per message and user (Maildrop.stored/store;
 * RFC 9051 2.3.2 system flags), the web API's bits. Journaled (the F
 * record, docs/STORE.md); every opener of the maildrop sees them at once.
 */
export const enum StoredFlag {
  Seen = 1,
  Answered = 2,
  Flagged = 4,
  Draft = 8,
  /** IMAP's \Deleted (RFC 3501 2.3.2): marked for EXPUNGE; POP3 still lists the message. */
  Deleted = 16,
  /** Every stored bit. */
  All = 31,
}

/** One of a user's IMAP folders (Mailbox.folders): id 0 is INBOX, the POP3 maildrop. */
export interface Folder {
  id: number;
  /** The IMAP name as the client sent it (modified UTF-7, RFC 3501 5.1.3; hierarchy delimiter "/"). */
  name: string;
  subscribed: boolean;
}

/** COPY's pace (a const enum: inlined). */
const enum Copy {
  /** Octets copied per timer tick, so that a 25 MB copy never holds the event loop for long. */
  TickBytes = 16384,
  ReadBytes = 1024,
  /** While no file handle is free: try again after this many milliseconds, give up after WaitSeconds without one. */
  WaitMs = 100,
  WaitSeconds = 30,
}

/**
 * One of a user's maildrops, INBOX or a folder (WildDuck's onListMessages /
 * onFetch / onUpdate): `list` says what it held when opened (refresh()
 * gives the one of now; the opener may adopt it by assigning `list`);
 * flags and deletion marks are this opener's; commit() applies the marks.
 * Exported as a type only: an entry fewer in the module's exports (a Lua
 * table grows by powers of two).
 */
class Maildrop {
  /** Indexes marked deleted, as keys. */
  private marks: { [i: number]: boolean } = {};
  /** Messages marked deleted, and their octets. */
  markedCount = 0;
  markedBytes = 0;
  /** The header cache record last read (time()), and its message's seq. */
  private cached = "";
  private cachedSeq = -1;

  /** @internal The store's owner key: `user`, or `user/folder`. */
  readonly owner: string;

  constructor(
    private mailbox: Mailbox,
    readonly user: string,
    /** The messages as listed (by IMAP: the session's view, message i is sequence number i + 1). Marks are by index into it. */
    public list: Listing,
    private exclusive: boolean,
    /** The folder's id: 0 is INBOX. */
    readonly folder: number,
  ) {
    this.owner = folder > 0 ? user + "/" + decimal(folder) : user;
  }

  /** Flag bits of message `i` (Flag). */
  flags(i: number): number {
    return this.marks[i] === true ? Flag.Deleted : 0;
  }

  /** Sets message `i`'s flag bits (only Flag.Deleted today: POP3 DELE, and RSET with 0). */
  setFlags(i: number, bits: number): void {
    const marked = (bits & Flag.Deleted) !== 0;
    if (marked === (this.marks[i] === true)) return;
    const sign = marked ? 1 : -1;
    if (marked) this.marks[i] = true;
    else delete this.marks[i];
    this.markedCount += sign;
    this.markedBytes += sign * this.list.size(i);
  }

  /**
   * Message `i`'s stored flags now (StoredFlag bits), as every opener sees
   * them; -1 when the message is gone from the maildrop (another opener
   * deleted it since this one was opened).
   */
  stored(i: number): number {
    return this.mailbox.store.index.flags(this.owner, this.list.seq(i));
  }

  /** Message `i`'s keyword bits now (MailStore.keywordBits), as every opener sees them. */
  keywords(i: number): number {
    return this.mailbox.store.keywords.of(this.owner, this.list.seq(i));
  }

  /** The bit of keyword `name` in the user's table (any letter case), 0 when it is not there. */
  keywordBits(name: string): number {
    return this.mailbox.store.keywordBits(this.user, [name], false);
  }

  /** " name name": the user's keywords of `bits` (IMAP FLAGS). */
  keywordText(bits: number): string {
    return this.mailbox.store.keywords.text(this.user, bits);
  }

  /**
   * Sets message `i`'s stored flags to `bits` (StoredFlag, \Deleted
   * included; other bits are ignored), and its keyword bits to `keys` when
   * given, on the card (journaled) and for every opener at once
   * (Mailbox.onChange). Does nothing for a message gone from the maildrop.
   * Throws when the card cannot record it; then nothing changed.
   */
  store(i: number, bits: number, keys?: number): void {
    const store = this.mailbox.store;
    if (!store.available()) throw new Error("card unusable");
    store.storeFlags(this.owner, this.list.seq(i), bits & StoredFlag.All, keys);
  }

  /** The maildrop as it is now: a new listing (`list` stays as it was until the opener assigns it). Throws on card errors. */
  refresh(): Listing {
    const store = this.mailbox.store;
    if (!store.available()) throw new Error("card unusable");
    return store.maildrop(this.owner);
  }

  /**
   * Deletes messages `indexes` (of `list`) from this maildrop now, for
   * every opener (IMAP EXPUNGE, UID EXPUNGE, MOVE's source): one D record.
   * Those already gone are left out. Throws when it could not be recorded;
   * then nothing was deleted.
   */
  expunge(indexes: number[]): void {
    const seqs: number[] = [];
    for (let i = 0; i < indexes.length; i++) seqs.push(this.list.seq(indexes[i]));
    const store = this.mailbox.store;
    if (!store.available()) throw new Error("card unusable");
    store.deleteMessages(this.owner, seqs);
  }

  /**
   * Copies messages `indexes` (of `list`, in that order) into the user's
   * folder `dest` (0: INBOX), each with its stored flags, keywords and arrival time
   * (IMAP COPY, MOVE, RFC 3501 6.4.7). Asynchronous, on timers: at most
   * Copy.TickBytes octets per tick, one message file held between ticks
   * (the source is opened, read and closed within a tick); while no
   * handle is free it waits (Copy.WaitSeconds at most). Each copy is
   * committed on its own (one A record); `done(uids, "")` gives the new
   * messages' UIDs in order (COPYUID, RFC 4315). On failure (a message
   * expunged meanwhile, the folder deleted, the card full or failing)
   * the copies made so far are deleted again and `done(undefined,
   * reason)`; a power cut in the middle leaves those committed before it.
   * `done` is never called from within copyTo.
   */
  copyTo(indexes: number[], dest: number, done: (uids: number[] | undefined, error: string) => void): void {
    const mailbox = this.mailbox;
    const store = mailbox.store;
    const hal = mailbox.hal;
    const source = this.owner;
    const target = dest > 0 ? this.user + "/" + decimal(dest) : this.user;
    const drop = this;
    const list = this.list;
    const uids: number[] = [];
    let k = 0;
    let offset = 0;
    let to: Delivery | undefined = undefined;
    let since = hal.now();
    const step = function (): void {
      let error = "";
      try {
        for (let budget = Copy.TickBytes as number; budget > 0 && k < indexes.length; ) {
          const seq = list.seq(indexes[k]);
          const size = list.size(indexes[k]);
          if (!store.available() || store.cardFull) error = "card unusable or full";
          else if (store.indexFull()) error = "memory full";
          else if (store.index.flags(source, seq) < 0) error = "message expunged";
          else if (dest > 0 && store.index.folders["u:" + target] === undefined) error = "no such folder";
          if (error !== "") break;
          // Two handles to start a copy (its own and the source's for the tick), one to go on.
          if (store.files.open + (to === undefined ? 2 : 1) > Layout.MessageFiles) {
            if (hal.now() - since > Copy.WaitSeconds) error = "no file handle free";
            else hal.setTimer(Copy.WaitMs, step);
            if (error === "") return;
            break;
          }
          since = hal.now();
          if (to === undefined) {
            to = mailbox.card.beginMessage() as Delivery;
            offset = 0;
          }
          if (offset < size) {
            const file = store.openMessage(seq) as FileHandle;
            try {
              if (offset > 0) file.seek(offset);
              while (budget > 0 && offset < size) {
                const chunk = file.read(Copy.ReadBytes);
                if (chunk === undefined || chunk.length === 0) throw new Error("message file shorter than its size");
                to.write(chunk);
                offset += chunk.length;
                budget -= chunk.length;
              }
            } finally {
              file.close();
            }
          }
          if (offset >= size) {
            to.commit([target], drop.time(indexes[k]), store.index.flags(source, seq), store.keywords.of(source, seq));
            uids.push(to.seq);
            to = undefined;
            k++;
          }
        }
      } catch (e) {
        error = describe(e);
      }
      if (error === "" && k < indexes.length) {
        hal.setTimer(0, step);
        return;
      }
      if (error !== "") {
        if (to !== undefined) to.abort();
        try {
          if (uids.length > 0) store.deleteMessages(target, uids);
        } catch (e) {
          hal.log("mailbox: a failed copy's messages stay: " + describe(e));
        }
      }
      done(error === "" ? uids : undefined, error);
    };
    hal.setTimer(0, step);
  }

  /** Index of the message whose UIDL (Listing.uid) is `uid`, or -1. */
  find(uid: string): number {
    return this.list.find(uid);
  }

  /**
   * Message `i`'s header lines a listing needs (From, To, Cc, Subject,
   * Date, Message-ID, Content-Type, with their folded lines), raw octets
   * as in the message, each ending CRLF, at most 2 KiB (hdrcache.ts); ""
   * when it has none of them or is gone. From the message's header cache,
   * built on first use when missing. Throws on card errors.
   */
  headers(i: number): string {
    this.time(i);
    const h = this.cached;
    return h.substring(HeaderCache.Start, HeaderCache.Start + h.charCodeAt(5) * 256 + h.charCodeAt(6));
  }

  /**
   * Message `i`'s header lines as headers() gives them, when the cache
   * holds every line of every field it keeps octet for octet as in the
   * message (hdrcache.ts wholeLines: IMAP's HEADER.FIELDS of those names
   * is then answered from them); else undefined, also while its cache file
   * is missing (not built here). Throws on card errors.
   */
  wholeHeaders(i: number): string | undefined {
    const seq = this.list.seq(i);
    if (seq === this.cachedSeq) return wholeLines(this.cached);
    // A cache file only as it is: none is built here (a card older than the caches would cost a journal scan per message).
    const record = this.mailbox.store.keptHeader(seq);
    if (record !== "") {
      this.cached = record;
      this.cachedSeq = seq;
    }
    return wholeLines(record);
  }

  /** Message `i`'s arrival time in seconds (as hal.now()), from its header cache; 0 when it is gone. Throws on card errors. */
  time(i: number): number {
    // The last record read is kept: a listing asks headers() and time() of one message together.
    const seq = this.list.seq(i);
    if (seq !== this.cachedSeq) {
      this.cached = this.mailbox.store.header(seq, -1);
      this.cachedSeq = seq;
    }
    const h = this.cached;
    return h.length < HeaderCache.Start ? 0 : ((h.charCodeAt(1) * 256 + h.charCodeAt(2)) * 256 + h.charCodeAt(3)) * 256 + h.charCodeAt(4);
  }

  /**
   * Message `i`'s MIME structure (ENVELOPE, BODYSTRUCTURE, part ranges:
   * mimestruct.ts) from its header cache; undefined while it is being
   * built (its build is started: Mailbox.onStructureReady says when it is
   * done). Throws on card errors, and when the message is gone.
   */
  structure(i: number): MessageStructure | undefined {
    if (this.stored(i) < 0) throw new Error("message " + this.list.uid(i) + " was deleted");
    const seq = this.list.seq(i);
    return this.mailbox.structures.structure(seq, this.mailbox.store.header(seq, -1));
  }

  /**
   * A read handle on message `i` at `offset` octets (a byte range: read as
   * much as wanted), to be closed by the caller; undefined while every
   * message file is in use (Card.onFileFreed says when to try again).
   * Reads give undefined at the end. Throws on card errors, and when the
   * message is gone (stored(i) < 0). A message deleted while a handle on
   * it is open stays readable until that handle closes.
   */
  open(i: number, offset: number): FileHandle | undefined {
    // Another opener may have deleted it since this listing (stored() says -1): not a card error.
    if (this.stored(i) < 0) throw new Error("message " + this.list.uid(i) + " was deleted");
    const file = this.mailbox.store.openMessage(this.list.seq(i));
    if (file !== undefined && offset > 0) file.seek(offset);
    return file;
  }

  /**
   * Deletes the marked messages from the card (POP3 UPDATE, RFC 1939 6). The
   * marks stay (the caller may count them). Throws when the deletion could
   * not be recorded; then nothing was deleted.
   */
  commit(): void {
    if (this.markedCount === 0) return;
    const seqs: number[] = [];
    for (let i = 0; i < this.list.count; i++) if (this.marks[i] === true) seqs.push(this.list.seq(i));
    const store = this.mailbox.store;
    if (!store.available()) throw new Error("card unusable"); // reopened on the way: a card put back in works again
    store.deleteMessages(this.owner, seqs);
  }

  /** Releases the maildrop without applying the marks. Again does nothing. */
  close(): void {
    if (this.exclusive) delete this.mailbox.locks["u:" + this.user];
    this.exclusive = false;
  }
}

/**
 * The box's mailboxes: its users (from `config`, read on every use, so a
 * provisioned change takes effect at once), the login throttle, routing and
 * maildrops, over the store on the card.
 */
export type { Maildrop };

export class Mailbox {
  /** The card's store. For tests and status only: services use `card` and the methods below. */
  readonly store: MailStore;
  /** The store as services may use it. */
  readonly card: Card;
  /** Recent failed logins by name, for the growing delay and the lockout. */
  failures: FailRecord[] = [];
  /** Recent failed logins by client address (`name` holds the address), at most Throttle.MaxClientRecords. */
  clients: FailRecord[] = [];
  /** @internal Exclusively open maildrops, keyed "u:" + user (no user name meets Object.prototype). */
  locks: { [key: string]: boolean } = {};
  /**
   * Called (synchronously, after the commit point; its errors are logged
   * and go no further) with the owner key whose maildrop changed: `user`
   * for INBOX, `user/n` for folder n. A delivery, a deletion (POP3 QUIT,
   * the web page, expunge), a flag change, a copy or APPEND, a folder
   * deleted. The IMAP server sets it (it wakes IDLE and NOOP).
   */
  onChange: ((owner: string) => void) | undefined = undefined;
  /** @internal Builds messages' MIME structures after their commit (hdrcache.ts). */
  readonly structures: StructureBuilder;
  /** Called with a message's seq when its structure (Maildrop.structure) has been built: IMAP's waiting FETCHes go on. */
  onStructureReady: ((seq: number) => void) | undefined = undefined;

  constructor(
    /** @internal */
    readonly hal: Hal,
    private config: Config,
  ) {
    const store = (this.store = this.card = new MailStore(hal.storage, hal.log, hal.random));
    if (hal.freeMemory !== undefined) {
      store.setMemory(function () {
        return (hal.freeMemory as () => number)();
      }, hal.memoryUnit);
    }
    if (hal.packString !== undefined) {
      packWith(function (s) {
        return (hal.packString as (s: string) => string)(s);
      });
    }
    const mailbox = this;
    store.onChange = function (owner) {
      const changed = mailbox.onChange;
      try {
        if (changed !== undefined) changed(owner);
      } catch (e) {
        hal.log("mailbox: onChange: " + describe(e)); // the commit stands: its caller must not see this
      }
    };
    const structures = (this.structures = new StructureBuilder(store, hal, function (seq) {
      if (mailbox.onStructureReady !== undefined) mailbox.onStructureReady(seq);
    }));
    // The header cache is built after the commit's caller has answered (SMTP's 250), off the DATA path.
    store.onCommitted = function (seq, time) {
      hal.setTimer(0, function () {
        try {
          store.header(seq, time);
          structures.start(seq); // then its structure, in steps
        } catch (e) {
          hal.log("store: header cache not built: " + describe(e)); // it is built on first use
        }
      });
    };
  }

  // ---- authentication ----

  /**
   * Checks a login (nodemailer's onAuth): `name` or `name@domain` for any
   * configured domain, in any letter case. A name locked out by recent
   * failures is refused unchecked; a failure is counted against the user
   * (every spelling of a user shares one count) or, for a name that is no
   * user's, against the name as typed in lower case, and logged with the
   * client's address when `client` is given (never the secret); the fifth
   * failure logs the lockout too. A success forgets the user's failures.
   * `client`: the client's IP address where the board can tell. Failures
   * count against it as well: Throttle.ClientLockoutFailures of them, whatever the
   * names, lock the address out (logged; a success from it forgets them, as
   * Dovecot's auth penalty does). Without it (Espruino) only names count.
   */
  authenticate(login: Credentials, client?: string): AuthResult {
    const config = this.config;
    const typed = login.name;
    const lowered = lower(typed);
    const at = findLast(lowered, "@");
    const i = at >= 0 && config.domains.indexOf(lowered.substring(at + 1)) < 0 ? -1 : userIndex(config, at < 0 ? lowered : lowered.substring(0, at));
    const user = i < 0 ? "" : config.users[i].name;
    const key = i < 0 ? lowered : user;
    const locked = this.lockedOut(key);
    if (locked > 0) return { user: "", lockedSeconds: locked, delayMs: 0 };
    const clients = this.clients;
    if (client) {
      const seconds = lockSeconds(clients, client, Throttle.ClientLockoutFailures, this.hal.now());
      if (seconds > 0) return { user: "", lockedSeconds: seconds, delayMs: 0, lockedClient: true };
    }
    if (i >= 0) {
      const password = config.users[i].password;
      if (login.challenge.length > 0 ? md5hex(login.challenge + password) === lower(login.secret) : password === login.secret) {
        for (let k = this.failures.length - 1; k >= 0; k--) if (this.failures[k].name === user) this.failures.splice(k, 1);
        for (let k = clients.length - 1; k >= 0; k--) if (clients[k].name === client) clients.splice(k, 1);
        return { user: user, lockedSeconds: 0, delayMs: 0 };
      }
    }
    const count = this.recordFailure(key, i >= 0);
    const clientCount = client ? recordClientFailure(clients, client, this.hal.now()) : 0;
    const log = this.hal.log;
    log(
      login.service + ": " + login.method + " failed for \"" + printable(typed, Throttle.LogName) + "\" (" + (i >= 0 ? "mailbox " + user : "no such user") +
        ", " + decimal(count) + " of " + decimal(Throttle.LockoutFailures) + ")" + (client ? " [" + client + "]" : ""),
    );
    if (count === Throttle.LockoutFailures) {
      log(
        login.service + ": " + (i >= 0 ? "mailbox " + user : "name \"" + printable(key, Throttle.LogName) + "\"") +
          " locked out for " + decimal(Throttle.MemorySeconds) + " s after " + decimal(count) + " failed logins",
      );
    }
    if (clientCount === Throttle.ClientLockoutFailures) {
      log(login.service + ": client [" + client + "] locked out for " + decimal(Throttle.MemorySeconds) + " s after " + decimal(clientCount) + " failed logins");
    }
    return { user: "", lockedSeconds: 0, delayMs: failDelay(count) };
  }

  /**
   * Records a failed login and returns the recent failures for it, this one
   * included (Throttle.LockoutFailures at most: from then on lockedOut refuses the
   * name before it is checked). `name` is the user's name when the login
   * named a user (`known`), else the name as typed, in lower case. Memory
   * stays bounded: one record per user, and at most Throttle.MaxUnknownRecords for
   * other names (their first Throttle.MaxKey octets), so guessing at other names
   * cannot push a user's record out.
   */
  recordFailure(name: string, known: boolean): number {
    name = name.substring(0, Throttle.MaxKey);
    const now = this.hal.now();
    let record: FailRecord | undefined = undefined;
    let unknown = 0;
    for (let i = this.failures.length - 1; i >= 0; i--) {
      const r = this.failures[i];
      if (now - r.last > Throttle.MemorySeconds) this.failures.splice(i, 1);
      else if (r.name === name) record = r;
      else if (!r.known && ++unknown >= Throttle.MaxUnknownRecords && !known) this.failures.splice(i, 1);
    }
    if (record === undefined) {
      record = { name: name, known: known, count: 0, last: now };
      this.failures.push(record);
    }
    record.count++;
    record.last = now;
    return record.count;
  }

  /** Seconds left while `name` (as for recordFailure) has had too many recent failures to be let in at all, else 0. */
  lockedOut(name: string): number {
    return lockSeconds(this.failures, name, Throttle.LockoutFailures, this.hal.now());
  }

  // ---- routing ----

  /**
   * Where mail for a parsed path's `local` part (quotes taken off) and
   * `domain` (lower case, "" for none) goes: `name@domain` for any
   * configured domain (any letter case, quoted or not: `"alice"@home.arpa`
   * is alice, also with the domain's trailing dot) and `name+anything@domain`
   * (subaddressing) are user `name`. `postmaster` (RFC 5321 4.5.1 requires
   * it, also without a domain) goes to the user named postmaster, else to
   * the first user. Another domain would be RouteKind.Relay once the
   * outbound relay exists; until then it is refused (550 5.7.1).
   */
  route(local: string, domain: string): Route {
    const config = this.config;
    // The absolute form "home.arpa." is the same domain.
    if (domain.charCodeAt(domain.length - 1) === 46) domain = domain.substring(0, domain.length - 1);
    if (domain.length > 0 && config.domains.indexOf(domain) < 0) {
      return { kind: RouteKind.Refuse, user: "", reply: "550 5.7.1 Relaying denied: this box only receives mail for its own domains" };
    }
    let name = lower(local);
    const plus = name.indexOf("+");
    if (plus > 0) name = name.substring(0, plus);
    if (domain.length === 0 && name !== "postmaster") return { kind: RouteKind.Refuse, user: "", reply: "501 5.1.3 Bad recipient address syntax" };
    let i = userIndex(config, name);
    if (i < 0 && name === "postmaster" && config.users.length > 0) i = 0;
    if (i < 0) return { kind: RouteKind.Refuse, user: "", reply: "550 5.1.1 No such user here" };
    return { kind: RouteKind.Local, user: config.users[i].name, reply: "" };
  }

  // ---- maildrops ----

  /**
   * Opens `user`'s maildrop (WildDuck's onListMessages): INBOX, or with
   * `folder` >= 1 that IMAP folder (undefined when it does not exist).
   * Exclusive (POP3, INBOX): undefined when another exclusive opener holds
   * it; Shared openers (IMAP, the web page) neither take nor meet that lock.
   * Throws when the card cannot be read (the lock is not kept then).
   */
  openMaildrop(user: string, access: Access, folder?: number): Maildrop | undefined {
    const exclusive = access === Access.Exclusive;
    const id = folder || 0;
    if (exclusive) {
      if (this.locks["u:" + user]) return undefined;
      this.locks["u:" + user] = true;
    }
    try {
      if (!this.store.available()) throw new Error("card unusable"); // reopened on the way: a card put back in works again
      if (id > 0 && this.store.index.folders["u:" + user + "/" + decimal(id)] === undefined) {
        if (exclusive) delete this.locks["u:" + user];
        return undefined;
      }
      return new Maildrop(this, user, this.store.maildrop(id > 0 ? user + "/" + decimal(id) : user), exclusive, id);
    } catch (e) {
      if (exclusive) delete this.locks["u:" + user];
      throw e;
    }
  }

  // ---- IMAP folders (docs/STORE.md, "Folders") ----

  /** The user's folders, INBOX (id 0, name "INBOX") first, then by id. From memory: no card access. */
  folders(user: string): Folder[] {
    const named = this.store.index.folders;
    const inbox = named["u:" + user];
    const out: Folder[] = [{ id: 0, name: "INBOX", subscribed: inbox === undefined || inbox.charAt(0) === "+" }];
    const prefix = "u:" + user + "/";
    for (const key in named) {
      if (key.substring(0, prefix.length) !== prefix) continue;
      const folder: Folder = { id: parseDecimal(key.substring(prefix.length)), name: named[key].substring(1), subscribed: named[key].charAt(0) === "+" };
      let at = out.length;
      while (at > 1 && out[at - 1].id > folder.id) at--;
      out.splice(at, 0, folder);
    }
    return out;
  }

  /**
   * Creates the user's folders Sent, Drafts, Trash, Junk and Archive (RFC
   * 6154) that are missing, subscribed: one journal record each. Not while
   * the card is full (the log-in that calls it must still let the user
   * delete mail): then they come at a later log-in. Throws card errors.
   */
  ensureSpecialFolders(user: string): void {
    if (this.store.cardFull) return;
    const names = "Sent Drafts Trash Junk Archive".split(" ");
    const have = this.folders(user);
    for (let i = 0; i < names.length; i++) {
      let found = false;
      for (let k = 0; k < have.length; k++) if (have[k].name === names[i]) found = true;
      if (!found) this.createFolder(user, names[i], true);
    }
  }

  /**
   * Creates a folder named `name` (the caller validated it: modified
   * UTF-7, delimiter "/") for the user, unsubscribed unless `subscribed`;
   * returns its id (one above the highest now). Throws Error("exists")
   * when the user has a folder of that name (INBOX in any letter case),
   * Error("card full") while the store has given up its spare room (kept
   * for deletions), or a card error; then nothing changed.
   */
  createFolder(user: string, name: string, subscribed?: boolean): number {
    if (this.store.cardFull) throw new Error("card full");
    const have = this.folders(user);
    let id = 1;
    for (let i = 0; i < have.length; i++) {
      if (have[i].name === name || lower(name) === "inbox") throw new Error("exists");
      if (have[i].id >= id) id = have[i].id + 1;
    }
    this.folderRecord(user, id, name, subscribed === true ? 1 : 0);
    return id;
  }

  /** Deletes folder `id` (>= 1) with every message in it (one X record). Throws Error("no such folder") or a card error; then nothing changed. */
  deleteFolder(user: string, id: number): void {
    this.folderRecord(user, id, "", -1);
  }

  /**
   * Renames folder `id` (>= 1; INBOX cannot be: RFC 3501's move of INBOX's
   * messages is not offered) to `name` (validated by the caller). Its
   * subfolders keep their names: the caller renames them too. Throws
   * Error("exists"), Error("no such folder") or a card error.
   */
  renameFolder(user: string, id: number, name: string): void {
    const have = this.folders(user);
    for (let i = 0; i < have.length; i++) if (have[i].id !== id && (have[i].name === name || lower(name) === "inbox")) throw new Error("exists");
    this.folderRecord(user, id, name, 2);
  }

  /** (Un)subscribes folder `id` (INBOX too: 0). Throws Error("no such folder") or a card error. */
  subscribe(user: string, id: number, on: boolean): void {
    this.folderRecord(user, id, "", on ? 1 : 0);
  }

  /** UIDVALIDITY (RFC 3501 2.3.1.1): one per card, from the store's epoch; UIDs are never reused on a card, and a new card has a new epoch. 31 bits. */
  uidValidity(): number {
    const v = this.store.epoch % 2147483647;
    return v === 0 ? 1 : v; // not `|| 1`: 0 is true in Lua
  }

  /** UIDNEXT of the user's folder `id`: above every UID it ever held, lower than every UID it will hold; 1 for an INBOX that never held mail. */
  uidNext(user: string, id: number): number {
    return this.store.index.next["u:" + (id > 0 ? user + "/" + decimal(id) : user)] || 1;
  }

  /**
   * The one writer of folder records: with `name`, creates folder `id`
   * (createFolder checked the name) with `subscribe` (0 or 1), or renames
   * it (`subscribe` 2) keeping its subscription; without a name, sets the subscription
   * (0, 1), or deletes it (-1). Throws Error("no such folder") (INBOX is
   * never renamed or deleted) or a card error; then nothing changed.
   */
  private folderRecord(user: string, id: number, name: string, subscribe: number): void {
    const have = this.folders(user);
    let old: Folder | undefined = undefined;
    for (let i = 0; i < have.length; i++) if (have[i].id === id) old = have[i];
    if (old === undefined ? name === "" || subscribe > 1 : id === 0 && (name !== "" || subscribe < 0)) throw new Error("no such folder");
    if (!this.store.available()) throw new Error("card unusable");
    const owner = id > 0 ? user + "/" + decimal(id) : user;
    if (old === undefined) this.store.folder(owner, name, subscribe > 0);
    else if (name !== "") this.store.folder(owner, name, old.subscribed);
    else this.store.folder(owner, subscribe < 0 ? "" : old.name, subscribe > 0);
  }

}
