/** The bench's tables (Markdown, printed and written into BENCHMARKS.md). */
import * as fs from "node:fs";
import type { MemoryRow } from "./memory";
import type { BuildSize } from "./sizes";
import type { Measurement } from "./throughput";

export interface ThroughputRow {
  protocol: "SMTP" | "POP3";
  workload: string;
  sessions: number;
  messages: number;
  letterbox: Measurement;
  reference: Measurement;
}

const fixed = (n: number, digits: number) => n.toFixed(digits);

export function ratio(letterbox: number, reference: number): number {
  return letterbox / reference;
}

export function throughputTable(rows: ThroughputRow[], letterboxName: string): string {
  const lines = [
    `| Protocol | Messages | Sessions | ${letterboxName} msg/s | Postfix+Dovecot msg/s | ${letterboxName} MB/s | Postfix+Dovecot MB/s | letterbox / reference | Busy answers, all runs (letterbox / reference) |`,
    "|---|---|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of rows) {
    const x = ratio(r.letterbox.messagesPerSecond, r.reference.messagesPerSecond);
    lines.push(
      `| ${r.protocol} | ${r.messages} x ${r.workload} | ${r.sessions} | ${fixed(r.letterbox.messagesPerSecond, 1)} | ${fixed(r.reference.messagesPerSecond, 1)} | ` +
        `${fixed(r.letterbox.megabytesPerSecond, 2)} | ${fixed(r.reference.megabytesPerSecond, 2)} | ${x >= 1 ? "" : "**"}${fixed(x, 2)}${x >= 1 ? "" : "**"} | ${r.letterbox.busy || 0} / ${r.reference.busy || 0} |`,
    );
  }
  return lines.join("\n");
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${bytes / (1024 * 1024)} MB`;
  if (bytes >= 1024) return `${bytes / 1024} KB`;
  return `${bytes} B`;
}

function amount(value: number, unit: MemoryRow["unit"]): string {
  if (unit === "variables") return `${value} vars (${(value * 14 / 1024).toFixed(1)} KB)`;
  return `${(value / 1024).toFixed(1)} KB`;
}

export function memoryTable(rows: MemoryRow[]): string {
  const lines = [
    "| Runtime | Message | Sessions | Idle | SMTP peak above idle | POP3 peak above idle | Readings at checkpoints + on the timer (SMTP / POP3) |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.runtime} | ${formatSize(r.bytes)} | ${r.sessions} | ${amount(r.smtp.idle, r.unit)} | ${amount(r.smtp.peak - r.smtp.idle, r.unit)} | ` +
        `${amount(r.pop3.peak - r.pop3.idle, r.unit)} | ${r.smtp.checkpoints} + ${r.smtp.samples} / ${r.pop3.checkpoints} + ${r.pop3.samples} |`,
    );
  }
  return lines.join("\n");
}

/** Growth allowed beyond +50% before a row counts as growing: the measurement's noise per runtime. */
const NOISE: { [runtime: string]: number } = { node: 64 * 1024, lua: 4096, espruino: 100 };
/** A row without checkpoint readings and fewer timer samples than this says nothing about its peak. */
const MIN_SAMPLES = 5;

/**
 * Whether memory stays flat in message size: for each runtime and session
 * count, the largest message's peak may exceed the smallest's by at most
 * `slack` (a fraction of the smallest's peak) plus the runtime's noise.
 * When it does not, but the largest is within that bound of the next
 * smaller size, the verdict says so: a step between the small sizes (e.g. a
 * small message sent whole before a checkpoint, a large one still in
 * flight), then flat, is not growth with the message size.
 */
export function flatness(rows: MemoryRow[], slack = 0.5): string[] {
  const verdicts: string[] = [];
  const groups = new Map<string, MemoryRow[]>();
  for (const r of rows) {
    const key = `${r.runtime} x${r.sessions}`;
    groups.set(key, [...(groups.get(key) || []), r]);
  }
  for (const [key, group] of groups) {
    const sorted = [...group].sort((a, b) => a.bytes - b.bytes);
    const small = sorted[0];
    const next = sorted[sorted.length - 2];
    const large = sorted[sorted.length - 1];
    const noise = NOISE[small.runtime] ?? 4096;
    const within = (base: number, value: number) => value <= base * (1 + slack) + noise;
    for (const phase of ["smtp", "pop3"] as const) {
      const above = (r: MemoryRow) => r[phase].peak - r[phase].idle;
      const a = above(small);
      const b = above(large);
      let verdict = within(a, b) ? "flat" : "GROWS with message size";
      if (verdict !== "flat" && sorted.length > 2 && within(above(next), b)) {
        verdict = `a step from ${formatSize(small.bytes)} to ${formatSize(next.bytes)} (+${amount(above(next), next.unit)}), then flat`;
      }
      // Checkpoint readings see every row's sessions held at the same points; timer samples alone may miss short sessions.
      if (verdict !== "flat" && small[phase].checkpoints === 0 && small[phase].samples < MIN_SAMPLES) {
        verdict = `inconclusive: no checkpoint readings and only ${small[phase].samples} timer samples of the ${formatSize(small.bytes)} sessions`;
      }
      verdicts.push(`${key} ${phase.toUpperCase()}: ${formatSize(small.bytes)} +${amount(a, small.unit)} vs ${formatSize(large.bytes)} +${amount(b, large.unit)}: ${verdict}`);
    }
  }
  return verdicts;
}

export function sizesSection(sizes: BuildSize[]): string {
  return sizes.map((s) => `${s.target}:\n\n\`\`\`\n${s.lines.join("\n")}\n\`\`\``).join("\n\n");
}

const BEGIN = "<!-- bench:results:begin (written by make bench) -->";
const END = "<!-- bench:results:end -->";

/** Replaces the results section of BENCHMARKS.md, keeping the hand-written text around it. */
export function writeResults(file: string, results: string): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : `# Benchmarks\n\n${BEGIN}\n${END}\n`;
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const section = `${BEGIN}\n${results.trim()}\n${END}`;
  const updated = begin >= 0 && end > begin ? text.slice(0, begin) + section + text.slice(end + END.length) : `${text.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(file, updated);
}
