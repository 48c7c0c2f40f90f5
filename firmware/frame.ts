/**
 * Frames of the serial protocol (docs/SERIAL.md), sharing the line with the
 * board's console: bytes outside frames are plain console text.
 *
 *   0xFE 'L' | version | length (2 bytes, big endian) | payload | CRC-16 (2 bytes)
 *
 * The CRC (CRC-16/CCITT-FALSE) covers version, length and payload. Written
 * with left shifts and masks only: NodeMCU's Lua has no `>>` (PLATFORMS.md).
 */

export const PROTOCOL_VERSION = 1;
/** Largest payload either side sends or accepts. */
export const MAX_PAYLOAD = 1024;
export const MARK = String.fromCharCode(254) + "L";
const MARK0 = 254;
const MARK1 = 76;
const HEADER = 5;
const TRAILER = 2;

/** Why a frame was rejected; the values double as the protocol's error codes. */
export const FRAME_CRC = 1;
export const FRAME_TRUNCATED = 2;
export const FRAME_OVERSIZED = 3;
export const FRAME_VERSION = 4;

let crcTable: number[] | undefined;

function table(): number[] {
  if (crcTable) return crcTable;
  const t: number[] = [];
  for (let i = 0; i < 256; i++) {
    let c = (i << 8) & 0xffff;
    for (let k = 0; k < 8; k++) c = (c & 0x8000) !== 0 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t.push(c);
  }
  crcTable = t;
  return t;
}

/** CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of s[from, to). */
export function crc16(s: string, from: number, to: number): number {
  const t = table();
  let crc = 0xffff;
  for (let i = from; i < to; i++) {
    // crc < 2^16, so dividing by 256 is exact on every runtime.
    const top = Math.floor(crc / 256);
    crc = ((crc << 8) & 0xffff) ^ t[(top ^ s.charCodeAt(i)) & 0xff];
  }
  return crc;
}

/**
 * Adler-32 of a whole string as 8 lowercase hex digits. Kept as two 16-bit
 * halves so no value reaches 2^31.
 */
export function adler32(s: string): string {
  let a = 1;
  let b = 0;
  for (let i = 0; i < s.length; i++) {
    a = (a + s.charCodeAt(i)) % 65521;
    b = (b + a) % 65521;
  }
  return hex4(b) + hex4(a);
}

/** Running Adler-32 over data that arrives in pieces. */
export class Adler32 {
  private a = 1;
  private b = 0;
  update(s: string): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < s.length; i++) {
      a = (a + s.charCodeAt(i)) % 65521;
      b = (b + a) % 65521;
    }
    this.a = a;
    this.b = b;
  }
  hex(): string {
    return hex4(this.b) + hex4(this.a);
  }
}

const HEX = "0123456789abcdef";
function hex4(n: number): string {
  // n < 65536: every division below is exact.
  return (
    HEX.charAt(Math.floor(n / 4096) % 16) +
    HEX.charAt(Math.floor(n / 256) % 16) +
    HEX.charAt(Math.floor(n / 16) % 16) +
    HEX.charAt(n % 16)
  );
}

/** Wraps a payload (at most MAX_PAYLOAD bytes) in a frame. */
export function encodeFrame(payload: string): string {
  const n = payload.length;
  const body = String.fromCharCode(PROTOCOL_VERSION, Math.floor(n / 256), n % 256) + payload;
  const crc = crc16(body, 0, body.length);
  return MARK + body + String.fromCharCode(Math.floor(crc / 256), crc % 256);
}

export interface FrameEvents {
  /** A complete frame whose CRC matched. */
  onFrame: (payload: string) => void;
  /** Bytes that are not part of any frame (console output or input). */
  onText: (text: string) => void;
  /** A frame was rejected (FRAME_* code); nothing of it is delivered. */
  onReject: (code: number, detail: string) => void;
}

/**
 * Splits a byte stream into frames and console text. A bad frame is
 * rejected at its marker and scanning resumes right after it, so a damaged
 * frame costs only itself.
 */
export class Deframer {
  /** Bytes from a frame marker on, waiting for the rest of the frame. */
  private buf = "";
  /** Counts frames begun, so a timer can tell whether the same one is still stuck. */
  started = 0;

  constructor(private events: FrameEvents) {}

  /** True while part of a frame is buffered. */
  pending(): boolean {
    return this.buf.length > 0;
  }

  push(data: string): void {
    let buf = this.buf.length > 0 ? this.buf + data : data;
    // Whether buf still starts at the frame that was pending before this call.
    let resumed = this.buf.length > 0;
    this.buf = "";
    while (buf.length > 0) {
      const at = buf.indexOf(String.fromCharCode(MARK0));
      if (at < 0) {
        this.events.onText(buf);
        return;
      }
      if (at > 0) {
        this.events.onText(buf.substring(0, at));
        buf = buf.substring(at);
        resumed = false;
      }
      if (buf.length < 2) break;
      if (buf.charCodeAt(1) !== MARK1) {
        this.events.onText(buf.substring(0, 1));
        buf = buf.substring(1);
        resumed = false;
        continue;
      }
      if (buf.length < HEADER) break;
      const version = buf.charCodeAt(2);
      const length = buf.charCodeAt(3) * 256 + buf.charCodeAt(4);
      if (version !== PROTOCOL_VERSION) {
        this.events.onReject(FRAME_VERSION, "unsupported protocol version");
        buf = buf.substring(2);
        resumed = false;
        continue;
      }
      if (length > MAX_PAYLOAD) {
        this.events.onReject(FRAME_OVERSIZED, "frame longer than the limit");
        buf = buf.substring(2);
        resumed = false;
        continue;
      }
      const end = HEADER + length + TRAILER;
      if (buf.length < end) break;
      const crc = buf.charCodeAt(end - 2) * 256 + buf.charCodeAt(end - 1);
      if (crc !== crc16(buf, 2, HEADER + length)) {
        this.events.onReject(FRAME_CRC, "frame check failed");
        buf = buf.substring(2);
        resumed = false;
        continue;
      }
      const payload = buf.substring(HEADER, HEADER + length);
      buf = buf.substring(end);
      resumed = false;
      this.events.onFrame(payload);
    }
    if (buf.length > 0 && !resumed) this.started++;
    this.buf = buf;
  }

  /** Drops a frame that stopped arriving half-way (reported as truncated). */
  expire(): void {
    if (this.buf.length === 0) return;
    const rest = this.buf;
    this.buf = "";
    this.events.onReject(FRAME_TRUNCATED, "frame incomplete");
    // Bytes after the dead marker may still hold text or another frame.
    if (rest.length > 2) this.push(rest.substring(2));
  }
}
