/**
 * Minimal SMTP and POP3 clients for tests: they stream big messages (with
 * dot-stuffing) and read replies as bytes, so 8-bit content survives.
 */
import * as net from "node:net";

class Conversation {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(public socket: net.Socket) {
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

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w();
  }

  private async more(): Promise<void> {
    if (this.ended) throw new Error("connection closed by the server");
    await new Promise<void>((resolve) => (this.waiter = resolve));
  }

  async line(): Promise<string> {
    for (;;) {
      const i = this.buffer.indexOf("\r\n");
      if (i >= 0) {
        const line = this.buffer.toString("latin1", 0, i);
        this.buffer = this.buffer.subarray(i + 2);
        return line;
      }
      await this.more();
    }
  }

  /** Reads an SMTP reply (all its lines); returns the last line. */
  async smtpReply(): Promise<string> {
    for (;;) {
      const l = await this.line();
      if (l[3] !== "-") return l;
    }
  }

  /** Reads a POP3 multi-line body up to the lone dot; returns it unstuffed. */
  async multiline(): Promise<Buffer> {
    for (;;) {
      const end = this.buffer.indexOf("\r\n.\r\n");
      const startsWithEnd = this.buffer.subarray(0, 3).toString("latin1") === ".\r\n";
      if (startsWithEnd || end >= 0) {
        const body = startsWithEnd ? Buffer.alloc(0) : this.buffer.subarray(0, end + 2);
        this.buffer = this.buffer.subarray(startsWithEnd ? 3 : end + 5);
        return unstuff(body);
      }
      await this.more();
    }
  }

  /** True when the server sent nothing (and did not close) for `ms` milliseconds. */
  async silentFor(ms: number): Promise<boolean> {
    const before = this.buffer.length;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.buffer.length === before && !this.ended;
  }

  send(text: string): void {
    this.socket.write(Buffer.from(text, "latin1"));
  }

  /** Writes a big buffer respecting back-pressure. */
  async sendBuffer(data: Buffer): Promise<void> {
    const step = 64 * 1024;
    for (let i = 0; i < data.length; i += step) {
      if (!this.socket.write(data.subarray(i, i + step))) {
        await new Promise<void>((resolve) => this.socket.once("drain", resolve));
      }
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export function connect(port: number): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.off("error", reject);
      resolve(new Conversation(socket));
    });
    socket.once("error", reject);
  });
}

/** Dot-stuffs a message for DATA and makes sure it ends with CRLF. */
export function stuff(message: Buffer): Buffer {
  let text = message.toString("latin1");
  if (!text.endsWith("\r\n")) text += "\r\n";
  text = text.replace(/(^|\r\n)\./g, "$1..");
  return Buffer.from(text, "latin1");
}

export function unstuff(body: Buffer): Buffer {
  return Buffer.from(body.toString("latin1").replace(/(^|\r\n)\.\./g, "$1."), "latin1");
}

async function expect(c: Conversation, prefix: string, what: string): Promise<string> {
  const reply = what === "pop3" ? await c.line() : await c.smtpReply();
  if (!reply.startsWith(prefix)) throw new Error(`expected ${prefix}..., got ${JSON.stringify(reply)}`);
  return reply;
}

/** Sends one message; resolves with the final reply to DATA (e.g. "250 2.0.0 Ok..."). */
export async function sendMail(port: number, from: string, to: string[], message: Buffer, helo = "tester.example"): Promise<string> {
  const c = await connect(port);
  try {
    await expect(c, "220", "smtp");
    c.send(`EHLO ${helo}\r\n`);
    await expect(c, "250", "smtp");
    c.send(`MAIL FROM:<${from}>\r\n`);
    await expect(c, "250", "smtp");
    for (const r of to) {
      c.send(`RCPT TO:<${r}>\r\n`);
      await expect(c, "250", "smtp");
    }
    c.send("DATA\r\n");
    await expect(c, "354", "smtp");
    await c.sendBuffer(stuff(message));
    c.send(".\r\n");
    const reply = await c.smtpReply();
    c.send("QUIT\r\n");
    await c.smtpReply().catch(() => "");
    return reply;
  } finally {
    c.close();
  }
}

export interface Pop3Listing {
  count: number;
  uidls: string[];
  sizes: number[];
}

/** Logs in and runs `work`; QUITs afterwards (so deletions apply). */
export async function pop3Session<T>(port: number, user: string, password: string, work: (c: Pop3Client) => Promise<T>): Promise<T> {
  const c = await connect(port);
  try {
    await expect(c, "+OK", "pop3");
    c.send(`USER ${user}\r\n`);
    await expect(c, "+OK", "pop3");
    c.send(`PASS ${password}\r\n`);
    await expect(c, "+OK", "pop3");
    const result = await work(new Pop3Client(c));
    c.send("QUIT\r\n");
    await expect(c, "+OK", "pop3");
    return result;
  } finally {
    c.close();
  }
}

export class Pop3Client {
  constructor(private c: Conversation) {}

  async list(): Promise<Pop3Listing> {
    this.c.send("UIDL\r\n");
    await expect(this.c, "+OK", "pop3");
    const uidls = this.c.multiline().then((b) => lines(b).map((l) => l.split(" ")[1]));
    const u = await uidls;
    this.c.send("LIST\r\n");
    await expect(this.c, "+OK", "pop3");
    const sizes = lines(await this.c.multiline()).map((l) => Number(l.split(" ")[1]));
    return { count: u.length, uidls: u, sizes };
  }

  async retr(n: number): Promise<Buffer> {
    this.c.send(`RETR ${n}\r\n`);
    await expect(this.c, "+OK", "pop3");
    return this.c.multiline();
  }

  async dele(n: number): Promise<void> {
    this.c.send(`DELE ${n}\r\n`);
    await expect(this.c, "+OK", "pop3");
  }
}

function lines(b: Buffer): string[] {
  return b.toString("latin1").split("\r\n").filter((l) => l.length > 0);
}

/** The message as the sender wrote it: the stored copy minus the box's Return-Path and Received headers. */
export function withoutTraceHeaders(stored: Buffer): Buffer {
  const text = stored.toString("latin1");
  const m = /^Return-Path: [^\r]*\r\nReceived: [^\r]*(\r\n[ \t][^\r]*)*\r\n/.exec(text);
  if (!m) throw new Error("no trace headers at the top of the stored message");
  return Buffer.from(text.slice(m[0].length), "latin1");
}
