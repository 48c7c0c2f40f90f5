/**
 * Espruino's `require("fs")` and `E.openFile` for the emulated board, on one
 * of two backends: the strict simulated SD card (sim/card.ts: 8.3 names,
 * 64-byte paths, four open files) as on the ESP32, or a plain host
 * directory standing for the working directory of Espruino's Linux build.
 * Like Espruino: no rename, no truncate, statSync/readdirSync return
 * undefined for missing paths, unlinkSync/mkdirSync return booleans.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SimCard } from "../card";

export interface OpenedFile {
  read(length: number): string | undefined;
  write(data: string): void;
  seek(offset: number): void;
  close(): void;
}

export interface FileBackend {
  open(p: string, mode: string): OpenedFile;
  stat(p: string): { size: number; dir: boolean } | undefined;
  readdir(p: string): string[] | undefined;
  unlink(p: string): boolean;
  mkdir(p: string): boolean;
}

/** The SD card as Espruino's FatFs sees it. */
export function cardBackend(card: SimCard): FileBackend {
  const isRoot = (p: string) => p === "" || p === "/";
  return {
    open: (p, mode) => card.open(p, mode),
    stat(p) {
      if (isRoot(p)) return { size: 0, dir: true };
      try {
        const st = fs.statSync(card.hostPath(p));
        return { size: st.isFile() ? st.size : 0, dir: st.isDirectory() };
      } catch {
        return undefined;
      }
    },
    readdir(p) {
      try {
        const names = card.list(isRoot(p) ? "/" : p);
        // FatFs lists the dot entries of subdirectories.
        return isRoot(p) ? names : [".", ".."].concat(names);
      } catch {
        return undefined;
      }
    },
    unlink(p) {
      try {
        card.remove(p);
        return true;
      } catch {
        return false;
      }
    },
    mkdir(p) {
      if (this.stat(p)) return false;
      try {
        card.mkdir(p);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Host files under `dir`, as Espruino's Linux build sees its working directory. */
export function directoryBackend(dir: string): FileBackend {
  fs.mkdirSync(dir, { recursive: true });
  const host = (p: string) => {
    if (path.isAbsolute(p) || p.split("/").includes("..")) throw new Error(`path outside the emulated working directory: ${p}`);
    return path.join(dir, p);
  };
  return {
    open(p, mode) {
      if (mode !== "r" && mode !== "w" && mode !== "a") throw new Error(`open mode ${mode} not emulated`);
      const fd = fs.openSync(host(p), mode);
      let position = mode === "a" ? fs.fstatSync(fd).size : 0;
      let open = true;
      const check = () => {
        if (!open) throw new Error(`file closed: ${p}`);
      };
      return {
        read(length) {
          check();
          const buf = Buffer.alloc(length);
          const n = fs.readSync(fd, buf, 0, length, position);
          position += n;
          return n === 0 ? undefined : buf.toString("latin1", 0, n);
        },
        write(data) {
          check();
          const buf = Buffer.from(data, "latin1");
          fs.writeSync(fd, buf, 0, buf.length, position);
          position += buf.length;
        },
        seek(offset) {
          check();
          position = offset;
        },
        close() {
          check();
          open = false;
          fs.closeSync(fd);
        },
      };
    },
    stat(p) {
      try {
        const st = fs.statSync(host(p));
        return { size: st.isFile() ? st.size : 0, dir: st.isDirectory() };
      } catch {
        return undefined;
      }
    },
    readdir(p) {
      try {
        return [".", ".."].concat(fs.readdirSync(host(p)).sort());
      } catch {
        return undefined;
      }
    },
    unlink(p) {
      try {
        fs.unlinkSync(host(p));
        return true;
      } catch {
        return false;
      }
    },
    mkdir(p) {
      try {
        fs.mkdirSync(host(p));
        return true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Variables the data of an open File takes on the ESP32: a flat string
 * holding JsFileData (libs/filesystem/jswrap_file.h:53-58), which there embeds
 * FatFs's FIL (File_Handle, jswrap_file.h:14-16) with its 512-byte sector
 * buffer (_FS_TINY 0): about 560 bytes,
 * one header variable plus 40 of 14 bytes.
 */
export const OPEN_FILE_VARIABLES = 41;
/**
 * The same on Espruino's Linux build, whose File_Handle is a `FILE*`
 * (jswrap_file.h:17-21, the #else of LINUX; stdio
 * keeps its buffer outside the variables): 16 bytes, 3 variables. This is
 * why open files cost 38 variables fewer there than on the board.
 */
export const LINUX_OPEN_FILE_VARIABLES = 3;

export interface EmulatedFiles {
  /** `require("fs")`. */
  module: { [name: string]: (...args: never[]) => unknown };
  /** `E.openFile`. */
  openFile(p: string, mode: string): unknown;
  /** Files the program has open now. */
  openCount(): number;
  closeAll(): void;
}

/**
 * Builds the emulated API on a backend. `fail` turns a host error into an
 * exception of the program's own realm (as Espruino throws its own Errors).
 */
export function emulateFiles(backend: FileBackend, maxPath: number, fail: (message: string) => never): EmulatedFiles {
  const open = new Set<OpenedFile>();
  const checkPath = (p: unknown): string => {
    const s = String(p);
    if (s.length > maxPath) fail(`path longer than ${maxPath} bytes: ${s}`);
    return s;
  };
  const attempt = <T>(what: () => T): T => {
    try {
      return what();
    } catch (e) {
      return fail((e as Error).message);
    }
  };
  const fsModule = {
    readdirSync: (p: string) => backend.readdir(checkPath(p)),
    statSync: (p: string) => backend.stat(checkPath(p)),
    unlinkSync: (p: string) => backend.unlink(checkPath(p)),
    mkdirSync: (p: string) => backend.mkdir(checkPath(p)),
    readFileSync(p: string) {
      const f = attempt(() => backend.open(checkPath(p), "r"));
      let out = "";
      for (let chunk = f.read(512); chunk !== undefined; chunk = f.read(512)) out += chunk;
      f.close();
      return out;
    },
    writeFileSync(p: string, data: string) {
      const f = attempt(() => backend.open(checkPath(p), "w"));
      attempt(() => f.write(String(data)));
      f.close();
      return true;
    },
    appendFileSync(p: string, data: string) {
      const f = attempt(() => backend.open(checkPath(p), "a"));
      attempt(() => f.write(String(data)));
      f.close();
      return true;
    },
  };
  // Espruino's non-Sync names behave synchronously too.
  const module = {
    ...fsModule,
    readdir: fsModule.readdirSync,
    stat: fsModule.statSync,
    unlink: fsModule.unlinkSync,
    mkdir: fsModule.mkdirSync,
    readFile: fsModule.readFileSync,
    writeFile: fsModule.writeFileSync,
    appendFile: fsModule.appendFileSync,
  } as unknown as EmulatedFiles["module"];

  const openFile = (p: string, mode: string) => {
    const m = String(mode);
    if (m !== "r" && m !== "w" && m !== "a") fail(`E.openFile mode "${m}" is not emulated (r, w, a are)`);
    const file = attempt(() => backend.open(checkPath(p), m));
    open.add(file);
    let closed = false;
    return {
      read: (length: number) => (closed ? undefined : attempt(() => file.read(Number(length)))),
      write(data: string) {
        if (closed) fail("File already closed");
        const s = String(data);
        attempt(() => file.write(s));
        return s.length;
      },
      seek: (offset: number) => attempt(() => file.seek(Number(offset))),
      close() {
        if (closed) return;
        closed = true;
        open.delete(file);
        attempt(() => file.close());
      },
    };
  };
  return {
    module,
    openFile,
    openCount: () => open.size,
    closeAll() {
      for (const f of open) {
        try {
          f.close();
        } catch {
          // the board is going away: nothing to report to
        }
      }
      open.clear();
    },
  };
}
