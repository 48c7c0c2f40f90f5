/**
 * A small HTTP/1.1 client for tests: raw bytes out, responses parsed from
 * what comes back (Content-Length, chunked, or none for HEAD/204/304), so a
 * test can send anything, pipelined or cut short, and read each answer.
 */
import * as net from "node:net";

export interface HttpResponse {
  status: number;
  reason: string;
  /** Header fields by lower-case name (the last one of a name). */
  headers: { [name: string]: string };
  /** The header lines as sent, in order. */
  lines: string[];
  body: Buffer;
}

export class HttpConn {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  ended = false;

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

  /** Waits for more bytes; false when the connection ended or `ms` passed. */
  private more(ms: number): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(false);
      }, ms);
      this.waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(typeof text === "string" ? Buffer.from(text, "latin1") : text);
  }

  /** Octets received and not yet read as a response. */
  unread(): number {
    return this.buffer.length;
  }

  /** The next response; `head`: it answers a HEAD (no body). Throws when none comes within `ms`. */
  async response(head = false, ms = 5000): Promise<HttpResponse> {
    const deadline = Date.now() + ms;
    const need = async (what: string) => {
      if (!(await this.more(deadline - Date.now()))) throw new Error(`no ${what} within ${ms} ms${this.ended ? " (connection closed)" : ""}; have ${JSON.stringify(this.buffer.toString("latin1").slice(0, 200))}`);
    };
    let end: number;
    while ((end = this.buffer.indexOf("\r\n\r\n")) < 0) await need("response head");
    const text = this.buffer.toString("latin1", 0, end).split("\r\n");
    let at = end + 4;
    const m = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(text[0]);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(text[0])}`);
    const headers: { [name: string]: string } = {};
    for (const line of text.slice(1)) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(m[1]);
    let body = Buffer.alloc(0);
    if (head || status === 204 || status === 304 || status < 200) {
      // no body
    } else if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      while (this.buffer.length < at + length) await need("body");
      body = this.buffer.subarray(at, at + length);
      at += length;
    } else if (headers["transfer-encoding"] === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        let lf: number;
        while ((lf = this.buffer.indexOf("\r\n", at)) < 0) await need("chunk size");
        const size = parseInt(this.buffer.toString("latin1", at, lf), 16);
        while (this.buffer.length < lf + 2 + size + 2) await need("chunk");
        parts.push(this.buffer.subarray(lf + 2, lf + 2 + size));
        at = lf + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      while (await this.more(deadline - Date.now()));
      body = this.buffer.subarray(at);
      at = this.buffer.length;
    }
    this.buffer = this.buffer.subarray(at);
    return { status, reason: m[2], headers, lines: text.slice(1), body };
  }

  /** True when the server closes the connection within `ms`. */
  async closed(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.ended) if (!(await this.more(deadline - Date.now())) && Date.now() >= deadline) break;
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function httpConnect(port: number): Promise<HttpConn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.off("error", reject);
      resolve(new HttpConn(socket));
    });
    socket.once("error", reject);
  });
}

/** One GET on a fresh connection; the response. */
export async function httpGet(port: number, path: string): Promise<HttpResponse> {
  const c = await httpConnect(port);
  try {
    c.send(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    return await c.response();
  } finally {
    c.close();
  }
}
