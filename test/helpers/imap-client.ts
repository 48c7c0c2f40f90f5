/**
 * A minimal IMAP client for protocol tests: sends tagged commands (with
 * synchronizing or non-synchronizing literals) and collects every line the
 * server sends up to the tagged completion, literals included as octets
 * (latin1 strings: 8-bit content survives).
 */
import * as net from "node:net";

export interface ImapResponse {
  /** The untagged and continuation lines, each with its literals inline ("{3}\r\nabc" stays as sent). */
  lines: string[];
  /** The tagged completion line without the tag: "OK ...", "NO ...", "BAD ...". */
  status: string;
}

export class ImapClient {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;
  private tags = 0;
  /** The greeting line, once connected. */
  greeting = "";

  private constructor(public socket: net.Socket) {
    socket.on("data", (b) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, b]) : b;
      this.wake();
    });
    socket.on("close", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async connect(port: number): Promise<ImapClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const c = new ImapClient(socket);
    c.greeting = await c.line();
    return c;
  }

  /** Connects and logs in. */
  static async login(port: number, user: string, password: string): Promise<ImapClient> {
    const c = await ImapClient.connect(port);
    const r = await c.command(`LOGIN ${user} ${password}`);
    if (!r.status.startsWith("OK")) throw new Error(`LOGIN: ${r.status}`);
    return c;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w();
  }

  private async more(ms: number): Promise<void> {
    if (this.ended) throw new Error("connection closed by the server");
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms; have: ${JSON.stringify(this.buffer.toString("latin1").slice(0, 200))}`)), ms);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  get closed(): boolean {
    return this.ended && this.buffer.length === 0;
  }

  /** One response line with any literals it announces read whole into it. */
  async line(ms = 15000): Promise<string> {
    let out = "";
    for (;;) {
      const i = this.buffer.indexOf("\r\n");
      if (i < 0) {
        await this.more(ms);
        continue;
      }
      const text = this.buffer.toString("latin1", 0, i);
      const literal = /\{(\d+)\}$/.exec(text);
      if (!literal) {
        this.buffer = this.buffer.subarray(i + 2);
        return out + text;
      }
      const n = Number(literal[1]);
      while (this.buffer.length < i + 2 + n) await this.more(ms);
      out += this.buffer.toString("latin1", 0, i + 2 + n);
      this.buffer = this.buffer.subarray(i + 2 + n);
    }
  }

  /** Sends raw octets. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /**
   * Sends `text` as a tagged command and reads up to its completion.
   * `literals`: octets for each "{n}" / "{n+}" placeholder "{}" / "{+}" in
   * `text`, in order; a synchronizing one waits for the server's "+".
   */
  async command(text: string, literals: (string | Buffer)[] = [], ms = 15000): Promise<ImapResponse> {
    const tag = `t${++this.tags}`;
    const parts = text.split(/(\{\+?\})/);
    const lines: string[] = [];
    let k = 0;
    let out = `${tag} `;
    for (const part of parts) {
      if (part === "{}" || part === "{+}") {
        const data = Buffer.from(literals[k++] as string, typeof literals[k - 1] === "string" ? "latin1" : undefined);
        const sync = part === "{}";
        this.write(`${out}{${data.length}${sync ? "" : "+"}}\r\n`);
        out = "";
        if (sync) {
          const go = await this.line(ms);
          if (!go.startsWith("+")) return { lines, status: go.replace(/^\S+ /, "") };
        }
        this.write(data);
      } else out += part;
    }
    this.write(`${out}\r\n`);
    return this.until(tag, lines, ms);
  }

  /** Reads lines up to the completion of `tag`. */
  async until(tag: string, lines: string[] = [], ms = 15000): Promise<ImapResponse> {
    for (;;) {
      const l = await this.line(ms);
      if (l.startsWith(`${tag} `)) return { lines, status: l.slice(tag.length + 1) };
      lines.push(l);
    }
  }

  /** The tag the next command() will use. */
  nextTag(): string {
    return `t${this.tags + 1}`;
  }

  /** Takes a tag for a command written by hand. */
  takeTag(): string {
    return `t${++this.tags}`;
  }

  async logout(): Promise<void> {
    if (!this.ended) await this.command("LOGOUT").catch(() => undefined);
    this.socket.destroy();
  }
}
