/**
 * The host side of the serial protocol (docs/SERIAL.md): frames
 * `0xFE 'L' | version | length (u16 BE) | payload | CRC-16/CCITT-FALSE (u16 BE)`
 * carrying MessagePack. Written apart from the device's firmware/frame.ts on
 * purpose, with the `crc` and `msgpackr` libraries, so the tests check two
 * implementations against each other.
 */
import { crc16ccitt } from "crc";
import { Packr } from "msgpackr";

export const PROTOCOL_VERSION = 1;
export const MAX_PAYLOAD = 1024;
const MARK = Buffer.from([0xfe, 0x4c]);
const HEADER = 5;
const TRAILER = 2;

/** Error codes in replies (device: firmware/console.ts). */
export const ERROR_NAMES: { [code: number]: string } = {
  1: "frame check failed",
  2: "frame truncated",
  3: "frame too large",
  4: "unsupported protocol version",
  5: "malformed request",
  6: "unknown request",
  7: "invalid value",
  8: "not found",
  9: "conflict",
  10: "storage failure",
  11: "not supported by this board",
  12: "internal error",
};

/** Byte-compatible with the device codec (firmware/msgpack.ts). */
export const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });

export function encodeFrame(payload: Buffer, version = PROTOCOL_VERSION): Buffer {
  const header = Buffer.from([version, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.concat([header, payload]);
  const crc = crc16ccitt(body);
  return Buffer.concat([MARK, body, Buffer.from([crc >> 8, crc & 0xff])]);
}

export interface FrameSink {
  frame(payload: Buffer): void;
  text(bytes: Buffer): void;
  /** A frame that failed its check or announced a bad size/version. */
  reject(reason: string): void;
}

/** Splits what the device sends into frames and console text. */
export class FrameReader {
  private pending = Buffer.alloc(0);

  constructor(private sink: FrameSink) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    for (;;) {
      const at = buf.indexOf(0xfe);
      if (at < 0) {
        if (buf.length) this.sink.text(buf);
        return;
      }
      if (at > 0) this.sink.text(buf.subarray(0, at));
      buf = buf.subarray(at);
      if (buf.length < 2) break;
      if (buf[1] !== MARK[1]) {
        this.sink.text(buf.subarray(0, 1));
        buf = buf.subarray(1);
        continue;
      }
      if (buf.length < HEADER) break;
      const length = buf.readUInt16BE(3);
      if (buf[2] !== PROTOCOL_VERSION || length > MAX_PAYLOAD) {
        this.sink.reject(buf[2] !== PROTOCOL_VERSION ? `protocol version ${buf[2]}` : `frame of ${length} bytes`);
        buf = buf.subarray(2);
        continue;
      }
      const end = HEADER + length + TRAILER;
      if (buf.length < end) break;
      if (buf.readUInt16BE(end - 2) !== crc16ccitt(buf.subarray(2, HEADER + length))) {
        this.sink.reject("frame check failed");
        buf = buf.subarray(2);
        continue;
      }
      const payload = buf.subarray(HEADER, HEADER + length);
      buf = buf.subarray(end);
      this.sink.frame(Buffer.from(payload));
    }
    this.pending = Buffer.from(buf);
  }

  /** Gives up on a partial frame: its bytes count as console text. */
  flush(): void {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    if (rest.length) this.sink.text(rest);
  }
}
