/**
 * Who holds what, in memory: per owner a packed string of 8-byte entries
 * (4-byte sequence number, 4-byte word of size and flags, big-endian), in
 * ascending seq (commit order: seqs only grow in every maildrop), looked up
 * by binary search, and the owner's byte count. An owner is a maildrop: a
 * user's INBOX (the user's name: the POP3 maildrop) or one of the user's
 * IMAP folders, `user + "/" + n` for folder n >= 1. The second word
 * holds the size in its low 26 bits and the owner's stored flags (StoredFlag
 * in mailbox.ts, 5 bits) in bits 26 to 30, so flags cost no memory. Per folder
 * it keeps a name and a number (UIDNEXT). Built by replaying the journal at boot
 * and kept up to date by every commit and deletion, so that listing and
 * reading a maildrop never read the journal. No object per message: a user
 * with 100 messages costs one 800-byte string.
 */
import { parseHex8 } from "./msgfiles";
import { div, hex } from "./num";

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

/** The stored flags sit in bits 26-30 of the size word: the top byte shifted right by 2 (a const enum: inlined). */
export const enum Entry {
  /** Sizes are below 2^26 (64 MiB; SMTP's limit is 25 MiB): the store refuses a longer message. */
  SizeMask = 0x3ffffff,
  /** Flag bits per (user, message). */
  FlagMask = 31,
}

/**
 * Offset of the 8-byte entry whose sequence number is `seq`, or -1: a
 * binary search, entries being in ascending seq (MailIndex.add keeps them
 * so), so that a FETCH over 10,000 messages costs 14 steps per message, not
 * a search through an 80 KB string.
 */
function entryOffset(entries: string, seq: number): number {
  let lo = 0;
  let hi = div(entries.length, 8) - 1;
  while (lo <= hi) {
    const mid = div(lo + hi, 2);
    const at = wordAt(entries, mid * 8);
    if (at === seq) return mid * 8;
    if (at < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Keys are "u:" + user, so that no user name meets Object.prototype. */
interface ByUser<T> {
  [key: string]: T;
}

export class MailIndex {
  /** The user's entries, and their total of bytes (the quota's usage); read by MailStore. */
  entries: ByUser<string> = {};
  bytes: ByUser<number> = {};
  /**
   * The folders named by an M record (journal.ts): "+" when subscribed, else
   * "-", then the folder's IMAP name (modified UTF-7, as the client sent it).
   * Every folder n >= 1 has one; an INBOX only once it was (un)subscribed or compacted.
   */
  folders: ByUser<string> = {};
  /** UIDNEXT (RFC 3501 2.3.1.1) by owner: above every seq the owner ever held, never lower after an expunge (M records keep it). */
  next: ByUser<number> = {};
  /**
   * Messages whose data file has another number than their seq (an A
   * record's seventh field: committed after a higher seq, store.ts): 8-byte
   * entries, seq then file number. Almost always empty.
   */
  aliases = "";

  /** The number that names message `seq`'s data file and header cache. */
  file(seq: number): number {
    const at = entryOffset(this.aliases, seq);
    return at < 0 ? seq : wordAt(this.aliases, at + 4);
  }

  /**
   * Message `seq` of `size` bytes is now in these owners' maildrops: at the
   * end, as seqs only grow in every maildrop (store.ts), but for a card
   * written before that, where it goes where its seq says.
   */
  add(seq: number, size: number, users: string[]): void {
    const entry = word(seq) + word(size & Entry.SizeMask); // an older card's size never reaches the flags
    for (let i = 0; i < users.length; i++) {
      const key = "u:" + users[i];
      const entries = this.entries[key] || "";
      let at = entries.length;
      while (at > 0 && wordAt(entries, at - 8) > seq) at -= 8;
      this.entries[key] = at === entries.length ? entries + entry : entries.substring(0, at) + entry + entries.substring(at);
      this.bytes[key] = (this.bytes[key] || 0) + size;
      if ((this.next[key] || 0) <= seq) this.next[key] = seq + 1;
    }
  }

  /**
   * Folder `owner` is named (`name` as kept in `folders`) with UIDNEXT at
   * least `uidnext`; name "" drops the folder and every message it holds,
   * and returns their seqs (the caller removes files no one holds).
   */
  folder(owner: string, name: string, uidnext: number): number[] {
    const key = "u:" + owner;
    const seqs: number[] = [];
    if (name !== "") {
      this.folders[key] = name;
      if ((this.next[key] || 0) < uidnext) this.next[key] = uidnext;
      return seqs;
    }
    const entries = this.entries[key] || "";
    for (let at = 0; at < entries.length; at += 8) seqs.push(wordAt(entries, at));
    delete this.entries[key];
    delete this.bytes[key];
    delete this.folders[key];
    delete this.next[key];
    return seqs;
  }

  /** Takes these messages out of the user's maildrop; those it did not hold are ignored. */
  remove(user: string, seqs: number[]): void {
    const key = "u:" + user;
    let entries = this.entries[key];
    if (entries === undefined) return;
    for (let i = 0; i < seqs.length; i++) {
      const at = entryOffset(entries, seqs[i]);
      if (at < 0) continue;
      this.bytes[key] -= wordAt(entries, at + 4) & Entry.SizeMask;
      entries = entries.substring(0, at) + entries.substring(at + 8);
    }
    this.entries[key] = entries;
  }

  /** The user's stored flag bits of message `seq` (0 to 31), or -1 when the user's maildrop does not hold it (so >= 0: it holds it). */
  flags(user: string, seq: number): number {
    const entries = this.entries["u:" + user];
    const at = entries === undefined ? -1 : entryOffset(entries, seq);
    return at < 0 ? -1 : Math.floor(entries.charCodeAt(at + 4) / 4);
  }

  /** Sets the user's stored flag bits (0 to 31) of message `seq`; ignored when the user's maildrop does not hold it. */
  setFlags(user: string, seq: number, bits: number): void {
    const key = "u:" + user;
    const entries = this.entries[key];
    const at = entries === undefined ? -1 : entryOffset(entries, seq);
    if (at < 0) return;
    const top = String.fromCharCode((bits & Entry.FlagMask) * 4 + (entries.charCodeAt(at + 4) & 3));
    this.entries[key] = entries.substring(0, at + 4) + top + entries.substring(at + 5);
  }

  /** True when any maildrop holds message `seq` (else its data file is no one's). */
  held(seq: number): boolean {
    for (const key in this.entries) if (entryOffset(this.entries[key], seq) >= 0) return true;
    return false;
  }
}

/**
 * One user's messages, oldest first, as they were when it was made: the
 * index's string itself (strings do not change), no copy. Its flags are
 * those of that moment; MailIndex.flags has the current ones.
 */
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

  /** IMAP's UID of message `i` (RFC 3501 2.3.1.1): its seq, ascending and never reused on this card in every folder. */
  uidAt(i: number): number {
    return wordAt(this.entries, i * 8);
  }

  /** Octets of message `i`. */
  size(i: number): number {
    return wordAt(this.entries, i * 8 + 4) & Entry.SizeMask;
  }

  /** Stored flag bits of message `i` when the listing was made (StoredFlag): no search, unlike MailIndex.flags. */
  flags(i: number): number {
    return Math.floor(this.entries.charCodeAt(i * 8 + 4) / 4);
  }

  /** RFC 1939 UIDL: store epoch and sequence number, unique forever and stable across restarts. */
  uid(i: number): string {
    return hex(this.epoch, 8) + "-" + hex(this.seq(i), 8);
  }

  /** Index of the message whose UIDL is `uid` (as uid() writes it), or -1. */
  find(uid: string): number {
    const seq = parseHex8(uid.substring(9));
    const at = seq < 0 ? -1 : entryOffset(this.entries, seq);
    return at >= 0 && this.uid(div(at, 8)) === uid ? div(at, 8) : -1;
  }
}
