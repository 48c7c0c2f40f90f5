/**
 * IMAP FETCH (RFC 3501 6.4.5, 7.4.2; grammar in 9): the items a client may
 * ask for, parsed once per command into FetchItem records, and the job
 * that answers `* n FETCH (...)` for every message of a set, one chunk per
 * completed send. Bodies are read from the card as byte ranges only (the
 * part's, cut to the partial asked), so memory stays flat in message size
 * and in the number of messages: no object per message, one open file at
 * most (that message's), responses batched to about a send's size.
 */
import type { FileHandle } from "./hal";
import type { Maildrop } from "./mailbox";
import { type FetchSource, Job, readCard, releaseFile, type SelectedView } from "./imapjob";
import type { Token } from "./imapparse";
import type { MessageStructure } from "./mimestruct";
import { formatDate } from "./date";
import { decimal, parseDecimal, TOO_LARGE } from "./num";
import { find, upper } from "./text";
import { keptNames } from "./hdrcache";

export type { FetchSource, SelectedView } from "./imapjob";

/** The kinds of FETCH item (const: inlined). Kinds from Whole on are body sections read from the card. */
export const enum Item {
  Flags = 0,
  Uid = 1,
  InternalDate = 2,
  Size = 3,
  Envelope = 4,
  BodyStructure = 5,
  Body = 6,
  /** BODY[] or a part's body BODY[1.2] (path), RFC822. */
  Whole = 10,
  /** BODY[HEADER], BODY[1.HEADER], RFC822.HEADER. */
  Header = 11,
  Fields = 12,
  FieldsNot = 13,
  Text = 14,
  Mime = 15,
}

/** The figures of a fetch (const: inlined). */
const enum Fetch {
  /** A filtered header (HEADER.FIELDS) up to this size is kept from its one reading; a larger one is read twice (count, then send). */
  HeldFields = 1024,
  /** Nesting of part numbers ("1.2.3...") accepted: as the structure reader's. */
  MaxDepth = 16,
}

/** One FETCH item as asked: one record per item of the command, none per message. */
export interface FetchItem {
  kind: Item;
  /** The item's name in the response: "FLAGS", "BODY[HEADER.FIELDS (FROM TO)]<0>", "RFC822.HEADER". */
  name: string;
  /** Part number ("2.1"), "" for the message itself. */
  path: string;
  /** HEADER.FIELDS (.NOT): the field names, upper case, between spaces: " FROM TO ". */
  fields: string;
  /** The partial's first octet, -1 for none; and its octet count. */
  origin: number;
  count: number;
  /** Fetching it sets \Seen (not .PEEK, not RFC822.HEADER). */
  seen: boolean;
  /** The message's own HEADER.FIELDS of names the header cache keeps (hdrcache.ts keptNames): answered from the cache when its lines are whole. */
  cached: boolean;
}

/** Item names without a section, in Item order from Flags to Body. */
const SIMPLE = " FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY ";

/**
 * The FETCH items of a command (RFC 3501 6.4.5), from the argument after
 * the sequence set: a macro (ALL, FAST, FULL), one item, or a parenthesised
 * list of items. A section-bearing item (BODY.PEEK[HEADER.FIELDS (From
 * To)]<0.100>) is one token. A partial's count of 0 is accepted (it gives
 * an empty string) though RFC 3501's grammar asks for a non-zero one.
 * Returns the items, or the text of a BAD answer.
 */
export function parseFetchItems(args: Token[]): FetchItem[] | string {
  if (args.length !== 1) return "FETCH takes a sequence set and one item or a list of items";
  const arg = args[0];
  let atoms: Token[];
  if (typeof arg === "string") {
    const macro = upper(arg);
    if (macro === "ALL") atoms = ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"];
    else if (macro === "FAST") atoms = ["FLAGS", "INTERNALDATE", "RFC822.SIZE"];
    else if (macro === "FULL") atoms = ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"];
    else atoms = [arg];
  } else atoms = arg;
  if (atoms.length === 0) return "Empty list of FETCH items";
  const items: FetchItem[] = [];
  for (let n = 0; n < atoms.length; n++) {
    const atom = atoms[n];
    if (typeof atom !== "string") return "Invalid FETCH item (a list)";
    const word = upper(atom);
    const item: FetchItem = { kind: Item.Whole, name: word, path: "", fields: "", origin: -1, count: 0, seen: false, cached: false };
    items.push(item);
    const simple = word.indexOf("[") < 0 ? find(SIMPLE, " " + word + " ", 0) : -1;
    if (simple >= 0) {
      // The position of the name in SIMPLE says which: count the spaces before it.
      let kind = 0;
      for (let p = 0; p < simple; p++) if (SIMPLE.charCodeAt(p) === 32) kind++;
      item.kind = kind as Item;
      continue;
    }
    if (word === "RFC822") {
      item.seen = true;
      continue;
    }
    if (word === "RFC822.HEADER" || word === "RFC822.TEXT") {
      item.kind = word === "RFC822.HEADER" ? Item.Header : Item.Text;
      item.seen = word === "RFC822.TEXT";
      continue;
    }
    const open = word.indexOf("[");
    const close = word.indexOf("]");
    const head = word.substring(0, open);
    if (open < 0 || close < open || (head !== "BODY" && head !== "BODY.PEEK")) return "Unknown FETCH item " + (atom.length > 40 ? atom.substring(0, 40) + "..." : atom);
    item.seen = head === "BODY";
    // The section: a part number, then a keyword; HEADER.FIELDS takes a list of names.
    let section = word.substring(open + 1, close);
    let p = 0;
    let depth = 0;
    while (p < section.length && section.charCodeAt(p) >= 49 && section.charCodeAt(p) <= 57) {
      const dot = section.indexOf(".", p);
      const number = section.substring(p, dot < 0 ? section.length : dot);
      if (parseDecimal(number) <= 0 || parseDecimal(number) === TOO_LARGE || ++depth > Fetch.MaxDepth) return "Invalid part number in " + head;
      item.path = section.substring(0, p + number.length);
      p += number.length + 1;
      if (dot < 0) break;
    }
    const keyword = p >= section.length ? "" : section.substring(p);
    const space = keyword.indexOf(" ");
    const key = space < 0 ? keyword : keyword.substring(0, space);
    if (key === "HEADER.FIELDS" || key === "HEADER.FIELDS.NOT") {
      item.kind = key === "HEADER.FIELDS" ? Item.Fields : Item.FieldsNot;
      const list = keyword.substring(space + 1);
      if (space < 0 || list.charCodeAt(0) !== 40 || list.charCodeAt(list.length - 1) !== 41) return "HEADER.FIELDS needs a list of field names";
      // Names as atoms or quoted strings, upper case, one space between.
      const names = list.substring(1, list.length - 1);
      let name = "";
      for (let c = 0; c <= names.length; c++) {
        const code = c < names.length ? names.charCodeAt(c) : 32;
        if (code === 32) {
          if (name.length > 0) item.fields += " " + name;
          name = "";
        } else if (code !== 34) {
          // A field name is printable ASCII without ":" (RFC 5322 2.2).
          if (code < 33 || code > 126 || code === 58 || code === 40 || code === 41) return "Invalid header field name";
          name += names.charAt(c);
        }
      }
      if (item.fields.length === 0) return "HEADER.FIELDS needs a list of field names";
      section = (item.path.length > 0 ? item.path + "." : "") + key + " (" + item.fields.substring(1) + ")";
      item.fields += " ";
      item.cached = item.kind === Item.Fields && item.path.length === 0 && keptNames(item.fields);
    } else if (keyword === "HEADER") item.kind = Item.Header;
    else if (keyword === "TEXT") item.kind = Item.Text;
    else if (keyword === "MIME" && item.path.length > 0) item.kind = Item.Mime;
    else if (keyword.length > 0 || (p > 0 && section.charCodeAt(section.length - 1) === 46)) return "Invalid section in " + head;
    // The partial: <origin.count>.
    const rest = word.substring(close + 1);
    let partial = "";
    if (rest.length > 0) {
      const dot = rest.indexOf(".");
      if (rest.charCodeAt(0) !== 60 || rest.charCodeAt(rest.length - 1) !== 62 || dot < 0) return "Invalid partial in " + head;
      item.origin = parseDecimal(rest.substring(1, dot));
      item.count = parseDecimal(rest.substring(dot + 1, rest.length - 1));
      if (item.origin < 0 || item.count < 0) return "Invalid partial in " + head;
      partial = "<" + decimal(item.origin) + ">";
    }
    item.name = "BODY[" + section + "]" + partial;
  }
  return items;
}

/** An item read from the message itself without its structure: BODY[] and the message's own HEADER.FIELDS (.NOT). */
function topLevel(item: FetchItem): boolean {
  return item.path.length === 0 && (item.kind === Item.Whole || item.kind === Item.Fields || item.kind === Item.FieldsNot);
}

/**
 * "(\Answered \Seen $Forwarded)": stored flag bits (StoredFlag: Seen 1,
 * Answered 2, Flagged 4, Draft 8, Deleted 16), \Recent, then the keywords
 * (" name name", Maildrop.keywordText), in Dovecot's order.
 */
export function flagList(bits: number, recent: boolean, keywords: string): string {
  let out = "";
  if ((bits & 2) !== 0) out += " \\Answered";
  if ((bits & 4) !== 0) out += " \\Flagged";
  if ((bits & 16) !== 0) out += " \\Deleted";
  if ((bits & 1) !== 0) out += " \\Seen";
  if ((bits & 8) !== 0) out += " \\Draft";
  if (recent) out += " \\Recent";
  out += keywords;
  return "(" + out.substring(1) + ")";
}

/**
 * Index of the first message after `after` whose number (UID with
 * `byUid`, else sequence number) is in `set` ([lo, hi, ...] pairs, -1 for
 * "*"), or -1. Sequence numbers are i + 1; UIDs ascend with i, so each
 * range is found by a binary search: a set of a few ranges costs a few
 * steps per message, not a pass over the folder.
 */
export function nextInSet(maildrop: Maildrop, set: number[], byUid: boolean, after: number): number {
  const list = maildrop.list;
  const count = list.count;
  if (count === 0) return -1;
  // "*": the last message's number (RFC 3501 6.4.8: for UIDs the largest in use).
  const star = byUid ? list.uidAt(count - 1) : count;
  let best = -1;
  for (let r = 0; r + 1 < set.length; r += 2) {
    let lo = set[r] < 0 ? star : set[r];
    let hi = set[r + 1] < 0 ? star : set[r + 1];
    if (lo > hi) {
      const t = lo;
      lo = hi;
      hi = t;
    }
    let j: number;
    if (!byUid) j = lo - 1 > after ? lo - 1 : after + 1;
    else {
      // The first index after `after` whose UID is at least lo.
      let a = after + 1;
      let b = count;
      while (a < b) {
        const mid = Math.floor((a + b) / 2);
        if (list.uidAt(mid) < lo) a = mid + 1;
        else b = mid;
      }
      j = a;
    }
    if (j < count && (byUid ? list.uidAt(j) <= hi : j + 1 <= hi) && (best < 0 || j < best)) best = j;
  }
  return best;
}

/**
 * The FETCH answer as a stream (FetchSource): `* n FETCH (...)` for every
 * message of `set` that is still there (UID mode: the UID first), in
 * ascending order, then `tag OK` (`tag NO [EXPUNGEISSUED]` when a message
 * was deleted by another session meanwhile: it gets no response). Body
 * items go out as literals with exact octet counts; a non-PEEK body item
 * sets \Seen first (not when `view.readOnly`) and the response then carries
 * FLAGS. It waits (blocked) while no message file is free or a structure
 * is being built.
 */
export function fetchJob(view: SelectedView, tag: string, set: number[], byUid: boolean, items: FetchItem[]): FetchSource {
  return new FetchJob(view, tag, set, byUid, items);
}

class FetchJob implements FetchSource {
  blocked = false;
  onCardError: (() => void) | undefined = undefined;
  /** The message being answered (-1 before the first), the item in it (-1: between messages), its structure (when an item needs it). */
  private i = -1;
  private k = -1;
  private st: MessageStructure | undefined = undefined;
  /** The message's stored flags when its response began (one index lookup per message: it searches the index). */
  private bits = 0;
  /** The message's response needs FLAGS at its end (\Seen was set, FLAGS not asked). */
  private flags = false;
  /** A message of the set was gone. */
  private gone = false;
  private done = false;
  /** The open message file (the current message's: imapjob.ts readCard), and where reads continue. */
  file: FileHandle | undefined = undefined;
  private pos = 0;
  /** The current body item: 0 not begun, 1 filtering to count (HEADER.FIELDS), 2 sending its literal. */
  private phase = 0;
  /** Its byte range in the message, octets of the literal left, filtered octets still to skip (partial). */
  private from = 0;
  private end = 0;
  private left = 0;
  private skip = 0;
  /** HEADER.FIELDS: the filtered text counted so far (kept while small), its length; the line filter's state. */
  private held = "";
  private total = 0;
  private carry = "";
  private keep = false;
  private lineStart = true;
  /** The filter met the blank line that ends the header. */
  private ended = false;

  constructor(
    private view: SelectedView,
    private tag: string,
    private set: number[],
    private byUid: boolean,
    private items: FetchItem[],
  ) {}

  next(): string | undefined {
    if (this.done) return undefined;
    this.blocked = false;
    const view = this.view;
    const m = view.maildrop;
    const items = this.items;
    let out = "";
    while (out.length < Job.Batch) {
      const i = this.i;
      if (this.k < 0) {
        // The next message of the set.
        const at = nextInSet(m, this.set, this.byUid, i);
        if (at < 0) {
          this.done = true;
          return out + this.tag + (this.gone ? " NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\n" : " OK FETCH completed\r\n");
        }
        const bits = m.stored(at);
        if (bits < 0) {
          this.i = at;
          this.gone = true;
          continue;
        }
        // The structure, when an item needs it, is got before anything of the response is written: while it is being built, the job waits (blocked) at this message.
        let needs = false;
        for (let n = 0; n < items.length; n++) {
          const kind = items[n].kind;
          // The message's own HEADER.FIELDS needs none: its filter stops at the blank line.
          if ((kind >= Item.Envelope && kind <= Item.Body) || (kind >= Item.Whole && !topLevel(items[n]))) needs = true;
        }
        this.st = undefined;
        if (needs) {
          let failed = false;
          try {
            this.st = m.structure(at);
          } catch (e) {
            failed = true;
          }
          if (failed) {
            // Deleted meanwhile, or the card failed.
            if (m.stored(at) >= 0) return this.fail(out);
            this.i = at;
            this.gone = true;
            continue;
          }
          if (this.st === undefined) {
            this.blocked = out.length === 0;
            return out;
          }
        }
        this.i = at;
        this.flags = false;
        let wantsFlags = false;
        let seen = false;
        for (let n = 0; n < items.length; n++) {
          if (items[n].kind === Item.Flags) wantsFlags = true;
          if (items[n].seen) seen = true;
        }
        this.bits = bits;
        if (seen && !view.readOnly && (bits & 1) === 0) {
          try {
            m.store(at, bits | 1);
            this.bits = bits | 1;
            this.flags = !wantsFlags;
          } catch (e) {
            // Not recorded (card full or failing): the body is still sent, \Seen stays clear.
          }
        }
        out += "* " + decimal(at + 1) + " FETCH (";
        this.k = 0;
        if (this.byUid) {
          let asked = false;
          for (let n = 0; n < items.length; n++) if (items[n].kind === Item.Uid) asked = true;
          if (!asked) out += "UID " + decimal(m.list.uidAt(at)) + " ";
        }
        continue;
      }
      if (this.k >= items.length) {
        // The message's response ends; its file is given back now, not at the next message.
        this.st = undefined;
        out += (this.flags ? " FLAGS " + flagList(this.bits, view.recent(i), m.keywordText(m.keywords(i))) : "") + ")\r\n";
        this.k = -1;
        this.release();
        continue;
      }
      const item = items[this.k];
      const space = this.k > 0 && this.phase === 0 ? " " : "";
      if (item.kind < Item.Whole) {
        let value: string;
        if (item.kind === Item.Flags) value = flagList(this.bits, view.recent(i), m.keywordText(m.keywords(i)));
        else if (item.kind === Item.Uid) value = decimal(m.list.uidAt(i));
        else if (item.kind === Item.InternalDate) value = "\"" + formatDate(m.time(i), true) + "\"";
        else if (item.kind === Item.Size) value = decimal(m.list.size(i));
        else {
          const structure = this.st as MessageStructure;
          value = item.kind === Item.Envelope ? structure.envelope : item.kind === Item.BodyStructure ? structure.bodystructure : structure.body;
        }
        out += space + item.name + " " + value;
        this.k++;
        continue;
      }
      if (this.phase === 0) {
        // The item's byte range: [from, end) of the message, from its structure unless it is the whole message.
        let from = 0;
        let end = m.list.size(i);
        if (!topLevel(item)) {
          const part = (this.st as MessageStructure).part(item.path);
          const top = item.path.length === 0;
          // No such part, or HEADER/TEXT of a part that is no message/rfc822: NIL.
          if (part === undefined || (!top && part.inner < 0 && item.kind !== Item.Whole && item.kind !== Item.Mime)) {
            out += space + item.name + " NIL";
            this.k++;
            continue;
          }
          if (item.kind === Item.Whole) from = part.body;
          else if (item.kind === Item.Mime) from = part.header;
          else if (item.kind === Item.Text) from = top ? part.body : part.inner;
          else from = top ? 0 : part.body;
          if (item.kind === Item.Whole || (item.kind === Item.Text && !top)) end = part.end;
          else if (item.kind !== Item.Text) end = top ? part.body : item.kind === Item.Mime ? part.body : part.inner;
        }
        if (end > m.list.size(i)) end = m.list.size(i);
        if (item.cached) {
          // Every name asked is one the header cache keeps: from its lines when they are whole, the message unread (a header sync reads no message).
          let lines: string | undefined = undefined;
          try {
            lines = m.wholeHeaders(i);
          } catch (e) {
            return this.fail(out);
          }
          if (lines !== undefined) {
            this.startRange(0, 0, 0);
            const text = this.filter(lines, true) + "\r\n";
            out += space + this.span(item, text.length) + text.substring(this.skip, this.skip + this.left);
            this.k++;
            continue;
          }
        }
        if (item.kind === Item.Fields || item.kind === Item.FieldsNot) {
          // Filtered: its length is known only once the header is read (phase 1).
          out += space;
          this.startRange(from, end, 1);
          continue;
        }
        if (item.origin >= 0) {
          // The partial, in octets of the range (no sum that could pass 2^31).
          if (item.origin >= end - from) end = from;
          else {
            from += item.origin;
            if (item.count < end - from) end = from + item.count;
          }
        }
        if (end <= from) {
          out += space + item.name + " \"\"";
          this.k++;
          continue;
        }
        out += space + item.name + " {" + decimal(end - from) + "}\r\n";
        this.left = end - from;
        this.startRange(from, end, 2);
      }
      // Reading the range: the file is opened (or moved) here; none free: wait.
      const want = view.sendChunk || Job.Chunk;
      let chunk: string | undefined = undefined;
      const filtered = item.kind === Item.Fields || item.kind === Item.FieldsNot;
      const take = this.end - this.pos;
      try {
        chunk = readCard(this, m, i, this.pos, take < want ? take : want);
      } catch (e) {
        return this.fail(out);
      }
      if (chunk === undefined) {
        this.blocked = out.length === 0;
        return out;
      }
      this.pos += chunk.length;
      // A file shorter than its listed size ends the range where it ends.
      const last = chunk.length === 0 || this.pos >= this.end || this.ended;
      if (!filtered) {
        if (chunk.length === 0) return this.fail(out); // the promised octets cannot be sent
        this.left -= chunk.length;
        if (this.left <= 0) {
          this.phase = 0;
          this.k++;
        }
        return out + chunk;
      }
      let text = this.filter(chunk, last);
      if (last) text += "\r\n"; // the blank line that ends a header
      if (this.phase === 1) {
        this.total += text.length;
        if (this.total <= Fetch.HeldFields) this.held += text;
        // One read per call: a long header is counted over several sends' turns.
        if (!last) return out;
        // Counted: the literal's length, cut to the partial.
        out += this.span(item, this.total);
        if (this.left === 0 || this.total <= Fetch.HeldFields) {
          // Read once: what was kept goes out now.
          out += this.held.substring(this.skip, this.skip + this.left);
          this.held = "";
          this.phase = 0;
          this.k++;
          continue;
        }
        // Too large to keep: read again, sending this time (skip and left stay).
        this.startRange(this.from, this.end, 2);
        continue;
      }
      // Phase 2 of a filtered header: skip the partial's start, send up to its count.
      if (this.skip > 0) {
        const cut = this.skip < text.length ? this.skip : text.length;
        this.skip -= cut;
        text = text.substring(cut);
      }
      if (text.length > this.left) text = text.substring(0, this.left);
      this.left -= text.length;
      if (this.left <= 0) {
        this.phase = 0;
        this.k++;
      } else if (last) return this.fail(out); // the header changed between the readings
      return out + text;
    }
    return out;
  }

  /** Closes the message file (imapjob.ts releaseFile, on the prototype below: one function for both jobs). */
  declare release: () => void;

  /**
   * The start of filtered `item`'s value of `total` octets: `NAME ""`, or
   * `NAME {n}` CRLF for the literal; this.skip and this.left are set to
   * the partial's first octet and its length.
   */
  private span(item: FetchItem, total: number): string {
    let origin = item.origin < 0 ? 0 : item.origin;
    if (origin >= total) origin = total;
    let length = total - origin;
    if (item.origin >= 0 && item.count < length) length = item.count;
    this.skip = origin;
    this.left = length;
    return item.name + (length === 0 ? " \"\"" : " {" + decimal(length) + "}\r\n");
  }

  /** Begins reading [from, end) in `phase`: the open file is moved there. */
  private startRange(from: number, end: number, phase: number): void {
    this.from = from;
    this.end = end;
    this.pos = from;
    this.phase = phase;
    this.total = 0;
    this.held = "";
    this.carry = "";
    this.keep = false;
    this.lineStart = true;
    this.ended = false;
    if (this.file !== undefined) this.file.seek(from);
  }

  /** The card failed: the answer ends here (the session closes the connection after `out`). */
  private fail(out: string): string | undefined {
    this.done = true;
    this.release();
    const hook = this.onCardError;
    if (hook !== undefined) hook();
    return out.length > 0 ? out : undefined;
  }

  /**
   * HEADER.FIELDS (.NOT): the lines of `data` (the next piece of a header
   * section) that belong to fields named (or, with .NOT, not named) in the
   * item, with their continuation lines, raw. A line's start is held back
   * until its name is complete; lines that are no field (the blank line)
   * are dropped. `last`: no more data follows.
   */
  private filter(data: string, last: boolean): string {
    const s = this.carry.length > 0 ? this.carry + data : data;
    this.carry = "";
    const item = this.items[this.k];
    let out = "";
    let pos = 0;
    while (pos < s.length) {
      if (this.lineStart) {
        const c = s.charCodeAt(pos);
        if (c !== 32 && c !== 9) {
          const colon = s.indexOf(":", pos);
          const nl = s.indexOf("\n", pos);
          if (nl < 0 && colon < 0 && !last && s.length - pos < 256) {
            this.carry = s.substring(pos);
            return out;
          }
          let name = colon < 0 || (nl >= 0 && nl < colon) ? "" : upper(s.substring(pos, colon));
          // RFC 5322 4.5.3: white space before the colon.
          while (name.length > 0 && (name.charCodeAt(name.length - 1) === 32 || name.charCodeAt(name.length - 1) === 9)) name = name.substring(0, name.length - 1);
          if (c === 10 || (c === 13 && s.charCodeAt(pos + 1) === 10)) {
            // The blank line: the header ends here.
            this.ended = true;
            return out;
          }
          if (name.length === 0 || name.indexOf(" ") >= 0 || c === 13) this.keep = false;
          else this.keep = (find(item.fields, " " + name + " ", 0) >= 0) !== (item.kind === Item.FieldsNot);
        }
        this.lineStart = false;
      }
      const nl = s.indexOf("\n", pos);
      const end = nl < 0 ? s.length : nl + 1;
      if (this.keep) out += pos === 0 && end === s.length ? s : s.substring(pos, end);
      if (nl >= 0) this.lineStart = true;
      pos = end;
    }
    return out;
  }
}
FetchJob.prototype.release = releaseFile;
