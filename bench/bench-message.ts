/**
 * The message the stepped memory driver sends: valid RFC 5322 (headers, a
 * blank line, CRLF lines of at most 998 octets, no bare CR or LF), exactly
 * the requested size, split into two halves at a line boundary so that a
 * session can be held with half of it sent. Some lines begin with a dot, so
 * the halves as sent are dot-stuffed.
 */
import { SENDER } from "./setup";

export interface SplitMessage {
  /** Octets of the message (unstuffed, as the server stores it). */
  octets: number;
  /** Octets of the first half as stored: what the server's data file holds at least once it has read that half. */
  firstHalfOctets: number;
  /** The halves as sent on the wire (dot-stuffed); the end marker is not included. */
  firstHalf: Buffer;
  rest: Buffer;
}

/** Octets per body line, CRLF included: short enough for any client, long enough to be cheap. */
const LINE = 80;
/** Every this many lines, one begins with a dot (the third first, so that even 1 KB has one). */
const DOT_EVERY = 50;

function headers(octets: number): string {
  return [
    `From: <${SENDER}>`,
    "To: undisclosed-recipients:;",
    `Subject: letterbox memory bench, ${octets} octets`,
    `Message-ID: <bench-${octets}@client.example>`,
    "",
    "",
  ].join("\r\n");
}

/** A message of exactly `octets` octets, split near the middle. */
export function benchMessage(octets: number): SplitMessage {
  const message = plainBenchMessage(octets);
  const split = message.indexOf("\r\n", Math.max(message.indexOf("\r\n\r\n") + 4, octets >> 1)) + 2;
  return {
    octets,
    firstHalfOctets: split,
    firstHalf: dotStuff(message.subarray(0, split)),
    rest: dotStuff(message.subarray(split)),
  };
}

/** The message of exactly `octets` octets, whole and unstuffed (as stored). */
export function plainBenchMessage(octets: number): Buffer {
  const head = Buffer.from(headers(octets), "latin1");
  let left = octets - head.length;
  if (left < 2) throw new Error(`a bench message needs at least ${head.length + 2} octets`);
  const message = Buffer.alloc(octets);
  head.copy(message);
  let at = head.length;
  for (let n = 0; left > 0; n++) {
    // Every line is at least CRLF: never leave a single octet for the last one.
    const take = left <= LINE ? left : left - LINE < 2 ? left - 2 : LINE;
    const text = (n % DOT_EVERY === 2 ? "." : "") + `line ${n} `.padEnd(take, "abcdefghijklmnopqrstuvwxyz");
    message.write(text.slice(0, take - 2) + "\r\n", at, "latin1");
    at += take;
    left -= take;
  }
  return message;
}

/** RFC 5321 4.5.2: a line beginning with "." gets another; `text` starts at a line start. */
export function dotStuff(text: Buffer): Buffer {
  return Buffer.from(text.toString("latin1").replace(/(^|\r\n)\./g, "$1.."), "latin1");
}
