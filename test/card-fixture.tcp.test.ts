/**
 * A card written by an older build is read by this one (issue 16 item 3):
 * test/fixtures/card-vN holds a card and a flash made by the build named in
 * its README (test/tools/make-card-fixture.ts), one per store format
 * version. On every runtime a copy is opened, and POP3 shows each user
 * every message with the UIDL, size and bytes that build served, and the
 * web API the read marks it stored (none before version 2) and the header
 * lines (built on first use where the card has no cache), and IMAP every
 * message in INBOX with its sequence number as UID and the read marks as
 * \Seen (the issue: a card written before IMAP opens so); from version 3
 * every IMAP folder as that build showed it (imap.json; from version 4 with
 * its keywords); again after a
 * restart, once this build has compacted the journal in its own format.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Unpackr } from "msgpackr";
import { startSimulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { pop3Session } from "./helpers/clients";
import { WebClient } from "./helpers/web-client";
import { ImapClient } from "./helpers/imap-client";
import { imapFolders, type FolderView } from "./helpers/imap-folders";
import { ROOT, tempDir, testConfig } from "./helpers/fixtures";

const PASSWORDS: { [user: string]: string } = { dave: "dave-pw-1", erin: "erin-pw-2", frank: "frank-pw-3" };

interface Row {
  uidl: string;
  size: number;
  bytes: number;
  sha256: string;
}

/** The records of a journal file (each followed by its checksum), decoded by msgpackr. */
function journalRecords(file: string): unknown[][] {
  const values: unknown[] = [];
  new Unpackr({ useRecords: false, mapsAsObjects: true }).unpackMultiple(fs.readFileSync(file), (value: unknown) => {
    values.push(value);
  });
  return values.filter((_, i) => i % 2 === 0) as unknown[][];
}

async function served(port: number, user: string): Promise<Row[]> {
  return pop3Session(port, user, PASSWORDS[user], async (p) => {
    const list = await p.list();
    const rows: Row[] = [];
    for (let i = 0; i < list.count; i++) {
      const got = await p.retr(i + 1);
      rows.push({ uidl: list.uidls[i], size: list.sizes[i], bytes: got.length, sha256: crypto.createHash("sha256").update(got).digest("hex") });
    }
    return rows;
  });
}

/**
 * INBOX as IMAP shows it: [UID, stored flags (not the session's \Recent), RFC822.SIZE] per message, in order,
 * and the folder's UIDVALIDITY and UIDNEXT.
 */
async function imapInbox(port: number, user: string): Promise<{ rows: [number, string, number][]; validity: number; next: number }> {
  const c = await ImapClient.login(port, user, PASSWORDS[user]);
  try {
    const selected = await c.command("SELECT INBOX");
    assert.match(selected.status, /^OK/);
    const code = (name: string) => Number(new RegExp(`\\[${name} (\\d+)\\]`).exec(selected.lines.join("\n"))?.[1] ?? -1);
    const fetched = await c.command("UID FETCH 1:* (UID FLAGS RFC822.SIZE)");
    assert.match(fetched.status, /^OK/);
    const rows = fetched.lines.map((l): [number, string, number] => {
      const m = /^\* \d+ FETCH \((.*)\)$/.exec(l);
      assert.ok(m, l);
      return [Number(/UID (\d+)/.exec(m[1])![1]), /FLAGS \(([^)]*)\)/.exec(m[1])![1].split(" ").filter((f) => f !== "\\Recent").join(" "), Number(/RFC822\.SIZE (\d+)/.exec(m[1])![1])];
    });
    return { rows, validity: code("UIDVALIDITY"), next: code("UIDNEXT") };
  } finally {
    await c.logout();
  }
}

/** uidl -> [stored flags, header lines] as the web API lists them. */
async function listed(port: number, user: string): Promise<Map<string, [number, string]>> {
  const web = new WebClient(port);
  assert.equal((await web.login(user, PASSWORDS[user])).status, 200);
  const rows = (await web.get("/api/list?start=0&count=100")).value.messages as unknown[][];
  return new Map(rows.map((r) => [r[0] as string, [r[2] as number, Buffer.from(r[4] as Uint8Array).toString("latin1")]]));
}

for (const runtime of RUNTIME_NAMES) {
  describe(`a card written by an older build (${runtime} runtime)`, () => {
    for (const version of [1, 2, 3, 4]) {
      const name = `card-v${version}`;
      const fixture = path.join(ROOT, "test/fixtures", name);
      it(`${name}: every message of every user, with its UIDL, size, bytes${version > 1 ? ", read marks" : " and no read marks"} and header lines, before and after a restart`, async () => {
        const expected = JSON.parse(fs.readFileSync(path.join(fixture, "expected.json"), "utf8")) as { [user: string]: (Row & { flags?: number })[] };
        assert.deepEqual(Object.keys(expected).sort(), Object.keys(PASSWORDS));
        const dir = tempDir(name);
        const dataDir = path.join(dir, "card");
        const flashDir = path.join(dir, "flash");
        fs.cpSync(path.join(fixture, "card"), dataDir, { recursive: true });
        fs.cpSync(path.join(fixture, "flash"), flashDir, { recursive: true });
        const lines: string[] = [];
        // testConfig's users are not the fixture's: logging in as dave proves the provisioned settings were read.
        const boot = () => startSimulator({ runtime, config: testConfig(), dataDir, flashDir, smtpPort: 0, pop3Port: 0, log: (l) => lines.push(l) });
        for (const round of ["as written by the older build", "after this build compacted it"]) {
          const sim = await boot();
          try {
            for (const user of Object.keys(PASSWORDS)) {
              const rows = expected[user].map((r) => ({ uidl: r.uidl, size: r.size, bytes: r.bytes, sha256: r.sha256 }));
              assert.deepEqual(await served(sim.pop3Port, user), rows, `${user}, ${round}`);
              const web = await listed(sim.httpPort, user);
              if (version >= 3) {
                // Every folder as that build's IMAP showed it: names, subscriptions, UIDNEXT, UIDs, flags, bytes.
                const folders = JSON.parse(fs.readFileSync(path.join(fixture, "imap.json"), "utf8")) as { [user: string]: { [name: string]: FolderView } };
                assert.deepEqual(await imapFolders(sim.imapPort, user, PASSWORDS[user]), folders[user], `${user}: IMAP folders, ${round}`);
              }
              // IMAP: every message in INBOX, UIDs the sequence numbers of the UIDLs, ascending, the read marks as \Seen.
              const imap = await imapInbox(sim.imapPort, user);
              assert.deepEqual(
                imap.rows,
                expected[user].map((r) => [parseInt(r.uidl.split("-")[1], 16), version >= 3 ? imap.rows.find((x) => x[0] === parseInt(r.uidl.split("-")[1], 16))?.[1] ?? "?" : (r.flags ?? 0) & 1 ? "\\Seen" : "", r.size]),
                `${user}: IMAP's INBOX, ${round}`,
              );
              const epoch = parseInt(expected[user][0].uidl.split("-")[0], 16);
              assert.equal(imap.validity, epoch % 2147483647 || 1, "UIDVALIDITY from the card's epoch");
              assert.ok(imap.next > Math.max(...imap.rows.map((r) => r[0])), "UIDNEXT above every UID");
              for (const r of expected[user]) {
                const [flags, headers] = web.get(r.uidl) ?? [-1, ""];
                assert.equal(flags, r.flags ?? 0, `${user} ${r.uidl} read marks, ${round}`);
                assert.match(headers, /^From: sender\d+@outside\.example\r\nSubject: fixture message \d+\r\n$/, `${user} ${r.uidl} header lines, ${round}`);
              }
            }
          } finally {
            await sim.stop();
          }
        }
        assert.deepEqual(lines.filter((l) => /new store|no valid journal|torn|card unusable|card error|header cache/.test(l)), []);
        // This build's format now (version 4), and the read marks where the web page set them (none on a card older than flags).
        const journals = ["JRNL.A", "JRNL.B"].map((file) => journalRecords(path.join(dataDir, "LB", file)));
        const active = (journals[0][0][2] as number) > (journals[1][0][2] as number) ? journals[0] : journals[1];
        assert.equal(active[0][1], 4, "format version");
        if (version === 1) assert.deepEqual(active.filter((r) => r[0] === "F" || (r[0] === "A" && r.length !== 5)), []);
        fs.rmSync(dir, { recursive: true, force: true });
      });
    }
  });
}
