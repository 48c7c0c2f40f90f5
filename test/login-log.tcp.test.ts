/**
 * What failed POP3 logins and lockouts leave in the board's log, over real
 * TCP on every runtime: one line per failure (the name as typed, escaped and
 * cut; USER/PASS or APOP; the mailbox it counted against), one line when a
 * mailbox or name is locked out, never a password or digest, and never a
 * second line forged by what a client typed.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { expectLine } from "./helpers/dialogue";
import { tempDir, testConfig } from "./helpers/fixtures";
import { tcpPipe } from "./helpers/transports";

/** The time every log line starts with (the clock is set: a date). */
const TIME = /^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d /;

for (const runtime of RUNTIME_NAMES) {
  describe(`failed logins in the log (${runtime} runtime)`, () => {
    let sim: Simulator;
    /** Every line the board logged, as the simulator got it. */
    const logs: string[] = [];
    /** The box's clock: real time plus a skip the tests add to. */
    let skipSeconds = 0;
    // Espruino's sockets have no remote address; the other runtimes name the client.
    const peer = runtime === "espruino" ? "" : " [127.0.0.1]";

    before(async () => {
      sim = await startSimulator({
        runtime,
        config: testConfig({ pop3Sessions: 8 }),
        dataDir: tempDir("loginlog"),
        smtpPort: 0,
        pop3Port: 0,
        log: (line) => logs.push(line),
        clock: () => Math.floor(Date.now() / 1000) + skipSeconds,
      });
    });
    after(() => sim.stop());

    /** Lines logged from index `from` on, without their time. */
    function since(from: number): string[] {
      return logs.slice(from).map((l) => {
        assert.match(l, TIME, `a log line starts with the time: ${JSON.stringify(l)}`);
        return l.replace(TIME, "");
      });
    }

    /** Waits until `count` lines have been logged from `from` on; returns them. */
    async function logged(from: number, count: number): Promise<string[]> {
      const deadline = Date.now() + 5000;
      while (logs.length - from < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return since(from);
    }

    /**
     * One failed attempt on a session of its own, which is dropped once the
     * failure is logged (its answer waits out the delay).
     */
    async function failOnce(command: string): Promise<string[]> {
      const from = logs.length;
      const pipe = await tcpPipe(sim.pop3Port);
      await expectLine(pipe, /^\+OK /);
      pipe.write(command);
      const lines = await logged(from, 1);
      pipe.drop();
      return lines;
    }

    it("one line per failed login: the name as typed, USER/PASS or APOP, the mailbox, the count; no password, no digest", async () => {
      const from = logs.length;
      const pipe = await tcpPipe(sim.pop3Port);
      const greeting = await expectLine(pipe, /^\+OK /);
      const stamp = /<[^>]*>/.exec(greeting)![0];
      const digest = crypto.createHash("md5").update(stamp + "not-her-password", "latin1").digest("hex");
      pipe.write("USER Alice@Example.ORG\r\nPASS wrong-one\r\n");
      await expectLine(pipe, /^\+OK /);
      await expectLine(pipe, /^-ERR \[AUTH\] /);
      pipe.write(`APOP BOB ${digest}\r\n`);
      await expectLine(pipe, /^-ERR \[AUTH\] /);
      pipe.write("USER nobody@example.org\r\nPASS wrong-two\r\n");
      await expectLine(pipe, /^\+OK /);
      await expectLine(pipe, /^-ERR \[AUTH\] /);
      pipe.write("USER alice\r\nPASS wrong-three\r\n");
      await expectLine(pipe, /^\+OK /);
      await expectLine(pipe, /^-ERR \[AUTH\] /, 5000);
      pipe.drop();
      const lines = since(from);
      assert.deepEqual(lines, [
        `pop3: USER/PASS failed for "Alice@Example.ORG" (mailbox alice, 1 of 5)${peer}`,
        `pop3: APOP failed for "BOB" (mailbox bob, 1 of 5)${peer}`,
        `pop3: USER/PASS failed for "nobody@example.org" (no such user, 1 of 5)${peer}`,
        `pop3: USER/PASS failed for "alice" (mailbox alice, 2 of 5)${peer}`,
      ]);
      for (const secret of ["wrong-one", "wrong-two", "wrong-three", digest, "not-her-password"]) {
        assert.ok(!lines.some((l) => l.includes(secret)), `${secret} is not logged`);
      }
    });

    it("names with CR, controls, quotes, 8-bit bytes or 500 octets are escaped and cut, never a second line", async () => {
      const forged = "x\r1 Jan 2030 00:00:00 pop3: alice logged in";
      const cases: [string, string][] = [
        [forged, `pop3: USER/PASS failed for "x\\x0d1 Jan 2030 00:00:00 pop3: alice logged in" (no such user, 1 of 5)${peer}`],
        ["\x00\x1b[2J\x7f\"q\"\\", `pop3: USER/PASS failed for "\\x00\\x1b[2J\\x7f\\"q\\"\\\\" (no such user, 1 of 5)${peer}`],
        ["\xe9l\xe8ve", `pop3: USER/PASS failed for "\\xe9l\\xe8ve" (no such user, 1 of 5)${peer}`],
        // 500 octets: 12 escapes of 4 characters fill the 48 shown.
        ["\xff".repeat(500), `pop3: USER/PASS failed for "${"\\xff".repeat(12)}..." (no such user, 1 of 5)${peer}`],
        ["y".repeat(500), `pop3: USER/PASS failed for "${"y".repeat(48)}..." (no such user, 1 of 5)${peer}`],
      ];
      for (const [name, want] of cases) {
        assert.deepEqual(await failOnce(`USER ${name}\r\nPASS pw\r\n`), [want], JSON.stringify(name));
      }
      // APOP: the name ends at the first space, so it cannot carry one; the digest never shows.
      assert.deepEqual(await failOnce("APOP \xe9\x01\r0 ffffffffffffffffffffffffffffffff\r\n"), [
        `pop3: APOP failed for "\\xe9\\x01\\x0d0" (no such user, 1 of 5)${peer}`,
      ]);
      for (const line of logs) assert.match(line, /^[\x20-\x7e]*$/, `only printable ASCII: ${JSON.stringify(line)}`);
    });

    it("the fifth failure locks the mailbox: one line with how long; refused attempts add none", async () => {
      const from = logs.length;
      const spellings = ["carol", "CAROL@example.org", "Carol@Example.NET", "carol@EXAMPLE.ORG"];
      for (const name of spellings) await failOnce(`USER ${name}\r\nPASS wrong\r\n`);
      await failOnce("APOP cArOl 00000000000000000000000000000000\r\n");
      const lines = await logged(from, 6);
      assert.deepEqual(lines, [
        ...spellings.map((s, i) => `pop3: USER/PASS failed for "${s}" (mailbox carol, ${i + 1} of 5)${peer}`),
        `pop3: APOP failed for "cArOl" (mailbox carol, 5 of 5)${peer}`,
        "pop3: mailbox carol locked out for 300 s after 5 failed logins",
      ]);
      // Locked out: even the right password is refused, at once and without a line (a flood cannot push the lockout out of the ring).
      const mark = logs.length;
      const pipe = await tcpPipe(sim.pop3Port);
      await expectLine(pipe, /^\+OK /);
      for (let i = 0; i < 3; i++) {
        pipe.write("USER carol\r\nPASS c4rol-pass\r\n");
        await expectLine(pipe, /^\+OK /);
        await expectLine(pipe, /^-ERR \[LOGIN-DELAY\] 5 failed logins as carol /);
      }
      pipe.drop();
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(since(mark), []);
      // Once the failures are forgotten, carol logs in (and that is logged as before).
      skipSeconds += 301;
      const ok = await tcpPipe(sim.pop3Port);
      await expectLine(ok, /^\+OK /);
      ok.write("USER carol\r\nPASS c4rol-pass\r\nQUIT\r\n");
      await expectLine(ok, /^\+OK /);
      await expectLine(ok, /^\+OK carol has /);
      await expectLine(ok, /^\+OK /);
      assert.deepEqual(await logged(mark, 2), ["pop3: carol logged in (0 messages)", "pop3: carol logged out"]);
      ok.drop();
    });

    it("a name that is no user's is locked out as it was counted: lower case, escaped, cut", async () => {
      const from = logs.length;
      // Letter case is ASCII's only (\xe9 stays \xe9), as for every name the box compares.
      const long = "Mallory\xe9-" + "x".repeat(300);
      const upper = "MALLORY\xe9-" + "X".repeat(300);
      for (let i = 0; i < 5; i++) await failOnce(`USER ${i % 2 === 0 ? long : upper}\r\nPASS guess${i}\r\n`);
      const lines = await logged(from, 6);
      assert.equal(lines.length, 6, lines.join("\n"));
      assert.equal(lines[0], `pop3: USER/PASS failed for "Mallory\\xe9-${"x".repeat(36)}..." (no such user, 1 of 5)${peer}`);
      assert.equal(lines[1], `pop3: USER/PASS failed for "MALLORY\\xe9-${"X".repeat(36)}..." (no such user, 2 of 5)${peer}`);
      assert.equal(lines[4], `pop3: USER/PASS failed for "Mallory\\xe9-${"x".repeat(36)}..." (no such user, 5 of 5)${peer}`);
      assert.equal(lines[5], `pop3: name "mallory\\xe9-${"x".repeat(36)}..." locked out for 300 s after 5 failed logins`);
      skipSeconds += 301;
    });

    it("a client name with controls and 8-bit bytes is escaped in the delivery line", async () => {
      const from = logs.length;
      const pipe = await tcpPipe(sim.smtpPort);
      await expectLine(pipe, /^220 /);
      pipe.write("HELO evil\r\x1b[1m\xe9.example\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
      await expectLine(pipe, /^250 /);
      await expectLine(pipe, /^250 /);
      await expectLine(pipe, /^250 /);
      await expectLine(pipe, /^354 /);
      pipe.write("Subject: hi\r\n\r\nhi\r\n.\r\n");
      await expectLine(pipe, /^250 2\.0\.0 /);
      pipe.drop();
      const lines = await logged(from, 1);
      assert.match(lines[0], /^smtp: delivered [0-9a-f]{8} \(\d+ bytes\) to bob from evil\\x0d\\x1b\[1m\\xe9\.example(?: \[127\.0\.0\.1\])?$/);
      assert.equal(lines[0].endsWith("[127.0.0.1]"), peer !== "");
    });
  });
}
