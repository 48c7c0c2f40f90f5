/**
 * The board's internal flash file system (SPIFFS) for the emulated NodeMCU:
 * flat, names of at most 31 bytes, kept in memory (tests seed it, the
 * flasher fills it).
 */
export const SPIFFS_NAME_MAX = 31;

export class Spiffs {
  readonly files = new Map<string, Buffer>();

  /** The SPIFFS name for a path ("init.lua", "/FLASH/init.lua"), or undefined for other drives. */
  static nameOf(path: string): string | undefined {
    if (path.startsWith("/FLASH/")) return path.slice(7);
    if (path.startsWith("/")) return undefined;
    return path;
  }

  static valid(name: string): boolean {
    return name.length > 0 && name.length <= SPIFFS_NAME_MAX && !name.includes("/");
  }

  read(name: string): Buffer | undefined {
    return this.files.get(name);
  }

  write(name: string, data: Buffer): void {
    this.files.set(name, Buffer.from(data));
  }

  remove(name: string): void {
    this.files.delete(name);
  }
}
