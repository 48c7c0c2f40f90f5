/**
 * Memory per HTTP session of the web page, per runtime, measured like the
 * SMTP/POP3 sessions (memory.ts): a probe process runs the core, this one
 * drives keep-alive HTTP sessions at it (stepped-web.ts) and reads the
 * probe's meter at fixed checkpoints with every session held, and on its
 * timer in between. The mailbox (user1) holds LIST_FILL messages of 1 KB
 * and one of each larger size, delivered over SMTP before the rows; every
 * session of a row logs in to it, lists a page of 50 and opens the row's
 * message.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { plainBenchMessage } from "./bench-message";
import { deliver } from "./deliver";
import { Mark, phase, probeChannel } from "./memory";
import type { MemoryUnit } from "./memory-probe";
import { BENCH_USERS } from "./setup";
import { connectLoggedIn, steppedWeb, WebTarget } from "./stepped-web";
import { exchange, unpack, webLogout } from "./web-wire";

/** 1 KB messages in the mailbox: more than a list page. */
export const LIST_FILL = 60;

export interface WebMemoryRow {
  runtime: RuntimeName;
  unit: MemoryUnit;
  /** The message opened: the size asked for (its stored size is a little more: trace headers). */
  bytes: number;
  sessions: number;
  idle: number;
  peak: number;
  samples: number;
  marks: Mark[];
  /** Files open on the card at the mid-message checkpoint (message files being streamed). */
  filesOpen: number;
}

export interface WebMemory {
  runtime: RuntimeName;
  unit: MemoryUnit;
  /** The reading right after boot: empty card, no connection. */
  boot: number;
  /** The reading before the first row: the mailbox filled, no connection. */
  filled: number;
  rows: WebMemoryRow[];
}

/** The ids of the messages of each size (stored size: the size plus the trace headers, under 1 KB of them). */
async function findTargets(port: number, sizes: number[]): Promise<Map<number, WebTarget>> {
  const { wire, login } = await connectLoggedIn(port);
  try {
    const answer = await exchange(wire, port, "GET", "/api/list?start=0&count=100", login);
    if (answer.head.status !== 200) throw new Error(`list: HTTP ${answer.head.status}`);
    const rows = unpack(answer.body).messages as [string, number][];
    const targets = new Map<number, WebTarget>();
    for (const bytes of sizes) {
      const row = rows.find(([, size]) => size >= bytes && size < bytes + 1024);
      if (!row) throw new Error(`no stored message of about ${bytes} octets`);
      targets.set(bytes, { id: row[0], size: row[1] });
    }
    await webLogout(wire, port, login);
    return targets;
  } finally {
    wire.destroy();
  }
}

export async function measureWebMemory(
  runtime: RuntimeName,
  sizes: number[],
  sessionCounts: number[],
  scratch: string,
  log: (line: string) => void,
): Promise<WebMemory> {
  const dir = fs.mkdtempSync(path.join(scratch, `web-memory-${runtime}-`));
  const probe = probeChannel(runtime, dir);
  try {
    const ready = await probe.ready;
    const boot = (await phase(probe.ask, async () => {})).idle;
    const smallest = Math.min(...sizes);
    const fill = [...Array(LIST_FILL)].map(() => plainBenchMessage(smallest));
    const large = sizes.filter((b) => b !== smallest).sort((a, b) => a - b).map((b) => plainBenchMessage(b));
    await deliver(ready.smtpPort, BENCH_USERS[0].name, [...fill, ...large]);
    const targets = await findTargets(ready.httpPort, sizes);
    const link = (p: Parameters<Parameters<typeof phase>[1]>[0]) => ({ port: ready.httpPort, cardDir: path.join(dir, "card"), probe: p });
    // Unmeasured: what the runtime sets up on first use is then in every row's idle reading.
    await phase(probe.ask, async (p) => void (await steppedWeb({ ...link(p), sessions: Math.max(...sessionCounts) }, targets.get(smallest)!)));
    const filled = (await phase(probe.ask, async () => {})).idle;
    const rows: WebMemoryRow[] = [];
    for (const bytes of sizes) {
      for (const sessions of sessionCounts) {
        let filesOpen = 0;
        const reading = await phase(probe.ask, async (p) => void (filesOpen = await steppedWeb({ ...link(p), sessions }, targets.get(bytes)!)));
        rows.push({ runtime, unit: ready.unit, bytes, sessions, idle: reading.idle, peak: reading.peak, samples: reading.samples, marks: reading.marks, filesOpen });
        const marks = reading.marks.map((m) => `${m.checkpoint} +${m.value - reading.idle}`).join(", ");
        log(`web memory ${runtime} ${bytes} B x${sessions}: peak +${reading.peak - reading.idle} ${ready.unit} (${marks}; ${filesOpen} files open mid-message; ${reading.samples} timer samples)`);
      }
    }
    return { runtime, unit: ready.unit, boot, filled, rows };
  } finally {
    await probe.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
