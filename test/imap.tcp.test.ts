/**
 * IMAP (firmware/imap.ts) over real TCP to the simulator, on every runtime:
 * the greeting and log-in, folders (LIST with special use, CREATE, RENAME,
 * DELETE, STATUS), SELECT's answers, FETCH byte for byte against POP3's
 * RETR, flags shared with POP3 and the web page, EXPUNGE seen by POP3,
 * APPEND/COPY/MOVE with UIDPLUS codes, IDLE woken by an SMTP delivery,
 * POP3's QUIT reaching an IMAP session as EXPUNGE, and bad input answered
 * with the session going on.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { connect, pop3Session, sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";
import { ImapClient } from "./helpers/imap-client";

const CAPS = "IMAP4rev1 LITERAL+ SASL-IR ID IDLE NAMESPACE UIDPLUS MOVE UNSELECT ENABLE SPECIAL-USE CHILDREN AUTH=PLAIN";

function message(n: number, body = `Body of message ${n}.\r\n`): Buffer {
  return Buffer.from(
    `From: "Sender ${n}" <s${n}@remote.example>\r\nTo: alice@example.org\r\nSubject: message ${n}\r\nDate: Tue, 1 Dec 2026 08:0${n}:00 +0000\r\nMessage-ID: <m${n}@remote.example>\r\n\r\n${body}`,
    "latin1",
  );
}

/** "* 1 FETCH (...)" lines' literal contents, in order. */
function literals(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const re = /\{(\d+)\}\r\n/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(l))) {
      out.push(l.substr(m.index + m[0].length, Number(m[1])));
      re.lastIndex = m.index + m[0].length + Number(m[1]);
    }
  }
  return out;
}

for (const runtime of RUNTIME_NAMES) {
  describe(`IMAP over TCP (${runtime} runtime)`, () => {
    let sim: Simulator;
    let retrieved: Buffer[] = [];
    let uidValidity = "";

    before(async () => {
      // 12 sockets: 4 listeners, SMTP's 2 and the one kept to refuse with leave 5, so the admission test meets IMAP's own caps, not the budget's (test/services.tcp.test.ts).
      sim = await startSimulator({ runtime, config: testConfig({ sockets: 12 }), dataDir: tempDir("imap"), smtpPort: 0, pop3Port: 0, imapPort: 0 });
      for (let n = 1; n <= 3; n++) assert.match(await sendMail(sim.smtpPort, `s${n}@remote.example`, ["alice@example.org"], message(n)), /^250 /);
      retrieved = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => {
        const out: Buffer[] = [];
        for (let i = 1; i <= 3; i++) out.push(await c.retr(i));
        return out;
      });
    });
    after(async () => {
      await sim.stop();
    });

    it("greets with its capabilities, refuses commands before LOGIN, logs in by name or address", async (t) => {
      const c = await ImapClient.connect(sim.imapPort);
      t.after(() => c.logout());
      assert.equal(c.greeting, `* OK [CAPABILITY ${CAPS}] letterbox IMAP4rev1 server ready`);
      assert.deepEqual(await c.command("CAPABILITY"), { lines: [`* CAPABILITY ${CAPS}`], status: "OK CAPABILITY completed" });
      assert.deepEqual(await c.command("SELECT INBOX"), { lines: [], status: "BAD SELECT is not allowed before LOGIN" });
      assert.deepEqual(await c.command("FROB"), { lines: [], status: "BAD Unknown command FROB" });
      assert.deepEqual(await c.command('LOGIN "Alice@Example.org" "wonderland"'), { lines: [], status: `OK [CAPABILITY ${CAPS}] Logged in` });
      assert.deepEqual(await c.command("LOGOUT"), { lines: ["* BYE letterbox IMAP server logging out"], status: "OK LOGOUT completed" });
      await c.logout();
    });

    it("AUTHENTICATE PLAIN with and without an initial response; a wrong password is refused after a delay", async (t) => {
      const c = await ImapClient.connect(sim.imapPort);
      t.after(() => c.logout());
      const ir = Buffer.from("\0alice\0wonderland").toString("base64");
      assert.equal((await c.command(`AUTHENTICATE PLAIN ${ir}`)).status, `OK [CAPABILITY ${CAPS}] Logged in`);
      await c.logout();
      const d = await ImapClient.connect(sim.imapPort);
      const tag = d.takeTag();
      d.write(`${tag} AUTHENTICATE PLAIN\r\n`);
      assert.equal(await d.line(), "+ ");
      d.write(`${Buffer.from("alice\0alice\0wonderland").toString("base64")}\r\n`);
      assert.deepEqual(await d.until(tag), { lines: [], status: `OK [CAPABILITY ${CAPS}] Logged in` });
      await d.logout();
      const e = await ImapClient.connect(sim.imapPort);
      assert.deepEqual(await e.command("LOGIN bob nope"), { lines: [], status: "NO [AUTHENTICATIONFAILED] Authentication failed" });
      assert.equal((await e.command("LOGIN bob builder99")).status.slice(0, 2), "OK");
      await e.logout();
    });

    it("lists INBOX and the special-use folders, SELECTs INBOX with its counts, FETCHes byte for byte as POP3 RETR", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      const list = await c.command('LIST "" "*"');
      assert.deepEqual(list, {
        lines: [
          '* LIST (\\HasNoChildren) "/" "INBOX"',
          '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
          '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
          '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
          '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
          '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        ],
        status: "OK LIST completed",
      });
      const sel = await c.command("SELECT INBOX");
      assert.equal(sel.status, "OK [READ-WRITE] SELECT completed");
      uidValidity = /UIDVALIDITY (\d+)/.exec(sel.lines.join("\n"))![1];
      assert.deepEqual(sel.lines, [
        "* 3 EXISTS",
        "* 3 RECENT",
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted",
        "* OK [UNSEEN 1] First unseen",
        `* OK [UIDVALIDITY ${uidValidity}] UIDs valid`,
        sel.lines[6],
      ]);
      assert.match(sel.lines[6], /^\* OK \[UIDNEXT \d+\] Predicted next UID$/);
      const sizes = await c.command("FETCH 1:* (RFC822.SIZE FLAGS)");
      assert.deepEqual(sizes.lines, retrieved.map((m, i) => `* ${i + 1} FETCH (RFC822.SIZE ${m.length} FLAGS (\\Recent))`));
      const bodies = await c.command("FETCH 1:3 BODY.PEEK[]");
      assert.equal(bodies.status, "OK FETCH completed");
      assert.deepEqual(literals(bodies.lines), retrieved.map((m) => m.toString("latin1")));
      const part = await c.command("FETCH 2 (BODY[HEADER.FIELDS (Subject)])");
      assert.deepEqual(part.lines, ["* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}\r\nSubject: message 2\r\n\r\n FLAGS (\\Seen \\Recent))"]);
      await c.logout();
    });

    it("shares flags with POP3 and the store: \\Deleted + EXPUNGE removes the message for POP3 too", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      await c.command("SELECT INBOX");
      const uids = await c.command("FETCH 1:* (UID)");
      assert.equal(uids.lines.length, 3);
      const third = /UID (\d+)/.exec(uids.lines[2])![1];
      assert.deepEqual(await c.command("STORE 3 +FLAGS (\\Deleted)"), { lines: ["* 3 FETCH (FLAGS (\\Deleted))"], status: "OK STORE completed" });
      assert.deepEqual(await c.command(`UID STORE ${third} -FLAGS.SILENT (\\Deleted)`), { lines: [], status: "OK UID STORE completed" });
      assert.deepEqual(await c.command("STORE 3 +FLAGS.SILENT (\\Deleted \\Flagged)"), { lines: [], status: "OK STORE completed" });
      assert.deepEqual(await c.command("EXPUNGE"), { lines: ["* 3 EXPUNGE"], status: "OK EXPUNGE completed" });
      const left = await pop3Session(sim.pop3Port, "alice", "wonderland", async (p) => (await p.list()).sizes.length);
      assert.equal(left, 2);
      await c.logout();
    });

    it("CREATE, APPEND (synchronizing and LITERAL+), COPY and MOVE with UIDPLUS codes, RENAME and DELETE", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      assert.deepEqual(await c.command("CREATE Projects/2026"), { lines: [], status: "OK CREATE completed" });
      assert.deepEqual(await c.command("CREATE Projects/2026"), { lines: [], status: "NO [ALREADYEXISTS] Folder exists" });
      const m = "From: me@example.org\r\nSubject: appended\r\n\r\nan 8-bit body: \xe9\r\n";
      const a = await c.command('APPEND Projects/2026 (\\Seen) "01-Dec-2026 10:00:00 +0100" {}', [m]);
      assert.match(a.status, new RegExp(`^OK \\[APPENDUID ${uidValidity} (\\d+)\\] APPEND completed$`));
      const b = await c.command("APPEND Projects/2026 {+}", [m]);
      assert.match(b.status, /^OK \[APPENDUID \d+ \d+\] APPEND completed$/);
      assert.deepEqual(await c.command('APPEND Nowhere {+}', [m]), { lines: [], status: "NO [TRYCREATE] No such folder" });
      const st = await c.command("STATUS Projects/2026 (MESSAGES UNSEEN)");
      assert.deepEqual(st, { lines: ['* STATUS "Projects/2026" (MESSAGES 2 UNSEEN 1)'], status: "OK STATUS completed" });
      const sel = await c.command("SELECT Projects/2026");
      assert.equal(sel.lines[0], "* 2 EXISTS");
      const got = await c.command("FETCH 1 (INTERNALDATE FLAGS BODY.PEEK[])");
      assert.deepEqual(got.lines, [`* 1 FETCH (INTERNALDATE " 1-Dec-2026 09:00:00 +0000" FLAGS (\\Seen \\Recent) BODY[] {${m.length}}\r\n${m})`]);
      const cp = await c.command("COPY 1:2 Archive");
      assert.match(cp.status, new RegExp(`^OK \\[COPYUID ${uidValidity} \\d+:\\d+ \\d+:\\d+\\] COPY completed$`));
      const mv = await c.command("MOVE 1 Trash");
      assert.deepEqual(mv.lines.slice(1), ["* 1 EXPUNGE"]);
      assert.match(mv.lines[0], /^\* OK \[COPYUID \d+ \d+ \d+\] Moved$/);
      assert.equal(mv.status, "OK MOVE completed");
      assert.deepEqual(await c.command("STATUS Archive (MESSAGES)"), { lines: ['* STATUS "Archive" (MESSAGES 2)'], status: "OK STATUS completed" });
      assert.deepEqual(await c.command("RENAME Nowhere Work"), { lines: [], status: "NO [NONEXISTENT] No such folder" });
      assert.deepEqual(await c.command("CREATE Projects/"), { lines: [], status: "NO [ALREADYEXISTS] Folder exists" }, "CREATE Projects/2026 made its parent");
      assert.deepEqual(await c.command("RENAME Projects Work"), { lines: [], status: "OK RENAME completed" });
      const list = await c.command('LIST "" "Work*"');
      assert.deepEqual(list.lines, ['* LIST (\\HasChildren) "/" "Work"', '* LIST (\\HasNoChildren) "/" "Work/2026"'], "in the order the folders were made");
      assert.deepEqual(await c.command('LIST "" "Work/%"'), { lines: ['* LIST (\\HasNoChildren) "/" "Work/2026"'], status: "OK LIST completed" });
      assert.deepEqual(await c.command("DELETE Work/2026"), { lines: [], status: "OK DELETE completed" });
      assert.deepEqual(await c.command("DELETE Work"), { lines: [], status: "OK DELETE completed" });
      // RENAME INBOX (RFC 3501 6.3.5): its messages move to the new folder, INBOX stays, empty.
      assert.equal((await c.command("APPEND INBOX {+}", [m])).status.slice(0, 2), "OK");
      const before = Number(/MESSAGES (\d+)/.exec((await c.command("STATUS INBOX (MESSAGES)")).lines[0])![1]);
      assert.deepEqual(await c.command("RENAME INBOX Old"), { lines: [], status: "OK RENAME completed" });
      assert.deepEqual(await c.command("STATUS INBOX (MESSAGES)"), { lines: ['* STATUS "INBOX" (MESSAGES 0)'], status: "OK STATUS completed" });
      assert.deepEqual(await c.command("STATUS Old (MESSAGES)"), { lines: [`* STATUS "Old" (MESSAGES ${before})`], status: "OK STATUS completed" });
      // Back, for the tests after this one.
      assert.equal((await c.command("SELECT Old")).status, "OK [READ-WRITE] SELECT completed");
      assert.equal((await c.command("MOVE 1:* INBOX")).status, "OK MOVE completed");
      assert.deepEqual(await c.command('LIST "" "Work*"'), { lines: [], status: "OK LIST completed" });
      await c.logout();
    });

    it("IDLE is woken by an SMTP delivery; POP3's QUIT reaches a selected session as EXPUNGE at NOOP", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      const sel = await c.command("SELECT INBOX");
      const exists = Number(/^\* (\d+) EXISTS/.exec(sel.lines[0])![1]);
      const recent = Number(/^\* (\d+) RECENT/.exec(sel.lines[1])![1]);
      const tag = c.takeTag();
      c.write(`${tag} IDLE\r\n`);
      assert.equal(await c.line(), "+ idling");
      assert.match(await sendMail(sim.smtpPort, "s9@remote.example", ["alice@example.org"], message(9)), /^250 /);
      assert.equal(await c.line(), `* ${exists + 1} EXISTS`);
      assert.equal(await c.line(), `* ${recent + 1} RECENT`);
      c.write("DONE\r\n");
      assert.deepEqual(await c.until(tag), { lines: [], status: "OK IDLE terminated" });
      await pop3Session(sim.pop3Port, "alice", "wonderland", async (p) => {
        await p.dele(1);
      });
      assert.deepEqual(await c.command("NOOP"), { lines: ["* 1 EXPUNGE"], status: "OK NOOP completed" });
      await c.logout();
    });

    it("a POP3 session's lock does not keep IMAP out; a message IMAP expunges meanwhile answers -ERR to its RETR", async (t) => {
      assert.match(await sendMail(sim.smtpPort, "s7@remote.example", ["carol@example.org"], message(7)), /^250 /);
      const pop = await connect(sim.pop3Port);
      t.after(() => pop.socket.destroy());
      assert.match(await pop.line(), /^\+OK /);
      pop.send("USER carol\r\nPASS c4rol-pass\r\n");
      assert.match(await pop.line(), /^\+OK /);
      assert.match(await pop.line(), /^\+OK carol has 1 message/);
      const c = await ImapClient.login(sim.imapPort, "carol", "c4rol-pass");
      t.after(() => c.logout());
      assert.equal((await c.command("SELECT INBOX")).status, "OK [READ-WRITE] SELECT completed");
      assert.deepEqual(await c.command("STORE 1 +FLAGS.SILENT (\\Deleted)"), { lines: [], status: "OK STORE completed" });
      assert.deepEqual(await c.command("EXPUNGE"), { lines: ["* 1 EXPUNGE"], status: "OK EXPUNGE completed" });
      pop.send("RETR 1\r\n");
      assert.match(await pop.line(), /^-ERR /);
      pop.send("QUIT\r\n");
      assert.match(await pop.line(), /^\+OK /);
    });

    it("admits 2 sessions per client address (where the board reports it) and 4 in all; beyond, BYE at once", async (t) => {
      const open: ImapClient[] = [];
      // Closed, and a moment for the box to see them go (their sockets back in the budget) before the next test connects.
      t.after(async () => {
        await Promise.all(open.map((c) => c.logout()));
        await new Promise((r) => setTimeout(r, 300));
      });
      // Espruino's sockets report no peer address (README, "Services and sockets"): only the service's cap applies there.
      const allowed = runtime === "espruino" ? 4 : 2;
      for (let i = 0; i < allowed; i++) {
        open.push(await ImapClient.connect(sim.imapPort));
        assert.match(open[i].greeting, /^\* OK \[CAPABILITY /, `session ${i + 1}`);
      }
      const refused = await ImapClient.connect(sim.imapPort);
      open.push(refused);
      assert.equal(refused.greeting, "* BYE [UNAVAILABLE] Too many connections, try again later");
      await assert.rejects(refused.line(), /closed/);
    });

    it("answers bad input with BAD or NO and goes on", async (t) => {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(() => c.logout());
      const tag = c.takeTag();
      c.write(`${tag} APPEND INBOX {4294967296}\r\n`);
      const refused = await c.line();
      assert.match(refused, new RegExp(`^${tag} (NO|BAD) `));
      assert.equal((await c.command("SELECT INBOX")).status, "OK [READ-WRITE] SELECT completed");
      assert.equal((await c.command("FETCH 1:*,999999999,5:3 (UID)")).status.slice(0, 3), "BAD");
      assert.equal((await c.command("UID FETCH 1:*,999999999,5:3 (UID)")).status, "OK FETCH completed");
      assert.equal((await c.command(`NOOP ${"(".repeat(1000)}`)).status.slice(0, 3), "BAD");
      assert.equal((await c.command("NOOP")).status, "OK NOOP completed");
      await c.logout();
    });
  });
}

for (const runtime of RUNTIME_NAMES) {
  describe(`IMAP's cap per user, services.imap.perUser (${runtime} runtime)`, () => {
    let sim: Simulator;

    before(async () => {
      // No cap per address (all clients are 127.0.0.1 here), 2 log-ins per user; 12 sockets leave IMAP its 4 sessions.
      const config = testConfig({ sockets: 12 });
      Object.assign(config.services.imap, { perClient: 0, perUser: 2 });
      sim = await startSimulator({ runtime, config, dataDir: tempDir("imap-peruser"), smtpPort: 0, pop3Port: 0, imapPort: 0 });
    });
    after(async () => {
      await sim.stop();
    });

    it("logs one user in at most perUser times at once (LOGIN and AUTHENTICATE alike, by name or address); others get in; a session that left makes room", async (t) => {
      const open: ImapClient[] = [];
      t.after(() => Promise.all(open.map((c) => c.logout())));
      const first = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      open.push(first, await ImapClient.login(sim.imapPort, "alice@example.org", "wonderland"));
      const third = await ImapClient.connect(sim.imapPort);
      open.push(third);
      const refused = { lines: [], status: "NO [LIMIT] Too many connections for this user, at most 2" };
      assert.deepEqual(await third.command("LOGIN alice wonderland"), refused);
      assert.deepEqual(await third.command(`AUTHENTICATE PLAIN ${Buffer.from("\0ALICE@example.org\0wonderland").toString("base64")}`), refused);
      // Still not authenticated: the session goes on and may log in as someone else.
      assert.deepEqual(await third.command("SELECT INBOX"), { lines: [], status: "BAD SELECT is not allowed before LOGIN" });
      assert.deepEqual(await third.command("LOGIN bob builder99"), { lines: [], status: `OK [CAPABILITY ${CAPS}] Logged in` });
      // One of alice's sessions leaves: the next log-in as alice is let in.
      await first.logout();
      open.splice(0, 1);
      const again = await ImapClient.connect(sim.imapPort);
      open.push(again);
      assert.deepEqual(await again.command("LOGIN alice wonderland"), { lines: [], status: `OK [CAPABILITY ${CAPS}] Logged in` });
    });
  });
}
