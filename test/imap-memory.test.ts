/**
 * An IMAP session's memory on every runtime (issue 17, "Limits and bad
 * input"): a session logged in with INBOX selected against a POP3 session in
 * TRANSACTION on the same maildrop, an IDLE session (woken by an SMTP
 * delivery), and the peak while a command is in flight: FETCH 1 BODY[] of a
 * 25 MB message against a 1 MB one, and `FETCH 1:* (FLAGS)` / `UID FETCH
 * 1:* (UID FLAGS)` on a folder of 10,000 messages against one of 1,000.
 *
 * Each runtime runs in a probe process of its own (helpers/imap-memory-probe.ts:
 * node's V8 heap after a collection, the LUA_32BITS VM's live heap, the
 * emulated Espruino board's variables), so the test's clients are never in
 * the reading. The card is filled once, before the runtimes boot, by the
 * core's own MailStore writing through the card (the format every runtime
 * reads: test/card-fixture.tcp.test.ts), which is quick where 11,000
 * deliveries over SMTP are not; each runtime boots on a copy of it.
 *
 * Peaks: readings (after full collections) are taken inside the socket
 * writes that carry a response's octets at a quarter, half and three
 * quarters (espruino: half only, each reading being a heap snapshot), that
 * is with the command in flight, and before and after it (not espruino); on
 * lua also after every 4th socket callback. Flat means: the 25 MB FETCH's
 * peak and half-way reading over its session's idle are within a small
 * slack of the 1 MB FETCH's, and the 10,000-message FETCH's within a slack
 * of the 1,000-message one's; the index of the bigger folder (8 bytes a
 * message, which the store keeps anyway) is in both idle readings and so
 * not in the difference. Each bound is one a per-message or per-octet
 * growth would break (1 MB against 25 MB is 24 MB apart; 9,000 messages).
 *
 * The bound (an IMAP session no larger than a POP3 session, plus
 * a command in flight) is asserted where the readings are exact: Lua's live
 * heap and the emulated board's variables (an IMAP session with INBOX
 * selected, and in IDLE, against a POP3 session in TRANSACTION); node's V8
 * heap moves by hundreds of bytes between collections, so there it is
 * printed only. The figures go to BENCHMARKS.md with what they are.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, fork } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Config } from "../firmware/config";
import { MailStore } from "../firmware/store";
import { SimCard } from "../sim/card";
import { RUNTIME_NAMES } from "../sim/runtimes";
import type { RuntimeName } from "../sim/runtime";
import { ImapWire } from "../bench/imap-wire";
import { connect, sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";
import { ImapClient } from "./helpers/imap-client";
import type { ProbeReady, ProbeStop, ProbeUnit } from "./helpers/imap-memory-probe";

const MB = 1024 * 1024;
/** The mailboxes: alice for the session comparison, two folder sizes, the two large messages. */
const USERS = {
  alice: { name: "alice", password: "wonderland", messages: 20 },
  small: { name: "folder1k", password: "memory-1k-pw", messages: 1000 },
  large: { name: "folder10k", password: "memory-10k-pw", messages: 10000 },
  bodies: { name: "bodies", password: "memory-body-pw", messages: 2 },
};
const BODY_BYTES = [1 * MB, 25 * MB];

/**
 * How much a reading may differ where it must be flat, per unit. Noise, not
 * growth: a collection's leftovers, a chunk more or less in a buffer. A
 * 536-octet chunk is ~55 variables on Espruino; Node's socket buffers a few KB.
 */
const SLACK: { [unit in ProbeUnit]: number } = { bytes: 16 * 1024, variables: 150 };

function config(): Config {
  const c = testConfig({ maxMessageBytes: 26 * MB, mailboxQuotaBytes: 200 * MB });
  for (const u of [USERS.small, USERS.large, USERS.bodies]) c.users.push({ name: u.name, password: u.password });
  return c;
}

function listMessage(user: string, i: number): string {
  return `From: "Sender ${i % 50}" <s${i % 50}@remote.example>\r\nTo: ${user}@example.org\r\nSubject: message ${i}\r\nMessage-ID: <m${i}.${user}@remote.example>\r\n\r\nBody of message ${i}.\r\n`;
}

let template = "";

/** Scratch on a RAM file system when there is one: the card's syncs (an fsync per journal append) cost milliseconds on a disk, 11,000 of them minutes. */
function scratch(label: string): string {
  return fs.existsSync("/dev/shm") ? fs.mkdtempSync(path.join("/dev/shm", `letterbox-${label}-`)) : tempDir(label);
}

/** A copy of the card every runtime boots on (written once). */
function cardCopy(dir: string): void {
  if (!template) {
    template = scratch("imap-memory-card");
    fillCard(template);
  }
  fs.cpSync(template, dir, { recursive: true });
}

/** Writes that card: the mailboxes above, committed by the core's store. */
function fillCard(dir: string): void {
  const card = new SimCard({ dir });
  const store = new MailStore(card, () => undefined, () => 0x1a2b3c4);
  assert.ok(store.open(), "the store opens on an empty card");
  // One compaction at the end (the last commit), not one per 32 KB of journal: each rewrites the whole index.
  const compactAfter = store.compactAfterBytes;
  store.compactAfterBytes = 1 << 30;
  let time = 1790000000;
  const commit = (user: string, write: (m: { write(s: string): void }) => void) => {
    const m = store.beginMessage();
    assert.ok(m, "a file handle is free");
    write(m);
    m.commit([user], time++);
  };
  for (const u of [USERS.alice, USERS.small, USERS.large]) for (let i = 0; i < u.messages; i++) commit(u.name, (m) => m.write(listMessage(u.name, i)));
  const line = "x".repeat(78) + "\r\n";
  const block = line.repeat(6553); // ~512 KB of lines
  for (const bytes of BODY_BYTES) {
    if (bytes === BODY_BYTES[BODY_BYTES.length - 1]) store.compactAfterBytes = compactAfter;
    commit(USERS.bodies.name, (m) => {
      let left = bytes - 64;
      m.write(`Subject: ${bytes} octets\r\nTo: bodies@example.org\r\n\r\n`.padEnd(64 - 2, " ") + "\r\n");
      while (left > 0) {
        const piece = left >= block.length ? block : line.repeat(Math.ceil(left / line.length)).slice(0, left);
        m.write(piece);
        left -= piece.length;
      }
    });
  }
}

class Probe {
  private replies: ((m: unknown) => void)[] = [];
  private exited: Error | undefined;
  readonly ready: Promise<ProbeReady>;
  private constructor(private child: ChildProcess, runtime: RuntimeName) {
    child.on("message", (m) => this.replies.shift()?.(m));
    child.on("exit", (code) => {
      this.exited = new Error(`the ${runtime} probe exited (${code})`);
      for (const r of this.replies.splice(0)) r(undefined);
    });
    this.ready = this.reply<ProbeReady>();
  }
  static start(runtime: RuntimeName, cardDir: string, configFile: string): Probe {
    // As bench/memory.ts: interpreted only, V8's heap holds what the program keeps, not code compiled while a transfer runs hot.
    const flags = runtime === "node" ? ["--no-opt", "--no-sparkplug", "--no-flush-bytecode"] : [];
    const child = fork(path.join(__dirname, "helpers/imap-memory-probe.js"), [runtime, cardDir, configFile], {
      execArgv: ["--expose-gc", ...flags],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Probe(child, runtime);
  }
  private reply<T>(): Promise<T> {
    return new Promise((resolve, reject) => (this.exited ? reject(this.exited) : this.replies.push((m) => (m === undefined ? reject(this.exited) : resolve(m as T)))));
  }
  ask<T>(message: object): Promise<T> {
    const answer = this.reply<T>();
    this.child.send(message);
    return answer;
  }
  async read(): Promise<number> {
    return (await this.ask<{ value: number }>({ cmd: "read" })).value;
  }
  /**
   * A reading once the box has settled: two in a row within `within` (node:
   * a closed socket's objects and the last collection's leftovers go some
   * hundred milliseconds later). `within` undefined: one reading (the lua
   * and espruino meters read what is live, and settle at once).
   */
  async settled(within: number | undefined): Promise<number> {
    let last = await this.read();
    if (within === undefined) return last;
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      const now = await this.read();
      if (Math.abs(now - last) <= within) return now;
      last = now;
    }
    return last;
  }
  /** Runs `drive` between watch and stop; readings inside the IMAP socket writes at these octets sent. */
  async watch(at: number[], edges: boolean, drive: () => Promise<void>): Promise<ProbeStop> {
    await this.ask({ cmd: "watch", at, edges });
    await drive();
    return this.ask<ProbeStop>({ cmd: "stop" });
  }
  async close(): Promise<void> {
    if (!this.exited) this.child.send({ cmd: "exit" });
    await new Promise<void>((resolve) => (this.exited ? resolve() : this.child.once("exit", () => resolve())));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A POP3 session logged in (TRANSACTION) that asked STAT. */
async function pop3InTransaction(port: number, user: { name: string; password: string }) {
  const c = await connect(port);
  assert.match(await c.line(), /^\+OK/);
  for (const cmd of [`USER ${user.name}`, `PASS ${user.password}`, "STAT"]) {
    c.send(cmd + "\r\n");
    assert.match(await c.line(), /^\+OK/, cmd);
  }
  return c;
}

/** What one runtime showed. */
interface Figures {
  unit: ProbeUnit;
  /** Nothing connected, every mailbox on the card (the index of 11,000+ messages included). */
  idle: number;
  pop3: number;
  imapLoggedIn: number;
  imapSelected: number;
  imapIdle: number;
  /** Per message size: the peak over the session's idle, and the reading in flight (mid-response). */
  body: { [bytes: number]: { peak: number; mid: number; octets: number } };
  /** Per folder size: SELECT's cost (the session's view), and per command the peak and mid readings over the selected idle. */
  folder: { [messages: number]: { selected: number; flags: { peak: number; mid: number }; uidFlags: { peak: number; mid: number } } };
}

const figures: { [runtime: string]: Figures } = {};

/** IMAP_MEMORY_RUNTIMES=lua,espruino runs only those (while working on one); every runtime by default. */
const RUNTIMES = process.env.IMAP_MEMORY_RUNTIMES ? RUNTIME_NAMES.filter((r) => process.env.IMAP_MEMORY_RUNTIMES!.split(",").includes(r)) : RUNTIME_NAMES;

for (const runtime of RUNTIMES) {
  describe(`IMAP memory (${runtime} runtime)`, () => {
    let probe: Probe;
    let ready: ProbeReady;
    let dir: string;
    const f: Figures = { unit: "bytes", idle: 0, pop3: 0, imapLoggedIn: 0, imapSelected: 0, imapIdle: 0, body: {}, folder: {} };
    const settle = runtime === "node" ? 100 : 300;
    /** Readings of an idle box agree within this (node's heap moves by a few hundred bytes between collections). */
    const steady = runtime === "node" ? 1024 : undefined;
    /**
     * Where in a response of `octets` readings are taken: at a quarter, half
     * and three quarters; on the espruino runtime only at half (each reading
     * is a heap snapshot of the probe, seconds), and no reading before and
     * after (which the others take too: the peak is the largest of all).
     */
    const points = (octets: number) => (runtime === "espruino" ? [octets >> 1] : [octets >> 2, octets >> 1, (octets >> 2) * 3]);
    const edges = runtime !== "espruino";
    const mid = (r: ProbeStop) => r.at[runtime === "espruino" ? 0 : 1];
    figures[runtime] = f;

    before(async () => {
      dir = scratch(`imap-memory-${runtime}`);
      const started = Date.now();
      cardCopy(path.join(dir, "card"));
      const filled = Date.now();
      fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config()));
      probe = Probe.start(runtime, path.join(dir, "card"), path.join(dir, "config.json"));
      ready = await probe.ready;
      f.unit = ready.unit;
      console.log(`# ${runtime}: card filled in ${filled - started} ms, booted in ${Date.now() - filled} ms`);
      // Once through every path unmeasured: what the runtime sets up on first use is then in every idle reading.
      const p = await pop3InTransaction(ready.pop3, USERS.alice);
      p.close();
      const w = await ImapWire.login(ready.imap, USERS.alice.name, USERS.alice.password);
      await w.command("SELECT INBOX");
      await w.command("FETCH 1:* (FLAGS)");
      await w.command("FETCH 1 BODY.PEEK[]");
      await w.logout();
      await sleep(settle);
    });
    after(async () => {
      await probe?.close();
      if (runtime === RUNTIMES[RUNTIMES.length - 1] && template) fs.rmSync(template, { recursive: true, force: true });
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("a POP3 session in TRANSACTION, an IMAP session with INBOX selected, an IMAP IDLE woken by SMTP", async () => {
      f.idle = await probe.settled(steady);
      const p = await pop3InTransaction(ready.pop3, USERS.alice);
      await sleep(settle);
      f.pop3 = (await probe.settled(steady)) - f.idle;
      p.send("QUIT\r\n");
      await p.line();
      p.close();
      await sleep(settle);
      const idle2 = await probe.settled(steady);
      const c = await ImapClient.login(ready.imap, USERS.alice.name, USERS.alice.password);
      try {
        await sleep(settle);
        f.imapLoggedIn = (await probe.settled(steady)) - idle2;
        const selected = await c.command("SELECT INBOX");
        assert.equal(selected.status.slice(0, 2), "OK");
        assert.ok(selected.lines.includes(`* ${USERS.alice.messages} EXISTS`), selected.lines.join(" | "));
        await sleep(settle);
        f.imapSelected = (await probe.settled(steady)) - idle2;
        const tag = c.takeTag();
        c.write(`${tag} IDLE\r\n`);
        assert.match(await c.line(), /^\+ /);
        await sleep(settle);
        f.imapIdle = (await probe.settled(steady)) - idle2;
        assert.match(await sendMail(ready.smtp, "wake@remote.example", ["alice@example.org"], Buffer.from("Subject: wake\r\n\r\nup\r\n")), /^250 /);
        assert.equal(await c.line(30000), `* ${USERS.alice.messages + 1} EXISTS`);
        c.write("DONE\r\n");
        assert.match((await c.until(tag)).status, /^OK/);
      } finally {
        await c.logout();
      }
      console.log(
        `# ${runtime}: idle ${f.idle} ${f.unit}; POP3 in TRANSACTION +${f.pop3}; IMAP logged in +${f.imapLoggedIn}, with INBOX selected +${f.imapSelected}; IMAP in IDLE +${f.imapIdle} ` +
          `(IMAP - POP3: ${f.imapSelected - f.pop3 >= 0 ? "+" : ""}${f.imapSelected - f.pop3} ${f.unit})`,
      );
      assert.ok(f.pop3 > 0 && f.imapSelected > 0, "each session shows in the reading");
      if (runtime !== "node") {
        assert.ok(f.imapSelected <= f.pop3, `an IMAP session with INBOX selected +${f.imapSelected} ${f.unit}, a POP3 session +${f.pop3}`);
        assert.ok(f.imapIdle <= f.pop3, `an IMAP session in IDLE +${f.imapIdle} ${f.unit}, a POP3 session +${f.pop3}`);
      }
    });

    it("FETCH 1 BODY[] of 25 MB peaks no higher than of 1 MB", async () => {
      const w = await ImapWire.login(ready.imap, USERS.bodies.name, USERS.bodies.password);
      try {
        await w.command("SELECT INBOX");
        await sleep(settle);
        const base = await probe.settled(steady);
        for (let i = 0; i < BODY_BYTES.length; i++) {
          let octets = 0;
          const started = Date.now();
          const r = await probe.watch(points(BODY_BYTES[i]), edges, async () => {
            const answer = await w.command(`FETCH ${i + 1} BODY[]`);
            octets = answer.literalOctets;
          });
          assert.equal(octets, BODY_BYTES[i], "the whole message came");
          assert.equal(r.at.length, points(BODY_BYTES[i]).length, "readings were taken in flight");
          f.body[BODY_BYTES[i]] = { peak: r.peak - base, mid: mid(r) - base, octets };
          console.log(
            `# ${runtime}: FETCH BODY[] of ${BODY_BYTES[i] / MB} MB: peak +${r.peak - base} ${f.unit}, half-way +${mid(r) - base} (${r.samples} readings, ${Date.now() - started} ms)`,
          );
        }
      } finally {
        await w.logout();
      }
      const [small, large] = BODY_BYTES.map((b) => f.body[b]);
      assert.ok(large.peak - small.peak <= SLACK[f.unit], `peak +${small.peak} at 1 MB, +${large.peak} at 25 MB ${f.unit}`);
      assert.ok(large.mid - small.mid <= SLACK[f.unit], `in flight +${small.mid} at 1 MB, +${large.mid} at 25 MB ${f.unit}`);
    });

    it("FETCH 1:* (FLAGS) and UID FETCH 1:* (UID FLAGS) on 10,000 messages peak no higher than on 1,000", async () => {
      for (const u of [USERS.small, USERS.large]) {
        await sleep(settle);
        const base = await probe.settled(steady);
        const w = await ImapWire.login(ready.imap, u.name, u.password);
        try {
          const selected = await w.command("SELECT INBOX", { keepLines: true });
          assert.ok(selected.lines.includes(`* ${u.messages} EXISTS`), selected.lines.join(" | "));
          await sleep(settle);
          const sel = await probe.settled(steady);
          const run = async (command: string) => {
            let lines = 0;
            // "* n FETCH (FLAGS ())": 20 octets and more a message.
            const started = Date.now();
            const r = await probe.watch(points(u.messages * 20), edges, async () => {
              lines = (await w.command(command, { keepLines: true })).lines.length;
            });
            assert.equal(lines, u.messages, command);
            assert.equal(r.at.length, points(u.messages * 20).length, "readings were taken in flight");
            console.log(`# ${runtime}: ${command} on ${u.messages}: ${r.samples} readings, ${Date.now() - started} ms`);
            return { peak: r.peak - sel, mid: mid(r) - sel };
          };
          const flags = await run("FETCH 1:* (FLAGS)");
          const uidFlags = await run("UID FETCH 1:* (UID FLAGS)");
          f.folder[u.messages] = { selected: sel - base, flags, uidFlags };
          console.log(
            `# ${runtime}: ${u.messages} messages: SELECT +${sel - base} ${f.unit}; FETCH 1:* (FLAGS) peak +${flags.peak}, half-way +${flags.mid}; ` +
              `UID FETCH 1:* (UID FLAGS) peak +${uidFlags.peak}, half-way +${uidFlags.mid}`,
          );
        } finally {
          await w.logout();
        }
      }
      const small = f.folder[USERS.small.messages];
      const large = f.folder[USERS.large.messages];
      for (const k of ["flags", "uidFlags"] as const) {
        assert.ok(large[k].peak - small[k].peak <= SLACK[f.unit], `${k}: peak +${small[k].peak} on 1,000, +${large[k].peak} on 10,000 ${f.unit}`);
        assert.ok(large[k].mid - small[k].mid <= SLACK[f.unit], `${k}: in flight +${small[k].mid} on 1,000, +${large[k].mid} on 10,000 ${f.unit}`);
      }
    });
  });
}

describe("IMAP memory: the figures", () => {
  it("prints a table of every runtime's figures (for BENCHMARKS.md)", () => {
    const rows = Object.keys(figures).filter((r) => figures[r].folder[10000]).map((r) => {
      const x = figures[r];
      const body = (b: number) => `+${x.body[b].peak} / +${x.body[b].mid}`;
      const fl = (n: number) => `+${x.folder[n].flags.peak} / +${x.folder[n].uidFlags.peak}`;
      return `| ${r} (${x.unit}) | ${x.idle} | +${x.pop3} | +${x.imapLoggedIn} / +${x.imapSelected} | +${x.imapIdle} | ${body(BODY_BYTES[0])} | ${body(BODY_BYTES[1])} | +${x.folder[1000].selected} / +${x.folder[10000].selected} | ${fl(1000)} | ${fl(10000)} |`;
    });
    console.log(
      [
        "| runtime | idle, all mailboxes | POP3 in TRANSACTION | IMAP logged in / INBOX selected | IMAP in IDLE | BODY[] 1 MB peak / in flight | BODY[] 25 MB peak / in flight | SELECT 1,000 / 10,000 | FLAGS / UID FLAGS, 1,000 | FLAGS / UID FLAGS, 10,000 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ...rows,
      ]
        .map((l) => "# " + l)
        .join("\n"),
    );
  });
});
