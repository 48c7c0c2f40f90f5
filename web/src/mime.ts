/** postal-mime (RFC 2045-2049, 2047, 2231; every charset TextDecoder knows) for the list's headers and for whole messages. */
import PostalMime from "postal-mime";
import type { Address, Email } from "postal-mime";

export type { Email, Address };

const CRLF = new Uint8Array([13, 10]);

/** The header lines of a list row (raw octets, each ending CRLF) parsed as a message with an empty body. */
export function parseHeaders(headers: Uint8Array): Promise<Email> {
  const whole = new Uint8Array(headers.length + 2);
  whole.set(headers, 0);
  whole.set(CRLF, headers.length);
  return PostalMime.parse(whole);
}

export function parseMessage(raw: Uint8Array): Promise<Email> {
  return PostalMime.parse(raw, { attachmentEncoding: "arraybuffer" });
}

/** "Name <address>" of one address or group, as text. */
export function addressText(a: Address | undefined, short = false): string {
  if (!a) return "";
  if (a.group) return a.name + ": " + a.group.map((m) => addressText(m, short)).join(", ");
  if (short) return a.name || a.address;
  return a.name ? a.name + " <" + a.address + ">" : a.address;
}

export function addressesText(list: Address[] | undefined): string {
  return (list || []).map((a) => addressText(a)).join(", ");
}

/** The Date header when it parses, else the arrival time (`arrival`: seconds, 0 when unknown). */
export function dateOf(email: Email, arrival = 0): Date {
  const d = email.date ? new Date(email.date) : new Date(NaN);
  return isNaN(d.getTime()) && arrival ? new Date(arrival * 1000) : d;
}
