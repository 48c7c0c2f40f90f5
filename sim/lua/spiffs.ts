/**
 * The board's internal flash file system (SPIFFS) for the emulated NodeMCU:
 * flat, names of at most 31 bytes. The firmware files live in memory; every
 * other file (the provisioned settings) goes to the simulator's internal
 * flash when there is one, so that it outlives a restart like on the board.
 */
import type { InternalFlash } from "../../firmware/hal";

export const SPIFFS_NAME_MAX = 31;

export class Spiffs {
  private memory = new Map<string, Buffer>();
  private backed = new Set<string>();

  /** `inMemory`: names kept in memory even when there is a backing flash. */
  constructor(
    private backing?: InternalFlash,
    private inMemory: string[] = [],
  ) {}

  /**
   * The SPIFFS name for a path: SPIFFS is mounted at the VFS root
   * (base_path "", components/base_nodemcu/user_main.c:139), so "init.lua"
   * and "/init.lua" are the same flat name; undefined under the card's /SD0.
   */
  static nameOf(path: string): string | undefined {
    if (path === "/SD0" || path.startsWith("/SD0/")) return undefined;
    return path.startsWith("/") ? path.slice(1) : path;
  }

  static valid(name: string): boolean {
    return name.length > 0 && name.length <= SPIFFS_NAME_MAX && !name.includes("/");
  }

  private isBacked(name: string): boolean {
    return this.backing !== undefined && !this.inMemory.includes(name);
  }

  read(name: string): Buffer | undefined {
    if (!this.isBacked(name)) return this.memory.get(name);
    const data = this.backing!.read(name);
    if (data !== undefined) this.backed.add(name);
    return data === undefined ? undefined : Buffer.from(data, "latin1");
  }

  write(name: string, data: Buffer): void {
    if (!this.isBacked(name)) this.memory.set(name, Buffer.from(data));
    else {
      this.backing!.write(name, data.toString("latin1"));
      this.backed.add(name);
    }
  }

  remove(name: string): void {
    if (!this.isBacked(name)) this.memory.delete(name);
    else {
      this.backing!.erase(name);
      this.backed.delete(name);
    }
  }

  /** Names and sizes (the backing flash lists only what this board has touched). */
  list(): [string, number][] {
    const out: [string, number][] = [];
    for (const [name, data] of this.memory) out.push([name, data.length]);
    for (const name of this.backed) {
      const data = this.read(name);
      if (data !== undefined) out.push([name, data.length]);
    }
    return out;
  }
}
