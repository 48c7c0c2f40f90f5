/** Mail paths in SMTP commands (RFC 5321 4.1.2), who receives them, and login names. */
import type { Config } from "./config";
import { findLast, lower, trim, upper } from "./text";

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

/** Why a recipient was refused, or the user it delivers to. */
export interface Recipient {
  user: string;
  /** "" when accepted; otherwise the SMTP reply to send. */
  refusal: string;
}

/**
 * Who receives mail for a parsed path's `local` part and `domain`: `name@domain`
 * for any configured domain (any letter case, quoted or not:
 * `"alice"@home.arpa` is alice) delivers to user `name`, and so does
 * `name+anything@domain` (subaddressing), also with the domain's trailing
 * dot. `postmaster` (RFC 5321 4.5.1
 * requires it, also without a domain) goes to the user named postmaster,
 * else to the first user.
 */
export function resolveRecipient(config: Config, local: string, domain: string): Recipient {
  // The absolute form "home.arpa." is the same domain.
  if (domain.charCodeAt(domain.length - 1) === 46) domain = domain.substring(0, domain.length - 1);
  if (domain.length > 0 && !hasDomain(config, domain)) {
    return { user: "", refusal: "550 5.7.1 Relaying denied: this box only receives mail for its own domains" };
  }
  let name = lower(local);
  const plus = name.indexOf("+");
  if (plus > 0) name = name.substring(0, plus);
  if (domain.length === 0 && name !== "postmaster") return { user: "", refusal: "501 5.1.3 Bad recipient address syntax" };
  let user = userNamed(config, name);
  if (user.length === 0 && name === "postmaster" && config.users.length > 0) user = config.users[0].name;
  return { user: user, refusal: user.length > 0 ? "" : "550 5.1.1 No such user here" };
}

/**
 * The configured user a login name means, or "" for none: `name` or
 * `name@domain` for any configured domain, in any letter case. Every login
 * the box offers (POP3 USER/PASS and APOP) goes through here.
 */
export function loginUser(config: Config, typed: string): string {
  const name = lower(typed);
  const at = findLast(name, "@");
  if (at < 0) return userNamed(config, name);
  return hasDomain(config, name.substring(at + 1)) ? userNamed(config, name.substring(0, at)) : "";
}

/** `name` when it is a configured user's, else "". */
function userNamed(config: Config, name: string): string {
  for (let i = 0; i < config.users.length; i++) if (config.users[i].name === name) return name;
  return "";
}

function hasDomain(config: Config, domain: string): boolean {
  for (let i = 0; i < config.domains.length; i++) if (config.domains[i] === domain) return true;
  return false;
}
