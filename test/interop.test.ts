/**
 * Real mail clients against the simulator, on every runtime. Each message is
 * sent through one client and retrieved through another, and must come back
 * byte for byte as sent, once the box's own trace headers are taken off.
 * fetchmail and getmail6 hand messages to their MDA / Maildir with Unix line
 * endings (their documented behaviour), so their copies are compared with
 * CRLF turned into LF.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Config } from "../firmware/config";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { tempDir, testConfig } from "./helpers/fixtures";
import {
  Account,
  curlPop,
  curlSend,
  fetchmail,
  fetchmailAsInReadme,
  getmail,
  mpop,
  msmtpSend,
  poplibFetch,
  PrivatePostfix,
  smtplibSend,
  swaksSend,
  withoutBoxTrace,
} from "./interop/clients";

const FROM = "sender@remote.example";

/**
 * One account per test, so tests don't see each other's mail. Every POP3
 * client logs in with the full address, as mail clients fill it in, at
 * either configured domain and in varied letter case.
 */
const ACCOUNTS: { [name: string]: Account } = {};
const names = ["plain", "multi1", "multi2", "eightbit", "attach", "curl", "fetchkeep", "pylib", "relay", "msmtp", "readme"];
for (const [i, name] of names.entries()) {
  const login = i % 3 === 0 ? `${name}@example.org` : i % 3 === 1 ? `${name}@example.net` : `${name.toUpperCase()}@Example.Org`;
  ACCOUNTS[name] = { user: name, login, password: name + "-secret" };
}

function interopConfig(): Config {
  const config = testConfig({ maxMessageBytes: 2000000, maxRecipients: 10 });
  for (const a of Object.values(ACCOUNTS)) config.users.push({ name: a.user, password: a.password });
  return config;
}

/** A message with what transports get wrong: leading dots, a 998-octet line, blank lines, trailing spaces. */
function sampleMessage(subject: string, body = "Hello.\r\n"): string {
  return (
    `From: Sender <${FROM}>\r\n` +
    `To: someone@example.org\r\n` +
    `Subject: ${subject}\r\n` +
    `Date: Sun, 01 Mar 2026 10:00:00 +0000\r\n` +
    `Message-ID: <${subject.replace(/\W/g, "")}@remote.example>\r\n` +
    `\r\n` +
    body +
    `.a line that starts with a dot\r\n` +
    `..and two dots\r\n` +
    `.\r\n` +
    `trailing spaces   \r\n` +
    `\r\n` +
    "x".repeat(998) +
    "\r\n" +
    `the end\r\n`
  );
}

const toLF = (s: string) => s.replace(/\r\n/g, "\n");

for (const runtime of RUNTIME_NAMES) {
  describe(`real mail clients (${runtime} runtime)`, () => {
    let sim: Simulator;
    let scratch: string;
    const address = (a: Account) => `${a.user}@example.org`;

    before(async () => {
      scratch = tempDir("interop");
      sim = await startSimulator({ runtime, config: interopConfig(), dataDir: path.join(scratch, "card"), smtpPort: 0, pop3Port: 0 });
    });
    after(() => sim.stop());

    it("swaks sends a plain message; poplib (USER/PASS) retrieves it", async () => {
      const file = path.join(scratch, "plain.eml");
      fs.writeFileSync(file, sampleMessage("plain"), "latin1");
      const sent = await swaksSend(sim.smtpPort, FROM, [address(ACCOUNTS.plain)], { dataFile: file });
      assert.ok(sent.includes("\r\n.a line that starts"), "swaks sent the sample as given");
      const got = await poplibFetch(sim.pop3Port, ACCOUNTS.plain, { delete: true }, scratch);
      assert.equal(got.count, 1);
      assert.equal(got.sizes["1"], got.messages[0].length, "LIST gives the exact size");
      assert.equal(withoutBoxTrace(got.messages[0]), sent);
      assert.equal((await poplibFetch(sim.pop3Port, ACCOUNTS.plain, {}, scratch)).count, 0, "deleted at QUIT");
    });

    it("swaks sends to two recipients; poplib (APOP) retrieves each copy", async () => {
      const file = path.join(scratch, "multi.eml");
      fs.writeFileSync(file, sampleMessage("multi"), "latin1");
      const sent = await swaksSend(sim.smtpPort, FROM, [address(ACCOUNTS.multi1), address(ACCOUNTS.multi2)], { dataFile: file });
      for (const account of [ACCOUNTS.multi1, ACCOUNTS.multi2]) {
        const got = await poplibFetch(sim.pop3Port, account, { apop: true }, scratch);
        assert.equal(got.count, 1, `${account.user} has one message`);
        assert.equal(withoutBoxTrace(got.messages[0]), sent);
      }
    });

    it("swaks sends 8-bit text; curl (pop3://) lists and retrieves it", async () => {
      const file = path.join(scratch, "8bit.eml");
      const body = "Content-Type: text/plain; charset=utf-8\r\n\r\n" + Buffer.from("Grüße, déjà vu, 日本語\r\n", "utf8").toString("latin1") + "\xff\xfe raw high bytes\r\n";
      fs.writeFileSync(file, sampleMessage("eightbit", body), "latin1");
      const sent = await swaksSend(sim.smtpPort, FROM, [address(ACCOUNTS.eightbit)], { dataFile: file });
      const listing = await curlPop(sim.pop3Port, ACCOUNTS.eightbit);
      const [number, size] = listing.trim().split(/\s+/);
      assert.equal(number, "1");
      const message = await curlPop(sim.pop3Port, ACCOUNTS.eightbit, 1);
      assert.equal(Number(size), message.length);
      assert.equal(withoutBoxTrace(message), sent);
    });

    it("swaks sends an attachment; getmail6 delivers it into a Maildir", async () => {
      const attachment = path.join(scratch, "photo.bin");
      const bytes = Buffer.alloc(5000);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 255;
      fs.writeFileSync(attachment, bytes);
      const sent = await swaksSend(sim.smtpPort, FROM, [address(ACCOUNTS.attach)], { attach: attachment, body: "see attached" });
      assert.ok(sent.includes(bytes.toString("base64").slice(0, 60)), "swaks encoded the attachment in base64");
      const messages = await getmail(sim.pop3Port, ACCOUNTS.attach, scratch);
      assert.equal(messages.length, 1);
      assert.equal(withoutBoxTrace(messages[0], "\n"), toLF(sent));
      assert.equal((await poplibFetch(sim.pop3Port, ACCOUNTS.attach, {}, scratch)).count, 0, "getmail deleted it");
    });

    it("curl (smtp://) sends; fetchmail retrieves in keep mode, then in no-keep mode", async () => {
      const message = sampleMessage("curl");
      await curlSend(sim.smtpPort, FROM, [address(ACCOUNTS.curl)], message, scratch);
      const kept = await fetchmail(sim.pop3Port, ACCOUNTS.curl, true, scratch);
      assert.equal(kept.length, 1);
      assert.equal(withoutBoxTrace(kept[0], "\n"), toLF(message));
      assert.equal((await poplibFetch(sim.pop3Port, ACCOUNTS.curl, {}, scratch)).count, 1, "keep left it on the box");
      const fetched = await fetchmail(sim.pop3Port, ACCOUNTS.curl, false, scratch);
      assert.equal(fetched.length, 1);
      assert.equal(fetched[0], kept[0]);
      assert.equal((await poplibFetch(sim.pop3Port, ACCOUNTS.curl, {}, scratch)).count, 0, "no-keep deleted it");
    });

    it("smtplib sends two messages; fetchmail (keep) and curl see the same bytes", async () => {
      const first = sampleMessage("smtplib one");
      const second = sampleMessage("smtplib two", "8-bit: \xe9t\xe9\r\n");
      await smtplibSend(sim.smtpPort, FROM, [address(ACCOUNTS.pylib)], first);
      await smtplibSend(sim.smtpPort, FROM, [address(ACCOUNTS.pylib)], second);
      const viaCurl = [await curlPop(sim.pop3Port, ACCOUNTS.pylib, 1), await curlPop(sim.pop3Port, ACCOUNTS.pylib, 2)];
      assert.deepEqual(viaCurl.map((m) => withoutBoxTrace(m)), [first, second]);
      const viaFetchmail = await fetchmail(sim.pop3Port, ACCOUNTS.pylib, true, scratch);
      assert.deepEqual(viaFetchmail.map((m) => withoutBoxTrace(m, "\n")).sort(), [toLF(first), toLF(second)].sort());
    });

    it("msmtp sends; mpop retrieves with USER/PASS (keeping), then with APOP (deleting)", async () => {
      const message = sampleMessage("msmtp");
      await msmtpSend(sim.smtpPort, FROM, [address(ACCOUNTS.msmtp)], message);
      const kept = await mpop(sim.pop3Port, ACCOUNTS.msmtp, { keep: true }, scratch);
      assert.equal(kept.length, 1);
      assert.equal(withoutBoxTrace(kept[0], "\n"), toLF(message));
      const deleted = await mpop(sim.pop3Port, ACCOUNTS.msmtp, { apop: true }, scratch);
      assert.deepEqual(deleted, kept);
      assert.equal((await poplibFetch(sim.pop3Port, ACCOUNTS.msmtp, {}, scratch)).count, 0, "mpop deleted it");
    });

    it("fetchmail with README's configuration (its defaults plus sslproto '') retrieves and deletes", async () => {
      const message = sampleMessage("readme");
      await smtplibSend(sim.smtpPort, FROM, [address(ACCOUNTS.readme)], message);
      const got = await fetchmailAsInReadme(sim.pop3Port, ACCOUNTS.readme, scratch);
      assert.equal(got.length, 1);
      assert.equal(withoutBoxTrace(got[0], "\n"), toLF(message));
      assert.equal((await poplibFetch(sim.pop3Port, ACCOUNTS.readme, {}, scratch)).count, 0, "fetchmail deletes by default");
    });

    describe("Postfix relaying into the box", () => {
      let postfix: PrivatePostfix | undefined;
      before(async () => {
        postfix = await PrivatePostfix.start(scratch, ["example.org", "example.net"], sim.smtpPort);
      });
      after(async () => {
        if (postfix) await postfix.stop();
      });

      it("smtplib submits to Postfix, Postfix delivers over SMTP, poplib retrieves", async () => {
        const message = sampleMessage("relayed", "through a real MTA\r\n");
        await smtplibSend(postfix!.port, FROM, [address(ACCOUNTS.relay)], message);
        let got = await poplibFetch(sim.pop3Port, ACCOUNTS.relay, {}, scratch);
        for (let waited = 0; got.count === 0 && waited < 30000; waited += 500) {
          await new Promise((r) => setTimeout(r, 500));
          got = await poplibFetch(sim.pop3Port, ACCOUNTS.relay, {}, scratch);
        }
        assert.equal(got.count, 1, "Postfix delivered within 30 s");
        // Postfix adds its own Received header on top of the message; the rest is untouched.
        const rest = withoutBoxTrace(got.messages[0]);
        const postfixTrace = /^Received: from python\.client\.example [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(rest);
        assert.ok(postfixTrace && postfixTrace[0].includes("by relay.test.example (Postfix)"), rest.slice(0, 300));
        assert.equal(rest.slice(postfixTrace[0].length), message);
      });
    });
  });
}
