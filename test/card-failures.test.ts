/**
 * The card failing under a running box, over real TCP on every runtime:
 * missing at boot, pulled out between and during sessions, an I/O error on
 * the commit record and on a read mid-RETR. The box answers 421 4.3.0 to
 * SMTP and -ERR [SYS/TEMP] to POP3 instead of crashing, keeps nothing
 * partial, and serves again once the card is back.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { SimCard } from "../sim/card";
import { RUNTIME_NAMES } from "../sim/runtimes";
import type { RuntimeName } from "../sim/runtime";
import { startSimulator, Simulator } from "../sim/simulator";
import { connect, pop3Session, sendMail, stuff, withoutTraceHeaders } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

function message(id: string, bytes: number): Buffer {
  let text = `From: sender@remote.example\r\nSubject: ${id}\r\nMessage-ID: <${id}>\r\n\r\n`;
  for (let i = 0; text.length < bytes; i++) text += `${id} line ${i} ${"k".repeat(50)}\r\n`;
  return Buffer.from(text, "latin1");
}

function start(runtime: RuntimeName, dir: string, card: SimCard): Promise<Simulator> {
  return startSimulator({ runtime, config: testConfig(), dataDir: dir, card, smtpPort: 0, pop3Port: 0 });
}

function messageFiles(dir: string): string[] {
  const msg = path.join(dir, "LB", "MSG");
  const names = fs.existsSync(msg) ? fs.readdirSync(msg) : [];
  // A header cache (.HDR) goes with its message: never one without the data file.
  for (const name of names) if (name.endsWith(".HDR")) assert.ok(names.includes(name.slice(0, 8) + ".EML"), `${name} without its message`);
  return names.filter((name) => name.endsWith(".EML"));
}

async function firstLine(port: number): Promise<string> {
  const c = await connect(port);
  try {
    return await c.line();
  } finally {
    c.close();
  }
}

/** Logs in to POP3; returns the answer to PASS. */
async function login(port: number, user: string, password: string): Promise<string> {
  const c = await connect(port);
  try {
    await c.line();
    c.send(`USER ${user}\r\nPASS ${password}\r\n`);
    await c.line();
    const answer = await c.line();
    c.send("QUIT\r\n");
    await c.line().catch(() => "");
    return answer;
  } finally {
    c.close();
  }
}

/** An SMTP transaction up to DATA's 354, then `during` runs, then the body goes; returns the last reply and whether the server closed. */
async function deliverAround(port: number, body: Buffer, during: () => void): Promise<{ reply: string; closed: boolean }> {
  const c = await connect(port);
  try {
    await c.smtpReply();
    for (const line of ["EHLO tester.example", "MAIL FROM:<s@remote.example>", "RCPT TO:<alice@example.org>", "DATA"]) {
      c.send(line + "\r\n");
      const reply = await c.smtpReply();
      if (!/^[23]/.test(reply)) return { reply, closed: await closedSoon(c) };
    }
    const data = stuff(body);
    await c.sendBuffer(data.subarray(0, data.length >> 1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    during();
    await c.sendBuffer(data.subarray(data.length >> 1));
    c.send(".\r\n");
    const reply = await c.smtpReply();
    return { reply, closed: await closedSoon(c) };
  } finally {
    c.close();
  }
}

async function closedSoon(c: Awaited<ReturnType<typeof connect>>): Promise<boolean> {
  return Promise.race([
    c.line().then(
      () => false,
      () => true,
    ),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000)),
  ]);
}

for (const runtime of RUNTIME_NAMES) {
  describe(`card failures over TCP (${runtime} runtime)`, () => {
    it("a card missing at boot: 421 4.3.0 and -ERR [SYS/TEMP], then service once it is put in", async () => {
      const dir = tempDir("nocard");
      const card = new SimCard({ dir });
      card.eject();
      const sim = await start(runtime, dir, card);
      try {
        assert.match(await firstLine(sim.smtpPort), /^421 4\.3\.0 /);
        assert.match(await firstLine(sim.pop3Port), /^-ERR \[SYS\/TEMP\] /);
        card.insert();
        const body = message("late@t", 800);
        assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], body), /^250 /);
        const got = await pop3Session(sim.pop3Port, "alice", "wonderland", (c) => c.retr(1));
        assert.ok(withoutTraceHeaders(got).equals(body));
      } finally {
        await sim.stop();
      }
    });

    it("a card pulled out between sessions: 421 4.3.0 at DATA, -ERR [SYS/TEMP] at connection or login; all back when it returns", async () => {
      const dir = tempDir("pulled");
      const card = new SimCard({ dir });
      const sim = await start(runtime, dir, card);
      try {
        const kept = message("kept@t", 1200);
        assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], kept), /^250 /);
        card.eject();
        const refused = await deliverAround(sim.smtpPort, message("lost@t", 500), () => {});
        assert.match(refused.reply, /^421 4\.3\.0 /);
        assert.equal(refused.closed, true, "421 closes the connection");
        assert.match(await firstLine(sim.pop3Port), /^-ERR \[SYS\/TEMP\] /, "the store knows: refused at once");
        card.insert();
        assert.match(await login(sim.pop3Port, "alice", "wonderland"), /^\+OK /);
        card.eject(); // unnoticed until the login reads the card
        assert.match(await login(sim.pop3Port, "alice", "wonderland"), /^-ERR \[SYS\/TEMP\] /);
        card.insert();
        const got = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => {
          assert.equal((await c.list()).count, 1);
          return c.retr(1);
        });
        assert.ok(withoutTraceHeaders(got).equals(kept));
        assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], message("new@t", 300)), /^250 /);
      } finally {
        await sim.stop();
      }
    });

    it("a card pulled out during DATA: 421 4.3.0, and nothing of the message is left once it is back", async () => {
      const dir = tempDir("middata");
      const card = new SimCard({ dir });
      const sim = await start(runtime, dir, card);
      try {
        const result = await deliverAround(sim.smtpPort, message("half@t", 16000), () => card.eject()); // under the 20000-octet limit
        assert.match(result.reply, /^421 4\.3\.0 /);
        card.insert();
        assert.equal(await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => (await c.list()).count), 0);
        assert.deepEqual(messageFiles(dir), [], "recovery removed the half-written data file");
      } finally {
        await sim.stop();
      }
    });

    it("an I/O error on the commit record: 451, nothing stored, and the next message goes through", async () => {
      const dir = tempDir("ioerror");
      const card = new SimCard({ dir });
      const sim = await start(runtime, dir, card);
      try {
        card.failCall("write", /JRNL/, 1); // the R record goes through, the A record fails
        const failed = await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], message("io@t", 700));
        assert.match(failed, /^451 4\.3\.0 /);
        const body = message("ok@t", 700);
        assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], body), /^250 /);
        const got = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => {
          assert.equal((await c.list()).count, 1);
          return c.retr(1);
        });
        assert.ok(withoutTraceHeaders(got).equals(body));
        assert.equal(messageFiles(dir).length, 1);
      } finally {
        await sim.stop();
      }
    });

    it("an I/O error reading a message mid-RETR drops the connection without the end marker; RETR works again after", async () => {
      const dir = tempDir("readerror");
      const card = new SimCard({ dir });
      const sim = await start(runtime, dir, card);
      try {
        // Two reads on every runtime (1 KB on the boards, 16 KB in the node runtime): the second one fails.
        const body = message("long@t", 19000);
        assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], body), /^250 /);
        // The header cache and then the MIME structure after its lines are built after the 250 (both read the
        // message): armed only once the structure is there, or the build would meet the failure instead of RETR.
        const hdr = path.join(dir, "LB", "MSG", "00000001.HDR");
        const built = () => {
          if (!fs.existsSync(hdr)) return false;
          const h = fs.readFileSync(hdr);
          return h.length > 7 + h[5] * 256 + h[6];
        };
        for (let i = 0; i < 1000 && !built(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.ok(built(), "the structure is in the header cache");
        card.failCall("read", /\.EML$/, 1);
        const c = await connect(sim.pop3Port);
        let received = "";
        c.socket.on("data", (b) => (received += b.toString("latin1")));
        c.send("USER alice\r\nPASS wonderland\r\nRETR 1\r\n");
        await new Promise<void>((resolve) => c.socket.once("close", () => resolve()));
        assert.match(received, /\+OK \d+ octets\r\n/);
        assert.match(received, /long@t line 0 /, "the first chunk went out before the failure");
        assert.equal(received.endsWith("\r\n.\r\n"), false, "no end marker after half a message");
        const again = await pop3Session(sim.pop3Port, "alice", "wonderland", (p) => p.retr(1));
        assert.ok(withoutTraceHeaders(again).equals(body));
      } finally {
        await sim.stop();
      }
    });
  });
}
