/**
 * The message data files on the card (/LB/MSG/<seq as 8 hex>.EML) and
 * their header caches (.HDR, hdrcache.ts), the budget of open file handles
 * they may take, and the spare-room file kept for a full card
 * (docs/STORE.md, "File handles" and "A full card").
 */
import type { FileHandle, Storage } from "./hal";
import { hex } from "./num";
import { upper } from "./text";

/**
 * Where the store lives on the card, and its share of the card's open files:
 * a const enum, inlined where used (no variable kept in RAM on the board).
 */
export const enum Layout {
  Root = "/LB",
  MessageDir = "/LB/MSG",
  /**
   * Room kept in reserve: when the card is too full for a compaction, this
   * file goes and the compaction fits.
   */
  Spare = "/LB/SPARE",
  /** The card allows four open files; one always stays free for the journal. */
  MessageFiles = 3,
}

export function messagePath(seq: number): string {
  return Layout.MessageDir + "/" + upper(hex(seq, 8)) + ".EML";
}

/** Message `seq`'s header cache (hdrcache.ts). */
export function headerPath(seq: number): string {
  return Layout.MessageDir + "/" + upper(hex(seq, 8)) + ".HDR";
}

/** The sequence number in a data file's name (8 hex digits), or -1. */
export function parseHex8(s: string): number {
  if (s.length !== 8) return -1;
  let n = 0;
  for (let i = 0; i < 8; i++) {
    const c = s.charCodeAt(i);
    let digit = -1;
    if (c >= 48 && c <= 57) digit = c - 48;
    else if (c >= 65 && c <= 70) digit = c - 55;
    else if (c >= 97 && c <= 102) digit = c - 87;
    if (digit < 0 || (i === 0 && digit > 7)) return -1;
    n = n * 16 + digit;
  }
  return n;
}

export function describe(e: unknown): string {
  if (typeof e === "string") return e;
  if (e !== null && typeof e === "object" && typeof (e as { message?: unknown }).message === "string") {
    return (e as { message: string }).message;
  }
  return "unknown error";
}

/** The store as the files see it: told of card errors (returns the error to throw) and of each file closed. */
interface Owner {
  cardFailed(e: unknown): unknown;
  onFileFreed: (() => void) | undefined;
}

/** Opens and removes data files, counting the handles out (Layout.MessageFiles at most: the caller checks `open`). */
export class MessageFiles {
  open = 0;
  /** @internal Seqs of the message files open now (one entry per handle). */
  inUse: number[] = [];
  /** @internal Seqs whose files go when their last handle closes: FatFs must not unlink an open file. */
  doomed: number[] = [];

  constructor(
    private storage: Storage,
    public owner: Owner,
  ) {}

  /** Opens message `seq` (mode "w" or "r"); throws card errors through `failed`. */
  openFile(seq: number, mode: string): FileHandle {
    let file: FileHandle;
    try {
      file = this.storage.open(messagePath(seq), mode);
    } catch (e) {
      throw this.owner.cardFailed(e);
    }
    this.open++;
    this.inUse.push(seq);
    return new TrackedFile(file, this, seq);
  }

  removeIfPresent(path: string): void {
    if (this.storage.size(path) >= 0) this.storage.remove(path);
  }

  /**
   * Removes message `seq`'s files if present, its header cache first (so a
   * cut between the two leaves the data file, which recovery finds). While
   * a handle on it is open (a reader mid-RETR when another opener deletes
   * it), that waits for its close. Throws card errors.
   */
  removeMessage(seq: number): void {
    if (this.inUse.indexOf(seq) >= 0) {
      if (this.doomed.indexOf(seq) < 0) this.doomed.push(seq);
      return;
    }
    this.removeIfPresent(headerPath(seq));
    this.removeIfPresent(messagePath(seq));
  }

  /** Removes the spare file to make room; true when there was one. */
  releaseSpare(): boolean {
    try {
      if (this.storage.size(Layout.Spare) < 0) return false;
      this.storage.remove(Layout.Spare);
    } catch (e) {
      return false;
    }
    return true;
  }

  /** Makes sure the spare file has `bytes` (written in 1 KiB pieces); throws when it cannot (a partial one is removed). */
  makeSpare(bytes: number): void {
    if (this.storage.size(Layout.Spare) >= bytes) return;
    let block = "-";
    while (block.length < 1024) block += block;
    try {
      const file = this.storage.open(Layout.Spare, "w");
      try {
        for (let written = 0; written < bytes; written += block.length) file.write(block);
      } finally {
        file.close();
      }
    } catch (e) {
      try {
        this.removeIfPresent(Layout.Spare); // a partial spare only takes room
      } catch (e2) {
        // the next operation finds out what is wrong with the card
      }
      throw e;
    }
  }
}

/** A message file handed out: closing it gives the handle back; card errors go through the store. */
class TrackedFile implements FileHandle {
  private closed = false;

  constructor(
    private file: FileHandle,
    private files: MessageFiles,
    private seq: number,
  ) {}

  read(length: number): string | undefined {
    try {
      return this.file.read(length);
    } catch (e) {
      throw this.files.owner.cardFailed(e);
    }
  }

  write(data: string): void {
    try {
      this.file.write(data);
    } catch (e) {
      throw this.files.owner.cardFailed(e);
    }
  }

  seek(offset: number): void {
    this.file.seek(offset);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    let failure: unknown = undefined;
    try {
      this.file.close();
    } catch (e) {
      failure = e;
    }
    // The handle is back even when closing failed; a removal waiting for it happens now.
    const files = this.files;
    files.open--;
    files.inUse.splice(files.inUse.indexOf(this.seq), 1);
    const doomed = files.doomed.indexOf(this.seq);
    if (doomed >= 0 && files.inUse.indexOf(this.seq) < 0) {
      files.doomed.splice(doomed, 1);
      try {
        files.removeMessage(this.seq);
      } catch (e) {
        files.owner.cardFailed(e); // the next compaction or boot removes it
      }
    }
    const freed = this.files.owner.onFileFreed;
    if (freed !== undefined) freed();
    if (failure !== undefined) throw this.files.owner.cardFailed(failure);
  }
}
