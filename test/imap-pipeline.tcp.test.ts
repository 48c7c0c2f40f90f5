/**
 * Commands pipelined behind a running job, over TCP on every runtime (what
 * mbsync's default pipelining sends: LITERAL+ APPENDs behind a FETCH of a
 * large message). The APPEND's message streams to the card while the FETCH
 * runs (no 16 KiB held limit for it); its tagged answer comes after the
 * FETCH's whole answer, never inside it; the next other command waits,
 * parsed, and reading stops until it runs, so input held behind it is
 * bounded (the boards cannot pause a socket): more ends the session.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";
import { ImapClient } from "./helpers/imap-client";

const LINE = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";

/** A message of about `bytes` octets whose lines say where they are (a misplaced octet shows). */
function message(subject: string, bytes: number): string {
  let body = "";
  for (let i = 0; body.length < bytes; i++) body += `${subject} ${i} ${LINE}`;
  return `From: tester@remote.example\r\nTo: alice@example.org\r\nSubject: ${subject}\r\n\r\n${body}`;
}

/** The literal of a "* n FETCH (BODY[] {k}\r\n...)" line. */
function body(line: string): string {
  const m = /^\* \d+ FETCH \(BODY\[\] \{(\d+)\}\r\n/.exec(line);
  assert.ok(m, line.slice(0, 80));
  assert.equal(line.length, m[0].length + Number(m[1]) + 1, "the literal's count is exact");
  return line.slice(m[0].length, m[0].length + Number(m[1]));
}

for (const runtime of RUNTIME_NAMES) {
  describe(`IMAP commands pipelined behind a job (${runtime} runtime)`, () => {
    let sim: Simulator;
    const big = message("big", 400 * 1024);
    let stored = "";

    before(async () => {
      sim = await startSimulator({ runtime, config: testConfig({ maxMessageBytes: 1024 * 1024 }), dataDir: tempDir("imap-pipeline"), smtpPort: 0, pop3Port: 0, imapPort: 0 });
      assert.match(await sendMail(sim.smtpPort, "tester@remote.example", ["alice@example.org"], Buffer.from(big, "latin1")), /^250 /);
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      assert.equal((await c.command("EXAMINE INBOX")).status.slice(0, 2), "OK");
      stored = body((await c.command("FETCH 1 BODY.PEEK[]", [], 60000)).lines[0]);
      assert.ok(stored.endsWith(big), "delivered whole");
      await c.logout();
    });
    after(async () => {
      await sim.stop();
    });

    it("an APPEND {n+} of 100 KB behind a FETCH of 400 KB streams to the card; its answer follows the FETCH's; the next command waits for both", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      const sel = await c.command("SELECT INBOX");
      assert.equal(sel.status, "OK [READ-WRITE] SELECT completed");
      assert.ok(sel.lines.includes("* 1 EXISTS"), sel.lines.join(" | "));
      const up = message("appended", 100 * 1024);
      // The client does not read while it writes: the FETCH is still being sent when the APPEND's octets come.
      c.socket.pause();
      c.write(`p1 FETCH 1 BODY.PEEK[]\r\np2 APPEND INBOX (\\Seen) {${up.length}+}\r\n${up}\r\np3 NOOP\r\np4 UID FETCH 2 (FLAGS BODY.PEEK[])\r\n`);
      await new Promise((r) => setTimeout(r, 300));
      c.socket.resume();
      const fetched = await c.until("p1", [], 60000);
      assert.equal(fetched.status, "OK FETCH completed");
      assert.equal(fetched.lines.length, 1);
      assert.equal(body(fetched.lines[0]), stored);
      // The APPEND's answer comes next. The new message is reported (EXISTS) by the first command that
      // may: the NOOP when the message came while the FETCH ran (the FETCH's numbers must not move), else
      // the APPEND itself (the rest of 100 KB may come after the FETCH is done: a runtime's timing).
      const appended = await c.until("p2", [], 60000);
      assert.match(appended.status, /^OK \[APPENDUID \d+ 2\] APPEND completed$/);
      t.diagnostic(appended.lines.length === 0 ? "the whole message came while the FETCH ran" : "the end of the message came after the FETCH");
      const noop = await c.until("p3");
      assert.equal(noop.status, "OK NOOP completed");
      assert.deepEqual([...appended.lines, "p3", ...noop.lines].join(" | ").replace(/^p3 \| /, ""), "* 2 EXISTS | * 2 RECENT".concat(appended.lines.length > 0 ? " | p3" : ""));
      const back = await c.until("p4", [], 60000);
      assert.equal(back.status, "OK FETCH completed");
      const m = /^\* 2 FETCH \(UID 2 FLAGS \(\\Seen \\Recent\) BODY\[\] \{(\d+)\}\r\n/.exec(back.lines[0]);
      assert.ok(m, back.lines[0].slice(0, 80));
      assert.equal(back.lines[0].slice(m[0].length, -1), up, "the appended message reads back byte for byte");
      assert.equal((await c.command("UID STORE 2 +FLAGS.SILENT (\\Deleted)")).status, "OK UID STORE completed");
      assert.deepEqual(await c.command("EXPUNGE"), { lines: ["* 2 EXPUNGE"], status: "OK EXPUNGE completed" });
    });

    it("a synchronizing APPEND behind a FETCH is invited after the FETCH's answer", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      assert.equal((await c.command("SELECT INBOX")).status.slice(0, 2), "OK");
      const up = "Subject: sync\r\n\r\nsynchronizing literal behind a FETCH\r\n";
      c.write(`s1 FETCH 1 BODY.PEEK[]\r\ns2 APPEND INBOX {${up.length}}\r\n`);
      const fetched = await c.until("s1", [], 60000);
      assert.equal(body(fetched.lines[0]), stored);
      assert.equal(await c.line(), "+ Ready for literal data");
      c.write(`${up}\r\n`);
      // The FETCH is done by now: the APPEND reports the new message as when nothing runs.
      const appended = await c.until("s2");
      assert.match(appended.status, /^OK \[APPENDUID \d+ \d+\] APPEND completed$/);
      assert.deepEqual(appended.lines, ["* 2 EXISTS", "* 1 RECENT"]);
      assert.equal((await c.command("STORE 2 +FLAGS.SILENT (\\Deleted)")).status, "OK STORE completed");
      assert.equal((await c.command("EXPUNGE")).status, "OK EXPUNGE completed");
    });

    it("input held behind a command waiting for a running FETCH is bounded: past 16 KiB the whole commands held are answered, then the session ends", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      assert.equal((await c.command("SELECT INBOX")).status.slice(0, 2), "OK");
      const up = message("held", 40 * 1024);
      c.socket.pause();
      // NOOP waits parsed for the FETCH; reading stops, so the APPEND behind it is held, and it is too much.
      c.write(`h1 FETCH 1 BODY.PEEK[]\r\nh2 NOOP\r\nh3 APPEND INBOX {${up.length}+}\r\n${up}\r\n`);
      await new Promise((r) => setTimeout(r, 300));
      c.socket.resume();
      const fetched = await c.until("h1", [], 60000);
      assert.equal(body(fetched.lines[0]), stored, "the answer in flight is finished first");
      // The NOOP was held whole: it is answered; the APPEND was cut short and never runs.
      assert.deepEqual(await c.until("h2"), { lines: [], status: "OK NOOP completed" });
      assert.equal(await c.line(), "* BYE Too much input while a command runs");
      await assert.rejects(c.line(5000), /closed/);
      const d = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      assert.deepEqual((await d.command("STATUS INBOX (MESSAGES)")).lines, ['* STATUS "INBOX" (MESSAGES 1)'], "nothing was appended");
      await d.logout();
    });
  });
}
