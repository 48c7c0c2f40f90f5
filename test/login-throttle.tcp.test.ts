/**
 * The login throttle per client address over real TCP on every runtime
 * (issue 16 item 4, a behaviour added on purpose): CLIENT_LOCKOUT_FAILURES
 * failed POP3 logins from 127.0.0.1, each with a name of its own, lock the
 * address out where the board knows it (node, lua: -ERR [LOGIN-DELAY] even
 * for the right password, and one log line); Espruino's sockets name no
 * client, so there names alone count and the right password gets in.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { Throttle } from "../firmware/mailbox";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { expectLine } from "./helpers/dialogue";
import { tempDir, testConfig } from "./helpers/fixtures";
import { tcpPipe } from "./helpers/transports";
const CLIENT_LOCKOUT_FAILURES = Throttle.ClientLockoutFailures;

for (const runtime of RUNTIME_NAMES) {
  describe(`login throttle per client address (${runtime} runtime)`, () => {
    let sim: Simulator;
    const logs: string[] = [];
    before(async () => {
      sim = await startSimulator({
        runtime,
        config: testConfig({ pop3Sessions: 8 }),
        dataDir: tempDir("throttle-tcp"),
        smtpPort: 0,
        pop3Port: 0,
        log: (line) => logs.push(line),
      });
    });
    after(() => sim.stop());

    it(`${CLIENT_LOCKOUT_FAILURES} failures across names lock the client's address out where the board knows it`, async () => {
      for (let i = 0; i < CLIENT_LOCKOUT_FAILURES; i++) {
        // One attempt per session, dropped once the failure is logged (its answer waits out the delay).
        const from = logs.length;
        const pipe = await tcpPipe(sim.pop3Port);
        await expectLine(pipe, /^\+OK /);
        pipe.write(`USER guess${i}\r\nPASS wrong\r\n`);
        const deadline = Date.now() + 5000;
        while (!logs.slice(from).some((l) => l.includes(`failed for "guess${i}"`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        pipe.drop();
      }
      const lockLines = logs.filter((l) => / pop3: client \[/.test(l));
      const pipe = await tcpPipe(sim.pop3Port);
      await expectLine(pipe, /^\+OK /);
      pipe.write("USER alice\r\nPASS wonderland\r\n");
      await expectLine(pipe, /^\+OK /);
      if (runtime === "espruino") {
        assert.deepEqual(lockLines, []);
        await expectLine(pipe, /^\+OK alice has 0 messages/);
      } else {
        assert.equal(lockLines.length, 1, lockLines.join("\n"));
        assert.match(lockLines[0], new RegExp(` pop3: client \\[127\\.0\\.0\\.1\\] locked out for 300 s after ${CLIENT_LOCKOUT_FAILURES} failed logins$`));
        await expectLine(pipe, new RegExp(`^-ERR \\[LOGIN-DELAY\\] ${CLIENT_LOCKOUT_FAILURES} failed logins from your address: locked, try again in \\d+ seconds$`));
      }
      pipe.write("QUIT\r\n");
      await expectLine(pipe, /^\+OK /);
      assert.equal(await pipe.closed(5000), true);
    });
  });
}
