/**
 * `letterbox flash --runtime nodemcu`: writes the firmware files into the
 * board's SPIFFS through the NodeMCU serial REPL, as nodemcu-tool does. It
 * types short Lua lines: a helper that decodes base64 chunks on the board
 * and writes them with the `file` module, one chunk per line (the REPL reads
 * at most 256 characters a line), waiting for the prompt after each; then
 * has the board report the file's size and SHA-256 and compares them.
 */
import * as crypto from "node:crypto";
import { SerialPort } from "serialport";

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
  /** Restart the board when done (init.lua starts letterbox). */
  restart?: boolean;
}

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

export async function flashNodemcu(options: FlashOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const total = options.files.reduce((n, f) => n + f.data.length, 0);
  for (const f of options.files) if (f.name.length === 0 || f.name.length > 31) throw new FlashError(`SPIFFS names are 1-31 characters: ${f.name}`);
  const repl = await Repl.open(options.port, options.baudRate ?? 115200);
  let written = 0;
  try {
    await repl.sync(timeoutMs);
    // Helpers on the board, one short line each: write a chunk; report size and hash of a file.
    await repl.run(`function __lbw(s) __lbf:write(encoder.fromBase64(s)) end`, timeoutMs);
    await repl.run(
      `function __lbv(n) local h,f=crypto.new_hash("SHA256"),file.open(n,"r") repeat local d=f:read(512) if d then h:update(d) end until not d f:close() return encoder.toHex(h:finalize()) end`,
      timeoutMs,
    );
    for (const f of options.files) {
      const name = luaString(f.name);
      const opened = await repl.query(`__lbf=file.open(${name},"w+") ${answer("tostring(__lbf~=nil)")}`, timeoutMs);
      if (opened !== "true") throw new FlashError(`the board cannot create ${f.name} (is the file system full?)`);
      for (let at = 0; at < f.data.length; at += CHUNK_BYTES) {
        const chunk = f.data.subarray(at, at + CHUNK_BYTES);
        await repl.run(`__lbw("${chunk.toString("base64")}")`, timeoutMs);
        written += chunk.length;
        options.onProgress?.(written, total);
      }
      await repl.run(`__lbf:close() __lbf=nil`, timeoutMs);
      const report = await repl.query(`${answer(`file.stat(${name}).size.." "..__lbv(${name})`)}`, timeoutMs);
      const expected = `${f.data.length} ${crypto.createHash("sha256").update(f.data).digest("hex")}`;
      if (report.trim() !== expected) {
        throw new FlashError(`${f.name} did not verify: the board has "${report.trim()}", expected "${expected}"`);
      }
    }
    await repl.run(`__lbw=nil __lbv=nil`, timeoutMs);
    if (options.restart) await repl.run("node.restart()", timeoutMs).catch(() => undefined); // the prompt may not come back
    options.onProgress?.(total, total);
  } finally {
    await repl.close();
  }
}
