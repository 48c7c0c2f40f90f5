/**
 * The IMAP part of `make bench` (BENCH_ONLY=imap runs it alone): letterbox
 * against Dovecot's IMAP on this machine (imap-bench.ts), and memory of the
 * same rows per runtime (imap-memory.ts), as one section of BENCHMARKS.md.
 */
import * as os from "node:os";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { IMAP_CLIENT_COUNTS, imapTable, measureImapRows, startDovecotImap, startLetterboxImap, warmUp, ImapSystem } from "./imap-bench";
import { measureImapMemory, ImapMemory } from "./imap-memory";
import { HEADER_SYNC } from "./imap-setup";
import { amount } from "./report";

function memoryTable(all: ImapMemory[]): string {
  const lines = [
    "| Runtime | Work | Clients | Idle (mailboxes filled) | Peak above idle | Readings at checkpoints + on the timer |",
    "|---|---|---:|---:|---:|---:|",
  ];
  for (const m of all) {
    for (const r of m.rows) {
      lines.push(`| ${m.runtime} | ${r.label} | ${r.clients} | ${amount(r.idle, m.unit)} | ${amount(r.peak - r.idle, m.unit)} | ${r.marks.length} + ${r.samples} |`);
    }
  }
  return lines.join("\n");
}

/** Stops whatever the section started should the bench be interrupted. */
export let stopImapSystems: (() => Promise<void>) | undefined;

export async function imapSection(runtime: RuntimeName, runs: number, memoryRuntimes: RuntimeName[], scratch: string, log: (line: string) => void): Promise<string> {
  const started = Date.now();
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(" ");
  const loadAtStart = load();
  log(`imap: letterbox (${runtime} runtime) and Dovecot, ${runs} runs per row`);
  const systems: ImapSystem[] = [];
  stopImapSystems = async () => {
    for (const s of systems.splice(0)) await s.stop();
  };
  let table: string;
  let dovecotVersion: string;
  try {
    const dovecot = await startDovecotImap(path.join(scratch, "imap-dovecot"));
    systems.push(dovecot);
    dovecotVersion = dovecot.version;
    const letterbox = await startLetterboxImap(runtime, path.join(scratch, "imap-letterbox"), log);
    systems.push(letterbox);
    for (const s of systems) await warmUp(s);
    table = imapTable(await measureImapRows(letterbox, dovecot, runs, log), `letterbox (${runtime})`, "Dovecot");
  } finally {
    await stopImapSystems();
    stopImapSystems = undefined;
  }
  const memory: ImapMemory[] = [];
  for (const name of memoryRuntimes) memory.push(await measureImapMemory(name, IMAP_CLIENT_COUNTS, scratch, log));
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  return [
    `## IMAP (issue 17): latest results (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${minutes} min)`,
    "",
    `Machine: ${os.cpus()[0]?.model || "?"}, ${os.cpus().length} cores, Node ${process.version}; loopback only; ` +
      `load average at the start ${loadAtStart}, at the end ${load()} (1, 5, 15 min: other work on the machine slows the rows).`,
    "",
    `### letterbox simulator (${runtime} runtime) / ${dovecotVersion}`,
    "",
    `Medians of ${runs} runs per row. Each client is its own connection, logged in (and the folder selected) before the clock starts; ` +
      "all clients of a row work on the same folder and each repeats the row's command until the run has lasted at least 0.5 s. " +
      "Per s: commands answered per second, all clients together; MB/s: octets of the answers. The folders hold messages of 3 KB " +
      "(headers a real mail has, a text body); letterbox received them over SMTP, Dovecot (a private instance, Maildir, its index " +
      "built by the untimed first pass) has them as files with trace headers of the same shape. The header sync is " +
      `\`${HEADER_SYNC}\` (what Thunderbird sends); BODY.PEEK[] rather than BODY[], so the rows measure reading, not the one flag write a first BODY[] makes. ` +
      "Ratios below 1 (bold) are rows where letterbox is slower. The desktop's speed, not a board's.",
    "",
    table,
    "",
    "### Memory per runtime for the same rows",
    "",
    "Per row: N clients logged in to the row's mailbox (folder selected), each sending the row's command once; read at checkpoints with " +
      "every client held (logged in; each client half-way through a message of 64 KB or more, its reading paused; answered) and on the " +
      "probe's timer in between. Idle: the reading before the row (mailboxes filled, no connection). The folder of 10,000 messages on the " +
      "node runtime only (filling it over SMTP on the emulated boards takes too long for a bench). What is read: node: the V8 heap of the " +
      "simulator's node runtime; lua: the Lua 5.3 (LUA_32BITS) heap of the lua runtime; espruino: the emulated Espruino board's variable " +
      "estimate (14 bytes each).",
    "",
    memoryTable(memory),
    "",
    ...memory.map((m) => `- ${m.runtime}: ${amount(m.boot, m.unit)} after boot, ${amount(m.filled, m.unit)} with the mailboxes filled (over SMTP in ${m.fillMinutes.toFixed(1)} min).`),
  ].join("\n");
}
