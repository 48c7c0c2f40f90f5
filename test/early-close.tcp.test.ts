/**
 * Clients that leave early, on every runtime (issue 13, faults 3 and 4): a
 * connection closed before it reads the greeting, or in the middle of a
 * RETR, must free its session. On Espruino a write to such a socket throws
 * "This socket is closed" (sim/espruino/net.ts emulates where); an escaped
 * error left the session in the list for good and every later client got
 * "Too many connections".
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { connect, pop3Session, sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

/** Connects and closes at once, before anything is read. */
function hitAndRun(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
    });
    s.on("error", reject);
    s.on("close", () => resolve());
  });
}

async function greeting(port: number): Promise<string> {
  const c = await connect(port);
  try {
    return await c.line();
  } finally {
    c.close();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const runtime of RUNTIME_NAMES) {
  describe(`clients that leave early (${runtime} runtime)`, () => {
    it("connections closed before the greeting free their sessions (SMTP cap 3, POP3 cap 3)", async () => {
      const logs: string[] = [];
      const sim: Simulator = await startSimulator({
        runtime,
        config: testConfig({ smtpSessions: 3, pop3Sessions: 3 }),
        dataDir: tempDir("early"),
        smtpPort: 0,
        pop3Port: 0,
        log: (line) => logs.push(line),
      });
      try {
        for (let round = 0; round < 2; round++) {
          await Promise.all([1, 2, 3, 4].map(() => hitAndRun(sim.smtpPort)));
          await Promise.all([1, 2, 3].map(() => hitAndRun(sim.pop3Port)));
        }
        await pause(100);
        assert.match(await greeting(sim.smtpPort), /^220 /);
        assert.match(await greeting(sim.pop3Port), /^\+OK /);
        assert.deepEqual(logs.filter((l) => /Uncaught/.test(l)), [], "no error escaped");
      } finally {
        await sim.stop();
      }
    });

    it("a client that leaves in the middle of a RETR frees its session, and nothing escapes", async () => {
      const logs: string[] = [];
      const sim: Simulator = await startSimulator({
        runtime,
        config: testConfig({ maxMessageBytes: 400000, pop3Sessions: 1 }),
        dataDir: tempDir("early-retr"),
        smtpPort: 0,
        pop3Port: 0,
        log: (line) => logs.push(line),
      });
      try {
        const line = "x".repeat(78) + "\r\n";
        assert.match(await sendMail(sim.smtpPort, "bob@example.org", ["alice@example.org"], Buffer.from("Subject: big\r\n\r\n" + line.repeat(3000), "latin1")), /^250 /);
        for (let i = 0; i < 3; i++) {
          const c = await connect(sim.pop3Port);
          await c.line();
          c.send("USER alice\r\nPASS wonderland\r\n");
          await c.line();
          await c.line();
          c.send("RETR 1\r\n");
          await c.line(); // +OK and the start of the message; then the client is gone
          c.close();
          await pause(50);
        }
        await pause(100);
        const count = await pop3Session(sim.pop3Port, "alice", "wonderland", async (p) => (await p.list()).count);
        assert.equal(count, 1, "the single POP3 session slot is free again");
        assert.deepEqual(logs.filter((l) => /Uncaught/.test(l)), [], "no error escaped");
      } finally {
        await sim.stop();
      }
    });
  });
}
