/**
 * Who holds which message, in memory: per user a packed string of 8-byte
 * entries (4-byte sequence number, 4-byte size, big-endian), in commit
 * order, and the user's byte count. Built by replaying the journal at boot
 * and kept up to date by every commit and deletion, so that listing and
 * reading a maildrop never read the journal. No object per message: a user
 * with 100 messages costs one 800-byte string.
 */
import { div, hex } from "./num";
import { find } from "./text";

/** Four bytes, big-endian, of a non-negative int32. */
export function word(n: number): string {
  return (
    String.fromCharCode(Math.floor((n & 0x7f000000) / 16777216)) +
    String.fromCharCode(Math.floor((n & 0xff0000) / 65536)) +
    String.fromCharCode(Math.floor((n & 0xff00) / 256)) +
    String.fromCharCode(n & 0xff)
  );
}

function wordAt(s: string, i: number): number {
  return ((s.charCodeAt(i) * 256 + s.charCodeAt(i + 1)) * 256 + s.charCodeAt(i + 2)) * 256 + s.charCodeAt(i + 3);
}

/** Offset of the 8-byte entry whose sequence number is `seq`, or -1. */
function entryOffset(entries: string, seq: number): number {
  const key = word(seq);
  let i = find(entries, key, 0);
  while (i >= 0 && i % 8 !== 0) i = find(entries, key, i + 1);
  return i;
}

/** Keys are "u:" + user, so that no user name meets Object.prototype. */
interface ByUser<T> {
  [key: string]: T;
}

export class MailIndex {
  /** The user's entries, and their total of bytes (the quota's usage); read by MailStore. */
  entries: ByUser<string> = {};
  bytes: ByUser<number> = {};

  /** Message `seq` of `size` bytes is now in these users' maildrops (at the end). */
  add(seq: number, size: number, users: string[]): void {
    const entry = word(seq) + word(size);
    for (let i = 0; i < users.length; i++) {
      const key = "u:" + users[i];
      this.entries[key] = (this.entries[key] || "") + entry;
      this.bytes[key] = (this.bytes[key] || 0) + size;
    }
  }

  /** Takes these messages out of the user's maildrop; those it did not hold are ignored. */
  remove(user: string, seqs: number[]): void {
    const key = "u:" + user;
    let entries = this.entries[key];
    if (entries === undefined) return;
    for (let i = 0; i < seqs.length; i++) {
      const at = entryOffset(entries, seqs[i]);
      if (at < 0) continue;
      this.bytes[key] -= wordAt(entries, at + 4);
      entries = entries.substring(0, at) + entries.substring(at + 8);
    }
    this.entries[key] = entries;
  }

  /** True when the user's maildrop holds message `seq`. */
  holds(user: string, seq: number): boolean {
    const entries = this.entries["u:" + user];
    return entries !== undefined && entryOffset(entries, seq) >= 0;
  }

  /** True when any maildrop holds message `seq` (else its data file is no one's). */
  held(seq: number): boolean {
    for (const key in this.entries) if (entryOffset(this.entries[key], seq) >= 0) return true;
    return false;
  }
}

/** One user's messages, oldest first, as they were when it was made: the index's string itself (strings do not change), no copy. */
export class Maildrop {
  readonly count: number;

  constructor(
    private epoch: number,
    private entries: string,
    readonly totalBytes: number,
  ) {
    this.count = div(entries.length, 8);
  }

  /** i is 0-based */
  seq(i: number): number {
    return wordAt(this.entries, i * 8);
  }

  size(i: number): number {
    return wordAt(this.entries, i * 8 + 4);
  }

  /** RFC 1939 UIDL: store epoch and sequence number, unique forever and stable across restarts. */
  uid(i: number): string {
    return hex(this.epoch, 8) + "-" + hex(this.seq(i), 8);
  }
}
