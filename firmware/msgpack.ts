/**
 * The portable MessagePack codec: journal records on the card, the serial
 * provisioning protocol and the configuration in the board's flash.
 *
 * Byte-compatible with msgpackr (`new Packr({ useRecords: false,
 * variableMapSize: true, encodeUndefinedAsNil: true })`): always the smallest
 * encoding. Supported: nil, booleans, int32 integers, strings (8-bit bytes,
 * written as msgpack str), arrays and string-keyed maps. Floats, 64-bit
 * integers and ext types are rejected; bin is decoded as a string.
 *
 * Map keys are written in byte order so that JavaScript and Lua (whose table
 * order is arbitrary) produce the same bytes; properties whose value is
 * undefined are skipped, since Lua cannot see them. Lua cannot tell an empty
 * object from an empty array: portable code must not rely on empty maps.
 * In Lua a nil inside an array ends it: records never carry nil in arrays.
 * Tags are built with String.fromCharCode, never "\xNN" literals, which
 * TypeScriptToLua would write to the Lua source as UTF-8 (two bytes).
 */

export type MsgValue = undefined | null | boolean | number | string | MsgValue[] | MsgMap;
export interface MsgMap {
  [key: string]: MsgValue;
}

/** `end` of a decode result when the buffer stops in the middle of a value. */
export const INCOMPLETE = -1;
/** `end` of a decode result when the bytes are not a value this codec accepts. */
export const INVALID = -2;

export interface Decoded {
  /** The value; nil decodes as null (as in msgpackr), i.e. nil in Lua. */
  value: MsgValue;
  /** Position just after the value, or INCOMPLETE, or INVALID. */
  end: number;
}

/** Deeper nesting is refused rather than risking the interpreter's stack. */
const MAX_DEPTH = 16;
const INT32_MIN = -2147483647 - 1;
const INT32_MAX = 2147483647;

// A wrapper, not `const chr = String.fromCharCode`: in Lua that reads a
// field of a nonexistent String table (TypeScriptToLua only rewrites calls).
function chr(code: number): string {
  return String.fromCharCode(code);
}

/** Encodes a value; throws on floats, out-of-range integers and other types. */
export function encode(value: MsgValue): string {
  return encodeValue(value, 0);
}

function encodeValue(value: MsgValue, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error("msgpack: nested too deeply");
  if (value === undefined || value === null) return chr(0xc0);
  const type = typeof value;
  if (type === "boolean") return chr(value ? 0xc3 : 0xc2);
  if (type === "number") return encodeInt(value as number);
  if (type === "string") return strHeader((value as string).length) + value;
  if (Array.isArray(value)) {
    let out = lengthHeader(value.length, 0x90, 0xdc);
    for (let i = 0; i < value.length; i++) out += encodeValue(value[i], depth + 1);
    return out;
  }
  if (type === "object") return encodeMap(value as MsgMap, depth);
  throw new Error("msgpack: cannot encode a " + type);
}

function encodeMap(map: MsgMap, depth: number): string {
  const keys: string[] = [];
  for (const key in map) {
    if (map[key] !== undefined) keys.push(key);
  }
  sortBytewise(keys);
  let out = lengthHeader(keys.length, 0x80, 0xde);
  for (let i = 0; i < keys.length; i++) {
    out += strHeader(keys[i].length) + keys[i] + encodeValue(map[keys[i]], depth + 1);
  }
  return out;
}

/**
 * Insertion sort by byte values: maps are small, and the order must not
 * depend on the runtime's collation. Exported so that the Espruino build's
 * minifier keeps it a function instead of pasting it into encodeMap's loop
 * (host/espruino/build.ts).
 */
export function sortBytewise(keys: string[]): void {
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i];
    let j = i - 1;
    while (j >= 0 && bytewiseLess(key, keys[j])) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = key;
  }
}

function bytewiseLess(a: string, b: string): boolean {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) return ca < cb;
  }
  return a.length < b.length;
}

function encodeInt(n: number): string {
  if (Math.floor(n) !== n || n < INT32_MIN || n > INT32_MAX) {
    throw new Error("msgpack: only int32 integers are supported");
  }
  if (n >= 0) {
    if (n < 0x80) return chr(n);
    if (n < 0x100) return chr(0xcc) + chr(n);
    if (n < 0x10000) return chr(0xcd) + be16(n);
    return chr(0xce) + be32(n);
  }
  if (n >= -0x20) return chr(n & 0xff);
  if (n >= -0x80) return chr(0xd0) + chr(n & 0xff);
  if (n >= -0x8000) return chr(0xd1) + be16(n);
  return chr(0xd2) + be32(n);
}

/** The low 16 bits, big-endian. Masking before dividing keeps the division exact in single precision (NodeMCU). */
function be16(n: number): string {
  return chr(Math.floor((n & 0xff00) / 256)) + chr(n & 0xff);
}

/** All 32 bits (two's complement), big-endian. */
function be32(n: number): string {
  let top = Math.floor((n & 0x7f000000) / 16777216);
  if (n < 0) top += 128;
  return chr(top) + chr(Math.floor((n & 0xff0000) / 65536)) + be16(n);
}

function strHeader(length: number): string {
  if (length < 0x20) return chr(0xa0 + length);
  if (length < 0x100) return chr(0xd9) + chr(length);
  if (length < 0x10000) return chr(0xda) + be16(length);
  return chr(0xdb) + be32(length);
}

/** Array or map header; the 32-bit tag follows the 16-bit one. */
function lengthHeader(length: number, fixBase: number, tag16: number): string {
  if (length < 0x10) return chr(fixBase + length);
  if (length < 0x10000) return chr(tag16) + be16(length);
  return chr(tag16 + 1) + be32(length);
}

/**
 * The header of an array of `length` values, for a reply streamed value by
 * value (the web page's message list): the values follow, each encode()d.
 */
export function arrayHeader(length: number): string {
  return lengthHeader(length, 0x90, 0xdc);
}

/**
 * `data` (8-bit octets) as msgpack bin, not str: a reader takes the octets
 * as they are instead of decoding them as UTF-8 (header text in any charset).
 * The decoder here reads it back as a string.
 */
export function binary(data: string): string {
  const n = data.length;
  if (n < 0x100) return chr(0xc4) + chr(n) + data;
  if (n < 0x10000) return chr(0xc5) + be16(n) + data;
  return chr(0xc6) + be32(n) + data;
}

/**
 * Decodes one value starting at `pos`. A buffer that ends inside the value
 * gives INCOMPLETE (read more and try again from the same position); bytes
 * this codec does not accept give INVALID.
 */
export function decode(buf: string, pos: number): Decoded {
  const cursor = new Cursor(buf, pos);
  const value = cursor.value(0);
  return { value: cursor.status === 0 ? value : null, end: cursor.status === 0 ? cursor.pos : cursor.status };
}

class Cursor {
  /** 0 while decoding succeeds, else INCOMPLETE or INVALID. */
  status = 0;
  constructor(
    public buf: string,
    public pos: number,
  ) {}

  private fail(status: number): null {
    if (this.status === 0) this.status = status;
    return null;
  }

  /** An unsigned big-endian integer of `width` (1, 2 or 4) bytes; -1 when it does not fit or the buffer ends. */
  private uint(width: number): number {
    if (this.pos + width > this.buf.length) {
      this.fail(INCOMPLETE);
      return -1;
    }
    let n = this.buf.charCodeAt(this.pos);
    if (width === 4 && n >= 0x80) {
      this.fail(INVALID); // beyond int32
      return -1;
    }
    for (let i = 1; i < width; i++) n = n * 256 + this.buf.charCodeAt(this.pos + i);
    this.pos += width;
    return n;
  }

  /** A signed big-endian integer of `width` bytes. */
  private int(width: number): number {
    if (this.pos + width > this.buf.length) {
      this.fail(INCOMPLETE);
      return 0;
    }
    const first = this.buf.charCodeAt(this.pos);
    let n = first & 0x7f;
    for (let i = 1; i < width; i++) n = n * 256 + this.buf.charCodeAt(this.pos + i);
    this.pos += width;
    if (first < 0x80) return n;
    // Subtract 2^(8*width-1) in two integer steps: 2^31 itself is no int32.
    if (width === 1) return n - 128;
    if (width === 2) return n - 32768;
    return n - INT32_MAX - 1;
  }

  private str(length: number): string | null {
    if (length < 0) return null;
    if (this.pos + length > this.buf.length) return this.fail(INCOMPLETE);
    const s = this.buf.substring(this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  private array(length: number, depth: number): MsgValue[] | null {
    if (length < 0) return null;
    const out: MsgValue[] = [];
    for (let i = 0; i < length; i++) {
      const item = this.value(depth + 1);
      if (this.status !== 0) return null;
      out.push(item);
    }
    return out;
  }

  private map(length: number, depth: number): MsgMap | null {
    if (length < 0) return null;
    const out: MsgMap = {};
    for (let i = 0; i < length; i++) {
      const key = this.value(depth + 1);
      if (this.status !== 0) return null;
      // "__proto__" would replace the object's prototype in JavaScript.
      if (typeof key !== "string" || key === "__proto__") return this.fail(INVALID);
      const item = this.value(depth + 1);
      if (this.status !== 0) return null;
      out[key] = item;
    }
    return out;
  }

  value(depth: number): MsgValue {
    if (depth > MAX_DEPTH) return this.fail(INVALID);
    if (this.pos >= this.buf.length) return this.fail(INCOMPLETE);
    const b = this.buf.charCodeAt(this.pos);
    this.pos++;
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b - 0x80, depth);
    if (b < 0xa0) return this.array(b - 0x90, depth);
    if (b < 0xc0) return this.str(b - 0xa0);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4: // bin 8/16/32: bytes, carried in a string
      case 0xd9:
        return this.str(this.uint(1));
      case 0xc5:
      case 0xda:
        return this.str(this.uint(2));
      case 0xc6:
      case 0xdb:
        return this.str(this.uint(4));
      case 0xcc:
        return this.uint(1);
      case 0xcd:
        return this.uint(2);
      case 0xce:
        return this.uint(4);
      case 0xd0:
        return this.int(1);
      case 0xd1:
        return this.int(2);
      case 0xd2:
        return this.int(4);
      case 0xdc:
        return this.array(this.uint(2), depth);
      case 0xdd:
        return this.array(this.uint(4), depth);
      case 0xde:
        return this.map(this.uint(2), depth);
      case 0xdf:
        return this.map(this.uint(4), depth);
    }
    return this.fail(INVALID); // floats, 64-bit integers, ext, 0xc1
  }
}
