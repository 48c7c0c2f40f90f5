/**
 * The simulated SD card: the core's Storage interface on a host directory,
 * as strict as the weakest real card API (PLATFORMS.md): synchronous calls,
 * FAT 8.3 names, case-insensitive (names are kept upper case on the host),
 * at most four open files, no rename, no truncate, 64-byte paths.
 *
 * And the card's failure modes, for tests: a capacity (a write that does not
 * fit writes what fits, as FatFs does, then fails: card full), an I/O error
 * on a chosen call, the card pulled out and put back, and a power cut.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { FileHandle, Storage } from "../firmware/hal";

export const MAX_OPEN_FILES = 4;
const MAX_PATH = 64;
const NAME_83 = /^[A-Z0-9_~!#$%&'(){}^@`-]{1,8}(\.[A-Z0-9_~!#$%&'(){}^@`-]{1,3})?$/;

export class CardError extends Error {}

/** Storage operations that change the card, counted for power-cut injection. */
export type CardOperation = "open" | "write" | "close" | "remove" | "mkdir";

/** Every card call, for I/O error injection. */
export type CardCall = CardOperation | "read" | "size" | "list";

export interface CardOptions {
  /** Host directory that holds the card's contents. */
  dir: string;
  /** Called before every changing operation (with the bytes, for a write); may throw to cut power. */
  beforeOperation?: (op: CardOperation, cardPath: string, data?: string) => void;
  /** Bytes the card holds (file contents; directories are free). Unlimited when absent. */
  capacityBytes?: number;
}

interface InjectedError {
  call: CardCall;
  path?: RegExp;
  /** Matching calls to let through first. */
  skip: number;
}

export class SimCard implements Storage {
  readonly dir: string;
  private openCount = 0;
  private openHandles = new Set<SimFile>();
  private poweredOff = false;
  private ejected = false;
  private injected: InjectedError[] = [];
  private beforeOperation?: (op: CardOperation, cardPath: string, data?: string) => void;
  /** Bytes the card holds, or undefined: as much as the host has. */
  capacityBytes: number | undefined;

  constructor(options: CardOptions) {
    this.dir = options.dir;
    this.beforeOperation = options.beforeOperation;
    this.capacityBytes = options.capacityBytes;
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /** Bytes of file contents on the card. */
  usedBytes(): number {
    const walk = (dir: string): number => {
      let total = 0;
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        total += entry.isDirectory() ? walk(full) : fs.statSync(full).size;
      }
      return total;
    };
    return walk(this.dir);
  }

  /** Bytes still free, or Infinity without a capacity. */
  freeBytes(): number {
    if (this.capacityBytes === undefined) return Infinity;
    return Math.max(0, this.capacityBytes - this.usedBytes());
  }

  /** Capacity and free space in KiB, as a board reports them (hal.cardSpace); undefined when unlimited. */
  space(): { totalKiB: number; freeKiB: number } | undefined {
    if (this.capacityBytes === undefined) return undefined;
    this.checkPower();
    return { totalKiB: Math.floor(this.capacityBytes / 1024), freeKiB: Math.floor(this.freeBytes() / 1024) };
  }

  /**
   * Makes a later call fail with an I/O error: the first `call` (on a path
   * matching `pathPattern`, if given) after `skip` matching calls. Once.
   */
  failCall(call: CardCall, pathPattern?: RegExp, skip = 0): void {
    this.injected.push({ call, path: pathPattern, skip });
  }

  /** Pulls the card out: open files are lost and every call fails until insert(). */
  eject(): void {
    this.ejected = true;
    this.dropOpenFiles();
  }

  insert(): void {
    this.ejected = false;
  }

  get present(): boolean {
    return !this.ejected;
  }

  /** @internal Throws an injected I/O error when one is due for this call. */
  ioCheck(call: CardCall, cardPath: string): void {
    for (let i = 0; i < this.injected.length; i++) {
      const e = this.injected[i];
      if (e.call !== call || (e.path && !e.path.test(cardPath))) continue;
      if (e.skip > 0) {
        e.skip--;
        return;
      }
      this.injected.splice(i, 1);
      throw new CardError(`I/O error (${call} ${cardPath})`);
    }
  }

  get openFiles(): number {
    return this.openCount;
  }

  /** Maps a card path to the host path, enforcing the FAT rules; fails when the card is out or off. */
  hostPath(cardPath: string): string {
    this.checkPower();
    if (cardPath.length > MAX_PATH) throw new CardError(`path longer than ${MAX_PATH} bytes: ${cardPath}`);
    if (cardPath[0] !== "/") throw new CardError(`path must be absolute: ${cardPath}`);
    const parts = cardPath.slice(1).split("/").filter((p) => p !== "");
    for (const part of parts) {
      if (!NAME_83.test(part.toUpperCase())) throw new CardError(`not a FAT 8.3 name: ${part}`);
    }
    return path.join(this.dir, ...parts.map((p) => p.toUpperCase()));
  }

  private before(op: CardOperation, cardPath: string, data?: string): void {
    this.checkPower();
    if (this.beforeOperation) this.beforeOperation(op, cardPath, data);
    this.checkPower(); // the hook may have cut the power
    if (op !== "close") this.ioCheck(op, cardPath); // a failing close still releases its handle (below)
  }

  /** @internal */
  checkPower(): void {
    if (this.poweredOff) throw new CardError("card has no power");
    if (this.ejected) throw new CardError("no card");
  }

  /**
   * Cuts the power: every open file is dropped without a sync and every
   * later call fails. A power-cut test calls it from `beforeOperation` and
   * then boots a new SimCard on the same directory.
   */
  powerOff(): void {
    this.poweredOff = true;
    this.dropOpenFiles();
  }

  get powered(): boolean {
    return !this.poweredOff;
  }

  private dropOpenFiles(): void {
    for (const file of this.openHandles) file.drop();
    this.openHandles.clear();
    this.openCount = 0;
  }

  open(cardPath: string, mode: string): FileHandle {
    const host = this.hostPath(cardPath);
    if (mode !== "r" && mode !== "w" && mode !== "a") throw new CardError(`bad open mode ${mode}`);
    this.checkPower();
    if (this.openCount >= MAX_OPEN_FILES) throw new CardError(`too many open files (${MAX_OPEN_FILES})`);
    this.before("open", cardPath);
    let fd: number;
    try {
      fd = fs.openSync(host, mode);
    } catch (e) {
      throw new CardError(`cannot open ${cardPath}: ${(e as Error).message}`);
    }
    this.openCount++;
    const file: SimFile = new SimFile(this, fd, cardPath, mode, () => {
      this.openCount--;
      this.openHandles.delete(file);
    });
    this.openHandles.add(file);
    return file;
  }

  /** @internal */
  operation(op: CardOperation, cardPath: string, data?: string): void {
    this.before(op, cardPath, data);
  }

  size(cardPath: string): number {
    this.checkPower();
    this.ioCheck("size", cardPath);
    try {
      const st = fs.statSync(this.hostPath(cardPath));
      return st.isFile() ? st.size : -1;
    } catch {
      return -1;
    }
  }

  remove(cardPath: string): void {
    const host = this.hostPath(cardPath);
    this.before("remove", cardPath);
    try {
      fs.unlinkSync(host);
    } catch (e) {
      throw new CardError(`cannot remove ${cardPath}: ${(e as Error).message}`);
    }
  }

  mkdir(cardPath: string): void {
    this.checkPower();
    const host = this.hostPath(cardPath);
    if (fs.existsSync(host)) return;
    this.before("mkdir", cardPath);
    try {
      fs.mkdirSync(host);
    } catch (e) {
      throw new CardError(`cannot mkdir ${cardPath}: ${(e as Error).message}`);
    }
  }

  list(cardPath: string): string[] {
    this.checkPower();
    this.ioCheck("list", cardPath);
    try {
      return fs.readdirSync(this.hostPath(cardPath)).sort();
    } catch (e) {
      throw new CardError(`cannot list ${cardPath}: ${(e as Error).message}`);
    }
  }
}

class SimFile implements FileHandle {
  private position = 0;
  private closed = false;
  /** Written since opened (not in append mode, whose writes are synced at once). */
  private dirty = false;

  constructor(
    private card: SimCard,
    private fd: number,
    private cardPath: string,
    private mode: string,
    private onClose: () => void,
  ) {}

  private check(): void {
    this.card.checkPower();
    if (this.closed) throw new CardError(`file already closed: ${this.cardPath}`);
  }

  /** Power cut or card pulled: the host descriptor goes, unsynced, and the handle is dead. */
  drop(): void {
    this.closed = true;
    fs.closeSync(this.fd);
  }

  read(length: number): string | undefined {
    this.check();
    this.card.ioCheck("read", this.cardPath);
    const buf = Buffer.alloc(length);
    const n = fs.readSync(this.fd, buf, 0, length, this.position);
    if (n === 0) return undefined;
    this.position += n;
    return buf.toString("latin1", 0, n);
  }

  write(data: string): void {
    this.check();
    if (this.mode === "r") throw new CardError(`file opened read-only: ${this.cardPath}`);
    this.card.operation("write", this.cardPath, data);
    let buf = Buffer.from(data, "latin1");
    const size = this.mode === "a" || this.card.capacityBytes !== undefined ? fs.fstatSync(this.fd).size : 0;
    const at = this.mode === "a" ? size : this.position;
    // A full card takes what fits (FatFs writes short), then the call fails.
    const room = this.card.capacityBytes === undefined ? Infinity : this.card.freeBytes() + Math.max(0, size - at);
    const full = buf.length > room;
    if (full) buf = buf.subarray(0, room);
    try {
      fs.writeSync(this.fd, buf, 0, buf.length, at);
      if (this.mode === "a") fs.fsyncSync(this.fd); // appends are commit records: durable before the caller answers
      else this.dirty = true;
    } catch (e) {
      throw new CardError(`cannot write ${this.cardPath}: ${(e as Error).message}`);
    }
    this.position = at + buf.length;
    if (full) throw new CardError(`card full (${this.cardPath})`);
  }

  seek(offset: number): void {
    this.check();
    this.position = offset;
  }

  close(): void {
    this.check();
    this.card.operation("close", this.cardPath);
    this.closed = true;
    // Data on the card before any commit record names it. Appends were synced
    // as they were made, and a file nobody wrote has nothing to sync.
    if (this.dirty) fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.onClose();
    this.card.ioCheck("close", this.cardPath);
  }
}
