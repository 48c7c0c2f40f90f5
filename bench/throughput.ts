/**
 * Throughput side by side: the same SMTP and POP3 load against letterbox
 * (the simulator, as its own process) and against Postfix + Dovecot.
 *
 * SMTP is timed from the first connection until every message is in the
 * mailbox: for letterbox that is the 250 after DATA (the store commits, with
 * fsync, before answering); for Postfix it is when the last file appears in
 * the Maildir. POP3 is timed from the first connection to the last QUIT
 * answer of a loop that retrieves every message; the messages are then
 * deleted (untimed) so that each run starts from empty mailboxes.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { fetchMail, sendMail } from "./load";
import type { ReferenceSystem } from "./reference";
import { BENCH_USERS, freePort, letterboxConfig, sleep, waitForPort } from "./setup";

export interface Workload {
  label: string;
  /** Payload bytes per message (smtp-source -l). */
  bytes: number;
  /** Messages per run, split evenly over the sessions. */
  messages: number;
}

export interface Measurement {
  messagesPerSecond: number;
  megabytesPerSecond: number;
  /** Busy answers, tried again: SMTP 4xx to DATA, POP3 "-ERR [SYS/TEMP]" to RETR. */
  busy?: number;
}

export interface System {
  name: string;
  smtpPort: number;
  pop3Port: number;
  /** The web page's port (letterbox only). */
  httpPort?: number;
  /** Resolves once `count` messages are in each of the first `sessions` mailboxes. */
  settled(sessions: number, count: number): Promise<void>;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, "../..");

/** The simulator as a separate process, started the way a user starts it. */
export async function startLetterboxProcess(runtime: RuntimeName, dir: string): Promise<System> {
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, "config.json");
  fs.writeFileSync(configFile, JSON.stringify(letterboxConfig(), null, 2));
  const smtpPort = await freePort();
  const pop3Port = await freePort();
  const httpPort = await freePort();
  const args = [
    path.join(ROOT, "host/bin/letterbox.js"), "sim", "--runtime", runtime, "--config", configFile,
    "--data", path.join(dir, "card"), "--flash", path.join(dir, "flash"),
    "--smtp-port", String(smtpPort), "--pop3-port", String(pop3Port), "--http-port", String(httpPort),
  ];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await Promise.race([waitForPort(pop3Port, 60000), exited.then(() => Promise.reject(new Error(`letterbox sim (${runtime}) exited at start`)))]);
  return {
    name: `letterbox (${runtime})`,
    smtpPort,
    pop3Port,
    httpPort,
    settled: async () => {}, // the 250 after DATA is the commit
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

export function referenceSystem(reference: ReferenceSystem, timeoutMs = 120000): System {
  return {
    name: "Postfix + Dovecot",
    smtpPort: reference.smtpPort,
    pop3Port: reference.pop3Port,
    async settled(sessions, count) {
      const deadline = Date.now() + timeoutMs;
      while (BENCH_USERS.slice(0, sessions).some((u) => reference.delivered(u.name) < count)) {
        if (Date.now() > deadline) throw new Error(`Postfix did not deliver ${count} messages per mailbox within ${timeoutMs} ms`);
        await sleep(2);
      }
    },
    stop: async () => reference.stop(),
  };
}

export interface RunResult {
  smtp: Measurement;
  pop3: Measurement;
}

/** One run of a workload with `sessions` concurrent sessions. */
export async function runOnce(system: System, work: Workload, sessions: number): Promise<RunResult> {
  const perSession = Math.max(1, Math.round(work.messages / sessions));
  const total = perSession * sessions;
  const smtpStart = process.hrtime.bigint();
  const sent = await sendMail(system.smtpPort, sessions, perSession, work.bytes);
  await system.settled(sessions, perSession);
  const smtpSeconds = Number(process.hrtime.bigint() - smtpStart) / 1e9;

  const fetched = await fetchMail(system.pop3Port, sessions, false);
  const wrong = fetched.filter((f) => f.messages !== perSession);
  if (wrong.length > 0) throw new Error(`${system.name}: POP3 found ${wrong.map((f) => f.messages)} messages, expected ${perSession} per mailbox`);
  const popSeconds = (Math.max(...fetched.map((f) => f.endedAt)) - Math.min(...fetched.map((f) => f.startedAt))) / 1000;
  const popBytes = fetched.reduce((sum, f) => sum + f.bytes, 0);
  await fetchMail(system.pop3Port, sessions, true); // empty the mailboxes for the next run

  return {
    smtp: { messagesPerSecond: total / smtpSeconds, megabytesPerSecond: (total * work.bytes) / smtpSeconds / 1e6, busy: sent.deferred },
    pop3: {
      messagesPerSecond: total / popSeconds,
      megabytesPerSecond: popBytes / popSeconds / 1e6,
      busy: fetched.reduce((sum, f) => sum + f.busy, 0),
    },
  };
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function medianOf(runs: Measurement[]): Measurement {
  return {
    messagesPerSecond: median(runs.map((r) => r.messagesPerSecond)),
    megabytesPerSecond: median(runs.map((r) => r.megabytesPerSecond)),
    busy: runs.reduce((sum, r) => sum + (r.busy || 0), 0),
  };
}
