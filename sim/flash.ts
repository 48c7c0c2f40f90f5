/**
 * The board's internal flash (Espruino `Storage`, NodeMCU SPIFFS) emulated in
 * a host directory of its own, apart from the card directory: settings and
 * secrets live here and never on the removable card.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { InternalFlash } from "../firmware/hal";

/** Espruino Storage's limit; SPIFFS allows a little more. */
const MAX_NAME = 28;
const NAME = /^[A-Za-z0-9._-]+$/;

export class SimFlash implements InternalFlash {
  /** Without a directory the flash lives in memory and is lost when the simulator stops. */
  private memory = new Map<string, string>();

  constructor(readonly dir?: string) {
    if (dir) fs.mkdirSync(dir, { recursive: true });
  }

  private hostPath(name: string): string {
    checkName(name);
    return path.join(this.dir as string, name);
  }

  read(name: string): string | undefined {
    if (!this.dir) {
      checkName(name);
      return this.memory.get(name);
    }
    try {
      return fs.readFileSync(this.hostPath(name)).toString("latin1");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  write(name: string, data: string): void {
    if (!this.dir) {
      checkName(name);
      this.memory.set(name, data);
      return;
    }
    fs.writeFileSync(this.hostPath(name), Buffer.from(data, "latin1"), { mode: 0o600 });
  }

  erase(name: string): void {
    if (!this.dir) {
      this.memory.delete(name);
      return;
    }
    fs.rmSync(this.hostPath(name), { force: true });
  }
}

function checkName(name: string): void {
  if (name.length > MAX_NAME || !NAME.test(name)) throw new Error(`flash: bad file name "${name}"`);
}
