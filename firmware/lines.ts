/**
 * Line framing, kept apart from command handling (as nodemailer's
 * smtp-stream.js is from smtp-connection.js). Two modes:
 *
 * - command lines: bytes in, one `onLine` per CRLF- (or LF-) terminated line,
 *   with an over-long line reported once instead of buffered;
 * - DATA: the message body is passed through in slices as it arrives, with
 *   dot-unstuffing and detection of the end marker `CRLF.CRLF`, never holding
 *   more than the current chunk.
 *
 * How the DATA path touches each byte as few times as possible (Espruino's
 * interpreter pays for every pass): per line it makes one native `indexOf`
 * for the LF and one for a CR, and compares a handful of characters around
 * the line break. Bytes are never copied into a buffer: the chunk is handed
 * on as one slice (or a few slices, only around a stuffed dot), and the state
 * carried between chunks is four small scalars, never a `tail + chunk` copy.
 */

export interface LineEvents {
  /** A complete command line, without its line ending. */
  onLine: (line: string) => void;
  /** A line longer than the limit ended; its bytes were discarded. */
  onLineTooLong: () => void;
}

import { find } from "./text";

export interface DataEvents {
  /** A slice of the (unstuffed) message body, in order. The end marker is push()'s return value, not an event. */
  onBody: (data: string) => void;
}

/** Splits command lines; at most `maxLength` octets per line, ending included. */
export class LineFramer {
  private partial = "";
  private overflow = false;

  constructor(private maxLength: number, private events: LineEvents) {}

  /** Feeds a chunk. Stops early, returning the unread rest, when `shouldStop()` turns true after a line. */
  push(chunk: string, shouldStop: () => boolean): string {
    let p = 0;
    while (p < chunk.length) {
      const lf = chunk.indexOf("\n", p);
      if (lf < 0) {
        this.keep(chunk.substring(p));
        return "";
      }
      let line: string;
      if (this.partial.length > 0) {
        line = this.partial + chunk.substring(p, lf);
        this.partial = "";
      } else {
        line = chunk.substring(p, lf);
      }
      p = lf + 1;
      if (this.overflow || line.length + 1 > this.maxLength) {
        this.overflow = false;
        this.events.onLineTooLong();
      } else {
        if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.substring(0, line.length - 1);
        this.events.onLine(line);
      }
      if (shouldStop()) return chunk.substring(p);
    }
    return "";
  }

  /** Bytes of an unfinished line; an over-long one is dropped, not kept. */
  private keep(bytes: string): void {
    if (this.overflow) return;
    if (this.partial.length + bytes.length >= this.maxLength) {
      this.partial = "";
      this.overflow = true;
      return;
    }
    this.partial += bytes;
  }
}

const CR = 13;
const LF = 10;
const DOT = 46;

/** Where a line began: 1 after CRLF (or at the start of DATA), 2 after a bare LF; 0 inside a line. */
const AFTER_CRLF = 1;
const AFTER_LF = 2;

/**
 * Reads a DATA body until CRLF.CRLF, as Postfix 3.9 does by default
 * (`smtpd_forbid_bare_newline = normalize`):
 *   - a bare LF ends a line and is passed on as CRLF; a bare CR is content;
 *   - a dot starting a line is dropped when more follows on the line
 *     (RFC 5321 4.5.2), after CRLF or a bare LF alike;
 *   - only CRLF "." CRLF ends the message: a line holding only "." next to a
 *     bare LF (`LF.LF`, `LF.CRLF`, `CRLF.LF`) is content and stored as that
 *     line, and `CR.CRLF`, `CRLF.CR` or NUL variants are plain content, so
 *     nothing can end the message early or smuggle a second one;
 *   - lines may be of any length: the body is never split into lines.
 *
 * Cost per chunk: with `findBareLF` (a board's native search) a chunk of
 * CRLF mail takes that one search, one `find(chunk, "\n.")` and one onBody
 * of the chunk as it came; a chunk with a bare LF, or any chunk without
 * `findBareLF`, is walked with one indexOf per line (cheap on Lua, the
 * expensive case on Espruino).
 */
export class DataReader {
  private lineStart = AFTER_CRLF;
  /** The previous chunk ended with a CR (already passed on). */
  private prevCR = false;
  /** A line-start dot held back at the end of a chunk: 0 none, 1 the dot, 2 the dot and a CR. */
  private dot = 0;
  /** What the held dot's line began after (AFTER_CRLF or AFTER_LF). */
  private dotLine = AFTER_CRLF;
  /** The body so far in this chunk when it had to be rewritten (bare LF, dropped dots). */
  private out = "";

  /**
   * `findBareLF(s)`: optional native check, true when `s` has an LF not
   * preceded by CR at an index >= 1 (index 0 is checked here).
   */
  constructor(private events: DataEvents, private findBareLF?: (this: void, s: string) => boolean) {
    this.fast = findBareLF !== undefined;
  }

  /** push() may take its short path: a findBareLF is given and no dot is held (dot === 0). */
  private fast: boolean;

  /**
   * Feeds one chunk. Returns undefined while the message goes on; when the
   * chunk held the end marker, the bytes that followed it ("" when none),
   * after the last onBody. After that the reader must not be fed again.
   *
   * The common chunk of CRLF mail (no line-start dot, no bare LF, nothing
   * held) takes the short path here: on Espruino the interpreter reads a
   * function's source as it runs it, so the hot path is kept short and the
   * rest lives in pushSlow.
   */
  push(s: string): string | undefined {
    const n = s.length;
    if (n === 0) return undefined;
    const first = s.charCodeAt(0);
    // `fast`: findBareLF given and no dot held. A chunk starting with "." or
    // LF may continue the previous chunk's line break: the slow path decides.
    if (this.fast && first !== DOT && first !== LF && !this.findBareLF!(s)) {
      const d = s.indexOf("\n.");
      // (d + 2 > n: Espruino 2v29's indexOf reports a match cut short by the end of s.)
      if (d < 0 || d + 2 > n) {
        const last = s.charCodeAt(n - 1);
        this.lineStart = last === LF ? AFTER_CRLF : 0; // no bare LF here: a final LF ends a CRLF
        this.prevCR = last === CR;
        this.events.onBody(s);
        return undefined;
      }
    }
    const rest = this.pushSlow(s);
    this.fast = this.findBareLF !== undefined && this.dot === 0;
    return rest;
  }

  /** push() for every other chunk; returns what push() does. */
  private pushSlow(s: string): string | undefined {
    const n = s.length;
    let p = 0;
    let from = 0;
    this.out = "";
    if (this.dot > 0) {
      // A dot (and maybe a CR) held from the previous chunk.
      if (this.dot === 1 && s.charCodeAt(0) === CR) {
        if (n === 1) {
          this.dot = 2;
          return undefined;
        }
        p = 1;
        this.dot = 2;
      }
      const c = s.charCodeAt(p);
      if (this.dot === 2) {
        this.dot = 0;
        if (c === LF) {
          if (this.dotLine === AFTER_CRLF) return s.substring(p + 1);
          this.out = ".\r"; // "." alone after a bare LF: content, kept as it is
        } else {
          this.out = "\r"; // a stuffed dot followed by a bare CR (content)
        }
        from = p;
        this.prevCR = true;
      } else {
        this.dot = 0;
        if (c === LF) this.out = "."; // "." alone ended by a bare LF: content
        // otherwise the held dot was a stuffed one: dropped
        this.prevCR = false;
      }
      this.lineStart = 0;
    } else if (this.lineStart !== 0) {
      const kind = this.lineStart;
      this.lineStart = 0;
      if (s.charCodeAt(0) === DOT) {
        const r = this.lineDot(s, 0, kind, from);
        if (r === -2) return s.substring(3);
        from = r >= 0 ? r : from;
        if (this.dot > 0) return this.flush(s, from, 0);
      }
    }
    // The LF at index 0 belongs to a CR ending the previous chunk, or is bare.
    const fast = this.findBareLF !== undefined && (s.charCodeAt(0) !== LF || this.prevCR) && !this.findBareLF(s);
    while (true) {
      const lf = fast ? find(s, "\n.", p) : s.indexOf("\n", p);
      if (lf < 0) break;
      p = lf + 1;
      const crlf = lf > 0 ? s.charCodeAt(lf - 1) === CR : this.prevCR;
      if (!crlf) {
        // A bare LF: pass it on as CRLF.
        this.out += s.substring(from, lf) + "\r";
        from = lf;
      }
      if (p < n && s.charCodeAt(p) === DOT) {
        const r = this.lineDot(s, p, crlf ? AFTER_CRLF : AFTER_LF, from);
        if (r === -2) return s.substring(p + 3);
        if (r >= 0) from = r;
        if (this.dot > 0) return this.flush(s, from, p);
      }
    }
    // A line ending at the end of the chunk: the next chunk starts a line (the "\n." search never reports it).
    if (s.charCodeAt(n - 1) === LF) this.lineStart = (n > 1 ? s.charCodeAt(n - 2) === CR : this.prevCR) ? AFTER_CRLF : AFTER_LF;
    this.prevCR = s.charCodeAt(n - 1) === CR;
    return this.flush(s, from, n);
  }

  /**
   * A dot starts a line at `p`: decides what it is. Returns where the
   * unread slice now begins when the dot was dropped, -1 when nothing
   * changes (the dot is content), -2 when the message ended (the body before
   * the marker passed on; the rest begins at p + 3).
   * Sets `dot` when the chunk ends before the decision can be made.
   */
  private lineDot(s: string, p: number, kind: number, from: number): number {
    const n = s.length;
    if (p + 1 >= n) {
      this.dot = 1;
      this.dotLine = kind;
      return -1;
    }
    const c1 = s.charCodeAt(p + 1);
    if (c1 === CR) {
      if (p + 2 >= n) {
        this.dot = 2;
        this.dotLine = kind;
        return -1;
      }
      if (s.charCodeAt(p + 2) === LF) {
        if (kind === AFTER_CRLF) {
          const body = this.out + s.substring(from, p);
          if (body.length > 0) this.events.onBody(body);
          return -2;
        }
        return -1; // "." alone after a bare LF, ended by CRLF: content
      }
    } else if (c1 === LF) {
      return -1; // "." alone ended by a bare LF: content
    }
    // A stuffed dot: drop it.
    this.out += s.substring(from, p);
    return p + 1;
  }

  /** Passes on the chunk's body: the rewritten part, then s[from, to). A dot held at `to` stays held. Returns undefined (the message goes on), for push(). */
  private flush(s: string, from: number, to: number): undefined {
    if (this.dot > 0) this.prevCR = false;
    const body = from === 0 && to === s.length && this.out.length === 0 ? s : this.out + s.substring(from, to);
    this.out = "";
    if (body.length > 0) this.events.onBody(body);
    return undefined;
  }
}
