/**
 * Memory per runtime: for each runtime, a probe process (memory-probe.ts)
 * runs the core while this process drives N SMTP sessions delivering one
 * message each and then N POP3 sessions retrieving (and deleting) it, for
 * several message sizes and session counts. The drivers (stepped-smtp.ts,
 * stepped-pop3.ts) hold every session at fixed checkpoints and ask the probe
 * for a reading there, so every row is read at the same points whatever a
 * reading costs; the probe's timer samples in between as well. Reported:
 * peak above idle during each phase.
 */
import { fork } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { benchMessage } from "./bench-message";
import type { MemoryUnit, ProbeReading, ProbeReady } from "./memory-probe";
import type { ProbeLink } from "./stepped";
import { steppedPop3 } from "./stepped-pop3";
import { steppedSmtp } from "./stepped-smtp";

/** One checkpoint's reading. */
export interface Mark {
  checkpoint: string;
  value: number;
}

export interface PhaseMemory extends ProbeReading {
  /** The checkpoint readings, in order. */
  marks: Mark[];
}

export interface MemoryRow {
  runtime: RuntimeName;
  unit: MemoryUnit;
  bytes: number;
  sessions: number;
  smtp: PhaseMemory;
  pop3: PhaseMemory;
}

/**
 * The node runtime's reading is V8's heap, which also holds the code V8
 * compiles while a transfer runs hot and the bytecode it flushes and
 * compiles again: hundreds of KB, at moments that vary from run to run.
 * Interpreted only, the heap holds what the program keeps. (The other
 * runtimes measure their own heaps, and would only run slower.)
 */
const NODE_HEAP_FLAGS = ["--no-opt", "--no-sparkplug", "--no-flush-bytecode"];

/** The IPC channel to a probe: requests answered in order. */
export function probeChannel(runtime: RuntimeName, dir: string, setup?: "imap") {
  const child = fork(path.join(__dirname, "memory-probe.js"), [runtime, dir, ...(setup ? [setup] : [])], {
    execArgv: ["--expose-gc", ...(runtime === "node" ? NODE_HEAP_FLAGS : [])],
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
  const close = async (): Promise<void> => {
    if (!exited) child.send({ cmd: "exit" });
    await new Promise<void>((resolve) => (exited ? resolve() : child.once("exit", () => resolve())));
  };
  return { ready: reply<ProbeReady>(), ask, close };
}

/** Runs one phase between the probe's start and stop, recording the checkpoint readings. */
export async function phase(
  ask: ReturnType<typeof probeChannel>["ask"],
  drive: (probe: ProbeLink) => Promise<void>,
): Promise<PhaseMemory> {
  const marks: Mark[] = [];
  const probe: ProbeLink = {
    checkpoint: async (checkpoint) => void marks.push({ checkpoint, value: (await ask<{ value: number }>("sample")).value }),
    openFiles: async () => (await ask<{ open: string[] }>("files")).open,
  };
  await ask("start");
  await drive(probe);
  return { ...(await ask<ProbeReading>("stop")), marks };
}

/**
 * One unmeasured row first: what the runtime and the probe set up on first
 * use (code compiled lazily, caches, the message directory) is then part of
 * every row's idle reading instead of the first row's peak.
 */
async function warmUp(ask: ReturnType<typeof probeChannel>["ask"], ready: ProbeReady, cardDir: string, sessions: number, bytes: number): Promise<void> {
  const message = benchMessage(bytes);
  await phase(ask, (probe) => steppedSmtp({ port: ready.smtpPort, sessions, cardDir, probe }, message));
  await phase(ask, (probe) => steppedPop3({ port: ready.pop3Port, sessions, cardDir, probe }, message.octets));
}

function describe(p: PhaseMemory, unit: MemoryUnit): string {
  const marks = p.marks.map((m) => `${m.checkpoint} +${m.value - p.idle}`).join(", ");
  return `peak +${p.peak - p.idle} ${unit} (${marks}; ${p.samples} timer samples)`;
}

export async function measureMemory(
  runtime: RuntimeName,
  sizes: number[],
  sessionCounts: number[],
  scratch: string,
  log: (line: string) => void,
): Promise<MemoryRow[]> {
  const dir = fs.mkdtempSync(path.join(scratch, `memory-${runtime}-`));
  const probe = probeChannel(runtime, dir);
  const rows: MemoryRow[] = [];
  try {
    const ready = await probe.ready;
    const cardDir = path.join(dir, "card");
    await warmUp(probe.ask, ready, cardDir, Math.max(...sessionCounts), Math.min(...sizes));
    for (const bytes of sizes) {
      const message = benchMessage(bytes);
      for (const sessions of sessionCounts) {
        const smtp = await phase(probe.ask, (link) => steppedSmtp({ port: ready.smtpPort, sessions, cardDir, probe: link }, message));
        const pop3 = await phase(probe.ask, (link) => steppedPop3({ port: ready.pop3Port, sessions, cardDir, probe: link }, message.octets));
        rows.push({ runtime, unit: ready.unit, bytes, sessions, smtp, pop3 });
        log(`memory ${runtime} ${bytes} B x${sessions}: SMTP ${describe(smtp, ready.unit)}; POP3 ${describe(pop3, ready.unit)}`);
      }
    }
  } finally {
    await probe.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
