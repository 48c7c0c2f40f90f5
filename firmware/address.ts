/** Mail paths in SMTP commands (RFC 5321 4.1.2) and who receives them. */
import type { Config } from "./config";
import { findLast, lower, trim, upper } from "./text";

export interface ParsedPath {
  /** The address between the angle brackets (may be empty: the null sender). */
  address: string;
  /** The ESMTP parameters after the path, e.g. ["SIZE=100", "BODY=8BITMIME"]. */
  params: string[];
}

/**
 * Parses "FROM:<a@b> PARAMS" (or "TO:..."); undefined when malformed. With
 * `localOnly`, an address without a domain passes (RCPT TO:<postmaster>).
 */
export function parsePath(arg: string, keyword: string, localOnly: boolean): ParsedPath | undefined {
  if (upper(arg.substring(0, keyword.length)) !== keyword) return undefined;
  const rest = trim(arg.substring(keyword.length));
  if (rest.charCodeAt(0) !== 60 /* < */) return undefined;
  const close = rest.indexOf(">");
  if (close < 0) return undefined;
  let address = rest.substring(1, close);
  // A source route ("@a,@b:user@host") is ignored, as RFC 5321 C allows.
  if (address.charCodeAt(0) === 64 /* @ */) {
    const colon = address.indexOf(":");
    if (colon < 0) return undefined;
    address = address.substring(colon + 1);
  }
  if (address.length > 254 || !printable(address)) return undefined;
  if (address.length > 0) {
    const at = findLast(address, "@");
    if (at < 0 ? !localOnly : at === 0 || at === address.length - 1) return undefined;
  }
  const params: string[] = [];
  const tail = trim(rest.substring(close + 1));
  if (tail.length > 0) {
    const words = tail.split(" ");
    for (let i = 0; i < words.length; i++) if (words[i].length > 0) params.push(words[i]);
  }
  return { address: address, params: params };
}

/** Visible ASCII only (no spaces, controls or 8-bit bytes) in an address. */
function printable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 60 || c === 62) return false;
  }
  return true;
}

/** Why a recipient was refused, or the user it delivers to. */
export interface Recipient {
  user: string;
  /** 0 accepted; otherwise the SMTP reply to send. */
  refusal: string;
}

/**
 * `name@domain` for any configured domain delivers to user `name`;
 * `name+anything@domain` too (subaddressing). `postmaster` (RFC 5321 4.5.1
 * requires it) goes to the user named postmaster, else to the first user.
 */
export function resolveRecipient(config: Config, address: string): Recipient {
  const lowered = lower(address);
  const at = findLast(lowered, "@");
  let local = at < 0 ? lowered : lowered.substring(0, at);
  const domain = at < 0 ? "" : lowered.substring(at + 1);
  if (at >= 0 && !hasDomain(config, domain)) {
    return { user: "", refusal: "550 5.7.1 Relaying denied: this box only receives mail for its own domains" };
  }
  if (at < 0 && local !== "postmaster") return { user: "", refusal: "501 5.1.3 Bad recipient address syntax" };
  const plus = local.indexOf("+");
  if (plus > 0) local = local.substring(0, plus);
  for (let i = 0; i < config.users.length; i++) {
    if (config.users[i].name === local) return { user: local, refusal: "" };
  }
  if (local === "postmaster" && config.users.length > 0) return { user: config.users[0].name, refusal: "" };
  return { user: "", refusal: "550 5.1.1 No such user here" };
}

function hasDomain(config: Config, domain: string): boolean {
  for (let i = 0; i < config.domains.length; i++) if (config.domains[i] === domain) return true;
  return false;
}
