/**
 * IMAP keywords (RFC 3501 2.3.2) kept on the card, over real TCP to the
 * simulator, on every runtime: FLAGS and PERMANENTFLAGS (with \*) list the
 * user's keywords, a new one is told in FLAGS to the session that stored it
 * and to another one on the folder, STORE +/-/= FLAGS with keywords in any
 * letter case, FETCH FLAGS, SEARCH KEYWORD/UNKEYWORD, APPEND with keywords,
 * COPY and MOVE keep them, the cap of 31 per user and 64 octets per name
 * (NO [LIMIT], PERMANENTFLAGS without \*), and all of it after a restart of
 * the simulator on the same card (whose compaction frees unused names);
 * RENAME INBOX moves them with its messages.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator } from "../sim/simulator";
import { sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";
import { ImapClient } from "./helpers/imap-client";

const SYSTEM = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

function message(n: number): Buffer {
  return Buffer.from(`From: s${n}@remote.example\r\nTo: bob@example.org\r\nSubject: message ${n}\r\n\r\nBody ${n}.\r\n`, "latin1");
}

/** The FLAGS and PERMANENTFLAGS lines for these keywords (" a b"); `room`: \* (a new keyword may be stored). */
function flagLines(keywords: string, room = true): string[] {
  return [`* FLAGS (${SYSTEM}${keywords})`, `* OK [PERMANENTFLAGS (${SYSTEM}${keywords}${room ? " \\*" : ""})] Flags permitted`];
}

for (const runtime of RUNTIME_NAMES) {
  describe(`IMAP keywords over TCP (${runtime} runtime)`, () => {
    it("are stored, fetched, searched, seen by another session, appended, copied, moved and capped, and survive a restart", async () => {
      const dataDir = tempDir("imap-keywords");
      const boot = () => startSimulator({ runtime, config: testConfig(), dataDir, smtpPort: 0, pop3Port: 0, imapPort: 0 });
      let sim = await boot();
      try {
        for (let n = 1; n <= 3; n++) assert.match(await sendMail(sim.smtpPort, `s${n}@remote.example`, ["bob@example.org"], message(n)), /^250 /);
        const a = await ImapClient.login(sim.imapPort, "bob", "builder99");
        const b = await ImapClient.login(sim.imapPort, "bob", "builder99");
        const sel = await a.command("SELECT INBOX");
        assert.deepEqual(sel.lines.slice(2, 4), flagLines(""), "no keyword yet; \\* says new ones may be stored");
        assert.equal((await b.command("SELECT INBOX")).status, "OK [READ-WRITE] SELECT completed");

        // A new keyword: FLAGS first, then the message's flags (a's session saw the messages first: \Recent there).
        assert.deepEqual(await a.command("STORE 1 +FLAGS ($Forwarded Work)"), {
          lines: [...flagLines(" $Forwarded Work"), "* 1 FETCH (FLAGS (\\Recent $Forwarded Work))"],
          status: "OK STORE completed",
        });
        // Any letter case is the same keyword, spelt as first stored.
        assert.deepEqual(await a.command("UID STORE 2 +FLAGS.SILENT (work \\Seen)"), { lines: [], status: "OK UID STORE completed" });
        assert.deepEqual((await a.command("FETCH 1:3 FLAGS")).lines, ["* 1 FETCH (FLAGS (\\Recent $Forwarded Work))", "* 2 FETCH (FLAGS (\\Seen \\Recent Work))", "* 3 FETCH (FLAGS (\\Recent))"]);
        assert.deepEqual((await a.command("SEARCH KEYWORD WORK")).lines, ["* SEARCH 1 2"]);
        assert.deepEqual((await a.command("SEARCH UNKEYWORD $forwarded")).lines, ["* SEARCH 2 3"]);
        assert.deepEqual((await a.command("SEARCH KEYWORD Nowhere")).lines, ["* SEARCH"]);
        assert.deepEqual((await a.command("SEARCH OR KEYWORD $Forwarded SEEN")).lines, ["* SEARCH 1 2"]);

        // The other session is told at its next command: the new keywords, then the changed messages.
        assert.deepEqual(await b.command("NOOP"), {
          lines: [...flagLines(" $Forwarded Work"), "* 1 FETCH (FLAGS ($Forwarded Work))", "* 2 FETCH (FLAGS (\\Seen Work))"],
          status: "OK NOOP completed",
        });
        assert.deepEqual((await a.command("STORE 1 -FLAGS ($FORWARDED)")).lines, ["* 1 FETCH (FLAGS (\\Recent Work))"]);
        assert.deepEqual((await a.command("STORE 1 FLAGS (\\Flagged)")).lines, ["* 1 FETCH (FLAGS (\\Flagged \\Recent))"], "= FLAGS replaces the keywords too");
        assert.deepEqual((await a.command("STORE 1 +FLAGS (Work)")).lines, ["* 1 FETCH (FLAGS (\\Flagged \\Recent Work))"]);
        assert.deepEqual(await b.command("NOOP"), { lines: ["* 1 FETCH (FLAGS (\\Flagged Work))"], status: "OK NOOP completed" });

        // COPY and MOVE keep them; APPEND stores them (a new one told to the session on that folder).
        assert.equal((await a.command("CREATE Keep")).status, "OK CREATE completed");
        assert.match((await a.command("COPY 1 Keep")).status, /^OK \[COPYUID \d+ \d+ \d+\] COPY completed$/);
        assert.equal((await a.command("MOVE 2 Keep")).status, "OK MOVE completed");
        assert.deepEqual((await b.command("NOOP")).lines, ["* 2 EXPUNGE"]);
        assert.equal((await a.command("SELECT Keep")).status, "OK [READ-WRITE] SELECT completed");
        assert.deepEqual((await a.command("FETCH 1:* FLAGS")).lines, ["* 1 FETCH (FLAGS (\\Flagged \\Recent Work))", "* 2 FETCH (FLAGS (\\Seen \\Recent Work))"]);
        const m = "From: me@example.org\r\nSubject: appended\r\n\r\nkept\r\n";
        const appended = await a.command("APPEND Keep (\\Seen $Junk work) {+}", [m]);
        assert.deepEqual(appended.lines, [...flagLines(" $Forwarded Work $Junk"), "* 3 EXISTS", "* 3 RECENT"]);
        assert.match(appended.status, /^OK \[APPENDUID \d+ \d+\] APPEND completed$/);
        assert.deepEqual((await a.command("FETCH 3 FLAGS")).lines, ["* 3 FETCH (FLAGS (\\Seen \\Recent Work $Junk))"]);
        assert.deepEqual((await a.command("UID SEARCH KEYWORD $JUNK")).lines.length, 1);
        assert.deepEqual((await a.command("SEARCH KEYWORD $JUNK")).lines, ["* SEARCH 3"]);

        // The cap: 31 names per user (3 in use), 64 octets per name; a full table has no \* in PERMANENTFLAGS.
        const names = Array.from({ length: 28 }, (_, i) => `k${i + 1}`);
        const full = await a.command(`STORE 3 +FLAGS.SILENT (${names.join(" ")})`);
        assert.deepEqual(full, { lines: flagLines(` $Forwarded Work $Junk ${names.join(" ")}`, false), status: "OK STORE completed" });
        assert.deepEqual(await a.command("STORE 3 +FLAGS (k29)"), { lines: [], status: "NO [LIMIT] At most 31 keywords per user" });
        assert.deepEqual(await a.command("APPEND Keep (k29) {+}", [m]), { lines: [], status: "NO [LIMIT] At most 31 keywords per user" });
        assert.deepEqual(await a.command(`STORE 3 +FLAGS (${"x".repeat(65)})`), { lines: [], status: "NO [LIMIT] A keyword is at most 64 octets" });
        assert.deepEqual((await a.command("STORE 3 +FLAGS (K1 \\Seen)")).lines, [`* 3 FETCH (FLAGS (\\Seen \\Recent Work $Junk ${names.join(" ")}))`], "known names are still stored");
        assert.deepEqual(await a.command('STORE 3 +FLAGS ("a b")'), { lines: [], status: "BAD STORE needs [+|-]FLAGS[.SILENT] and a flag list" });
        assert.deepEqual(await a.command("STORE 3 +FLAGS (\\Recent)"), { lines: [], status: "BAD STORE needs [+|-]FLAGS[.SILENT] and a flag list" });
        assert.deepEqual((await a.command(`STORE 3 -FLAGS (${names.join(" ")})`)).lines, ["* 3 FETCH (FLAGS (\\Seen \\Recent Work $Junk))"]);
        await a.logout();
        await b.logout();
      } finally {
        await sim.stop();
      }

      // A restart: the card's journal has it all. Its compaction freed the names no message has any more ($Forwarded, k1-k28).
      sim = await boot();
      try {
        const c = await ImapClient.login(sim.imapPort, "bob", "builder99");
        const inbox = await c.command("SELECT INBOX");
        assert.deepEqual(inbox.lines.slice(2, 4), flagLines(" Work $Junk"));
        assert.deepEqual((await c.command("FETCH 1:* FLAGS")).lines, ["* 1 FETCH (FLAGS (\\Flagged \\Recent Work))", "* 2 FETCH (FLAGS (\\Recent))"]);
        assert.equal((await c.command("SELECT Keep")).status, "OK [READ-WRITE] SELECT completed");
        assert.deepEqual((await c.command("FETCH 1:* FLAGS")).lines, [
          "* 1 FETCH (FLAGS (\\Flagged \\Recent Work))",
          "* 2 FETCH (FLAGS (\\Seen \\Recent Work))",
          "* 3 FETCH (FLAGS (\\Seen \\Recent Work $Junk))",
        ]);
        assert.deepEqual((await c.command("SEARCH KEYWORD work")).lines, ["* SEARCH 1 2 3"]);
        // A freed slot takes a new name.
        assert.deepEqual((await c.command("STORE 2 +FLAGS (Later)")).lines, [...flagLines(" Later Work $Junk"), "* 2 FETCH (FLAGS (\\Seen \\Recent Later Work))"]);
        // RENAME INBOX (RFC 3501 6.3.5) moves its messages with their keywords.
        assert.equal((await c.command("RENAME INBOX Old")).status, "OK RENAME completed");
        assert.equal((await c.command("SELECT Old")).status, "OK [READ-WRITE] SELECT completed");
        assert.deepEqual((await c.command("FETCH 1:* FLAGS")).lines, ["* 1 FETCH (FLAGS (\\Flagged \\Recent Work))", "* 2 FETCH (FLAGS (\\Recent))"]);
        await c.logout();
      } finally {
        await sim.stop();
      }
    });
  });
}
