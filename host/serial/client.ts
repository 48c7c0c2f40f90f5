/**
 * A connection to a letterbox over its serial line: one request at a time,
 * replies matched by id, console text handed to `onText`.
 */
import * as fs from "node:fs";
import { SerialPort } from "serialport";
import { ERROR_NAMES, encodeFrame, FrameReader, MAX_PAYLOAD, packr, PROTOCOL_VERSION } from "./protocol";

export const BAUD_RATE = 115200;

/** The device answered with an error reply. */
export class DeviceError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message); // the board's words; the code is for programs (ERROR_NAMES), not for people
  }

  /** The code's name (ERROR_NAMES), e.g. "conflict". */
  get codeName(): string {
    return ERROR_NAMES[this.code] || "error";
  }
}

/** No answer, or the line failed: the port is wrong or the board is not running letterbox. */
export class LinkError extends Error {}

export interface Reply {
  [key: string]: unknown;
}

export interface ClientOptions {
  path: string;
  baudRate?: number;
  /** Console text from the board (bytes outside frames). */
  onText?: (text: Buffer) => void;
  /** How long to wait for each reply. */
  timeoutMs?: number;
}

interface Waiting {
  id: number;
  resolve: (reply: { map: Reply; data?: Buffer }) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class DeviceClient {
  private nextId = 1 + Math.floor(Math.random() * 1_000_000);
  private waiting: Waiting | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private reader: FrameReader;
  private timeoutMs: number;
  /** What `hello` said: protocol version, firmware, runtime. */
  hello: Reply = {};

  private constructor(
    private port: SerialPort,
    options: ClientOptions,
  ) {
    this.timeoutMs = options.timeoutMs || 5000;
    const onText = options.onText || (() => {});
    this.reader = new FrameReader({
      frame: (payload) => this.onFrame(payload),
      text: onText,
      // A reply damaged on the line is simply lost: the request's timeout reports it.
      reject: () => {},
    });
    port.on("data", (chunk: Buffer) => this.reader.push(chunk));
    port.on("close", () => this.fail(new LinkError("the serial port closed")));
  }

  /** Opens the port and checks that a letterbox speaking our protocol answers. */
  static async open(options: ClientOptions): Promise<DeviceClient> {
    const port = await openPort(options.path, options.baudRate || BAUD_RATE);
    // Console text the board printed while nobody listened is old news.
    await new Promise<void>((resolve) => port.flush(() => resolve()));
    const client = new DeviceClient(port, options);
    try {
      client.hello = await client.greet();
    } catch (e) {
      await client.close();
      if (e instanceof LinkError) {
        throw new LinkError(`no letterbox answered on ${options.path}: ${e.message} (is the board running the letterbox firmware, and is it the right port?)`);
      }
      throw e;
    }
    if (client.hello.protocol !== PROTOCOL_VERSION) {
      await client.close();
      throw new LinkError(`the board speaks protocol ${client.hello.protocol}, this tool ${PROTOCOL_VERSION}: update the firmware or the tool`);
    }
    return client;
  }

  /**
   * `hello`, again after a frame rejection: the board may still hold half a
   * frame from a tool that was killed mid-request, which spoils the first one.
   */
  private async greet(): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.request("hello")).map;
      } catch (e) {
        if (!(e instanceof DeviceError && e.code <= 4) || attempt === 3) throw e;
      }
    }
  }

  /** Sends one request and resolves with the reply map (and data, for replies that carry bytes). */
  request(op: string, args: Reply = {}): Promise<{ map: Reply; data?: Buffer }> {
    const run = () => this.send(op, args);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  private send(op: string, args: Reply): Promise<{ map: Reply; data?: Buffer }> {
    const id = this.nextId++;
    const payload = packr.pack({ ...args, id, op });
    if (payload.length > MAX_PAYLOAD) return Promise.reject(new Error(`request ${op} too large for one frame`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reader.flush();
        this.fail(new LinkError(`no reply to ${op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting = { id, resolve, reject, timer };
      this.port.write(encodeFrame(payload), (err) => {
        if (err) this.fail(new LinkError(`cannot write to the port: ${err.message}`));
      });
    });
  }

  private onFrame(payload: Buffer): void {
    let value: unknown;
    try {
      value = packr.unpack(payload);
    } catch {
      this.fail(new LinkError("a reply is not MessagePack"));
      return;
    }
    let data: Buffer | undefined;
    if (Array.isArray(value) && value.length === 2 && Buffer.isBuffer(value[1])) {
      data = value[1];
      value = value[0];
    }
    if (!value || typeof value !== "object") return;
    const map = value as Reply;
    const w = this.waiting;
    // Replies to earlier sessions' requests are stale; id 0 answers a frame the device could not read.
    if (!w || (map.id !== w.id && map.id !== 0)) return;
    this.waiting = undefined;
    clearTimeout(w.timer);
    if (map.ok === true) w.resolve({ map, data });
    else w.reject(new DeviceError(Number(map.error), String(map.message)));
  }

  private fail(err: Error): void {
    const w = this.waiting;
    if (!w) return;
    this.waiting = undefined;
    clearTimeout(w.timer);
    w.reject(err);
  }

  /** Writes bytes as they are (monitor, tests). */
  writeRaw(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.port.write(data, (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    if (!this.port.isOpen) return;
    await new Promise<void>((resolve) => this.port.drain(() => this.port.close(() => resolve())));
  }
}

/**
 * Opens a serial port, with the reason in words when it cannot be: no such
 * device, not a serial port, no permission.
 */
export function openPort(path: string, baudRate: number): Promise<SerialPort> {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      return Promise.reject(
        new LinkError(`${path} does not exist: is the board plugged in? Leave out --port to find it by its USB id, or see \`letterbox boards\`.`),
      );
    }
    return Promise.reject(new LinkError(`cannot open ${path}: ${(e as Error).message}`));
  }
  if (!st.isCharacterDevice()) {
    const kind = st.isDirectory() ? "a directory" : st.isFile() ? "a regular file" : "not a device";
    return Promise.reject(new LinkError(`${path} is not a serial port (it is ${kind}); a board's port is a device such as /dev/ttyUSB0`));
  }
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    port.open((err) => {
      if (!err) return resolve(port);
      const why = err.message.replace(/^Error: /, "");
      if (/EACCES|Permission denied/i.test(why)) {
        reject(new LinkError(`no permission to open ${path}: add yourself to its group (sudo usermod -aG dialout $USER, then log in again)`));
      } else if (/Inappropriate ioctl|ENOTTY/i.test(why)) {
        reject(new LinkError(`${path} is not a serial port (it does not take a line speed)`));
      } else {
        reject(new LinkError(`cannot open ${path}: ${why}`));
      }
    });
  });
}
