/**
 * Integer helpers that behave the same on JavaScript doubles and on NodeMCU's
 * Lua (32-bit integers, single-precision floats, `/` always a float).
 */

/** Decimal digits of an integer in (-2^31, 2^31), never "3.0" or "1e+21". */
export function decimal(n: number): string {
  if (n === 0) return "0";
  let sign = "";
  if (n < 0) {
    sign = "-";
    n = -n;
  }
  // Subtracting powers of ten keeps to exact integer operations: NodeMCU's
  // single-precision `/` cannot divide numbers above 2^24 exactly.
  let out = "";
  for (let i = 0; i < POWERS.length; i++) {
    const p = POWERS[i];
    let digit = 0;
    while (n >= p) {
      n -= p;
      digit++;
    }
    if (digit > 0 || out.length > 0) out += String.fromCharCode(48 + digit);
  }
  return sign + out;
}

/** "1 message", "2 messages": every count of messages the box prints. */
export function messages(n: number): string {
  return decimal(n) + (n === 1 ? " message" : " messages");
}

const POWERS = [1000000000, 100000000, 10000000, 1000000, 100000, 10000, 1000, 100, 10, 1];

/** What parseDecimal gives for a number of 2^31 - 1 or more: the largest integer every runtime holds. */
export const TOO_LARGE = 2147483647;

/**
 * Parses a non-negative decimal integer made only of digits (leading zeros
 * allowed). Returns -1 for anything else, and TOO_LARGE for any value at or
 * above 2^31 - 1, however many digits: the sum never leaves 32-bit integers,
 * so every runtime (JavaScript doubles, NodeMCU's int32 Lua) gives the same
 * answer. Callers treat TOO_LARGE as beyond every limit.
 */
export function parseDecimal(s: string): number {
  if (s.length === 0) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    const d = c - 48;
    // n * 10 + d < 2^31 - 1 exactly when n < 214748364, or n is 214748364 and d < 7.
    if (n > 214748364 || (n === 214748364 && d >= 7)) n = TOO_LARGE;
    else n = n * 10 + d;
  }
  return n;
}

const HEX = "0123456789abcdef";

/** `width` (at most 8) lowercase hex digits of a non-negative integer below 2^31. */
export function hex(n: number, width: number): string {
  let out = "";
  for (let k = width - 1; k >= 0; k--) {
    // The masked value has only four significant bits, so dividing it by a
    // power of two is exact even in single precision.
    const nibble = Math.floor((n & (15 << (4 * k))) / SHIFTS[k]);
    out += HEX.charAt(nibble);
  }
  return out;
}

const SHIFTS = [1, 16, 256, 4096, 65536, 1048576, 16777216, 268435456];

/** Integer division of non-negative integers below 2^24 (exact in single floats too). */
export function div(a: number, b: number): number {
  return Math.floor(a / b);
}
