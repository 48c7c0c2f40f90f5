/**
 * Dates from Unix seconds and back to day numbers, without Date (NodeMCU
 * has none) and with exact integer steps only (NodeMCU's floats are single
 * precision): RFC 5322 dates (SMTP's Received, the console), RFC 3501
 * date-time (IMAP INTERNALDATE) and the day numbers IMAP SEARCH compares.
 * The board's clock zone is +0000.
 */
import { decimal, div } from "./num";

const DAYS = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";
const DAY_SECONDS = 86400;

/** What parseDay gives for no date (below every real day number). */
export const NO_DAY = -100000000;

function two(n: number): string {
  return n < 10 ? "0" + decimal(n) : decimal(n);
}

/** Whole days since 1970-01-01 of non-negative Unix seconds below 2^31. */
export function dayOf(seconds: number): number {
  // By subtracting blocks: t / 86400 in single precision could be off by one.
  let days = 0;
  let t = seconds;
  let block = 10000;
  while (block >= 1) {
    const span = block * DAY_SECONDS; // at most 864,000,000: an exact integer
    while (t >= span) {
      t -= span;
      days += block;
    }
    block = block === 1 ? 0 : div(block, 10);
  }
  return days;
}

/**
 * `seconds` (non-negative, below 2^31) as RFC 5322 "Sun, 22 Nov 2026
 * 01:26:52 +0000", or with `imap` as RFC 3501 date-time "22-Nov-2026
 * 01:26:52 +0000" (day space-padded to two: " 1-Dec-2026 ...", no quotes).
 */
export function formatDate(seconds: number, imap: boolean): string {
  const days = dayOf(seconds);
  const t = seconds - days * DAY_SECONDS;
  const hour = div(t, 3600);
  const minute = div(t - hour * 3600, 60);
  const second = t - hour * 3600 - minute * 60;
  // Civil date from days since 1970 (H. Hinnant's algorithm; all values small).
  const z = days + 719468;
  const era = div(z, 146097);
  const doe = z - era * 146097;
  const yoe = div(doe - div(doe, 1460) + div(doe, 36524) - div(doe, 146096), 365);
  const doy = doe - (365 * yoe + div(yoe, 4) - div(yoe, 100));
  const mp = div(5 * doy + 2, 153);
  const day = doy - div(153 * mp + 2, 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const name = MONTHS.substring(month * 3 - 3, month * 3);
  const clock = two(hour) + ":" + two(minute) + ":" + two(second) + " +0000";
  if (imap) return (day < 10 ? " " : "") + decimal(day) + "-" + name + "-" + decimal(year) + " " + clock;
  return DAYS[days % 7] + ", " + decimal(day) + " " + name + " " + decimal(year) + " " + clock;
}

/** "Sun, 22 Nov 2026 01:26:52 +0000" for non-negative Unix seconds below 2^31. */
export function rfc5322Date(seconds: number): string {
  return formatDate(seconds, false);
}

/**
 * The day number (days since 1970-01-01, negative before) of a date:
 * with `strict`, exactly RFC 3501's search date "1-Feb-1994" (day of 1 or
 * 2 digits, month name in any case, 4-digit year); else the date part of
 * an RFC 5322 Date field ("Tue, 1 Feb 1994 10:00:00 +0100", RFC 5322 4.3's
 * 2- and 3-digit years, folding and comments before the day), the time and
 * zone disregarded as RFC 3501 SENTBEFORE/SENTON/SENTSINCE say. NO_DAY
 * when it is none (day 1-31, years 1-9999).
 */
export function parseDay(s: string, strict: boolean): number {
  let p = 0;
  // Lenient: the day-of-week, folding and comments before the day are skipped.
  if (!strict) while (p < s.length && (s.charCodeAt(p) < 48 || s.charCodeAt(p) > 57)) p++;
  let day = 0;
  let digits = 0;
  while (p < s.length && s.charCodeAt(p) >= 48 && s.charCodeAt(p) <= 57 && digits < 3) {
    day = day * 10 + s.charCodeAt(p) - 48;
    p++;
    digits++;
  }
  if (digits === 0 || digits > 2 || day < 1 || day > 31) return NO_DAY;
  if (strict ? s.charCodeAt(p) !== 45 : s.charCodeAt(p) !== 32 && s.charCodeAt(p) !== 9 && s.charCodeAt(p) !== 13 && s.charCodeAt(p) !== 10) return NO_DAY;
  while (p < s.length && (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 9 || s.charCodeAt(p) === 13 || s.charCodeAt(p) === 10)) p++;
  if (strict) p++;
  const word = s.substring(p, p + 3);
  let month = -1;
  for (let k = 0; k < 12; k++) {
    const name = MONTHS.substring(k * 3, k * 3 + 3);
    // ASCII case-insensitive: each letter's code differs from its other case's by 32 alone.
    let same = word.length === 3;
    for (let c = 0; c < 3 && same; c++) same = (word.charCodeAt(c) | 32) === (name.charCodeAt(c) | 32);
    if (same) month = k + 1;
  }
  if (month < 0) return NO_DAY;
  p += 3;
  if (strict ? s.charCodeAt(p) !== 45 : s.charCodeAt(p) !== 32 && s.charCodeAt(p) !== 9 && s.charCodeAt(p) !== 13 && s.charCodeAt(p) !== 10) return NO_DAY;
  while (p < s.length && (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 9 || s.charCodeAt(p) === 13 || s.charCodeAt(p) === 10)) p++;
  if (strict) p++;
  let year = 0;
  digits = 0;
  while (p < s.length && s.charCodeAt(p) >= 48 && s.charCodeAt(p) <= 57 && digits < 5) {
    year = year * 10 + s.charCodeAt(p) - 48;
    p++;
    digits++;
  }
  if (strict ? digits !== 4 || p !== s.length : digits < 2 || digits > 4) return NO_DAY;
  // RFC 5322 4.3: 2 digits from 50 are 19xx, below 50 20xx; 3 digits add 1900.
  if (digits === 2) year += year < 50 ? 2000 : 1900;
  else if (digits === 3) year += 1900;
  if (year < 1) return NO_DAY;
  // Days from the civil date (H. Hinnant's days_from_civil).
  const y = month <= 2 ? year - 1 : year;
  const era = div(y, 400);
  const yoe = y - era * 400;
  const doy = div(153 * (month > 2 ? month - 3 : month + 9) + 2, 5) + day - 1;
  return era * 146097 + yoe * 365 + div(yoe, 4) - div(yoe, 100) + doy - 719468;
}
