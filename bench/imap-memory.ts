/**
 * Memory of the IMAP rows per runtime, read as the SMTP/POP3 and HTTP
 * sessions are (memory.ts): a probe process runs the core with the IMAP
 * bench's users (memory-probe.ts "imap"), this one fills its mailboxes over
 * SMTP and drives IMAP clients at it, asking for readings at checkpoints
 * with every client held (logged in with the folder selected; half-way
 * through a message of 64 KB or more, reading paused; answered) while the
 * probe also samples on its timer. Reported: the peak above the row's idle.
 * The folder of 10,000 messages is filled on the node runtime only (over
 * SMTP on the emulated boards it takes too long for a bench).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { imapRows } from "./imap-bench";
import { BODY_SIZES, bodyMessage, deliverAll, findBodyUids, IMAP_USERS, listMessage } from "./imap-setup";
import { ImapWire } from "./imap-wire";
import { Mark, phase, probeChannel } from "./memory";
import type { MemoryUnit } from "./memory-probe";

export interface ImapMemoryRow {
  label: string;
  clients: number;
  idle: number;
  peak: number;
  samples: number;
  marks: Mark[];
}

export interface ImapMemory {
  runtime: RuntimeName;
  unit: MemoryUnit;
  /** After boot, empty card, no connection. */
  boot: number;
  /** The mailboxes filled, no connection. */
  filled: number;
  /** Minutes the filling over SMTP took. */
  fillMinutes: number;
  rows: ImapMemoryRow[];
}

export async function measureImapMemory(runtime: RuntimeName, clientCounts: number[], scratch: string, log: (line: string) => void): Promise<ImapMemory> {
  const dir = fs.mkdtempSync(path.join(scratch, `imap-memory-${runtime}-`));
  const probe = probeChannel(runtime, dir, "imap");
  try {
    const ready = await probe.ready;
    const port = ready.imapPort;
    if (!port) throw new Error(`the ${runtime} runtime has no IMAP listener`);
    const boot = (await phase(probe.ask, async () => {})).idle;
    const withLarge = runtime === "node";
    const started = Date.now();
    await deliverAll(ready.smtpPort, IMAP_USERS.small.name, (i) => listMessage(i), IMAP_USERS.small.messages, 4);
    if (withLarge) await deliverAll(ready.smtpPort, IMAP_USERS.large.name, (i) => listMessage(i), IMAP_USERS.large.messages, 4);
    await deliverAll(ready.smtpPort, IMAP_USERS.bodies.name, (i) => bodyMessage(BODY_SIZES[i]), BODY_SIZES.length, 1);
    const fillMinutes = (Date.now() - started) / 60000;
    log(`imap memory (${runtime}): mailboxes filled over SMTP in ${fillMinutes.toFixed(1)} min`);
    const uids = await findBodyUids(port);
    const filled = (await phase(probe.ask, async () => {})).idle;
    const rows: ImapMemoryRow[] = [];
    const specs = imapRows().filter((r) => withLarge || r.user !== "large");
    // One unmeasured pass first: what the runtime sets up on first use is then in every row's idle.
    for (const warm of [true, false]) {
      for (const spec of specs) {
        for (const clients of warm ? [1] : clientCounts) {
          const u = IMAP_USERS[spec.user];
          const command = typeof spec.command === "string" ? spec.command : spec.command(uids);
          const reading = await phase(probe.ask, async (link) => {
            const wires: ImapWire[] = [];
            try {
              for (let c = 0; c < clients; c++) {
                const wire = await ImapWire.login(port, u.name, u.password);
                wires.push(wire);
                if (command !== "SELECT INBOX") await wire.command("SELECT INBOX");
              }
              await link.checkpoint("logged in");
              await Promise.all(wires.map((w, c) => w.command(command, { midway: () => link.checkpoint(`client ${c + 1} mid-message`) })));
              await link.checkpoint("answered");
            } finally {
              for (const w of wires) await w.logout().catch(() => w.destroy());
            }
          });
          if (warm) continue;
          rows.push({ label: spec.label, clients, idle: reading.idle, peak: reading.peak, samples: reading.samples, marks: reading.marks });
          log(`imap memory (${runtime}): ${spec.label}, ${clients} client(s): peak +${reading.peak - reading.idle} ${ready.unit}`);
        }
      }
    }
    return { runtime, unit: ready.unit, boot, filled, fillMinutes, rows };
  } finally {
    await probe.close();
  }
}
