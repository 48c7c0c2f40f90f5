/**
 * IMAP command syntax (RFC 3501 9, with what RFC 9051 clients send, and
 * LITERAL+ of RFC 7888): the reader that turns the client's bytes into
 * commands, sequence sets, mailbox-name checks (modified UTF-7, RFC 3501
 * 5.1.3), LIST patterns, and quoting for replies.
 *
 * The reader finds line ends with one native search per line, keeps at most
 * one command (its line text and its inline literals, each capped), and hands
 * APPEND's message literal on in the chunks it arrived in, never kept.
 * Anything malformed or beyond a limit is answered BAD and skipped (the line
 * and any non-synchronizing literal it announced); the session goes on.
 */
import { find, upper } from "./text";
import { decimal, parseDecimal } from "./num";

/** The reader's limits (a const enum: inlined, nothing kept in RAM). */
export const enum ImapLimit {
  /** Octets of a command's line text: every line of it with its CRLF, literals not counted. */
  Line = 8192,
  /** Octets of all inline (non-APPEND) literals of one command. */
  Literals = 8192,
  /** Parenthesised lists open at once. */
  Depth = 16,
  /**
   * Tokens and parentheses of one command: each costs ~30 interpreted
   * statements on Espruino (~140 us on the 64-bit Linux build, measured),
   * so 8 KiB of one-octet atoms would hold a board for seconds.
   */
  Items = 1000,
  /** Octets of a tag. */
  Tag = 64,
  /** Ranges in a sequence set (each costs two array slots). */
  SetRanges = 512,
  /** The end of an over-long line kept to see whether it announces a literal. */
  Tail = 32,
}

/**
 * A token: an atom, quoted string or literal as its octets (NIL is the atom
 * "NIL"; "" only comes from "" or {0}), or a parenthesised list. An atom with
 * a bracketed part, like BODY.PEEK[HEADER.FIELDS (From To)]<0.100>, is ONE
 * string: brackets, spaces and parentheses inside kept as sent, except that
 * a quoted string inside the brackets whose content is a plain atom is
 * unquoted ("From" becomes From); other quoted strings stay quoted there.
 */
export type Token = string | Token[];

export interface ImapCommand {
  tag: string;
  /** Upper case; the UID forms as "UID FETCH", "UID STORE", ... */
  name: string;
  args: Token[];
}

export interface ReaderEvents {
  onCommand(cmd: ImapCommand): void;
  /**
   * A malformed command or a limit: answer `tag BAD text` ("*" when no tag
   * could be read). Called when the fault is found; the reader then skips
   * the rest of the command by itself, silently (the line, and any
   * non-synchronizing literal it announced, then the lines after it).
   */
  onBad(tag: string, text: string): void;
  /**
   * An inline literal within the limits was announced (over them the reader
   * answers BAD itself). Return true to take it (for a synchronizing one the
   * session sends "+ Ready for literal data"); false when the session has
   * answered the command itself: a synchronizing literal is then never sent,
   * a non-synchronizing one is read and dropped, and the command skipped.
   */
  onLiteral(tag: string, size: number, sync: boolean): boolean;
  /**
   * APPEND's message literal (a literal at the top level after the mailbox
   * name), of any size up to 2^31-2: return true to take it (the session
   * sends "+" for a synchronizing one); false as for onLiteral. `cmd.args`
   * holds the arguments before it. Its octets go to onAppendData in chunks;
   * then, when the line has ended, either onAppendEnd() or (when more than
   * CRLF followed the literal, e.g. MULTIAPPEND) onBad: drop the message.
   */
  onAppendStart(cmd: ImapCommand, size: number, sync: boolean): boolean;
  onAppendData(chunk: string): void;
  onAppendEnd(): void;
  /**
   * After expectLine(): the next line as it came, without its line end, not
   * parsed (AUTHENTICATE's response, IDLE's DONE). A line longer than the
   * limit gives onBad("*", ...) instead, and the line after it comes here.
   */
  onContinuation(line: string): void;
}

const enum Mode {
  /** Reading a line of a command (or between commands). */
  Line = 0,
  /** Reading an inline literal into `lit`. */
  Literal = 1,
  /** Passing APPEND's message literal on. */
  Append = 2,
  /** Dropping a literal of a command answered BAD. */
  Drop = 3,
}

const SP = 32;
const DQUOTE = 34;
const LPAREN = 40;
const RPAREN = 41;
const BACKSLASH = 92;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;

/**
 * The last string token read by quoted(): a module variable, not a reader
 * field (read at once by its caller; a field costs every session memory:
 * on Lua a 17th field doubles the reader's hash part).
 */
let word = "";

/**
 * The command being read: kept apart from the reader and made when its
 * first line comes (begin()), so that an idle reader (every IMAP session
 * between commands) holds eight fields, no arrays: on Lua a table's hash
 * part is a power of two (17 fields would take 32 slots, ~640 bytes).
 */
interface Reading {
  /** The command's tag ("*" when none could be read); "" only in IDLE. */
  tag: string;
  /** Upper case; "UID X" for the UID forms. */
  name: string;
  args: Token[];
  /** Lists open at this point, innermost last. */
  stack: Token[][];
  /** Inline literal octets of this command so far. */
  litUsed: number;
  /** Tokens and parentheses of this command so far. */
  items: number;
  /** The inline literal being read. */
  lit: string;
  /** APPEND's message has arrived: its line must end now. */
  afterAppend: boolean;
  /** A literal ended: the next octet must be a space, ")" or the line end. */
  needSep: boolean;
}

/** Between commands: one shared Reading that is never written to (begin() makes each command its own). */
const IDLE: Reading = { tag: "", name: "", args: [], stack: [], litUsed: 0, items: 0, lit: "", afterAppend: false, needSep: false };

/** Reads IMAP commands from a byte stream; see the module comment. */
export class CommandReader {
  private mode = Mode.Line;
  /** The unfinished line (only its last Tail octets while skipping). */
  private buf = "";
  /** The command in progress; IDLE between commands (its tag is ""). */
  private c: Reading = IDLE;
  /** Line octets of this command so far (finished lines). */
  private used = 0;
  /** Octets of the current literal still to come. */
  private remaining = 0;
  /** A fault was answered: the rest of the command is dropped. */
  private skipping = false;
  /** The next line goes to onContinuation. */
  private raw = false;

  constructor(private events: ReaderEvents) {}

  /** The next line goes to events.onContinuation, unparsed (AUTHENTICATE, IDLE). */
  expectLine(): void {
    this.raw = true;
  }

  /**
   * Feeds a chunk. After every line or literal piece `shouldStop()` is
   * asked; when it turns true, push returns the unread rest (feed it again
   * later), else "". Events are the same however the stream is cut.
   */
  push(chunk: string, shouldStop: () => boolean): string {
    let p = 0;
    const n = chunk.length;
    while (p < n) {
      if (this.mode !== Mode.Line) {
        const take = this.remaining < n - p ? this.remaining : n - p;
        const piece = chunk.substring(p, p + take);
        p += take;
        this.remaining -= take;
        if (this.mode === Mode.Literal) this.c.lit += piece;
        else if (this.mode === Mode.Append) this.events.onAppendData(piece);
        if (this.remaining === 0) this.literalDone();
      } else {
        const lf = chunk.indexOf("\n", p);
        if (lf < 0) {
          this.keep(chunk.substring(p));
          return "";
        }
        let line = chunk.substring(p, lf);
        p = lf + 1;
        if (this.buf.length > 0) {
          line = this.buf + line;
          this.buf = "";
        }
        if (!this.skipping && this.used + line.length + 1 > ImapLimit.Line) this.overflow(line);
        this.used += line.length + 1;
        if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.substring(0, line.length - 1);
        this.line(line);
      }
      if (shouldStop()) return chunk.substring(p);
    }
    return "";
  }

  /** Keeps the start of an unfinished line (only its end while skipping). */
  private keep(bytes: string): void {
    if (!this.skipping && this.used + this.buf.length + bytes.length >= ImapLimit.Line) this.overflow(this.buf + bytes);
    this.buf += bytes;
    if (this.skipping && this.buf.length > ImapLimit.Tail) this.buf = this.buf.substring(this.buf.length - ImapLimit.Tail);
  }

  /** The line being read is over the limit: BAD now, the rest of the command skipped. */
  private overflow(start: string): void {
    if (this.raw) {
      // Still waiting for the continuation line: the one after this.
      this.skipping = true;
      this.events.onBad("*", "Line too long");
      return;
    }
    if (this.c.tag.length === 0) {
      const sp = start.indexOf(" ");
      this.begin(sp > 0 && validTag(start.substring(0, sp)) ? start.substring(0, sp) : "*");
    }
    this.fail("Command line too long");
  }

  /** Answers the command in progress BAD; what is left of it will be skipped. */
  private fail(text: string): void {
    const tag = this.c.tag.length > 0 ? this.c.tag : "*";
    this.skipping = true;
    this.events.onBad(tag, text);
  }

  /** A command begins: its own Reading. */
  private begin(tag: string): void {
    this.c = { tag: tag, name: "", args: [], stack: [], litUsed: 0, items: 0, lit: "", afterAppend: false, needSep: false };
  }

  /** Forgets the command in progress (it ended). */
  private reset(): void {
    this.c = IDLE;
    this.used = 0;
    this.skipping = false;
  }

  /** A whole line (CRLF removed). */
  private line(s: string): void {
    if (this.raw) {
      this.used = 0;
      if (this.skipping) {
        this.skipping = false; // the over-long line ended; the next line is the continuation
        return;
      }
      this.raw = false;
      this.events.onContinuation(s);
      return;
    }
    if (this.skipping) {
      this.skipLine(s);
      return;
    }
    if (this.c.afterAppend) {
      if (s.length === 0) {
        this.reset();
        this.events.onAppendEnd();
        return;
      }
      this.fail("Only one message per APPEND");
      this.skipLine(s);
      return;
    }
    const bad = find(s, "\x00", 0) >= 0 ? "NUL in command" : find(s, "\r", 0) >= 0 ? "CR inside a line" : "";
    let p = 0;
    if (this.c.tag.length === 0) {
      // Empty lines between commands are ignored (some clients send one after APPEND's literal).
      if (s.length === 0) {
        this.used = 0;
        return;
      }
      p = this.head(s, bad);
      if (p < 0) {
        this.skipLine(s);
        return;
      }
    }
    const r = bad.length > 0 ? bad : this.tokens(s, p);
    if (r === TAKEN) return;
    if (r.length === 0 && this.c.stack.length === 0) {
      const cmd: ImapCommand = { tag: this.c.tag, name: this.c.name, args: this.c.args };
      this.reset();
      this.events.onCommand(cmd);
      return;
    }
    this.fail(r.length > 0 ? r : "Missing )");
    this.skipLine(s);
  }

  /**
   * The line of a command that was answered BAD: a non-synchronizing
   * literal at its end is dropped and the command goes on being skipped;
   * otherwise the command ends here.
   */
  private skipLine(s: string): void {
    const size = trailingLiteral(s);
    if (size >= 0) {
      this.mode = Mode.Drop;
      this.remaining = size;
      if (size === 0) this.mode = Mode.Line;
      return;
    }
    this.reset();
  }

  /** A literal's last octet arrived. */
  private literalDone(): void {
    const mode = this.mode;
    this.mode = Mode.Line;
    if (mode === Mode.Literal) {
      const lit = this.c.lit;
      this.c.lit = "";
      if (find(lit, "\x00", 0) >= 0) this.fail("NUL in literal");
      else this.top().push(lit);
      this.c.needSep = true;
    } else if (mode === Mode.Append) {
      this.c.afterAppend = true;
    }
  }

  /** The list tokens go into now. */
  private top(): Token[] {
    return this.c.stack.length > 0 ? this.c.stack[this.c.stack.length - 1] : this.c.args;
  }

  /**
   * A command's first line: reads the tag and the name ("UID X" for UID
   * commands). Returns where the arguments begin, or -1 after a BAD (`bad`
   * when not "": the line's fault, answered once the tag is known).
   */
  private head(s: string, bad: string): number {
    const sp = s.indexOf(" ");
    const tag = sp < 0 ? s : s.substring(0, sp);
    if (!validTag(tag)) {
      this.begin("*");
      this.fail(tag.length > ImapLimit.Tag ? "Tag too long" : "Invalid tag");
      return -1;
    }
    this.begin(tag);
    if (bad.length > 0) {
      this.fail(bad);
      return -1;
    }
    let p = sp < 0 ? s.length : sp + 1;
    for (let k = 0; k < 2; k++) {
      let e = p;
      while (e < s.length && isNameChar(s.charCodeAt(e))) e++;
      if (e === p || (e < s.length && s.charCodeAt(e) !== SP)) {
        this.fail(k === 0 ? "Missing or invalid command name" : "UID needs a command");
        return -1;
      }
      const word = upper(s.substring(p, e));
      p = e < s.length ? e + 1 : e;
      if (k === 0) {
        this.c.name = word;
        if (word !== "UID") break;
      } else this.c.name = "UID " + word;
    }
    return p;
  }

  /**
   * Reads the tokens of a line from `p` into the command. Returns "" when
   * the line ended the command, TAKEN when a literal it announces was set
   * up (or refused and the command skipped), else the text of the BAD.
   *
   * Atoms are not walked octet by octet (Espruino pays for every one): the
   * next space, parenthesis, bracket and quote are found by native
   * searches, each position searched once per line. So an atom may hold any
   * octet but those (NUL and CR are refused for the whole line).
   */
  private tokens(s: string, p: number): string {
    const n = s.length;
    if (this.c.needSep) {
      this.c.needSep = false;
      if (p < n && s.charCodeAt(p) !== SP && s.charCodeAt(p) !== RPAREN) return "Missing space after literal";
    }
    // The next " ", "(", ")", "[" and '"' at or after p (n when none); -1: not searched yet.
    let sp = -1;
    let open = -1;
    let close = -1;
    let br = -1;
    let dq = -1;
    while (p < n) {
      const c = s.charCodeAt(p);
      if (c === SP) {
        p++;
        continue;
      }
      if (++this.c.items > ImapLimit.Items) return "Too many arguments";
      const top = this.c.stack.length > 0 ? this.c.stack[this.c.stack.length - 1] : this.c.args;
      if (c === LPAREN) {
        if (this.c.stack.length >= ImapLimit.Depth) return "Lists nested too deeply";
        const list: Token[] = [];
        top.push(list);
        this.c.stack.push(list);
        p++;
        continue;
      }
      if (c === RPAREN) {
        if (this.c.stack.length === 0) return "Unexpected )";
        this.c.stack.pop();
        p++;
      } else if (c === LBRACE) {
        return this.literal(s, p);
      } else if (c === DQUOTE) {
        p = this.quoted(s, p);
        if (p < 0) return "Invalid quoted string";
        top.push(word);
      } else {
        // An atom: up to a space or parenthesis, a bracketed part read whole (see Token).
        let out = "";
        let from = p;
        while (true) {
          if (sp < p) sp = next(s, " ", p);
          if (open < p) open = next(s, "(", p);
          if (close < p) close = next(s, ")", p);
          if (br < p) br = next(s, "[", p);
          if (dq < p) dq = next(s, '"', p);
          let end = sp < open ? sp : open;
          if (close < end) end = close;
          if (br >= end || dq < br) {
            if (dq < end) return "Invalid character in atom";
            p = end;
            break;
          }
          // Up to the "]"; a quoted string inside is read as one (it may hold "]").
          let q = br + 1;
          while (true) {
            const rb = s.indexOf("]", q);
            if (rb < 0) return "Invalid [section]";
            if (dq < q) dq = next(s, '"', q);
            const limit = dq < rb ? dq : rb;
            const lb = s.indexOf("[", q);
            if (lb >= 0 && lb < limit) return "Invalid [section]";
            if (dq > rb) {
              q = rb + 1;
              break;
            }
            const e = this.quoted(s, dq);
            if (e < 0) return "Invalid [section]";
            if (plainAtom(word)) {
              out += s.substring(from, dq) + word;
              from = e;
            }
            q = e;
          }
          p = q;
        }
        top.push(out + s.substring(from, p));
      }
      if (p < n && s.charCodeAt(p) !== SP && s.charCodeAt(p) !== RPAREN) return "Missing space";
    }
    return "";
  }

  /**
   * A quoted string starting at s[p] (RFC 3501 9: only \\ and \" escapes).
   * Sets the module's `word` to its content; returns the index after the closing quote, or -1.
   */
  private quoted(s: string, p: number): number {
    let out = "";
    let q = p + 1;
    let bs = s.indexOf("\\", q);
    while (true) {
      const dq = s.indexOf('"', q);
      if (dq < 0) return -1;
      if (bs < 0 || bs > dq) {
        word = out + s.substring(q, dq);
        return dq + 1;
      }
      const e = s.charCodeAt(bs + 1);
      if (e !== DQUOTE && e !== BACKSLASH) return -1;
      out += s.substring(q, bs) + s.charAt(bs + 1);
      q = bs + 2;
      bs = s.indexOf("\\", q);
    }
  }

  /** A literal announced at s[p] ("{n}" or "{n+}", which must end the line). Returns as tokens() does. */
  private literal(s: string, p: number): string {
    const last = s.length - 1;
    if (s.charCodeAt(last) !== RBRACE) return "Invalid literal";
    const sync = s.charCodeAt(last - 1) !== PLUS;
    const size = parseDecimal(s.substring(p + 1, sync ? last : last - 1));
    if (size < 0) return "Invalid literal";
    if (this.c.name === "APPEND" && this.c.stack.length === 0 && this.c.args.length > 0) {
      if (!this.events.onAppendStart({ tag: this.c.tag, name: this.c.name, args: this.c.args }, size, sync)) {
        this.skipping = true;
        this.skipLine(s);
        return TAKEN;
      }
      this.mode = Mode.Append;
      this.remaining = size;
      if (size === 0) this.literalDone();
      return TAKEN;
    }
    if (size > ImapLimit.Literals - this.c.litUsed) return "[TOOBIG] Literal too large";
    this.c.litUsed += size;
    if (!this.events.onLiteral(this.c.tag, size, sync)) {
      this.skipping = true;
      this.skipLine(s);
      return TAKEN;
    }
    this.mode = Mode.Literal;
    this.remaining = size;
    this.c.lit = "";
    if (size === 0) this.literalDone();
    return TAKEN;
  }
}

/** What tokens() returns when a literal took over the line. */
const TAKEN = "+";
const PLUS = 43;
const RBRACE = 125;

/** Position of `c` (one octet) in `s` at or after `from`, or s.length when there is none. */
function next(s: string, c: string, from: number): number {
  const i = s.indexOf(c, from);
  return i < 0 ? s.length : i;
}

/** A tag: 1 to 64 ASTRING-CHARs other than "+" (RFC 3501 9). */
function validTag(t: string): boolean {
  if (t.length === 0 || t.length > ImapLimit.Tag) return false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c <= SP || c >= 127 || c === LPAREN || c === RPAREN || c === LBRACE || c === 37 || c === 42 || c === DQUOTE || c === BACKSLASH || c === PLUS) return false;
  }
  return true;
}

/** Letters, digits, "-", "_" and ".": what a command name is made of here. */
function isNameChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46;
}

/** A non-empty string that needs no quotes in a section: no space, control, 8-bit or special. */
function plainAtom(t: string): boolean {
  if (t.length === 0) return false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c <= SP || c >= 127 || c === LPAREN || c === RPAREN || c === LBRACE || c === DQUOTE || c === BACKSLASH || c === LBRACKET || c === RBRACKET || c === 37 || c === 42) return false;
  }
  return true;
}

/** The size of a non-synchronizing literal announced at the end of `s` ("{n+}"), or -1 (none, or a synchronizing one). */
function trailingLiteral(s: string): number {
  const last = s.length - 1;
  if (last < 3 || s.charCodeAt(last) !== RBRACE || s.charCodeAt(last - 1) !== PLUS) return -1;
  let i = last - 2;
  while (i >= 0 && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i--;
  if (i < 0 || s.charCodeAt(i) !== LBRACE) return -1;
  return parseDecimal(s.substring(i + 1, last - 1));
}

/**
 * A sequence set (RFC 3501 9 sequence-set: "1:*,999999999,5:3") as pairs
 * [lo, hi, lo, hi, ...] in the order given, a range's ends as written (5:3
 * stays 5, 3), "*" as -1. Numbers of 2^31-1 and more become 2147483647 (the
 * largest every runtime holds: no message has it). Undefined when
 * malformed: empty, 0, a sign, "$", a stray ":" or ",", or more than
 * ImapLimit.SetRanges ranges.
 */
export function parseSet(s: string): number[] | undefined {
  if (s.length === 0) return undefined;
  const out: number[] = [];
  let p = 0;
  while (true) {
    let comma = s.indexOf(",", p);
    if (comma < 0) comma = s.length;
    const colon = s.indexOf(":", p);
    const lo = setNumber(s.substring(p, colon >= 0 && colon < comma ? colon : comma));
    const hi = colon >= 0 && colon < comma ? setNumber(s.substring(colon + 1, comma)) : lo;
    if (lo === 0 || hi === 0 || out.length >= 2 * ImapLimit.SetRanges) return undefined;
    out.push(lo);
    out.push(hi);
    if (comma === s.length) return out;
    p = comma + 1;
  }
}

/** One end of a range: -1 for "*", 0 when invalid. */
function setNumber(t: string): number {
  if (t === "*") return -1;
  const n = parseDecimal(t);
  return n < 0 ? 0 : n;
}

/**
 * Whether `n` is in a set from parseSet, "*" standing for `star` (the
 * highest sequence number or UID in use; a range is taken in either order,
 * so 5:* holds `star` even when star < 5, as RFC 3501 6.4.8 says for UIDs).
 */
export function inSet(set: number[], n: number, star: number): boolean {
  for (let i = 0; i + 1 < set.length; i += 2) {
    let lo = set[i] < 0 ? star : set[i];
    let hi = set[i + 1] < 0 ? star : set[i + 1];
    if (lo > hi) {
      const t = lo;
      lo = hi;
      hi = t;
    }
    if (n >= lo && n <= hi) return true;
  }
  return false;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/**
 * Checks a mailbox name in modified UTF-7 (RFC 3501 5.1.3): printable
 * US-ASCII stands for itself, "&-" for "&", and "&...-" holds modified
 * BASE64 (with "," for "/") of UTF-16 that must not encode printable ASCII
 * or NUL, must pair its surrogates and leave no stray bits. Returns `s`
 * unchanged when it is valid, undefined when not (8-bit octets included:
 * no UTF8=ACCEPT here).
 */
export function decodeMailboxName(s: string): string | undefined {
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < SP || c > 126) return undefined;
    i++;
    if (c !== 38) continue;
    const end = s.indexOf("-", i);
    if (end < 0) return undefined;
    if (end === i) {
      i++;
      continue;
    }
    // acc holds `bits` (< 22) undecoded bits: exact on every runtime.
    let acc = 0;
    let bits = 0;
    let high = false;
    for (; i < end; i++) {
      const v = BASE64.indexOf(s.charAt(i));
      if (v < 0) return undefined;
      acc = acc * 64 + v;
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        const scale = POW2[bits];
        const unit = Math.floor(acc / scale);
        acc -= unit * scale;
        const isHigh = unit >= 0xd800 && unit <= 0xdbff;
        const isLow = unit >= 0xdc00 && unit <= 0xdfff;
        if ((unit >= SP && unit <= 126) || unit === 0 || high !== isLow) return undefined;
        high = isHigh;
      }
    }
    if (high || bits >= 6 || acc !== 0) return undefined;
    i = end + 1;
  }
  return s;
}

const POW2 = [1, 2, 4, 8, 16, 32];

/**
 * LIST/LSUB matching (RFC 3501 6.3.8): "*" matches anything, "%" anything
 * but the hierarchy delimiter "/"; other octets match themselves, except
 * that INBOX's name (and INBOX/...'s first five octets) matches in any case.
 * Runs in pattern length x name length at most: wildcard runs collapse and
 * a pattern with more plain octets than the name fails at once.
 */
export function matchPattern(pattern: string, name: string): boolean {
  let pat = "";
  let plain = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    const last = pat.length > 0 ? pat.charAt(pat.length - 1) : "";
    if (c === "*" || c === "%") {
      if (last === "*" || last === "%") {
        if (c === "*") pat = pat.substring(0, pat.length - 1) + "*";
        continue;
      }
    } else plain++;
    pat += c;
  }
  if (plain > name.length) return false;
  const m = pat.length;
  const inbox = upper(name.substring(0, 5)) === "INBOX" && (name.length === 5 || name.charAt(5) === "/") ? 5 : 0;
  // states[j]: the name so far matches pat[0, j).
  let states: boolean[] = [];
  for (let j = 0; j <= m; j++) states.push(j === 0);
  for (let i = 0; i <= name.length; i++) {
    // Closure: a wildcard may match nothing.
    for (let j = 0; j < m; j++) if (states[j] && (pat.charAt(j) === "*" || pat.charAt(j) === "%")) states[j + 1] = true;
    if (i === name.length) break;
    const c = name.charAt(i);
    const next: boolean[] = [];
    for (let j = 0; j <= m; j++) next.push(false);
    let any = false;
    for (let j = 0; j < m; j++) {
      if (!states[j]) continue;
      const pc = pat.charAt(j);
      if (pc === "*" || (pc === "%" && c !== "/")) next[j] = true;
      else if (pc === c || (i < inbox && upper(pc) === upper(c))) next[j + 1] = true;
      else continue;
      any = true;
    }
    if (!any) return false;
    states = next;
  }
  return states[m];
}

/**
 * `s` as an IMAP string for a reply: a quoted string ("\\" and "\"
 * escaped) when it holds only 7-bit octets other than NUL, CR and LF, else a
 * literal "{n}" CRLF s (RFC 3501 4.3).
 */
export function quote(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13 || c > 126) return "{" + decimal(s.length) + "}\r\n" + s;
    if (c === DQUOTE || c === BACKSLASH) {
      out += s.substring(from, i) + "\\";
      from = i;
    }
  }
  return out + s.substring(from) + '"';
}
