/**
 * The mailbox boundary with the real services over fake sockets: the header
 * cache is built after SMTP's 250 (on a timer, off the DATA path), and a
 * message deleted at once by a shared opener (the web page's delete, IMAP's
 * EXPUNGE, which POP3's lock does not keep out) while a POP3 session has it listed answers that session's
 * RETR with -ERR, stays readable to a RETR already streaming it, and the
 * session's own deletion of it at QUIT is harmless. Timers run only when the
 * test says so; sends complete one at a time, as on the boards.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { POP3_PORT, SMTP_PORT, startLetterbox } from "../firmware/main";
import { Access, Flag } from "../firmware/mailbox";
import { HeaderCache } from "../firmware/hdrcache";
import { tempDir, testConfig } from "./helpers/fixtures";
import { FakeClient, testHal } from "./helpers/test-hal";

function manualBox(maxMessageBytes = 20000) {
  const dir = tempDir("shared-delete");
  const completions: (() => void)[] = [];
  const hal = testHal({ implementation: "letterbox-test (manual timers)", clock: 1764576000, timers: "manual", random: 7, log: "drop", card: dir });
  const box = startLetterbox(hal, testConfig({ maxMessageBytes }));
  const settle = () => {
    for (let busy = true; busy; ) {
      busy = false;
      while (completions.length > 0) (completions.shift() as () => void)(), (busy = true);
      if (hal.timers.runZeroDelay()) busy = true;
    }
  };
  const connect = (port: number): FakeClient => {
    const client: FakeClient = hal.client(port, { completion: "manual", onSend: () => completions.push(() => client.completeSend()) });
    settle();
    return client;
  };
  const say = (client: FakeClient, text: string) => {
    client.say(text);
    settle();
  };
  const files = () => fs.readdirSync(path.join(dir, "LB", "MSG")).sort();
  return { box, hal, connect, say, settle, files, completions };
}

function bigMessage(subject: string, octets: number): string {
  let s = `From: s@remote.example\r\nSubject: ${subject}\r\n\r\n`;
  while (s.length < octets) s += "line of the body " + s.length + "\r\n";
  return s;
}

test("the header cache is written after the 250, on a timer; the listing reads it with the arrival time", () => {
  const { box, hal, connect, files } = manualBox();
  const smtp = connect(SMTP_PORT);
  smtp.say("HELO a\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
  while (smtp.completeSend()) hal.timers.runZeroDelay();
  smtp.say("From: x@remote.example\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nbody\r\n.\r\n");
  assert.match(smtp.received, /250 2\.0\.0 Ok: queued as 00000001\r\n$/, "the 250 is sent");
  assert.deepEqual(files(), ["00000001.EML"], "no cache yet: it is built on a timer after the 250");
  hal.timers.runZeroDelay();
  assert.deepEqual(files(), ["00000001.EML", "00000001.HDR"]);
  const drop = box.pop3.mailbox.openMaildrop("bob", Access.Shared)!;
  assert.equal(drop.headers(0), "From: x@remote.example\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n", "the fields a listing needs (not the Received line SMTP added)");
  assert.equal(drop.time(0), 1764576000);
  assert.equal(HeaderCache.Start, 7);
  box.stop();
});

test("a message deleted by a shared opener: the POP3 session that listed it gets -ERR on RETR, its QUIT is harmless", () => {
  const { box, connect, say, files } = manualBox();
  const smtp = connect(SMTP_PORT);
  say(smtp, "HELO a\r\n");
  for (const subject of ["one", "two", "three"]) {
    say(smtp, "MAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    say(smtp, `Subject: ${subject}\r\n\r\nbody\r\n.\r\n`);
  }
  const pop = connect(POP3_PORT);
  say(pop, "USER bob\r\nPASS builder99\r\nLIST\r\n");
  assert.match(pop.received, /\+OK 3 messages/);
  const web = box.pop3.mailbox.openMaildrop("bob", Access.Shared)!;
  web.setFlags(0, Flag.Deleted);
  web.setFlags(2, Flag.Deleted);
  web.commit();
  pop.received = "";
  say(pop, "RETR 1\r\n");
  assert.equal(pop.received, "-ERR Message 1 was deleted by another client\r\n");
  pop.received = "";
  say(pop, "RETR 2\r\nRETR 3\r\n"); // pipelined: the second one finds it gone when its turn comes
  assert.match(pop.received, /^\+OK \d+ octets\r\n[^]*Subject: two\r\n[^]*\r\n\.\r\n-ERR Message 3 was deleted by another client\r\n$/);
  assert.equal(box.store.ready, true, "not taken for a card error");
  pop.received = "";
  say(pop, "DELE 1\r\nDELE 2\r\nQUIT\r\n");
  assert.match(pop.received, /^\+OK Message 1 deleted\r\n\+OK Message 2 deleted\r\n\+OK letterbox POP3 server signing off/);
  assert.deepEqual(files(), [], "every file is gone");
  assert.equal(box.pop3.mailbox.openMaildrop("bob", Access.Shared)!.list.count, 0);
  box.stop();
});

test("a message deleted by a shared opener while a RETR streams it is sent whole, then its files go", () => {
  const { box, connect, say, settle, files, completions } = manualBox(400000);
  const smtp = connect(SMTP_PORT);
  const big = bigMessage("big", 300000);
  say(smtp, "HELO a\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
  say(smtp, big + ".\r\n");
  assert.match(smtp.received, /250 2\.0\.0 Ok: queued as 00000001\r\n$/);
  assert.deepEqual(files(), ["00000001.EML", "00000001.HDR"]);
  const pop = connect(POP3_PORT);
  say(pop, "USER bob\r\nPASS builder99\r\n");
  pop.received = "";
  pop.say("RETR 1\r\n");
  // Let a few chunks out, then delete it from the side.
  for (let i = 0; i < 3; i++) (completions.shift() as () => void)();
  assert.ok(pop.received.length > 0 && pop.received.length < 100000, "mid-stream");
  assert.equal(box.store.files.open, 1, "the RETR holds the file");
  const web = box.pop3.mailbox.openMaildrop("bob", Access.Shared)!;
  web.setFlags(0, Flag.Deleted);
  web.commit();
  assert.equal(web.stored(0), -1);
  assert.deepEqual(files(), ["00000001.EML", "00000001.HDR"], "kept while the RETR reads it");
  settle();
  assert.ok(pop.received.endsWith("\r\n.\r\n"));
  const served = pop.received.substring(pop.received.indexOf("\r\n") + 2, pop.received.length - 3);
  assert.ok(served.endsWith(big), "the whole message, after the trace lines SMTP added");
  assert.deepEqual(files(), [], "gone once the RETR closed it");
  say(pop, "DELE 1\r\nQUIT\r\n");
  assert.match(pop.received, /\+OK letterbox POP3 server signing off/);
  box.stop();
});

test("IMAP beside a POP3 session: the lock does not keep IMAP out; a message IMAP expunges answers RETR with -ERR; deliveries and QUIT's deletions reach onChange", () => {
  const { box, connect, say, files } = manualBox();
  const mailbox = box.pop3.mailbox;
  const changed: string[] = [];
  mailbox.onChange = (owner) => changed.push(owner);
  const smtp = connect(SMTP_PORT);
  say(smtp, "HELO a\r\n");
  for (const subject of ["one", "two", "three"]) {
    say(smtp, "MAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    say(smtp, `Subject: ${subject}\r\n\r\nbody\r\n.\r\n`);
  }
  assert.deepEqual(changed, ["bob", "bob", "bob"], "each delivery");
  const pop = connect(POP3_PORT);
  say(pop, "USER bob\r\nPASS builder99\r\nLIST\r\n");
  assert.match(pop.received, /\+OK 3 messages/);
  assert.equal(mailbox.openMaildrop("bob", Access.Exclusive), undefined, "POP3 holds the lock");
  const imap = mailbox.openMaildrop("bob", Access.Shared, 0)!;
  assert.equal(imap.list.count, 3, "IMAP opens beside it");
  imap.expunge([1]);
  assert.deepEqual(changed.slice(3), ["bob"]);
  pop.received = "";
  say(pop, "RETR 2\r\nRETR 3\r\n");
  assert.match(pop.received, /^-ERR Message 2 was deleted by another client\r\n\+OK \d+ octets\r\n[^]*Subject: three\r\n/);
  pop.received = "";
  say(pop, "DELE 1\r\nDELE 2\r\nQUIT\r\n");
  assert.match(pop.received, /signing off/);
  assert.deepEqual(changed.slice(4), ["bob"], "QUIT's deletion, once");
  const fresh = imap.refresh();
  assert.equal(fresh.count, 1);
  assert.equal(fresh.uidAt(0), imap.list.uidAt(2), "IMAP sees what is left: message three");
  assert.equal(files().filter((f) => f.endsWith(".EML")).length, 1);
  box.stop();
});
