/**
 * RFC 5322 dates from Unix seconds, without Date (NodeMCU has none) and with
 * exact integer steps only (NodeMCU's floats are single precision).
 */
import { decimal, div } from "./num";

const DAYS = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY_SECONDS = 86400;

function two(n: number): string {
  return n < 10 ? "0" + decimal(n) : decimal(n);
}

/** "Sun, 22 Nov 2026 01:26:52 +0000" for non-negative Unix seconds below 2^31. */
export function rfc5322Date(seconds: number): string {
  // Whole days by subtracting blocks: t / 86400 in single precision could be off by one.
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
  return (
    DAYS[days % 7] + ", " + decimal(day) + " " + MONTHS[month - 1] + " " + decimal(year) + " " +
    two(hour) + ":" + two(minute) + ":" + two(second) + " +0000"
  );
}
