/** The bench's tables (Markdown, printed and written into BENCHMARKS.md). */
import * as fs from "node:fs";
import type { MemoryRow } from "./memory";
import type { BuildSize } from "./sizes";
import type { Measurement } from "./throughput";
import type { WebMemory } from "./web-memory";
import type { WebThroughputRow } from "./web-throughput";

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

export function amount(value: number, unit: MemoryRow["unit"]): string {
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
export const NOISE: { [runtime: string]: number } = { node: 64 * 1024, lua: 4096, espruino: 100 };
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

export function webThroughputTable(rows: WebThroughputRow[]): string {
  const lines = ["| Request | Clients (keep-alive) | Requests per run (median) | req/s | MB/s |", "|---|---:|---:|---:|---:|"];
  for (const r of rows) lines.push(`| ${r.workload} | ${r.sessions} | ${r.requests} | ${fixed(r.requestsPerSecond, 1)} | ${fixed(r.megabytesPerSecond, 2)} |`);
  return lines.join("\n");
}

/** Where each runtime's memory figure comes from. */
export const MEMORY_SOURCE: { [runtime: string]: string } = {
  node: "V8 heap used after a full collection, the simulator's node runtime (interpreted: --no-opt)",
  lua: "live Lua heap of the lua runtime's Lua 5.3 VM built with LUA_32BITS (the board's numbers), compiled code left out",
  espruino: "variables the emulated Espruino board keeps (sim/espruino/memory.ts: an estimate, calibrated on the real interpreter), 14 bytes each",
};

/** The web memory rows: idle, then each checkpoint and the phase's peak above that row's idle. */
export function webMemoryTable(memories: WebMemory[]): string {
  const lines = [
    "| Runtime | Message opened | Sessions | Idle (mailbox filled) | Logged in, idle | Mid-list | Mid-message | Peak (timer samples too) | Message files open mid-message |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const m of memories) {
    for (const r of m.rows) {
      const mark = (name: string) => {
        const found = r.marks.find((k) => k.checkpoint === name);
        return found ? `+${amount(found.value - r.idle, r.unit)}` : "-";
      };
      lines.push(
        `| ${r.runtime} | ${formatSize(r.bytes)} | ${r.sessions} | ${amount(r.idle, r.unit)} | ${mark("logged in")} | ${mark("mid-list")} | ${mark("mid-message")} | ` +
          `+${amount(r.peak - r.idle, r.unit)} | ${r.filesOpen} |`,
      );
    }
  }
  return lines.join("\n");
}

/** Idle readings and per-session costs (4 sessions less 1, over 3) per runtime, and whether mid-message stays flat in message size. */
export function webMemoryNotes(memories: WebMemory[], slack = 0.5): string[] {
  const notes: string[] = [];
  for (const m of memories) {
    const at = (r: WebMemory["rows"][number], name: string) => (r.marks.find((k) => k.checkpoint === name)?.value ?? r.idle) - r.idle;
    notes.push(`${m.runtime} (${MEMORY_SOURCE[m.runtime] || m.unit}): idle after boot ${amount(m.boot, m.unit)}; with the mailbox filled ${amount(m.filled, m.unit)}`);
    const sizes = [...new Set(m.rows.map((r) => r.bytes))].sort((a, b) => a - b);
    const largest = sizes[sizes.length - 1];
    const one = m.rows.find((r) => r.sessions === 1 && r.bytes === largest);
    const four = m.rows.find((r) => r.sessions === 4 && r.bytes === largest);
    if (one && four) {
      const per = (name: string) => amount(Math.round((at(four, name) - at(one, name)) / 3), m.unit);
      notes.push(`${m.runtime} per session (4 sessions less 1, over 3; ${formatSize(largest)} rows): logged in ${per("logged in")}, mid-list ${per("mid-list")}, mid-message ${per("mid-message")}`);
    }
    const noise = NOISE[m.runtime] ?? 4096;
    for (const sessions of [...new Set(m.rows.map((r) => r.sessions))]) {
      const small = m.rows.find((r) => r.sessions === sessions && r.bytes === sizes[0]);
      const large = m.rows.find((r) => r.sessions === sessions && r.bytes === largest);
      if (!small || !large || small === large) continue;
      const a = at(small, "mid-message");
      const b = at(large, "mid-message");
      const within = (base: number, value: number) => value <= base * (1 + slack) + noise;
      let verdict = within(a, b) ? "flat" : "GROWS with message size";
      // A small message gone out whole (its file closed) against a large one in flight is a step, not growth, when the sizes in flight agree.
      const next = m.rows.find((r) => r.sessions === sessions && r.bytes === sizes[sizes.length - 2]);
      if (verdict !== "flat" && next && next !== small && next.filesOpen > 0 && within(at(next, "mid-message"), b)) {
        verdict = `a step from ${formatSize(small.bytes)} to ${formatSize(next.bytes)} (+${amount(at(next, "mid-message"), m.unit)}, files open: ${next.filesOpen}), then flat`;
      }
      notes.push(
        `${m.runtime} x${sessions} mid-message: ${formatSize(small.bytes)} +${amount(a, m.unit)} (files open: ${small.filesOpen}) vs ${formatSize(large.bytes)} +${amount(b, m.unit)} (files open: ${large.filesOpen}): ${verdict}`,
      );
    }
  }
  return notes;
}

/** The generated sections of BENCHMARKS.md, each between its markers. */
const MARKERS = {
  results: ["<!-- bench:results:begin (written by make bench) -->", "<!-- bench:results:end -->"],
  web: ["<!-- bench:web:begin (written by make bench and BENCH_ONLY=web make bench) -->", "<!-- bench:web:end -->"],
  imap: ["<!-- bench:imap:begin (written by make bench and BENCH_ONLY=imap make bench) -->", "<!-- bench:imap:end -->"],
};

/** Replaces one generated section of BENCHMARKS.md (appended when missing), keeping the hand-written text around it. */
export function writeResults(file: string, results: string, name: keyof typeof MARKERS = "results"): void {
  const [BEGIN, END] = MARKERS[name];
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : `# Benchmarks\n\n${BEGIN}\n${END}\n`;
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const section = `${BEGIN}\n${results.trim()}\n${END}`;
  const updated = begin >= 0 && end > begin ? text.slice(0, begin) + section + text.slice(end + END.length) : `${text.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(file, updated);
}
