/**
 * IMAP SEARCH (RFC 3501 6.4.4): the search keys parsed once into a flat
 * program (prefix order, numbers and strings, no object per key), and the
 * job that answers `* SEARCH n n ...` one piece per send, so a long result
 * is never built whole. Flags, sizes, dates and the sequence are answered
 * from the listing; header keys from the header cache when it has a match,
 * else from the message's header; BODY and TEXT by streaming the message
 * from the card, one read per call.
 *
 * Matching is a substring test, ASCII case-insensitive over raw octets (no
 * charset decoding: a UTF-8 key matches the same UTF-8 octets, an encoded
 * word or a base64 body is matched as it is stored). Each runtime's native
 * toLowerCase finds candidates (Node and Espruino also fold Latin-1's
 * A-grave to Thorn, 0xC0-0xDE; NodeMCU's Lua does not) and every candidate is checked with ASCII
 * folding alone, so all runtimes give the same answer.
 */
import type { FileHandle } from "./hal";
import type { Token } from "./imapparse";
import { parseSet } from "./imapparse";
import { dayOf, NO_DAY, parseDay } from "./date";
import { decimal, parseDecimal } from "./num";
import { find, lower, upper } from "./text";
import { type FetchSource, Job, readCard, releaseFile, type SelectedView } from "./imapjob";

/** Program codes (const: inlined). Each is followed by its operands. */
const enum Op {
  /** n, then n keys: all must hold. */
  And = 0,
  Or = 1,
  Not = 2,
  /** A constant: 1 true, 0 false (ALL). */
  Const = 3,
  /** set (number pairs): the sequence number is in it. */
  Seq = 4,
  Uid = 5,
  /** mask, want: stored flags & mask === want. */
  Flags = 6,
  /** want (1 or 0): \Recent. */
  Recent = 7,
  Larger = 8,
  Smaller = 9,
  /** day: the arrival day before / on / since. */
  Before = 10,
  On = 11,
  Since = 12,
  /** k: card key k (keys.kind) holds. */
  Card = 13,
  /** k, want (1 KEYWORD, 0 UNKEYWORD): the message has keyword k (prog.keywords[k], a mask once resolved). */
  Keyword = 14,
}

/** What a card key tests (const: inlined). */
const enum Kind {
  Body = 0,
  Text = 1,
  /** HEADER name string, FROM, TO, CC, BCC, SUBJECT. */
  Header = 2,
  SentBefore = 3,
  SentOn = 4,
  SentSince = 5,
}

const enum Search {
  /** Nesting of NOT/OR/lists accepted. */
  MaxDepth = 32,
  /** Octets of one header field kept to test (the rest of a longer one is not searched). */
  MaxField = 1024,
}

/** A parsed SEARCH: the program and its card keys (kind, field name in upper case, needle). */
export interface SearchProgram {
  code: (number | number[])[];
  kinds: number[];
  names: string[];
  /** Needles as each runtime's toLowerCase gives them (candidates), and ASCII-lowered (the check); for Sent* keys the day as a decimal. */
  needles: string[];
  folded: string[];
  /** KEYWORD/UNKEYWORD operands: names as parsed; the job replaces each by its bit in the user's table (0: a keyword no message has). */
  keywords: (string | number)[];
}

const FLAG_KEYS = " ANSWERED DELETED DRAFT FLAGGED SEEN ";
const FLAG_BITS = [2, 16, 8, 4, 1];
const HEADER_KEYS = " BCC CC FROM SUBJECT TO ";

interface Parse {
  args: Token[];
  p: number;
  prog: SearchProgram;
  error: string;
}

/**
 * A SEARCH command's arguments (RFC 3501 6.4.4; after the command name):
 * an optional CHARSET US-ASCII or UTF-8, then keys, all of which must
 * hold. Returns the program, or the text of a BAD answer; a text that
 * starts "[BADCHARSET" is answered NO (RFC 3501 6.4.4).
 */
export function parseSearch(args: Token[]): SearchProgram | string {
  const state: Parse = { args: args, p: 0, prog: { code: [], kinds: [], names: [], needles: [], folded: [], keywords: [] }, error: "" };
  if (args.length >= 2 && typeof args[0] === "string" && upper(args[0] as string) === "CHARSET") {
    const charset = typeof args[1] === "string" ? upper(args[1] as string) : "";
    if (charset !== "US-ASCII" && charset !== "UTF-8") return "[BADCHARSET (US-ASCII UTF-8)] Charset not supported";
    state.p = 2;
  }
  if (state.p >= args.length) return "SEARCH needs a search key";
  state.prog.code.push(Op.And, 0);
  let n = 0;
  while (state.p < args.length && state.error.length === 0) {
    parseKey(state, 0);
    n++;
  }
  state.prog.code[1] = n;
  return state.error.length > 0 ? state.error : state.prog;
}

/** One search key at state.p into the program; sets state.error when malformed. */
function parseKey(state: Parse, depth: number): void {
  const args = state.args;
  const code = state.prog.code;
  if (state.p >= args.length) {
    state.error = "Missing search key";
    return;
  }
  if (depth > Search.MaxDepth) {
    state.error = "Search keys nested too deep";
    return;
  }
  const token = args[state.p++];
  if (typeof token !== "string") {
    // A parenthesised list: all of its keys.
    if (token.length === 0) {
      state.error = "Empty list of search keys";
      return;
    }
    const saved = state.args;
    const after = state.p;
    state.args = token;
    state.p = 0;
    code.push(Op.And, 0);
    const at = code.length - 1;
    let n = 0;
    while (state.p < token.length && state.error.length === 0) {
      parseKey(state, depth + 1);
      n++;
    }
    code[at] = n;
    state.args = saved;
    state.p = after;
    return;
  }
  const key = upper(token);
  // The operand after the key, as a string (a list is none).
  const operand = state.p < args.length && typeof args[state.p] === "string" ? (args[state.p] as string) : undefined;
  const flag = find(FLAG_KEYS, " " + (key.substring(0, 2) === "UN" ? key.substring(2) : key) + " ", 0);
  if (flag >= 0) {
    let index = 0;
    for (let c = 0; c < flag; c++) if (FLAG_KEYS.charCodeAt(c) === 32) index++;
    code.push(Op.Flags, FLAG_BITS[index], key.substring(0, 2) === "UN" ? 0 : FLAG_BITS[index]);
  } else if (key === "ALL") code.push(Op.Const, 1);
  else if (key === "RECENT" || key === "OLD") code.push(Op.Recent, key === "RECENT" ? 1 : 0);
  else if (key === "NEW") code.push(Op.And, 2, Op.Recent, 1, Op.Flags, 1, 0);
  else if (key === "NOT") {
    code.push(Op.Not);
    parseKey(state, depth + 1);
  } else if (key === "OR") {
    code.push(Op.Or);
    parseKey(state, depth + 1);
    if (state.error.length === 0) parseKey(state, depth + 1);
  } else {
    const c = key.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 42) {
      // A sequence set.
      const set = parseSet(token);
      if (set === undefined) state.error = "Invalid sequence set";
      else code.push(Op.Seq, set);
      return;
    }
    // Keys with an operand.
    if (operand === undefined) {
      state.error = "Unknown search key or missing operand: " + (key.length > 40 ? key.substring(0, 40) + "..." : key);
      return;
    }
    state.p++;
    const prog = state.prog;
    if (key === "KEYWORD" || key === "UNKEYWORD") {
      code.push(Op.Keyword, prog.keywords.length, key === "KEYWORD" ? 1 : 0);
      prog.keywords.push(operand);
    }    else if (key === "UID") {
      const set = parseSet(operand);
      if (set === undefined) state.error = "Invalid UID set";
      else code.push(Op.Uid, set);
    } else if (key === "LARGER" || key === "SMALLER") {
      const n = parseDecimal(operand);
      if (n < 0) state.error = "Invalid size";
      else code.push(key === "LARGER" ? Op.Larger : Op.Smaller, n);
    } else if (key === "BEFORE" || key === "ON" || key === "SINCE" || key === "SENTBEFORE" || key === "SENTON" || key === "SENTSINCE") {
      const day = parseDay(operand, true);
      if (day === NO_DAY) state.error = "Invalid date (d-Mon-yyyy): " + (operand.length > 20 ? operand.substring(0, 20) : operand);
      else if (key.length > 6 || key === "SENTON") {
        code.push(Op.Card, prog.kinds.length);
        prog.kinds.push(key === "SENTBEFORE" ? Kind.SentBefore : key === "SENTON" ? Kind.SentOn : Kind.SentSince);
        prog.names.push("DATE");
        prog.needles.push(decimal(day));
        prog.folded.push("");
      } else code.push(key === "BEFORE" ? Op.Before : key === "ON" ? Op.On : Op.Since, day);
    } else if (key === "BODY" || key === "TEXT" || key === "HEADER" || find(HEADER_KEYS, " " + key + " ", 0) >= 0) {
      let name = key;
      let needle = operand;
      if (key === "HEADER") {
        const value = state.p < args.length ? args[state.p] : undefined;
        if (typeof value !== "string" || operand.length === 0) {
          state.error = "HEADER needs a field name and a string";
          return;
        }
        state.p++;
        name = upper(operand);
        needle = value;
      }
      code.push(Op.Card, prog.kinds.length);
      prog.kinds.push(key === "BODY" ? Kind.Body : key === "TEXT" ? Kind.Text : Kind.Header);
      prog.names.push(name);
      prog.needles.push(needle.toLowerCase());
      prog.folded.push(lower(needle));
    } else state.error = "Unknown search key " + (key.length > 40 ? key.substring(0, 40) + "..." : key);
  }
}

/** Whether `low` (the native lower case of `text`) holds the needle, checked with ASCII folding alone. */
function contains(text: string, low: string, native: string, folded: string): boolean {
  for (let p = find(low, native, 0); p >= 0; p = find(low, native, p + 1)) {
    let same = true;
    for (let c = 0; c < folded.length && same; c++) {
      let a = text.charCodeAt(p + c);
      if (a >= 65 && a <= 90) a += 32;
      same = a === folded.charCodeAt(c);
    }
    if (same) return true;
  }
  return false;
}

/**
 * The SEARCH answer as a stream: "* SEARCH" and the matching sequence
 * numbers (UIDs with `byUid`) in ascending order, a piece per call, then
 * "tag OK SEARCH completed". Messages deleted meanwhile are left out.
 * Waits (blocked) while no message file is free; yields between reads.
 */
export function searchJob(view: SelectedView, tag: string, program: SearchProgram, byUid: boolean): FetchSource {
  return new SearchJob(view, tag, program, byUid);
}

class SearchJob implements FetchSource {
  blocked = false;
  onCardError: (() => void) | undefined = undefined;
  /** The message being tested; -1 before the first. */
  private i = -1;
  private done = false;
  private begun = false;
  /** The message's stored flags. */
  private bits = 0;
  /** Program cursor while evaluating. */
  private at = 0;
  /** Per card key: 0 not known, 1 holds, 2 does not (reset per message). */
  private state: number[] = [];
  /** The card pass over message i: its file, in its header, the header line being read, the field kept to test, the tails of the text searches. */
  file: FileHandle | undefined = undefined;
  private scanning = false;
  private inHeader = true;
  private line = "";
  private field = "";
  private tails: string[] = [];

  constructor(
    private view: SelectedView,
    private tag: string,
    private prog: SearchProgram,
    private byUid: boolean,
  ) {
    for (let k = 0; k < prog.kinds.length; k++) {
      this.state.push(0);
      this.tails.push("");
    }
    // KEYWORD operands as their bits in the user's table (a name not in it: 0, no message has it).
    const keywords = prog.keywords;
    for (let k = 0; k < keywords.length; k++) keywords[k] = view.maildrop.keywordBits(keywords[k] as string);
  }

  next(): string | undefined {
    if (this.done) return undefined;
    this.blocked = false;
    const m = this.view.maildrop;
    const prog = this.prog;
    let out = "";
    if (!this.begun) {
      this.begun = true;
      out = "* SEARCH";
    }
    // Messages answered without the card: a bounded number per call.
    for (let steps = 0; out.length < Job.Batch && steps < 256; steps++) {
      if (!this.scanning) {
        this.i++;
        const i = this.i;
        if (i >= m.list.count) {
          this.done = true;
          return out + "\r\n" + this.tag + " OK SEARCH completed\r\n";
        }
        // One index lookup of its flags per message (it searches the index).
        this.bits = m.stored(i);
        if (this.bits < 0) continue;
        // Card keys the header cache answers: a header field it holds that matches, a Date it holds.
        let cached: string | undefined = undefined;
        for (let k = 0; k < prog.kinds.length; k++) {
          this.state[k] = 0;
          this.tails[k] = "";
          if (prog.kinds[k] < Kind.Header) continue;
          if (cached === undefined) {
            try {
              cached = m.headers(i);
            } catch (e) {
              cached = "";
            }
          }
          this.testField(k, cached);
        }
        this.at = 0;
        const result = this.evaluate(i, false);
        if (result === 1) out += " " + decimal(this.byUid ? m.list.uidAt(i) : i + 1);
        if (result !== 2) continue;
        this.scanning = true;
        this.inHeader = true;
        this.line = "";
        this.field = "";
      }
      // The card pass: one read per call.
      const i = this.i;
      let chunk: string | undefined = undefined;
      let failed = false;
      try {
        chunk = readCard(this, m, i, 0, this.view.sendChunk || Job.Chunk);
      } catch (e) {
        failed = true;
      }
      if (failed && this.file === undefined) {
        // Not opened: deleted meanwhile (or a card error): it is left out.
        this.scanning = false;
        continue;
      }
      if (!failed && chunk === undefined) {
        this.blocked = out.length === 0;
        return out;
      }
      // A read that failed (a card error): what was read decides.
      const ended = chunk === undefined || chunk.length === 0;
      if (!ended) this.scan(chunk as string);
      let open = false;
      for (let k = 0; k < prog.kinds.length; k++) if (this.state[k] === 0 && (prog.kinds[k] < Kind.Header || this.inHeader)) open = true;
      // One read per call (the Sender yields the loop between calls).
      if (!ended && open) return out;
      {
        // The message is read, or nothing more can change the answer.
        if (ended && this.inHeader) this.scan("\n\n");
        this.release();
        this.scanning = false;
        this.at = 0;
        if (this.evaluate(i, true) === 1) out += " " + decimal(this.byUid ? m.list.uidAt(i) : i + 1);
        continue;
      }
      return out;
    }
    return out;
  }

  /** Closes the message file (imapjob.ts releaseFile, on the prototype below). */
  declare release: () => void;

  /**
   * Evaluates the program from `at` for message i: 1 holds, 0 does not,
   * 2 not known without the card (card keys not known yet; with `final`
   * a key still not known does not hold).
   */
  private evaluate(i: number, final: boolean): number {
    const code = this.prog.code;
    const m = this.view.maildrop;
    const op = code[this.at++] as number;
    if (op === Op.And) {
      const n = code[this.at++] as number;
      let result = 1;
      for (let c = 0; c < n; c++) {
        const r = this.evaluate(i, final);
        if (r === 0) result = 0;
        else if (r === 2 && result === 1) result = 2;
      }
      return result;
    }
    if (op === Op.Or) {
      const a = this.evaluate(i, final);
      const b = this.evaluate(i, final);
      return a === 1 || b === 1 ? 1 : a === 0 && b === 0 ? 0 : 2;
    }
    if (op === Op.Not) {
      const r = this.evaluate(i, final);
      return r === 2 ? 2 : 1 - r;
    }
    const arg = code[this.at++];
    let holds: boolean;
    if (op === Op.Card) {
      const s = this.state[arg as number];
      if (s === 0 && !final) return 2;
      holds = s === 1;
    } else if (op === Op.Const) holds = arg === 1;
    else if (op === Op.Seq || op === Op.Uid) {
      const set = arg as number[];
      const count = m.list.count;
      const n = op === Op.Seq ? i + 1 : m.list.uidAt(i);
      const star = op === Op.Seq ? count : m.list.uidAt(count - 1);
      holds = false;
      for (let r = 0; r + 1 < set.length && !holds; r += 2) {
        const lo = set[r] < 0 ? star : set[r];
        const hi = set[r + 1] < 0 ? star : set[r + 1];
        holds = lo <= hi ? n >= lo && n <= hi : n >= hi && n <= lo;
      }
    } else if (op === Op.Flags) {
      const want = code[this.at++] as number;
      holds = (this.bits & (arg as number)) === want;
    } else if (op === Op.Keyword) {
      const want = code[this.at++] as number;
      holds = ((m.keywords(i) & (this.prog.keywords[arg as number] as number)) !== 0) === (want === 1);
    } else if (op === Op.Recent) holds = this.view.recent(i) === (arg === 1);
    else if (op === Op.Larger) holds = m.list.size(i) > (arg as number);
    else if (op === Op.Smaller) holds = m.list.size(i) < (arg as number);
    else {
      const day = dayOf(m.time(i));
      holds = op === Op.Before ? day < (arg as number) : op === Op.On ? day === arg : day >= (arg as number);
    }
    return holds ? 1 : 0;
  }

  /**
   * Tests card key k against header `lines` (raw lines, each ending in a
   * line break): a header key holds when a field of its name holds the
   * needle; a Sent key compares the Date field's day. Only what the lines
   * prove is taken (a match; a Date they hold): else the key stays unknown
   * (the header cache may have left a long field out; on the card, a later
   * field may match), and unknown at the end does not hold.
   */
  private testField(k: number, lines: string): void {
    const prog = this.prog;
    const name = prog.names[k];
    // The field's values, continuation lines unfolded, each field on its own line.
    let value = "";
    let found = false;
    let p = 0;
    while (p < lines.length) {
      let nl = lines.indexOf("\n", p);
      if (nl < 0) nl = lines.length;
      const colon = lines.indexOf(":", p);
      if (colon > p && colon < nl) {
        let field = upper(lines.substring(p, colon));
        while (field.length > 0 && (field.charCodeAt(field.length - 1) === 32 || field.charCodeAt(field.length - 1) === 9)) field = field.substring(0, field.length - 1);
        if (field === name) {
          found = true;
          let end = nl;
          // Its continuation lines.
          while (end + 1 < lines.length && (lines.charCodeAt(end + 1) === 32 || lines.charCodeAt(end + 1) === 9)) {
            const more = lines.indexOf("\n", end + 1);
            end = more < 0 ? lines.length : more;
          }
          let text = lines.substring(colon + 1, end);
          // Unfolded: the line breaks inside go (RFC 5322 2.2.3).
          for (let b = text.indexOf("\n"); b >= 0; b = text.indexOf("\n")) text = text.substring(0, b > 0 && text.charCodeAt(b - 1) === 13 ? b - 1 : b) + text.substring(b + 1);
          value += text + "\n";
          nl = end;
        }
      }
      p = nl + 1;
    }
    const kind = prog.kinds[k];
    if (kind === Kind.Header) {
      // Another field of the name may still match: only a match decides.
      if (found && contains(value, value.toLowerCase(), prog.needles[k], prog.folded[k])) this.state[k] = 1;
      return;
    }
    if (!found) return;
    const day = parseDay(value, false);
    const want = parseDecimal(prog.needles[k]);
    // A message without a (readable) Date is neither before, on nor since any day.
    const holds = day !== NO_DAY && (kind === Kind.SentBefore ? day < want : kind === Kind.SentOn ? day === want : day >= want);
    this.state[k] = holds ? 1 : 2;
  }

  /** The card pass over the next piece of message i: header lines to their keys, text to BODY and TEXT. */
  private scan(chunk: string): void {
    const prog = this.prog;
    let body = chunk;
    if (this.inHeader) {
      // Whole header lines (a line longer than MaxField is cut), the field kept while it may be wanted.
      let buf = this.line + chunk;
      let p = 0;
      body = "";
      while (this.inHeader) {
        const nl = buf.indexOf("\n", p);
        if (nl < 0) break;
        const line = buf.substring(p, nl + 1);
        p = nl + 1;
        const c = line.charCodeAt(0);
        if (c === 32 || c === 9) {
          if (this.field.length + line.length <= Search.MaxField) this.field += line;
          continue;
        }
        // A new field or the blank line: the field before it is complete, and decides the header keys of its name.
        if (this.field.length > 0) {
          const field = this.field;
          this.field = "";
          for (let k = 0; k < prog.kinds.length; k++) if (prog.kinds[k] >= Kind.Header && this.state[k] === 0) this.testField(k, field);
        }
        if (line === "\n" || line === "\r\n") {
          this.inHeader = false;
          body = buf.substring(p);
        } else this.field = line.length <= Search.MaxField ? line : line.substring(0, Search.MaxField);
      }
      this.line = this.inHeader ? buf.substring(p) : "";
      if (this.line.length > Search.MaxField) this.line = this.line.substring(0, Search.MaxField);
    }
    for (let k = 0; k < prog.kinds.length; k++) {
      const kind = prog.kinds[k];
      if (this.state[k] !== 0 || kind > Kind.Text) continue;
      const text = kind === Kind.Text ? chunk : body;
      if (text.length === 0) continue;
      const window = this.tails[k].length > 0 ? this.tails[k] + text : text;
      if (contains(window, window.toLowerCase(), prog.needles[k], prog.folded[k])) this.state[k] = 1;
      const keep = prog.folded[k].length - 1;
      this.tails[k] = keep <= 0 ? "" : window.length > keep ? window.substring(window.length - keep) : window;
    }
  }
}
SearchJob.prototype.release = releaseFile;
