/**
 * Hostile clients over real TCP, on every runtime: floods, slow clients,
 * password guessing. Each case checks the expected answer, that nothing is
 * stored or lost by mistake, and that the server goes on serving.
 * (Shorter exchanges are scripted in test/dialogues/hostile-*.txt.)
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import type { Config } from "../firmware/config";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { expectLine, type Pipe } from "./helpers/dialogue";
import { tempDir, testConfig } from "./helpers/fixtures";
import { tcpPipe } from "./helpers/transports";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function smtpSession(sim: Simulator): Promise<Pipe> {
  const pipe = await tcpPipe(sim.smtpPort);
  await expectLine(pipe, /^220 /);
  pipe.write("HELO hostile.example\r\n");
  await expectLine(pipe, /^250 /);
  return pipe;
}

async function popLogin(sim: Simulator, user: string, password: string): Promise<Pipe> {
  const pipe = await tcpPipe(sim.pop3Port);
  await expectLine(pipe, /^\+OK /);
  pipe.write(`USER ${user}\r\nPASS ${password}\r\n`);
  await expectLine(pipe, /^\+OK /);
  await expectLine(pipe, /^\+OK /);
  return pipe;
}

/** Message count of a maildrop, through a fresh POP3 session. */
async function messageCount(sim: Simulator, user: string, password: string): Promise<number> {
  const pipe = await popLogin(sim, user, password);
  pipe.write("STAT\r\nQUIT\r\n");
  const stat = await expectLine(pipe, /^\+OK \d+ \d+$/);
  await expectLine(pipe, /^\+OK/);
  pipe.drop();
  return Number(stat.split(" ")[1]);
}

/** Sends one small message and checks it is accepted: the server still serves. */
async function deliverOne(sim: Simulator, to: string): Promise<void> {
  const pipe = await smtpSession(sim);
  pipe.write(`MAIL FROM:<x@remote.example>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
  await expectLine(pipe, /^250 /);
  await expectLine(pipe, /^250 /);
  await expectLine(pipe, /^354 /);
  pipe.write("Subject: still here\r\n\r\nok\r\n.\r\nQUIT\r\n");
  await expectLine(pipe, /^250 2\.0\.0 /);
  await expectLine(pipe, /^221 /);
  pipe.drop();
}

function config(): Config {
  // Short idle limits, so slow clients are dropped within seconds.
  return testConfig({ smtpIdleSeconds: 2, pop3IdleSeconds: 2 });
}

for (const runtime of RUNTIME_NAMES) {
  describe(`hostile clients (${runtime} runtime)`, () => {
    let sim: Simulator;
    before(async () => {
      sim = await startSimulator({ runtime, config: config(), dataDir: tempDir("hostile"), smtpPort: 0, pop3Port: 0 });
    });
    after(() => sim.stop());

    it("10,000 RCPTs in one write: at most 5 accepted, nothing stored, server serves on", async () => {
      const pipe = await smtpSession(sim);
      let flood = "MAIL FROM:<x@remote.example>\r\n";
      for (let i = 0; i < 10000; i++) flood += `RCPT TO:<alice+${i}@example.org>\r\n`;
      pipe.write(flood);
      await expectLine(pipe, /^250 2\.1\.0 /);
      const replies: string[] = [];
      for (let line = await pipe.readLine(30000); line !== undefined; line = await pipe.readLine(30000)) {
        replies.push(line);
        if (replies.length === 10000) break;
      }
      // Either every RCPT was answered, or the server dropped a client that
      // would not read its replies (see firmware/sender.ts); never more than 5 accepted.
      assert.deepEqual(replies.slice(0, 5).map((r) => r.slice(0, 4)), ["250 ", "250 ", "250 ", "250 ", "250 "]);
      for (const r of replies.slice(5)) assert.match(r, /^(452 4\.5\.3 Too many recipients|421 .*)$/);
      pipe.drop();
      await sleep(200);
      assert.equal(await messageCount(sim, "alice", "wonderland"), 0);
      await deliverOne(sim, "alice@example.org");
      assert.equal(await messageCount(sim, "alice", "wonderland"), 1);
      const drain = await popLogin(sim, "alice", "wonderland");
      drain.write("DELE 1\r\nQUIT\r\n");
      await expectLine(drain, /^\+OK/);
      await expectLine(drain, /^\+OK/);
    });

    it("10,000 RCPTs sent one by one, reading each reply: the limit holds, DATA stores one copy", async () => {
      const pipe = await smtpSession(sim);
      pipe.write("MAIL FROM:<x@remote.example>\r\n");
      await expectLine(pipe, /^250 /);
      let accepted = 0;
      for (let i = 0; i < 10000; i += 500) {
        let batch = "";
        for (let j = i; j < i + 500; j++) batch += `RCPT TO:<bob+${j}@example.org>\r\n`;
        pipe.write(batch);
        for (let j = 0; j < 500; j++) {
          const line = await expectLine(pipe, /^(250 2\.1\.5|452 4\.5\.3) /, 20000);
          if (line.startsWith("250")) accepted++;
        }
      }
      assert.equal(accepted, 5);
      pipe.write("DATA\r\n");
      await expectLine(pipe, /^354 /);
      pipe.write("Subject: many\r\n\r\nx\r\n.\r\nQUIT\r\n");
      await expectLine(pipe, /^250 2\.0\.0 /);
      await expectLine(pipe, /^221 /);
      assert.equal(await messageCount(sim, "bob", "builder99"), 1, "one copy for bob, not one per RCPT");
    });

    it("a line that never ends is dropped, not buffered; the session goes on", async () => {
      const pipe = await smtpSession(sim);
      const block = "A".repeat(64 * 1024);
      for (let i = 0; i < 16; i++) pipe.write(block); // 1 MiB without a line end
      pipe.write("\r\nNOOP\r\n");
      await expectLine(pipe, /^500 5\.5\.0 Line too long/, 20000);
      await expectLine(pipe, /^250 /);
      pipe.drop();
    });

    it("a megabyte of binary garbage on each port: the server survives and serves", async () => {
      let seed = 12345;
      let garbage = "";
      for (let i = 0; i < 1 << 20; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        garbage += String.fromCharCode(seed >> 16 & 255);
      }
      for (const port of [sim.smtpPort, sim.pop3Port]) {
        const pipe = await tcpPipe(port);
        pipe.write(garbage);
        // The server answers errors and, past its limits, hangs up.
        assert.ok(await pipe.closed(30000), "the garbage session was closed");
      }
      await deliverOne(sim, "carol@example.org");
      assert.equal(await messageCount(sim, "carol", "c4rol-pass"), 1);
    });

    it("SMTP: a client sending one byte every 3 s is dropped by the idle timer (2 s here)", async () => {
      const pipe = await smtpSession(sim);
      const started = Date.now();
      const bytes = "NOOP\r\n";
      let closedAfter = -1;
      for (let i = 0; i < bytes.length && closedAfter < 0; i++) {
        pipe.write(bytes[i]);
        if (await pipe.closed(3000)) closedAfter = Date.now() - started;
      }
      assert.ok(closedAfter >= 0, "the slow session was dropped");
      assert.ok(closedAfter < 7000, `dropped after ${closedAfter} ms`);
      await expectLine(pipe, /^421 4\.4\.2 .*Idle/);
    });

    it("SMTP: a client stalling in DATA is dropped and its message not stored", async () => {
      const pipe = await smtpSession(sim);
      pipe.write("MAIL FROM:<x@remote.example>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n");
      await expectLine(pipe, /^250 /);
      await expectLine(pipe, /^250 /);
      await expectLine(pipe, /^354 /);
      pipe.write("Subject: half\r\n\r\nhalf a message\r\n");
      await expectLine(pipe, /^421 4\.4\.2 /, 6000);
      assert.ok(await pipe.closed(2000));
      assert.equal(await messageCount(sim, "carol", "c4rol-pass"), 1, "only the earlier message");
    });

    it("POP3: an idle session is logged out without applying its deletions", async () => {
      const pipe = await popLogin(sim, "carol", "c4rol-pass");
      pipe.write("DELE 1\r\n");
      await expectLine(pipe, /^\+OK /);
      await expectLine(pipe, /^-ERR Idle for too long/, 6000);
      assert.ok(await pipe.closed(2000));
      assert.equal(await messageCount(sim, "carol", "c4rol-pass"), 1);
    });

  });

  describe(`password guessing (${runtime} runtime)`, () => {
    let sim: Simulator;
    /** The box's clock: real time plus a skip the tests can add to. */
    let skipSeconds = 0;
    before(async () => {
      sim = await startSimulator({
        runtime,
        config: testConfig(),
        dataDir: tempDir("guessing"),
        smtpPort: 0,
        pop3Port: 0,
        clock: () => Math.floor(Date.now() / 1000) + skipSeconds,
      });
    });
    after(() => sim.stop());

    it("POP3 password guessing: the delay grows per failure", async () => {
      const pipe = await tcpPipe(sim.pop3Port);
      await expectLine(pipe, /^\+OK /);
      const delays: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        pipe.write("USER dave\r\nPASS guess" + i + "\r\n");
        await expectLine(pipe, /^\+OK /);
        await expectLine(pipe, /^-ERR \[AUTH\] /, 10000);
        delays.push(Date.now() - started);
      }
      assert.ok(delays[0] >= 450, `first delay ${delays[0]} ms`);
      assert.ok(delays[1] >= 950 && delays[1] > delays[0], `delays ${delays}`);
      assert.ok(delays[2] >= 1950 && delays[2] > delays[1], `delays ${delays}`);
      pipe.drop();
    });

    it("POP3 password guessing: a lockout window for that name only", async () => {
      // Three sessions guess alice's password in parallel until she has 5 failures.
      const guessers = [await tcpPipe(sim.pop3Port), await tcpPipe(sim.pop3Port), await tcpPipe(sim.pop3Port)];
      for (const g of guessers) await expectLine(g, /^\+OK /);
      const guess = async (g: Pipe, n: number) => {
        g.write(`USER alice\r\nPASS wrong${n}\r\n`);
        await expectLine(g, /^\+OK /);
        await expectLine(g, /^-ERR \[AUTH\] /, 10000);
      };
      await Promise.all([guess(guessers[0], 1), guess(guessers[1], 2), guess(guessers[2], 3)]);
      // Failures 4 and 5 count when PASS arrives; their answers (4 s and 8 s later) are not awaited.
      for (const [i, g] of [guessers[0], guessers[1]].entries()) {
        g.write(`USER alice\r\nPASS wrong${4 + i}\r\n`);
        await expectLine(g, /^\+OK /);
      }
      await sleep(100);
      // Locked out: even the right password is refused at once, by USER/PASS and APOP.
      const g = guessers[2];
      const started = Date.now();
      g.write("USER alice\r\nPASS wonderland\r\n");
      await expectLine(g, /^\+OK /);
      await expectLine(g, /^-ERR \[LOGIN-DELAY\] /);
      assert.ok(Date.now() - started < 4000, "answered at once, not after the 8 s a sixth failure would wait");
      g.write("APOP alice 00000000000000000000000000000000\r\n");
      await expectLine(g, /^-ERR \[LOGIN-DELAY\] /);
      // Other users are not locked out.
      g.write("USER bob\r\nPASS builder99\r\nQUIT\r\n");
      await expectLine(g, /^\+OK /);
      await expectLine(g, /^\+OK bob has /);
      await expectLine(g, /^\+OK /);
      for (const other of guessers) other.drop();
      // The window ends once the failures are forgotten (5 minutes; the box's clock skips ahead).
      skipSeconds += 301;
      await sleep(300);
      const alice = await popLogin(sim, "alice", "wonderland");
      alice.write("QUIT\r\n");
      await expectLine(alice, /^\+OK /);
    });

    /**
     * Five failed logins through three parallel sessions, one name spelling
     * per attempt; the fourth and fifth are counted but not awaited (4 s, 8 s).
     * Returns the session that made the third attempt, free again.
     */
    async function fiveFailures(spellings: string[]): Promise<{ free: Pipe; all: Pipe[] }> {
      const all = [await tcpPipe(sim.pop3Port), await tcpPipe(sim.pop3Port), await tcpPipe(sim.pop3Port)];
      for (const g of all) await expectLine(g, /^\+OK /);
      const attempt = async (g: Pipe, name: string, n: number) => {
        g.write(`USER ${name}\r\nPASS wrong${n}\r\n`);
        await expectLine(g, /^\+OK /);
      };
      await Promise.all(
        all.map(async (g, i) => {
          await attempt(g, spellings[i], i);
          await expectLine(g, /^-ERR \[AUTH\] /, 10000);
        }),
      );
      await attempt(all[0], spellings[3], 3);
      await attempt(all[1], spellings[4], 4);
      await sleep(100);
      return { free: all[2], all };
    }

    it("POP3 password guessing: every spelling of a user counts against one mailbox; the lockout says what failed", async () => {
      const { free: g, all } = await fiveFailures(["carol", "CAROL@example.org", "Carol@Example.NET", "carol@EXAMPLE.ORG", "cArOl"]);
      // Locked out under every spelling, the right password included; the text names the name as typed.
      g.write("USER carol@example.net\r\nPASS c4rol-pass\r\n");
      await expectLine(g, /^\+OK /);
      const text = await expectLine(g, /^-ERR \[LOGIN-DELAY\] /);
      const m = /^-ERR \[LOGIN-DELAY\] 5 failed logins as carol@example\.net \(wrong name or password\): locked, try again in (\d+) seconds$/.exec(text);
      assert.ok(m, text);
      assert.ok(Number(m[1]) > 280 && Number(m[1]) <= 301, text);
      g.write("USER carol\r\nPASS c4rol-pass\r\n");
      await expectLine(g, /^\+OK /);
      await expectLine(g, /^-ERR \[LOGIN-DELAY\] 5 failed logins as carol \(/);
      g.write("APOP CAROL 00000000000000000000000000000000\r\n");
      await expectLine(g, /^-ERR \[LOGIN-DELAY\] 5 failed logins as CAROL \(/);
      for (const other of all) other.drop();
      skipSeconds += 301;
      await sleep(300);
      const carol = await popLogin(sim, "Carol@example.org", "c4rol-pass");
      carol.write("QUIT\r\n");
      await expectLine(carol, /^\+OK /);
    });

    it("POP3 password guessing: a name that is no user's is counted as typed", async () => {
      // A name of 400 octets: the lockout's reply shows its first 255, within the 512 octets of a reply line.
      const long = "mallory-" + "x".repeat(392);
      const { free: g, all } = await fiveFailures([long, long.toUpperCase(), "M" + long.slice(1), long, long]);
      g.write(`USER ${long}\r\nPASS anything\r\n`);
      await expectLine(g, /^\+OK /);
      const text = await expectLine(g, /^-ERR \[LOGIN-DELAY\] 5 failed logins as mallory-x+\.\.\. \(wrong name or password\): locked, try again in \d+ seconds$/);
      assert.ok(text.includes(` as ${long.slice(0, 255)}... (`), text);
      assert.ok(text.length + 2 <= 512, `${text.length + 2} octets`);
      // Another unknown name has a count of its own: its first failure waits only the first delay.
      const started = Date.now();
      g.write("USER mallory@example.org\r\nPASS anything\r\n");
      await expectLine(g, /^\+OK /);
      await expectLine(g, /^-ERR \[AUTH\] /);
      assert.ok(Date.now() - started < 1900, "answered after the first delay (0.5 s), not a later one");
      for (const other of all) other.drop();
      skipSeconds += 301;
    });
  });
}
