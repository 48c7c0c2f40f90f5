/**
 * Memory per runtime: for each runtime, a probe process (memory-probe.ts)
 * runs the core while SMTP sessions deliver one message each and POP3
 * sessions retrieve (and delete) it, 1 and 4 sessions at once, for several
 * message sizes. Reported: peak above idle during each phase.
 */
import { fork } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { fetchMail, sendMail } from "./load";
import type { MemoryUnit, ProbeReading, ProbeReady } from "./memory-probe";

export interface MemoryRow {
  runtime: RuntimeName;
  unit: MemoryUnit;
  bytes: number;
  sessions: number;
  smtp: ProbeReading;
  pop3: ProbeReading;
}

export async function measureMemory(
  runtime: RuntimeName,
  sizes: number[],
  sessionCounts: number[],
  scratch: string,
  log: (line: string) => void,
): Promise<MemoryRow[]> {
  const dir = fs.mkdtempSync(path.join(scratch, `memory-${runtime}-`));
  const child = fork(path.join(__dirname, "memory-probe.js"), [runtime, dir], {
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const replies: ((message: unknown) => void)[] = [];
  let exited: Error | undefined;
  child.on("message", (m) => replies.shift()?.(m));
  child.on("exit", (code) => {
    exited = new Error(`memory probe for ${runtime} exited (${code})`);
    for (const r of replies.splice(0)) r(undefined);
  });
  const reply = <T>(): Promise<T> =>
    new Promise((resolve, reject) =>
      exited ? reject(exited) : replies.push((m) => (m === undefined ? reject(exited) : resolve(m as T))),
    );
  const ask = <T>(cmd: string): Promise<T> => {
    const answer = reply<T>();
    child.send({ cmd });
    return answer;
  };
  const rows: MemoryRow[] = [];
  try {
    const ready = await reply<ProbeReady>();
    for (const bytes of sizes) {
      for (const sessions of sessionCounts) {
        await ask("start");
        await sendMail(ready.smtpPort, sessions, 1, bytes); // a deferred message is sent again within the phase
        const smtp = await ask<ProbeReading>("stop");
        await ask("start");
        const fetched = await fetchMail(ready.pop3Port, sessions, true);
        const pop3 = await ask<ProbeReading>("stop");
        if (fetched.some((f) => f.messages !== 1)) throw new Error(`${runtime}: expected one message per mailbox, got ${fetched.map((f) => f.messages)}`);
        rows.push({ runtime, unit: ready.unit, bytes, sessions, smtp, pop3 });
        log(`memory ${runtime} ${bytes} B x${sessions}: SMTP +${smtp.peak - smtp.idle}, POP3 +${pop3.peak - pop3.idle} ${ready.unit}`);
      }
    }
  } finally {
    if (!exited) child.send({ cmd: "exit" });
    await new Promise<void>((resolve) => (exited ? resolve() : child.once("exit", () => resolve())));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
