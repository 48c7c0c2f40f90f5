/**
 * The MIME structure of a message for IMAP (RFC 3501 7.4.2): its ENVELOPE,
 * BODYSTRUCTURE and BODY, and the octet range of every part, read once from
 * the message's octets fed in chunks of any size (StructureReader), kept on
 * the card in the header cache (hdrcache.ts) and read back (parseStructure).
 *
 * Streaming and flat in message size: only header sections are read line by
 * line (a line kept at most Mime.MaxLine octets, a field's value
 * Mime.MaxValue); a body is passed over with a native search for "\n--"
 * per chunk (text.ts `find`), checked against the open boundaries, and its
 * line feeds are counted (one native search per line) only where a line
 * count is reported: text/* parts and anything inside a message/rfc822.
 * Memory: the open parts (at most Mime.MaxDepth multiparts or
 * message/rfc822 deep; a deeper one is a leaf, logged), the strings of the
 * parts finished (at most Mime.MaxParts parts; later boundaries of the
 * message are body, logged), and a held-back tail of at most a boundary
 * line.
 *
 * Output follows Dovecot 2.3 where the RFC leaves a choice (compared in
 * test/mimestruct-dovecot.test.ts): types, subtypes, parameter names and
 * encodings as the message writes them; defaults "text" "plain"
 * ("charset" "us-ascii") and "7bit"; a part's line count is its line
 * feeds; RFC 2231 continuations joined ("title*"); the address parser's
 * MISSING_MAILBOX / MISSING_DOMAIN / SYNTAX_ERROR fillers; strings with
 * quotes, 8-bit octets or line ends sent as literals; Subject and display
 * names with white space runs made one space. Unlike Dovecot: sizes are
 * the stored octets (Dovecot counts a bare LF as CRLF); a header value is
 * cut at Mime.MaxValue. Like Dovecot, a folded value keeps the fold's LF
 * (not its CR): Subject and names drop it, other strings are then sent as
 * literals holding it.
 */
import { word } from "./mailindex";
import { decimal, parseDecimal } from "./num";
import { find, lower } from "./text";

/** The reader's limits (a const enum: inlined). */
export const enum Mime {
  /** Multiparts and message/rfc822 parts nested deeper than this are leaves. */
  MaxDepth = 16,
  /** Parts per message; the boundaries after the last are body. */
  MaxParts = 100,
  /** A header line longer than this is not read (its field is left out). */
  MaxLine = 2048,
  /** Octets kept of one header field's value (unfolded). */
  MaxValue = 2048,
  /** A boundary longer than this (RFC 2046 allows 70) makes the multipart a leaf. */
  MaxBoundary = 200,
}

/** Octet ranges of a part, from the message's first octet (ISSUE17-PLAN.md). */
export interface PartRange {
  /** The part's MIME header starts here (for "": 0). */
  header: number;
  /** Its body starts here (after the blank line). */
  body: number;
  /** Its body ends here (before the CRLF that precedes the next boundary). */
  end: number;
  /** message/rfc822 parts: where the enclosed message's body starts (its header is body..inner); -1 otherwise. */
  inner: number;
}

/** What FETCH needs of a message's structure (ISSUE17-PLAN.md). */
export interface MessageStructure {
  /** RFC 3501 7.4.2 ENVELOPE, ready to send: "(date subject (from) ... in-reply-to message-id)". */
  envelope: string;
  /** BODYSTRUCTURE, extensible form, ready to send. */
  bodystructure: string;
  /** BODY (non-extensible form). */
  body: string;
  /** Octet ranges of part `path` ("" = whole message; "1", "2.1.3"), or undefined when there is no such part. */
  part(path: string): PartRange | undefined;
}

const enum Kind {
  Leaf = 0,
  Multipart = 1,
  /** message/rfc822: its body is a message (the next entity on the stack). */
  Message = 2,
}

const enum State {
  Header = 0,
  Body = 1,
  /** The rest of a boundary line, then a header (or the epilogue). */
  SkipLine = 2,
  /** The rest of a header line too long to read, then the header goes on. */
  SkipHeader = 3,
}

/**
 * Header fields read, by letter after "=" (a - h: MIME fields of every
 * part; i - r: the envelope's, read in a message's own header only).
 */
const FIELDS =
  " content-type=a content-transfer-encoding=b content-id=c content-description=d content-md5=e content-disposition=f content-language=g content-location=h" +
  " date=i subject=j from=k sender=l reply-to=m to=n cc=o bcc=p in-reply-to=q message-id=r ";

const enum Field {
  Type = 0,
  Encoding = 1,
  Id = 2,
  Description = 3,
  Md5 = 4,
  Disposition = 5,
  Language = 6,
  Location = 7,
  Dated = 8,
  Subject = 9,
  From = 10,
  Sender = 11,
  ReplyTo = 12,
  To = 13,
  Cc = 14,
  Bcc = 15,
  InReplyTo = 16,
  MessageId = 17,
}

/** A part being read. */
interface Entity {
  kind: Kind;
  /** Its header holds a message's envelope (the message itself, or a message/rfc822 part's body). */
  root: boolean;
  /** Its IMAP part number ("" for none: the top multipart, a message/rfc822's multipart body). */
  num: string;
  /** What its children's numbers extend. */
  prefix: string;
  header: number;
  body: number;
  /** Line feeds counted when its body started. */
  lf0: number;
  /** Field values by Field (absent: undefined). */
  f: { [field: number]: string };
  /** Multipart: its boundary ("" when it has none or after its close delimiter). */
  boundary: string;
  /** Multipart: parts so far; digest: its children default to message/rfc822. */
  count: number;
  digest: boolean;
  /** Its body's lines are counted (text/*). */
  text: boolean;
  /** Multipart: the children's BODYSTRUCTUREs and BODYs; Message: the enclosed message's ENVELOPE, BODYSTRUCTURE and BODY, space-separated. */
  kids: string;
  kidsBody: string;
  /** Message: where the enclosed message's body starts. */
  inner: number;
  envelope: string;
  /** The field being read (-1: none) and, for the type fields, the value's parse: [type, subtype, name, value, ...]. */
  field: number;
}

/**
 * A string as IMAP sends it (as Dovecot's imap_append_nstring): NIL for
 * undefined; quoted, with `"` and `\` escaped (at most 4); else, and for
 * CR, LF or 8-bit octets, a literal "{n}\r\n...".
 */
export function nstring(s: string | undefined): string {
  if (s === undefined) return "NIL";
  let escapes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 92) escapes++;
    if (c === 13 || c === 10 || c === 0 || c >= 128 || escapes > 4) return "{" + decimal(s.length) + "}\r\n" + s;
  }
  if (escapes === 0) return "\"" + s + "\"";
  let out = "\"";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 92) {
      out += s.substring(from, i) + "\\";
      from = i;
    }
  }
  return out + s.substring(from) + "\"";
}

/** `s` without NUL octets (they separate repeated fields' values here). */
function noNul(s: string): string {
  for (let i = find(s, String.fromCharCode(0), 0); i >= 0; i = find(s, String.fromCharCode(0), i)) s = s.substring(0, i) + s.substring(i + 1);
  return s;
}

/**
 * Text for people (Subject, display names), as Dovecot's
 * imap_append_string_for_humans: runs of spaces and tabs made one space,
 * line ends dropped, leading and trailing space cut; when that changed
 * anything or the text has quotes or 8-bit octets, a literal.
 */
function humans(s: string): string {
  let out = "";
  let changed = false;
  let i = 0;
  while (i < s.length) {
    const ws = i;
    while (i < s.length && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9 || s.charCodeAt(i) === 13 || s.charCodeAt(i) === 10)) i++;
    if (i > ws) {
      if (i - ws > 1 || s.charCodeAt(ws) !== 32 || ws === 0 || i === s.length) changed = true;
      if (out.length > 0 && i < s.length) out += " ";
    }
    const w = i;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9 || c === 13 || c === 10) break;
      if (c === 34 || c === 92 || c >= 128 || c === 0) changed = true;
    }
    out += s.substring(w, i);
  }
  if (!changed) return "\"" + out + "\"";
  return out.length === 0 ? "\"\"" : "{" + decimal(out.length) + "}\r\n" + out;
}

/** Position after the white space, line ends and comments (nested, with quoted pairs) at v[i]. */
function skipSpace(v: string, i: number): number {
  while (i < v.length) {
    const c = v.charCodeAt(i);
    if (c === 40) {
      let depth = 0;
      for (; i < v.length; i++) {
        const d = v.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 40) depth++;
        else if (d === 41 && --depth === 0) break;
      }
      i++;
    } else if (c === 32 || c === 9 || c === 13 || c === 10) i++;
    else break;
  }
  return i;
}

/** Octets that end a token, by set (a const enum: inlined). */
const enum Ends {
  /** RFC 2045 5.1 tspecials: ( ) < > @ , ; : \ " / [ ] ? = (and 8-bit). */
  Mime = 0,
  /** ";" only (a bare encoded-word parameter value; and 8-bit). */
  Semicolon = 1,
  /** RFC 5322 3.2.3 specials: ( ) < > [ ] : ; @ \ , . " (and 8-bit): language tags. */
  Atom = 2,
  /** The same, but 8-bit octets are atext (as Dovecot's rfc822 parser): local parts and domains. */
  Word = 3,
  /** The same, dots included: obsolete phrases. */
  WordDots = 4,
}

/** Whether octet `c` ends a token of `set`; controls, space and DEL end every one (a comparison chain: no search per octet). */
function ends(c: number, set: Ends): boolean {
  if (c <= 32 || c === 127) return true;
  if (c > 127) return set < Ends.Word;
  if (set === Ends.Semicolon) return c === 59;
  if (c === 40 || c === 41 || c === 60 || c === 62 || c === 64 || c === 44 || c === 59 || c === 58 || c === 92 || c === 34 || c === 91 || c === 93) return true;
  if (set === Ends.Mime) return c === 47 || c === 63 || c === 61;
  return c === 46 && set !== Ends.WordDots;
}

/** End of the token of `set` that starts at v[i]. */
function tokenEnd(v: string, i: number, set: Ends): number {
  while (i < v.length && !ends(v.charCodeAt(i), set)) i++;
  return i;
}

/**
 * A MIME field value (RFC 2045 5.1 `type/subtype *(; name=value)`, RFC
 * 2183 dispositions) as [main, subtype, name, value, ...], read as
 * Dovecot's rfc822 parser does: comments skipped; the main value a token
 * ("" when something else comes first); parameters while each follows a
 * ";" and is a token, "=" and a token or quoted string (an unquoted value
 * starting with "=", a bare encoded word, runs to the next ";" or space),
 * the first broken one ending them. RFC 2231 continuations (name*0*,
 * name*1 ...) are joined in order under "name*" (or "name" when none is
 * encoded).
 */
function mimeValue(v: string): string[] {
  let i = skipSpace(v, 0);
  let e = tokenEnd(v, i, Ends.Mime);
  const out: string[] = [v.substring(i, e), ""];
  i = skipSpace(v, e);
  if (i < v.length && v.charCodeAt(i) === 47) {
    i = skipSpace(v, i + 1);
    e = tokenEnd(v, i, Ends.Mime);
    out[1] = v.substring(i, e);
    i = skipSpace(v, e);
  }
  while (i < v.length && v.charCodeAt(i) === 59) {
    i = skipSpace(v, i + 1);
    e = tokenEnd(v, i, Ends.Mime);
    const name = v.substring(i, e);
    i = skipSpace(v, e);
    if (name.length === 0 || i >= v.length || v.charCodeAt(i) !== 61) break;
    i = skipSpace(v, i + 1);
    let token = "";
    if (i < v.length && v.charCodeAt(i) === 34) {
      let from = ++i;
      for (; i < v.length && v.charCodeAt(i) !== 34; i++) {
        if (v.charCodeAt(i) === 92) {
          token += v.substring(from, i);
          from = ++i;
        }
      }
      token += v.substring(from, i < v.length ? i : v.length);
      i++;
    } else {
      e = i < v.length && v.charCodeAt(i) === 61 ? tokenEnd(v, i, Ends.Semicolon) : tokenEnd(v, i, Ends.Mime);
      token = v.substring(i, e);
      i = e;
    }
    i = skipSpace(v, i);
    const star = find(name, "*", 0);
    const rest = star > 0 ? name.substring(star + 1) : "";
    const seg = rest.length > 0 && rest.charCodeAt(rest.length - 1) === 42 ? rest.substring(0, rest.length - 1) : rest;
    if (star > 0 && seg.length > 0 && parseDecimal(seg) >= 0) {
      // A continuation: joined to the earlier segments of its name.
      const base = name.substring(0, star);
      let k = out.length - 2;
      while (k >= 2 && out[k] !== base && out[k] !== base + "*") k -= 2;
      if (k < 2) {
        out.push(rest.length > seg.length ? base + "*" : base);
        out.push(token);
      } else {
        if (rest.length > seg.length) out[k] = base + "*";
        out[k + 1] += token;
      }
    } else {
      out.push(name);
      out.push(token);
    }
  }
  return out;
}

/** "(name value ...)" of mimeValue's parameters from index 2, or NIL; `charset` adds "charset" "us-ascii" when no charset is given. */
function paramList(p: string[], charset: boolean): string {
  let out = "";
  for (let k = 2; k + 1 < p.length; k += 2) {
    if (lower(p[k]) === "charset") charset = false;
    out += (out.length > 0 ? " " : "") + nstring(p[k]) + " " + nstring(p[k + 1]);
  }
  if (charset) out += (out.length > 0 ? " " : "") + "\"charset\" \"us-ascii\"";
  return out.length > 0 ? "(" + out + ")" : "NIL";
}

/** The extension data common to every part: disposition, language, location (RFC 3501 body-ext-1part after md5). */
function extension(f: { [field: number]: string }): string {
  let out = "NIL";
  const disposition = f[Field.Disposition];
  for (let i = 0; disposition !== undefined && i <= disposition.length; ) {
    let e = find(disposition, String.fromCharCode(0), i);
    if (e < 0) e = disposition.length;
    const p = mimeValue(disposition.substring(i, e));
    out = "(" + nstring(p[0]) + " " + paramList(p, false) + ")";
    i = p.length > 2 ? disposition.length + 1 : e + 1;
  }
  // Language tags (RFC 3282): atoms separated by commas, up to the first that is not one; of several fields the first with one.
  const language = f[Field.Language] || "";
  let list = "";
  for (let i = skipSpace(language, 0); i < language.length && list.length === 0; i = skipSpace(language, i)) {
    for (;;) {
      const e = tokenEnd(language, i, Ends.Atom);
      if (e === i) break;
      list += (list.length > 0 ? " " : "") + nstring(language.substring(i, e));
      i = skipSpace(language, e);
      if (i >= language.length || language.charCodeAt(i) !== 44) break;
      i = skipSpace(language, i + 1);
    }
    const next = find(language, String.fromCharCode(0), i);
    i = next < 0 ? language.length : next + 1;
  }
  out += list.length > 0 ? " (" + list + ")" : " NIL";
  return out + " " + nstring(f[Field.Location]);
}

// ---- addresses (RFC 5322 3.4), parsed as Dovecot's message-address.c does ----

/** The address being scanned, the position in it, and the last comment met (an addr-spec's display name). */
let scan = "";
let at = 0;
let comment = "";

/** Skips white space, line ends and comments (remembering the last one's text). */
function cfws(): void {
  while (at < scan.length) {
    const c = scan.charCodeAt(at);
    if (c === 32 || c === 9 || c === 13 || c === 10) at++;
    else if (c === 40) {
      let depth = 0;
      const from = at + 1;
      for (; at < scan.length; at++) {
        const d = scan.charCodeAt(at);
        if (d === 92) at++;
        else if (d === 40) depth++;
        else if (d === 41 && --depth === 0) break;
      }
      comment = scan.substring(from, at < scan.length ? at : scan.length);
      at++;
    } else return;
  }
}

/**
 * Words from `at`: kind 0 a phrase (atoms with dots and quoted strings,
 * joined by one space), 1 a local part (dot-atom or quoted strings joined
 * by dots), 2 a domain (dot-atom or a [literal]). Stops at anything else.
 */
function words(kind: number): string {
  let out = "";
  cfws();
  if (kind === 2 && at < scan.length && scan.charCodeAt(at) === 91) {
    const from = at;
    while (at < scan.length && scan.charCodeAt(at) !== 93) at++;
    at++;
    out = scan.substring(from, at < scan.length ? at : scan.length);
    cfws();
    return out;
  }
  let first = true;
  while (at < scan.length) {
    const c = scan.charCodeAt(at);
    let word = "";
    // A local part is one quoted string or a dot-atom (Dovecot's parse_local_part).
    if (kind === 1 && !first && c === 34) break;
    if (c === 34 && kind !== 2) {
      let from = ++at;
      for (; at < scan.length && scan.charCodeAt(at) !== 34; at++) {
        if (scan.charCodeAt(at) === 92) {
          word += scan.substring(from, at);
          from = ++at;
        }
      }
      word += scan.substring(from, at < scan.length ? at : scan.length);
      at++;
    } else {
      const from = at;
      while (at < scan.length) {
        const d = scan.charCodeAt(at);
        // atext (RFC 5322 3.2.3), and "." where dot-atoms and obsolete phrases allow it
        if (ends(d, kind === 0 ? Ends.WordDots : Ends.Word)) break;
        at++;
      }
      if (at === from) break;
      word = scan.substring(from, at);
    }
    out += first || kind !== 0 ? word : " " + word;
    cfws();
    if (kind === 1 && first && c === 34) return out;
    first = false;
    if (kind !== 0) {
      // A dot-atom goes on only after a dot.
      if (at >= scan.length || scan.charCodeAt(at) !== 46) break;
      out += ".";
      at++;
      cfws();
    }
  }
  return out;
}

/** One mailbox (name-addr or addr-spec) from `at` as "(name adl mailbox host)", Dovecot's fillers for missing parts. */
function mailbox(): string {
  const start = at;
  comment = "";
  let name = words(0);
  let route = "";
  let box = "";
  let host = "";
  let broken = false;
  if (at < scan.length && scan.charCodeAt(at) === 60) {
    at++;
    cfws();
    while (at < scan.length && scan.charCodeAt(at) === 64) {
      at++;
      route += (route.length > 0 ? ",@" : "@") + words(2);
      while (at < scan.length && scan.charCodeAt(at) === 44) {
        at++;
        cfws();
      }
    }
    if (route.length > 0) {
      if (at < scan.length && scan.charCodeAt(at) === 58) at++;
      else broken = true;
    }
    if (!broken) {
      box = words(1);
      if (at < scan.length && scan.charCodeAt(at) === 64) {
        at++;
        host = words(2);
      }
      if (at < scan.length && scan.charCodeAt(at) === 62) at++;
      else broken = true;
    }
    if (broken) host = "SYNTAX_ERROR";
    cfws();
  } else {
    at = start;
    comment = "";
    cfws();
    const quoted = at < scan.length && scan.charCodeAt(at) === 34;
    box = words(1);
    name = "";
    if (at < scan.length && scan.charCodeAt(at) === 64) {
      at++;
      host = words(2);
      name = comment;
    } else if (comment.length > 0) name = comment;
    else {
      // A word not followed by "@": more words make it all a display name without an address (Dovecot 2.3).
      const more = words(0);
      if (more.length > 0 || quoted) {
        name = more.length > 0 ? box + " " + more : box;
        box = "";
      }
    }
  }
  return "(" + (name.length > 0 ? humans(name) : "NIL") + " " + (route.length > 0 ? nstring(route) : "NIL") + " " + nstring(box.length > 0 ? box : "MISSING_MAILBOX") + " " + nstring(host.length > 0 ? host : "MISSING_DOMAIN") + ")";
}

/**
 * An address-list field's value (RFC 5322 3.4, groups as RFC 3501's group
 * markers) as "((...)(...))", "" for no address. Several fields' values
 * are separated by NUL (kept out of values): each is read on its own,
 * their lists joined.
 */
function addresses(value: string): string {
  let out = "";
  for (let from = 0; from <= value.length; ) {
    let to = find(value, String.fromCharCode(0), from);
    if (to < 0) to = value.length;
    out += addressList(value.substring(from, to));
    from = to + 1;
  }
  return out.length > 0 ? "(" + out + ")" : "";
}

/** The addresses of one field's value, each "(name adl mailbox host)". */
function addressList(value: string): string {
  scan = value;
  at = 0;
  let out = "";
  cfws();
  while (at < scan.length) {
    const start = at;
    const group = words(0);
    if (at < scan.length && scan.charCodeAt(at) === 58) {
      at++;
      out += "(NIL NIL " + nstring(group) + " NIL)";
      cfws();
      while (at < scan.length && scan.charCodeAt(at) !== 59) {
        out += mailbox();
        if (at < scan.length && scan.charCodeAt(at) === 44) at++;
        else break;
        cfws();
      }
      if (at < scan.length && scan.charCodeAt(at) === 59) at++;
      out += "(NIL NIL NIL NIL)";
      cfws();
    } else {
      at = start;
      out += mailbox();
    }
    if (at >= scan.length || scan.charCodeAt(at) !== 44) break;
    at++;
    cfws();
  }
  scan = "";
  return out;
}

/** A root entity's ENVELOPE from its fields; Sender and Reply-To default to From (RFC 3501 7.4.2). */
function envelope(f: { [field: number]: string }): string {
  let out = "(" + nstring(f[Field.Dated]) + " " + (f[Field.Subject] === undefined ? "NIL" : humans(f[Field.Subject])) + " ";
  const from = addresses(f[Field.From] || "");
  for (let k = Field.From; k <= Field.Bcc; k++) {
    let list = k === Field.From ? from : addresses(f[k] || "");
    if (list.length === 0 && (k === Field.Sender || k === Field.ReplyTo)) list = from;
    out += (list.length > 0 ? list : "NIL") + " ";
  }
  return out + nstring(f[Field.InReplyTo]) + " " + nstring(f[Field.MessageId]) + ")";
}

// ---- the reader ----

/** A message's structure as parseStructure or StructureReader.finish give it. */
class Structure implements MessageStructure {
  constructor(
    readonly envelope: string,
    readonly bodystructure: string,
    readonly body: string,
    /** "\n<path> <header> <body> <end> <inner>" per part, "" first. */
    readonly parts: string,
  ) {}

  part(path: string): PartRange | undefined {
    const i = find(this.parts, "\n" + path + " ", 0);
    if (i < 0) return undefined;
    const n: number[] = [];
    let from = i + path.length + 2;
    for (let k = from; n.length < 4; k++) {
      if (k >= this.parts.length || this.parts.charCodeAt(k) === 32 || this.parts.charCodeAt(k) === 10) {
        const s = this.parts.substring(from, k);
        n.push(s === "-1" ? -1 : parseDecimal(s));
        from = k + 1;
      }
    }
    return { header: n[0], body: n[1], end: n[2], inner: n[3] };
  }
}

/** A new entity whose header starts at `header`. */
function entity(header: number, num: string, prefix: string, root: boolean): Entity {
  return { kind: Kind.Leaf, root: root, num: num, prefix: prefix, header: header, body: header, lf0: 0, f: {}, boundary: "", count: 0, digest: false, text: false, kids: "", kidsBody: "", inner: -1, envelope: "", field: -1 };
}

/**
 * Reads a message's structure from its octets: push() them in chunks of
 * any size (the same output for every split), then finish(). Memory: see
 * the module's comment. `log` gets a line when a limit cuts the structure.
 */
export class StructureReader {
  /** The open entities, outermost first. */
  private stack: Entity[] = [entity(0, "1", "", true)];
  private state = State.Header;
  /** Octets of the message consumed (the absolute offset of what push() holds back and gets next). */
  private pos = 0;
  /** Held back from the last chunk: a header line's start, or a possible boundary line's start. */
  private held = "";
  /** Line feeds counted (only where some open part reports lines). */
  private lf = 0;
  /** The last octet consumed (a CR before the LF of a boundary belongs to the delimiter). */
  private last = 10;
  private prev = 10;
  /** In a body at the start of a line (no LF before it in what is held). */
  private bol = false;
  /** Entities made (Mime.MaxParts); multiparts and message/rfc822 parts open (Mime.MaxDepth); message/rfc822 parts open. */
  private parts = 1;
  private depth = 0;
  private rfc = 0;
  private ranges = "";
  private result: Structure | undefined = undefined;

  constructor(private log?: (line: string) => void) {}

  /** Reads the next octets of the message. */
  push(chunk: string): void {
    let data = chunk;
    if (this.held.length > 0) {
      data = this.held + chunk;
      this.held = "";
    }
    this.run(data, false);
  }

  /** The structure, once the last octet was pushed. */
  finish(): MessageStructure {
    if (this.result === undefined) {
      const data = this.held;
      this.held = "";
      this.run(data, true);
      const end = this.pos;
      while (this.state === State.Header) this.headerEnd(end, end);
      this.close(0, end);
    }
    return this.result as Structure;
  }

  /** Consumes `data` (starting at this.pos); holds back what needs more octets unless `final`. */
  private run(data: string, final: boolean): void {
    let p = 0;
    while (p < data.length) {
      if (this.state === State.SkipLine || this.state === State.SkipHeader) {
        const e = find(data, "\n", p);
        if (e < 0) {
          this.take(data, p, data.length);
          return;
        }
        this.take(data, p, e + 1);
        p = e + 1;
        this.lf++;
        const top = this.stack[this.stack.length - 1];
        if (this.state === State.SkipHeader) this.state = State.Header;
        else if (top.kind === Kind.Multipart) this.state = State.Body; // after a close delimiter: the epilogue
        else {
          top.header = top.body = this.pos;
          this.state = State.Header;
        }
        this.bol = true;
      } else if (this.state === State.Header) {
        const e = find(data, "\n", p);
        if (e < 0 && !final) {
          if (data.length - p > Mime.MaxLine) {
            // A header line too long to keep: its field is not read, the rest of it skipped.
            this.stack[this.stack.length - 1].field = -1;
            this.take(data, p, data.length);
            this.state = State.SkipHeader;
            return;
          }
          this.hold(data, p);
          return;
        }
        const lineEnd = e < 0 ? data.length : e + 1;
        p = this.headerLine(data, p, lineEnd);
      } else p = this.scanBody(data, p, final);
    }
  }

  /** Consumes data[p, q): the offset moves on, and the last octet is remembered. */
  private take(data: string, p: number, q: number): void {
    if (q > p) {
      this.pos += q - p;
      this.prev = q - 2 >= p ? data.charCodeAt(q - 2) : this.last;
      this.last = data.charCodeAt(q - 1);
    }
  }

  private hold(data: string, p: number): void {
    this.held = data.substring(p);
  }

  /** One header line data[p, q) (q after its LF, or the end of the message): returns q, or p when a boundary line ended the header. */
  private headerLine(data: string, p: number, q: number): number {
    const top = this.stack[this.stack.length - 1];
    const c = data.charCodeAt(p);
    if (c === 45 && this.boundaryAt(data, p, true) >= 0) {
      // A boundary line where a header was expected: the header ends before the CRLF that precedes it.
      this.headerEnd(this.pos, this.pos);
      this.bol = true;
      return p;
    }
    let line = data.substring(p, q);
    this.take(data, p, q);
    if (q > p && data.charCodeAt(q - 1) === 10) {
      this.lf++;
      line = line.substring(0, line.length - (line.length >= 2 && line.charCodeAt(line.length - 2) === 13 ? 2 : 1));
    }
    if (line.length === 0) {
      if (q > p) this.headerEnd(this.pos, this.pos);
      return q;
    }
    if (c === 32 || c === 9) {
      // A folded line continues the field being read.
      const field = top.field;
      // As Dovecot's value: the fold's LF kept (its CR dropped); people's text and literals show it.
      if (field >= 0 && top.f[field].length + line.length < Mime.MaxValue) top.f[field] += "\n" + noNul(line);
      return q;
    }
    top.field = -1;
    const colon = find(line, ":", 0);
    if (colon <= 0) return q;
    let name = line.substring(0, colon);
    while (name.length > 0 && (name.charCodeAt(name.length - 1) === 32 || name.charCodeAt(name.length - 1) === 9)) name = name.substring(0, name.length - 1);
    const k = find(FIELDS, " " + lower(name) + "=", 0);
    if (k < 0) return q;
    const field = FIELDS.charCodeAt(k + name.length + 2) - 97;
    if (field >= Field.Dated && !top.root) return q;
    let from = colon + 1;
    while (from < line.length && (line.charCodeAt(from) === 32 || line.charCodeAt(from) === 9)) from++;
    let value = noNul(line.substring(from, from + Mime.MaxValue));
    const old = top.f[field];
    // Repeated, as Dovecot: Content-Language's first that reads as tags counts, Content-Disposition's first with
    // parameters (else the last), an address field's lists are joined (each read on its own), another envelope
    // field's last counts, another MIME field's first.
    if (old !== undefined && (field === Field.Language || field === Field.Disposition || (field >= Field.From && field <= Field.Bcc))) value = (old + String.fromCharCode(0) + value).substring(0, Mime.MaxValue);
    else if (old !== undefined && field < Field.Dated) return q;
    top.f[field] = value;
    top.field = field;
    return q;
  }

  /**
   * The header of the innermost entity ended; its body starts at `body`
   * (absolute; `at` is where reading goes on). Decides its kind: a
   * multipart with a boundary, a message/rfc822 (its body's header comes
   * next), or a leaf.
   */
  private headerEnd(body: number, resume: number): void {
    const top = this.stack[this.stack.length - 1];
    top.body = body;
    top.lf0 = this.lf;
    top.field = -1;
    if (top.root) top.envelope = envelope(top.f);
    let t = top.f[Field.Type];
    const parent = this.stack.length > 1 ? this.stack[this.stack.length - 2] : undefined;
    if (t === undefined) top.f[Field.Type] = t = parent !== undefined && parent.kind === Kind.Multipart && parent.digest ? "message/rfc822" : "text/plain";
    const p = mimeValue(t);
    const type = lower(p[0]);
    const sub = lower(p[1]);
    this.state = State.Body;
    this.bol = true;
    if (type === "multipart" || (type === "message" && sub === "rfc822")) {
      if (this.depth >= Mime.MaxDepth) {
        if (this.log !== undefined) this.log("mime: parts nested deeper than " + decimal(Mime.MaxDepth) + " read as one");
      } else {
        this.depth++;
        if (type === "message") {
          top.kind = Kind.Message;
          this.rfc++;
          this.parts++;
          const inner = entity(resume, top.num + ".1", top.num, true);
          this.stack.push(inner);
          this.state = State.Header;
          return;
        }
        top.kind = Kind.Multipart;
        top.digest = sub === "digest";
        top.prefix = top.root ? top.prefix : top.num;
        if (top.root) top.num = "";
        for (let k = 2; k + 1 < p.length; k += 2) if (lower(p[k]) === "boundary" && p[k + 1].length <= Mime.MaxBoundary) top.boundary = p[k + 1];
        return;
      }
    }
    top.text = type === "text";
  }

  /**
   * The stack index of the open multipart whose boundary starts a line at
   * data[h] ("--" + boundary, as a prefix of the line: Dovecot's rule; of
   * several, the longest, innermost among equals); -1 for none; -2 when
   * the held octets are too few to tell and `final` is false.
   */
  private boundaryAt(data: string, h: number, final: boolean): number {
    if (data.charCodeAt(h) !== 45 || (h + 1 < data.length && data.charCodeAt(h + 1) !== 45)) return -1;
    let best = -1;
    for (let k = this.stack.length - 1; k >= 0; k--) {
      const b = this.stack[k].boundary;
      if (b.length === 0) continue;
      if (h + 4 + b.length > data.length && !final) return -2; // "--", the boundary, maybe "--"
      if ((best < 0 || b.length > this.stack[best].boundary.length) && data.substring(h + 2, h + 2 + b.length) === b) best = k;
    }
    return best;
  }

  /** Counts line feeds in data[p, q) when a part open reports lines. */
  private count(data: string, p: number, q: number): void {
    if (this.rfc === 0 && !this.stack[this.stack.length - 1].text) return;
    for (let i = find(data, "\n", p); i >= 0 && i < q; i = find(data, "\n", i + 1)) this.lf++;
  }

  /** Passes over a body from data[p]: to the next boundary line of an open multipart, or to the end of data. Returns where to go on. */
  private scanBody(data: string, p: number, final: boolean): number {
    let from = p;
    const open = this.hasBoundary(); // none open (a single part, or past every close delimiter): no search at all
    for (; open; ) {
      // h: where a line that may be a boundary starts ("--"); after an LF in data, or at p when a line starts there.
      let h = p;
      const viaLf = !(this.bol && from === p);
      if (viaLf) {
        const lf = find(data, "\n--", from);
        if (lf < 0) break;
        h = lf + 1;
      }
      this.bol = false;
      let k = this.boundaryAt(data, h, final);
      if (k === -2) {
        // Too few octets to tell: hold back from the line's LF.
        const back = viaLf ? h - 1 : h;
        this.count(data, p, back);
        this.take(data, p, back);
        this.hold(data, back);
        this.bol = !viaLf;
        return data.length;
      }
      const b = k >= 0 ? this.stack[k].boundary.length : 0;
      const last = k >= 0 && data.substring(h + 2 + b, h + 4 + b) === "--";
      if (k >= 0 && !last && this.parts >= Mime.MaxParts) {
        if (this.log !== undefined && this.parts === Mime.MaxParts) this.log("mime: more than " + decimal(Mime.MaxParts) + " parts; the rest read as body");
        this.parts = Mime.MaxParts + 1;
        k = -1;
      }
      if (k < 0) {
        from = h;
        continue;
      }
      // A boundary: the part before it ends before the CRLF (or LF) that precedes the line.
      let end = this.pos;
      let lf = 0; // the delimiter's LF, when it was or is to be counted: not the part's line
      if (viaLf) {
        this.count(data, p, h - 1);
        end += h - 1 - p;
        if ((h - 2 >= p ? data.charCodeAt(h - 2) : this.last) === 13) end--;
        lf = 1;
      } else if (this.stack[this.stack.length - 1].body < this.pos) {
        // The LF before the line was consumed with the data before (and counted where lines are).
        end -= this.prev === 13 ? 2 : 1;
        if (this.rfc > 0 || this.stack[this.stack.length - 1].text) {
          this.lf--;
          lf = 1;
        }
      }
      this.take(data, p, h);
      this.boundary(k, end, last);
      this.lf += lf;
      this.state = State.SkipLine;
      return h;
    }
    // No boundary line in data: all of it is body, but for a "-" after its last LF, which may start one (held back:
    // rare). Data that ends with an LF is all taken; a boundary at the start of the next is seen as at a line start.
    let keep = data.length;
    if (open && !final && keep - 2 >= p && data.charCodeAt(keep - 1) === 45 && data.charCodeAt(keep - 2) === 10) keep--;
    this.count(data, p, keep);
    this.take(data, p, keep);
    if (keep < data.length) this.hold(data, keep);
    if (keep > p) this.bol = data.charCodeAt(keep - 1) === 10;
    return data.length;
  }

  /** Some open multipart still has a boundary to look for. */
  private hasBoundary(): boolean {
    for (let k = this.stack.length - 1; k >= 0; k--) if (this.stack[k].boundary.length > 0) return true;
    return false;
  }

  /** A boundary line of the multipart at stack index k; the part before it ends at `end`; `last`: the close delimiter. */
  private boundary(k: number, end: number, last: boolean): void {
    this.close(k + 1, end);
    const m = this.stack[k];
    if (last) {
      m.boundary = "";
      return;
    }
    m.count++;
    this.parts++;
    const num = (m.prefix.length > 0 ? m.prefix + "." : "") + decimal(m.count);
    this.stack.push(entity(-1, num, num, false));
  }

  /** Finishes the entities from stack index k up, innermost first; their bodies end at `end`. */
  private close(k: number, end: number): void {
    while (this.stack.length > k) {
      const e = this.stack.pop() as Entity;
      if (e.kind !== Kind.Leaf) this.depth--;
      if (e.kind === Kind.Message) this.rfc--;
      if (e.body > end) e.body = end;
      if (e.header < 0) e.header = e.body = end;
      const f = e.f;
      let bs = "";
      let b = "";
      if (e.kind === Kind.Multipart) {
        if (e.count === 0) {
          // No part found: one empty text part, as Dovecot gives (a multipart needs one, RFC 3501 9).
          e.kids = "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)";
          e.kidsBody = "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";
        }
        const p = mimeValue(f[Field.Type] as string);
        b = "(" + e.kidsBody + " " + nstring(p[1]) + ")";
        bs = "(" + e.kids + " " + nstring(p[1]) + " " + paramList(p, false) + " " + extension(f) + ")";
      } else {
        const p = mimeValue(f[Field.Type] || "text/plain");
        const encoding = f[Field.Encoding] === undefined ? "7bit" : mimeValue(f[Field.Encoding] as string)[0];
        const head = "(" + nstring(p[0]) + " " + nstring(p[1]) + " " + paramList(p, lower(p[0]) === "text") + " " + nstring(f[Field.Id]) + " " + nstring(f[Field.Description]) + " " + nstring(encoding) + " " + decimal(end - e.body);
        const lines = e.kind === Kind.Message || e.text ? " " + decimal(this.lf - e.lf0) : "";
        // message/rfc822: the enclosed message's ENVELOPE and structure (BODY: its non-extensible form).
        bs = head + (e.kind === Kind.Message ? " " + e.kids : "") + lines + " " + nstring(f[Field.Md5]) + " " + extension(f) + ")";
        b = head + (e.kind === Kind.Message ? " " + e.kidsBody : "") + lines + ")";
      }
      const parent = this.stack.length > 0 ? this.stack[this.stack.length - 1] : undefined;
      if (e.num.length > 0) this.ranges += "\n" + e.num + " " + decimal(e.header) + " " + decimal(e.body) + " " + decimal(end) + " " + decimal(e.inner);
      if (parent === undefined) {
        this.result = new Structure(e.envelope, bs, b, "\n 0 " + decimal(e.body) + " " + decimal(end) + " -1" + this.ranges);
      } else if (parent.kind === Kind.Message) {
        parent.inner = e.body;
        parent.kids = e.envelope + " " + bs;
        parent.kidsBody = e.envelope + " " + b;
        // the enclosed message's range: its number (when a leaf) was recorded above
      } else {
        parent.kids += bs;
        parent.kidsBody += b;
      }
    }
  }
}

/**
 * The structure as kept on the card (after the header lines of the .HDR
 * file, hdrcache.ts): the ENVELOPE, BODYSTRUCTURE, BODY and the part table
 * ("\n<path> <header> <body> <end> <inner>" per part), each as a 4-octet
 * big-endian length and its octets.
 */
export function structureRecord(ms: MessageStructure): string {
  const parts = (ms as Structure).parts;
  return word(ms.envelope.length) + ms.envelope + word(ms.bodystructure.length) + ms.bodystructure + word(ms.body.length) + ms.body + word(parts.length) + parts;
}

/** The structure kept in `data` from offset `at` (structureRecord), or undefined when it is cut short or malformed. */
export function parseStructure(data: string, at: number): MessageStructure | undefined {
  const s: string[] = [];
  for (let k = 0; k < 4; k++) {
    if (at + 4 > data.length) return undefined;
    const n = ((data.charCodeAt(at) * 256 + data.charCodeAt(at + 1)) * 256 + data.charCodeAt(at + 2)) * 256 + data.charCodeAt(at + 3);
    at += 4;
    if (at + n > data.length) return undefined;
    s.push(data.substring(at, at + n));
    at += n;
  }
  if (s[3].substring(0, 3) !== "\n 0") return undefined;
  return new Structure(s[0], s[1], s[2], s[3]);
}
