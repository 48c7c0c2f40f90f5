/**
 * Open files of the emulated NodeMCU: on the card (/SD0/..., through the
 * strict SimCard: 8.3 names, at most four open) or in SPIFFS.
 */
import type { FileHandle } from "../../firmware/hal";
import type { SimCard } from "../card";
import { Spiffs } from "./spiffs";

export const CARD_MOUNT = "/SD0";

export class FileError extends Error {}

/** The card path ("/LB/X") of a /SD0 path, or undefined for other drives. */
export function cardPathOf(path: string): string | undefined {
  if (path === CARD_MOUNT) return "/";
  if (path.startsWith(CARD_MOUNT + "/")) return path.slice(CARD_MOUNT.length);
  return undefined;
}

export interface OpenFile {
  read(length: number): Buffer | undefined;
  write(data: Buffer): void;
  /** New absolute position. */
  seek(whence: string, offset: number): number;
  flush(): void;
  close(): void;
  readonly closed: boolean;
}

class CardFile implements OpenFile {
  private position = 0;
  closed = false;
  constructor(
    private card: SimCard,
    private cardPath: string,
    private mode: string,
    private handle: FileHandle,
  ) {
    if (mode === "a") this.position = Math.max(0, card.size(cardPath));
  }
  read(length: number): Buffer | undefined {
    const s = this.handle.read(length);
    if (s === undefined) return undefined;
    this.position += s.length;
    return Buffer.from(s, "latin1");
  }
  write(data: Buffer): void {
    this.handle.write(data.toString("latin1"));
    this.position += data.length;
  }
  seek(whence: string, offset: number): number {
    const base = whence === "set" ? 0 : whence === "cur" ? this.position : Math.max(0, this.card.size(this.cardPath));
    if (this.mode === "a") throw new FileError("seek on a file opened for appending");
    this.position = base + offset;
    this.handle.seek(this.position);
    return this.position;
  }
  flush(): void {}
  close(): void {
    this.closed = true; // even when the card fails: the handle is gone
    this.handle.close();
  }
}

class SpiffsFile implements OpenFile {
  private position = 0;
  private data: Buffer;
  closed = false;
  constructor(
    private spiffs: Spiffs,
    private name: string,
    private mode: string,
  ) {
    const existing = spiffs.read(name);
    if (mode.startsWith("r") && existing === undefined) throw new FileError(`${name}: no such file`);
    this.data = mode.startsWith("w") || existing === undefined ? Buffer.alloc(0) : existing;
    if (mode.startsWith("a")) this.position = this.data.length;
    if (!mode.startsWith("r")) spiffs.write(name, this.data);
  }
  read(length: number): Buffer | undefined {
    if (this.position >= this.data.length) return undefined;
    const out = this.data.subarray(this.position, Math.min(this.data.length, this.position + length));
    this.position += out.length;
    return Buffer.from(out);
  }
  write(data: Buffer): void {
    if (this.mode === "r") throw new FileError(`${this.name}: opened read-only`);
    if (this.mode.startsWith("a")) this.position = this.data.length;
    const end = this.position + data.length;
    const grown = Buffer.alloc(Math.max(end, this.data.length));
    this.data.copy(grown);
    data.copy(grown, this.position);
    this.data = grown;
    this.position = end;
    this.spiffs.write(this.name, this.data);
  }
  seek(whence: string, offset: number): number {
    const base = whence === "set" ? 0 : whence === "cur" ? this.position : this.data.length;
    this.position = Math.max(0, base + offset);
    return this.position;
  }
  flush(): void {}
  close(): void {
    this.closed = true;
  }
}

/** Opens `path` with a C mode ("r", "wb", "a+", ...); throws FileError with the reason. */
export function openFile(card: SimCard | undefined, spiffs: Spiffs, path: string, cMode: string): OpenFile {
  const mode = cMode.replace("b", "");
  if (!/^[rwa]\+?$/.test(mode)) throw new FileError(`invalid mode '${cMode}'`);
  const cardPath = cardPathOf(path);
  if (cardPath !== undefined) {
    if (card === undefined) throw new FileError(`${path}: card not mounted`);
    if (mode.length > 1) throw new FileError(`${path}: mode ${cMode} is not emulated on the card`);
    try {
      return new CardFile(card, cardPath, mode, card.open(cardPath, mode));
    } catch (e) {
      throw new FileError((e as Error).message);
    }
  }
  const name = Spiffs.nameOf(path);
  if (name === undefined || !Spiffs.valid(name)) throw new FileError(`${path}: no such drive or invalid name`);
  return new SpiffsFile(spiffs, name, mode);
}
