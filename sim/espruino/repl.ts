/**
 * An emulated Espruino console (the REPL on the board's serial port or its
 * Telnet server), speaking as much of the protocol as EspruinoTools needs to
 * upload code: line input with `\x10` (echo off for the line) and Ctrl-C,
 * statements spread over several lines, `=result` and the `>` prompt,
 * `print`, `process.env`, `require("Storage")` with Espruino's chunked
 * `write(name, data, offset, size)`, `E.setBootCode`, `E.CRC32`, `load()`,
 * `reset()`, `save()`. Reachable over TCP (tcp://127.0.0.1:PORT, like the
 * board's Telnet console) and over a pseudo-terminal made by socat, like a
 * USB serial port.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as vm from "node:vm";
import * as zlib from "node:zlib";
import * as acorn from "acorn";

export interface BootRecord {
  /** The boot code load() found in Storage (.bootcde). */
  code: string;
  /** Whether it parses as ES5, as the interpreter would need. */
  parses: boolean;
}

export interface ReplOptions {
  /** process.env.CONSOLE: "Serial1" for the USB serial port, "Telnet" over TCP. */
  consoleName?: string;
  /**
   * "ESP32" (default) or "LINUX": Espruino built for Linux, whose
   * process.env.MODULES (read from the 2v29 Linux build) has no Wifi module.
   */
  board?: "ESP32" | "LINUX";
  log?: (line: string) => void;
  /**
   * How long each statement takes to run, in ms (default 0: at once). A
   * slow interpreter (the 32-bit one under qemu, a busy board) handles its
   * input in order, each statement once the one before has run, so input
   * waits meanwhile; a Ctrl-C arriving while a statement runs breaks it off
   * (src/jsdevices.c:493 calls jsiCtrlC() as the byte arrives,
   * src/jsinteractive.c:2243 sets EXEC_CTRL_C) and it has no effect.
   */
  statementMs?: number;
}

/** process.env.MODULES of Espruino 2v29 per board (ESP32 as configured by boards/ESP32.py; LINUX as the Linux build prints it). */
const MODULES = {
  ESP32: "Flash,Storage,heatshrink,fs,net,dgram,http,NetworkJS,Wifi,ESP32,neopixel,crypto,tls",
  LINUX: "timer,Flash,Storage,heatshrink,fs,net,dgram,tls,http,NetworkJS,TelnetServer,crypto",
};

function crc32(s: string): number {
  return zlib.crc32(Buffer.from(s, "latin1"));
}

/** The board behind the console: its Storage survives reset() and load(), like flash. */
export class EmulatedEspruinoConsole {
  readonly storage = new Map<string, string>();
  readonly boots: BootRecord[] = [];
  /** Every statement executed, for tests. */
  readonly executed: string[] = [];
  private server?: net.Server;
  private socat?: ChildProcess;
  private sockets = new Set<net.Socket>();

  constructor(private options: ReplOptions = {}) {}

  /** Storage.write as Espruino does it: with `size`, a new file of that many 0xFF bytes; data lands at `offset`. */
  private storageWrite(name: string, data: string, offset?: number, size?: number): boolean {
    if (name.length > 28) throw new Error("Storage: name too long");
    let file = this.storage.get(name);
    if (size !== undefined || offset === undefined) {
      file = size !== undefined ? "\xff".repeat(size) : "";
      if (size === undefined) {
        this.storage.set(name, data);
        return true;
      }
    }
    if (file === undefined) throw new Error(`Storage: ${name} not created before writing at ${offset}`);
    const at = offset || 0;
    if (at + data.length > file.length) throw new Error(`Storage: write past the end of ${name}`);
    this.storage.set(name, file.substring(0, at) + data + file.substring(at + data.length));
    return true;
  }

  /** A fresh interpreter state (as after reset()), sharing the Storage. */
  private newContext(out: (text: string) => void, session: { echo: boolean }): vm.Context {
    const env = {
      VERSION: "2v29",
      BOARD: this.options.board || "ESP32",
      CONSOLE: this.options.consoleName || "Serial1",
      MODULES: MODULES[this.options.board || "ESP32"],
      RAM: 520 * 1024,
      FLASH: 0,
      SERIAL: "24:0a:c4:00:00:01",
    };
    const print = (...args: unknown[]) => out(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ") + "\r\n");
    const storage = {
      write: (name: unknown, data: unknown, offset?: unknown, size?: unknown) =>
        this.storageWrite(String(name), String(data), offset === undefined ? undefined : Number(offset), size === undefined ? undefined : Number(size)),
      read: (name: unknown) => this.storage.get(String(name)),
      erase: (name: unknown) => void this.storage.delete(String(name)),
      list: () => [...this.storage.keys()].sort(),
    };
    const context = vm.createContext({
      print,
      console: { log: print },
      require: (name: unknown) => {
        if (name === "Storage") return storage;
        throw new Error(`Module ${String(name)} not found`);
      },
      process: { env, memory: () => ({ free: 4000, usage: 100, total: 4100 }) },
      E: {
        setBootCode: (code: unknown) => this.storageWrite(".bootcde", String(code)),
        CRC32: (s: unknown) => crc32(String(s)),
        reboot: () => this.load(),
      },
      load: () => this.load(),
      reset: () => undefined,
      save: () => undefined,
      echo: (on: unknown) => void (session.echo = Boolean(on)),
      setTime: () => undefined,
      getTime: () => Date.now() / 1000,
    });
    return context;
  }

  /** load(): the board restarts and runs its boot code. Here it is checked and recorded, not run. */
  private load(): void {
    const code = this.storage.get(".bootcde");
    if (code === undefined) return;
    let parses = true;
    try {
      acorn.parse(code, { ecmaVersion: 5 });
    } catch {
      parses = false;
    }
    this.boots.push({ code, parses });
    this.options.log?.(`console: load() boots ${code.length} bytes of .bootcde`);
  }

  /** Serves one connection (a serial line or Telnet client) until it closes. */
  private attach(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const out = (text: string) => {
      if (!socket.destroyed) socket.write(Buffer.from(text, "latin1"));
    };
    const session = { echo: true };
    let context = this.newContext(out, session);
    let line = "";
    let lineEcho = true;
    let pending = "";
    let lastWasCR = false;
    const statementMs = this.options.statementMs || 0;
    /** Data received and not handled yet (while a statement runs); `at`: the next byte of the first buffer. */
    const input: Buffer[] = [];
    let at = 0;
    /** A statement is running (statementMs > 0); `interrupted`: a Ctrl-C came meanwhile. */
    let running = false;
    let interrupted = false;
    const run = (statement: string, echo: boolean) => {
      if (statementMs > 0) {
        running = true;
        setTimeout(() => {
          running = false;
          if (interrupted) {
            interrupted = false;
            out("Execution Interrupted\r\n>");
          } else execute(statement, echo);
          handle();
        }, statementMs);
        return;
      }
      execute(statement, echo);
    };
    const execute = (statement: string, echo: boolean) => {
      this.executed.push(statement);
      let result: unknown;
      try {
        result = new vm.Script(statement, { filename: "console" }).runInContext(context);
        if (/^\s*reset\(\s*\)\s*;?\s*$/.test(statement)) context = this.newContext(out, session);
      } catch (e) {
        out(`Uncaught ${(e as Error).name}: ${(e as Error).message}\r\n`);
        result = undefined;
      }
      if (echo && session.echo) out(`=${result === undefined ? "undefined" : JSON.stringify(result)}\r\n`);
      // The prompt comes back only after a line that was echoed (src/jsinteractive.c:1532 and :429-439): not after a DLE (\x10) line.
      if (echo && session.echo) out(">");
    };
    const enter = () => {
      const text = line;
      const echo = lineEcho;
      line = "";
      lineEcho = true;
      if (echo && session.echo) out("\r\n");
      pending = pending ? pending + "\n" + text : text;
      if (incomplete(pending)) {
        if (echo && session.echo) out(":");
        return;
      }
      const statement = pending;
      pending = "";
      run(statement, echo);
    };
    const handle = () => {
      while (!running && input.length > 0) {
        if (at >= input[0].length) {
          input.shift();
          at = 0;
          continue;
        }
        const byte = input[0][at++];
        const c = String.fromCharCode(byte);
        if (c === "\n" && lastWasCR) {
          lastWasCR = false;
          continue;
        }
        lastWasCR = c === "\r";
        if (c === "\x03") {
          line = "";
          pending = "";
          out("\r\n>");
        } else if (c === "\x10" && line === "") {
          lineEcho = false;
        } else if (c === "\r" || c === "\n") {
          enter();
        } else {
          line += c;
          if (lineEcho && session.echo) out(c);
        }
      }
    };
    socket.on("data", (buf: Buffer) => {
      if (running && buf.includes(3)) interrupted = true;
      input.push(buf);
      handle();
    });
    out("\r\n>");
  }

  /** Listens on 127.0.0.1; returns the port (the console's Telnet). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((s) => this.attach(s));
      this.server = server;
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
    });
  }

  /**
   * A pseudo-terminal standing for the board's USB serial port (socat
   * joins it to the TCP console). Resolves with the device path.
   */
  async serialPort(): Promise<string> {
    const port = this.server ? (this.server.address() as net.AddressInfo).port : await this.listen();
    const link = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lb-espruino-tty-")), "ttyESP32");
    this.socat = spawn("socat", [`PTY,link=${link},rawer,echo=0`, `TCP:127.0.0.1:${port}`], { stdio: "ignore" });
    for (let i = 0; i < 100 && !fs.existsSync(link); i++) await new Promise((r) => setTimeout(r, 50));
    if (!fs.existsSync(link)) throw new Error("socat did not create the pseudo-terminal (is socat installed?)");
    return link;
  }

  async close(): Promise<void> {
    if (this.socat && this.socat.exitCode === null) this.socat.kill();
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

/** True while a statement is still open (Espruino's REPL shows ":" and waits for the rest). */
function incomplete(code: string): boolean {
  try {
    new vm.Script(code);
    return false;
  } catch (e) {
    return /end of input|Unterminated/.test((e as Error).message);
  }
}
