/**
 * `letterbox flash --runtime nodemcu`: writes files into the board's SPIFFS
 * through the NodeMCU serial REPL, as nodemcu-tool does, with dev-esp32's
 * API (`io`, `encoder`, `crypto`; its `file` module has no open or stat,
 * file.c:157-166). It types short Lua lines: a helper that decodes base64
 * chunks on the board and writes them, one chunk per line (the REPL reads
 * at most 256 characters a line), waiting for the prompt after each; then
 * has the board report each file's size and SHA-256 and compares them.
 * With an LFS image among the files it then has the board load it
 * (node.LFS.reload, node.c:844: the board restarts) and checks the module
 * is there. A running letterbox keeps the console for its frames (no Lua
 * input), so to reach the prompt it asks the box to reboot and stops
 * init.lua during its pause (`letterbox_boot:unregister()`).
 */
import * as crypto from "node:crypto";
import { SerialPort } from "serialport";
import { encodeFrame, packr } from "../serial/protocol";

/** Base64 characters per line: 171 bytes, a line well below the REPL's 256. */
export const CHUNK_BASE64 = 228;
const CHUNK_BYTES = (CHUNK_BASE64 / 4) * 3;
const PROMPT = "\n> ";
const CONTINUATION = "\n>> ";
/** What the board prints before results, built so that the typed line's echo never contains it. */
const MARK = "@@LB";

export interface FlashFile {
  /** Name in SPIFFS (at most 31 characters). */
  name: string;
  data: Buffer;
}

export interface FlashOptions {
  port: string;
  baudRate?: number;
  files: FlashFile[];
  /** Milliseconds to wait for each prompt or result. */
  timeoutMs?: number;
  /** Bytes written so far, of `total`. */
  onProgress?: (written: number, total: number) => void;
  /** Restart the board when done (init.lua starts letterbox); else it is left at the prompt. */
  restart?: boolean;
  /** The SPIFFS name of an LFS image among `files`: loaded with node.LFS.reload, then `lfsModule` must be in LFS. */
  lfsImage?: string;
  lfsModule?: string;
  /** How long a reboot into init.lua's pause may take (default 10 s). */
  rebootMs?: number;
}

/** What stops init.lua's pause before it starts letterbox (host/nodemcu/build.ts initLua). */
const STOP_BOOT = "letterbox_boot:unregister()";
/** How long a box takes to reboot into init.lua's pause, at most. */
const REBOOT_MS = 10000;

export class FlashError extends Error {
  /** True when the port or the prompt never answered (no board there), not a failure while writing. */
  portProblem = false;
}

function portProblem(message: string): FlashError {
  const e = new FlashError(message);
  e.portProblem = true;
  return e;
}

/** A NodeMCU prompt on a serial port: type a line, collect what comes back. */
class Repl {
  private received = "";
  private waiter: (() => void) | undefined;

  private constructor(private port: SerialPort) {
    port.on("data", (chunk: Buffer) => {
      this.received += chunk.toString("latin1");
      if (this.waiter) this.waiter();
    });
  }

  static open(path: string, baudRate: number): Promise<Repl> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate, autoOpen: false });
      port.open((err) => (err ? reject(portProblem(`cannot open ${path}: ${err.message}`)) : resolve(new Repl(port))));
    });
  }

  /** Waits until `test` finds what it wants in the text received since the last take; returns that text. */
  private waitFor(test: (text: string) => number, timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const end = test(this.received);
        if (end < 0) return;
        clearTimeout(timer);
        this.waiter = undefined;
        const text = this.received.slice(0, end);
        this.received = this.received.slice(end);
        resolve(text);
      };
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new FlashError(`no ${what} from the board within ${timeoutMs} ms (received: ${JSON.stringify(this.received.slice(-200))})`));
      }, timeoutMs);
      this.waiter = check;
      check();
    });
  }

  private write(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(text, "latin1"), (err) => (err ? reject(err) : this.port.drain(() => resolve())));
    });
  }

  /** Brings the REPL to a fresh prompt. */
  async sync(timeoutMs: number): Promise<void> {
    await this.write("\r\n");
    try {
      await this.waitFor((t) => (t.lastIndexOf(PROMPT) >= 0 ? t.lastIndexOf(PROMPT) + PROMPT.length : -1), timeoutMs, "Lua prompt");
    } catch (e) {
      throw portProblem(`${(e as Error).message}; is it a NodeMCU board, and not busy?`);
    }
    this.received = "";
  }

  /** Sends raw bytes (a console frame). */
  send(bytes: Buffer): Promise<void> {
    return this.write(bytes.toString("latin1"));
  }

  /**
   * After a restart: types STOP_BOOT until the prompt answers it without an
   * error (init.lua has defined letterbox_boot and its pause is still on).
   */
  async stopBoot(withinMs: number): Promise<boolean> {
    const until = Date.now() + withinMs;
    while (Date.now() < until) {
      this.received = "";
      await this.write(STOP_BOOT + "\r\n");
      const out = await this.waitFor((t) => (t.indexOf(PROMPT) >= 0 ? t.indexOf(PROMPT) + PROMPT.length : -1), 400, "prompt").catch(() => undefined);
      if (out !== undefined && out.includes(STOP_BOOT) && !/stdin:\d+:/.test(out)) {
        this.received = "";
        return true;
      }
    }
    return false;
  }

  /** Waits for any output (or the time to pass). */
  async settle(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
  }

  /** Types one line and returns the board's output up to the next prompt (echo included). */
  async run(line: string, timeoutMs: number): Promise<string> {
    if (line.length > 250) throw new Error(`REPL line too long (${line.length})`);
    await this.write(line + "\r\n");
    const out = await this.waitFor(
      (t) => {
        if (t.includes(CONTINUATION)) return t.indexOf(CONTINUATION) + CONTINUATION.length;
        const i = t.indexOf(PROMPT);
        return i >= 0 ? i + PROMPT.length : -1;
      },
      timeoutMs,
      "prompt",
    );
    if (out.includes(CONTINUATION)) throw new FlashError(`the board waits for more input after: ${line}`);
    const problem = /(stdin:\d+:[^\n]*|lua: [^\n]*)/.exec(out);
    if (problem) throw new FlashError(`the board reports: ${problem[1].trim()}`);
    return out;
  }

  /** Runs a line that prints MARK + result; returns the result. */
  async query(line: string, timeoutMs: number): Promise<string> {
    const out = await this.run(line, timeoutMs);
    const m = new RegExp(`${MARK} ([^\\r\\n]*)`).exec(out);
    if (!m) throw new FlashError(`no answer to: ${line} (got ${JSON.stringify(out.slice(-200))})`);
    return m[1];
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}

/** Prints MARK and the values, without MARK appearing in the echo of the line. */
function answer(expression: string): string {
  return `print("${MARK.slice(0, 2)}".."${MARK.slice(2)} "..${expression})`;
}

function luaString(s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s) || s.includes('"') || s.includes("\\")) throw new FlashError(`unusable file name: ${s}`);
  return `"${s}"`;
}

/** The console request that reboots a running box (docs/SERIAL.md, op "reboot"). */
function rebootFrame(): Buffer {
  return encodeFrame(Buffer.from(packr.pack({ id: 1, op: "reboot" })));
}

/** Reaches the Lua prompt: at once on an idle board, else by rebooting a running box and stopping its boot. */
async function reachPrompt(repl: Repl, timeoutMs: number, rebootMs: number): Promise<void> {
  try {
    await repl.sync(Math.min(timeoutMs, 2000));
    return;
  } catch (e) {
    if (!(e instanceof FlashError) || !e.portProblem) throw e;
  }
  await repl.send(rebootFrame());
  if (!(await repl.stopBoot(rebootMs))) {
    throw portProblem(`no Lua prompt on the port, and no letterbox box that would reboot into one; is it a NodeMCU board, and not busy?`);
  }
  await repl.sync(timeoutMs);
}

export async function flashNodemcu(options: FlashOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const total = options.files.reduce((n, f) => n + f.data.length, 0);
  for (const f of options.files) if (f.name.length === 0 || f.name.length > 31) throw new FlashError(`SPIFFS names are 1-31 characters: ${f.name}`);
  const repl = await Repl.open(options.port, options.baudRate ?? 115200);
  let written = 0;
  try {
    await reachPrompt(repl, timeoutMs, options.rebootMs ?? REBOOT_MS);
    // Helpers on the board, one short line each: write a chunk; report size and hash of a file (io, encoder, crypto).
    await repl.run(`function __lbw(s) assert(__lbf:write(encoder.fromBase64(s))) end`, timeoutMs);
    await repl.run(
      `function __lbv(n) local h,f,z=crypto.new_hash("SHA256"),assert(io.open(n,"rb")),0 repeat local d=f:read(512) if d then h:update(d) z=z+#d end until not d f:close() return z.." "..encoder.toHex(h:finalize()) end`,
      timeoutMs,
    );
    for (const f of options.files) {
      const name = luaString(f.name);
      const opened = await repl.query(`__lbf=io.open(${name},"wb") ${answer("tostring(__lbf~=nil)")}`, timeoutMs);
      if (opened !== "true") throw new FlashError(`the board cannot create ${f.name} (is the file system full?)`);
      for (let at = 0; at < f.data.length; at += CHUNK_BYTES) {
        const chunk = f.data.subarray(at, at + CHUNK_BYTES);
        await repl.run(`__lbw("${chunk.toString("base64")}")`, timeoutMs);
        written += chunk.length;
        options.onProgress?.(written, total);
      }
      await repl.run(`assert(__lbf:close()) __lbf=nil`, timeoutMs);
      const report = await repl.query(answer(`__lbv(${name})`), timeoutMs);
      const expected = `${f.data.length} ${crypto.createHash("sha256").update(f.data).digest("hex")}`;
      if (report.trim() !== expected) {
        throw new FlashError(`${f.name} did not verify: the board has "${report.trim()}", expected "${expected}"`);
      }
    }
    await repl.run(`__lbw=nil __lbv=nil`, timeoutMs);
    options.onProgress?.(total, total);
    if (options.lfsImage !== undefined) await loadLfs(repl, options.lfsImage, options.lfsModule, timeoutMs, options.rebootMs ?? REBOOT_MS);
    if (options.restart) await repl.run("node.restart()", timeoutMs).catch(() => undefined); // the prompt may not come back
  } finally {
    await repl.close();
  }
}

/** node.LFS.reload(image): the board restarts and loads it; then the module must be in LFS. */
async function loadLfs(repl: Repl, image: string, module: string | undefined, timeoutMs: number, rebootMs: number): Promise<void> {
  // On success the board restarts before answering; on failure reload returns the reason.
  const out = await repl.run(`print("@@".."LFS", node.LFS.reload(${luaString(image)}))`, timeoutMs).catch((e: Error) => e.message);
  const refused = /@@LFS\t([^\r\n]+)/.exec(out);
  if (refused) throw new FlashError(`the board did not load ${image}: ${refused[1]} (is its firmware built with an LFS partition?)`);
  if (!(await repl.stopBoot(rebootMs))) throw new FlashError(`the board did not come back to the prompt after loading ${image}`);
  await repl.sync(timeoutMs);
  if (module !== undefined) {
    const found = await repl.query(answer(`tostring(node.LFS.get(${luaString(module)}) ~= nil)`), timeoutMs);
    if (found !== "true") throw new FlashError(`${image} is loaded but the Lua Flash Store holds no ${module} module (was the image made from ${module}.lua?)`);
  }
}
