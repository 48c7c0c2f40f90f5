/**
 * The simulated SD card: the core's Storage interface on a host directory,
 * as strict as the weakest real card API (PLATFORMS.md): synchronous calls,
 * FAT 8.3 names, case-insensitive (names are kept upper case on the host),
 * at most four open files, no rename, no truncate, 64-byte paths.
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

export interface CardOptions {
  /** Host directory that holds the card's contents. */
  dir: string;
  /** Called before every changing operation; may throw to cut power. */
  beforeOperation?: (op: CardOperation, cardPath: string) => void;
}

export class SimCard implements Storage {
  readonly dir: string;
  private openCount = 0;
  private openHandles = new Set<SimFile>();
  private poweredOff = false;
  private beforeOperation?: (op: CardOperation, cardPath: string) => void;

  constructor(options: CardOptions) {
    this.dir = options.dir;
    this.beforeOperation = options.beforeOperation;
    fs.mkdirSync(this.dir, { recursive: true });
  }

  get openFiles(): number {
    return this.openCount;
  }

  /** Maps a card path to the host path, enforcing the FAT rules. */
  hostPath(cardPath: string): string {
    if (cardPath.length > MAX_PATH) throw new CardError(`path longer than ${MAX_PATH} bytes: ${cardPath}`);
    if (cardPath[0] !== "/") throw new CardError(`path must be absolute: ${cardPath}`);
    const parts = cardPath.slice(1).split("/").filter((p) => p !== "");
    for (const part of parts) {
      if (!NAME_83.test(part.toUpperCase())) throw new CardError(`not a FAT 8.3 name: ${part}`);
    }
    return path.join(this.dir, ...parts.map((p) => p.toUpperCase()));
  }

  private before(op: CardOperation, cardPath: string): void {
    this.checkPower();
    if (this.beforeOperation) this.beforeOperation(op, cardPath);
  }

  /** @internal */
  checkPower(): void {
    if (this.poweredOff) throw new CardError("card has no power");
  }

  /**
   * Cuts the power: every open file is dropped without a sync and every
   * later call fails. A power-cut test calls it from `beforeOperation` and
   * then boots a new SimCard on the same directory.
   */
  powerOff(): void {
    this.poweredOff = true;
    for (const file of this.openHandles) file.drop();
    this.openHandles.clear();
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
  operation(op: CardOperation, cardPath: string): void {
    this.before(op, cardPath);
  }

  size(cardPath: string): number {
    this.checkPower();
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

  /** Power cut: the host descriptor goes, unsynced, and the handle is dead. */
  drop(): void {
    this.closed = true;
    fs.closeSync(this.fd);
  }

  read(length: number): string | undefined {
    this.check();
    const buf = Buffer.alloc(length);
    const n = fs.readSync(this.fd, buf, 0, length, this.position);
    if (n === 0) return undefined;
    this.position += n;
    return buf.toString("latin1", 0, n);
  }

  write(data: string): void {
    this.check();
    if (this.mode === "r") throw new CardError(`file opened read-only: ${this.cardPath}`);
    this.card.operation("write", this.cardPath);
    const buf = Buffer.from(data, "latin1");
    try {
      if (this.mode === "a") {
        fs.writeSync(this.fd, buf);
        fs.fsyncSync(this.fd); // appends are commit records: durable before the caller answers
      } else {
        fs.writeSync(this.fd, buf, 0, buf.length, this.position);
      }
    } catch (e) {
      throw new CardError(`cannot write ${this.cardPath}: ${(e as Error).message}`);
    }
    this.position += buf.length;
  }

  seek(offset: number): void {
    this.check();
    this.position = offset;
  }

  close(): void {
    this.check();
    this.card.operation("close", this.cardPath);
    this.closed = true;
    if (this.mode !== "r") fs.fsyncSync(this.fd); // data on the card before any commit record names it
    fs.closeSync(this.fd);
    this.onClose();
  }
}
