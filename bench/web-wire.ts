/**
 * HTTP/1.1 over a bench Wire, for the web memory driver (stepped-web.ts): a
 * request written by hand, the answer's head and body read from the raw
 * connection (Content-Length or chunked, RFC 9112 6-7), so that a session
 * can stop reading mid-answer and hold the server there. Plus the web API's
 * log-in and log-out over such a connection (docs/WEB.md).
 */
import { Packr } from "msgpackr";
import { Wire } from "./wire";

const packr = new Packr({ useRecords: false });

export interface HttpHead {
  status: number;
  /** Header names in lower case; repeated headers joined with ", " (Set-Cookie: the first only). */
  headers: Map<string, string>;
}

/** What a logged-in session sends with each request. */
export interface WebLogin {
  cookie: string;
  csrf: string;
}

/** Writes one request; `body` (MessagePack) makes it a POST with the page's Origin. */
export function sendRequest(wire: Wire, port: number, method: string, target: string, login?: WebLogin, body?: unknown): void {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  if (login) lines.push(`Cookie: ${login.cookie}`);
  let payload: Buffer = Buffer.alloc(0);
  if (body !== undefined) {
    payload = packr.pack(body);
    lines.push(`Origin: http://127.0.0.1:${port}`, "Content-Type: application/msgpack", `Content-Length: ${payload.length}`);
    if (login) lines.push(`X-CSRF-Token: ${login.csrf}`);
  }
  wire.send(Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), payload]));
}

export async function readHead(wire: Wire): Promise<HttpHead> {
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(await wire.line());
  if (!status) throw new Error("not an HTTP/1.1 status line");
  const headers = new Map<string, string>();
  for (;;) {
    const line = await wire.line();
    if (line === "") return { status: Number(status[1]), headers };
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!headers.has(name)) headers.set(name, value);
    else if (name !== "set-cookie") headers.set(name, `${headers.get(name)}, ${value}`);
  }
}

/** The body after `head`: by Content-Length, or chunked up to the last-chunk and its (empty) trailer. */
export async function readBody(wire: Wire, head: HttpHead): Promise<Buffer> {
  if (head.headers.get("transfer-encoding") === "chunked") {
    const parts: Buffer[] = [];
    for (;;) {
      const size = parseInt((await wire.line()).split(";")[0], 16);
      if (!(size >= 0)) throw new Error("bad chunk size");
      if (size === 0) break;
      parts.push(await wire.take(size));
      if ((await wire.line()) !== "") throw new Error("chunk not followed by CRLF");
    }
    while ((await wire.line()) !== "");
    return Buffer.concat(parts);
  }
  return wire.take(Number(head.headers.get("content-length") || 0));
}

export async function exchange(wire: Wire, port: number, method: string, target: string, login?: WebLogin, body?: unknown): Promise<{ head: HttpHead; body: Buffer }> {
  sendRequest(wire, port, method, target, login, body);
  const head = await readHead(wire);
  return { head, body: await readBody(wire, head) };
}

export function unpack(body: Buffer): any {
  return packr.unpack(body);
}

/** POST /api/login on the connection (kept alive); throws unless 200. */
export async function webLogin(wire: Wire, port: number, user: string, password: string): Promise<WebLogin> {
  const answer = await exchange(wire, port, "POST", "/api/login", undefined, { user, password });
  if (answer.head.status !== 200) throw new Error(`log-in as ${user}: HTTP ${answer.head.status}`);
  const cookie = (answer.head.headers.get("set-cookie") || "").split(";")[0];
  return { cookie, csrf: unpack(answer.body).csrf };
}

/** POST /api/logout: the board forgets the log-in. */
export async function webLogout(wire: Wire, port: number, login: WebLogin): Promise<void> {
  const answer = await exchange(wire, port, "POST", "/api/logout", login, {});
  if (answer.head.status !== 200) throw new Error(`log-out: HTTP ${answer.head.status}`);
}
