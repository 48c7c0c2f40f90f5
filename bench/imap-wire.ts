/**
 * A bare IMAP client for the bench: sends a tagged command and reads the
 * answer up to its tagged status line, counting the octets, skipping over
 * literals ({n} CRLF and n octets) without copying them, so that the client
 * costs as little as possible and a 10 MB BODY[] never sits in memory whole.
 * Nothing is parsed beyond what finding the end of an answer needs.
 */
import * as net from "node:net";

export interface ImapAnswer {
  /** The tagged status line, e.g. "a3 OK FETCH completed". */
  status: string;
  /** Untagged lines (each with its literals left out), kept only when asked. */
  lines: string[];
  /** Octets of the whole answer. */
  octets: number;
  /** Octets inside literals. */
  literalOctets: number;
}

export class ImapWire {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: (() => void) | undefined;
  private closed = false;
  private tagCounter = 0;

  private constructor(private socket: net.Socket) {
    socket.on("data", (b: Buffer) => {
      this.chunks.push(b);
      this.buffered += b.length;
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w();
    });
    socket.on("close", () => {
      this.closed = true;
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w();
    });
    socket.on("error", () => {});
  }

  /** Connects, reads the greeting and logs in (LOGIN with quoted name and password). */
  static async login(port: number, user: string, password: string): Promise<ImapWire> {
    const socket = net.connect({ port, host: "127.0.0.1", noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const wire = new ImapWire(socket);
    const greeting = await wire.readLine();
    if (!/^\* (OK|PREAUTH)/.test(greeting)) throw new Error(`IMAP greeting: ${greeting}`);
    await wire.command(`LOGIN "${user}" "${password}"`);
    return wire;
  }

  /** All the buffered input as one Buffer (merged on demand). */
  private head(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] || Buffer.alloc(0);
  }

  private consume(n: number): void {
    const b = this.head();
    this.chunks = n < b.length ? [b.subarray(n)] : [];
    this.buffered -= n;
  }

  private async more(): Promise<void> {
    if (this.closed) throw new Error("IMAP connection closed by the server");
    await new Promise<void>((resolve) => (this.waiter = resolve));
  }

  /** One line without its CRLF (for the greeting). */
  private async readLine(): Promise<string> {
    for (;;) {
      const b = this.head();
      const i = b.indexOf("\r\n");
      if (i >= 0) {
        const line = b.toString("latin1", 0, i);
        this.consume(i + 2);
        return line;
      }
      await this.more();
    }
  }

  /** Skips `n` octets of literal as they arrive; `midway` (awaited, reading paused) once half of them are read. */
  private async skip(n: number, midway?: () => Promise<void>): Promise<void> {
    const half = n >> 1;
    let read = 0;
    while (read < n) {
      if (this.buffered === 0) await this.more();
      const b = this.head();
      const take = Math.min(n - read, b.length, midway && read < half ? half - read : n);
      this.consume(take);
      read += take;
      if (midway && read === half) {
        await midway();
        midway = undefined;
      }
    }
  }

  /**
   * Sends `text` as a tagged command and reads the answer. Throws unless the
   * status is OK (or `expect` says otherwise). `keepLines` keeps the
   * untagged lines (literals left out) for the caller to look at; `midway`
   * is awaited, with reading paused, half-way through a literal of 64 KB or
   * more (a memory checkpoint with a message in flight).
   */
  async command(text: string, options: { keepLines?: boolean; expect?: string; midway?: () => Promise<void> } = {}): Promise<ImapAnswer> {
    const tag = `b${++this.tagCounter}`;
    this.socket.write(`${tag} ${text}\r\n`);
    const answer: ImapAnswer = { status: "", lines: [], octets: 0, literalOctets: 0 };
    let line = "";
    for (;;) {
      const b = this.head();
      const i = b.indexOf("\r\n");
      if (i < 0) {
        await this.more();
        continue;
      }
      const part = b.toString("latin1", 0, i);
      this.consume(i + 2);
      answer.octets += i + 2;
      const literal = /\{(\d+)\}$/.exec(part);
      if (literal) {
        const n = Number(literal[1]);
        // The hook is for a message in flight: only literals of 64 KB and more.
        await this.skip(n, n >= 65536 ? options.midway : undefined);
        answer.octets += n;
        answer.literalOctets += n;
        line += part;
        continue;
      }
      line += part;
      if (line.startsWith(tag + " ")) {
        answer.status = line;
        const want = options.expect || "OK";
        if (line.slice(tag.length + 1, tag.length + 1 + want.length) !== want) throw new Error(`IMAP ${text.slice(0, 80)}: ${line}`);
        return answer;
      }
      if (options.keepLines) answer.lines.push(line);
      line = "";
    }
  }

  async logout(): Promise<void> {
    try {
      await this.command("LOGOUT");
    } finally {
      this.socket.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
