/** Shared by the fuzz tests: case counts (scaled by FUZZ_SCALE in `make fuzz`), byte streams, random splits. */
import fc from "fast-check";

export const FUZZ_SCALE = Number(process.env.FUZZ_SCALE || 1);
export const runs = (base: number) => Math.max(1, Math.round(base * FUZZ_SCALE));

/** Bytes weighted towards what framing cares about: CR, LF, dots, NUL, high bytes. */
export const wireChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("\r", "\n", ".", "\r\n", "\r\n.", "\r\n.\r\n", "\x00") },
  { weight: 6, arbitrary: fc.constantFrom("a", "b", " ", "Z", "1") },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) },
);
export const wireBytes = (maxPieces: number) => fc.array(wireChar, { maxLength: maxPieces }).map((a) => a.join(""));

/** Cuts `s` at the given points (taken modulo its length) into chunks. */
export function split(s: string, cuts: number[]): string[] {
  const points = Array.from(new Set(cuts.map((c) => (s.length === 0 ? 0 : c % (s.length + 1))))).sort((a, b) => a - b);
  const chunks: string[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) chunks.push(s.slice(from, p));
    from = Math.max(from, p);
  }
  if (from < s.length) chunks.push(s.slice(from));
  return chunks;
}
export const cuts = fc.array(fc.nat(), { maxLength: 40 });

