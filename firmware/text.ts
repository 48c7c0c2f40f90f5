/** String helpers every runtime agrees on. */
import { hex } from "./num";

/**
 * Position of `needle` in `s` at or after `from`, or -1. Guards against
 * Espruino 2v29's indexOf bug, which reports a match when the end of `s`
 * cuts the needle short (PLATFORMS.md): a hit must fit inside `s`.
 */
export function find(s: string, needle: string, from: number): number {
  const i = s.indexOf(needle, from);
  if (i < 0 || i + needle.length > s.length) return -1;
  return i;
}

/** ASCII upper case (toUpperCase would touch 8-bit bytes differently per runtime). */
export function upper(s: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) {
      out += s.substring(start, i) + String.fromCharCode(c - 32);
      start = i + 1;
    }
  }
  return start === 0 ? s : out + s.substring(start);
}

/** ASCII lower case. */
export function lower(s: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) {
      out += s.substring(start, i) + String.fromCharCode(c + 32);
      start = i + 1;
    }
  }
  return start === 0 ? s : out + s.substring(start);
}

/** Removes leading and trailing spaces and tabs. */
export function trim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return s.substring(a, b);
}

/** Position of the last `char` (one character) in `s`, or -1 (TypeScriptToLua has no lastIndexOf). */
export function findLast(s: string, char: string): number {
  const code = char.charCodeAt(0);
  for (let i = s.length - 1; i >= 0; i--) if (s.charCodeAt(i) === code) return i;
  return -1;
}

/**
 * `s` quoted safely in a log line: printable ASCII kept, `\` and `"` as `\\`
 * and `\"`, every other byte (CR, LF, controls, DEL, 8-bit) as `\xHH`, so
 * what a peer typed can never end the line, pose as another one or reach a
 * terminal as a control. At most `max` characters out, then "..."; only as
 * many bytes of `s` are read as fit.
 */
export function printable(s: string, max: number): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const piece = c === 34 || c === 92 ? "\\" + s.charAt(i) : c >= 32 && c < 127 ? s.charAt(i) : "\\x" + hex(c, 2);
    if (out.length + piece.length > max) return out + "...";
    out += piece;
  }
  return out;
}

/**
 * `s` with every byte outside printable ASCII (33-126: controls, space, DEL,
 * 8-bit) replaced by "?", as Postfix's smtpd does to the HELO name it puts
 * in the Received header (smtpd.c helo_cmd: printable(name, '?')): what a
 * client typed cannot break the header's line or fold.
 */
export function headerSafe(s: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) {
      out += s.substring(from, i) + "?";
      from = i + 1;
    }
  }
  return from === 0 ? s : out + s.substring(from);
}
