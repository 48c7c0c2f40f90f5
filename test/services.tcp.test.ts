/**
 * Services as a list under one socket budget (firmware/sessions.ts), over
 * real TCP on every runtime: POP3 sessions cannot take the sockets kept for
 * SMTP, the budget is shared (a service under its own cap is refused when
 * the others hold the sockets), the per-client cap where the board reports
 * the client's address, a service switched off does not listen, and one
 * socket always stays free to answer "too many" with (the emulated board,
 * like lwIP, resets a client when every socket is taken).
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import type { RuntimeName } from "../sim/runtime";
import type { Config } from "../firmware/config";
import { tempDir, testConfig } from "./helpers/fixtures";
import { connect, pop3Session, sendMail } from "./helpers/clients";
import { adler32 } from "../firmware/frame";
import { encode } from "../firmware/msgpack";
import { SLOT_NAMES } from "../firmware/settings";
import { SimFlash } from "../sim/flash";

type Conversation = Awaited<ReturnType<typeof connect>>;

function start(runtime: RuntimeName, label: string, config: Config, imap = false): Promise<Simulator> {
  // IMAP off unless asked: most budgets below count three listeners (SMTP, POP3, HTTP). IMAP's per-client cap: test/imap.tcp.test.ts.
  config.services.imap.enabled = imap;
  return startSimulator({ runtime, config, dataDir: tempDir(label), smtpPort: 0, pop3Port: 0, imapPort: 0 });
}

async function pop3(port: number): Promise<{ c: Conversation; line: string }> {
  const c = await connect(port);
  return { c, line: await c.line() };
}

async function smtp(port: number): Promise<{ c: Conversation; line: string }> {
  const c = await connect(port);
  return { c, line: await c.smtpReply() };
}

/** Ends a POP3 session and waits until the box has seen it go (its socket is back in the budget). */
async function quitPop3(c: Conversation): Promise<void> {
  c.send("QUIT\r\n");
  assert.match(await c.line(), /^\+OK /);
  await assert.rejects(c.line(), /closed/);
  await new Promise((r) => setTimeout(r, 200));
}

for (const runtime of RUNTIME_NAMES) {
  describe(`services under one socket budget (${runtime} runtime)`, () => {
    it("keeps SMTP's reserve from POP3, shares the rest, and gives a freed socket to SMTP", async () => {
      // 9 sockets: 3 listeners (SMTP, POP3, HTTP), 1 kept free to refuse with, 5 for sessions, 2 of them kept for SMTP. POP3's own cap (5) is not what stops it.
      const config = testConfig({ sockets: 9, pop3Sessions: 5, smtpSessions: 4 });
      config.services.smtp.reserve = 2;
      const sim = await start(runtime, "budget", config);
      const open: Conversation[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          const p = await pop3(sim.pop3Port);
          open.push(p.c);
          assert.match(p.line, /^\+OK /, `POP3 session ${i + 1} of 3`);
        }
        const fourth = await pop3(sim.pop3Port);
        open.push(fourth.c);
        assert.match(fourth.line, /^-ERR \[SYS\/TEMP\] Too many connections/, "the last 2 sockets are SMTP's");
        // Incoming mail still gets in, on the reserve: a whole message on each of the two.
        const a = await smtp(sim.smtpPort);
        const b = await smtp(sim.smtpPort);
        open.push(a.c, b.c);
        assert.match(a.line, /^220 /);
        assert.match(b.line, /^220 /);
        // Every socket but the one it is refused on is taken now: SMTP is under its own cap (4) but the budget is shared.
        const third = await smtp(sim.smtpPort);
        open.push(third.c);
        assert.match(third.line, /^421 4\.7\.0 .*Too many connections/);
        // A POP3 session ends: its socket goes to whoever asks next, here SMTP.
        await quitPop3(open[0]);
        const fourthSmtp = await smtp(sim.smtpPort);
        open.push(fourthSmtp.c);
        assert.match(fourthSmtp.line, /^220 /);
        fourthSmtp.c.send("QUIT\r\n");
        assert.match(await fourthSmtp.c.smtpReply(), /^221 /);
      } finally {
        for (const c of open) c.close();
        await sim.stop();
      }
    });

    it("lets POP3 use SMTP's reserve once SMTP holds it (the reserve counts SMTP's own sessions)", async () => {
      const config = testConfig({ sockets: 8, pop3Sessions: 5, smtpSessions: 4 });
      config.services.smtp.reserve = 2;
      const sim = await start(runtime, "reserve", config);
      const open: Conversation[] = [];
      try {
        // 3 listeners, 1 kept free to refuse with, 4 session sockets; SMTP takes its 2 first, then POP3 may have the other 2.
        for (let i = 0; i < 2; i++) {
          const s = await smtp(sim.smtpPort);
          open.push(s.c);
          assert.match(s.line, /^220 /);
        }
        for (let i = 0; i < 2; i++) {
          const p = await pop3(sim.pop3Port);
          open.push(p.c);
          assert.match(p.line, /^\+OK /, `POP3 session ${i + 1} of 2`);
        }
        const over = await pop3(sim.pop3Port);
        open.push(over.c);
        assert.match(over.line, /^-ERR \[SYS\/TEMP\] Too many connections/);
        // Mail is still delivered end to end once an SMTP session is free again.
        open[0].send("QUIT\r\n");
        assert.match(await open[0].smtpReply(), /^221 /);
        await new Promise((r) => setTimeout(r, 200));
        assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], Buffer.from("Subject: in\r\n\r\nhi\r\n")), /^250 /);
      } finally {
        for (const c of open) c.close();
        await sim.stop();
      }
    });

    it("with the defaults (10 sockets, 4 listeners) keeps one socket to refuse with: the next client of every service is answered, not reset", async () => {
      // 10 sockets: 4 listeners (SMTP, POP3, HTTP, IMAP), 1 kept free, 5 for sessions, 2 of them SMTP's. The emulated
      // board has lwIP's 10 sockets: with all 10 taken it resets the next client (test/espruino-board.test.ts).
      const config = testConfig();
      assert.equal(config.limits.sockets, 10);
      assert.equal(config.services.smtp.reserve, 2);
      const sim = await start(runtime, "spare", config, true);
      const open: Conversation[] = [];
      const greet = async (port: number, smtpReply = false): Promise<string> => {
        const c = await connect(port);
        open.push(c);
        return smtpReply ? c.smtpReply() : c.line();
      };
      // A refused client is closed by the box, and its socket is free again by the time the client sees that.
      const refused = async (port: number, expected: RegExp, smtpReply = false): Promise<void> => {
        assert.match(await greet(port, smtpReply), expected);
        await assert.rejects(open[open.length - 1].line(), /closed/);
      };
      try {
        // POP3 and IMAP take the 3 that SMTP's reserve leaves (one IMAP session: under IMAP's per-client cap of 2).
        assert.match(await greet(sim.pop3Port), /^\+OK /);
        assert.match(await greet(sim.pop3Port), /^\+OK /);
        assert.match(await greet(sim.imapPort), /^\* OK /);
        await refused(sim.imapPort, /^\* BYE \[UNAVAILABLE\] Too many connections/); // the rest is SMTP's
        assert.match(await greet(sim.smtpPort, true), /^220 /);
        assert.match(await greet(sim.smtpPort, true), /^220 /);
        // 9 sockets taken: SMTP is under its cap (3), but a third session would take the last socket.
        for (let round = 0; round < 2; round++) {
          await refused(sim.smtpPort, /^421 4\.7\.0 .*Too many connections/, true);
          await refused(sim.pop3Port, /^-ERR \[SYS\/TEMP\] Too many connections/);
          await refused(sim.imapPort, /^\* BYE \[UNAVAILABLE\] Too many connections/);
        }
        // A session ends: its socket is admitted again.
        await quitPop3(open[0]);
        assert.match(await greet(sim.imapPort), /^\* OK /);
      } finally {
        for (const c of open) c.close();
        await sim.stop();
      }
    });

    it("caps the sessions of one client address where the board reports it", async () => {
      const config = testConfig({ pop3Sessions: 4 });
      config.services.pop3.perClient = 2;
      const sim = await start(runtime, "perclient", config);
      const open: Conversation[] = [];
      try {
        for (let i = 0; i < 2; i++) {
          const p = await pop3(sim.pop3Port);
          open.push(p.c);
          assert.match(p.line, /^\+OK /);
        }
        const third = await pop3(sim.pop3Port);
        open.push(third.c);
        if (runtime === "espruino") {
          // Espruino's sockets report no remote address (PLATFORMS.md): the board cannot tell clients apart, so no per-client cap.
          assert.match(third.line, /^\+OK /);
        } else {
          assert.match(third.line, /^-ERR \[SYS\/TEMP\] Too many connections/, "a third session from 127.0.0.1");
        }
      } finally {
        for (const c of open) c.close();
        await sim.stop();
      }
    });

    it("does not listen for a service that is off, and gives its socket to the others", async () => {
      const config = testConfig({ sockets: 5, smtpSessions: 4 });
      config.services.pop3.enabled = false;
      config.services.http.enabled = false;
      config.services.smtp.reserve = 0;
      const sim = await start(runtime, "off", config);
      const open: Conversation[] = [];
      try {
        assert.equal(sim.pop3Port, undefined, "no POP3 listener");
        assert.equal(sim.httpPort, undefined, "no HTTP listener");
        // 5 sockets, 1 listener, 1 kept free to refuse with: 3 SMTP sessions (with POP3 or HTTP on there would be 2).
        for (let i = 0; i < 3; i++) {
          const s = await smtp(sim.smtpPort);
          open.push(s.c);
          assert.match(s.line, /^220 /, `SMTP session ${i + 1} of 3`);
        }
        const over = await smtp(sim.smtpPort);
        open.push(over.c);
        assert.match(over.line, /^421 4\.7\.0 /);
      } finally {
        for (const c of open) c.close();
        await sim.stop();
      }
    });
  
    it("runs with the settings a board provisioned before services were a list holds in flash", async () => {
      // As firmware 0.1.0 wrote them (ports at the top, caps and idle times in limits), in a flash slot of that firmware's format.
      const flashDir = tempDir("oldflash");
      const body = encode({
        hostname: "mail.example.net",
        domains: ["example.net"],
        users: [{ name: "dora", password: "dora-pass-1" }],
        smtpPort: 25,
        pop3Port: 110,
        limits: { maxRecipients: 7, smtpSessions: 1, pop3Sessions: 3, smtpIdleSeconds: 60, pop3IdleSeconds: 1 },
      });
      new SimFlash(flashDir).write(SLOT_NAMES[0], "LBC1" + "00000001" + adler32(body) + body);
      const sim = await startSimulator({ runtime, config: testConfig(), dataDir: tempDir("oldflash-card"), flashDir, smtpPort: 0, pop3Port: 0 });
      const open: Conversation[] = [];
      try {
        const first = await smtp(sim.smtpPort);
        open.push(first.c);
        assert.match(first.line, /^220 /);
        const second = await smtp(sim.smtpPort);
        open.push(second.c);
        assert.match(second.line, /^421 4\.7\.0 /, "limits.smtpSessions 1 is SMTP's session cap");
        first.c.send("QUIT\r\n");
        assert.match(await first.c.smtpReply(), /^221 /);
        await new Promise((r) => setTimeout(r, 200));
        assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["dora@example.net"], Buffer.from("Subject: old\r\n\r\nstill here\r\n")), /^250 /);
        assert.equal(await pop3Session(sim.pop3Port, "dora", "dora-pass-1", async (p) => (await p.list()).count), 1);
        // limits.pop3IdleSeconds 1 is POP3's idle time.
        const idle = await pop3(sim.pop3Port);
        open.push(idle.c);
        assert.match(idle.line, /^\+OK /);
        assert.match(await idle.c.line(), /^-ERR Idle for too long/);
      } finally {
        for (const c of open) c.close();
        await sim.stop();
      }
    });
  });
}
