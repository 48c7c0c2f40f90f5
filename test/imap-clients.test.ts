/**
 * Real IMAP clients against the box (issue 17): imapflow on every runtime;
 * on the node runtime also Python's imaplib, mbsync, offlineimap, curl
 * imap://, fetchmail and getmail6 over IMAP. Every message put in through
 * one path (SMTP, IMAP APPEND by one client, a Maildir synced up) is read
 * back through another (IMAP by another client, POP3, a Maildir synced down)
 * and must come back byte for byte, once the delivery's trace headers are
 * taken off; clients that store mail with Unix line endings (mbsync,
 * offlineimap, fetchmail, getmail6) are compared with CRLF turned into LF.
 *
 * LETTERBOX_IMAP_TARGET=dovecot runs the same suite, whole, against a
 * private Dovecot (test/helpers/dovecot.ts; Debian's dovecot-imapd,
 * dovecot-pop3d and dovecot-lmtpd, which make test does not install)
 * instead: a failure there is the suite's or a client's, not the box's.
 * LETTERBOX_IMAP_DEBUG=1 prints imapflow's protocol log.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ImapFlow } from "imapflow";
import type { RuntimeName } from "../sim/runtime";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { tempDir } from "./helpers/fixtures";
import { dovecotTarget, ImapTarget, letterboxTarget } from "./helpers/imap-target";
import { Account, poplibFetch } from "./interop/clients";
import {
  curlImap,
  fetchmailImap,
  getmailImap,
  imapflow,
  imaplib,
  ImaplibData,
  mbsync,
  offlineimap,
  putMaildirMessage,
  readMaildirs,
  setMaildirFlags,
  withoutTuid,
} from "./interop/imap";

const TARGET = process.env.LETTERBOX_IMAP_TARGET === "dovecot" ? "dovecot" : "letterbox";

/**
 * What the box's IMAP server does not do yet, by feature: a test that needs
 * one is skipped with this reason (on the box only; Dovecot runs every test).
 * Delete a line when its feature lands: the tests that need it run again.
 */
const NOT_YET: { [feature: string]: string } = {};

type Feature = keyof typeof NOT_YET | string;

/** The skip reason for a test needing `features` on this target, or false (run it). */
function needs(...features: Feature[]): string | false {
  if (TARGET === "dovecot") return false;
  const missing = features.filter((f) => NOT_YET[f] !== undefined);
  return missing.length ? `not yet in letterbox: ${missing.map((f) => NOT_YET[f]).join("; ")}` : false;
}

const FROM = "sender@remote.example";

/** One account per test, so tests don't see each other's mail; logins are full addresses in varied case. */
const NAMES = ["caps", "smtpin", "append", "twosess", "folders", "pylib", "curl", "fetchimap", "getimap", "mbsync", "offline", "crossover", "pipeline", "keywords", "firstsync"];
const ACCOUNTS: { [name: string]: Account } = {};
for (const [i, name] of NAMES.entries()) {
  const login = i % 3 === 0 ? `${name}@example.org` : i % 3 === 1 ? `${name}@example.net` : `${name.toUpperCase()}@Example.Org`;
  ACCOUNTS[name] = { user: name, login, password: `${name}-secret` };
}

/** A message with what transports get wrong: leading dots, a 998-octet line, blank lines, trailing spaces, 8-bit text. */
function sampleMessage(subject: string, body = "Hello.\r\n"): string {
  return (
    `From: Sender <${FROM}>\r\n` +
    `To: someone@example.org\r\n` +
    `Subject: ${subject}\r\n` +
    `Date: Sun, 01 Mar 2026 10:00:00 +0000\r\n` +
    `Message-ID: <${subject.replace(/\W/g, "")}.${Math.random().toString(36).slice(2)}@remote.example>\r\n` +
    `\r\n` +
    body +
    `.a line that starts with a dot\r\n` +
    `..and two dots\r\n` +
    `.\r\n` +
    `trailing spaces   \r\n` +
    `\r\n` +
    "x".repeat(998) +
    "\r\n" +
    `8-bit: Gr\xfc\xdfe, d\xe9j\xe0 vu\r\n` +
    `the end\r\n`
  );
}

const ATTACHMENT = (() => {
  const bytes = Buffer.alloc(40000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 255;
  return bytes;
})();

/** multipart/mixed: a text part (quoted-printable), an HTML part, and a base64 attachment. */
function mimeMessage(subject: string): { message: string; parts: { [part: string]: string } } {
  const text = "Gr=C3=BC=C3=9Fe aus der K=C3=BCche.\r\nA soft line =\r\nbreak.\r\n";
  const html = "<p>Hello <b>world</b></p>\r\n";
  const b64 = ATTACHMENT.toString("base64").replace(/.{76}/g, "$&\r\n") + "\r\n";
  const message =
    `From: Sender <${FROM}>\r\n` +
    `To: Someone <someone@example.org>, other@example.net\r\n` +
    `Cc: cc@example.org\r\n` +
    `Subject: ${subject}\r\n` +
    `Date: Mon, 02 Mar 2026 11:30:00 +0100\r\n` +
    `Message-ID: <${subject.replace(/\W/g, "")}.${Math.random().toString(36).slice(2)}@remote.example>\r\n` +
    `MIME-Version: 1.0\r\n` +
    `Content-Type: multipart/mixed; boundary="=-b1"\r\n` +
    `\r\n` +
    `This is a multi-part message.\r\n` +
    `--=-b1\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\n` +
    `Content-Transfer-Encoding: quoted-printable\r\n` +
    `\r\n` +
    text +
    `\r\n--=-b1\r\n` +
    `Content-Type: text/html; charset=us-ascii\r\n` +
    `\r\n` +
    html +
    `\r\n--=-b1\r\n` +
    `Content-Type: application/octet-stream; name="photo.bin"\r\n` +
    `Content-Disposition: attachment; filename="photo.bin"\r\n` +
    `Content-Transfer-Encoding: base64\r\n` +
    `\r\n` +
    b64 +
    `\r\n--=-b1--\r\n`;
  return { message, parts: { "1": text, "2": html, "3": b64 } };
}

const toLF = (s: string) => s.replace(/\r\n/g, "\n");
const latin1 = (b: Buffer | undefined) => (b ? b.toString("latin1") : "");

/** Byte-exact comparison that names the first difference instead of printing megabytes. */
function sameBytes(actual: string, expected: string, what: string): void {
  if (actual === expected) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  assert.fail(
    `${what}: differs at octet ${i} (lengths ${actual.length} and ${expected.length}):\n` +
      `  got      ${JSON.stringify(actual.slice(Math.max(0, i - 40), i + 40))}\n  expected ${JSON.stringify(expected.slice(Math.max(0, i - 40), i + 40))}`,
  );
}

/** Waits until `check` returns true (polling), or fails after `ms`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every message of a folder through imapflow: uid, flags and the raw message. */
async function folderContents(client: ImapFlow, folder: string): Promise<{ uid: number; flags: string[]; source: string }[]> {
  const lock = await client.getMailboxLock(folder);
  try {
    await client.noop(); // a folder selected already: learn of new messages first
    const out: { uid: number; flags: string[]; source: string }[] = [];
    if ((client.mailbox as { exists: number }).exists === 0) return out;
    for await (const m of client.fetch("1:*", { uid: true, flags: true, source: true })) {
      out.push({ uid: m.uid, flags: [...(m.flags || [])].filter((f) => f !== "\\Recent").sort(), source: latin1(m.source) });
    }
    return out;
  } finally {
    lock.release();
  }
}

/** STATUS (MESSAGES UIDNEXT) of a folder. */
async function status(client: ImapFlow, folder: string): Promise<{ messages: number; uidNext: number }> {
  const s = await client.status(folder, { messages: true, uidNext: true });
  assert.ok(s, `STATUS ${folder}`);
  return { messages: s.messages!, uidNext: s.uidNext! };
}

/** A Maildir tree as mbsync left it, without its X-TUID lines (withoutTuid). */
function untuid(tree: ReturnType<typeof readMaildirs>): ReturnType<typeof readMaildirs> {
  const out: ReturnType<typeof readMaildirs> = {};
  for (const f of Object.keys(tree)) out[f] = tree[f].map((m) => ({ ...m, content: withoutTuid(m.content) }));
  return out;
}

/** imaplib's data for a FETCH: the literal of each (header, literal) pair. */
function literals(data: ImaplibData[]): string[] {
  return data.filter((d): d is ImaplibData[] => Array.isArray(d)).map((d) => latin1(d[1] as Buffer));
}

/** The list of targets: one per runtime on the box, or Dovecot alone. */
const TARGETS: (RuntimeName | "dovecot")[] = TARGET === "dovecot" ? ["dovecot"] : RUNTIME_NAMES;

for (const which of TARGETS) {
  /** The whole suite on the node runtime (and Dovecot); imapflow alone on the others (make test's time). */
  const full = which === "node" || which === "dovecot";
  describe(`real IMAP clients (${which === "dovecot" ? "Dovecot" : which + " runtime"})`, { skip: needs() }, () => {
    let target: ImapTarget;
    let scratch: string;
    const open: ImapFlow[] = [];
    const connect = async (a: Account, options = {}) => {
      const c = await imapflow(target.imapPort, a, options);
      open.push(c);
      return c;
    };

    before(async () => {
      scratch = tempDir("imap-clients");
      const accounts = Object.values(ACCOUNTS);
      target = which === "dovecot" ? await dovecotTarget(accounts, scratch) : await letterboxTarget(which, accounts, scratch);
    });
    after(async () => {
      for (const c of open) if (c.usable) await c.logout().catch(() => c.close());
      if (target) await target.stop();
    });

    it("imapflow logs in with the full address; CAPABILITY has the extensions clients use, LIST the special-use folders", { skip: needs() }, async () => {
      const c = await connect(ACCOUNTS.caps);
      const caps = [...c.capabilities.keys()];
      for (const cap of ["IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "LITERAL+", "NAMESPACE", "ID", "UNSELECT", "ENABLE", "SPECIAL-USE", "CHILDREN"]) {
        assert.ok(caps.includes(cap), `CAPABILITY has ${cap}: ${caps.join(" ")}`);
      }
      assert.ok(!caps.includes("STARTTLS") && !caps.includes("LOGINDISABLED"), caps.join(" "));
      const folders = await c.list();
      const byUse: { [use: string]: string } = {};
      for (const f of folders) if (f.specialUse) byUse[f.specialUse] = f.path;
      assert.deepEqual(byUse, { "\\Inbox": "INBOX", "\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk", "\\Archive": "Archive" });
      assert.ok(folders.every((f) => f.delimiter === "/"), "the hierarchy delimiter is /");
      await c.logout();
    });

    it("SMTP in, imapflow out: BODY[] byte for byte, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE, a partial and each MIME part", { skip: needs("structure") }, async () => {
      const account = ACCOUNTS.smtpin;
      const plain = sampleMessage("smtp in plain");
      const mime = mimeMessage("smtp in mime");
      await target.deliver(account, FROM, plain);
      await target.deliver(account, FROM, mime.message);
      const c = await connect(account);
      const box = await c.mailboxOpen("INBOX");
      assert.equal(box.exists, 2);
      const messages = [];
      for await (const m of c.fetch("1:*", { uid: true, flags: true, size: true, envelope: true, bodyStructure: true, internalDate: true, source: true })) messages.push(m);
      assert.equal(messages.length, 2);
      assert.ok(messages[0].uid < messages[1].uid && messages[1].uid < box.uidNext, "UIDs ascend, below UIDNEXT");
      const [first, second] = messages.map((m) => latin1(m.source));
      sameBytes(target.withoutTrace(first), plain, "the plain message");
      sameBytes(target.withoutTrace(second), mime.message, "the MIME message");
      assert.equal(messages[0].size, first.length, "RFC822.SIZE is the octets of BODY[]");
      assert.equal(messages[1].size, second.length);
      assert.ok(!messages[0].flags!.has("\\Seen"), "BODY.PEEK[] leaves \\Seen alone");
      const env = messages[1].envelope!;
      assert.equal(env.subject, "smtp in mime");
      assert.deepEqual(env.from!.map((a) => [a.name, a.address]), [["Sender", FROM]]);
      assert.deepEqual(env.to!.map((a) => a.address), ["someone@example.org", "other@example.net"]);
      assert.deepEqual(env.cc!.map((a) => a.address), ["cc@example.org"]);
      assert.equal(new Date(env.date!).toISOString(), "2026-03-02T10:30:00.000Z");
      const bs = messages[1].bodyStructure!;
      assert.equal(bs.type, "multipart/mixed");
      assert.deepEqual(bs.childNodes!.map((p) => [p.part, p.type, p.encoding]), [["1", "text/plain", "quoted-printable"], ["2", "text/html", "7bit"], ["3", "application/octet-stream", "base64"]]);
      assert.equal(bs.childNodes![2].dispositionParameters!.filename, "photo.bin");
      assert.equal(bs.childNodes![2].size, mime.parts["3"].length, "the attachment's octet count");
      // A partial fetch and each part, raw (BODY.PEEK[n] and BODY.PEEK[]<origin.count>).
      const uid = messages[1].uid;
      const partial = await c.fetchOne(String(uid), { source: { start: 100, maxLength: 200 } }, { uid: true });
      assert.ok(partial);
      sameBytes(latin1(partial.source), second.slice(100, 300), "BODY.PEEK[]<100.200>");
      const parts = await c.fetchOne(String(uid), { bodyParts: ["1", "2", "3"] }, { uid: true });
      assert.ok(parts);
      for (const p of ["1", "2", "3"]) sameBytes(latin1(parts.bodyParts!.get(p)), mime.parts[p], `BODY.PEEK[${p}]`);
      // imapflow's download decodes the part: the attachment's own bytes.
      const { content } = await c.download(String(uid), "3", { uid: true });
      assert.ok(content);
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(ATTACHMENT), "the attachment, decoded");
      await c.logout();
    });

    it("imapflow APPEND in (flags, date), POP3 out byte for byte; POP3's DELE reaches the IMAP session as EXPUNGE", { skip: needs() }, async () => {
      const account = ACCOUNTS.append;
      const message = sampleMessage("appended");
      const c = await connect(account);
      const before = await status(c, "INBOX");
      const appended = await c.append("INBOX", Buffer.from(message, "latin1"), ["\\Flagged"], new Date("2026-03-01T12:00:00Z"));
      assert.ok(appended && appended.uid, "APPEND answered OK, with APPENDUID");
      // UIDNEXT is a prediction (RFC 3501 2.3.1.1): the box's UIDs come from one sequence for every folder, so the new UID may be above it.
      assert.ok(appended.uid >= before.uidNext, `APPENDUID ${appended.uid}, UIDNEXT was ${before.uidNext}`);
      assert.ok((await status(c, "INBOX")).uidNext > appended.uid, "UIDNEXT now above it");
      await c.mailboxOpen("INBOX");
      const got = await c.fetchOne("1", { uid: true, flags: true, internalDate: true, source: true });
      assert.ok(got);
      assert.equal(got.uid, appended.uid);
      assert.ok(got.flags!.has("\\Flagged"));
      assert.equal(new Date(got.internalDate!).toISOString(), "2026-03-01T12:00:00.000Z", "INTERNALDATE as APPEND gave it");
      sameBytes(latin1(got.source), message, "the appended message through IMAP");
      let expunged = 0;
      c.on("expunge", () => expunged++);
      const pop = await poplibFetch(target.pop3Port, account, { delete: true }, scratch);
      assert.equal(pop.count, 1);
      sameBytes(pop.messages[0], message, "the appended message through POP3 (no trace: it was not delivered)");
      await eventually("the IMAP session sees the EXPUNGE", async () => (await c.noop(), expunged === 1));
      assert.equal((await status(c, "INBOX")).messages, 0);
      await c.logout();
    });

    it("two imapflow sessions on INBOX: a delivery wakes the one in IDLE, flags set by one reach the other, and so does an expunge", { skip: needs() }, async () => {
      const account = ACCOUNTS.twosess;
      const a = await connect(account);
      const b = await connect(account, { autoIdleDelay: 100 });
      await a.mailboxOpen("INBOX");
      await b.mailboxOpen("INBOX");
      const events: string[] = [];
      b.on("exists", (e) => events.push(`exists ${e.count}`));
      b.on("flags", (e) => events.push(`flags ${e.seq} ${[...e.flags].filter((f) => f !== "\\Recent").sort().join(" ")}`));
      b.on("expunge", (e) => events.push(`expunge ${e.seq}`));
      // b sits in IDLE (imapflow idles by itself once it has had nothing to do for 100 ms).
      await eventually("b is in IDLE", () => b.idling);
      const message = sampleMessage("wakes idle");
      await target.deliver(account, FROM, message);
      await eventually("IDLE reports the delivery", () => events.includes("exists 1"));
      await a.noop();
      await a.messageFlagsAdd("1", ["\\Seen", "\\Answered"]);
      await eventually("IDLE reports the flags", () => events.includes("flags 1 \\Answered \\Seen"));
      const got = await b.fetchOne("1", { source: true, flags: true });
      assert.ok(got && got.flags!.has("\\Answered"));
      await eventually("b is in IDLE again", () => b.idling);
      sameBytes(target.withoutTrace(latin1(got.source)), message, "the delivered message");
      await a.messageDelete("1");
      await eventually("IDLE reports the expunge", () => events.includes("expunge 1"));
      await a.logout();
      await b.logout();
    });

    it("imapflow keywords: stored, listed in FLAGS and PERMANENTFLAGS (\\*), fetched, searched, seen by another session in IDLE, kept by COPY", { skip: needs() }, async () => {
      const account = ACCOUNTS.keywords;
      for (const subject of ["keywords one", "keywords two"]) await target.deliver(account, FROM, sampleMessage(subject));
      const a = await connect(account);
      const b = await connect(account, { autoIdleDelay: 100 });
      const box = await a.mailboxOpen("INBOX");
      assert.ok(box.permanentFlags?.has("\\*"), `PERMANENTFLAGS ${[...(box.permanentFlags ?? [])].join(" ")}`);
      await b.mailboxOpen("INBOX");
      const events: string[] = [];
      b.on("flags", (e) => events.push(`flags ${e.seq} ${[...e.flags].filter((f) => f !== "\\Recent").sort().join(" ")}`));
      await eventually("b is in IDLE", () => b.idling);
      assert.equal(await a.messageFlagsAdd("1", ["$Forwarded", "Work"]), true);
      assert.equal(await a.messageFlagsAdd("2", ["Work", "\\Seen"]), true);
      await eventually("IDLE reports the keywords", () => events.includes("flags 1 $Forwarded Work") && events.includes("flags 2 Work \\Seen"));
      const flags = async (c: ImapFlow, seq: string) => [...((await c.fetchOne(seq, { flags: true })) as { flags: Set<string> }).flags].filter((f) => f !== "\\Recent").sort();
      assert.deepEqual(await flags(a, "1"), ["$Forwarded", "Work"]);
      assert.deepEqual(await a.search({ keyword: "Work" }), [1, 2]);
      assert.deepEqual(await a.search({ unKeyword: "$Forwarded" }), [2]);
      assert.equal(await a.messageFlagsRemove("1", ["$Forwarded"]), true);
      await eventually("IDLE reports the keyword cleared", () => events.includes("flags 1 Work"));
      // A new session: FLAGS lists the keywords; COPY keeps them.
      const c = await connect(account);
      const opened = await c.mailboxOpen("INBOX");
      for (const k of ["$Forwarded", "Work"]) assert.ok(opened.flags.has(k), `FLAGS ${[...opened.flags].join(" ")}`);
      await c.mailboxCreate("Tagged");
      await c.messageCopy("1:2", "Tagged");
      await c.mailboxOpen("Tagged");
      assert.deepEqual([await flags(c, "1"), await flags(c, "2")], [["Work"], ["Work", "\\Seen"]]);
      for (const x of [a, b, c]) await x.logout();
    });

    it("imapflow files mail into folders: CREATE (nested, non-ASCII), COPY, MOVE, STATUS, RENAME, DELETE; UIDs ascend and are never reused", { skip: needs() }, async () => {
      const account = ACCOUNTS.folders;
      const sent = [sampleMessage("folders one"), sampleMessage("folders two"), mimeMessage("folders three").message];
      for (const m of sent) await target.deliver(account, FROM, m);
      const c = await connect(account);
      assert.ok((await c.mailboxCreate("Projects/2026")).created);
      assert.ok((await c.mailboxCreate("K\u00fcche")).created);
      const paths = (await c.list()).map((f) => f.path);
      for (const p of ["Projects/2026", "K\u00fcche"]) assert.ok(paths.includes(p), `LIST shows ${p}: ${paths.join(", ")}`);
      const inbox = await c.mailboxOpen("INBOX");
      const uidValidity = inbox.uidValidity;
      const copied = await c.messageCopy("1", "K\u00fcche");
      assert.ok(copied && copied.uidMap && copied.uidMap.size === 1, "COPYUID");
      const moved = await c.messageMove("2:3", "Projects/2026");
      assert.ok(moved && moved.uidMap && moved.uidMap.size === 2, "MOVE's COPYUID");
      assert.equal((await status(c, "INBOX")).messages, 1);
      assert.equal((await status(c, "Projects/2026")).messages, 2);
      const kitchen = await folderContents(c, "K\u00fcche");
      assert.deepEqual(kitchen.map((m) => m.uid), [...copied.uidMap!.values()]);
      sameBytes(target.withoutTrace(kitchen[0].source), sent[0], "the copy");
      const projects = await folderContents(c, "Projects/2026");
      assert.deepEqual(projects.map((m) => m.uid), [...moved.uidMap!.values()]);
      projects.forEach((m, i) => sameBytes(target.withoutTrace(m.source), sent[i + 1], `moved message ${i + 1}`));
      // Expunged UIDs are not given again: the next message gets a higher one.
      const inboxUids = (await folderContents(c, "INBOX")).map((m) => m.uid);
      await target.deliver(account, FROM, sampleMessage("folders four"));
      const after = (await folderContents(c, "INBOX")).map((m) => m.uid);
      assert.equal(after.length, 2);
      assert.ok(after[1] > Math.max(...inboxUids, ...[...moved.uidMap!.keys()]), `a new UID (${after[1]}) above every earlier one`);
      assert.equal((await c.mailboxOpen("INBOX")).uidValidity, uidValidity, "UIDVALIDITY unchanged");
      await c.mailboxRename("K\u00fcche", "Kitchen");
      await c.mailboxDelete("Projects/2026");
      const now = (await c.list()).map((f) => f.path);
      assert.ok(now.includes("Kitchen") && !now.includes("K\u00fcche") && !now.includes("Projects/2026"), now.join(", "));
      sameBytes(target.withoutTrace((await folderContents(c, "Kitchen"))[0].source), sent[0], "the copy after RENAME");
      await c.logout();
    });

    if (!full) return;

    it("imaplib (scripted): APPEND with flags and date, SELECT, UID SEARCH, UID FETCH, STORE, COPY, EXPUNGE; BODY[] sets \\Seen, EXAMINE does not", { skip: needs("structure", "search") }, async () => {
      const account = ACCOUNTS.pylib;
      const one = sampleMessage("imaplib one");
      const two = mimeMessage("imaplib two").message;
      const r = await imaplib(target.imapPort, account, [
        ["append", "INBOX", "(\\Draft)", '"01-Mar-2026 10:00:00 +0000"', Buffer.from(one, "latin1")],
        ["append", "INBOX", "", '"02-Mar-2026 10:00:00 +0000"', Buffer.from(two, "latin1")],
        ["create", "Saved"],
        ["select", "INBOX", true],
        ["uid", "FETCH", "1:*", "(BODY[])"],
        ["uid", "FETCH", "1:*", "(FLAGS)"],
        ["select", "INBOX"],
        ["uid", "SEARCH", "SUBJECT", '"imaplib two"'],
        ["uid", "SEARCH", "FROM", FROM, "LARGER", "50000"],
        ["uid", "SEARCH", "BODY", "WORLD</B>"],
        ["uid", "SEARCH", "DRAFT"],
        ["fetch", "2", "(RFC822.SIZE INTERNALDATE BODY[HEADER.FIELDS (Subject)])"],
        ["fetch", "1:2", "(BODY[])"],
        ["fetch", "1:2", "(FLAGS)"],
        ["copy", "2", "Saved"],
        ["store", "1", "+FLAGS", "(\\Deleted)"],
        ["expunge"],
        ["select", "Saved"],
        ["fetch", "1", "(FLAGS BODY.PEEK[])"],
      ]);
      const [append1, append2, , examine, peek, flagsExamined, select, bySubject, byFromLarger, byBody, byDraft, header, bodies, flagsAfter, copy, store, expunge, saved, savedFetch] = r.results;
      for (const [typ] of [append1, append2, examine, select, copy, store, expunge, saved]) assert.equal(typ, "OK");
      assert.equal(String(examine[1][0]), "2", "SELECT's EXISTS");
      assert.deepEqual(literals(peek[1]), [one, two], "BODY[] under EXAMINE, byte for byte");
      assert.ok(String(flagsExamined[1][0]).includes("\\Draft") && !String(flagsExamined[1].join(" ")).includes("\\Seen"), `EXAMINE set no \\Seen: ${flagsExamined[1]}`);
      const uids = (s: ImaplibData[]) => latin1(s[0] as Buffer).trim().split(/\s+/).filter(Boolean).map(Number);
      const [uid1, uid2] = [...uids(byDraft[1]), ...uids(bySubject[1])];
      assert.ok(uid1 < uid2, `SEARCH DRAFT ${uid1}, SEARCH SUBJECT ${uid2}`);
      assert.deepEqual(uids(byFromLarger[1]), [uid2]);
      assert.deepEqual(uids(byBody[1]), [uid2], "BODY, case-insensitive");
      const hdr = header[1][0] as Buffer[];
      assert.match(latin1(hdr[0]), new RegExp(`RFC822\\.SIZE ${two.length}\\b`));
      assert.match(latin1(hdr[0]), /INTERNALDATE "(?:02| 2)-Mar-2026 10:00:00 \+0000"/, "RFC 3501 date-day-fixed: a space or a zero before one digit");
      assert.equal(latin1(hdr[1]), "Subject: imaplib two\r\n\r\n");
      assert.deepEqual(literals(bodies[1]), [one, two], "BODY[] under SELECT");
      assert.ok(flagsAfter[1].every((f) => String(f).includes("\\Seen")), `BODY[] set \\Seen: ${flagsAfter[1]}`);
      assert.ok(expunge[1].map(String).includes("1"), `EXPUNGE's untagged response: ${expunge[1]}`);
      assert.equal(literals(savedFetch[1])[0], two, "the copy");
      assert.match(latin1((savedFetch[1][0] as Buffer[])[0]), /\\Seen/, "COPY keeps the flags");
    });

    it("curl imap://: lists the folders, APPENDs an upload, fetches it and an SMTP delivery by UID; POP3 reads the upload", { skip: needs() }, async () => {
      const account = ACCOUNTS.curl;
      const delivered = sampleMessage("curl delivered");
      const uploaded = mimeMessage("curl uploaded").message;
      await target.deliver(account, FROM, delivered);
      await curlImap(target.imapPort, account, "INBOX", { upload: uploaded, scratch });
      const listing = await curlImap(target.imapPort, account, "");
      for (const f of ["INBOX", "Sent", "Trash"]) assert.match(listing, new RegExp(`^\\* LIST \\([^)]*\\) "/" "?${f}"?\\r?$`, "m"));
      const search = await curlImap(target.imapPort, account, "INBOX", { request: "UID SEARCH ALL" });
      const uids = /^\* SEARCH ([\d ]+)/m.exec(search)![1].trim().split(" ").map(Number);
      assert.equal(uids.length, 2, search);
      sameBytes(target.withoutTrace(await curlImap(target.imapPort, account, `INBOX;UID=${uids[0]}`)), delivered, "curl, the delivered message");
      sameBytes(await curlImap(target.imapPort, account, `INBOX;UID=${uids[1]}`), uploaded, "curl, the uploaded message");
      const pop = await poplibFetch(target.pop3Port, account, {}, scratch);
      sameBytes(pop.messages[1], uploaded, "POP3, the uploaded message");
    });

    it("fetchmail over IMAP: keep leaves the mail, no-keep deletes it (IMAP sees INBOX empty)", { skip: needs("structure") }, async () => {
      const account = ACCOUNTS.fetchimap;
      const delivered = sampleMessage("fetchmail imap");
      const appended = mimeMessage("fetchmail appended").message;
      await target.deliver(account, FROM, delivered);
      const c = await connect(account);
      await c.append("INBOX", Buffer.from(appended, "latin1"));
      const kept = await fetchmailImap(target.imapPort, account, true, scratch);
      assert.equal(kept.length, 2);
      sameBytes(target.withoutTrace(kept[0], "\n"), toLF(delivered), "fetchmail, the delivered message");
      sameBytes(kept[1], toLF(appended), "fetchmail, the appended message");
      assert.equal((await status(c, "INBOX")).messages, 2, "keep left them");
      const fetched = await fetchmailImap(target.imapPort, account, false, scratch);
      assert.deepEqual(fetched, kept);
      assert.equal((await status(c, "INBOX")).messages, 0, "no-keep deleted them");
      await c.logout();
    });

    it("getmail6 over IMAP into a Maildir, deleting what it read", { skip: needs() }, async () => {
      const account = ACCOUNTS.getimap;
      const delivered = sampleMessage("getmail imap");
      await target.deliver(account, FROM, delivered);
      const kept = await getmailImap(target.imapPort, account, false, scratch);
      assert.equal(kept.length, 1);
      sameBytes(target.withoutTrace(kept[0], "\n"), toLF(delivered), "getmail, the delivered message");
      const got = await getmailImap(target.imapPort, account, true, scratch);
      assert.deepEqual(got, kept);
      const pop = await poplibFetch(target.pop3Port, account, {}, scratch);
      assert.equal(pop.count, 0, "getmail deleted it");
    });

    it("mbsync syncs folders, messages and flags both ways, then deletions, then into a fresh Maildir without loss", { skip: needs() }, async () => {
      const account = ACCOUNTS.mbsync;
      const local = path.join(scratch, "mbsync-mail");
      const delivered = [sampleMessage("mbsync delivered one"), mimeMessage("mbsync delivered two").message];
      for (const m of delivered) await target.deliver(account, FROM, m);
      const c = await connect(account);
      await c.mailboxCreate("Projects/2026");
      const filed = sampleMessage("mbsync filed on the server");
      await c.append("Projects/2026", Buffer.from(filed, "latin1"), ["\\Flagged"]);
      await c.mailboxOpen("INBOX");
      await c.messageFlagsAdd("1", ["\\Seen"]);
      // The near side: a folder and messages the server has not seen.
      const localOnly = sampleMessage("mbsync written locally");
      const localInbox = mimeMessage("mbsync local inbox").message;
      putMaildirMessage(path.join(local, "Local"), toLF(localOnly), "FS");
      putMaildirMessage(path.join(local, "INBOX"), toLF(localInbox), "S");
      await mbsync(target.imapPort, account, local, scratch);

      // Down: every server folder, each message with its flags.
      let near = untuid(readMaildirs(local));
      for (const f of ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects/2026", "Local"]) assert.ok(near[f], `local folder ${f}: ${Object.keys(near)}`);
      const nearInbox = near.INBOX.map((m) => ({ flags: m.flags, content: m.content }));
      const expectInbox = [
        { flags: "S", content: toLF(delivered[0]) },
        { flags: "", content: toLF(delivered[1]) },
        { flags: "S", content: toLF(localInbox) },
      ];
      const strip = (m: { flags: string; content: string }) => {
        try {
          return { flags: m.flags, content: target.withoutTrace(m.content, "\n") };
        } catch {
          return m; // the one written locally has no trace
        }
      };
      assert.deepEqual(nearInbox.map(strip).sort((x, y) => (x.content < y.content ? -1 : 1)), expectInbox.sort((x, y) => (x.content < y.content ? -1 : 1)));
      assert.deepEqual(near["Projects/2026"].map((m) => [m.flags, m.content]), [["F", toLF(filed)]]);
      // Up: the local folder and messages, with their flags, in CRLF.
      const serverLocal = (await folderContents(c, "Local")).map((m) => ({ ...m, source: withoutTuid(m.source) }));
      assert.deepEqual(serverLocal.map((m) => [m.flags, m.source]), [[["\\Flagged", "\\Seen"], localOnly]]);
      const serverInbox = (await folderContents(c, "INBOX")).map((m) => ({ ...m, source: withoutTuid(m.source) }));
      assert.equal(serverInbox.length, 3);
      const up = serverInbox.find((m) => m.source.includes("mbsync local inbox"))!;
      sameBytes(up.source, localInbox, "mbsync up, imapflow down");
      assert.deepEqual(up.flags, ["\\Seen"]);

      // Changes on both sides: local flags and a local deletion; server flags and a server expunge.
      const toFlag = near.INBOX.find((m) => m.content.includes("mbsync delivered two"))!;
      setMaildirFlags(toFlag.file, "FS");
      fs.unlinkSync(near.Local[0].file);
      await c.mailboxOpen("Projects/2026");
      await c.messageFlagsAdd("1", ["\\Answered"]);
      const serverSide = sampleMessage("mbsync second round");
      await c.append("Projects/2026", Buffer.from(serverSide, "latin1"), ["\\Seen"]);
      await c.mailboxOpen("INBOX");
      const expungeUid = serverInbox.find((m) => m.source.includes("mbsync delivered one"))!.uid;
      await c.messageDelete(String(expungeUid), { uid: true });
      await mbsync(target.imapPort, account, local, scratch);

      near = untuid(readMaildirs(local));
      assert.equal(near.INBOX.length, 2, "the server's expunge reached the Maildir");
      assert.ok(!near.INBOX.some((m) => m.content.includes("mbsync delivered one")));
      assert.equal(near.Local.length, 0);
      assert.deepEqual(near["Projects/2026"].map((m) => [m.flags, m.content]).sort(), [["FR", toLF(filed)], ["S", toLF(serverSide)]].sort());
      assert.equal((await folderContents(c, "Local")).length, 0, "the local deletion reached the server");
      const flagged = (await folderContents(c, "INBOX")).find((m) => m.source.includes("mbsync delivered two"))!;
      assert.deepEqual(flagged.flags, ["\\Flagged", "\\Seen"], "local flags reached the server");

      // And back: a fresh Maildir gets exactly what the first one has.
      const fresh = path.join(scratch, "mbsync-fresh");
      await mbsync(target.imapPort, account, fresh, scratch);
      const again = untuid(readMaildirs(fresh));
      const summary = (tree: ReturnType<typeof readMaildirs>) =>
        Object.keys(tree)
          .filter((f) => f !== "")
          .sort()
          .map((f) => [f, tree[f].map((m) => [m.flags, m.content])]);
      assert.deepEqual(summary(again), summary(near));
      await c.logout();
    });

    it("mbsync with its default pipelining (APPENDs with LITERAL+ sent behind FETCHes) syncs large messages both ways", { skip: needs() }, async () => {
      const account = ACCOUNTS.pipeline;
      const local = path.join(scratch, "pipeline-mail");
      const down: string[] = [];
      const up: string[] = [];
      // A folder of some size: the first sync pipelines a UID FETCH per message (~43 octets each: held
      // behind the one running, and the held input is capped at 16 KiB, so ~370 at most in one burst);
      // then several new messages each way per sync.
      const FILLERS = 150;
      const filler = await connect(account);
      for (let i = 0; i < FILLERS; i++) await filler.append("INBOX", Buffer.from(`Subject: filler ${i}\r\n\r\nfiller\r\n`), ["\\Seen"]);
      await filler.logout();
      for (let round = 0; round < 4; round++) {
        for (let k = 0; k <= round; k++) {
          const d = mimeMessage(`pipeline down ${round}.${k}`).message;
          const u = mimeMessage(`pipeline up ${round}.${k}`).message;
          await target.deliver(account, FROM, d);
          putMaildirMessage(path.join(local, "INBOX"), toLF(u), "S");
          down.push(d);
          up.push(u);
        }
        await mbsync(target.imapPort, account, local, scratch);
      }
      const fillers = (m: string) => !m.startsWith("Subject: filler ");
      const near = readMaildirs(local).INBOX.map((m) => withoutTuid(m.content)).filter(fillers);
      assert.equal(readMaildirs(local).INBOX.length, near.length + FILLERS);
      const strip = (m: string) => (m.startsWith("Return-Path:") ? target.withoutTrace(m, "\n") : m);
      assert.deepEqual(near.map(strip).sort(), [...down, ...up].map(toLF).sort());
      const c = await connect(account);
      const far = (await folderContents(c, "INBOX")).map((m) => withoutTuid(m.source)).filter(fillers);
      assert.deepEqual(far.map((m) => (m.startsWith("Return-Path:") ? target.withoutTrace(m) : m)).sort(), [...down, ...up].sort());
      await c.logout();
    });

    it("mbsync's first sync of 500 messages with its default pipelining: at most one run ended past the 16 KiB held (keeping every message answered), the next completes it, byte for byte", { skip: needs() }, async () => {
      const account = ACCOUNTS.firstsync;
      const local = path.join(scratch, "firstsync-mail");
      // 500 UID FETCHes of ~43 octets pipelined behind the first are more than the box holds (firmware/imap.ts Limit.Held).
      const N = 500;
      const sent: string[] = [];
      const filler = await connect(account);
      for (let i = 0; i < N; i++) {
        const m = `Subject: first sync ${i}\r\nMessage-ID: <first${i}@remote.example>\r\n\r\nmessage ${i} of the first sync\r\n`;
        sent.push(m);
        await filler.append("INBOX", Buffer.from(m), ["\\Seen"]);
      }
      await filler.logout();
      let ended = 0;
      for (;;) {
        try {
          await mbsync(target.imapPort, account, local, scratch);
          break;
        } catch (e) {
          // Dovecot holds any amount: only the box may end a run, once.
          assert.ok(TARGET === "letterbox" && ended === 0, `mbsync failed: ${String(e).slice(-400)}`);
          assert.match(String(e), /Too much input while a command runs/);
          ended++;
          const kept = readMaildirs(local).INBOX.length;
          assert.ok(kept >= 300, `the ended run keeps what it was answered: ${kept} of ${N}`);
        }
      }
      const near = readMaildirs(local).INBOX.map((m) => withoutTuid(m.content));
      assert.deepEqual(near.sort(), sent.map(toLF).sort());
    });

    it("offlineimap syncs folders, messages and flags both ways, then deletions, then into a fresh Maildir without loss", { skip: needs() }, async () => {
      const account = ACCOUNTS.offline;
      const local = path.join(scratch, "offlineimap-mail");
      const meta = path.join(scratch, "offlineimap-meta");
      const delivered = sampleMessage("offlineimap delivered");
      await target.deliver(account, FROM, delivered);
      const c = await connect(account);
      await c.mailboxCreate("Receipts");
      const filed = mimeMessage("offlineimap filed").message;
      await c.append("Receipts", Buffer.from(filed, "latin1"), ["\\Seen", "\\Answered"]);
      const localOnly = sampleMessage("offlineimap written locally");
      putMaildirMessage(path.join(local, "Notes"), localOnly, "F");
      await offlineimap(target.imapPort, account, local, meta);

      let near = readMaildirs(local);
      for (const f of ["INBOX", "Sent", "Drafts", "Receipts", "Notes"]) assert.ok(near[f], `local folder ${f}: ${Object.keys(near)}`);
      assert.equal(near.INBOX.length, 1);
      sameBytes(target.withoutTrace(near.INBOX[0].content, "\n"), toLF(delivered), "offlineimap down (with Unix line endings)");
      assert.equal(near["Receipts"][0].flags, "RS");
      const serverNotes = await folderContents(c, "Notes");
      assert.equal(serverNotes.length, 1);
      sameBytes(serverNotes[0].source, localOnly, "offlineimap up, imapflow down");
      assert.deepEqual(serverNotes[0].flags, ["\\Flagged"]);

      // Changes: a local flag, a server-side expunge, a server-side new message.
      setMaildirFlags(near.INBOX[0].file, "S");
      await c.mailboxOpen("Receipts");
      await c.messageDelete("1");
      const later = sampleMessage("offlineimap later");
      await c.append("Receipts", Buffer.from(later, "latin1"));
      await offlineimap(target.imapPort, account, local, meta);
      near = readMaildirs(local);
      assert.deepEqual(near["Receipts"].map((m) => m.flags), [""]);
      assert.ok(near["Receipts"][0].content.includes("offlineimap later"));
      const inbox = await folderContents(c, "INBOX");
      assert.deepEqual(inbox[0].flags, ["\\Seen"], "the local flag reached the server");

      const fresh = path.join(scratch, "offlineimap-fresh");
      await offlineimap(target.imapPort, account, fresh, path.join(scratch, "offlineimap-meta2"));
      const again = readMaildirs(fresh);
      for (const f of ["INBOX", "Receipts", "Notes"]) {
        // offlineimap stores Unix line endings; Notes' message was written locally with CRLF.
        assert.deepEqual(again[f].map((m) => [m.flags, m.content]), near[f].map((m) => [m.flags, toLF(m.content)]), `fresh sync of ${f}`);
      }
      await c.logout();
    });

    it("one mailbox through every path: mbsync up, imaplib down; imaplib APPEND, getmail and POP3 down; curl up, mbsync down", { skip: needs() }, async () => {
      const account = ACCOUNTS.crossover;
      const local = path.join(scratch, "crossover-mail");
      const viaMbsync = mimeMessage("crossover via mbsync").message;
      putMaildirMessage(path.join(local, "INBOX"), toLF(viaMbsync), "");
      await mbsync(target.imapPort, account, local, scratch);
      const viaImaplib = sampleMessage("crossover via imaplib");
      const r = await imaplib(target.imapPort, account, [["append", "INBOX", "", null, Buffer.from(viaImaplib, "latin1")], ["select", "INBOX"], ["fetch", "1:*", "(BODY.PEEK[])"]]);
      assert.deepEqual(literals(r.results[2][1]).map(withoutTuid).sort(), [viaMbsync, viaImaplib].sort(), "imaplib reads what mbsync put up");
      const viaCurl = sampleMessage("crossover via curl");
      await curlImap(target.imapPort, account, "INBOX", { upload: viaCurl, scratch });
      await mbsync(target.imapPort, account, local, scratch);
      const near = readMaildirs(local).INBOX.map((m) => withoutTuid(m.content));
      assert.deepEqual(near.sort(), [viaMbsync, viaImaplib, viaCurl].map(toLF).sort(), "mbsync brings down what imaplib and curl put up");
      const pop = await poplibFetch(target.pop3Port, account, {}, scratch);
      assert.deepEqual(pop.messages.map(withoutTuid).sort(), [viaMbsync, viaImaplib, viaCurl].sort(), "POP3 reads all three");
      const got = await getmailImap(target.imapPort, account, false, scratch);
      // getmail adds a Return-Path to a message that has none (getmailImap).
      assert.deepEqual(got.map(withoutTuid).sort(), [viaMbsync, viaImaplib, viaCurl].map((m) => "Return-Path: <unknown>\n" + toLF(m)).sort(), "getmail reads all three");
    });
  });
}
