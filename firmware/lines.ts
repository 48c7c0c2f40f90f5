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

export interface DataEvents {
  /** A slice of the (unstuffed) message body, in order. */
  onBody: (data: string) => void;
  /** The end marker arrived; `rest` is whatever followed it in the chunk. */
  onEnd: (rest: string) => void;
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

  /** True while an unfinished line is buffered. */
  get pending(): boolean {
    return this.partial.length > 0 || this.overflow;
  }
}

const CR = 13;
const LF = 10;
const DOT = 46;

/** What the DATA reader found wrong with a message (it still reads to the end). */
export interface DataFlaws {
  /** A CR or LF that was not part of a CRLF pair (RFC 5321 2.3.8). */
  bareLineBreak: boolean;
  /** A line longer than the text-line limit. */
  lineTooLong: boolean;
}

/**
 * Reads a DATA body until CRLF.CRLF. Only a CRLF starts a line for the
 * purpose of dots, so `LF.LF`, `LF.CRLF`, `CRLF.LF`, `CR.CRLF` and friends
 * never end the message (no SMTP smuggling); they are flagged as bare line
 * breaks and the session rejects the message.
 */
export class DataReader implements DataFlaws {
  bareLineBreak = false;
  lineTooLong = false;
  /** The next byte starts a line (the previous line ended with CRLF). */
  private lineStart = true;
  /** 0: normal; 1: a dot began the line (dropped); 2: that dot was followed by CR. */
  private dot = 0;
  /** The previous chunk ended with a CR whose partner is not seen yet. */
  private pendingCR = false;
  /** Octets of the current line so far, line ending excluded. */
  private lineLength = 0;

  constructor(private maxLine: number, private events: DataEvents) {}

  push(s: string): void {
    const n = s.length;
    let p = 0;
    let from = 0; // start of the slice not yet handed on
    if (this.pendingCR && n > 0 && s.charCodeAt(0) !== LF) {
      this.bareLineBreak = true;
      this.pendingCR = false;
    }
    while (p < n) {
      if (this.dot === 1) {
        if (s.charCodeAt(p) === CR) {
          this.dot = 2;
          if (from < p) this.events.onBody(s.substring(from, p));
          p++;
          from = p; // the CR is held back: it may belong to the end marker
          continue;
        }
        this.dot = 0; // a stuffed dot: the line goes on
        this.lineLength = 1;
      } else if (this.dot === 2) {
        if (s.charCodeAt(p) === LF) {
          if (from < p) this.events.onBody(s.substring(from, p));
          this.events.onEnd(s.substring(p + 1));
          return;
        }
        this.dot = 0; // ".", CR, then not LF: the CR is content, and bare
        this.bareLineBreak = true;
        if (from < p) this.events.onBody(s.substring(from, p));
        this.events.onBody("\r");
        from = p;
        this.lineLength = 2;
      } else if (this.lineStart) {
        this.lineStart = false;
        if (s.charCodeAt(p) === DOT) {
          if (from < p) this.events.onBody(s.substring(from, p));
          this.dot = 1;
          p++;
          from = p;
          continue;
        }
      }
      // Scan to the end of this line.
      const lf = s.indexOf("\n", p);
      const end = lf < 0 ? n : lf;
      const cr = s.indexOf("\r", p);
      if (cr >= 0 && cr < end - 1) this.bareLineBreak = true; // a CR inside the line
      this.lineLength += end - p;
      if (lf < 0) {
        if (this.lineLength > this.maxLine) this.lineTooLong = true;
        // The line goes on in the next chunk; a CR ending this one may pair with its LF
        // (checked on the last byte: an earlier bare CR in the line must not hide it).
        this.pendingCR = s.charCodeAt(n - 1) === CR;
        break;
      }
      const crlf = lf > p ? s.charCodeAt(lf - 1) === CR : this.pendingCR;
      this.pendingCR = false;
      if (crlf) this.lineLength--;
      else this.bareLineBreak = true;
      if (this.lineLength + 2 > this.maxLine) this.lineTooLong = true;
      this.lineLength = 0;
      this.lineStart = crlf; // after a bare LF a dot is just content
      p = lf + 1;
    }
    if (from < n) this.events.onBody(s.substring(from));
  }
}
