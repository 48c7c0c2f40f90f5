/** Mail paths in SMTP commands (RFC 5321 4.1.2); who receives them is the mailbox's say (mailbox.ts route). */
import { lower, trim, upper } from "./text";

export interface ParsedPath {
  /** The mailbox as given, without a source route ("" for the null path `<>`). */
  address: string;
  /** The local part's value: quotes taken off, quoted-pairs resolved (`"a\ b"` is `a b`). */
  local: string;
  /** The domain or address literal in lower case; "" when the path has none (`<postmaster>`). */
  domain: string;
  /** The ESMTP parameters after the path, e.g. ["SIZE=100", "BODY=8BITMIME"]. */
  params: string[];
}

/**
 * Parses "FROM:<a@b> PARAMS" (or "TO:..."); undefined when malformed. One
 * pass over RFC 5321 4.1.2: an optional source route (ignored, Appendix C),
 * a dot-string or quoted-string local part (spaces, quoted-pairs, specials),
 * "@", a domain or an address literal. Dots are not policed (real senders
 * use `a..b`), nor lengths beyond the command line's 512 octets: 4.5.3.1
 * sets minimums a server must take (64-octet local part, 255-octet domain,
 * 256-octet path) and asks for no limits beyond them. The angle brackets
 * may be missing, as some scripts send. With `localOnly`, a path without a
 * domain passes (RCPT TO:<postmaster>). Controls and 8-bit bytes never pass.
 */
export function parsePath(arg: string, keyword: string, localOnly: boolean): ParsedPath | undefined {
  if (upper(arg.substring(0, keyword.length)) !== keyword) return undefined;
  const s = trim(arg.substring(keyword.length));
  const bracket = s.charCodeAt(0) === 60; /* < */
  let i = bracket ? 1 : 0;
  if (s.charCodeAt(i) === 64 /* @ */) {
    i = scan(s, i, ":<>\"") + 1;
    if (s.charCodeAt(i - 1) !== 58 /* : */) return undefined;
  }
  const start = i;
  let local = "";
  if (s.charCodeAt(i) === 34 /* " */) {
    let from = ++i;
    while (s.charCodeAt(i) !== 34) {
      if (s.charCodeAt(i) === 92 /* \ */) {
        local += s.substring(from, i);
        from = ++i;
      }
      const c = s.charCodeAt(i);
      if (!(c >= 32 && c <= 126)) return undefined; // also the end of the line: no closing quote
      i++;
    }
    local += s.substring(from, i++);
  } else {
    i = scan(s, i, SPECIALS);
    local = s.substring(start, i);
  }
  let domain = "";
  if (s.charCodeAt(i) === 64) {
    const d = ++i;
    if (s.charCodeAt(i) === 91 /* [ */) {
      i = scan(s, i + 1, "[\\]") + 1;
      if (s.charCodeAt(i - 1) !== 93 /* ] */) return undefined;
    } else {
      i = scan(s, i, SPECIALS);
    }
    domain = lower(s.substring(d, i));
    if (domain.length === 0) return undefined;
  }
  const address = s.substring(start, i);
  if (bracket ? s.charCodeAt(i++) !== 62 /* > */ : address.length === 0 || (i < s.length && s.charCodeAt(i) !== 32)) return undefined;
  if (domain.length === 0 && !localOnly && address.length > 0) return undefined;
  const params: string[] = [];
  const words = s.substring(i).split(" ");
  for (let k = 0; k < words.length; k++) if (words[k].length > 0) params.push(words[k]);
  return { address: address, local: local, domain: domain, params: params };
}

/** RFC 5322 specials other than ".", which end a dot-string or a domain. */
const SPECIALS = "\"(),:;<>@[\\]";

/** Index of the first character at or after `i` that is a space, a control, an 8-bit byte or in `stops`. */
function scan(s: string, i: number, stops: string): number {
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127 || stops.indexOf(s.charAt(i)) >= 0) return i;
  }
  return i;
}
