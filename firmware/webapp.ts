/**
 * The web page's side on the board (docs/WEB.md): the page's files from the
 * card, and the small API the page calls, behind the HTTP service (http.ts).
 * The board only lists, streams raw messages and changes flags; the page
 * does the MIME work in the browser. Answers are MessagePack (msgpack.ts),
 * header text as bin: the page decodes it (RFC 2047, charsets).
 *
 * Security (the page faces the whole LAN): a log-in is a token from the
 * board's strong random source in an HttpOnly, SameSite=Strict cookie,
 * forgotten when idle or at log-out; every POST needs the page's Origin and
 * (but the log-in) the log-in's CSRF token; a user reaches only their own
 * mailbox, by ids checked against it; URL paths never reach the card: files
 * are found through the page's manifest (webfiles.ts).
 */
import type { Config } from "./config";
import { FIRMWARE_VERSION } from "./console";
import type { FileHandle, Hal } from "./hal";
import { plain, type HttpHandler, type HttpReply, type HttpRequest } from "./http";
import { Layout } from "./msgfiles";
import { Access, Flag, Mailbox, StoredFlag, type Maildrop } from "./mailbox";
import { arrayHeader, binary, decode, encode, MsgMap, MsgValue } from "./msgpack";
import { hex, parseDecimal } from "./num";
import type { ChunkSource } from "./sender";
import { FILE_WAIT_SECONDS } from "./sessions";
import { find } from "./text";
import { lookup } from "./webfiles";

/** The API's limits (a const enum: inlined, no variable kept in RAM). */
export const enum Web {
  /** Log-ins kept at once (a household's browsers); a new one past this replaces the longest idle. */
  MaxLogins = 8,
  /** A log-in unused this long (seconds) is forgotten: the browser must log in again. */
  LoginIdleSeconds = 1800,
  /** Messages per list page, and ids per delete or seen request. */
  MaxBatch = 100,
  /** List page size when the page asks for none. */
  DefaultCount = 50,
}

const MSGPACK = "Content-Type: application/msgpack\r\nCache-Control: no-store\r\n";

interface Login {
  /** The cookie's value: 35 hex digits (140 bits) from hal.random ("entropy" only). */
  token: string;
  /** What POSTs carry in X-CSRF-Token. */
  csrf: string;
  user: string;
  /** hal.now() of the last request. */
  last: number;
}

/** The HTTP service's handler for the page and its API. */
export function webHandler(hal: Hal, config: Config, mailbox: Mailbox): HttpHandler {
  const app = new WebApp(hal, config, mailbox);
  return function (req: HttpRequest, reply: HttpReply): void {
    app.handle(req, reply);
  };
}

/** 140 random bits as 35 hex digits. */
function randomHex(hal: Hal): string {
  let out = "";
  for (let i = 0; i < 5; i++) out += hex(hal.random() & 0xfffffff, 7);
  return out;
}

/** Equal strings, compared in a time that does not depend on where they differ. */
function same(a: string, b: string): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = diff | (a.charCodeAt(i) ^ b.charCodeAt(i));
  return diff === 0;
}

/** The value of `name` in a Cookie header (RFC 6265 5.4: "a=1; b=2"), "" when absent. */
function cookieValue(header: string, name: string): string {
  let at = 0;
  while (at < header.length) {
    let end = find(header, ";", at);
    if (end < 0) end = header.length;
    while (at < end && header.charCodeAt(at) === 32) at++;
    if (header.substring(at, at + name.length + 1) === name + "=") return header.substring(at + name.length + 1, end);
    at = end + 1;
  }
  return "";
}

/** A non-negative decimal query parameter (`start=0&count=50`), `fallback` when absent or not a number. */
function queryNumber(query: string, name: string, fallback: number): number {
  const q = "&" + query;
  const at = find(q, "&" + name + "=", 0);
  if (at < 0) return fallback;
  let end = find(q, "&", at + 1);
  if (end < 0) end = q.length;
  const n = parseDecimal(q.substring(at + name.length + 2, end));
  return n < 0 ? fallback : n;
}

/** A message body streamed from the card, one read per completed send. */
class FileBody implements ChunkSource {
  constructor(
    private file: FileHandle | undefined,
    private chunk: number,
    private reply: HttpReply,
    private hal: Hal,
  ) {}

  next(): string | undefined {
    const file = this.file;
    if (file === undefined) return undefined;
    try {
      return file.read(this.chunk);
    } catch (e) {
      // Half a body must not look whole: the connection closes short of its Content-Length.
      this.hal.log("http: card read failed: " + e);
      this.release();
      this.reply.close();
      return undefined;
    }
  }

  release(): void {
    const file = this.file;
    this.file = undefined;
    if (file !== undefined) file.close();
  }
}

class WebApp {
  logins: Login[] = [];
  /** hal.now() at start, for the status page's uptime. */
  started: number;

  constructor(
    private hal: Hal,
    private config: Config,
    private mailbox: Mailbox,
  ) {
    this.started = hal.now();
  }

  handle(req: HttpRequest, reply: HttpReply): void {
    const path = req.path;
    if (path.substring(0, 5) !== "/api/") {
      this.file(req, reply);
      return;
    }
    const name = path.substring(5);
    const post = name === "login" || name === "logout" || name === "delete" || name === "seen";
    if (post ? req.method !== "POST" : req.method !== "GET" && req.method !== "HEAD") {
      this.send(reply, 405, "Method Not Allowed", { error: "method not allowed" }, post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n");
      return;
    }
    if (this.hal.randomQuality !== "entropy") {
      this.send(reply, 503, "Service Unavailable", { error: "this board has no strong random source for log-in tokens: the web page is off" });
      return;
    }
    if (post && !same(req.origin, "http://" + req.host)) {
      this.send(reply, 403, "Forbidden", { error: "the request did not come from this box's page (Origin)" });
      return;
    }
    if (name === "login") {
      this.login(req, reply);
      return;
    }
    const login = this.current(req);
    if (login === undefined) {
      this.send(reply, 401, "Unauthorized", { error: "not logged in" });
      return;
    }
    if (post && !same(req.csrf, login.csrf)) {
      this.send(reply, 403, "Forbidden", { error: "missing or wrong X-CSRF-Token" });
      return;
    }
    if (name === "session") this.send(reply, 200, "OK", this.describe(login));
    else if (name === "logout") this.logout(login, reply);
    else if (name === "list") this.list(req, reply, login.user);
    else if (name.substring(0, 8) === "message/") this.message(name.substring(8), reply, login.user);
    else if (name === "delete" || name === "seen") this.change(name, req, reply, login.user);
    else if (name === "status") this.status(reply, login.user);
    else this.send(reply, 404, "Not Found", { error: "no such API call" });
  }

  /** A whole MessagePack answer. */
  send(reply: HttpReply, status: number, reason: string, value: MsgValue, extra?: string): void {
    const body = encode(value);
    reply.start(status, reason, MSGPACK + (extra === undefined ? "" : extra), body.length);
    reply.write(body);
    reply.end();
  }

  // ---- log-in ----

  /** The request's log-in from its cookie, or undefined (unknown, or idle too long: then forgotten). */
  current(req: HttpRequest): Login | undefined {
    const token = cookieValue(req.cookie, "lb");
    const now = this.hal.now();
    const logins = this.logins;
    for (let i = logins.length - 1; i >= 0; i--) {
      const l = logins[i];
      if (now - l.last >= Web.LoginIdleSeconds) logins.splice(i, 1);
      else if (same(token, l.token)) {
        l.last = now;
        return l;
      }
    }
    return undefined;
  }

  describe(login: Login): MsgMap {
    return { user: login.user, csrf: login.csrf, owner: this.isOwner(login.user), idle: Web.LoginIdleSeconds };
  }

  /** The owner sees the status page: the first user (the one postmaster mail reaches without a user of that name). */
  isOwner(user: string): boolean {
    return this.config.users.length > 0 && this.config.users[0].name === user;
  }

  login(req: HttpRequest, reply: HttpReply): void {
    const body = decode(req.body, 0);
    const m = body.value as MsgMap;
    if (body.end !== req.body.length || m === null || typeof m !== "object" || typeof m.user !== "string" || typeof m.password !== "string") {
      this.send(reply, 400, "Bad Request", { error: "log-in needs {user, password}" });
      return;
    }
    const result = this.mailbox.authenticate({ service: "http", method: "password", name: m.user, secret: m.password, challenge: "" }, req.client);
    if (result.lockedSeconds > 0) {
      this.send(reply, 429, "Too Many Requests", { error: "too many failed log-ins: try again later", retry: result.lockedSeconds });
      return;
    }
    const app = this;
    if (result.user === "") {
      // As POP3 does: the answer waits, doubling with each recent failure.
      this.hal.setTimer(result.delayMs, function () {
        app.send(reply, 401, "Unauthorized", { error: "wrong name or password" });
      });
      return;
    }
    const logins = this.logins;
    if (logins.length >= Web.MaxLogins) {
      let oldest = 0;
      for (let i = 1; i < logins.length; i++) if (logins[i].last < logins[oldest].last) oldest = i;
      logins.splice(oldest, 1);
    }
    const login: Login = { token: randomHex(this.hal), csrf: randomHex(this.hal), user: result.user, last: this.hal.now() };
    logins.push(login);
    this.send(reply, 200, "OK", this.describe(login), "Set-Cookie: lb=" + login.token + "; Path=/; HttpOnly; SameSite=Strict\r\n");
  }

  logout(login: Login, reply: HttpReply): void {
    const logins = this.logins;
    for (let i = logins.length - 1; i >= 0; i--) if (logins[i] === login) logins.splice(i, 1);
    this.send(reply, 200, "OK", { ok: true }, "Set-Cookie: lb=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n");
  }

  // ---- the mailbox ----

  /** `user`'s maildrop, shared (it does not keep POP3 out), or undefined after answering 503 (card unusable). */
  open(user: string, reply: HttpReply): Maildrop | undefined {
    try {
      return this.mailbox.openMaildrop(user, Access.Shared) as Maildrop;
    } catch (e) {
      this.hal.log("http: cannot read the card: " + e);
      this.send(reply, 503, "Service Unavailable", { error: "the card cannot be read now" }, "Retry-After: 5\r\n");
      return undefined;
    }
  }

  /**
   * GET /api/list?start=S&count=C: newest first, `{total, unseen, messages:
   * [[id, size, flags, time, headers], ...]}`, streamed a few rows per send
   * (chunked): the header cache is read per row, never the messages.
   */
  list(req: HttpRequest, reply: HttpReply, user: string): void {
    const drop = this.open(user, reply);
    if (drop === undefined) return;
    const list = drop.list;
    const total = list.count;
    let unseen = 0;
    // The listing's own flags: one pass over the index string (stored(i) searches the index each time).
    for (let i = 0; i < total; i++) if ((list.flags(i) & StoredFlag.Seen) === 0) unseen++;
    const start = queryNumber(req.query, "start", 0);
    let count = queryNumber(req.query, "count", Web.DefaultCount);
    if (count > Web.MaxBatch) count = Web.MaxBatch;
    if (count > total - start) count = start >= total ? 0 : total - start;
    reply.start(200, "OK", MSGPACK, -1);
    reply.write(String.fromCharCode(0x83) + encode("total") + encode(total) + encode("unseen") + encode(unseen) + encode("messages") + arrayHeader(count));
    let next = total - 1 - start;
    const last = next - count;
    const hal = this.hal;
    reply.stream(function (): ChunkSource {
      return {
        next: function (): string | undefined {
          let out = "";
          try {
            while (next > last && out.length < 512) {
              const i = next;
              next--;
              const flags = drop.stored(i); // -1: deleted since the listing (the row stays: its count went out first)
              out += arrayHeader(5) + encode(list.uid(i)) + encode(list.size(i)) + encode(flags < 0 ? 0 : flags) + encode(drop.time(i)) + binary(drop.headers(i));
            }
          } catch (e) {
            // The card failed mid-list: the answer ends short (no last-chunk), which the page sees as an error.
            hal.log("http: cannot read the header cache: " + e);
            reply.close();
            return undefined;
          }
          return out.length > 0 ? out : undefined;
        },
        release: function () {
          drop.close();
        },
      };
    });
    reply.end();
  }

  /** GET /api/message/<id>: the stored octets as message/rfc822, straight from the card. */
  message(id: string, reply: HttpReply, user: string): void {
    const drop = this.open(user, reply);
    if (drop === undefined) return;
    const i = drop.find(id);
    if (i < 0) {
      drop.close();
      this.send(reply, 404, "Not Found", { error: "no such message in your mailbox" });
      return;
    }
    reply.start(200, "OK", "Content-Type: message/rfc822\r\nCache-Control: no-store\r\n", drop.list.size(i));
    this.streamFile(reply, function () {
      return drop.open(i, 0);
    }, function () {
      drop.close();
    });
  }

  /**
   * The body from a card file opened when its turn comes (`open`: undefined
   * while no file is free; then it waits, as RETR does, up to
   * FILE_WAIT_SECONDS, and the connection closes short of the body).
   */
  streamFile(reply: HttpReply, open: () => FileHandle | undefined, done: () => void): void {
    const hal = this.hal;
    let firstTry = -1;
    reply.stream(function (): ChunkSource | undefined {
      let file: FileHandle | undefined = undefined;
      try {
        file = open();
      } catch (e) {
        hal.log("http: cannot open a card file: " + e);
      }
      if (file === undefined) {
        const now = hal.now();
        if (firstTry < 0) firstTry = now;
        if (now - firstTry < FILE_WAIT_SECONDS) return undefined;
        reply.close();
      }
      const body = new FileBody(file, hal.sendChunk || 1024, reply, hal);
      const release = body.release;
      body.release = function () {
        release.call(body);
        done();
      };
      return body;
    });
    reply.end();
  }

  /** POST /api/delete {ids} and POST /api/seen {ids, seen}: `{deleted: n}` / `{changed: n}`. */
  change(what: string, req: HttpRequest, reply: HttpReply, user: string): void {
    const body = decode(req.body, 0);
    const m = body.value as MsgMap;
    const ids = m !== null && typeof m === "object" ? (m.ids as MsgValue[]) : undefined;
    let good = body.end === req.body.length && Array.isArray(ids) && ids.length <= Web.MaxBatch;
    if (good && what === "seen" && typeof m.seen !== "boolean") good = false;
    for (let k = 0; good && k < (ids as MsgValue[]).length; k++) if (typeof (ids as MsgValue[])[k] !== "string") good = false;
    if (!good) {
      this.send(reply, 400, "Bad Request", { error: what === "seen" ? "needs {ids: [up to 100 ids], seen: true|false}" : "needs {ids: [up to 100 ids]}" });
      return;
    }
    const drop = this.open(user, reply);
    if (drop === undefined) return;
    const list = ids as string[];
    let changed = 0;
    try {
      for (let k = 0; k < list.length; k++) {
        const i = drop.find(list[k]);
        if (i < 0) continue;
        if (what === "delete") {
          drop.setFlags(i, Flag.Deleted);
        } else {
          const bits = drop.stored(i);
          const next = m.seen === true ? bits | StoredFlag.Seen : bits & ~StoredFlag.Seen;
          if (next !== bits) {
            drop.store(i, next);
            changed++;
          }
        }
      }
      if (what === "delete") {
        drop.commit();
        changed = drop.markedCount;
      }
    } catch (e) {
      this.hal.log("http: " + what + " failed: " + e);
      drop.close();
      this.send(reply, 503, "Service Unavailable", { error: "the card could not record it: nothing changed" }, "Retry-After: 5\r\n");
      return;
    }
    drop.close();
    this.send(reply, 200, "OK", what === "delete" ? { deleted: changed } : { changed: changed });
  }

  /** GET /api/status, for the owner: firmware, runtime, uptime, memory, card, mail per mailbox. */
  status(reply: HttpReply, user: string): void {
    if (!this.isOwner(user)) {
      this.send(reply, 403, "Forbidden", { error: "the status page is the owner's (the first user)" });
      return;
    }
    const hal = this.hal;
    const users = this.config.users;
    const mailboxes: MsgValue[] = [];
    for (let i = 0; i < users.length; i++) {
      let count = -1;
      try {
        const drop = this.mailbox.openMaildrop(users[i].name, Access.Shared) as Maildrop;
        count = drop.list.count;
        drop.close();
      } catch (e) {
        // -1: the card could not be read
      }
      mailboxes.push([users[i].name, count, this.mailbox.card.usage(users[i].name)]);
    }
    const result: MsgMap = {
      firmware: FIRMWARE_VERSION,
      implementation: hal.implementation,
      uptime: hal.now() - this.started,
      mailboxes: mailboxes,
    };
    if (hal.freeMemory) {
      result.memory = hal.freeMemory();
      result.memoryUnit = hal.memoryUnit || "bytes";
    }
    if (hal.cardSpace) {
      try {
        const space = hal.cardSpace();
        result.cardTotalKiB = space.totalKiB;
        result.cardFreeKiB = space.freeKiB;
      } catch (e) {
        result.cardError = "card not readable";
      }
    }
    this.send(reply, 200, "OK", result);
  }

  // ---- the page's files ----

  /** GET or HEAD of one of the page's files, found through its manifest on the card (never a path made from the URL). */
  file(req: HttpRequest, reply: HttpReply): void {
    const store = this.mailbox.store;
    if (store.files.open >= Layout.MessageFiles) {
      // lookup() reads two small files: with every message file in use there is no handle for them.
      plain(reply, 503, "Service Unavailable", "Retry-After: 1\r\n");
      return;
    }
    const entry = lookup(this.hal.storage, req.path);
    const read = req.method === "GET" || req.method === "HEAD";
    if (entry === undefined) {
      if (read && (req.path === "/" || req.path === "/index.html")) {
        const text = "The web page is not on this box's card yet: run `letterbox web`.\n";
        reply.start(503, "Service Unavailable", "Content-Type: text/plain; charset=utf-8\r\nRetry-After: 60\r\n", text.length);
        reply.write(text);
        reply.end();
      } else plain(reply, 404, "Not Found", "");
      return;
    }
    if (!read) {
      plain(reply, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
      return;
    }
    const tags = "ETag: " + entry.etag + "\r\nCache-Control: no-cache\r\n";
    if (find(req.ifNoneMatch, entry.etag, 0) >= 0) {
      reply.start(304, "Not Modified", tags, 0);
      reply.end();
      return;
    }
    const path = entry.file;
    reply.start(200, "OK", tags + "Content-Type: " + entry.type + "\r\n" + (entry.gzip ? "Content-Encoding: gzip\r\n" : ""), entry.size);
    this.streamFile(reply, function () {
      return store.openFile(path);
    }, function () {});
  }
}
