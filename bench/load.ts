/**
 * The load tools, as separate processes so that they weigh on neither
 * server: Postfix's smtp-source for SMTP and bench/pop3-fetch.ts for POP3.
 * A session count of N means N processes at once, each with its own
 * mailbox (user1..userN).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { FetchResult } from "./pop3-fetch";
import { BENCH_DOMAIN, BENCH_USERS, SENDER, sleep } from "./setup";

const SMTP_SOURCE_DIRS = ["/usr/sbin", "/usr/bin", "/usr/local/sbin"];

export function smtpSourcePath(): string {
  for (const dir of SMTP_SOURCE_DIRS) {
    const file = path.join(dir, "smtp-source");
    if (fs.existsSync(file)) return file;
  }
  throw new Error("smtp-source not found (it comes with Debian's postfix package)");
}

function runProcess(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve({ stdout: out, stderr: err });
      else reject(new Error(`${path.basename(command)} ${args.join(" ")} exited with ${code}: ${err.trim() || out.trim()}`));
    });
  });
}

/** The smtp-source command line sending `messages` messages of `bytes` payload, one after another, to `user`. */
export function smtpSourceArgs(port: number, user: string, messages: number, bytes: number): string[] {
  // -d: one connection for all of this session's messages, as a relay with a queue would do.
  // -A: a temporary rejection skips the message instead of ending the session (sendMail sends it again).
  return ["-A", "-d", "-m", String(messages), "-l", String(bytes), "-f", SENDER, "-t", `${user}@${BENCH_DOMAIN}`, "-M", "client.example", `127.0.0.1:${port}`];
}

/** Messages smtp-source reports as rejected (with -A it warns once per message and goes on). */
export function rejectedMessages(stderr: string): { count: number; replies: string[] } {
  const replies = stderr.split("\n").filter((l) => /warning: .*rejected: [45]\d\d /.test(l)).map((l) => l.replace(/^.*rejected: /, ""));
  const fatal = replies.find((r) => r.startsWith("5"));
  if (fatal) throw new Error(`the server refused a message for good: ${fatal}`);
  return { count: replies.length, replies };
}

const BUSY_PAUSE_MS = 20;
const MAX_DEFERRED = 1000;

export interface SendResult {
  seconds: number;
  /** Messages or sessions the server answered with a temporary failure (4xx), tried again at once as a sender would later. */
  deferred: number;
}

/**
 * Sends `perSession` messages in each of `sessions` concurrent SMTP sessions
 * and resolves when every one got its 250 after DATA; messages deferred with
 * a 4xx are sent again in a new session until none is left.
 */
export async function sendMail(port: number, sessions: number, perSession: number, bytes: number): Promise<SendResult> {
  const started = process.hrtime.bigint();
  const tool = smtpSourcePath();
  let deferred = 0;
  await Promise.all(
    BENCH_USERS.slice(0, sessions).map(async (u) => {
      for (let left = perSession; left > 0; ) {
        let stderr: string;
        try {
          stderr = (await runProcess(tool, smtpSourceArgs(port, u.name, left, bytes))).stderr;
        } catch (e) {
          // "421 Too many connections": the session before has not closed yet on the server's side.
          if (!/rejected at server banner: 421 /.test((e as Error).message) || deferred >= MAX_DEFERRED) throw e;
          deferred++;
          await sleep(BUSY_PAUSE_MS);
          continue;
        }
        left = rejectedMessages(stderr).count;
        deferred += left;
      }
    }),
  );
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, deferred };
}

const FETCH_SCRIPT = path.join(__dirname, "pop3-fetch.js");
/** The retrieval processes start this long after they are spawned, together (Node takes tens of ms to start). */
const FETCH_START_DELAY_MS = 500;

/** Runs the POP3 retrieval loop for user1..userN at once; resolves with each session's result. */
export async function fetchMail(port: number, sessions: number, deleteAfter: boolean): Promise<FetchResult[]> {
  const startAt = Date.now() + FETCH_START_DELAY_MS;
  return Promise.all(
    BENCH_USERS.slice(0, sessions).map(async (u) => {
      const args = [FETCH_SCRIPT, "--port", String(port), "--user", u.name, "--pass", u.password, "--start-at", String(startAt)];
      if (deleteAfter) args.push("--delete");
      return JSON.parse((await runProcess(process.execPath, args)).stdout) as FetchResult;
    }),
  );
}
