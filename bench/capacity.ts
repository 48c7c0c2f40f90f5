/**
 * Capacity of the Espruino build, measured on a REAL interpreter (not part
 * of make test or make bench: `node build/bench/capacity.js ESPRUINO N...`,
 * one interpreter at a time, under `flock /work/espruino.lock` on the
 * shared machine). For each N: a card with N messages in alice's INBOX,
 * committed by the core's MailStore, the bundle booted on it, then
 * process.memory() after boot, after an IMAP SELECT INBOX, after
 * FETCH 1:* (FLAGS) (and how long it took), and after an SMTP delivery; the boot time and
 * any OUT OF MEMORY the interpreter printed. Prints one line per N and a
 * JSON summary (BENCHMARKS.md, "Capacity").
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fillCard, listMessage } from "../test/helpers/capacity-card";
import { sendMail } from "../test/helpers/clients";
import { testConfig, tempDir } from "../test/helpers/fixtures";
import { ImapClient } from "../test/helpers/imap-client";
import { consoleLine, LINUX_CARD_DIR, sleep, startReal, stopReal } from "../test/helpers/real-espruino";

/** What process.memory() says now (after a collection) and the error flags. */
async function memory(): Promise<{ usage: number; free: number; flags: string }> {
  for (const ms of [3000, 10000, 30000, 60000, 180000]) {
    const out = await consoleLine("var m=process.memory();print('MEM',m.usage,m.free,JSON.stringify(E.getErrorFlags()))", ms);
    const m = /MEM (\d+) (\d+) (\S*)/.exec(out);
    if (m) return { usage: Number(m[1]), free: Number(m[2]), flags: m[3] };
  }
  throw new Error("no memory figure");
}

interface Row {
  messages: number;
  bootSeconds: number;
  idle?: number;
  free?: number;
  selected?: number;
  fetchSeconds?: number;
  fetched?: number;
  delivered?: number;
  flags: string;
  outOfMemory: boolean;
  failure?: string;
}

/** FETCH 1:* (FLAGS) only up to this many messages (CAPACITY_FETCH_MAX): under qemu it takes ~0.2 s a message. */
const fetchUpTo = Number(process.env.CAPACITY_FETCH_MAX || 1e9);

async function measure(espruino: string, n: number): Promise<Row> {
  // A RAM file system when there is one: an fsync per journal append costs minutes for 10,000 messages on a disk.
  const dir = fs.existsSync("/dev/shm") ? fs.mkdtempSync("/dev/shm/letterbox-capacity-") : tempDir("capacity");
  fillCard(path.join(dir, LINUX_CARD_DIR), n);
  const config = testConfig({ maxMessageBytes: 100000, mailboxQuotaBytes: 64 * 1024 * 1024 });
  const started = Date.now();
  const row: Row = { messages: n, bootSeconds: 0, flags: "", outOfMemory: false };
  const box = await startReal(espruino, config, dir, 30 * 60 * 1000).catch((e) => {
    row.failure = String(e);
    return undefined;
  });
  try {
    if (!box) return row;
    row.bootSeconds = Math.round((Date.now() - started) / 1000);
    await memory(); // the first console connection leaves some variables until the next collection (and the box may still be busy)
    let m = await memory();
    row.idle = m.usage;
    row.free = m.free;
    const c = await ImapClient.login(box.imap, "alice", "wonderland");
    try {
      const selected = await c.command("SELECT INBOX", [], 600000);
      if (!selected.lines.includes(`* ${n} EXISTS`)) throw new Error("SELECT: " + selected.lines.join(" | ") + " " + selected.status);
      row.selected = (await memory()).usage;
      const fetchStarted = Date.now();
      if (n > 0 && n <= fetchUpTo) {
        // No readings while it runs: the console waits behind the job on the slow emulated CPU.
        const fetched = await c.command("FETCH 1:* (FLAGS)", [], 1800000);
        if (fetched.lines.length !== n || !fetched.status.startsWith("OK")) throw new Error(`FETCH: ${fetched.lines.length} lines, ${fetched.status}`);
        row.fetchSeconds = Math.round((Date.now() - fetchStarted) / 1000);
      }
      row.fetched = (await memory()).usage;
      const reply = await sendMail(box.smtp, "s@remote.example", ["alice@example.org"], Buffer.from(listMessage("alice", n), "latin1"));
      if (!/^250 /.test(reply)) throw new Error("delivery: " + reply);
      await sleep(3000); // the header cache is built after the 250
      m = await memory();
      row.delivered = m.usage;
      row.flags = m.flags;
    } finally {
      await c.logout().catch(() => undefined);
    }
  } catch (e) {
    row.failure = String(e);
  } finally {
    if (box) {
      row.outOfMemory = /OUT OF MEMORY|MEMORY/.test(box.output());
      if (row.outOfMemory || row.failure) fs.writeFileSync(path.join(process.cwd(), `capacity-${n}.log`), box.output());
      await stopReal(box);
    }
  }
  return row;
}

async function main(): Promise<void> {
  const [espruino, ...counts] = process.argv.slice(2);
  if (!espruino || counts.length === 0) throw new Error("usage: node build/bench/capacity.js /path/to/espruino N...");
  const rows: Row[] = [];
  for (const n of counts.map(Number)) {
    const row = await measure(espruino, n);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
