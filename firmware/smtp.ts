/**
 * SMTP reception (RFC 5321) as a state machine: one table of command handlers
 * per state. A command that exists but is not in the current state's table
 * gets 503; one that does not exist gets 500. Line framing lives in lines.ts,
 * output pacing in sender.ts, routing and delivery in mailbox.ts.
 *
 * Smuggling: only CRLF.CRLF ends DATA. A bare LF is taken as a line end and
 * stored as CRLF, a bare CR is content (as Postfix 3.9's default
 * `smtpd_forbid_bare_newline = normalize`), so `LF.LF` and friends can
 * neither end a message early nor start a second one (lines.ts DataReader).
 */
import { parsePath } from "./address";
import type { Config } from "./config";
import { rfc5322Date } from "./date";
import type { Connection, ConnectionEvents, Hal } from "./hal";
import { DataEvents, DataReader, LineFramer } from "./lines";
import { decimal, hex, parseDecimal } from "./num";
import { Sender } from "./sender";
import { type Delivery, type Mailbox, RouteKind } from "./mailbox";
import { FILE_WAIT_SECONDS, HeldInput, Service, SessionList, SocketBudget } from "./sessions";
import { headerSafe, printable, trim, upper } from "./text";

/**
 * RFC 5321 4.5.3.1: command lines of 512 octets with CRLF. Text lines have
 * no limit here: the body goes to the card as it comes, so a longer line
 * costs nothing, and refusing it would bounce real mail.
 */
const MAX_COMMAND_LINE = 512;
/** Free card space (KiB) a message must leave for the journal, when the board reports free space. */
const CARD_MARGIN_KIB = 64;

/** The states; the handlers allowed in each are in HANDLERS below (numbers: cheap to store and compare on Espruino). */
const enum State {
  /** Connected, greeting sent, no EHLO/HELO yet. */
  Fresh = 0,
  /** Greeted, no transaction. */
  Idle = 1,
  /** MAIL accepted, no recipient yet. */
  Mail = 2,
  /** At least one recipient accepted. */
  Rcpt = 3,
  /** DATA came while every message file was in use: the 354 waits for one (input is held). */
  WaitFile = 4,
  /** Reading the message body. */
  Data = 5,
  /** QUIT or a fatal error: ignoring input, closing after the last reply. */
  Closing = 6,
}

type Handler = (session: SmtpSession, arg: string) => void;
/** A command handled here: a key of VERBS. */
type Verb = keyof typeof VERBS;
/** The commands a state allows. */
type StateTable = { [V in Verb]?: Handler };

/** Shared by every SMTP session of one box. */
export class SmtpServer implements Service {
  sessions: SessionList<SmtpSession>;

  /** `budget`: the sockets shared with the other services (main.ts); a budget of its own when not given. */
  constructor(public hal: Hal, public config: Config, public mailbox: Mailbox, budget?: SocketBudget) {
    this.sessions = new SessionList<SmtpSession>("smtp", budget || { config: config, listeners: 0, lists: [] });
  }

  /** An arrow bound to this server: main.ts hands it to hal.listen as it is (no closure of its own per service). */
  accept = (conn: Connection): ConnectionEvents => {
    const host = this.config.hostname;
    const session = new SmtpSession(this, conn);
    if (!this.sessions.admit(session)) {
      session.reply("421 4.7.0 " + host + " Too many connections, try again later");
      session.close();
    } else if (!this.mailbox.card.available()) {
      // The card is opened again on the way: a card put back in brings the service back.
      this.sessions.remove(session);
      session.reply("421 4.3.0 " + host + " Mail storage unavailable, try again later");
      session.close();
    } else session.reply("220 " + host + " ESMTP letterbox ready");
    return this.sessions.events(session);
  };

  /** Drops sessions idle for longer than the limit (called about once a second). */
  sweep(now: number): void {
    const farewell = "421 4.4.2 " + this.config.hostname + " Idle for too long, closing connection";
    this.sessions.sweep(now, this.config.services.smtp.idleSeconds, farewell);
    this.retryWaiting(now);
  }

  /** Sessions whose DATA waits for a message file try again (one may have been freed). */
  retryWaiting(now: number): void {
    const all = this.sessions.items.slice();
    for (let i = 0; i < all.length; i++) if (all[i].state === State.WaitFile) all[i].startData(now);
  }
}

export class SmtpSession implements DataEvents {
  state = State.Fresh;
  sender: Sender;
  lastActive: number;
  active = false;
  private framer: LineFramer;
  private helo = "";
  private esmtp = false;
  /** The mail transaction: from MAIL to RSET, HELO/EHLO or the end of DATA; undefined outside one. */
  private tx: Transaction | undefined = undefined;
  /** DATA: reads the body and hands it to the transaction. */
  private reader: DataReader | undefined = undefined;
  private errors = 0;
  /** WaitFile: when the wait began (hal.now()), and the input received meanwhile (a client should send none: RFC 2920 3.1). */
  private waitingSince = 0;
  private held = new HeldInput();
  /** The client's IP address, for the log; undefined where the board cannot tell (Espruino). */
  private peer: string | undefined;

  constructor(public server: SmtpServer, conn: Connection) {
    this.sender = new Sender(conn);
    this.peer = conn.remoteAddress;
    this.lastActive = server.hal.now();
    const session = this;
    this.framer = new LineFramer(MAX_COMMAND_LINE, {
      onLine: function (line: string) {
        session.command(line);
      },
      onLineTooLong: function () {
        session.error("500 5.5.0 Line too long (at most 512 octets)");
      },
    });
  }

  /** Answers a bad command; too many of them end the session. */
  error(line: string): void {
    this.errors++;
    if (this.errors >= MAX_ERRORS) {
      this.reply("421 4.7.0 " + this.server.config.hostname + " Too many errors, closing connection");
      this.close();
      return;
    }
    this.reply(line);
  }

  reply(line: string): void {
    if (!this.sender.send(line + "\r\n")) {
      // The client pipelines without reading: it cannot be served without unbounded memory.
      this.state = State.Closing;
      this.sender.closeWhenDone();
    }
  }

  close(): void {
    this.abortMessage();
    this.state = State.Closing;
    this.sender.closeWhenDone();
  }

  /**
   * Bytes from the client. The message body is the hot path: a DATA chunk
   * that leaves nothing over returns before the command loop. Kept in one
   * method on purpose: split into a short `receive` for
   * DATA plus a command loop elsewhere, the real Espruino 2v29 interpreter
   * kept ~280 variables per 200 KB message received (measured twice, with
   * process.memory() after each round of ten; not with 20 KB messages, not
   * in the emulation; cause inside the interpreter not found).
   */
  receive(data: string): void {
    if (this.state === State.Data) {
      // The message body: returns before the command loop below (Espruino reads the code it runs).
      const after = (this.reader as DataReader).push(data);
      if (after === undefined) return;
      this.endData();
      data = after;
    }
    while (data.length > 0) {
      if (this.state === State.Data) {
        // Another message in the same chunk.
        const after = (this.reader as DataReader).push(data);
        if (after === undefined) return;
        this.endData();
        data = after;
        continue;
      }
      if (this.state === State.Closing) return;
      if (this.state === State.WaitFile) {
        this.hold(data);
        return;
      }
      const session = this;
      data = this.framer.push(data, function () {
        return session.state >= State.WaitFile;
      });
    }
  }

  gone(): void {
    this.abortMessage();
    this.sender.dropped();
    this.state = State.Closing;
  }

  private command(line: string): void {
    // Spaces and tabs before and after a command line are ignored, whatever the command: real clients send them.
    line = trim(line);
    const space = line.indexOf(" ");
    const word = upper(space < 0 ? line : line.substring(0, space));
    const arg = space < 0 ? "" : line.substring(space + 1);
    if ((VERBS as Words)[word] !== 1) {
      this.error(
        (UNIMPLEMENTED as Words)[word] === 1
          ? word === "STARTTLS" ? "502 5.5.1 No TLS on this box (the boards have no TLS server)" : "502 5.5.1 Command not implemented"
          : line.length === 0 ? "500 5.5.2 Empty command" : "500 5.5.2 Command not recognized",
      );
      return;
    }
    const verb = word as Verb; // a key of VERBS, as checked above
    const handler = HANDLERS[this.state][verb];
    if (handler === undefined) {
      this.error(outOfOrder(this.state, verb));
      return;
    }
    handler(this, arg);
  }

  // ---- handlers (used through the HANDLERS table) ----

  ehlo(arg: string, extended: boolean): void {
    if (arg.length === 0 || arg.indexOf(" ") >= 0) {
      this.reply("501 5.5.4 " + (extended ? "EHLO" : "HELO") + " needs one domain or address literal");
      return;
    }
    this.resetTransaction();
    this.helo = arg;
    this.esmtp = extended;
    this.state = State.Idle;
    const host = this.server.config.hostname;
    if (!extended) {
      this.reply("250 " + host);
      return;
    }
    this.reply(
      "250-" + host + " greets " + arg + "\r\n" +
        "250-SIZE " + decimal(this.server.config.limits.maxMessageBytes) + "\r\n" +
        "250-8BITMIME\r\n" +
        "250-PIPELINING\r\n" +
        "250-ENHANCEDSTATUSCODES\r\n" +
        "250 HELP",
    );
  }

  mail(arg: string): void {
    const path = parsePath(arg, "FROM:", false);
    if (path === undefined) {
      this.reply("501 5.5.4 Syntax: MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME]");
      return;
    }
    let declared = 0;
    for (let i = 0; i < path.params.length; i++) {
      const p = upper(path.params[i]);
      if (p.substring(0, 5) === "SIZE=") {
        const size = parseDecimal(p.substring(5));
        declared = size;
        if (size < 0) {
          this.reply("501 5.5.4 Bad SIZE parameter");
          return;
        }
        if (size > this.server.config.limits.maxMessageBytes) {
          this.reply("552 5.3.4 Message size exceeds the limit of " + decimal(this.server.config.limits.maxMessageBytes) + " octets");
          return;
        }
      } else if (p !== "BODY=8BITMIME" && p !== "BODY=7BIT") {
        this.reply("555 5.5.4 Unsupported parameter " + path.params[i]);
        return;
      }
    }
    if (this.cardTooFull(declared)) {
      this.reply("452 4.3.1 Insufficient system storage, try again later");
      return;
    }
    this.tx = {
      from: path.address,
      declaredSize: declared,
      users: [],
      rcptCount: 0,
      firstAddress: "",
      incoming: undefined,
      room: 0,
      failed: Failure.None,
    };
    this.state = State.Mail;
    this.reply("250 2.1.0 Sender ok");
  }

  rcpt(arg: string): void {
    const path = parsePath(arg, "TO:", true);
    if (path === undefined) {
      this.reply("501 5.5.4 Syntax: RCPT TO:<address>");
      return;
    }
    if (path.params.length > 0) {
      this.reply("555 5.5.4 RCPT parameters are not supported");
      return;
    }
    const tx = this.tx as Transaction;
    if (tx.rcptCount >= this.server.config.limits.maxRecipients) {
      this.reply("452 4.5.3 Too many recipients");
      return;
    }
    const rcpt = this.server.mailbox.route(path.local, path.domain);
    if (rcpt.kind !== RouteKind.Local) {
      this.reply(rcpt.reply);
      return;
    }
    const usage = this.server.mailbox.card.usage(rcpt.user);
    const quota = this.server.config.limits.mailboxQuotaBytes;
    if (usage >= quota || usage + tx.declaredSize > quota) {
      this.reply("452 4.2.2 Mailbox full, try again later");
      return;
    }
    tx.rcptCount++;
    let known = false;
    for (let i = 0; i < tx.users.length; i++) if (tx.users[i] === rcpt.user) known = true;
    if (!known) tx.users.push(rcpt.user);
    if (tx.firstAddress.length === 0) tx.firstAddress = path.address;
    this.state = State.Rcpt;
    this.reply("250 2.1.5 Recipient ok");
  }

  data(arg: string): void {
    if (arg.length > 0) {
      this.reply("501 5.5.4 DATA takes no arguments");
      return;
    }
    if (this.cardTooFull((this.tx as Transaction).declaredSize)) {
      this.reply("452 4.3.1 Insufficient system storage, try again later");
      return;
    }
    this.waitingSince = this.server.hal.now();
    this.startData(this.waitingSince);
  }

  /**
   * Opens the message file and answers 354. When every message file is in
   * use (the card allows few open files) the session waits in WaitFile: the
   * server calls this again when a file closes and once a second, and after
   * FILE_WAIT_SECONDS the answer is 451 instead.
   */
  startData(now: number): void {
    let incoming: Delivery | undefined;
    try {
      incoming = this.server.mailbox.card.beginMessage();
    } catch (e) {
      this.server.hal.log("smtp: cannot start a message: " + e);
      this.state = State.Rcpt;
      if (!this.server.mailbox.card.available()) this.storageGone();
      else this.reply("452 4.3.1 Insufficient storage, try again later");
      this.releaseHeld();
      return;
    }
    if (incoming === undefined) {
      if (this.state !== State.WaitFile) {
        this.state = State.WaitFile;
        this.held.start();
      } else if (now - this.waitingSince >= FILE_WAIT_SECONDS) {
        this.state = State.Rcpt;
        this.reply("451 4.3.2 Busy receiving other mail, try again shortly");
        this.releaseHeld();
      }
      return;
    }
    const tx = this.tx as Transaction;
    tx.incoming = incoming;
    tx.room = this.roomForMessage();
    // The transaction itself takes the reader's events: one call fewer per chunk than a closure.
    this.reader = new DataReader(this, this.server.hal.findBareLF);
    this.state = State.Data;
    this.onBody(this.traceHeaders(tx, incoming.seq));
    this.reply("354 End data with <CR><LF>.<CR><LF>");
    this.releaseHeld();
  }

  /** WaitFile: keeps what the client sent too early, within reason. */
  private hold(data: string): void {
    if (this.held.add(data)) return;
    this.reply("421 4.5.0 " + this.server.config.hostname + " Data sent before the 354, closing connection");
    this.close();
  }

  /** Processes input held while waiting, now that the session knows its state. */
  private releaseHeld(): void {
    const held = this.held.release();
    if (held.length > 0) this.receive(held);
  }

  rset(): void {
    this.resetTransaction();
    if (this.state !== State.Fresh) this.state = State.Idle;
    this.reply("250 2.0.0 Reset");
  }

  quit(): void {
    this.reply("221 2.0.0 " + this.server.config.hostname + " closing connection");
    this.close();
  }

  /** The card is gone (removed, unreadable): 421 and close; it is tried again at the next connection. */
  private storageGone(): void {
    this.reply("421 4.3.0 " + this.server.config.hostname + " Mail storage unavailable, closing connection");
    this.close();
  }

  /**
   * True when the card cannot take a message of `bytes` now: the store has
   * given up its spare room, the board reports too little free space, or
   * its memory is too low for the index to grow (MailStore.indexFull).
   * Boards that cannot tell find out when a write fails (452 after DATA).
   */
  private cardTooFull(bytes: number): boolean {
    const hal = this.server.hal;
    const card = this.server.mailbox.card;
    if (card.cardFull || card.indexFull()) return true;
    if (hal.cardSpace === undefined) return false;
    let freeKiB: number;
    try {
      freeKiB = hal.cardSpace().freeKiB;
    } catch (e) {
      return false; // a card error shows when the store uses the card
    }
    return freeKiB < Math.floor(bytes / 1024) + CARD_MARGIN_KIB;
  }

  // ---- DATA ----

  private traceHeaders(tx: Transaction, seq: number): string {
    const config = this.server.config;
    // RFC 5321 4.4: "from" Domain "(" TCP-info ")", TCP-info an address-literal (4.1.3; no reverse lookup here).
    const peer = this.peer;
    let received = "Received: from " + headerSafe(this.helo) +
      (peer ? " ([" + (peer.indexOf(":") >= 0 ? "IPv6:" : "") + peer + "])" : "") + "\r\n\tby " + config.hostname + " (letterbox) with " +
      (this.esmtp ? "ESMTP" : "SMTP") + " id " + hex(seq, 8);
    if (tx.rcptCount === 1) received += "\r\n\tfor <" + tx.firstAddress + ">";
    return "Return-Path: <" + tx.from + ">\r\n" + received + ";\r\n\t" + rfc5322Date(this.server.hal.now()) + "\r\n";
  }

  /** DataEvents: a slice of the message body: stored, unless a limit was passed (then the rest is read and dropped). */
  onBody(data: string): void {
    const tx = this.tx as Transaction;
    if (tx.failed !== Failure.None) return;
    const incoming = tx.incoming as Delivery;
    const bytes = incoming.bytes + data.length;
    if (bytes > tx.room) {
      // Over the room left at DATA: too big, or a recipient's quota is passed now (the reply comes after the end marker).
      if (bytes > this.server.config.limits.maxMessageBytes) tx.failed = Failure.TooBig;
      else if (this.exceedsQuota(bytes)) tx.failed = Failure.OverQuota;
      if (tx.failed !== Failure.None) return;
      // Mail was deleted meanwhile: there is room again, and this chunk is written like any other.
      tx.room = this.roomForMessage();
    }
    try {
      incoming.write(data);
    } catch (e) {
      this.server.hal.log("smtp: write failed: " + e);
      tx.failed = Failure.Storage;
    }
  }

  /** The end marker arrived (the reader's push returned): commits or refuses the message and answers. */
  private endData(): void {
    const tx = this.tx as Transaction;
    const incoming = tx.incoming as Delivery;
    this.reader = undefined;
    let answer: string;
    if (tx.failed === Failure.TooBig) {
      answer = "552 5.3.4 Message size exceeds the limit of " + decimal(this.server.config.limits.maxMessageBytes) + " octets";
    } else if (tx.failed === Failure.OverQuota) {
      answer = "552 5.2.2 Mailbox full";
    } else if (tx.failed === Failure.Storage) {
      answer = "452 4.3.1 Insufficient storage, message not accepted";
    } else {
      answer = "";
    }
    if (answer.length === 0) {
      try {
        incoming.commit(tx.users, this.server.hal.now());
        answer = "250 2.0.0 Ok: queued as " + hex(incoming.seq, 8);
        // The client's name is whatever it sent (CR, controls, 8-bit bytes): escaped, it cannot forge a log line.
        this.server.hal.log("smtp: delivered " + hex(incoming.seq, 8) + " (" + decimal(incoming.bytes) + " bytes) to " +
          tx.users.join(", ") + " from " + printable(this.helo, 64) + (this.peer ? " [" + this.peer + "]" : ""));
      } catch (e) {
        this.server.hal.log("smtp: commit failed: " + e);
        incoming.abort();
        answer = "451 4.3.0 Local error in processing, message not accepted";
      }
    } else {
      incoming.abort();
    }
    tx.incoming = undefined;
    this.resetTransaction();
    this.state = State.Idle;
    // A write or commit that failed because the card went away: say so, and close.
    if (answer.charCodeAt(0) === 52 && !this.server.mailbox.card.available()) this.storageGone();
    else this.reply(answer);
  }

  /**
   * Octets the message may take: the size limit, or less when a recipient's
   * quota leaves less. Checked per chunk as one comparison; only passing it
   * looks at the quotas again (onBody).
   */
  private roomForMessage(): number {
    const users = (this.tx as Transaction).users;
    let room = this.server.config.limits.maxMessageBytes;
    const quota = this.server.config.limits.mailboxQuotaBytes;
    for (let i = 0; i < users.length; i++) {
      const left = quota - this.server.mailbox.card.usage(users[i]);
      if (left < room) room = left;
    }
    return room;
  }

  private exceedsQuota(bytes: number): boolean {
    const users = (this.tx as Transaction).users;
    const quota = this.server.config.limits.mailboxQuotaBytes;
    for (let i = 0; i < users.length; i++) {
      if (this.server.mailbox.card.usage(users[i]) + bytes > quota) return true;
    }
    return false;
  }

  private abortMessage(): void {
    const tx = this.tx;
    if (tx !== undefined && tx.incoming !== undefined) {
      tx.incoming.abort();
      tx.incoming = undefined;
    }
    this.reader = undefined;
  }

  /** Ends the transaction, if any (RFC 5321 3.3: RSET, HELO/EHLO, the end of DATA). */
  private resetTransaction(): void {
    this.abortMessage();
    this.tx = undefined;
  }
}

/** Why a message in DATA is no longer stored (the reply comes after the end marker). */
const enum Failure {
  None = 0,
  TooBig = 1,
  /** A recipient's quota was passed during DATA. */
  OverQuota = 2,
  /** A write to the card failed. */
  Storage = 3,
}

/**
 * One mail transaction (RFC 5321 3.3): the envelope from MAIL and RCPT,
 * then in DATA the message being written. Made by MAIL, dropped by RSET,
 * HELO/EHLO and the end of DATA, so nothing is reset field by field. A
 * plain object, not a class (a class's prototype stays in RAM for the
 * box's life): the body's slices go to SmtpSession.onBody (one call per
 * chunk).
 */
interface Transaction {
  /** MAIL's reverse-path. */
  from: string;
  /** MAIL's SIZE= (RFC 1870), 0 when not given. */
  declaredSize: number;
  /** Accepted recipients' user names (each once). */
  users: string[];
  /** Recipients accepted (a user named twice counts twice): the RCPT limit, and Received's "for". */
  rcptCount: number;
  /** The first recipient's address as given, for the Received header. */
  firstAddress: string;
  /** DATA: the message file being written. */
  incoming: Delivery | undefined;
  /** DATA: octets the message may still take before a limit is looked at again (roomForMessage). */
  room: number;
  /** DATA: Failure.None while the body is stored. */
  failed: Failure;
}

/** The commands handled here (HANDLERS says in which states). Upper-case keys: no client word can name an Object.prototype member. */
const VERBS = { EHLO: 1, HELO: 1, MAIL: 1, RCPT: 1, DATA: 1, RSET: 1, NOOP: 1, VRFY: 1, HELP: 1, QUIT: 1 };
/** Real SMTP commands not implemented here: 502, not 500. */
const UNIMPLEMENTED = { EXPN: 1, TURN: 1, ETRN: 1, AUTH: 1, STARTTLS: 1, BDAT: 1, SEND: 1, SOML: 1, SAML: 1 };
/** VERBS or UNIMPLEMENTED looked up by a word from the client. */
type Words = { readonly [word: string]: number | undefined };

/** Errors a session may make before it is dropped (HTTP requests, garbage). */
const MAX_ERRORS = 20;

function outOfOrder(state: State, verb: Verb): string {
  if (state === State.Fresh) return "503 5.5.1 Send EHLO or HELO first";
  if (verb === "MAIL") return "503 5.5.1 Nested MAIL command (RSET first)";
  if (verb === "RCPT") return "503 5.5.1 Send MAIL first";
  if (verb === "DATA") return state === State.Mail ? "503 5.5.1 No valid recipients" : "503 5.5.1 Send MAIL first";
  return "503 5.5.1 Bad sequence of commands";
}

// ---- the handlers, and which state allows which ----

const ehlo: Handler = function (s, arg) { s.ehlo(arg, true); };
const helo: Handler = function (s, arg) { s.ehlo(arg, false); };
const mail: Handler = function (s, arg) { s.mail(arg); };
const rcpt: Handler = function (s, arg) { s.rcpt(arg); };
const data: Handler = function (s, arg) { s.data(arg); };
const rset: Handler = function (s) { s.rset(); };
const noop: Handler = function (s) { s.reply("250 2.0.0 Ok"); };
const vrfy: Handler = function (s) { s.reply("252 2.5.0 Cannot VRFY user, but will accept message for local users"); };
const help: Handler = function (s) {
  s.reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT");
};
const quit: Handler = function (s) { s.quit(); };

/** The commands every state outside DATA allows, plus the state's own. */
function table(own: StateTable): StateTable {
  own.EHLO = ehlo;
  own.HELO = helo;
  own.RSET = rset;
  own.NOOP = noop;
  own.VRFY = vrfy;
  own.HELP = help;
  own.QUIT = quit;
  return own;
}

/** One table per state, every state named (the type requires it). */
const HANDLERS: { readonly [S in State]: StateTable } = {
  [State.Fresh]: table({}),
  [State.Idle]: table({ MAIL: mail }),
  [State.Mail]: table({ RCPT: rcpt }),
  [State.Rcpt]: table({ RCPT: rcpt, DATA: data }),
  [State.WaitFile]: {},
  [State.Data]: {},
  [State.Closing]: {},
};
