/**
 * The card allows four open files, one kept for the journal: three message
 * files at once. A DATA or RETR that finds all three in use waits for one
 * (up to FILE_WAIT_SECONDS) instead of failing, so a fourth sender or a
 * reader is served as soon as a message is committed. Over real TCP, on
 * every runtime.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { FILE_WAIT_SECONDS } from "../firmware/sessions";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { connect, pop3Session, sendMail, stuff, withoutTraceHeaders } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";
import { ImapClient } from "./helpers/imap-client";

type Conversation = Awaited<ReturnType<typeof connect>>;

function message(id: string): Buffer {
  return Buffer.from(`From: s@remote.example\r\nSubject: ${id}\r\nMessage-ID: <${id}>\r\n\r\n${id} body\r\n.dot line\r\n`, "latin1");
}

/** An SMTP session through RCPT; `data` sends DATA and returns the session without reading the answer. */
async function upToData(port: number, rcpt: string): Promise<Conversation> {
  const c = await connect(port);
  assert.match(await c.smtpReply(), /^220 /);
  for (const line of ["EHLO tester.example", "MAIL FROM:<s@remote.example>", `RCPT TO:<${rcpt}>`]) {
    c.send(line + "\r\n");
    assert.match(await c.smtpReply(), /^250 /, line);
  }
  c.send("DATA\r\n");
  return c;
}

/** Sends the message after a 354 and returns the answer to the end marker. */
async function finish(c: Conversation, body: Buffer): Promise<string> {
  await c.sendBuffer(stuff(body));
  c.send(".\r\n");
  return c.smtpReply();
}

/** Three sessions in DATA: every message file is in use. */
async function fillFiles(port: number): Promise<Conversation[]> {
  const holders: Conversation[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await upToData(port, "alice@example.org");
    assert.match(await c.smtpReply(), /^354 /);
    holders.push(c);
  }
  return holders;
}

async function storedSubjects(port: number, user: string, password: string): Promise<string[]> {
  return pop3Session(port, user, password, async (p) => {
    const subjects: string[] = [];
    const count = (await p.list()).count;
    for (let n = 1; n <= count; n++) {
      const m = /^Subject: (.*)$/m.exec((await p.retr(n)).toString("latin1"));
      subjects.push(m ? m[1].trim() : "?");
    }
    return subjects.sort();
  });
}

for (const runtime of RUNTIME_NAMES) {
  describe(`waiting for a free message file (${runtime} runtime)`, () => {
    let sim: Simulator;
    let skipSeconds = 0;
    const open: Conversation[] = [];
    before(async () => {
      sim = await startSimulator({
        runtime,
        config: testConfig({ smtpSessions: 4 }),
        dataDir: tempDir("filewait"),
        smtpPort: 0,
        pop3Port: 0,
        imapPort: 0,
        clock: () => Math.floor(Date.now() / 1000) + skipSeconds,
      });
    });
    after(async () => {
      for (const c of open) c.close();
      await sim.stop();
    });

    it("a fourth DATA gets its 354 once another message is committed; all four are stored", async () => {
      const holders = await fillFiles(sim.smtpPort);
      const fourth = await upToData(sim.smtpPort, "alice@example.org");
      open.push(...holders, fourth);
      assert.ok(await fourth.silentFor(400), "no answer to DATA while every message file is in use");
      assert.match(await finish(holders[0], message("w1")), /^250 /);
      assert.match(await fourth.smtpReply(), /^354 /);
      assert.match(await finish(fourth, message("w4")), /^250 /);
      assert.match(await finish(holders[1], message("w2")), /^250 /);
      assert.match(await finish(holders[2], message("w3")), /^250 /);
      for (const c of [...holders, fourth]) c.close();
      assert.deepEqual(await storedSubjects(sim.pop3Port, "alice", "wonderland"), ["w1", "w2", "w3", "w4"]);
      await pop3Session(sim.pop3Port, "alice", "wonderland", async (p) => {
        for (let n = 1; n <= 4; n++) await p.dele(n);
      });
    });

    it("a RETR waits while every message file is being written, then streams the whole message", async () => {
      const body = message("for-bob");
      assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["bob@example.org"], body), /^250 /);
      const holders = await fillFiles(sim.smtpPort);
      open.push(...holders);
      const reader = await connect(sim.pop3Port);
      open.push(reader);
      await reader.line();
      reader.send("USER bob\r\nPASS builder99\r\nRETR 1\r\n");
      assert.match(await reader.line(), /^\+OK/);
      assert.match(await reader.line(), /^\+OK/);
      assert.ok(await reader.silentFor(400), "RETR waits for a message file");
      assert.match(await finish(holders[0], message("h1")), /^250 /);
      assert.match(await reader.line(), /^\+OK \d+ octets$/);
      assert.ok(withoutTraceHeaders(await reader.multiline()).equals(body));
      reader.send("DELE 1\r\nQUIT\r\n");
      assert.match(await reader.line(), /^\+OK/);
      assert.match(await reader.line(), /^\+OK/);
      for (const c of [...holders, reader]) c.close(); // dropped mid-DATA: nothing of theirs is kept
    });

    it(`an IMAP FETCH still waiting for a message file after ${FILE_WAIT_SECONDS} s ends its session (half an answer was sent)`, async () => {
      const body = message("imap-wait");
      assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["bob@example.org"], body), /^250 /);
      const c = await ImapClient.login(sim.imapPort, "bob", "builder99");
      assert.equal((await c.command("SELECT INBOX")).status, "OK [READ-WRITE] SELECT completed");
      const holders = await fillFiles(sim.smtpPort);
      open.push(...holders);
      const tag = c.takeTag();
      c.write(`${tag} FETCH 1 BODY.PEEK[]\r\n`);
      // The response's head goes out before the file is opened: the literal then waits.
      await assert.rejects(c.line(400), /no answer within 400 ms; have: "\* 1 FETCH \(BODY\[\] \{\d+\}\\r\\n"/);
      skipSeconds += FILE_WAIT_SECONDS + 1; // the box's clock jumps; its once-a-second sweep gives up on the wait
      await assert.rejects(c.until(tag, [], 10000), /connection closed/);
      for (const h of holders) h.close(); // dropped mid-DATA: the files are freed
      const d = await ImapClient.login(sim.imapPort, "bob", "builder99");
      assert.equal((await d.command("SELECT INBOX")).status, "OK [READ-WRITE] SELECT completed");
      const again = await d.command("FETCH 1 BODY.PEEK[]");
      assert.equal(again.status, "OK FETCH completed");
      assert.ok(again.lines[0].endsWith(body.toString("latin1") + ")"), "the whole message once a file is free");
      assert.equal((await d.command("STORE 1 +FLAGS.SILENT (\\Deleted)")).status, "OK STORE completed");
      assert.deepEqual(await d.command("EXPUNGE"), { lines: ["* 1 EXPUNGE"], status: "OK EXPUNGE completed" });
      await d.logout();
    });

    it(`a DATA still waiting after ${FILE_WAIT_SECONDS} s gets 451 4.3.2; the transaction stands and DATA works again later`, async () => {
      const holders = await fillFiles(sim.smtpPort);
      const fourth = await upToData(sim.smtpPort, "carol@example.org");
      open.push(...holders, fourth);
      assert.ok(await fourth.silentFor(300));
      skipSeconds += FILE_WAIT_SECONDS + 1; // the box's clock jumps; its once-a-second sweep gives up on the wait
      assert.match(await fourth.smtpReply(), /^451 4\.3\.2 /);
      for (const c of holders) c.close(); // dropped mid-DATA: nothing is kept, the files are freed
      fourth.send("DATA\r\n");
      assert.match(await fourth.smtpReply(), /^354 /);
      assert.match(await finish(fourth, message("late")), /^250 /);
      fourth.close();
      assert.deepEqual(await storedSubjects(sim.pop3Port, "carol", "c4rol-pass"), ["late"]);
    });

    it("a client that sends its message before the 354 has it read once the 354 is sent; over 1 KB of it ends the session", async () => {
      const holders = await fillFiles(sim.smtpPort);
      open.push(...holders);
      const eager = await upToData(sim.smtpPort, "bob@example.org");
      open.push(eager);
      eager.send(stuff(message("eager")).toString("latin1") + ".\r\nNOOP\r\n");
      assert.ok(await eager.silentFor(300));
      assert.match(await finish(holders[0], message("h2")), /^250 /);
      assert.match(await eager.smtpReply(), /^354 /);
      assert.match(await eager.smtpReply(), /^250 2\.0\.0 Ok: queued/);
      assert.match(await eager.smtpReply(), /^250 2\.0\.0 Ok$/);
      // Every file in use again (the first holder starts another message), then a flood before the 354.
      for (const line of ["MAIL FROM:<s@remote.example>", "RCPT TO:<alice@example.org>", "DATA"]) {
        holders[0].send(line + "\r\n");
        assert.match(await holders[0].smtpReply(), /^[23]/, line);
      }
      for (const line of ["MAIL FROM:<s@remote.example>", "RCPT TO:<bob@example.org>"]) {
        eager.send(line + "\r\n");
        assert.match(await eager.smtpReply(), /^250 /, line);
      }
      eager.send("DATA\r\n" + "X".repeat(2000) + "\r\n");
      assert.match(await eager.smtpReply(), /^421 4\.5\.0 /);
      for (const c of [...holders, eager]) c.close();
      assert.deepEqual(await storedSubjects(sim.pop3Port, "bob", "builder99"), ["eager"]);
    });
  });
}
