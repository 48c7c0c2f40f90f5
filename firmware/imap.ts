/**
 * IMAP4rev1 serving (RFC 3501; what RFC 9051 clients send is accepted) as a
 * state machine: not authenticated, authenticated, selected, logout. A
 * command is checked against the state it arrives in (as WildDuck's
 * imap-core does) and reaches the mail only through the mailbox boundary
 * (mailbox.ts: folders, maildrops, flags, copy). Line framing and literals
 * are imapparse.ts's; FETCH and SEARCH are jobs streamed by imapfetch.ts and
 * imapsearch.ts, so a 25 MB message or 10,000 results never sit in memory.
 *
 * One command runs at a time. While a job streams its answer (FETCH,
 * STORE, SEARCH) the reader goes on: an APPEND's message goes to the card
 * as it comes (its answer queued behind the job's), and the next other
 * command waits parsed while reading stops. Input that arrives while
 * reading is stopped (that command waiting, a COPY on the card, a failed
 * login being delayed) is held, bounded: the boards cannot pause a socket
 * (PLATFORMS.md), so more ends the session. A session's view of its
 * folder (the listing it was last told about) changes only when it reports
 * the difference: EXPUNGE, EXISTS and FETCH FLAGS (RFC 3501 5.2, 7.4.1).
 */
import type { Config } from "./config";
import type { Connection, ConnectionEvents, Hal, Timer } from "./hal";
import { decimal, parseDecimal } from "./num";
import { ChunkSource, Sender } from "./sender";
import { Access, Delivery, Folder, Listing, Mailbox, Maildrop, StoredFlag } from "./mailbox";
import { FILE_WAIT_SECONDS, Service, SessionList, SocketBudget } from "./sessions";
import { find, lower, upper } from "./text";
import { Keyword } from "./mailindex";
import { CommandReader, decodeMailboxName, ImapCommand, inSet, matchPattern, parseSet, quote, ReaderEvents, Token } from "./imapparse";
import { FetchSource, fetchJob, flagList, nextInSet, parseFetchItems, SelectedView } from "./imapfetch";
import { parseSearch, searchJob } from "./imapsearch";

/** Advertised at the greeting, by CAPABILITY and after LOGIN (RFC 3501 7.2.1). No STARTTLS: plain text on the LAN, like POP3. */
const CAPABILITIES = "IMAP4rev1 LITERAL+ SASL-IR ID IDLE NAMESPACE UIDPLUS MOVE UNSELECT ENABLE SPECIAL-USE CHILDREN AUTH=PLAIN";
/** The system flags in StoredFlag's bit order (1, 2, 4, 8, 16). */
const FLAG_NAMES = ["\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted"];
const ALL_FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
/** RFC 6154 special-use folders, created for every user at login: name and attribute. */
const SPECIAL = " Sent:\\Sent Drafts:\\Drafts Trash:\\Trash Junk:\\Junk Archive:\\Archive ";

const enum Limit {
  /** Unknown or out-of-state commands a session may send before it is dropped (as SMTP's and POP3's 20). */
  Errors = 20,
  /** Octets of input held while a command is in flight (pipelined commands); more ends the session. */
  Held = 16384,
  /** Folders per user besides INBOX: each costs a name in RAM. */
  Folders = 32,
  /** Octets of a folder name. */
  Name = 200,
  /** Messages a STORE job handles per chunk it sends. */
  Batch = 32,
}

/** What the command in flight lets the reader do (ImapSession.waiting). */
const enum Wait {
  /** No command in flight. */
  None = 0,
  /** COPY on the card or a delayed login answer: reading stops, input is held. */
  Blocked = 1,
  /** A job streams its answer, or has and its done() is on a timer: reading goes on (APPENDs stream, the next other command waits parsed). */
  Job = 2,
}

/** An APPEND whose message is being read (one object, made only then): the card's file, the command's tag, the folder's owner key, flags, INTERNALDATE; `failed` once the card refused a write. */
interface Appending {
  delivery: Delivery;
  tag: string;
  to: string;
  flags: number;
  /** The keywords of its flag list, as the client spelt them. */
  keywords: string[];
  time: number;
  failed: string;
}

const enum State {
  NotAuthenticated = 0,
  Authenticated = 1,
  Selected = 2,
  Logout = 3,
}

/**
 * The commands each state allows, as " NAME " lists searched with one
 * native call (no table of tables in RAM). RFC 3501 6.1-6.4 and the
 * extensions' sections.
 */
const ANY = " CAPABILITY NOOP LOGOUT ID ";
const NOT_AUTHENTICATED = ANY + "LOGIN AUTHENTICATE ";
const AUTHENTICATED = ANY + "SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB STATUS APPEND NAMESPACE ENABLE IDLE ";
const SELECTED = AUTHENTICATED + "CHECK CLOSE UNSELECT EXPUNGE SEARCH FETCH STORE COPY MOVE UID ";
const ALLOWED = [NOT_AUTHENTICATED, AUTHENTICATED, SELECTED, ""];

type Handler = (session: ImapSession, cmd: ImapCommand) => void;

export class ImapServer implements Service {
  sessions: SessionList<ImapSession>;
  /**
   * Per folder (owner key), the UID from which messages are \Recent for the
   * next session that selects it (RFC 3501 2.3.2: recent in one session
   * only). In RAM only: after a restart every message is old.
   */
  recentFrom: { [owner: string]: number } = {};

  /** `budget`: the sockets shared with the other services (main.ts); a budget of its own when not given. */
  constructor(public hal: Hal, public config: Config, public mailbox: Mailbox, budget?: SocketBudget) {
    this.sessions = new SessionList<ImapSession>("imap", budget || { config: config, listeners: 0, lists: [] });
    const server = this;
    // A folder changed (delivery, another session, POP3's QUIT, the web page): IDLE sessions on it hear of it now.
    mailbox.onChange = function (owner: string) {
      const all = server.sessions.items;
      // lineTag is IDLE's when a folder is selected (owner set); AUTHENTICATE's comes before that.
      for (let i = 0; i < all.length; i++) {
        if (all[i].lineTag === undefined || all[i].owner !== owner) continue;
        try {
          all[i].report(true);
        } catch (e) {
          // The card failed while the IDLE looked: not the committer's error (this runs inside its call); the next command hears of it.
        }
      }
    };
    // A message's structure is built (after its delivery, in steps): FETCHes waiting for it go on.
    mailbox.onStructureReady = function () {
      server.retryWaiting();
    };
  }

  /** A job's "" yields the loop through a timer (a long SEARCH that finds nothing for a while does not hold it): one function for every session's Sender. */
  defer = (resume: () => void): void => {
    this.hal.setTimer(0, resume);
  };

  /** An arrow bound to this server: main.ts hands it to hal.listen as it is. */
  accept = (conn: Connection): ConnectionEvents => {
    const session = new ImapSession(this, conn);
    if (!this.sessions.admit(session)) {
      session.reply("* BYE [UNAVAILABLE] Too many connections, try again later");
      session.close();
    } else if (!this.mailbox.card.available()) {
      this.sessions.remove(session);
      session.reply("* BYE [UNAVAILABLE] Mail storage unavailable, try again later");
      session.close();
    } else session.reply("* OK [CAPABILITY " + CAPABILITIES + "] letterbox IMAP4rev1 server ready");
    return this.sessions.events(session);
  };

  /** Open sessions logged in as `user` (any state but logout). */
  loggedIn(user: string): number {
    const all = this.sessions.items;
    let n = 0;
    for (let i = 0; i < all.length; i++) if (all[i].user === user && all[i].state !== State.Logout) n++;
    return n;
  }

  sweep(now: number): void {
    // RFC 3501 5.4: at least 30 minutes (services.imap.idleSeconds); an IDLE costs no timer, only this sweep.
    this.sessions.sweep(now, this.config.services.imap.idleSeconds, "* BYE Idle for too long, closing connection");
    this.retryWaiting();
  }

  /** Jobs waiting for a message file try again (one may have been freed). */
  retryWaiting(): void {
    const all = this.sessions.items.slice();
    for (let i = 0; i < all.length; i++) all[i].sender.retry();
  }
}

export class ImapSession implements SelectedView, ReaderEvents {
  state = State.NotAuthenticated;
  sender: Sender;
  lastActive: number;
  active = false;
  /** The logged-in user, "" before. */
  user = "";
  /** Selected: the folder's maildrop (opened shared) and its owner key (ownerOf); maildrop.list is this session's view. */
  maildrop: Maildrop = undefined as unknown as Maildrop;
  owner = "";
  readOnly = false;
  /** UIDs from recentUid up to (not including) recentEnd are \Recent in this session: it was the first told of them. */
  recentUid = 0;
  recentEnd = 0;
  /**
   * The tag of the command whose next input line goes to onContinuation:
   * AUTHENTICATE's (before LOGIN) or IDLE's (after it).
   *
   * Memory: every field costs Espruino variables, and on Lua a session
   * table's hash part doubles at its 17th key (16 -> 32 nodes, ~450 bytes,
   * kept once grown). So one field serves both; and lineTag, next, app and
   * delayTimer, which are never set at the same time, are undefined (no
   * key on Lua) when unused, leaving 15 keys with a folder selected.
   */
  lineTag: string | undefined = undefined;
  /** The command in flight (Wait): what the reader may do meanwhile. */
  private waiting = Wait.None;
  /** A command read while a job ran: it runs when the job is done; reading stops until then. */
  private next: ImapCommand | undefined = undefined;
  /** Input that came while reading was stopped (Limit.Held at most). */
  private held = "";
  /**
   * Input passed Limit.Held: what is held is answered, then the session ends
   * (hold). No initial value: a field set in the constructor is one more
   * table slot in every Lua session (a 17th doubles the table), for a case
   * that ends the session anyway.
   */
  private overflow?: boolean;
  private errors = 0;
  private reader: CommandReader;
  private delayTimer: Timer | undefined = undefined;
  private app: Appending | undefined = undefined;

  constructor(public server: ImapServer, conn: Connection) {
    this.sender = new Sender(conn, server.defer);
    this.lastActive = server.hal.now();
    // The session is the reader's events object itself: no closures per session (each costs Espruino variables).
    this.reader = new CommandReader(this);
  }

  reply(line: string): void {
    if (!this.sender.send(line + "\r\n")) {
      // The client reads too little: it is not worth its memory.
      this.state = State.Logout;
      this.sender.closeWhenDone();
    }
  }

  close(): void {
    this.deselect();
    this.state = State.Logout;
    this.sender.closeWhenDone();
  }

  gone(): void {
    if (this.delayTimer !== undefined) this.delayTimer.cancel();
    this.delayTimer = undefined;
    if (this.app !== undefined) this.app.delivery.abort();
    this.app = undefined;
    this.next = undefined;
    this.deselect();
    this.sender.dropped();
    this.state = State.Logout;
  }

  receive(data: string): void {
    // Past the held limit the session only answers what it holds, then ends (hold): later input is dropped.
    if (this.state === State.Logout || this.overflow) return;
    this.feed(data);
  }

  /** Reads `data` (from the socket, or held input given back by done()) until reading stops; the rest is held. */
  private feed(data: string): void {
    if (this.stopped() || this.held.length > 0) {
      this.hold(data);
      return;
    }
    const session = this;
    const rest = this.reader.push(data, function () {
      return session.stopped();
    });
    if (rest.length > 0 && (this.state as State) !== State.Logout) this.hold(rest);
    else if (this.overflow && !this.stopped()) {
      // Every whole command held has been answered: the client is told why the rest is not.
      this.reply("* BYE Too much input while a command runs");
      this.state = State.Logout;
      this.sender.closeWhenDone();
    }
  }

  /** Reading stops: the session ends, a command waits parsed, or the one in flight lets nothing be read (Wait.Blocked). */
  private stopped(): boolean {
    return this.state === State.Logout || this.next !== undefined || this.waiting === Wait.Blocked;
  }

  /**
   * Keeps input that cannot be read now, up to Limit.Held octets (the boards
   * cannot pause a socket). Past it the input is kept up to its last line end
   * within the limit and the session is marked `overflow`: the commands held
   * are still answered (a client pipelining hundreds of FETCHes, as mbsync's
   * first sync does, gets that many answers and keeps them), then feed()
   * says BYE; a command cut short there is never run.
   */
  private hold(data: string): void {
    if (this.held.length + data.length > Limit.Held) {
      // Once per session, over one chunk: a scan back to the last line end that fits.
      let cut = Limit.Held - this.held.length;
      while (cut > 0 && data.charCodeAt(cut - 1) !== 10) cut--;
      this.held += data.substring(0, cut);
      this.overflow = true;
      return;
    }
    this.held += data;
  }

  /** ReaderEvents: an inline literal announced (within the reader's limit); a synchronizing one is invited. */
  onLiteral(tag: string, size: number, sync: boolean): boolean {
    if (sync) this.reply("+ Ready for literal data");
    return true;
  }

  /** The next input line goes to onContinuation(), not the parser: AUTHENTICATE's response, or IDLE's DONE. */
  expectLine(tag: string): void {
    this.lineTag = tag;
    this.reader.expectLine();
  }

  /** A command is in flight (COPY on the card): input waits until done(). */
  waitForIt(): void {
    this.waiting = Wait.Blocked;
  }

  /**
   * Streams a job's replies (the job answers the tag last). Meanwhile the
   * reader goes on (Wait.Job): an APPEND streams to the card, its answer
   * queued behind the job's in the Sender; another command waits parsed
   * (`next`) until done(). done() runs on a timer of its own: the job ends
   * inside the Sender, which must finish its step before the next command
   * queues anything (one send outstanding).
   *
   * A job that waits (blocked: no message file free, a structure being
   * built) gives up after FILE_WAIT_SECONDS, as POP3's RETR does: with
   * `tag NO [UNAVAILABLE]` when nothing of its answer was sent (`tag`: the
   * command's; STORE never waits), else the session ends (half an answer
   * cannot be finished honestly). Checked when the job is retried (the
   * sweep, once a second; a structure built).
   */
  runJob(job: FetchSource, set: number[] | undefined, byUid: boolean, tag?: string): void {
    const session = this;
    const hal = this.server.hal;
    /** Since when the job waits (-1: it does not), whether any of its answer went out, whether it gave up. */
    let since = -1;
    let sent = false;
    let over = false;
    this.waiting = Wait.Job;
    // A card failure inside a literal: the answer cannot be finished honestly, so the session ends after it.
    job.onCardError = function () {
      session.close();
    };
    this.sender.stream(function (): ChunkSource {
      const source: ChunkSource = {
        blocked: false,
        next: function () {
          if (over) return undefined;
          try {
            const chunk = job.next();
            source.blocked = job.blocked;
            if (!job.blocked) since = -1;
            else if (since < 0) since = hal.now();
            else if (hal.now() - since >= FILE_WAIT_SECONDS) {
              hal.log("imap: gave up waiting for a message file or structure");
              source.blocked = false;
              over = true;
              if (!sent && tag !== undefined) return tag + " NO [UNAVAILABLE] The message cannot be read now, try again later\r\n";
              session.close();
              return undefined;
            }
            if (chunk !== undefined && chunk.length > 0) sent = true;
            return chunk;
          } catch (e) {
            // Half an answer cannot be finished honestly: the client is told by the connection's end.
            session.server.hal.log("imap: " + (e as Error).message);
            session.close();
            return undefined;
          }
        },
        release: function () {
          job.release();
          // Meanwhile the reader goes on as while the job ran (Wait.Job): nothing waits longer than this timer.
          session.server.hal.setTimer(0, function () {
            if (session.state === State.Logout) return; // the session ended meanwhile
            if (set !== undefined) session.settle(set, byUid);
            session.done();
          });
        },
      };
      return source;
    });
  }

  /** The command in flight is done: the command that waited runs, then what was held is read. */
  done(): void {
    this.waiting = Wait.None;
    const next = this.next;
    this.next = undefined;
    if (next !== undefined && this.state !== State.Logout) this.onCommand(next);
    const held = this.held;
    this.held = "";
    if (held.length > 0) this.feed(held);
    else if (this.overflow && this.state !== State.Logout) this.feed("");
  }

  /** ReaderEvents: a malformed command or one over a limit (imapparse.ts). */
  onBad(tag: string, text: string): void {
    // The reader gave up on an APPEND after its message (more followed: MULTIAPPEND): nothing is stored.
    if (this.app !== undefined) {
      this.app.delivery.abort();
      this.app = undefined;
    }
    this.errors++;
    if (this.errors >= Limit.Errors) {
      this.reply("* BYE Too many errors, closing connection");
      this.close();
      return;
    }
    this.reply(tag + " BAD " + text);
  }

  /** ReaderEvents: a whole command. */
  onCommand(cmd: ImapCommand): void {
    if (this.waiting !== Wait.None) {
      // Read while a job runs: it waits for the job, parsed; reading stops (stopped()).
      this.next = cmd;
      return;
    }
    const name = cmd.name;
    const word = name.substring(0, 4) === "UID " ? "UID" : name;
    const handler = (HANDLERS as { [name: string]: Handler | undefined })[name];
    if (handler === undefined || word.indexOf(" ") >= 0) {
      this.onBad(cmd.tag, "Unknown command " + word.substring(0, 32));
      return;
    }
    if (find(ALLOWED[this.state], " " + word + " ", 0) < 0) {
      const why = this.state === State.NotAuthenticated ? "before LOGIN" : find(NOT_AUTHENTICATED, " " + word + " ", 0) >= 0 ? "after LOGIN" : this.state === State.Authenticated ? "before SELECT" : "now";
      this.onBad(cmd.tag, word + " is not allowed " + why);
      return;
    }
    try {
      handler(this, cmd);
    } catch (e) {
      // A card error (or one the card's absence caused): the session goes on.
      this.server.hal.log("imap: " + name + " failed: " + (e as Error).message);
      this.reply(cmd.tag + " NO [UNAVAILABLE] Mail storage unavailable, try again later");
      this.waiting = Wait.None;
    }
  }

  // ---- logging in ----

  /** Checks a login (LOGIN or AUTHENTICATE PLAIN) through the mailbox's throttle; answers `tag`. */
  login(tag: string, name: string, password: string, method: string): void {
    const server = this.server;
    const result = server.mailbox.authenticate({ service: "imap", method: method, name: name, secret: password, challenge: "" }, this.sender.conn.remoteAddress);
    if (result.user.length > 0) {
      // The cap per user (services.imap.perUser): one user's devices leave sessions to the others.
      const cap = server.config.services.imap.perUser;
      if (cap > 0 && server.loggedIn(result.user) >= cap) {
        this.reply(tag + " NO [LIMIT] Too many connections for this user, at most " + decimal(cap));
        return;
      }
      server.mailbox.ensureSpecialFolders(result.user);
      this.user = result.user;
      this.state = State.Authenticated;
      server.hal.log("imap: " + result.user + " logged in");
      this.reply(tag + " OK [CAPABILITY " + CAPABILITIES + "] Logged in");
      return;
    }
    if (result.lockedSeconds > 0) {
      this.reply(tag + " NO [UNAVAILABLE] Too many failed logins, try again in " + decimal(result.lockedSeconds) + " seconds");
      return;
    }
    // The answer to a failure waits (the throttle's delay); so does the input behind it.
    const session = this;
    this.waiting = Wait.Blocked;
    this.delayTimer = server.hal.setTimer(result.delayMs, function () {
      session.delayTimer = undefined;
      session.reply(tag + " NO [AUTHENTICATIONFAILED] Authentication failed");
      session.done();
    });
  }

  /** A line the reader was told to pass on whole: AUTHENTICATE's response (RFC 3501 6.2.2) or IDLE's DONE (RFC 2177). */
  onContinuation(line: string): void {
    const tag = this.lineTag as string;
    this.lineTag = undefined;
    if (this.state !== State.NotAuthenticated) {
      if (upper(line) === "DONE") this.reply(tag + " OK IDLE terminated");
      else this.reply(tag + " BAD Expected DONE");
      return;
    }
    if (line === "*") this.reply(tag + " BAD Authentication cancelled");
    else this.plain(tag, line);
  }

  /** SASL PLAIN (RFC 4616): base64 of authzid NUL authcid NUL password; an authzid other than authcid is refused. */
  plain(tag: string, response: string): void {
    const text = response === "=" ? "" : fromBase64(response);
    const first = text === undefined ? -1 : text.indexOf("\u0000");
    const second = first < 0 ? -1 : (text as string).indexOf("\u0000", first + 1);
    if (second < 0) {
      this.reply(tag + " BAD Invalid SASL PLAIN response");
      return;
    }
    const s = text as string;
    const authz = s.substring(0, first);
    const authc = s.substring(first + 1, second);
    if (authz.length > 0 && lower(authz) !== lower(authc)) {
      this.reply(tag + " NO [AUTHORIZATIONFAILED] Cannot act as another user");
      return;
    }
    this.login(tag, authc, s.substring(second + 1), "AUTHENTICATE PLAIN");
  }

  // ---- the selected folder ----

  /** The session's view: message i is sequence number i + 1. */
  recent(i: number): boolean {
    return this.isRecent(this.maildrop.list.seq(i));
  }

  isRecent(uid: number): boolean {
    return uid >= this.recentUid && uid < this.recentEnd;
  }

  /** Leaves the selected folder (no expunge). */
  deselect(): void {
    if (this.owner.length === 0) return;
    this.maildrop.close();
    this.maildrop = undefined as unknown as Maildrop;
    this.owner = "";
    if (this.state === State.Selected) this.state = State.Authenticated;
  }

  /**
   * Tells the client how its folder changed since its view was made, and
   * takes the folder as it is now for its view: EXPUNGE for each message
   * gone (numbers as the client counts after the ones before), FETCH FLAGS
   * for changed flags, EXISTS (and RECENT) when there are new ones.
   * `expunges` false: only flags and EXISTS (during FETCH, STORE and SEARCH
   * RFC 3501 7.4.1 forbids EXPUNGE; the view keeps the gone ones then).
   */
  report(expunges: boolean): void {
    if (this.state !== State.Selected) return;
    const old = this.maildrop.list;
    const now = this.maildrop.refresh();
    // A keyword new to the user's table (or one no message has any more): FLAGS first (RFC 3501 7.2.6).
    if (now.names !== old.names) this.reply(flagLines(this));
    let j = 0;
    let gone = 0;
    for (let i = 0; i < old.count; i++) {
      const uid = old.seq(i);
      while (j < now.count && now.seq(j) < uid) j++; // cannot happen: a folder only grows at its end
      if (j < now.count && now.seq(j) === uid) {
        if (now.flags(j) !== old.flags(i) || now.keywords(j) !== old.keywords(i)) this.reply("* " + decimal(i + 1 - gone) + " FETCH (FLAGS " + flagList(now.flags(j), this.isRecent(uid), this.maildrop.keywordText(now.keywords(j))) + ")");
        j++;
      } else if (expunges) {
        this.reply("* " + decimal(i + 1 - gone) + " EXPUNGE");
        gone++;
      } else return; // the view must keep its numbers: wait for a command that may expunge
    }
    if (now.count !== old.count - gone) {
      // New messages are \Recent here when no other session was told of them first (RFC 3501 2.3.2).
      const first = now.seq(j);
      const server = this.server;
      if (!this.readOnly && (server.recentFrom[this.owner] || 0) <= first) {
        if (this.recentEnd !== first) this.recentUid = first;
        this.recentEnd = now.seq(now.count - 1) + 1;
        server.recentFrom[this.owner] = this.recentEnd;
      }
      this.reply("* " + decimal(now.count) + " EXISTS");
      let recent = 0;
      for (let k = 0; k < now.count; k++) if (this.isRecent(now.seq(k))) recent++;
      this.reply("* " + decimal(recent) + " RECENT");
    }
    this.maildrop.list = now;
  }

  /**
   * After this session's own FETCH or STORE changed flags of the messages
   * in `set`: its view takes the folder as it is now, so that those changes
   * (already told in the command's answers) are not reported again;
   * changes by others to the other messages are reported now. When
   * messages came or went meanwhile, nothing changes here: the next
   * report tells all (at worst a flag twice).
   */
  settle(set: number[], byUid: boolean): void {
    if (this.state !== State.Selected) return;
    const old = this.maildrop.list;
    let now: Listing;
    try {
      now = this.maildrop.refresh();
    } catch (e) {
      return; // the card failed (this runs on a timer, after the answer): the next command hears of it
    }
    if (now.count !== old.count) return;
    for (let i = 0; i < old.count; i++) if (now.seq(i) !== old.seq(i)) return;
    const star = byUid ? old.seq(old.count - 1) : old.count;
    if (now.names !== old.names) this.reply(flagLines(this));
    for (let i = 0; i < old.count; i++) {
      if ((now.flags(i) !== old.flags(i) || now.keywords(i) !== old.keywords(i)) && !inSet(set, byUid ? old.seq(i) : i + 1, star)) {
        this.reply("* " + decimal(i + 1) + " FETCH (FLAGS " + flagList(now.flags(i), this.isRecent(old.seq(i)), this.maildrop.keywordText(now.keywords(i))) + ")");
      }
    }
    this.maildrop.list = now;
  }

  /**
   * The sequence set in `token` ([lo, hi, ...], -1 for "*"), checked:
   * undefined (answered BAD here) when malformed, or when a sequence number
   * is beyond the view (RFC 3501 6.4.8; UIDs beyond it are simply none).
   */
  checkSet(tag: string, token: Token, byUid: boolean): number[] | undefined {
    const set = typeof token === "string" ? parseSet(token) : undefined;
    if (set === undefined) {
      this.reply(tag + " BAD Invalid sequence set");
      return undefined;
    }
    const count = this.maildrop.list.count;
    if (!byUid) {
      for (let k = 0; k < set.length; k++) {
        if (set[k] > count || (set[k] < 0 && count === 0)) {
          this.reply(tag + " BAD No message " + (set[k] < 0 ? "*" : decimal(set[k])) + " in this folder");
          return undefined;
        }
      }
    }
    return set;
  }

  /** The view's indexes of the messages in the set in `token` (as checkSet), ascending. */
  indexes(tag: string, token: Token, byUid: boolean): number[] | undefined {
    const set = this.checkSet(tag, token, byUid);
    if (set === undefined) return undefined;
    const out: number[] = [];
    for (let i = nextInSet(this.maildrop, set, byUid, -1); i >= 0; i = nextInSet(this.maildrop, set, byUid, i)) out.push(i);
    return out;
  }

  // ---- appending (RFC 3501 6.3.11, LITERAL+ RFC 7888) ----

  /** The reader found APPEND's message literal: check the folder, size and room; true to take its octets. */
  onAppendStart(cmd: ImapCommand, size: number, sync: boolean): boolean {
    const tag = cmd.tag;
    if (this.state !== State.Authenticated && this.state !== State.Selected) {
      this.onBad(tag, "APPEND is not allowed before LOGIN");
      return false;
    }
    const args = cmd.args;
    const folder = typeof args[0] === "string" ? this.findFolder(args[0] as string) : undefined;
    let flags = 0;
    let time = this.server.hal.now();
    let k = 1;
    const names: string[] = [];
    if (k < args.length && typeof args[k] !== "string") {
      const bits = parseFlagList(args[k], names);
      if (bits < 0) {
        this.reply(tag + " BAD Invalid flag list");
        return false;
      }
      // Its keywords take their slots now, so that a full table is refused before the message is sent.
      let keys = 0;
      try {
        if (names.length > 0) keys = keywordBits(this, tag, names);
      } catch (e) {
        this.reply(tag + " NO [UNAVAILABLE] Mail storage unavailable, try again later");
        return false;
      }
      if (keys < 0) return false;
      flags = bits;
      k++;
    }
    if (k < args.length) {
      time = parseDateTime(args[k] as string);
      if (time < 0) {
        this.reply(tag + " BAD Invalid date-time");
        return false;
      }
    }
    const limits = this.server.config.limits;
    const card = this.server.mailbox.card;
    let refusal = "";
    if (folder === undefined) refusal = "NO [TRYCREATE] No such folder";
    else if (size > limits.maxMessageBytes) refusal = "NO [TOOBIG] Message larger than " + decimal(limits.maxMessageBytes) + " octets";
    else if (card.usage(this.user) + size > limits.mailboxQuotaBytes) refusal = "NO [OVERQUOTA] Mailbox full";
    else if (card.cardFull) refusal = "NO [OVERQUOTA] The card is full";
    else if (card.indexFull()) refusal = "NO [LIMIT] The box holds all the messages its memory allows, try again later";
    let delivery: Delivery | undefined = undefined;
    try {
      if (refusal.length === 0) delivery = card.beginMessage();
      if (refusal.length === 0 && delivery === undefined) refusal = "NO [UNAVAILABLE] Message files busy, try again";
    } catch (e) {
      refusal = "NO [UNAVAILABLE] Mail storage unavailable, try again later"; // the card failed (pulled, power): as SMTP's DATA
    }
    if (refusal.length > 0) {
      // A synchronizing literal is never sent; a non-synchronizing one is read and dropped by the reader.
      this.reply(tag + " " + refusal);
      return false;
    }
    this.app = { delivery: delivery as Delivery, tag: tag, to: this.ownerOf((folder as Folder).id), flags: flags, keywords: names, time: time, failed: "" };
    if (sync) this.reply("+ Ready for literal data");
    return true;
  }

  onAppendData(chunk: string): void {
    const app = this.app;
    if (app === undefined || app.failed.length > 0) return;
    try {
      app.delivery.write(chunk);
    } catch (e) {
      app.failed = (e as Error).message;
    }
  }

  /**
   * The message is all on the card: committed now. While a job runs, the
   * answer queues behind the job's in the Sender and the view is not
   * reported (a FETCH's numbers must not move under it): the next command
   * that reports tells the EXISTS.
   */
  onAppendEnd(): void {
    const app = this.app as Appending;
    const tag = app.tag;
    const delivery = app.delivery;
    this.app = undefined;
    if (app.failed.length > 0) {
      delivery.abort();
      this.reply(tag + " NO [UNAVAILABLE] The card refused the message: " + app.failed);
      return;
    }
    try {
      // The keywords' slots again: a compaction meanwhile may have freed one no message used yet.
      const keys = app.keywords.length > 0 ? this.server.mailbox.store.keywordBits(this.user, app.keywords, true) : 0;
      if (keys < 0) throw new Error("too many keywords");
      delivery.commit([app.to], app.time, app.flags, keys);
    } catch (e) {
      delivery.abort();
      this.reply(tag + " NO [UNAVAILABLE] The message could not be stored: " + (e as Error).message);
      return;
    }
    try {
      if (this.waiting === Wait.None) this.report(true);
    } catch (e) {
      // Stored; the card failed after it (this runs in the socket's callback, no caller catches): the next command hears of it.
    }
    this.reply(tag + " OK [APPENDUID " + decimal(this.server.mailbox.uidValidity()) + " " + decimal(delivery.seq) + "] APPEND completed");
  }

  // ---- folders ----

  /** The owner key of this user's folder `id` (mailbox.ts: INBOX is the user's name). */
  ownerOf(id: number): string {
    return id === 0 ? this.user : this.user + "/" + decimal(id);
  }

  /** This user's folder called `name` (INBOX in any letter case), or undefined. */
  findFolder(name: string): Folder | undefined {
    const folders = this.server.mailbox.folders(this.user);
    const inbox = upper(name) === "INBOX";
    for (let i = 0; i < folders.length; i++) if (inbox ? folders[i].id === 0 : folders[i].name === name) return folders[i];
    return undefined;
  }

  /** A name CREATE or RENAME may give a folder: valid modified UTF-7, no empty level, not INBOX; else the NO/BAD text. */
  checkName(name: string): string {
    if (name.length === 0 || name.length > Limit.Name || decodeMailboxName(name) === undefined) return "BAD Invalid folder name";
    if (name.charAt(0) === "/" || find(name, "//", 0) >= 0 || name.indexOf("*") >= 0 || name.indexOf("%") >= 0) return "NO [CANNOT] Invalid folder name";
    if (upper(name) === "INBOX") return "NO [ALREADYEXISTS] INBOX exists";
    if (upper(name.substring(0, 6)) === "INBOX/") return "NO [CANNOT] INBOX has no subfolders here";
    if (this.findFolder(name) !== undefined) return "NO [ALREADYEXISTS] Folder exists";
    return "";
  }

  /** The attributes LIST shows for a folder: children (RFC 3348) and special use (RFC 6154). */
  attributes(folders: Folder[], f: Folder): string {
    let children = false;
    const prefix = f.name + "/";
    for (let i = 0; i < folders.length; i++) if (folders[i].name.substring(0, prefix.length) === prefix) children = true;
    let out = children ? "\\HasChildren" : "\\HasNoChildren";
    const at = find(SPECIAL, " " + f.name + ":", 0);
    if (at >= 0) out += " " + SPECIAL.substring(SPECIAL.indexOf(":", at) + 1, SPECIAL.indexOf(" ", at + 1));
    return out;
  }
}

/**
 * Stored flag bits of a parenthesised flag list (RFC 3501 9, flag-list),
 * its keywords (atoms, as the client spelt them) pushed on `keywords`; -1
 * when it names something else than flags.
 */
export function parseFlagList(token: Token, keywords: string[]): number {
  const list = typeof token === "string" ? [token] : token;
  let bits = 0;
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== "string") return -1;
    const name = upper(list[i] as string);
    let known = false;
    for (let b = 0; b < FLAG_NAMES.length; b++) {
      if (name === upper(FLAG_NAMES[b])) {
        bits = bits | (1 << b);
        known = true;
      }
    }
    if (known) continue;
    // \Recent cannot be stored; any other backslash name is no flag; a keyword is an atom (no space, CTL, 8-bit or atom-special).
    if (name.length === 0 || name.charAt(0) === "\\") return -1;
    for (let c = 0; c < name.length; c++) {
      const code = name.charCodeAt(c);
      if (code <= 32 || code >= 127 || ATOM_SPECIALS.indexOf(name.charAt(c)) >= 0) return -1;
    }
    keywords.push(list[i] as string);
  }
  return bits;
}

/** Characters no atom has besides CTL, space and 8-bit (RFC 3501 9, atom-specials; "]" as resp-specials). */
const ATOM_SPECIALS = '(){%*"\\]';

/**
 * The bits of keywords `names` in the session's user's table (MailStore.keywordBits;
 * a new name takes a slot, one K record); -1 after answering `tag NO [LIMIT]`: a
 * name longer than Keyword.Length octets, or no slot left (PERMANENTFLAGS then
 * has no \*, RFC 3501 7.1). Throws card errors.
 */
function keywordBits(session: ImapSession, tag: string, names: string[]): number {
  for (let i = 0; i < names.length; i++) {
    if (names[i].length > Keyword.Length) {
      session.reply(tag + " NO [LIMIT] A keyword is at most " + decimal(Keyword.Length) + " octets");
      return -1;
    }
  }
  const bits = session.server.mailbox.store.keywordBits(session.user, names, true);
  if (bits < 0) session.reply(tag + " NO [LIMIT] At most " + decimal(Keyword.Max) + " keywords per user");
  return bits;
}

/** The FLAGS and PERMANENTFLAGS lines (RFC 3501 7.2.6, 7.1) of the session's folder: the system flags and the user's keywords; \* while the table has room. */
function flagLines(session: ImapSession): string {
  const keywords = session.server.mailbox.store.keywords;
  const names = keywords.text(session.user, 0x7fffffff);
  const permanent = session.readOnly ? "" : ALL_FLAGS + names + (keywords.free(session.user) >= 0 ? " \\*" : "");
  return "* FLAGS (" + ALL_FLAGS + names + ")\r\n* OK [PERMANENTFLAGS (" + permanent + ")] Flags permitted";
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/** Seconds since 1970 of an RFC 3501 date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be " 1"); -1 when invalid. */
export function parseDateTime(s: string): number {
  if (s.length !== 26 && s.length !== 25) return -1;
  if (s.length === 25) s = " " + s;
  const day = parseDecimal(s.charAt(0) === " " ? s.substring(1, 2) : s.substring(0, 2));
  const at = find(MONTHS, s.substring(3, 6), 0);
  const month = at % 3 === 0 ? at / 3 + 1 : -1;
  const year = parseDecimal(s.substring(7, 11));
  const hour = parseDecimal(s.substring(12, 14));
  const minute = parseDecimal(s.substring(15, 17));
  const second = parseDecimal(s.substring(18, 20));
  const zone = parseDecimal(s.substring(22, 26));
  const sign = s.charAt(21) === "-" ? -1 : s.charAt(21) === "+" ? 1 : 0;
  if (day < 1 || day > 31 || month < 1 || month % 1 !== 0 || year < 1970 || year > 2037 || hour > 23 || minute > 59 || second > 60 || zone < 0 || sign === 0) return -1;
  if (s.charAt(2) !== "-" || s.charAt(6) !== "-" || s.charAt(11) !== " " || s.charAt(14) !== ":" || s.charAt(17) !== ":" || s.charAt(20) !== " ") return -1;
  // Days from the civil date (H. Hinnant's algorithm, as date.ts; all values small integers).
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  const offset = sign * (Math.floor(zone / 100) * 3600 + (zone % 100) * 60);
  const t = days * 86400 + hour * 3600 + minute * 60 + second - offset;
  return t < 0 ? 0 : t;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Octets of base64 text (RFC 4648 4; padding optional), or undefined when it has other characters. */
export function fromBase64(s: string): string | undefined {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === "=") break;
    const v = B64.indexOf(c);
    if (v < 0) return undefined;
    acc = (acc % 256) * 64 + v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode(Math.floor(acc / (1 << bits)) % 256);
    }
  }
  return out;
}

/** "1:3,7" for ascending numbers (COPYUID's uid-set, RFC 4315 3). */
function uidSet(uids: number[]): string {
  let out = "";
  for (let i = 0; i < uids.length; i++) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j] + 1) j++;
    out += (out.length > 0 ? "," : "") + decimal(uids[i]) + (j > i ? ":" + decimal(uids[j]) : "");
    i = j;
  }
  return out;
}

/** A token's text when it is a string (an atom or a string), else undefined. */
function text(token: Token | undefined): string | undefined {
  return typeof token === "string" ? token : undefined;
}

/** The STATUS items of a folder, in the order asked (RFC 3501 6.3.10); "" when one is unknown. */
function statusItems(session: ImapSession, folder: Folder, items: Token): string {
  if (typeof items === "string") return "";
  const drop = session.server.mailbox.openMaildrop(session.user, Access.Shared, folder.id) as Maildrop;
  const list = drop.list;
  drop.close();
  const owner = session.ownerOf(folder.id);
  const mark = session.server.recentFrom[owner] || 0;
  let out = "";
  for (let i = 0; i < items.length; i++) {
    const item = upper(text(items[i]) || "");
    let n = -1;
    if (item === "MESSAGES") n = list.count;
    else if (item === "UIDNEXT") n = session.server.mailbox.uidNext(session.user, folder.id);
    else if (item === "UIDVALIDITY") n = session.server.mailbox.uidValidity();
    else if (item === "UNSEEN" || item === "RECENT") {
      n = 0;
      for (let k = 0; k < list.count; k++) if (item === "UNSEEN" ? (list.flags(k) & StoredFlag.Seen) === 0 : list.seq(k) >= mark) n++;
    } else return "";
    out += (out.length > 0 ? " " : "") + item + " " + decimal(n);
  }
  return out;
}

/** SELECT and EXAMINE (RFC 3501 6.3.1, 6.3.2). */
function select(session: ImapSession, cmd: ImapCommand): void {
  const name = text(cmd.args[0]);
  session.deselect();
  const folder = name === undefined ? undefined : session.findFolder(name);
  if (folder === undefined) {
    session.reply(cmd.tag + (name === undefined ? " BAD SELECT needs a folder name" : " NO [NONEXISTENT] No such folder"));
    return;
  }
  const server = session.server;
  const drop = server.mailbox.openMaildrop(session.user, Access.Shared, folder.id) as Maildrop;
  const owner = session.ownerOf(folder.id);
  const list = drop.list;
  session.maildrop = drop;
  session.owner = owner;
  session.readOnly = cmd.name === "EXAMINE";
  session.state = State.Selected;
  // \Recent: what arrived since the last session selected this folder is recent here, and in no later session.
  session.recentUid = server.recentFrom[owner] || 0;
  const next = server.mailbox.uidNext(session.user, folder.id);
  session.recentEnd = next;
  if (!session.readOnly) server.recentFrom[owner] = next;
  let recent = 0;
  let unseen = 0;
  for (let i = 0; i < list.count; i++) {
    if (session.isRecent(list.seq(i))) recent++;
    if (unseen === 0 && (list.flags(i) & StoredFlag.Seen) === 0) unseen = i + 1;
  }
  session.reply("* " + decimal(list.count) + " EXISTS");
  session.reply("* " + decimal(recent) + " RECENT");
  session.reply(flagLines(session));
  if (unseen > 0) session.reply("* OK [UNSEEN " + decimal(unseen) + "] First unseen");
  session.reply("* OK [UIDVALIDITY " + decimal(server.mailbox.uidValidity()) + "] UIDs valid");
  session.reply("* OK [UIDNEXT " + decimal(next) + "] Predicted next UID");
  session.reply(cmd.tag + " OK [" + (session.readOnly ? "READ-ONLY" : "READ-WRITE") + "] " + cmd.name + " completed");
}

/** LIST and LSUB (RFC 3501 6.3.8, 6.3.9; RFC 6154 attributes; RFC 3348 children). */
function list(session: ImapSession, cmd: ImapCommand): void {
  const reference = text(cmd.args[0]);
  const pattern = text(cmd.args[1]);
  if (reference === undefined || pattern === undefined) {
    session.reply(cmd.tag + " BAD " + cmd.name + " needs a reference and a pattern");
    return;
  }
  if (pattern.length === 0 && cmd.name === "LIST") {
    session.reply('* LIST (\\Noselect) "/" ""');
  } else {
    const full = reference.length > 0 && reference.charAt(reference.length - 1) !== "/" && pattern.length > 0 ? reference + "/" + pattern : reference + pattern;
    const folders = session.server.mailbox.folders(session.user);
    for (let i = 0; i < folders.length; i++) {
      const f = folders[i];
      if (cmd.name === "LSUB" && !f.subscribed && f.id !== 0) continue;
      if (!matchPattern(f.id === 0 && upper(full.substring(0, 5)) === "INBOX" ? "INBOX" + full.substring(5) : full, f.name)) continue;
      session.reply("* " + cmd.name + " (" + session.attributes(folders, f) + ') "/" ' + quote(f.name));
    }
  }
  session.reply(cmd.tag + " OK " + cmd.name + " completed");
}

/**
 * A STORE job (RFC 3501 6.4.6): flags and keywords (`names`) set a batch at
 * a time, so 1:* on 10,000 messages never queues 10,000 replies. A keyword
 * new to the user's table is told in FLAGS first (RFC 3501 7.2.6).
 */
function storeJob(session: ImapSession, tag: string, set: number[], mode: string, bits: number, names: string[], byUid: boolean, silent: boolean): FetchSource {
  let i = -1;
  let finished = false;
  const store = session.server.mailbox.store;
  return {
    blocked: false,
    onCardError: undefined,
    next: function (): string | undefined {
      if (finished) return undefined;
      const drop = session.maildrop;
      let out = "";
      // The keywords' bits, per batch: a compaction between batches may free a slot no message used yet.
      const keys = store.keywordBits(session.user, names, mode !== "-");
      if (keys < 0) {
        finished = true;
        return tag + " NO [LIMIT] At most " + decimal(Keyword.Max) + " keywords per user\r\n";
      }
      const table = store.keywords.names["u:" + session.user] || "";
      if (drop.list.names !== table) {
        out = flagLines(session) + "\r\n";
        drop.list.names = table; // told
      }
      for (let n = 0; n < Limit.Batch; n++) {
        i = nextInSet(drop, set, byUid, i);
        if (i < 0) break;
        const now = drop.stored(i);
        if (now < 0) continue; // expunged by another session: nothing to set
        const had = drop.keywords(i);
        const want = mode === "+" ? now | bits : mode === "-" ? now & ~bits : bits;
        const wantKeys = mode === "+" ? had | keys : mode === "-" ? had & ~keys : keys;
        if (want !== now || wantKeys !== had) drop.store(i, want, wantKeys);
        const uid = drop.list.seq(i);
        if (!silent) out += "* " + decimal(i + 1) + " FETCH (FLAGS " + flagList(want, session.isRecent(uid), drop.keywordText(wantKeys)) + (byUid ? " UID " + decimal(uid) : "") + ")\r\n";
      }
      if (i < 0) {
        finished = true;
        out += tag + " OK " + (byUid ? "UID " : "") + "STORE completed\r\n";
      }
      return out;
    },
    release: function () {
      finished = true;
    },
  };
}

/** Expunges the view's messages that have \Deleted (and are in `only`, for UID EXPUNGE); false when none. */
function expungeDeleted(session: ImapSession, only: number[] | undefined): void {
  const drop = session.maildrop;
  const gone: number[] = [];
  const list = drop.list;
  const check = only === undefined ? list.count : only.length;
  for (let k = 0; k < check; k++) {
    const i = only === undefined ? k : only[k];
    const flags = drop.stored(i);
    if (flags >= 0 && (flags & StoredFlag.Deleted) !== 0) gone.push(i);
  }
  if (gone.length > 0) drop.expunge(gone);
}

/** COPY and MOVE, with UID forms (RFC 3501 6.4.7, RFC 6851, COPYUID of RFC 4315). */
function copy(session: ImapSession, cmd: ImapCommand): void {
  const byUid = cmd.name.substring(0, 4) === "UID ";
  const move = cmd.name === "MOVE" || cmd.name === "UID MOVE";
  const which = session.indexes(cmd.tag, cmd.args[0], byUid);
  if (which === undefined) return;
  const name = text(cmd.args[1]);
  const folder = name === undefined ? undefined : session.findFolder(name);
  if (folder === undefined) {
    session.reply(cmd.tag + (name === undefined ? " BAD Missing folder name" : " NO [TRYCREATE] No such folder"));
    return;
  }
  if (move && session.readOnly) {
    session.reply(cmd.tag + " NO [READ-ONLY] The folder is open read-only");
    return;
  }
  if (which.length === 0) {
    session.reply(cmd.tag + " OK No messages");
    return;
  }
  if (session.server.mailbox.card.indexFull()) {
    session.reply(cmd.tag + " NO [LIMIT] The box holds all the messages its memory allows, try again later");
    return;
  }
  const drop = session.maildrop;
  const sources: number[] = [];
  for (let k = 0; k < which.length; k++) sources.push(drop.list.seq(which[k]));
  session.waitForIt();
  drop.copyTo(which, folder.id, function (uids: number[] | undefined, error: string) {
    if (session.state !== State.Selected || session.maildrop !== drop) return; // the session went away meanwhile
    if (uids === undefined) {
      session.reply(cmd.tag + " NO [UNAVAILABLE] " + (move ? "MOVE" : "COPY") + " failed: " + error);
    } else {
      const code = "[COPYUID " + decimal(session.server.mailbox.uidValidity()) + " " + uidSet(sources) + " " + uidSet(uids) + "]";
      if (move) {
        try {
          drop.expunge(which);
          session.reply("* OK " + code + " Moved");
          session.report(true);
          session.reply(cmd.tag + " OK MOVE completed");
        } catch (e) {
          session.reply(cmd.tag + " NO [UNAVAILABLE] Copied, but the originals could not be removed: " + (e as Error).message);
        }
      } else session.reply(cmd.tag + " OK " + code + " COPY completed");
    }
    session.done();
  });
}

/**
 * RENAME of INBOX (RFC 3501 6.3.5): its messages move to a new folder
 * called `to`, and INBOX stays, empty. A copy on the card, then one
 * expunge: a failure leaves INBOX as it was (the copies made are removed).
 */
function renameInbox(session: ImapSession, tag: string, to: string): void {
  const mailbox = session.server.mailbox;
  const id = mailbox.createFolder(session.user, to);
  const drop = mailbox.openMaildrop(session.user, Access.Shared, 0) as Maildrop;
  const all: number[] = [];
  for (let i = 0; i < drop.list.count; i++) all.push(i);
  if (all.length === 0) {
    drop.close();
    session.reply(tag + " OK RENAME completed");
    return;
  }
  session.waitForIt();
  drop.copyTo(all, id, function (uids: number[] | undefined, error: string) {
    try {
      if (uids === undefined) session.reply(tag + " NO [UNAVAILABLE] RENAME failed: " + error);
      else {
        drop.expunge(all);
        session.reply(tag + " OK RENAME completed");
      }
    } catch (e) {
      session.reply(tag + " NO [UNAVAILABLE] Copied, but INBOX could not be emptied: " + (e as Error).message);
    }
    drop.close();
    session.report(true);
    session.done();
  });
}

/**
 * The handlers, by command name ("UID FETCH" for the UID forms). Each
 * answers its tag, or starts a job that does.
 */
const HANDLERS: { [name: string]: Handler } = {
  CAPABILITY: function (session, cmd) {
    session.reply("* CAPABILITY " + CAPABILITIES);
    session.reply(cmd.tag + " OK CAPABILITY completed");
  },
  NOOP: function (session, cmd) {
    session.report(true);
    session.reply(cmd.tag + " OK " + cmd.name + " completed");
  },
  LOGOUT: function (session, cmd) {
    session.reply("* BYE letterbox IMAP server logging out");
    session.reply(cmd.tag + " OK LOGOUT completed");
    session.close();
  },
  ID: function (session, cmd) {
    // RFC 2971: the client's fields are not kept.
    session.reply('* ID ("name" "letterbox")');
    session.reply(cmd.tag + " OK ID completed");
  },
  LOGIN: function (session, cmd) {
    const name = text(cmd.args[0]);
    const password = text(cmd.args[1]);
    if (name === undefined || password === undefined || cmd.args.length !== 2) session.reply(cmd.tag + " BAD LOGIN needs a name and a password");
    else session.login(cmd.tag, name, password, "LOGIN");
  },
  AUTHENTICATE: function (session, cmd) {
    const mechanism = upper(text(cmd.args[0]) || "");
    if (mechanism !== "PLAIN") {
      session.reply(cmd.tag + " NO [CANNOT] Only AUTHENTICATE PLAIN is offered");
      return;
    }
    const initial = text(cmd.args[1]);
    if (initial !== undefined) session.plain(cmd.tag, initial);
    else {
      // RFC 3501 6.2.2: an empty challenge, then one line of base64.
      session.expectLine(cmd.tag);
      session.reply("+ ");
    }
  },
  SELECT: select,
  EXAMINE: select,
  CREATE: function (session, cmd) {
    let name = text(cmd.args[0]);
    if (name === undefined) {
      session.reply(cmd.tag + " BAD CREATE needs a folder name");
      return;
    }
    // RFC 3501 6.3.3: a trailing delimiter only says the client means a folder with children.
    if (name.charAt(name.length - 1) === "/") name = name.substring(0, name.length - 1);
    const problem = session.checkName(name);
    if (problem.length > 0) session.reply(cmd.tag + " " + problem);
    else if (session.server.mailbox.folders(session.user).length > Limit.Folders) session.reply(cmd.tag + " NO [LIMIT] Too many folders");
    else {
      // RFC 3501 6.3.3: the superior names a folder needs are created too (a/b/c makes a and a/b when missing).
      for (let at = name.indexOf("/"); at > 0; at = name.indexOf("/", at + 1)) {
        if (session.findFolder(name.substring(0, at)) === undefined) session.server.mailbox.createFolder(session.user, name.substring(0, at));
      }
      session.server.mailbox.createFolder(session.user, name);
      session.reply(cmd.tag + " OK CREATE completed");
    }
  },
  DELETE: function (session, cmd) {
    const name = text(cmd.args[0]);
    const folder = name === undefined ? undefined : session.findFolder(name);
    if (folder === undefined) session.reply(cmd.tag + (name === undefined ? " BAD DELETE needs a folder name" : " NO [NONEXISTENT] No such folder"));
    else if (folder.id === 0) session.reply(cmd.tag + " NO [CANNOT] INBOX cannot be deleted");
    else {
      if (session.owner === session.ownerOf(folder.id)) session.deselect();
      session.server.mailbox.deleteFolder(session.user, folder.id);
      session.reply(cmd.tag + " OK DELETE completed");
    }
  },
  RENAME: function (session, cmd) {
    const from = text(cmd.args[0]);
    const to = text(cmd.args[1]);
    const folder = from === undefined ? undefined : session.findFolder(from);
    if (from === undefined || to === undefined) {
      session.reply(cmd.tag + " BAD RENAME needs two folder names");
      return;
    }
    if (folder === undefined) {
      session.reply(cmd.tag + " NO [NONEXISTENT] No such folder");
      return;
    }
    const problem = session.checkName(to);
    if (problem.length > 0) {
      session.reply(cmd.tag + " " + problem);
      return;
    }
    if (folder.id === 0) {
      renameInbox(session, cmd.tag, to);
      return;
    }
    // RFC 3501 6.3.5: the folder's children are renamed with it.
    const folders = session.server.mailbox.folders(session.user);
    const prefix = folder.name + "/";
    for (let i = 0; i < folders.length; i++) {
      const f = folders[i];
      if (f.name.substring(0, prefix.length) === prefix) session.server.mailbox.renameFolder(session.user, f.id, to + "/" + f.name.substring(prefix.length));
    }
    session.server.mailbox.renameFolder(session.user, folder.id, to);
    session.reply(cmd.tag + " OK RENAME completed");
  },
  SUBSCRIBE: function (session, cmd) {
    const name = text(cmd.args[0]);
    const folder = name === undefined ? undefined : session.findFolder(name);
    if (folder === undefined) session.reply(cmd.tag + (name === undefined ? " BAD Missing folder name" : " NO [NONEXISTENT] No such folder"));
    else {
      if (folder.id !== 0) session.server.mailbox.subscribe(session.user, folder.id, cmd.name === "SUBSCRIBE");
      session.reply(cmd.tag + " OK " + cmd.name + " completed");
    }
  },
  LIST: list,
  LSUB: list,
  STATUS: function (session, cmd) {
    const name = text(cmd.args[0]);
    const folder = name === undefined ? undefined : session.findFolder(name);
    if (folder === undefined || cmd.args.length !== 2) {
      session.reply(cmd.tag + (name === undefined || cmd.args.length !== 2 ? " BAD STATUS needs a folder and a list of items" : " NO [NONEXISTENT] No such folder"));
      return;
    }
    const items = statusItems(session, folder, cmd.args[1]);
    if (items.length === 0) session.reply(cmd.tag + " BAD Unknown STATUS item");
    else {
      session.reply("* STATUS " + quote(folder.name) + " (" + items + ")");
      session.reply(cmd.tag + " OK STATUS completed");
    }
  },
  APPEND: function (session, cmd) {
    // The reader hands APPEND with its message to appendStart; a command that gets here had none.
    session.reply(cmd.tag + " BAD APPEND needs a folder and a message literal");
  },
  NAMESPACE: function (session, cmd) {
    // RFC 2342: one personal namespace, no others.
    session.reply('* NAMESPACE (("" "/")) NIL NIL');
    session.reply(cmd.tag + " OK NAMESPACE completed");
  },
  ENABLE: function (session, cmd) {
    // RFC 5161: none of the extensions ENABLE can turn on (CONDSTORE, UTF8=ACCEPT, ...) is offered.
    session.reply("* ENABLED");
    session.reply(cmd.tag + " OK ENABLE completed");
  },
  IDLE: function (session, cmd) {
    // RFC 2177: changes are reported as they happen (ImapServer's onChange) until DONE.
    session.report(true);
    session.expectLine(cmd.tag);
    session.reply("+ idling");
  },
  CHECK: function (session, cmd) {
    session.report(true);
    session.reply(cmd.tag + " OK CHECK completed");
  },
  CLOSE: function (session, cmd) {
    // RFC 3501 6.4.2: \Deleted messages go, without EXPUNGE responses.
    if (!session.readOnly) expungeDeleted(session, undefined);
    session.deselect();
    session.reply(cmd.tag + " OK CLOSE completed");
  },
  UNSELECT: function (session, cmd) {
    session.deselect();
    session.reply(cmd.tag + " OK UNSELECT completed");
  },
  EXPUNGE: function (session, cmd) {
    if (session.readOnly) {
      session.reply(cmd.tag + " NO [READ-ONLY] The folder is open read-only");
      return;
    }
    let only: number[] | undefined = undefined;
    if (cmd.name === "UID EXPUNGE") {
      only = session.indexes(cmd.tag, cmd.args[0], true);
      if (only === undefined) return;
    }
    expungeDeleted(session, only);
    session.report(true);
    session.reply(cmd.tag + " OK " + cmd.name + " completed");
  },
  FETCH: function (session, cmd) {
    const byUid = cmd.name === "UID FETCH";
    const set = session.checkSet(cmd.tag, cmd.args[0], byUid);
    if (set === undefined) return;
    const items = parseFetchItems(cmd.args.slice(1));
    if (typeof items === "string") {
      session.reply(cmd.tag + " BAD " + items);
      return;
    }
    session.report(false);
    session.runJob(fetchJob(session, cmd.tag, set, byUid, items), set, byUid, cmd.tag);
  },
  STORE: function (session, cmd) {
    const byUid = cmd.name === "UID STORE";
    const set = session.checkSet(cmd.tag, cmd.args[0], byUid);
    if (set === undefined) return;
    const item = upper(text(cmd.args[1]) || "");
    const mode = item.charAt(0) === "+" || item.charAt(0) === "-" ? item.charAt(0) : "";
    const base = mode.length > 0 ? item.substring(1) : item;
    const names: string[] = [];
    const bits = cmd.args.length === 3 ? parseFlagList(cmd.args[2], names) : -1;
    if ((base !== "FLAGS" && base !== "FLAGS.SILENT") || bits < 0) {
      session.reply(cmd.tag + " BAD STORE needs [+|-]FLAGS[.SILENT] and a flag list");
      return;
    }
    if (session.readOnly) {
      session.reply(cmd.tag + " NO [READ-ONLY] The folder is open read-only");
      return;
    }
    // A name too long or a full table is refused before any message changes.
    if (mode !== "-" && keywordBits(session, cmd.tag, names) < 0) return;
    session.report(false);
    session.runJob(storeJob(session, cmd.tag, set, mode, bits, names, byUid, base === "FLAGS.SILENT"), set, byUid);
  },
  SEARCH: function (session, cmd) {
    const program = parseSearch(cmd.args);
    if (typeof program === "string") {
      // RFC 3501 6.4.4: a charset the box cannot search in is NO [BADCHARSET], not a syntax error.
      session.reply(cmd.tag + (program.substring(0, 11) === "[BADCHARSET" ? " NO " : " BAD ") + program);
      return;
    }
    session.report(false);
    session.runJob(searchJob(session, cmd.tag, program, cmd.name === "UID SEARCH"), undefined, false, cmd.tag);
  },
  COPY: copy,
  MOVE: copy,
};
HANDLERS["UID FETCH"] = HANDLERS.FETCH;
HANDLERS["UID STORE"] = HANDLERS.STORE;
HANDLERS["UID SEARCH"] = HANDLERS.SEARCH;
HANDLERS["UID COPY"] = copy;
HANDLERS["UID MOVE"] = copy;
HANDLERS["UID EXPUNGE"] = HANDLERS.EXPUNGE;
HANDLERS.UNSUBSCRIBE = HANDLERS.SUBSCRIBE;
