/**
 * HTTP/1.1 serving (RFC 9110, RFC 9112) for the web page: the framing of
 * requests (httphead.ts reads the head, with its limits), bodies by
 * Content-Length, keep-alive, pipelining in order, HEAD, 100-continue, and
 * the replies, paced by send completion (sender.ts). What a request means
 * is the handler's (webapp.ts); the errors of the framing are answered here
 * without calling it, and close the connection.
 */
import type { Config } from "./config";
import type { Connection, ConnectionEvents, Hal } from "./hal";
import { HeadReader, HTTP_MAX_BODY } from "./httphead";
import { decimal, div } from "./num";
import { ChunkSource, Sender, SourceStarter } from "./sender";
import { Service, SessionList, SocketBudget } from "./sessions";

export { HTTP_MAX_BODY };

/** One request as the handler sees it: the fields below only (a session keeps no other header). */
export interface HttpRequest {
  /** As sent: "GET", "HEAD" or "POST" (others are answered 501 before the handler). */
  method: string;
  /** The request-target's path, raw (no percent-decoding), without the query. */
  path: string;
  /** After "?", raw; "" when none. */
  query: string;
  /** Header values, "" when absent. csrf: X-CSRF-Token. */
  host: string;
  origin: string;
  cookie: string;
  ifNoneMatch: string;
  csrf: string;
  contentType: string;
  /** The Content-Length body (8-bit string), "" when none; at most HTTP_MAX_BODY octets. */
  body: string;
  /** The peer's address (Connection.remoteAddress); undefined where the board cannot tell. */
  client: string | undefined;
}

/** How a handler answers; every call after the connection is gone does nothing. */
export interface HttpReply {
  /**
   * Status line and headers. `headers`: extra header lines, each ending
   * "\r\n". `length`: Content-Length in octets, or -1 for a chunked body
   * (an HTTP/1.0 client gets it unframed, ended by the close).
   */
  start(status: number, reason: string, headers: string, length: number): void;
  /** A piece of the body (queued in the Sender). */
  write(data: string): void;
  /** The body (or its rest) streamed from a source, one chunk per completed send (as RETR). */
  stream(start: SourceStarter): void;
  /** The response is complete (chunked: the last-chunk goes out). Then the next pipelined request is read. */
  end(): void;
  /** Closes the connection once what is queued has gone (a streamed body cut short: the client sees it end early). */
  close(): void;
}

export type HttpHandler = (req: HttpRequest, reply: HttpReply) => void;

/**
 * On every response. The policy forbids inline and remote scripts. The
 * sandboxed mail frame (a srcdoc document) inherits it, so styles may be
 * inline (mail's own <style> and style="") and images may be data: (cid:
 * parts) or remote, which the page strips from mail until the reader asks
 * (and the frame's own stricter policy blocks until then: web/src/mailhtml.ts).
 */
export const SECURITY_HEADERS =
  "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'\r\n" +
  "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n";

/** Pipelined input kept while a response is being made; more closes the connection after it. */
const MAX_HELD = 8192;
/** Seconds a client over the cap is asked to wait. */
const RETRY_AFTER = 5;

const enum State {
  /** Reading a request head (the HeadReader). */
  Head = 0,
  /** Reading a Content-Length body. */
  Body = 1,
  /** The handler has the request: input is held until its end(). */
  Handling = 2,
  Closed = 3,
}

/** How the body of the current response goes out. */
const enum Body {
  Plain = 0,
  Chunked = 1,
  /** HEAD, 204, 304: nothing after the head. */
  None = 2,
}

/** A short text answer: `status reason` as the body (HEAD: the head only). */
export function plain(reply: HttpReply, status: number, reason: string, headers: string): void {
  const text = decimal(status) + " " + reason + "\r\n";
  reply.start(status, reason, "Content-Type: text/plain; charset=utf-8\r\n" + headers, text.length);
  reply.write(text);
  reply.end();
}

export class HttpService implements Service {
  sessions: SessionList<HttpSession>;

  /** `budget`: the sockets shared with the other services (main.ts); a budget of its own when not given. */
  constructor(public hal: Hal, public config: Config, public handler: HttpHandler, budget?: SocketBudget) {
    this.sessions = new SessionList<HttpSession>("http", budget || { config: config, listeners: 0, lists: [] });
  }

  /**
   * An arrow bound to this service (hal.listen calls it as it is). Over
   * the cap, a keep-alive connection idle between requests makes room (a
   * browser holds several and retries on one closed under it); else 503.
   */
  accept = (conn: Connection): ConnectionEvents => {
    const session = new HttpSession(this, conn);
    const list = this.sessions;
    let admitted = list.admit(session);
    if (!admitted) {
      for (let i = 0; i < list.items.length; i++) {
        const s = list.items[i];
        if (s.served > 0 && s.state === State.Head && s.head === undefined) {
          list.remove(s);
          s.close();
          admitted = list.admit(session);
          break;
        }
      }
    }
    if (!admitted) session.fail(503, "Service Unavailable", "Retry-After: " + decimal(RETRY_AFTER) + "\r\n");
    const events = list.events(session);
    // A completed send may let a held pipelined request be read.
    events.onSent = function () {
      session.active = true;
      session.sender.onSent();
      if (session.state === State.Head && session.input.length > 0 && !session.sender.busy()) session.pump();
    };
    return events;
  };

  sweep(now: number): void {
    const all = this.sessions.items;
    for (let i = all.length - 1; i >= 0; i--) if (all[i].lingering && !all[i].sender.busy()) all[i].sender.closeWhenDone();
    // reply("") answers 408 when a request was under way; close() ends the session either way.
    this.sessions.sweep(now, this.config.services.http.idleSeconds, "");
    // As POP3's: a body waiting for a card file gives up after FILE_WAIT_SECONDS only when retried.
    this.retryWaiting();
  }

  /** Streams waiting for a message file try again. */
  retryWaiting(): void {
    const all = this.sessions.items.slice();
    for (let i = 0; i < all.length; i++) all[i].sender.retry();
  }
}

/** One connection; it is also the HttpReply of its current request. */
export class HttpSession implements HttpReply {
  state = State.Head;
  sender: Sender;
  lastActive: number;
  active = false;
  /** The head being read; undefined between requests. */
  head: HeadReader | undefined = undefined;
  /** Requests answered on this connection. */
  served = 0;
  /** Answered for the last time: the sweep closes it once the answer is out. */
  lingering = false;
  /** Unparsed input: what follows a request, held until its answer is out. */
  input = "";
  private req: HttpRequest | undefined = undefined;
  /** The request's HTTP/1.<minor>, and its Content-Length. */
  private minor = 1;
  private length = 0;
  private keepAlive = false;
  /** The response's status line went out; how its body goes. */
  private started = false;
  private body = Body.Plain;
  /** Inside pump(): end() called from a handler only changes the state. */
  private pumping = false;

  constructor(public server: HttpService, conn: Connection) {
    this.sender = new Sender(conn);
    this.lastActive = server.hal.now();
  }

  /** From the idle sweep: 408 when a request was under way (its head started, or its body short). */
  reply(line: string): void {
    if (this.state === State.Body || (this.state === State.Head && this.head !== undefined && this.head.started())) this.fail(408, "Request Timeout", "");
  }

  close(): void {
    this.drop();
    this.sender.closeWhenDone();
  }

  gone(): void {
    this.drop();
    this.sender.dropped();
  }

  private drop(): void {
    this.state = State.Closed;
    this.started = false;
    this.head = undefined;
    this.req = undefined;
    this.input = "";
  }

  receive(data: string): void {
    const state = this.state;
    // After a last request (Connection: close, or too much held) nothing more is read.
    if (state === State.Closed || (state === State.Handling && !this.keepAlive)) return;
    this.input = this.input.length > 0 ? this.input + data : data;
    if (state !== State.Handling) this.pump();
    if (this.input.length > MAX_HELD) {
      // A client pipelining this far ahead is closed after the answer in hand.
      this.input = "";
      this.keepAlive = false;
      if (this.state !== State.Handling) this.close();
    }
  }

  /**
   * Reads requests from the input while the session can act on them: a
   * pipelined request only once the answers before it are out, so
   * answers never pile up in memory.
   */
  pump(): void {
    this.pumping = true;
    while (this.input.length > 0) {
      const state = this.state;
      if (state === State.Head) {
        const input = this.input;
        let head = this.head;
        if (head === undefined) {
          if (this.served > 0 && this.sender.busy()) break;
          head = this.head = new HeadReader(this.sender.conn.remoteAddress);
        }
        const used = head.push(input);
        this.input = used >= input.length ? "" : input.substring(used);
        if (head.error > 0) this.fail(head.error, head.reason, "");
        else if (head.done) this.headDone(head);
      } else if (state === State.Body) {
        const req = this.req as HttpRequest;
        const need = this.length - req.body.length;
        const input = this.input;
        if (input.length <= need) {
          req.body = req.body.length > 0 ? req.body + input : input;
          this.input = "";
        } else {
          req.body += input.substring(0, need);
          this.input = input.substring(need);
        }
        if (req.body.length === this.length) this.dispatch();
      } else break;
    }
    this.pumping = false;
  }

  /** The head is complete: check its framing, then read the body or hand the request over. */
  private headDone(h: HeadReader): void {
    this.head = undefined;
    this.req = h.req;
    this.minor = h.minor;
    this.length = h.length;
    // RFC 9112 9.3: 1.1 stays open unless "close"; 1.0 only with "keep-alive".
    this.keepAlive = !h.close && (h.minor === 1 || h.keepAlive);
    let status = 0;
    let reason = "Bad Request";
    // RFC 9112 3.2: a 1.1 request without Host is answered 400.
    if (h.minor === 1 && !h.hasHost) status = 400;
    else if (h.transferEncoding) {
      status = 501;
      reason = "Not Implemented";
    } else if (h.length < 0 && h.req.method === "POST") {
      status = 411;
      reason = "Length Required";
    } else if (h.length > HTTP_MAX_BODY) {
      status = 413;
      reason = "Content Too Large";
    }
    if (status > 0) this.fail(status, reason, "");
    else if (h.length <= 0) this.dispatch();
    else {
      // RFC 9110 10.1.1: the client may wait for this before sending the body.
      if (h.expectContinue && h.minor === 1) this.sender.send("HTTP/1.1 100 Continue\r\n\r\n");
      this.state = State.Body;
    }
  }


  /** Hands the request to the handler; a handler that throws gets 500 (or, mid-response, the connection closes). */
  private dispatch(): void {
    this.state = State.Handling;
    this.started = false;
    try {
      this.server.handler(this.req as HttpRequest, this);
    } catch (e) {
      this.server.hal.log("http: handler failed: " + e);
      if (!this.started) this.fail(500, "Internal Server Error", "");
      else this.close();
    }
  }

  /** Answers an error of the framing (or 503, 408, 500) and closes the connection after it. */
  fail(status: number, reason: string, headers: string): void {
    this.state = State.Handling;
    this.started = false;
    this.keepAlive = false;
    this.input = "";
    plain(this, status, reason, headers);
  }

  start(status: number, reason: string, headers: string, length: number): void {
    if (this.state !== State.Handling || this.started) return;
    this.started = true;
    const req = this.req;
    const head = req !== undefined && req.method === "HEAD";
    const minor = req === undefined ? 1 : this.minor;
    let text = "HTTP/1.1 " + decimal(status) + " " + reason + "\r\n" + headers;
    let body = head ? Body.None : Body.Plain;
    if (status === 204 || status === 304) body = Body.None; // RFC 9110 8.6: no length for these
    else if (length >= 0) text += "Content-Length: " + decimal(length) + "\r\n";
    else if (minor === 1) {
      text += "Transfer-Encoding: chunked\r\n";
      if (!head) body = Body.Chunked;
    } else this.keepAlive = false; // HTTP/1.0 knows no chunks: the close ends the body
    this.body = body;
    text += SECURITY_HEADERS;
    if (!this.keepAlive) text += "Connection: close\r\n";
    else if (minor === 0) text += "Connection: keep-alive\r\n";
    this.send(text + "\r\n");
  }

  write(data: string): void {
    if (!this.started || data.length === 0 || this.body === Body.None) return;
    this.send(this.body === Body.Chunked ? chunkSize(data.length) + data + "\r\n" : data);
  }

  stream(start: SourceStarter): void {
    if (!this.started || this.body === Body.None) return;
    if (this.body === Body.Plain) {
      this.sender.stream(start); // the chunks go out as they come: no copy
      return;
    }
    this.sender.stream(function (): ChunkSource | undefined {
      const source = start();
      if (source === undefined) return undefined;
      return {
        next: function (): string | undefined {
          const chunk = source.next();
          return chunk === undefined || chunk.length === 0 ? chunk : chunkSize(chunk.length) + chunk + "\r\n";
        },
        release: function () {
          source.release();
        },
      };
    });
  }

  end(): void {
    if (!this.started) {
      if (this.state !== State.Handling) return;
      // A handler that ends without answering is a bug: say so.
      this.fail(500, "Internal Server Error", "");
      return;
    }
    if (this.body === Body.Chunked) this.send("0\r\n\r\n");
    this.started = false;
    this.req = undefined;
    if (!this.keepAlive) {
      // Closed by the next sweep (within a second), not from inside this
      // request's events: on Espruino 2v29 a socket the server ends from the
      // data/drain path of a request keeps ~100 variables for ever (measured
      // on the real interpreter; ended from the sweep's timer it keeps none).
      // The client, told "Connection: close", mostly closes first.
      this.drop();
      this.lingering = true;
      if (this.server.sessions.items.indexOf(this) < 0) this.sender.closeWhenDone(); // refused at accept: no sweep sees it
      return;
    }
    this.served++;
    this.state = State.Head;
    if (!this.pumping && this.input.length > 0) this.pump();
  }

  /** Queues output; a client that reads too little is closed. */
  private send(text: string): void {
    if (!this.sender.send(text)) {
      this.keepAlive = false;
      this.close();
    }
  }
}

/** A chunk-size line (RFC 9112 7.1): hex digits, no leading zeros. */
function chunkSize(n: number): string {
  const digits = "0123456789abcdef";
  let out = "";
  while (n > 0) {
    out = digits.charAt(n & 15) + out;
    n = div(n, 16);
  }
  return out + "\r\n";
}
