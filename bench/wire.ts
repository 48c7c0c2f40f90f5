/**
 * A raw TCP client connection for the bench's clients (the POP3 retrieval
 * loop, the stepped memory drivers, HTTP in web-wire.ts): a byte buffer of
 * what arrived and was not read yet, SMTP replies and POP3 status lines and
 * bodies read from it, and pause/resume to hold the server mid-answer.
 */
import * as net from "node:net";

const CRLF = Buffer.from("\r\n");
const TERMINATOR = Buffer.from("\r\n.\r\n");

/**
 * Finds the end of a multi-line response body across chunks. The body
 * starts right after the status line's CRLF, so an empty body is just ".\r\n".
 */
export class MultilineEnd {
  private tail: Buffer = CRLF; // the status line's CRLF: "." on the first line ends an empty body
  private consumed = 0;
  /** Body octets, known once the end is found. */
  bodyBytes = -1;

  /** Feeds the next chunk; returns how much of it belongs to the body and terminator, or -1 if the end is not in it. */
  feed(chunk: Buffer): number {
    const joined = Buffer.concat([this.tail, chunk]);
    const at = joined.indexOf(TERMINATOR);
    if (at < 0) {
      this.consumed += chunk.length;
      this.tail = joined.subarray(Math.max(0, joined.length - (TERMINATOR.length - 1)));
      return -1;
    }
    const used = at + TERMINATOR.length - this.tail.length;
    this.consumed += used;
    this.bodyBytes = this.consumed - 3; // ".\r\n"
    return used;
  }
}

export interface SmtpReply {
  code: number;
  /** Every line of the reply, CRLF removed. */
  text: string;
}

export class Wire {
  private pending: Buffer = Buffer.alloc(0);
  private wake?: () => void;
  private failure?: Error;
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>;

  private constructor(private socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.notify();
    });
    socket.on("error", (e) => ((this.failure = e), this.notify()));
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.failure = this.failure || new Error("connection closed by the server");
        this.notify();
        resolve();
      }),
    );
  }

  static connect(port: number, host = "127.0.0.1"): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new Wire(socket));
      });
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    if (wake) wake();
  }

  /** Waits for more input; throws once the connection failed or closed. */
  private async more(): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** Queues data without waiting; a failure shows at the next read. */
  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Resolves once the data is handed to the kernel (not when the server has read it). */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (e) => (e ? reject(e) : resolve())));
  }

  /** The next CRLF-terminated line, CRLF removed. */
  async line(): Promise<string> {
    for (;;) {
      const end = this.pending.indexOf(CRLF);
      if (end >= 0) {
        const line = this.pending.toString("latin1", 0, end);
        this.pending = this.pending.subarray(end + 2);
        return line;
      }
      await this.more();
    }
  }

  /** The next SMTP reply, continuation lines ("250-...") included. */
  async reply(): Promise<SmtpReply> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line();
      lines.push(line);
      if (line.charAt(3) !== "-") return { code: Number(line.slice(0, 3)), text: lines.join("\n") };
    }
  }

  /** Sends an SMTP command and returns its reply. */
  async smtp(command: string): Promise<SmtpReply> {
    await this.write(command + "\r\n");
    return this.reply();
  }

  /** Sends a POP3 command and returns its status line (+OK or -ERR). */
  async pop3(command: string): Promise<string> {
    await this.write(command + "\r\n");
    return this.line();
  }

  /** Resolves once at least one byte is buffered beyond what was read (e.g. the start of a body). */
  async someInput(): Promise<void> {
    while (this.pending.length === 0) await this.more();
  }

  /** Octets that arrived and were not read yet. */
  get buffered(): number {
    return this.pending.length;
  }

  /** The next `n` octets. */
  async take(n: number): Promise<Buffer> {
    while (this.pending.length < n) await this.more();
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  /** Reads a multi-line POP3 body up to and including CRLF.CRLF; returns its octets as sent (stuffed). */
  async multiline(): Promise<number> {
    const end = new MultilineEnd();
    for (;;) {
      if (this.pending.length > 0) {
        const chunk = this.pending;
        this.pending = Buffer.alloc(0);
        const used = end.feed(chunk);
        if (used >= 0) {
          this.pending = chunk.subarray(used);
          return end.bodyBytes;
        }
      }
      await this.more();
    }
  }

  /** Stops reading from the kernel: the server's sends back up and it is held mid-answer. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes our side once everything written has gone out. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
