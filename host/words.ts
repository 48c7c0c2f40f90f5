/** Counts in words: "1 message", "2 messages", "0 messages". */
export function plural(n: number, noun: string, nouns = noun + "s"): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}
