/**
 * Reads one HTTP/1.1 request head (RFC 9112 2-5): the request line and the
 * header lines, with the limits, keeping only the fields the handler and
 * the framing need (a session never holds the whole head). Lines end in
 * CRLF only: a bare LF, a bare CR or a NUL is a 400, as are obsolete line
 * folding and whitespace before a field's colon (RFC 9112 5.1, 5.2).
 */
import type { HttpRequest } from "./http";
import { parseDecimal } from "./num";
import { lower, trim } from "./text";

/** Largest Content-Length body taken (octets); more is answered 413. */
export const HTTP_MAX_BODY = 4096;
/** Octets of the request line without its CRLF; more is a 414. */
export const MAX_REQUEST_LINE = 2048;
/** Octets of one header line without its CRLF; more (or more lines, or more octets in all) is a 431. */
export const MAX_HEADER_LINE = 1024;
export const MAX_HEADER_LINES = 64;
export const MAX_HEADER_BYTES = 8192;
/** Empty lines ignored before a request line (RFC 9112 2.2); more is a 400. */
const MAX_BLANK = 4;

/** The header fields kept, by lower-case name (typeof checked: "on" or "constructor" reach Object.prototype). */
const FIELDS: { [name: string]: number } = {
  host: 1, origin: 2, cookie: 3, "if-none-match": 4, "x-csrf-token": 5, "content-type": 6,
  "content-length": 7, "transfer-encoding": 8, connection: 9, expect: 10,
};

export class HeadReader {
  /** The request as read so far. */
  req: HttpRequest;
  /** HTTP/1.<minor>: 0 or 1 (a later 1.x reads as 1.1). */
  minor = 1;
  /** Content-Length, -1 when absent. */
  length = -1;
  hasHost = false;
  transferEncoding = false;
  /** Connection: close / keep-alive. */
  close = false;
  keepAlive = false;
  expectContinue = false;
  /** The empty line that ends the head has been read. */
  done = false;
  /** A status to answer instead (400, 414, 431, 501, 505), 0 while none; `reason` its phrase. */
  error = 0;
  reason = "";
  /** The start of a line not yet ended. */
  private partial = "";
  private requestLine = false;
  /** Blank lines before the request line, then header lines. */
  private lines = 0;
  private bytes = 0;

  constructor(client: string | undefined) {
    this.req = { method: "", path: "", query: "", host: "", origin: "", cookie: "", ifNoneMatch: "", csrf: "", contentType: "", body: "", client: client };
  }

  /**
   * Reads `data`; returns how many of its octets belong to the head (all
   * of them until it is done or failed). One search per line.
   */
  push(data: string): number {
    const kept = this.partial.length;
    const input = kept > 0 ? this.partial + data : data;
    let from = 0;
    while (true) {
      const lf = input.indexOf("\n", from);
      // The limits first, as for a line not ended yet: the answer is the same wherever the input was cut.
      if (!this.fits((lf < 0 ? input.length : lf) - from)) return data.length;
      if (lf < 0) break;
      if (lf === from || input.charCodeAt(lf - 1) !== 13) {
        this.fail(400, "Bad Request"); // a bare LF
        return data.length;
      }
      this.line(input.substring(from, lf - 1));
      from = lf + 1;
      if (this.done || this.error > 0) {
        this.partial = "";
        return from - kept;
      }
    }
    this.partial = from === 0 ? input : input.substring(from);
    return data.length;
  }

  /**
   * False (and the error set) when a line of `octets` before its LF (its
   * CR included) is past the limits: 414 for a request line, 431 for a
   * header line, or for the header lines in all.
   */
  private fits(octets: number): boolean {
    if (!this.requestLine) {
      if (octets <= MAX_REQUEST_LINE + 1) return true;
      this.fail(414, "URI Too Long");
    } else {
      if (octets <= MAX_HEADER_LINE + 1 && this.bytes + octets <= MAX_HEADER_BYTES + 1) return true;
      this.fail(431, "Request Header Fields Too Large");
    }
    return false;
  }

  /** Some octets of a head have come. */
  started(): boolean {
    return this.partial.length > 0 || this.requestLine || this.lines > 0;
  }

  private fail(status: number, reason: string): void {
    if (this.error > 0) return;
    this.error = status;
    this.reason = reason;
    this.partial = "";
  }

  /** One line, without its CRLF. */
  private line(text: string): void {
    if (!this.requestLine) {
      if (text.length === 0) {
        this.lines++;
        if (this.lines > MAX_BLANK) this.fail(400, "Bad Request");
        return;
      }
      this.requestLine = true;
      this.lines = 0;
    } else if (text.length === 0) {
      this.done = true;
      return;
    } else {
      this.lines++;
      this.bytes += text.length + 2;
      if (this.lines > MAX_HEADER_LINES || this.bytes > MAX_HEADER_BYTES) {
        return this.fail(431, "Request Header Fields Too Large");
      }
    }
    if (text.indexOf("\0") >= 0 || text.indexOf("\r") >= 0) return this.fail(400, "Bad Request");
    if (this.lines === 0) this.requestLineRead(text);
    else this.field(text);
  }

  /** method SP request-target SP HTTP-version (RFC 9112 3). */
  private requestLineRead(text: string): void {
    const sp1 = text.indexOf(" ");
    const sp2 = sp1 < 0 ? -1 : text.indexOf(" ", sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || text.indexOf(" ", sp2 + 1) >= 0) return this.fail(400, "Bad Request");
    const version = text.substring(sp2 + 1);
    if (version.length !== 8 || version.substring(0, 5) !== "HTTP/" || version.charAt(6) !== ".") return this.fail(400, "Bad Request");
    const major = version.charCodeAt(5);
    const minor = version.charCodeAt(7);
    if (major < 48 || major > 57 || minor < 48 || minor > 57) return this.fail(400, "Bad Request");
    if (major !== 49) return this.fail(505, "HTTP Version Not Supported");
    this.minor = minor === 48 ? 0 : 1;
    const req = this.req;
    req.method = text.substring(0, sp1);
    if (req.method !== "GET" && req.method !== "HEAD" && req.method !== "POST") return this.fail(501, "Not Implemented");
    let target = text.substring(sp1 + 1, sp2);
    if (target.length === 0) return this.fail(400, "Bad Request");
    if (target.charCodeAt(0) !== 47) {
      // RFC 9112 3.2.2: the absolute-form is accepted; its authority is the host.
      if (lower(target.substring(0, 7)) !== "http://") return this.fail(400, "Bad Request");
      let end = 7;
      while (end < target.length && target.charCodeAt(end) !== 47 && target.charCodeAt(end) !== 63) end++;
      req.host = target.substring(7, end);
      target = end < target.length && target.charCodeAt(end) === 47 ? target.substring(end) : "/" + target.substring(end);
    }
    const q = target.indexOf("?");
    req.path = q < 0 ? target : target.substring(0, q);
    req.query = q < 0 ? "" : target.substring(q + 1);
  }

  /** field-name ":" OWS field-value OWS (RFC 9112 5). */
  private field(text: string): void {
    const c = text.charCodeAt(0);
    const colon = text.indexOf(":");
    // Line folding, no name, whitespace before the colon: 400 (RFC 9112 5.1, 5.2).
    if (c === 32 || c === 9 || colon <= 0) return this.fail(400, "Bad Request");
    const name = text.substring(0, colon);
    if (name.indexOf(" ") >= 0 || name.indexOf("\t") >= 0) return this.fail(400, "Bad Request");
    if (colon > 17) return; // longer than every kept name
    const code = FIELDS[lower(name)];
    if (typeof code !== "number") return;
    const value = trim(text.substring(colon + 1));
    const req = this.req;
    switch (code) {
      case 1:
        // RFC 9112 3.2: more than one Host is a 400.
        if (this.hasHost) return this.fail(400, "Bad Request");
        this.hasHost = true;
        if (req.host.length === 0) req.host = value;
        break;
      case 2:
        req.origin = value;
        break;
      case 3:
        req.cookie = req.cookie.length > 0 ? req.cookie + "; " + value : value;
        break;
      case 4:
        req.ifNoneMatch = req.ifNoneMatch.length > 0 ? req.ifNoneMatch + ", " + value : value;
        break;
      case 5:
        req.csrf = value;
        break;
      case 6:
        req.contentType = value;
        break;
      case 7: {
        // RFC 9112 6.3: an invalid or a second, different length is a 400.
        const n = parseDecimal(value);
        if (n < 0 || (this.length >= 0 && n !== this.length)) return this.fail(400, "Bad Request");
        this.length = n;
        break;
      }
      case 8:
        this.transferEncoding = true;
        break;
      case 9: {
        const tokens = lower(value).split(",");
        for (let i = 0; i < tokens.length; i++) {
          const t = trim(tokens[i]);
          if (t === "close") this.close = true;
          else if (t === "keep-alive") this.keepAlive = true;
        }
        break;
      }
      case 10:
        // An assignment first: a minified `"100-continue" === ...` as the
        // case's first statement is skipped by Espruino 2v29 (host/espruino/verify.ts).
        this.expectContinue = lower(value) === "100-continue";
        break;
    }
  }
}
