/**
 * Who holds what, in memory: per owner its entries in ascending seq (commit
 * order: seqs only grow in every maildrop), cut into chunks of at most
 * Chunk.Bytes, and the owner's byte count. A chunk is a 4-byte base seq and
 * 6-byte entries: the seq less the base (2 bytes) and a word of size and
 * flags (4 bytes), big-endian; a seq 65,536 or more above the base starts a
 * new chunk. Chunks, so that a flag change or a removal copies one chunk,
 * not the owner's whole index (60 KB for 10,000 messages), and so that a
 * chunk can be packed (packWith: a flat string on Espruino, 14 octets a
 * variable instead of ~10). Lookups are binary searches: over the chunks'
 * bases, then in the chunk. An owner is a maildrop: a user's INBOX (the
 * user's name: the POP3 maildrop) or one of the user's IMAP folders,
 * `user + "/" + n` for folder n >= 1. The word holds the size in its low 26
 * bits and the owner's stored flags (StoredFlag in mailbox.ts, 5 bits) in
 * bits 26 to 30, so flags cost no memory. Per folder it keeps a name and a
 * number (UIDNEXT). Built by replaying the journal at boot and kept up to
 * date by every commit and deletion, so that listing and reading a maildrop
 * never read the journal. No object per message: a user with 100 messages
 * costs one 604-byte string.
 */
import { parseHex8 } from "./msgfiles";
import { div, hex } from "./num";
import { upper } from "./text";

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

/** Chunk layout (a const enum: inlined). */
const enum Chunk {
  /** Octets of a full chunk: the base and 340 entries (a flat string of 147 variables on Espruino). */
  Bytes = 2044,
  /** The base seq. */
  Head = 4,
  /** An entry: seq less the base (2 bytes), size and flags (4 bytes). */
  Entry = 6,
  /** The largest seq less the base an entry can hold. */
  MaxDelta = 65535,
}

/** What makes a full chunk compact in memory (packWith); keeps it as it is by default. */
let pack = function (s: string): string {
  return s;
};

/**
 * The board's way to store a chunk compactly: `fn` returns a string equal
 * to its argument (Espruino: a flat string when a contiguous block is free,
 * boards/espruino/hal.ts). Closed chunks go through it; the last chunk of
 * an owner grows in place until it is full, then is packed once.
 */
export function packWith(fn: (s: string) => string): void {
  pack = fn;
}

/** Two bytes, big-endian, of 0 <= n < 65536. */
function half(n: number): string {
  return String.fromCharCode(Math.floor(n / 256)) + String.fromCharCode(n & 0xff);
}

/** The seq of the entry at offset `at` of chunk `c`. */
function seqAt(c: string, at: number): number {
  return wordAt(c, 0) + c.charCodeAt(at) * 256 + c.charCodeAt(at + 1);
}

/** Entries in chunk `c`. */
function countOf(c: string): number {
  return div(c.length - Chunk.Head, Chunk.Entry);
}

/** A chunk of one entry. */
function single(seq: number, word4: string): string {
  return word(seq) + half(0) + word4;
}

/** Offset of the entry of `seq` in chunk `c`, or -1: a binary search. */
function chunkOffset(c: string, seq: number): number {
  const base = wordAt(c, 0);
  let lo = 0;
  let hi = countOf(c) - 1;
  while (lo <= hi) {
    const mid = div(lo + hi, 2);
    const at = Chunk.Head + mid * Chunk.Entry;
    const here = base + c.charCodeAt(at) * 256 + c.charCodeAt(at + 1);
    if (here === seq) return at;
    if (here < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The chunk of `chunks` (ascending, none empty) whose entries `seq` falls among: the last whose base is <= seq, 0 when none is. */
function chunkOf(chunks: string[], seq: number): number {
  let lo = 0;
  let hi = chunks.length - 1;
  while (lo < hi) {
    const mid = div(lo + hi + 1, 2);
    if (wordAt(chunks[mid], 0) <= seq) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Stores `s` as chunk k (none when it has no entry left): packed unless it is the last and not full (appends go on in place there). */
function put(chunks: string[], k: number, s: string): void {
  if (s.length <= Chunk.Head) chunks.splice(k, 1);
  else chunks[k] = k < chunks.length - 1 || s.length + Chunk.Entry > Chunk.Bytes ? pack(s) : s;
}

/** Chunk `c`'s entries from offset `at` on, as a chunk of their own (its base their first seq). */
function rebased(c: string, at: number): string {
  const base = seqAt(c, at);
  let out = word(base);
  for (; at < c.length; at += Chunk.Entry) out += half(seqAt(c, at) - base) + c.substring(at + 2, at + Chunk.Entry);
  return out;
}

/** Keys are "u:" + user, so that no user name meets Object.prototype. */
interface ByUser<T> {
  [key: string]: T;
}

export class MailIndex {
  /** The owner's entries in chunks (ascending seq, none empty, each at most Chunk.Bytes), and their total of bytes (the quota's usage); read by MailStore. */
  entries: ByUser<string[]> = {};
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
    const sized = word(size & Entry.SizeMask); // an older card's size never reaches the flags
    for (let i = 0; i < users.length; i++) {
      const key = "u:" + users[i];
      const chunks = this.entries[key] || (this.entries[key] = []);
      let k = chunks.length - 1;
      const last = k < 0 ? "" : chunks[k];
      if (k < 0) chunks.push(single(seq, sized));
      else if (seqAt(last, last.length - Chunk.Entry) < seq) {
        if (seq - wordAt(last, 0) <= Chunk.MaxDelta && last.length + Chunk.Entry <= Chunk.Bytes) chunks[k] += half(seq - wordAt(last, 0)) + sized; // in place on Espruino when no listing shares it
        else {
          chunks[k] = pack(last); // no longer the last: packed once
          chunks.push(single(seq, sized));
        }
      } else this.insert(chunks, seq, sized);
      this.bytes[key] = (this.bytes[key] || 0) + size;
      if ((this.next[key] || 0) <= seq) this.next[key] = seq + 1;
    }
  }

  /** Puts an entry below the last one (a card written before seqs only grew): in its chunk when it fits there, else a chunk of its own or a split. */
  private insert(chunks: string[], seq: number, sized: string): void {
    const k = chunkOf(chunks, seq);
    const c = chunks[k];
    const base = wordAt(c, 0);
    if (seq < base) {
      chunks.splice(k, 0, pack(single(seq, sized))); // below every chunk
      return;
    }
    if (seq - base > Chunk.MaxDelta) {
      chunks.splice(k + 1, 0, pack(single(seq, sized)));
      return;
    }
    let at = c.length;
    while (at > Chunk.Head && seqAt(c, at - Chunk.Entry) > seq) at -= Chunk.Entry;
    const grown = c.substring(0, at) + half(seq - base) + sized + c.substring(at);
    if (grown.length <= Chunk.Bytes) {
      put(chunks, k, grown);
      return;
    }
    // Split in two halves, the second with a base of its own.
    const cut = Chunk.Head + div(countOf(grown), 2) * Chunk.Entry;
    chunks.splice(k + 1, 0, rebased(grown, cut));
    put(chunks, k, grown.substring(0, cut));
    put(chunks, k + 1, chunks[k + 1]);
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
    const chunks = this.entries[key] || [];
    for (let k = 0; k < chunks.length; k++) for (let at = Chunk.Head as number; at < chunks[k].length; at += Chunk.Entry) seqs.push(seqAt(chunks[k], at));
    delete this.entries[key];
    delete this.bytes[key];
    delete this.folders[key];
    delete this.next[key];
    return seqs;
  }

  /** Takes these messages out of the user's maildrop; those it did not hold are ignored. Copies one chunk per message. */
  remove(user: string, seqs: number[]): void {
    const key = "u:" + user;
    const chunks = this.entries[key];
    if (chunks === undefined) return;
    for (let i = 0; i < seqs.length && chunks.length > 0; i++) {
      const k = chunkOf(chunks, seqs[i]);
      const c = chunks[k];
      const at = chunkOffset(c, seqs[i]);
      if (at < 0) continue;
      this.bytes[key] -= wordAt(c, at + 2) & Entry.SizeMask;
      put(chunks, k, c.substring(0, at) + c.substring(at + Chunk.Entry));
    }
  }

  /** The user's stored flag bits of message `seq` (0 to 31), or -1 when the user's maildrop does not hold it (so >= 0: it holds it). */
  flags(user: string, seq: number): number {
    const chunks = this.entries["u:" + user];
    if (chunks === undefined || chunks.length === 0) return -1;
    const c = chunks[chunkOf(chunks, seq)];
    const at = chunkOffset(c, seq);
    return at < 0 ? -1 : Math.floor(c.charCodeAt(at + 2) / 4);
  }

  /** Sets the user's stored flag bits (0 to 31) of message `seq`; ignored when the user's maildrop does not hold it. Copies one chunk. */
  setFlags(user: string, seq: number, bits: number): void {
    const chunks = this.entries["u:" + user];
    if (chunks === undefined || chunks.length === 0) return;
    const k = chunkOf(chunks, seq);
    const c = chunks[k];
    const at = chunkOffset(c, seq);
    if (at < 0) return;
    const top = String.fromCharCode((bits & Entry.FlagMask) * 4 + (c.charCodeAt(at + 2) & 3));
    put(chunks, k, c.substring(0, at + 2) + top + c.substring(at + 3));
  }

  /** True when any maildrop holds message `seq` (else its data file is no one's). */
  held(seq: number): boolean {
    for (const key in this.entries) {
      const chunks = this.entries[key];
      if (chunks.length > 0 && chunkOffset(chunks[chunkOf(chunks, seq)], seq) >= 0) return true;
    }
    return false;
  }

  /** The owner's chunks as they are now, for a Maildrop: a new array of the same strings (strings do not change), no copy of the entries. */
  list(owner: string): string[] {
    const chunks = this.entries["u:" + owner];
    return chunks === undefined ? [] : chunks.slice(0);
  }
}

/**
 * One user's messages, oldest first, as they were when it was made: the
 * index's chunks themselves (strings do not change; a new array of them),
 * no copy of the entries. Its flags are those of that moment;
 * MailIndex.flags has the current ones. Message i is found from where the
 * last lookup was, so that a walk in order (a listing, FETCH 1:*) costs no
 * search.
 */
export class Maildrop {
  readonly count: number;
  /** The owner's keyword entries (Keywords.bits) and its user's keyword table (Keywords.names) when it was made ("": none). */
  keys = "";
  names = "";
  /** The chunk of the last lookup and the index of its first message. */
  private k = 0;
  private first = 0;

  constructor(
    private epoch: number,
    private chunks: string[],
    readonly totalBytes: number,
  ) {
    let n = 0;
    for (let k = 0; k < chunks.length; k++) n += countOf(chunks[k]);
    this.count = n;
  }

  /** The offset of message i's entry in this.chunk(), -1 when there is no message i (a set's "*" in an empty folder). */
  private at(i: number): number {
    if (i < 0 || i >= this.count) return -1;
    if (i < this.first) {
      this.k = 0;
      this.first = 0;
    }
    const chunks = this.chunks;
    for (let n = countOf(chunks[this.k]); i >= this.first + n; n = countOf(chunks[this.k])) {
      this.first += n;
      this.k++;
    }
    return Chunk.Head + (i - this.first) * Chunk.Entry;
  }

  /** The chunk of the last lookup, "" when it found nothing (so that what is read from it is NaN, as from a string's end). */
  private chunk(at: number): string {
    return at < 0 ? "" : this.chunks[this.k];
  }

  /** i is 0-based */
  seq(i: number): number {
    const at = this.at(i);
    return seqAt(this.chunk(at), at);
  }

  /** IMAP's UID of message `i` (RFC 3501 2.3.1.1): its seq, ascending and never reused on this card in every folder. */
  uidAt(i: number): number {
    return this.seq(i);
  }

  /** Octets of message `i`. */
  size(i: number): number {
    const at = this.at(i);
    return wordAt(this.chunk(at), at + 2) & Entry.SizeMask;
  }

  /** Stored flag bits of message `i` when the listing was made (StoredFlag): no search, unlike MailIndex.flags. */
  flags(i: number): number {
    const at = this.at(i);
    return Math.floor(this.chunk(at).charCodeAt(at + 2) / 4);
  }

  /** Keyword bits of message `i` when the listing was made (Keywords). */
  keywords(i: number): number {
    return this.keys === "" ? 0 : bitsOf(this.keys, this.seq(i));
  }

  /** RFC 1939 UIDL: store epoch and sequence number, unique forever and stable across restarts. */
  uid(i: number): string {
    return hex(this.epoch, 8) + "-" + hex(this.seq(i), 8);
  }

  /** Index of the message whose UIDL is `uid` (as uid() writes it), or -1. */
  find(uid: string): number {
    const seq = parseHex8(uid.substring(9));
    const chunks = this.chunks;
    if (seq < 0 || chunks.length === 0) return -1;
    const k = chunkOf(chunks, seq);
    const at = chunkOffset(chunks[k], seq);
    if (at < 0) return -1;
    let i = div(at - Chunk.Head, Chunk.Entry);
    for (let j = 0; j < k; j++) i += countOf(chunks[j]);
    return this.uid(i) === uid ? i : -1;
  }
}

/** IMAP keywords' limits (a const enum: inlined). */
export const enum Keyword {
  /** Names per user: bits 0 to 30 of a keyword word (an int32 on Lua; word() keeps 31 bits). */
  Max = 31,
  /** Octets of a name. */
  Length = 64,
}

/** The `slot`-th space-separated field of a keyword table, "" when free or beyond its end. */
function field(names: string, slot: number): string {
  let at = 0;
  for (let k = 0; k < slot; k++) {
    at = names.indexOf(" ", at) + 1;
    if (at === 0) return "";
  }
  const end = names.indexOf(" ", at);
  return end < 0 ? names.substring(at) : names.substring(at, end);
}

/** The keyword bits of message `seq` in an owner's keyword entries (Keywords.bits), 0 when it has none. */
function bitsOf(entries: string | undefined, seq: number): number {
  const at = entries === undefined ? -1 : entryOffset(entries, seq);
  return at < 0 ? 0 : wordAt(entries as string, at + 4);
}

/**
 * IMAP keywords (RFC 3501 2.3.2), kept apart from the entries: per user a
 * table of at most Keyword.Max names, a keyword's number being its slot
 * (journal K records), and per owner the keyword bits of the messages that
 * have any (F and A records). Names match in any letter case (atoms,
 * RFC 3501 9) and keep the spelling they were first stored with. A user
 * without keywords costs nothing; one with some, a string of names and a
 * string of 8 bytes per message that has a keyword.
 */
export class Keywords {
  /** By user: the names, slot n the n-th space-separated field ("" a free slot; none after the last name). */
  names: ByUser<string> = {};
  /** By owner: 8-byte entries (seq, keyword bits), ascending seq, for messages with a keyword only. */
  bits: ByUser<string> = {};

  /** The slot of keyword `name` in the user's table, any letter case; -1 when it has none. */
  find(user: string, name: string): number {
    const names = this.names["u:" + user] || "";
    const want = upper(name);
    for (let slot = 0, at = 0; at < names.length; slot++) {
      let end = names.indexOf(" ", at);
      if (end < 0) end = names.length;
      if (end > at && upper(names.substring(at, end)) === want) return slot;
      at = end + 1;
    }
    return -1;
  }

  /** A free slot in the user's table, or -1 when all Keyword.Max are taken. */
  free(user: string): number {
    const names = this.names["u:" + user] || "";
    for (let slot = 0; slot < Keyword.Max; slot++) if (field(names, slot) === "") return slot;
    return -1;
  }

  /** Slot `slot` of the user's table is keyword `name` from now on ("" frees it). */
  name(user: string, slot: number, name: string): void {
    const key = "u:" + user;
    const names = this.names[key] || "";
    let out = "";
    for (let k = 0, at = 0; k <= slot || at < names.length; k++) {
      let end = names.indexOf(" ", at);
      if (end < 0) end = names.length;
      out += (k > 0 ? " " : "") + (k === slot ? name : names.substring(at, end));
      at = at < names.length ? end + 1 : at;
    }
    let cut = out.length;
    while (cut > 0 && out.charCodeAt(cut - 1) === 32) cut--;
    if (cut === 0) delete this.names[key];
    else this.names[key] = out.substring(0, cut);
  }

  /** " name name": the user's keywords of `bits`, in slot order ("" for none). */
  text(user: string, bits: number): string {
    const names = this.names["u:" + user];
    let out = "";
    if (names === undefined || bits === 0) return out;
    for (let slot = 0, at = 0; at < names.length; slot++) {
      let end = names.indexOf(" ", at);
      if (end < 0) end = names.length;
      if (end > at && (bits & (1 << slot)) !== 0) out += " " + names.substring(at, end);
      at = end + 1;
    }
    return out;
  }

  /** The keyword bits of message `seq` in `owner`'s maildrop (0: none). */
  of(owner: string, seq: number): number {
    return bitsOf(this.bits["u:" + owner], seq);
  }

  /** Message `seq` of `owner` has keyword bits `bits` from now on. */
  set(owner: string, seq: number, bits: number): void {
    const key = "u:" + owner;
    let entries = this.bits[key] || "";
    const at = entryOffset(entries, seq);
    const entry = bits !== 0 ? word(seq) + word(bits) : "";
    if (at >= 0) entries = entries.substring(0, at) + entry + entries.substring(at + 8);
    else if (bits !== 0) {
      let end = entries.length;
      while (end > 0 && wordAt(entries, end - 8) > seq) end -= 8;
      entries = entries.substring(0, end) + entry + entries.substring(end);
    }
    if (entries.length === 0) delete this.bits[key];
    else this.bits[key] = entries;
  }

  /** These messages left `owner`'s maildrop (expunge, deletion); a folder deleted: `drop`. */
  remove(owner: string, seqs: number[]): void {
    if (this.bits["u:" + owner] !== undefined) for (let i = 0; i < seqs.length; i++) this.set(owner, seqs[i], 0);
  }

  drop(owner: string): void {
    delete this.bits["u:" + owner];
  }

  /** Compaction: slots that no message of the user's maildrops uses become free (their K records are not written again). */
  prune(): void {
    for (const key in this.names) {
      let used = 0;
      for (const owner in this.bits) {
        if (owner !== key && owner.substring(0, key.length + 1) !== key + "/") continue;
        const entries = this.bits[owner];
        for (let at = 0; at < entries.length; at += 8) used = used | wordAt(entries, at + 4);
      }
      for (let slot = 0; slot < Keyword.Max; slot++) if ((used & (1 << slot)) === 0 && field(this.names[key] || "", slot) !== "") this.name(key.substring(2), slot, "");
    }
  }
}
