/**
 * MD5 (RFC 1321), for POP3 APOP and for checking the web page written to
 * the card (docs/SERIAL.md, web.check). Neither board offers it to both
 * runtimes (Espruino's crypto has no MD5), so it is computed here. Every 32-bit word
 * is kept as two 16-bit halves: sums and shifts then stay far below 2^24,
 * exact on JavaScript doubles, on NodeMCU's 32-bit integers and on its
 * single-precision floats alike (no `>>`, `>>>`, or overflow anywhere).
 */

/** floor(abs(sin(i + 1)) * 2^32) as high/low 16-bit halves. */
const T = [
  0xd76a, 0xa478, 0xe8c7, 0xb756, 0x2420, 0x70db, 0xc1bd, 0xceee,
  0xf57c, 0x0faf, 0x4787, 0xc62a, 0xa830, 0x4613, 0xfd46, 0x9501,
  0x6980, 0x98d8, 0x8b44, 0xf7af, 0xffff, 0x5bb1, 0x895c, 0xd7be,
  0x6b90, 0x1122, 0xfd98, 0x7193, 0xa679, 0x438e, 0x49b4, 0x0821,
  0xf61e, 0x2562, 0xc040, 0xb340, 0x265e, 0x5a51, 0xe9b6, 0xc7aa,
  0xd62f, 0x105d, 0x0244, 0x1453, 0xd8a1, 0xe681, 0xe7d3, 0xfbc8,
  0x21e1, 0xcde6, 0xc337, 0x07d6, 0xf4d5, 0x0d87, 0x455a, 0x14ed,
  0xa9e3, 0xe905, 0xfcef, 0xa3f8, 0x676f, 0x02d9, 0x8d2a, 0x4c8a,
  0xfffa, 0x3942, 0x8771, 0xf681, 0x6d9d, 0x6122, 0xfde5, 0x380c,
  0xa4be, 0xea44, 0x4bde, 0xcfa9, 0xf6bb, 0x4b60, 0xbebf, 0xbc70,
  0x289b, 0x7ec6, 0xeaa1, 0x27fa, 0xd4ef, 0x3085, 0x0488, 0x1d05,
  0xd9d4, 0xd039, 0xe6db, 0x99e5, 0x1fa2, 0x7cf8, 0xc4ac, 0x5665,
  0xf429, 0x2244, 0x432a, 0xff97, 0xab94, 0x23a7, 0xfc93, 0xa039,
  0x655b, 0x59c3, 0x8f0c, 0xcc92, 0xffef, 0xf47d, 0x8584, 0x5dd1,
  0x6fa8, 0x7e4f, 0xfe2c, 0xe6e0, 0xa301, 0x4314, 0x4e08, 0x11a1,
  0xf753, 0x7e82, 0xbd3a, 0xf235, 0x2ad7, 0xd2bb, 0xeb86, 0xd391,

];

const SHIFT = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const POW2 = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
const HEX = "0123456789abcdef";

/** An MD5 in progress: the state words as [hi, lo] 16-bit halves, bytes not yet in a 64-byte block, the length so far. */
export interface Md5 {
  h: number[];
  tail: string;
  length: number;
}

export function md5Begin(): Md5 {
  return { h: [0x6745, 0x2301, 0xefcd, 0xab89, 0x98ba, 0xdcfe, 0x1032, 0x5476], tail: "", length: 0 };
}

/** Adds bytes; whole blocks are hashed now, the rest waits in `tail` (so pieces of any size give the same sum). */
export function md5Update(m: Md5, data: string): void {
  const s = m.tail + data;
  const whole = s.length - (s.length % 64);
  blocks(m.h, s, whole);
  m.tail = s.substring(whole);
  m.length += data.length;
}

/** The sum of everything added, as 32 lowercase hex digits (`m` is spent). */
export function md5End(m: Md5): string {
  const h = m.h;
  // Padding: 0x80, zeros to 56 mod 64, then the bit length (little-endian, 64 bits).
  let padded = m.tail + String.fromCharCode(128);
  while (padded.length % 64 !== 56) padded += String.fromCharCode(0);
  const bits = m.length * 8; // below 2^31 for anything this box hashes
  padded += byte(bits & 255) + byte(Math.floor((bits & 0xff00) / 256)) + byte(Math.floor((bits & 0xff0000) / 65536));
  padded += byte(Math.floor((bits & 0x7f000000) / 16777216)) + byte(0) + byte(0) + byte(0) + byte(0);
  blocks(h, padded, padded.length);
  let out = "";
  for (let w = 0; w < 8; w += 2) {
    // Little-endian bytes: low half first, low byte first.
    out += hexByte(h[w + 1] & 255) + hexByte(Math.floor(h[w + 1] / 256));
    out += hexByte(h[w] & 255) + hexByte(Math.floor(h[w] / 256));
  }
  return out;
}

/** MD5 of an 8-bit string, as 32 lowercase hex digits. */
export function md5hex(message: string): string {
  const m = md5Begin();
  md5Update(m, message);
  return md5End(m);
}

/** Hashes the 64-byte blocks of `padded` below `end` into the state `h`. */
function blocks(h: number[], padded: string, end: number): void {
  const x: number[] = [];
  for (let offset = 0; offset < end; offset += 64) {
    for (let k = 0; k < 16; k++) {
      const at = offset + k * 4;
      x[k * 2] = padded.charCodeAt(at + 2) + padded.charCodeAt(at + 3) * 256;
      x[k * 2 + 1] = padded.charCodeAt(at) + padded.charCodeAt(at + 1) * 256;
    }
    let aH = h[0], aL = h[1], bH = h[2], bL = h[3], cH = h[4], cL = h[5], dH = h[6], dL = h[7];
    for (let i = 0; i < 64; i++) {
      let fH: number, fL: number, g: number;
      const round = Math.floor(i / 16);
      if (round === 0) {
        fH = (bH & cH) | (~bH & 0xffff & dH);
        fL = (bL & cL) | (~bL & 0xffff & dL);
        g = i;
      } else if (round === 1) {
        fH = (dH & bH) | (~dH & 0xffff & cH);
        fL = (dL & bL) | (~dL & 0xffff & cL);
        g = (5 * i + 1) % 16;
      } else if (round === 2) {
        fH = bH ^ cH ^ dH;
        fL = bL ^ cL ^ dL;
        g = (3 * i + 5) % 16;
      } else {
        fH = cH ^ (bH | (~dH & 0xffff));
        fL = cL ^ (bL | (~dL & 0xffff));
        g = (7 * i) % 16;
      }
      // sum = a + f + T[i] + x[g], then rotate left and add b.
      let lo = aL + fL + T[i * 2 + 1] + x[g * 2 + 1];
      let hi = aH + fH + T[i * 2] + x[g * 2] + Math.floor(lo / 65536);
      lo = lo & 0xffff;
      hi = hi & 0xffff;
      let s = SHIFT[round * 4 + (i % 4)];
      if (s >= 16) {
        const t = hi;
        hi = lo;
        lo = t;
        s -= 16;
      }
      const rH = ((hi * POW2[s]) & 0xffff) | Math.floor(lo / POW2[16 - s]);
      const rL = ((lo * POW2[s]) & 0xffff) | Math.floor(hi / POW2[16 - s]);
      aH = dH;
      aL = dL;
      dH = cH;
      dL = cL;
      cH = bH;
      cL = bL;
      const sumL = bL + rL;
      bH = (bH + rH + Math.floor(sumL / 65536)) & 0xffff;
      bL = sumL & 0xffff;
    }
    const words = [aH, aL, bH, bL, cH, cL, dH, dL];
    for (let w = 0; w < 8; w += 2) {
      const lo = h[w + 1] + words[w + 1];
      h[w] = (h[w] + words[w] + Math.floor(lo / 65536)) & 0xffff;
      h[w + 1] = lo & 0xffff;
    }
  }
}

function byte(n: number): string {
  return String.fromCharCode(n);
}

function hexByte(n: number): string {
  return HEX.charAt(Math.floor(n / 16)) + HEX.charAt(n % 16);
}
