/**
 * A client of the board's web API (firmware/webapp.ts) as the page uses it:
 * real HTTP over TCP (node:http, one connection per request), MessagePack
 * bodies (msgpackr, as in the browser), the log-in cookie and CSRF token,
 * and the page's Origin on every POST.
 */
import * as http from "node:http";
import { Packr } from "msgpackr";

const packr = new Packr({ useRecords: false });

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The body decoded as MessagePack (undefined when it is not). */
  value: any;
}

/** One request on its own connection. */
export function request(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const data = Buffer.concat(chunks);
        let value: unknown = undefined;
        if (String(res.headers["content-type"] || "").startsWith("application/msgpack") && data.length > 0) value = packr.unpack(data);
        resolve({ status: res.statusCode as number, headers: res.headers, body: data, value });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body) req.end(body);
    else req.end();
  });
}

export class WebClient {
  cookie = "";
  csrf = "";
  /** Sent as Origin on POSTs; the page's own unless a test changes it. */
  origin: string;

  constructor(public port: number) {
    this.origin = `http://127.0.0.1:${port}`;
  }

  get(path: string, extra: Record<string, string> = {}): Promise<Answer> {
    return request(this.port, "GET", path, { ...(this.cookie ? { Cookie: this.cookie } : {}), ...extra });
  }

  post(path: string, value: unknown, extra: Record<string, string> = {}): Promise<Answer> {
    const headers: Record<string, string> = { "Content-Type": "application/msgpack" };
    if (this.origin) headers.Origin = this.origin;
    if (this.cookie) headers.Cookie = this.cookie;
    if (this.csrf) headers["X-CSRF-Token"] = this.csrf;
    return request(this.port, "POST", path, { ...headers, ...extra }, packr.pack(value));
  }

  /** Logs in; keeps the cookie and CSRF token when it worked. */
  async login(user: string, password: string): Promise<Answer> {
    const a = await this.post("/api/login", { user, password });
    if (a.status === 200) {
      const set = String((a.headers["set-cookie"] || [])[0] || "");
      this.cookie = set.split(";")[0];
      this.csrf = a.value.csrf;
    }
    return a;
  }
}
