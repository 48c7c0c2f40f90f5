/**
 * IMAP side by side (issue 17): the same IMAP work against letterbox (the
 * simulator as its own process, as a user starts it) and against Dovecot's
 * IMAP on this machine (a private instance, test/helpers/dovecot.ts).
 *
 * Rows, each with 1 and 4 clients (every client its own connection, logged
 * in and connected before the clock starts; all on the same folder):
 *   SELECT INBOX of a folder of 1,000 and of 10,000 messages, repeated;
 *   a Thunderbird-style header sync, `UID FETCH 1:* (UID RFC822.SIZE FLAGS
 *   BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)])`, on both;
 *   BODY.PEEK[] of a 100 KB and of a 10 MB message (PEEK: the rows measure
 *   reading, not the flag write a first BODY[] makes).
 * A run's time is from the first command to the last answer of every
 * client; a row's figure is the median of the runs. Both sides hold the same
 * messages: letterbox gets them over SMTP (as mail arrives), Dovecot as
 * Maildir files with trace headers of the same shape and length; before the
 * first run each side has answered every row's command once (Dovecot builds
 * its index and cache then).
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { startDovecot } from "../test/helpers/dovecot";
import { BODY_SIZES, bodyMessage, deliverAll, findBodyUids, HEADER_SYNC, imapBenchConfig, IMAP_USERS, KB, listMessage, MB } from "./imap-setup";
import { ImapWire } from "./imap-wire";
import { BENCH_DOMAIN, freePort, SENDER, waitForPort } from "./setup";

export interface ImapRowSpec {
  label: string;
  user: keyof typeof IMAP_USERS;
  /** The command each client repeats (after SELECT INBOX, unless it is the SELECT). */
  command: string | ((uids: Map<number, number>) => string);
  /** Times each client sends it at least per run; it goes on sending until the run has lasted MIN_RUN_SECONDS. */
  repeat: number;
}

/** A run lasts at least this long, so that the fast side's figures are not scheduling noise. */
const MIN_RUN_SECONDS = 0.5;

export function imapRows(): ImapRowSpec[] {
  return [
    { label: "SELECT, 1,000 messages", user: "small", command: "SELECT INBOX", repeat: 5 },
    { label: "SELECT, 10,000 messages", user: "large", command: "SELECT INBOX", repeat: 3 },
    { label: "header sync, 1,000 messages", user: "small", command: HEADER_SYNC, repeat: 2 },
    { label: "header sync, 10,000 messages", user: "large", command: HEADER_SYNC, repeat: 1 },
    { label: "BODY.PEEK[] of 100 KB", user: "bodies", command: (uids) => `UID FETCH ${uids.get(100 * KB)} BODY.PEEK[]`, repeat: 5 },
    { label: "BODY.PEEK[] of 10 MB", user: "bodies", command: (uids) => `UID FETCH ${uids.get(10 * MB)} BODY.PEEK[]`, repeat: 1 },
  ];
}

export const IMAP_CLIENT_COUNTS = [1, 4];

export interface ImapSystem {
  name: string;
  imapPort: number;
  /** The UID of the body message of each size in BODY_SIZES. */
  bodyUids: Map<number, number>;
  stop(): Promise<void>;
}

export interface ImapRun {
  seconds: number;
  commands: number;
  octets: number;
}

export interface ImapRowResult {
  label: string;
  clients: number;
  /** Commands per run (medians of each side). */
  commands: { letterbox: number; reference: number };
  letterbox: { perSecond: number; megabytesPerSecond: number };
  reference: { perSecond: number; megabytesPerSecond: number };
}

/** The trace headers letterbox puts on a delivery, of the same shape (for Dovecot's copies). */
function traceHeaders(user: string, i: number): string {
  const id = (0x1000 + i).toString(16).padStart(8, "0");
  return (
    `Return-Path: <${SENDER}>\r\nReceived: from client.example ([127.0.0.1])\r\n\tby letterbox.${BENCH_DOMAIN} (letterbox) with ESMTP id ${id}\r\n` +
    `\tfor <${user}@${BENCH_DOMAIN}>;\r\n\tThu, 01 Jan 2026 00:00:00 +0000\r\n`
  );
}

/** Writes the messages as Maildir files (new/, as a delivery leaves them), owned by the mail user. */
function writeMaildir(dir: string, user: string, messages: (i: number) => Buffer, count: number): void {
  for (const sub of ["cur", "new", "tmp"]) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, "new", `${1767225600 + i}.M${i}P1.bench`);
    fs.writeFileSync(file, Buffer.concat([Buffer.from(traceHeaders(user, i), "latin1"), messages(i)]));
    fs.chownSync(file, 65534, 65534);
  }
  for (const d of [dir, ...["cur", "new", "tmp"].map((s) => path.join(dir, s))]) fs.chownSync(d, 65534, 65534);
}

/** The simulator as its own process with IMAP, its mailboxes filled over SMTP. */
export async function startLetterboxImap(runtime: RuntimeName, dir: string, log: (line: string) => void): Promise<ImapSystem> {
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, "config.json");
  fs.writeFileSync(configFile, JSON.stringify(imapBenchConfig(), null, 2));
  const ports = { smtp: await freePort(), pop3: await freePort(), http: await freePort(), imap: await freePort() };
  const root = path.resolve(__dirname, "../..");
  const args = [
    path.join(root, "host/bin/letterbox.js"), "sim", "--runtime", runtime, "--config", configFile,
    "--data", path.join(dir, "card"), "--flash", path.join(dir, "flash"),
    "--smtp-port", String(ports.smtp), "--pop3-port", String(ports.pop3), "--http-port", String(ports.http), "--imap-port", String(ports.imap),
  ];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  try {
    await Promise.race([waitForPort(ports.imap, 60000), exited.then(() => Promise.reject(new Error(`letterbox sim (${runtime}) exited at start`)))]);
    const started = Date.now();
    for (const key of ["small", "large"] as const) {
      const u = IMAP_USERS[key];
      await deliverAll(ports.smtp, u.name, (i) => listMessage(i), u.messages, 4);
    }
    await deliverAll(ports.smtp, IMAP_USERS.bodies.name, (i) => bodyMessage(BODY_SIZES[i]), BODY_SIZES.length, 1);
    log(`imap: letterbox (${runtime}) filled over SMTP in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return { name: `letterbox (${runtime})`, imapPort: ports.imap, bodyUids: await findBodyUids(ports.imap), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A private Dovecot with the same mailboxes, written as Maildir files. */
export async function startDovecotImap(dir: string): Promise<ImapSystem & { version: string }> {
  const users = Object.values(IMAP_USERS);
  const dovecot = await startDovecot(dir, users.map((u) => ({ name: u.name, password: u.password })));
  try {
    for (const key of ["small", "large"] as const) {
      const u = IMAP_USERS[key];
      writeMaildir(dovecot.mailDir(u.name), u.name, (i) => listMessage(i), u.messages);
    }
    writeMaildir(dovecot.mailDir(IMAP_USERS.bodies.name), IMAP_USERS.bodies.name, (i) => bodyMessage(BODY_SIZES[i]), BODY_SIZES.length);
    for (const u of users) fs.chownSync(dovecot.mailDir(u.name), 65534, 65534);
    return { name: dovecot.version, version: dovecot.version, imapPort: dovecot.imapPort, bodyUids: await findBodyUids(dovecot.imapPort), stop: async () => dovecot.stop() };
  } catch (e) {
    dovecot.stop();
    throw e;
  }
}

// ---- running the rows ----

/** One run of a row: `clients` connections, each SELECTs then repeats the command; timed from the first command. */
export async function runImapRow(system: ImapSystem, row: ImapRowSpec, clients: number): Promise<ImapRun> {
  const u = IMAP_USERS[row.user];
  const command = typeof row.command === "string" ? row.command : row.command(system.bodyUids);
  const wires: ImapWire[] = [];
  try {
    for (let c = 0; c < clients; c++) {
      const wire = await ImapWire.login(system.imapPort, u.name, u.password);
      wires.push(wire);
      if (command !== "SELECT INBOX") await wire.command("SELECT INBOX");
    }
    let octets = 0;
    let commands = 0;
    const start = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
    await Promise.all(
      wires.map(async (wire) => {
        for (let i = 0; i < row.repeat || elapsed() < MIN_RUN_SECONDS; i++) {
          const answer = await wire.command(command);
          octets += answer.octets;
          commands++;
        }
      }),
    );
    return { seconds: elapsed(), commands, octets };
  } finally {
    for (const w of wires) await w.logout().catch(() => w.destroy());
  }
}

/** Every row's command twice on a system, untimed: Dovecot indexes, caches and moves new/ to cur/; both sides warm their file caches. */
export async function warmUp(system: ImapSystem): Promise<void> {
  const wire = async (user: keyof typeof IMAP_USERS) => ImapWire.login(system.imapPort, IMAP_USERS[user].name, IMAP_USERS[user].password);
  for (const row of imapRows()) {
    for (let i = 0; i < 2; i++) {
      const w = await wire(row.user);
      const command = typeof row.command === "string" ? row.command : row.command(system.bodyUids);
      if (command !== "SELECT INBOX") await w.command("SELECT INBOX");
      await w.command(command);
      await w.logout();
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Every row with 1 and 4 clients, `runs` times, alternating which side goes first. */
export async function measureImapRows(letterbox: ImapSystem, reference: ImapSystem, runs: number, log: (line: string) => void): Promise<ImapRowResult[]> {
  const results: ImapRowResult[] = [];
  for (const row of imapRows()) {
    for (const clients of IMAP_CLIENT_COUNTS) {
      const got: { [side: string]: ImapRun[] } = { letterbox: [], reference: [] };
      for (let run = 0; run < runs; run++) {
        const order: [string, ImapSystem][] = [["letterbox", letterbox], ["reference", reference]];
        if (run % 2 === 1) order.reverse();
        for (const [side, system] of order) got[side].push(await runImapRow(system, row, clients));
      }
      const figure = (r: ImapRun[]) => ({
        perSecond: median(r.map((x) => x.commands / x.seconds)),
        megabytesPerSecond: median(r.map((x) => x.octets / x.seconds / 1e6)),
      });
      const commands = { letterbox: median(got.letterbox.map((r) => r.commands)), reference: median(got.reference.map((r) => r.commands)) };
      const result: ImapRowResult = { label: row.label, clients, commands, letterbox: figure(got.letterbox), reference: figure(got.reference) };
      results.push(result);
      log(`imap: ${row.label}, ${clients} client(s): letterbox ${result.letterbox.perSecond.toFixed(2)}/s, Dovecot ${result.reference.perSecond.toFixed(2)}/s`);
    }
  }
  return results;
}

export function imapTable(rows: ImapRowResult[], letterboxName: string, referenceName: string): string {
  const lines = [
    `| Work | Clients | Commands per run (letterbox / Dovecot) | ${letterboxName} per s | ${referenceName} per s | ${letterboxName} MB/s | ${referenceName} MB/s | letterbox / Dovecot |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const x = r.letterbox.perSecond / r.reference.perSecond;
    const bold = x >= 1 ? "" : "**";
    const per = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
    lines.push(
      `| ${r.label} | ${r.clients} | ${r.commands.letterbox} / ${r.commands.reference} | ${per(r.letterbox.perSecond)} | ${per(r.reference.perSecond)} | ` +
        `${r.letterbox.megabytesPerSecond.toFixed(2)} | ${r.reference.megabytesPerSecond.toFixed(2)} | ${bold}${x.toFixed(2)}${bold} |`,
    );
  }
  return lines.join("\n");
}
