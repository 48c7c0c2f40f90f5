/**
 * POP3 serving (RFC 1939, RFC 2449 CAPA and response codes) as a state
 * machine: AUTHORIZATION, TRANSACTION, UPDATE. Every state has its own table
 * of handlers, so a command is always checked against the state it arrives
 * in (as WildDuck's lib/pop3/connection.js does). Deletions are only marks
 * until QUIT; a dropped connection deletes nothing.
 */
import type { Config } from "./config";
import type { Connection, ConnectionEvents, FileHandle, Hal, Timer } from "./hal";
import { LineFramer } from "./lines";
import { decimal, messages, parseDecimal } from "./num";
import { ChunkSource, Sender } from "./sender";
import { Access, Flag, Mailbox, Maildrop, Throttle } from "./mailbox";
import { FILE_WAIT_SECONDS, HeldInput, Service, SessionList, SocketBudget } from "./sessions";
import { find, trim, upper } from "./text";

const MAX_COMMAND_LINE = 512;
/** Unknown or out-of-state commands a session may send before it is dropped (as SMTP's 20). */
const MAX_ERRORS = 20;
/** Octets read from the card per send when the HAL names no `sendChunk`. */
const READ_CHUNK = 1024;
const enum State {
  Authorization = 0,
  Transaction = 1,
  /** QUIT seen, or closing for another reason. */
  Closed = 2,
}

type Handler = (session: Pop3Session, arg: string) => void;
/** A command handled here: a key of VERBS. */
type Verb = keyof typeof VERBS;
/** The commands a state allows. */
type StateTable = { [V in Verb]?: Handler };

export class Pop3Server implements Service {
  sessions: SessionList<Pop3Session>;

  /** `budget`: the sockets shared with the other services (main.ts); a budget of its own when not given. */
  constructor(public hal: Hal, public config: Config, public mailbox: Mailbox, budget?: SocketBudget) {
    this.sessions = new SessionList<Pop3Session>("pop3", budget || { config: config, listeners: 0, lists: [] });
  }

  /** An arrow bound to this server: main.ts hands it to hal.listen as it is (no closure of its own per service). */
  accept = (conn: Connection): ConnectionEvents => {
    const session = new Pop3Session(this, conn);
    if (!this.sessions.admit(session)) {
      session.reply("-ERR [SYS/TEMP] Too many connections, try again later");
      session.close();
    } else if (!this.mailbox.card.available()) {
      // The card is opened again on the way: a card put back in brings the service back.
      this.sessions.remove(session);
      session.reply("-ERR [SYS/TEMP] Mail storage unavailable, try again later");
      session.close();
    } else session.reply("+OK letterbox POP3 server ready " + session.timestamp);
    return this.sessions.events(session);
  };

  sweep(now: number): void {
    // RFC 1939 3: an idle client is logged out WITHOUT entering UPDATE.
    this.sessions.sweep(now, this.config.services.pop3.idleSeconds, "-ERR Idle for too long, closing connection");
    this.retryWaiting();
  }

  /** Sessions whose RETR or TOP waits for a message file try again (one may have been freed). */
  retryWaiting(): void {
    const all = this.sessions.items.slice();
    for (let i = 0; i < all.length; i++) all[i].sender.retry();
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
  /** TRANSACTION: the maildrop, opened exclusively; it holds the DELE marks. */
  private maildrop: Maildrop | undefined = undefined;
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
    if (this.held.active()) {
      if (!this.held.add(data)) this.close();
      return;
    }
    const session = this;
    let rest = data;
    while (rest.length > 0 && this.state !== State.Closed && !this.held.active()) {
      rest = this.framer.push(rest, function () {
        return session.state === State.Closed || session.held.active();
      });
    }
    // A failed login put the rest of this chunk on hold.
    if (this.held.active() && !this.held.add(rest)) this.close();
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
    const m = this.maildrop;
    if (m !== undefined) {
      this.server.hal.log("pop3: " + m.user + " logged out");
      m.close();
      this.maildrop = undefined;
    }
  }

  private command(line: string): void {
    // Spaces and tabs before and after a command line are ignored, whatever the command: real clients send them.
    line = trim(line);
    const space = line.indexOf(" ");
    const word = upper(space < 0 ? line : line.substring(0, space));
    const arg = space < 0 ? "" : line.substring(space + 1);
    if ((VERBS as { readonly [word: string]: boolean | undefined })[word] !== true) {
      this.error(word === "STLS" ? "-ERR No TLS on this box (for fetchmail: sslproto '')" : "-ERR Unknown command");
      return;
    }
    const verb = word as Verb; // a key of VERBS, as checked above
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
    this.login(typed, arg, "", "USER/PASS");
  }

  apop(arg: string): void {
    const space = arg.indexOf(" ");
    if (space <= 0) {
      this.reply("-ERR Syntax: APOP name digest");
      return;
    }
    // The digest covers the timestamp and the secret only, so any spelling of the name works.
    this.login(arg.substring(0, space), arg.substring(space + 1), this.timestamp, "APOP");
  }

  capa(): void {
    this.reply(
      "+OK Capability list follows\r\n" +
        "TOP\r\nUSER\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n" +
        "IMPLEMENTATION letterbox " + this.server.hal.implementation + "\r\n.",
    );
  }

  /**
   * Logs in through the mailbox and opens the maildrop exclusively (RFC 1939
   * 4: -ERR [IN-USE] when another session holds it), or refuses: RFC 2449
   * LOGIN-DELAY at once while the name is locked out (the text says what
   * failed, so a client with a wrong name is not sent chasing a delay),
   * else -ERR [AUTH] only after the mailbox's growing delay, with the input
   * held meanwhile. One method, not two: each costs ~12 variables on Espruino.
   */
  private login(typed: string, secret: string, challenge: string, method: string): void {
    const server = this.server;
    const result = server.mailbox.authenticate({ service: "pop3", method: method, name: typed, secret: secret, challenge: challenge }, this.sender.conn.remoteAddress);
    const name = result.user;
    if (name.length > 0) {
      let maildrop: Maildrop | undefined;
      try {
        maildrop = server.mailbox.openMaildrop(name, Access.Exclusive);
      } catch (e) {
        server.hal.log("pop3: cannot read maildrop of " + name + ": " + e);
        this.reply("-ERR [SYS/TEMP] Mail storage unavailable, try again later");
        return;
      }
      if (maildrop === undefined) {
        this.reply("-ERR [IN-USE] Maildrop already locked by another session");
        return;
      }
      this.maildrop = maildrop;
      this.state = State.Transaction;
      server.hal.log("pop3: " + name + " logged in (" + messages(maildrop.list.count) + ")");
      this.reply("+OK " + name + " has " + messages(maildrop.list.count) + " (" + decimal(maildrop.list.totalBytes) + " octets)");
      return;
    }
    if (result.lockedSeconds > 0) {
      // The name is cut so the reply stays within RFC 2449's 512 octets.
      this.reply(
        "-ERR [LOGIN-DELAY] " +
          (result.lockedClient
            ? decimal(Throttle.ClientLockoutFailures) + " failed logins from your address"
            : decimal(Throttle.LockoutFailures) + " failed logins as " + (typed.length > 255 ? typed.substring(0, 255) + "..." : typed) + " (wrong name or password)") +
          ": locked, try again in " + decimal(result.lockedSeconds) + " seconds",
      );
      return;
    }
    const session = this;
    this.held.start();
    this.delayTimer = server.hal.setTimer(result.delayMs, function () {
      session.delayTimer = undefined;
      const held = session.held.release();
      session.reply("-ERR [AUTH] Invalid name or password");
      if (held.length > 0) session.receive(held);
    });
  }

  // ---- TRANSACTION ----

  stat(): void {
    const m = this.maildrop as Maildrop;
    this.reply("+OK " + decimal(m.list.count - m.markedCount) + " " + decimal(m.list.totalBytes - m.markedBytes));
  }

  list(arg: string, uidl: boolean): void {
    const m = this.maildrop as Maildrop;
    const list = m.list;
    if (arg.length > 0) {
      const n = this.messageNumber(arg);
      if (n > 0) this.reply("+OK " + decimal(n) + " " + (uidl ? list.uid(n - 1) : decimal(list.size(n - 1))));
      return;
    }
    // One reply per line keeps memory flat for big maildrops: the sender merges them.
    this.reply(uidl ? "+OK Unique ids follow" : "+OK " + messages(list.count - m.markedCount));
    // The listing goes out later, one chunk per send: it must show the marks as
    // they are now, not after a DELE or RSET pipelined behind this command.
    const marked: { [n: number]: boolean } = {};
    for (let n = 1; n <= list.count; n++) if ((m.flags(n - 1) & Flag.Deleted) !== 0) marked[n] = true;
    let next = 1;
    this.sender.stream(function (): ChunkSource {
      return {
        next: function (): string | undefined {
          if (next > list.count) {
            if (next === list.count + 1) {
              next++;
              return ".\r\n";
            }
            return undefined;
          }
          let out = "";
          while (next <= list.count && out.length < 512) {
            if (marked[next] !== true) {
              out += decimal(next) + " " + (uidl ? list.uid(next - 1) : decimal(list.size(next - 1))) + "\r\n";
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
    const i = n - 1;
    const ok = top ? "+OK Top of message follows\r\n" : "+OK " + decimal(m.list.size(i)) + " octets\r\n";
    const server = this.server;
    const session = this;
    let firstTry = -1;
    this.sender.stream(function (): ChunkSource | undefined {
      let file: FileHandle | undefined = undefined;
      // Deleted at once by another opener (the web page; IMAP's EXPUNGE) since this session listed it.
      if (m.stored(i) < 0) return new MessageStream(undefined, 0, server.hal, "-ERR Message " + decimal(n) + " was deleted by another client\r\n", true);
      try {
        file = m.open(i, 0);
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
    m.setFlags(n - 1, Flag.Deleted);
    this.reply("+OK Message " + decimal(n) + " deleted");
  }

  rset(): void {
    const m = this.maildrop as Maildrop;
    for (let i = 0; i < m.list.count; i++) m.setFlags(i, 0);
    this.reply("+OK Maildrop has " + messages(m.list.count) + " (" + decimal(m.list.totalBytes) + " octets)");
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
    if (m.markedCount === 0) return "+OK letterbox POP3 server signing off\r\n";
    try {
      m.commit();
    } catch (e) {
      this.server.hal.log("pop3: deletion failed: " + e);
      return "-ERR [SYS/TEMP] Some deleted messages not removed\r\n";
    }
    return "+OK letterbox POP3 server signing off (" + messages(m.list.count - m.markedCount) + " left)\r\n";
  }

  /** Parses a message number; answers -ERR and returns 0 when it names no live message. */
  private messageNumber(arg: string): number {
    const m = this.maildrop as Maildrop;
    const n = parseDecimal(arg);
    if (n < 0) {
      this.reply("-ERR Invalid message number");
      return 0;
    }
    if (n < 1 || n > m.list.count) {
      this.reply("-ERR No such message");
      return 0;
    }
    if ((m.flags(n - 1) & Flag.Deleted) !== 0) {
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

/** The commands handled here (HANDLERS says in which states). Upper-case keys: no client word can name an Object.prototype member. */
const VERBS = {
  USER: true, PASS: true, APOP: true, CAPA: true, QUIT: true, STAT: true, LIST: true,
  UIDL: true, RETR: true, TOP: true, DELE: true, RSET: true, NOOP: true,
};

/** One table per state, every state named (the type requires it). */
const HANDLERS: { readonly [S in State]: StateTable } = {
  [State.Authorization]: {
    USER: function (s, arg) { s.userCommand(arg); },
    PASS: function (s, arg) { s.pass(arg); },
    APOP: function (s, arg) { s.apop(arg); },
    CAPA: function (s) { s.capa(); },
    QUIT: function (s) { s.quit(); },
  },
  [State.Transaction]: {
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
  [State.Closed]: {},
};
