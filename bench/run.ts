/**
 * `make bench`: letterbox side by side with Postfix + Dovecot (throughput,
 * as ratios of medians), the core's memory per runtime, and the device
 * builds against their budgets. Prints the tables and, for the default run
 * (node runtime against the reference, memory of every runtime), writes them
 * into BENCHMARKS.md.
 *
 * Environment: BENCH_RUNS (runs per row, default 5), BENCH_RUNTIME (the
 * simulator runtime measured against the reference, default node),
 * BENCH_MEMORY_RUNTIMES (comma-separated, default every registered runtime),
 * BENCH_ONLY=memory (only the memory part: no Postfix/Dovecot, no device
 * builds; prints the memory section and leaves BENCHMARKS.md alone, whose
 * results section only a full run rewrites), BENCH_ONLY=espruino (only the
 * Espruino scenario, printed), BENCH_ONLY=web (only the web page's part:
 * API requests per second on the BENCH_RUNTIME runtime, memory per HTTP
 * session on the memory runtimes, the page's and the device builds' sizes;
 * written into BENCHMARKS.md's web section for the default runtimes, as a
 * full run does), BENCH_ONLY=imap (only IMAP: letterbox on BENCH_RUNTIME
 * against a private Dovecot, memory of the same rows on the memory
 * runtimes; written into BENCHMARKS.md's IMAP section for the default
 * runtimes; bench/imap-section.ts), ESPRUINO (a real Espruino interpreter: its figures beside
 * the emulated board's estimate; bench/espruino-memory.ts).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { espruinoMemorySection } from "./espruino-memory";
import { imapSection, stopImapSystems } from "./imap-section";
import { measureMemory, MemoryRow } from "./memory";
import { installReference, startReference } from "./reference";
import { flatness, memoryTable, sizesSection, ThroughputRow, throughputTable, webMemoryNotes, webMemoryTable, webThroughputTable, writeResults } from "./report";
import { BENCH_DOMAIN, BENCH_USERS, freePort, MAX_MESSAGE_BYTES, waitForPort } from "./setup";
import { BuildSize, deviceBuildSizes } from "./sizes";
import { measureWebMemory } from "./web-memory";
import { BEFORE_HTTP, buildGrowth, pageSize } from "./web-sizes";
import { measureWebThroughput } from "./web-throughput";
import { medianOf, referenceSystem, RunResult, runOnce, startLetterboxProcess, System, Workload } from "./throughput";

const ROOT = path.resolve(__dirname, "../..");
const KB = 1024;
const MB = 1024 * 1024;

const WORKLOADS: Workload[] = [
  // Enough messages that a run lasts tenths of a second, not milliseconds of scheduling noise.
  { label: "1 KB", bytes: KB, messages: 400 },
  { label: "100 KB", bytes: 100 * KB, messages: 100 },
  { label: "10 MB", bytes: 10 * MB, messages: 8 },
];
const SESSION_COUNTS = [1, 4];
const MEMORY_SIZES = [KB, MB, 10 * MB];

function log(line: string): void {
  console.log(`bench: ${line}`);
}

function firstLine(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: "utf8" });
  return ((r.stdout || "") + (r.stderr || "")).trim().split("\n")[0] || "?";
}

function machine(): string {
  const cpu = os.cpus()[0]?.model || "?";
  const disk = spawnSync("df", ["-hT", os.tmpdir()], { encoding: "utf8" }).stdout.trim().split("\n")[1] || "?";
  return [
    `- CPU: ${cpu}, ${os.cpus().length} cores (nproc ${firstLine("nproc", [])})`,
    `- Memory: ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `- OS: ${firstLine("uname", ["-srm"])}; Node ${process.version}`,
    `- Scratch file system (${os.tmpdir()}): \`${disk.replace(/\s+/g, " ")}\``,
    `- Reference: Postfix ${firstLine("postconf", ["-d", "-h", "mail_version"])}, Dovecot ${firstLine("dovecot", ["--version"])}`,
  ].join("\n");
}

/** Stops the reference daemons should the bench be interrupted. */
let stopReference: (() => void) | undefined;

async function measureThroughput(runtime: RuntimeName, runs: number, scratch: string): Promise<ThroughputRow[]> {
  const daemons = startReference({
    dir: path.join(scratch, "reference"),
    domain: BENCH_DOMAIN,
    users: BENCH_USERS,
    smtpPort: await freePort(),
    pop3Port: await freePort(),
    maxMessageBytes: MAX_MESSAGE_BYTES,
  });
  stopReference = daemons.stop;
  const reference = referenceSystem(daemons);
  let letterbox: System | undefined;
  try {
    await waitForPort(reference.smtpPort);
    await waitForPort(reference.pop3Port);
    letterbox = await startLetterboxProcess(runtime, path.join(scratch, "letterbox"));
    const rows: ThroughputRow[] = [];
    for (const work of WORKLOADS) {
      for (const sessions of SESSION_COUNTS) {
        const results: { [side: string]: RunResult[] } = { letterbox: [], reference: [] };
        for (let run = 0; run < runs; run++) {
          // Alternate who goes first, so that neither always meets a warm or a cold disk cache.
          const order: [string, System][] = [["letterbox", letterbox], ["reference", reference]];
          if (run % 2 === 1) order.reverse();
          for (const [side, system] of order) results[side].push(await runOnce(system, work, sessions));
        }
        const messages = Math.max(1, Math.round(work.messages / sessions)) * sessions;
        for (const protocol of ["SMTP", "POP3"] as const) {
          const key = protocol === "SMTP" ? "smtp" : "pop3";
          const row: ThroughputRow = {
            protocol,
            workload: work.label,
            sessions,
            messages,
            letterbox: medianOf(results.letterbox.map((r) => r[key])),
            reference: medianOf(results.reference.map((r) => r[key])),
          };
          rows.push(row);
          log(`${protocol} ${messages} x ${work.label}, ${sessions} session(s): letterbox ${row.letterbox.messagesPerSecond.toFixed(1)} msg/s, reference ${row.reference.messagesPerSecond.toFixed(1)} msg/s`);
        }
      }
    }
    // SMTP rows first, then POP3.
    return rows.sort((a, b) => (a.protocol === b.protocol ? 0 : a.protocol === "SMTP" ? -1 : 1));
  } finally {
    if (letterbox) await letterbox.stop();
    await reference.stop();
    stopReference = undefined;
  }
}

/** The memory section of the results: the table and the flatness verdicts. */
function memorySection(memory: MemoryRow[]): string {
  return [
    "### Memory of the core per runtime",
    "",
    "Per row: N SMTP sessions (one per mailbox) each receiving one message, then N POP3 sessions retrieving and deleting it; " +
      "read at checkpoints with every session held (SMTP: mid-DATA, after 250; POP3: logged in, mid-RETR, after DELE) and on a timer in between.",
    "",
    memoryTable(memory),
    "",
    "Flat in message size (largest vs smallest message; allowed: +50% plus noise: node 64 KB, lua 4 KB, espruino 100 variables):",
    "",
    ...flatness(memory).map((v) => `- ${v}`),
  ].join("\n");
}

async function measureAllMemory(runtimes: RuntimeName[], scratch: string): Promise<MemoryRow[]> {
  const memory: MemoryRow[] = [];
  for (const name of runtimes) memory.push(...(await measureMemory(name, MEMORY_SIZES, SESSION_COUNTS, scratch, log)));
  return memory;
}

/** BENCH_ONLY=memory: the memory part alone, printed; BENCHMARKS.md keeps the last full run. */
async function memoryOnly(runtimes: RuntimeName[]): Promise<void> {
  const started = Date.now();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-bench-"));
  try {
    const section = memorySection(await measureAllMemory(runtimes, scratch));
    const espruino = runtimes.indexOf("espruino") >= 0 ? await espruinoMemorySection(process.env.ESPRUINO, log) : "";
    console.log("\n" + section + "\n\n" + espruino + "\n");
    log(`memory only (${((Date.now() - started) / 60000).toFixed(1)} min); BENCHMARKS.md not written`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The web page's part (issue 18): API requests per second on `runtime`,
 * memory per HTTP session on each memory runtime, the page's compressed
 * size, the device builds (`sizes`, built here when not given) and their
 * growth since before the HTTP service.
 */
async function webSection(runtime: RuntimeName, runs: number, memoryRuntimes: RuntimeName[], scratch: string, sizes?: BuildSize[]): Promise<string> {
  const started = Date.now();
  const load = os.loadavg().map((l) => l.toFixed(1)).join(" ");
  log(`web: API requests per second, ${runtime} runtime, ${runs} runs per row`);
  const throughput = await measureWebThroughput(runtime, runs, scratch, log);
  const memory = [];
  for (const name of memoryRuntimes) memory.push(await measureWebMemory(name, MEMORY_SIZES, SESSION_COUNTS, scratch, log));
  log("web: page and device builds");
  const page = await pageSize(scratch);
  const builds = sizes || (await deviceBuildSizes(scratch));
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  return [
    `## Web page (issue 18): latest results (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${minutes} min)`,
    "",
    `Machine: ${os.cpus()[0]?.model || "?"}, ${os.cpus().length} cores, Node ${process.version}; loopback only; ` +
      `load average at the start ${load}, at the end ${os.loadavg().map((l) => l.toFixed(1)).join(" ")} (1, 5, 15 min: other work on the machine slows the rows).`,
    "",
    `### API requests per second (simulator, ${runtime} runtime)`,
    "",
    `Medians of ${runs} runs per row. Each client is a node:http Agent keeping one connection alive, logged in, sending its requests one after ` +
      `another; the requests of a run are split over the clients, and a run stops early at its time limit. The list mailbox holds ` +
      `1,000 messages of 1 KB (their header lines from the store's cache); the message is 1 MB, streamed from the card. ` +
      "No reference server: these figures stand alone (the desktop's speed, not a board's).",
    "",
    webThroughputTable(throughput),
    "",
    "### Memory per HTTP session",
    "",
    "Per row: N keep-alive connections logged in to the same mailbox (60 messages of 1 KB, one of 1 MB, one of 10 MB), each listing a page of 50 " +
      "and opening the row's message, read at checkpoints with every session held (logged in and idle; list answered, client not reading; " +
      "message answered, start of the body read, client not reading) and on a timer in between; then the connections are dropped mid-answer " +
      "and the log-ins ended. Figures above the row's idle. What is read: " +
      "node: the V8 heap of the simulator's node runtime; lua: the Lua 5.3 (LUA_32BITS) heap of the lua runtime; " +
      "espruino: the emulated Espruino board's variable estimate (14 bytes each). A message that loopback TCP takes in whole before the checkpoint " +
      "(0 files open) is not held mid-stream: only the rows with a file open show a stream in flight.",
    "",
    webMemoryTable(memory),
    "",
    ...webMemoryNotes(memory).map((n) => `- ${n}`),
    "",
    "### Build sizes",
    "",
    "The page (`make web`, dist/web, gzip -9, stored on the card):",
    "",
    "```",
    ...page.report,
    "```",
    "",
    sizesSection(builds),
    "",
    `Growth of the device builds since ${BEFORE_HTTP.commit} (the last commit before the HTTP service; its figures measured once, bench/web-sizes.ts):`,
    "",
    ...buildGrowth(builds).map((l) => `- ${l}`),
  ].join("\n");
}

/** BENCH_ONLY=web: the web part alone, printed, and written into BENCHMARKS.md's web section for the default runtimes. */
async function webOnly(runtime: RuntimeName, runs: number, memoryRuntimes: RuntimeName[]): Promise<void> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-bench-"));
  try {
    const section = await webSection(runtime, runs, memoryRuntimes, scratch);
    console.log("\n" + section + "\n");
    if (runtime === "node" && RUNTIME_NAMES.every((name) => memoryRuntimes.indexOf(name) >= 0)) {
      writeResults(path.join(ROOT, "BENCHMARKS.md"), section, "web");
      log("web section written to BENCHMARKS.md");
    } else {
      log("BENCHMARKS.md not written: it records the default run (node runtime, memory of every runtime)");
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** BENCH_ONLY=imap: the IMAP part alone, printed, and written into BENCHMARKS.md's IMAP section for the default runtimes. */
async function imapOnly(runtime: RuntimeName, runs: number, memoryRuntimes: RuntimeName[]): Promise<void> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-bench-"));
  fs.chmodSync(scratch, 0o755); // Dovecot's unprivileged users work below it
  try {
    const section = await imapSection(runtime, runs, memoryRuntimes, scratch, log);
    console.log("\n" + section + "\n");
    if (runtime === "node" && RUNTIME_NAMES.every((name) => memoryRuntimes.indexOf(name) >= 0)) {
      writeResults(path.join(ROOT, "BENCHMARKS.md"), section, "imap");
      log("IMAP section written to BENCHMARKS.md");
    } else {
      log("BENCHMARKS.md not written: it records the default run (node runtime, memory of every runtime)");
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const runs = Number(process.env.BENCH_RUNS || 5);
  const runtime = (process.env.BENCH_RUNTIME || "node") as RuntimeName;
  const memoryRuntimes = (process.env.BENCH_MEMORY_RUNTIMES ? process.env.BENCH_MEMORY_RUNTIMES.split(",") : RUNTIME_NAMES) as RuntimeName[];
  const only = process.env.BENCH_ONLY;
  if (only === "memory") return memoryOnly(memoryRuntimes);
  if (only === "espruino") return void console.log("\n" + (await espruinoMemorySection(process.env.ESPRUINO, log)) + "\n");
  if (only === "web") return webOnly(runtime, runs, memoryRuntimes);
  if (only === "imap") return imapOnly(runtime, runs, memoryRuntimes);
  if (only) throw new Error(`BENCH_ONLY=${only}: only "memory", "espruino", "web" and "imap" are known`);
  installReference(log);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-bench-"));
  fs.chmodSync(scratch, 0o755); // the daemons' unprivileged users work below it
  try {
    log(`throughput: letterbox (${runtime} runtime) and Postfix + Dovecot, ${runs} runs per row`);
    const throughput = await measureThroughput(runtime, runs, scratch);
    const memory = await measureAllMemory(memoryRuntimes, scratch);
    const espruino = memoryRuntimes.indexOf("espruino") >= 0 ? await espruinoMemorySection(process.env.ESPRUINO, log) : "";
    log("device builds");
    const sizes = await deviceBuildSizes(scratch);
    const web = await webSection(runtime, runs, memoryRuntimes, scratch, sizes);
    const imap = await imapSection(runtime, runs, memoryRuntimes, scratch, log);

    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    const results = [
      `## Latest results (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${minutes} min)`,
      "",
      "Machine:",
      "",
      machine(),
      "",
      `### Throughput: letterbox simulator (${runtime} runtime) / Postfix + Dovecot`,
      "",
      `Medians of ${runs} runs per row; ratios below 1 (bold) are rows where letterbox is slower.`,
      "",
      throughputTable(throughput, "letterbox"),
      "",
      memorySection(memory),
      "",
      ...(espruino ? [espruino, ""] : []),
      "### Device builds against their budgets",
      "",
      sizesSection(sizes),
    ].join("\n");
    console.log("\n" + results + "\n\n" + web + "\n\n" + imap + "\n");
    // BENCHMARKS.md records the default measurement, which its text explains; other runs are printed only.
    const standard = runtime === "node" && RUNTIME_NAMES.every((name) => memoryRuntimes.indexOf(name) >= 0);
    if (standard) {
      writeResults(path.join(ROOT, "BENCHMARKS.md"), results);
      writeResults(path.join(ROOT, "BENCHMARKS.md"), web, "web");
      writeResults(path.join(ROOT, "BENCHMARKS.md"), imap, "imap");
      log(`results written to BENCHMARKS.md (${minutes} min)`);
    } else {
      log(`done (${minutes} min); BENCHMARKS.md not written: it records the default run (node runtime, memory of every runtime)`);
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

// Ctrl-C: no daemon outlives the bench (the simulator and load tools get the signal themselves).
process.once("SIGINT", () => {
  log("interrupted; stopping Postfix and Dovecot");
  if (stopReference) stopReference();
  if (stopImapSystems) void stopImapSystems().finally(() => process.exit(130));
  else process.exit(130);
});

main().catch((e) => {
  console.error(`bench: ${(e as Error).stack || e}`);
  process.exit(1);
});
