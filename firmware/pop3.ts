/**
 * POP3 serving (RFC 1939, RFC 2449 CAPA and response codes) as a state
 * machine: AUTHORIZATION, TRANSACTION, UPDATE. Every state has its own table
 * of handlers, so a command is always checked against the state it arrives
 * in (as WildDuck's lib/pop3/connection.js does). Deletions are only marks
 * until QUIT; a dropped connection deletes nothing.
 */
import { loginUser } from "./address";
import type { Config } from "./config";
import type { Connection, ConnectionEvents, FileHandle, Hal, Timer } from "./hal";
import { LineFramer } from "./lines";
import { md5hex } from "./md5";
import { decimal, messages, parseDecimal } from "./num";
import { ChunkSource, Sender } from "./sender";
import { FILE_WAIT_SECONDS, HeldInput, SessionList } from "./sessions";
import type { Maildrop, MailStore } from "./store";
import { find, lower, printable, trim, upper } from "./text";

const MAX_COMMAND_LINE = 512;
/** Unknown or out-of-state commands a session may send before it is dropped (as SMTP's 20). */
const MAX_ERRORS = 20;
/** Octets read from the card per send when the HAL names no `sendChunk`. */
const READ_CHUNK = 1024;
/** Failed-login delay: doubles per recent failure for that name, up to the cap. */
const FAIL_DELAY_MS = 500;
const MAX_FAIL_DELAY_MS = 8000;
/** Failures are forgotten this long after the last one. */
const FAIL_MEMORY_SECONDS = 300;
/**
 * After this many recent failures a name is locked out: every login for it,
 * even with the right password, gets -ERR [LOGIN-DELAY] until its failures
 * are forgotten. Other names are not affected.
 */
const LOCKOUT_FAILURES = 5;
/** Failure records kept for names that are no user's (the oldest goes first), and the octets of such a name kept. */
const MAX_UNKNOWN_RECORDS = 8;
const MAX_KEY = 64;
/** Characters of a typed name shown (escaped) in a log line, so the line stays within the log ring's 200. */
const LOG_NAME = 48;

const enum State {
  Authorization = 0,
  Transaction = 1,
  /** QUIT seen, or closing for another reason. */
  Closed = 2,
}

type Handler = (session: Pop3Session, arg: string) => void;
type Verb = "USER" | "PASS" | "APOP" | "CAPA" | "QUIT" | "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP";
type StateTable = { [V in Verb]?: Handler };

interface FailRecord {
  /** The user's name, or for a name that is no user's the name as typed (in lower case). */
  name: string;
  known: boolean;
  count: number;
  last: number;
}

/** Milliseconds to wait before answering the `count`th recent failed login of a name: doubling, up to the cap. */
export function failDelay(count: number): number {
  let delay = FAIL_DELAY_MS;
  for (let i = 1; i < count && delay < MAX_FAIL_DELAY_MS; i++) delay = delay * 2;
  return delay < MAX_FAIL_DELAY_MS ? delay : MAX_FAIL_DELAY_MS;
}

export class Pop3Server {
  sessions: SessionList<Pop3Session>;
  /** Recent failed logins by name, for the growing delay. */
  failures: FailRecord[] = [];

  constructor(public hal: Hal, public config: Config, public store: MailStore) {
    this.sessions = new SessionList<Pop3Session>();
  }

  accept(conn: Connection): ConnectionEvents {
    const session = new Pop3Session(this, conn);
    return this.sessions.admit(session, this.config.limits.pop3Sessions, this.store, {
      ready: "+OK letterbox POP3 server ready " + session.timestamp,
      busy: "-ERR [SYS/TEMP] Too many connections, try again later",
      unavailable: "-ERR [SYS/TEMP] Mail storage unavailable, try again later",
    });
  }

  sweep(now: number): void {
    // RFC 1939 3: an idle client is logged out WITHOUT entering UPDATE.
    this.sessions.sweep(now, this.config.limits.pop3IdleSeconds, "-ERR Idle for too long, closing connection");
    this.retryWaiting();
  }

  /** Sessions whose RETR or TOP waits for a message file try again (one may have been freed). */
  retryWaiting(): void {
    const all = this.sessions.items.slice();
    for (let i = 0; i < all.length; i++) all[i].sender.retry();
  }

  /**
   * Records a failed login and returns the recent failures for it, this one
   * included (LOCKOUT_FAILURES at most: from then on lockedOut refuses the
   * name before it is checked). `name` is the user's name when the login
   * named a user (`known`; every spelling of a user shares one count), else
   * the name as typed, in lower case. Memory stays bounded: one record per user, and at
   * most MAX_UNKNOWN_RECORDS for other names (their first MAX_KEY octets), so
   * guessing at other names cannot push a user's record out.
   */
  recordFailure(name: string, known: boolean): number {
    name = name.substring(0, MAX_KEY);
    const now = this.hal.now();
    let record: FailRecord | undefined = undefined;
    let unknown = 0;
    for (let i = this.failures.length - 1; i >= 0; i--) {
      const r = this.failures[i];
      if (now - r.last > FAIL_MEMORY_SECONDS) this.failures.splice(i, 1);
      else if (r.name === name) record = r;
      else if (!r.known && ++unknown >= MAX_UNKNOWN_RECORDS && !known) this.failures.splice(i, 1);
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
    name = name.substring(0, MAX_KEY);
    const now = this.hal.now();
    for (let i = 0; i < this.failures.length; i++) {
      const r = this.failures[i];
      if (r.name === name && r.count >= LOCKOUT_FAILURES && now - r.last <= FAIL_MEMORY_SECONDS) return FAIL_MEMORY_SECONDS - (now - r.last) + 1;
    }
    return 0;
  }

  clearFailures(name: string): void {
    for (let i = this.failures.length - 1; i >= 0; i--) if (this.failures[i].name === name) this.failures.splice(i, 1);
  }
}

export class Pop3Session {
  state = State.Authorization;
  sender: Sender;
  lastActive: number;
  active = false;
  /** The APOP timestamp of the greeting (RFC 1939 7). */
  timestamp: string;
  private framer: LineFramer;
  /** The name given by USER, as typed. */
  private userName = "";
  private user = "";
  private maildrop: Maildrop | undefined = undefined;
  /** Message numbers (1-based) marked for deletion, and their totals. */
  private deleted: { [n: number]: boolean } = {};
  private deletedCount = 0;
  private deletedBytes = 0;
  /** While a failed login is being delayed, input waits here. */
  private held = new HeldInput();
  private delayTimer: Timer | undefined = undefined;
  private errors = 0;

  constructor(public server: Pop3Server, conn: Connection) {
    this.sender = new Sender(conn);
    const hal = server.hal;
    this.lastActive = hal.now();
    this.timestamp = "<" + decimal(hal.random()) + "." + decimal(this.lastActive) + "@" + server.config.hostname + ">";
    const session = this;
    this.framer = new LineFramer(MAX_COMMAND_LINE, {
      onLine: function (line: string) {
        session.command(line);
      },
      onLineTooLong: function () {
        session.error("-ERR Line too long");
      },
    });
  }

  reply(line: string): void {
    if (!this.sender.send(line + "\r\n")) {
      this.state = State.Closed;
      this.sender.closeWhenDone();
    }
  }

  close(): void {
    this.endSession();
    this.state = State.Closed;
    this.sender.closeWhenDone();
  }

  receive(data: string): void {
    if (this.held.active) {
      if (!this.held.add(data)) this.close();
      return;
    }
    const session = this;
    let rest = data;
    while (rest.length > 0 && this.state !== State.Closed && !this.held.active) {
      rest = this.framer.push(rest, function () {
        return session.state === State.Closed || session.held.active;
      });
    }
    // A failed login put the rest of this chunk on hold.
    if (this.held.active && !this.held.add(rest)) this.close();
  }

  gone(): void {
    if (this.delayTimer !== undefined) this.delayTimer.cancel();
    this.delayTimer = undefined;
    this.endSession();
    this.sender.dropped();
    this.state = State.Closed;
  }

  /** Releases the maildrop lock without applying deletions. */
  private endSession(): void {
    if (this.user.length > 0) {
      this.server.hal.log("pop3: " + this.user + " logged out");
      this.server.store.unlock(this.user);
      this.user = "";
      this.maildrop = undefined;
    }
  }

  private command(line: string): void {
    // Spaces and tabs before and after a command line are ignored, whatever the command: real clients send them.
    line = trim(line);
    const space = line.indexOf(" ");
    const verb = upper(space < 0 ? line : line.substring(0, space)) as Verb;
    const arg = space < 0 ? "" : line.substring(space + 1);
    if (VERBS[verb] !== true) {
      this.error((verb as string) === "STLS" ? "-ERR No TLS on this box (for fetchmail: sslproto '')" : "-ERR Unknown command");
      return;
    }
    const handler = HANDLERS[this.state][verb];
    if (handler === undefined) {
      this.error("-ERR Command not valid in this state");
      return;
    }
    handler(this, arg);
  }

  /** Answers a command that is no POP3 at all here; too many end the session (HTTP, garbage). */
  private error(line: string): void {
    this.errors++;
    if (this.errors >= MAX_ERRORS) {
      this.reply("-ERR Too many errors, closing connection");
      this.close();
      return;
    }
    this.reply(line);
  }

  // ---- AUTHORIZATION ----

  userCommand(arg: string): void {
    if (arg.length === 0) {
      this.reply("-ERR USER needs a name");
      return;
    }
    this.userName = arg;
    this.reply("+OK Send PASS");
  }

  pass(arg: string): void {
    if (this.userName.length === 0) {
      this.reply("-ERR Send USER first");
      return;
    }
    const typed = this.userName;
    this.userName = "";
    const user = loginUser(this.server.config, typed);
    if (this.refuseLockedOut(typed, user)) return;
    if (user.length === 0 || this.passwordOf(user) !== arg) this.failLogin(typed, user, "USER/PASS");
    else this.login(user);
  }

  apop(arg: string): void {
    const space = arg.indexOf(" ");
    if (space <= 0) {
      this.reply("-ERR Syntax: APOP name digest");
      return;
    }
    // The digest covers the timestamp and the secret only, so any spelling of the name works.
    const typed = arg.substring(0, space);
    const user = loginUser(this.server.config, typed);
    if (this.refuseLockedOut(typed, user)) return;
    if (user.length === 0 || md5hex(this.timestamp + this.passwordOf(user)) !== lower(arg.substring(space + 1))) this.failLogin(typed, user, "APOP");
    else this.login(user);
  }

  capa(): void {
    this.reply(
      "+OK Capability list follows\r\n" +
        "TOP\r\nUSER\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n" +
        "IMPLEMENTATION letterbox " + this.server.hal.implementation + "\r\n.",
    );
  }

  /** The password of a configured user. */
  private passwordOf(user: string): string {
    const users = this.server.config.users;
    for (let i = 0; i < users.length; i++) if (users[i].name === user) return users[i].password;
    return "";
  }

  /**
   * RFC 2449 LOGIN-DELAY: the name (its user, or as typed when it is no
   * user's) is locked out; the attempt is not checked, nor counted. The text
   * says what failed, so a client with a wrong name is not sent chasing a delay.
   */
  private refuseLockedOut(typed: string, user: string): boolean {
    const seconds = this.server.lockedOut(user.length > 0 ? user : lower(typed));
    if (seconds === 0) return false;
    // The name is cut so the reply stays within RFC 2449's 512 octets.
    this.reply(
      "-ERR [LOGIN-DELAY] " + decimal(LOCKOUT_FAILURES) + " failed logins as " + (typed.length > 255 ? typed.substring(0, 255) + "..." : typed) +
        " (wrong name or password): locked, try again in " + decimal(seconds) + " seconds",
    );
    return true;
  }

  /**
   * Answers -ERR [AUTH] only after a delay that grows with recent failures of
   * that user (or typed name). Logs the failure (`how`: USER/PASS or APOP),
   * and the lockout when this failure starts one; never the password or digest.
   */
  private failLogin(typed: string, user: string, how: string): void {
    const server = this.server;
    const key = user.length > 0 ? user : lower(typed);
    const count = server.recordFailure(key, user.length > 0);
    const peer = this.sender.conn.peer;
    server.hal.log(
      "pop3: " + how + " failed for \"" + printable(typed, LOG_NAME) + "\" (" + (user.length > 0 ? "mailbox " + user : "no such user") +
        ", " + decimal(count) + " of " + decimal(LOCKOUT_FAILURES) + ")" + (peer ? " [" + peer + "]" : ""),
    );
    if (count === LOCKOUT_FAILURES) {
      server.hal.log(
        "pop3: " + (user.length > 0 ? "mailbox " + user : "name \"" + printable(key, LOG_NAME) + "\"") +
          " locked out for " + decimal(FAIL_MEMORY_SECONDS) + " s after " + decimal(count) + " failed logins",
      );
    }
    const session = this;
    this.held.start();
    this.delayTimer = server.hal.setTimer(failDelay(count), function () {
      session.delayTimer = undefined;
      const held = session.held.release();
      session.reply("-ERR [AUTH] Invalid name or password");
      if (held.length > 0) session.receive(held);
    });
  }

  private login(name: string): void {
    const store = this.server.store;
    if (!store.lock(name)) {
      this.reply("-ERR [IN-USE] Maildrop already locked by another session");
      return;
    }
    let maildrop: Maildrop;
    try {
      if (!store.available()) throw new Error("card unusable"); // reopened on the way: a card put back in works again
      maildrop = store.maildrop(name);
    } catch (e) {
      store.unlock(name);
      this.server.hal.log("pop3: cannot read maildrop of " + name + ": " + e);
      this.reply("-ERR [SYS/TEMP] Mail storage unavailable, try again later");
      return;
    }
    this.server.clearFailures(name);
    this.user = name;
    this.maildrop = maildrop;
    this.state = State.Transaction;
    this.server.hal.log("pop3: " + name + " logged in (" + messages(maildrop.count) + ")");
    this.reply("+OK " + name + " has " + messages(maildrop.count) + " (" + decimal(maildrop.totalBytes) + " octets)");
  }

  // ---- TRANSACTION ----

  stat(): void {
    const m = this.maildrop as Maildrop;
    this.reply("+OK " + decimal(m.count - this.deletedCount) + " " + decimal(m.totalBytes - this.deletedBytes));
  }

  list(arg: string, uidl: boolean): void {
    const m = this.maildrop as Maildrop;
    if (arg.length > 0) {
      const n = this.messageNumber(arg);
      if (n > 0) this.reply("+OK " + decimal(n) + " " + (uidl ? m.uid(n - 1) : decimal(m.size(n - 1))));
      return;
    }
    // One reply per line keeps memory flat for big maildrops: the sender merges them.
    this.reply(uidl ? "+OK Unique ids follow" : "+OK " + messages(m.count - this.deletedCount));
    // The listing goes out later, one chunk per send: it must show the marks as
    // they are now, not after a DELE or RSET pipelined behind this command.
    const marked: { [n: number]: boolean } = {};
    for (let n = 1; n <= m.count; n++) if (this.deleted[n] === true) marked[n] = true;
    let next = 1;
    this.sender.stream(function (): ChunkSource {
      return {
        next: function (): string | undefined {
          if (next > m.count) {
            if (next === m.count + 1) {
              next++;
              return ".\r\n";
            }
            return undefined;
          }
          let out = "";
          while (next <= m.count && out.length < 512) {
            if (marked[next] !== true) {
              out += decimal(next) + " " + (uidl ? m.uid(next - 1) : decimal(m.size(next - 1))) + "\r\n";
            }
            next++;
          }
          return out;
        },
        release: function () {},
      };
    });
  }

  retr(arg: string, top: boolean): void {
    const m = this.maildrop as Maildrop;
    let n: number;
    let lines = -1;
    if (top) {
      const space = arg.indexOf(" ");
      if (space < 0) {
        this.reply("-ERR Syntax: TOP msg lines");
        return;
      }
      n = this.messageNumber(arg.substring(0, space));
      if (n <= 0) return;
      lines = parseDecimal(arg.substring(space + 1));
      if (lines < 0) {
        this.reply("-ERR Syntax: TOP msg lines (a non-negative number)");
        return;
      }
    } else {
      n = this.messageNumber(arg);
      if (n <= 0) return;
    }
    // The file is opened when the reply's turn comes, so pipelined RETRs
    // hold one file at a time. When every message file is in use, the reply
    // waits for one (Sender.retry) for up to FILE_WAIT_SECONDS.
    const seq = m.seq(n - 1);
    const ok = top ? "+OK Top of message follows\r\n" : "+OK " + decimal(m.size(n - 1)) + " octets\r\n";
    const server = this.server;
    const session = this;
    let firstTry = -1;
    this.sender.stream(function (): ChunkSource | undefined {
      let file: FileHandle | undefined = undefined;
      try {
        file = server.store.openMessage(seq);
      } catch (e) {
        server.hal.log("pop3: cannot open message: " + e);
        const failure = "-ERR [SYS/TEMP] Cannot read the message now, try again later\r\n";
        return new MessageStream(undefined, 0, server.hal, failure, true);
      }
      if (file === undefined) {
        const now = server.hal.now();
        if (firstTry < 0) firstTry = now;
        if (now - firstTry < FILE_WAIT_SECONDS) return undefined;
        return new MessageStream(undefined, 0, server.hal, "-ERR [SYS/TEMP] Busy, try again shortly\r\n", true);
      }
      const stream = new MessageStream(file, lines, server.hal, ok, false);
      stream.onReadError = function () {
        // Half a message must not look whole: no terminator, the connection drops (after this send).
        server.hal.setTimer(0, function () {
          session.close();
        });
      };
      return stream;
    });
  }

  dele(arg: string): void {
    const m = this.maildrop as Maildrop;
    const n = this.messageNumber(arg);
    if (n <= 0) return;
    this.deleted[n] = true;
    this.deletedCount++;
    this.deletedBytes += m.size(n - 1);
    this.reply("+OK Message " + decimal(n) + " deleted");
  }

  rset(): void {
    const m = this.maildrop as Maildrop;
    this.deleted = {};
    this.deletedCount = 0;
    this.deletedBytes = 0;
    this.reply("+OK Maildrop has " + messages(m.count) + " (" + decimal(m.totalBytes) + " octets)");
  }

  /**
   * QUIT: from TRANSACTION, the UPDATE state applies the deletions. It waits
   * its turn behind replies still streaming (a pipelined RETR), so no file is
   * removed while it is being read.
   */
  quit(): void {
    const session = this;
    const update = this.state === State.Transaction;
    this.state = State.Closed; // nothing after QUIT is read
    this.sender.stream(function (): ChunkSource {
      let answer = "+OK letterbox POP3 server signing off\r\n";
      if (update && session.maildrop !== undefined) answer = session.update();
      session.endSession();
      return new MessageStream(undefined, 0, session.server.hal, answer, true);
    });
    this.sender.closeWhenDone();
  }

  /** Commits the deletions marked in this session; returns QUIT's answer. */
  private update(): string {
    const m = this.maildrop as Maildrop;
    if (this.deletedCount === 0) return "+OK letterbox POP3 server signing off\r\n";
    const seqs: number[] = [];
    for (let n = 1; n <= m.count; n++) if (this.deleted[n] === true) seqs.push(m.seq(n - 1));
    try {
      if (!this.server.store.available()) throw new Error("card unusable");
      this.server.store.deleteMessages(this.user, seqs);
    } catch (e) {
      this.server.hal.log("pop3: deletion failed: " + e);
      return "-ERR [SYS/TEMP] Some deleted messages not removed\r\n";
    }
    return "+OK letterbox POP3 server signing off (" + messages(m.count - this.deletedCount) + " left)\r\n";
  }

  /** Parses a message number; answers -ERR and returns 0 when it names no live message. */
  private messageNumber(arg: string): number {
    const m = this.maildrop as Maildrop;
    const n = parseDecimal(arg);
    if (n < 0) {
      this.reply("-ERR Invalid message number");
      return 0;
    }
    if (n < 1 || n > m.count) {
      this.reply("-ERR No such message");
      return 0;
    }
    if (this.deleted[n] === true) {
      this.reply("-ERR Message " + decimal(n) + " already deleted");
      return 0;
    }
    return n;
  }
}

/**
 * A stored message read from the card one chunk per completed send, with
 * byte-stuffing (a line starting with "." gets another "."), ending in
 * CRLF.CRLF. With `bodyLines` >= 0 it stops after the headers, the blank
 * line and that many body lines (TOP).
 */
class MessageStream implements ChunkSource {
  /** The next byte read starts a line. */
  private lineStart = true;
  private endedWithCRLF = true;
  private done = false;
  private inHeaders = true;
  /** TOP: octets of the current line seen so far (it may span chunks). */
  private lineLength = 0;
  /** TOP: the requested lines have all been read. */
  private cut = false;

  /** `first` is the status line; `only` sends nothing else (a failure). */
  constructor(private file: FileHandle | undefined, private bodyLines: number, private hal: Hal, private first: string, only: boolean) {
    this.done = false;
    this.only = only;
    this.want = hal.sendChunk || READ_CHUNK;
  }

  /** Octets read from the card per send. */
  private want: number;

  private only: boolean;
  /** Called when the card fails mid-message: the stream ends without its terminator. */
  onReadError: (() => void) | undefined = undefined;

  next(): string | undefined {
    if (this.done) return undefined;
    // The status line goes out with the first chunk: one send fewer, and the file is held one send less.
    const first = this.first;
    this.first = "";
    if (this.only) {
      this.done = true;
      return first;
    }
    let chunk: string | undefined = undefined;
    if (this.file !== undefined && !this.cut) {
      const want = this.want;
      try {
        chunk = this.file.read(want);
        // A short read is the end of the file: give the handle back now, not a send later.
        if (chunk === undefined || chunk.length < want) this.release();
      } catch (e) {
        this.hal.log("pop3: read failed: " + e);
        this.done = true;
        this.release();
        if (this.onReadError !== undefined) this.onReadError();
        return first.length > 0 ? first : undefined;
      }
    }
    if (chunk === undefined || chunk.length === 0) return first + this.finish();
    // The chunk as it goes on the wire: TOP's cut, dot-stuffing.
    if (this.bodyLines >= 0) chunk = this.cutForTop(chunk);
    this.endedWithCRLF = chunk.charCodeAt(chunk.length - 1) === 10;
    const out = this.stuff(chunk);
    // Not "" + out: on Espruino that copies the chunk.
    return first.length > 0 ? first + out : out;
  }

  release(): void {
    if (this.file !== undefined) {
      const f = this.file;
      this.file = undefined;
      try {
        f.close();
      } catch (e) {
        this.hal.log("pop3: close failed: " + e);
      }
    }
  }

  private finish(): string {
    this.done = true;
    this.release();
    return this.endedWithCRLF ? ".\r\n" : "\r\n.\r\n";
  }

  /** Doubles every dot that starts a line. */
  private stuff(chunk: string): string {
    const lead = this.lineStart && chunk.charCodeAt(0) === 46;
    const dot = chunk.indexOf("\n.");
    // No dot to double (the common chunk): the chunk itself, not a copy.
    // (dot + 2 > length: Espruino 2v29's indexOf reports a match cut short by the end.)
    if (!lead && (dot < 0 || dot + 2 > chunk.length)) {
      this.lineStart = chunk.charCodeAt(chunk.length - 1) === 10;
      return chunk;
    }
    let out = lead ? "." : "";
    let from = 0;
    let i = find(chunk, "\n.", 0);
    while (i >= 0) {
      out += chunk.substring(from, i + 1) + ".";
      from = i + 1;
      i = find(chunk, "\n.", from);
    }
    this.lineStart = chunk.charCodeAt(chunk.length - 1) === 10;
    return from === 0 ? out + chunk : out + chunk.substring(from);
  }

  /** TOP: the part of `chunk` up to the end of the last requested line. */
  private cutForTop(chunk: string): string {
    let p = 0;
    while (true) {
      const lf = chunk.indexOf("\n", p);
      if (lf < 0) {
        this.lineLength += chunk.length - p;
        return chunk;
      }
      const length = this.lineLength + lf - p; // a CR before the LF counts
      this.lineLength = 0;
      p = lf + 1;
      if (this.inHeaders) {
        if (length > 1) continue;
        this.inHeaders = false; // the empty line that ends the headers
      } else {
        this.bodyLines--;
      }
      if (this.bodyLines <= 0) {
        this.cut = true;
        return chunk.substring(0, p);
      }
    }
  }
}

const VERBS: { [v: string]: boolean } = {
  USER: true, PASS: true, APOP: true, CAPA: true, QUIT: true, STAT: true, LIST: true,
  UIDL: true, RETR: true, TOP: true, DELE: true, RSET: true, NOOP: true,
};

const HANDLERS: StateTable[] = [
  /* Authorization */ {
    USER: function (s, arg) { s.userCommand(arg); },
    PASS: function (s, arg) { s.pass(arg); },
    APOP: function (s, arg) { s.apop(arg); },
    CAPA: function (s) { s.capa(); },
    QUIT: function (s) { s.quit(); },
  },
  /* Transaction */ {
    STAT: function (s) { s.stat(); },
    LIST: function (s, arg) { s.list(arg, false); },
    UIDL: function (s, arg) { s.list(arg, true); },
    RETR: function (s, arg) { s.retr(arg, false); },
    TOP: function (s, arg) { s.retr(arg, true); },
    DELE: function (s, arg) { s.dele(arg); },
    RSET: function (s) { s.rset(); },
    NOOP: function (s) { s.reply("+OK"); },
    CAPA: function (s) { s.capa(); },
    QUIT: function (s) { s.quit(); },
  },
  /* Closed */ {},
];
