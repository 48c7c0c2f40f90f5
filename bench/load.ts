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
import { BENCH_DOMAIN, BENCH_USERS, SENDER } from "./setup";

const SMTP_SOURCE_DIRS = ["/usr/sbin", "/usr/bin", "/usr/local/sbin"];

export function smtpSourcePath(): string {
  for (const dir of SMTP_SOURCE_DIRS) {
    const file = path.join(dir, "smtp-source");
    if (fs.existsSync(file)) return file;
  }
  throw new Error("smtp-source not found (it comes with Debian's postfix package)");
}

function runProcess(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(command)} ${args.join(" ")} exited with ${code}: ${err.trim() || out.trim()}`));
    });
  });
}

/** The smtp-source command line sending `messages` messages of `bytes` payload, one after another, to `user`. */
export function smtpSourceArgs(port: number, user: string, messages: number, bytes: number): string[] {
  // -d: one connection for all of this session's messages, as a relay with a queue would do.
  return ["-d", "-m", String(messages), "-l", String(bytes), "-f", SENDER, "-t", `${user}@${BENCH_DOMAIN}`, "-M", "client.example", `127.0.0.1:${port}`];
}

/**
 * Sends `perSession` messages in each of `sessions` concurrent SMTP sessions
 * and resolves when every one got its 250 after DATA. Returns the seconds taken.
 */
export async function sendMail(port: number, sessions: number, perSession: number, bytes: number): Promise<number> {
  const started = process.hrtime.bigint();
  const tool = smtpSourcePath();
  await Promise.all(BENCH_USERS.slice(0, sessions).map((u) => runProcess(tool, smtpSourceArgs(port, u.name, perSession, bytes))));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const FETCH_SCRIPT = path.join(__dirname, "pop3-fetch.js");

/** Runs the POP3 retrieval loop for user1..userN at once; resolves with each session's result. */
export async function fetchMail(port: number, sessions: number, deleteAfter: boolean): Promise<FetchResult[]> {
  return Promise.all(
    BENCH_USERS.slice(0, sessions).map(async (u) => {
      const args = [FETCH_SCRIPT, "--port", String(port), "--user", u.name, "--pass", u.password];
      if (deleteAfter) args.push("--delete");
      return JSON.parse(await runProcess(process.execPath, args)) as FetchResult;
    }),
  );
}
