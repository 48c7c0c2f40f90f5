/**
 * A Fletcher checksum over 8-bit strings that needs only small-integer
 * arithmetic (exact on NodeMCU's 32-bit Lua): it tells a journal record
 * that was written whole from a torn or garbled one.
 */

/**
 * Fletcher-32 over single bytes (sums modulo 65535) of s[from, to), folded
 * to 31 bits so that it stays a non-negative int32: the low 15 bits of the
 * second sum above the 16 bits of the first. Every step stays below 2^17.
 * The first sum starts at 1 (as in Adler-32) so that runs of zero bytes,
 * what a torn write often leaves, still change the result.
 */
export function fletcher31(s: string, from: number, to: number): number {
  let sum1 = 1;
  let sum2 = 0;
  for (let i = from; i < to; i++) {
    sum1 += s.charCodeAt(i);
    if (sum1 >= 65535) sum1 -= 65535;
    sum2 += sum1;
    if (sum2 >= 65535) sum2 -= 65535;
  }
  return (sum2 & 0x7fff) * 65536 + sum1;
}
