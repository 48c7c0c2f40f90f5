/**
 * Mailbox quotas and a full card over real TCP, on every runtime: refusals
 * before DATA when the box can know (452 4.2.2, 452 4.3.1), 552 5.2.2 when a
 * message overflows a quota during DATA, nothing partial left behind, and
 * POP3 retrieval and deletion on a full card.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { SimCard } from "../sim/card";
import { RUNTIME_NAMES } from "../sim/runtimes";
import type { RuntimeName } from "../sim/runtime";
import { startSimulator, Simulator } from "../sim/simulator";
import type { Config } from "../firmware/config";
import { connect, pop3Session, sendMail, stuff, withoutTraceHeaders } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

function message(id: string, bytes: number): Buffer {
  let text = `From: sender@remote.example\r\nSubject: ${id}\r\nMessage-ID: <${id}>\r\n\r\n`;
  for (let i = 0; text.length < bytes; i++) text += `${id} line ${i} ${"q".repeat(60)}\r\n`;
  return Buffer.from(text, "latin1");
}

/** One SMTP transaction; returns every reply from MAIL on (it stops at the first refusal). */
async function transaction(port: number, mailFrom: string, to: string[], body: Buffer): Promise<string[]> {
  const c = await connect(port);
  const replies: string[] = [];
  try {
    await c.smtpReply();
    c.send("EHLO tester.example\r\n");
    await c.smtpReply();
    c.send(`MAIL FROM:${mailFrom}\r\n`);
    replies.push(await c.smtpReply());
    if (!replies[0].startsWith("250")) return replies;
    let accepted = 0;
    for (const r of to) {
      c.send(`RCPT TO:<${r}>\r\n`);
      const reply = await c.smtpReply();
      replies.push(reply);
      if (reply.startsWith("250")) accepted++;
    }
    if (accepted === 0) return replies;
    c.send("DATA\r\n");
    const go = await c.smtpReply();
    replies.push(go);
    if (!go.startsWith("354")) return replies;
    await c.sendBuffer(stuff(body));
    c.send(".\r\n");
    replies.push(await c.smtpReply());
    c.send("QUIT\r\n");
    await c.smtpReply().catch(() => "");
    return replies;
  } finally {
    c.close();
  }
}

function messageFiles(dir: string): string[] {
  const msg = path.join(dir, "LB", "MSG");
  const names = fs.existsSync(msg) ? fs.readdirSync(msg) : [];
  // A header cache (.HDR) goes with its message: never one without the data file.
  for (const name of names) if (name.endsWith(".HDR")) assert.ok(names.includes(name.slice(0, 8) + ".EML"), `${name} without its message`);
  return names.filter((name) => name.endsWith(".EML"));
}

async function count(sim: Simulator, user: string, password: string): Promise<number> {
  return pop3Session(sim.pop3Port, user, password, async (c) => (await c.list()).count);
}

function start(runtime: RuntimeName, dir: string, config: Config, card?: SimCard): Promise<Simulator> {
  return startSimulator({ runtime, config, dataDir: dir, card, smtpPort: 0, pop3Port: 0 });
}

for (const runtime of RUNTIME_NAMES) {
  describe(`quotas and a full card (${runtime} runtime)`, () => {
    it("452 4.2.2 at RCPT for a SIZE over the quota, 552 5.2.2 when DATA overflows it, nothing partial kept", async () => {
      const dir = tempDir("quota");
      const sim = await start(runtime, dir, testConfig({ mailboxQuotaBytes: 4000 }));
      try {
        const first = message("q1@t", 2500);
        assert.match((await transaction(sim.smtpPort, "<s@remote.example>", ["alice@example.org"], first)).pop() as string, /^250 /);
        // Declared too big for alice, but fine for bob: only alice is refused.
        const declared = await transaction(sim.smtpPort, "<s@remote.example> SIZE=2000", ["alice@example.org", "bob@example.org"], message("q2@t", 1900));
        assert.match(declared[1], /^452 4\.2\.2 /);
        assert.match(declared[2], /^250 /);
        assert.match(declared[4], /^250 /);
        // Not declared: the overflow is found during DATA.
        const overflow = await transaction(sim.smtpPort, "<s@remote.example>", ["alice@example.org"], message("q3@t", 2000));
        assert.deepEqual(overflow.slice(0, 3).map((r) => r.slice(0, 3)), ["250", "250", "354"]);
        assert.match(overflow[3], /^552 5\.2\.2 /);
        assert.equal(messageFiles(dir).length, 2, "the refused message left no file");
        assert.equal(await count(sim, "alice", "wonderland"), 1);
        // Deleting makes room again.
        await pop3Session(sim.pop3Port, "alice", "wonderland", (c) => c.dele(1));
        const again = await transaction(sim.smtpPort, "<s@remote.example> SIZE=2000", ["alice@example.org"], message("q4@t", 2000));
        assert.match(again.pop() as string, /^250 /);
      } finally {
        await sim.stop();
      }
    });

    it("mail deleted during DATA makes room: the message is stored whole, not short of the chunk that found the room", async () => {
      const dir = tempDir("quota-room");
      const sim = await start(runtime, dir, testConfig({ mailboxQuotaBytes: 4000 }));
      try {
        assert.match((await transaction(sim.smtpPort, "<s@remote.example>", ["alice@example.org"], message("r1@t", 2500))).pop() as string, /^250 /);
        const c = await connect(sim.smtpPort);
        try {
          await c.smtpReply();
          for (const line of ["EHLO tester.example", "MAIL FROM:<s@remote.example>", "RCPT TO:<alice@example.org>"]) {
            c.send(line + "\r\n");
            assert.match(await c.smtpReply(), /^250[ -]/);
          }
          c.send("DATA\r\n");
          assert.match(await c.smtpReply(), /^354 /); // the room left for alice is taken now: about 1.5 KB
          await pop3Session(sim.pop3Port, "alice", "wonderland", (c) => c.dele(1));
          const body = message("r2@t", 2500); // over the room taken at DATA, within the quota once r1 is gone
          await c.sendBuffer(stuff(body));
          c.send(".\r\n");
          assert.match(await c.smtpReply(), /^250 /);
          c.send("QUIT\r\n");
          await c.smtpReply().catch(() => "");
          await pop3Session(sim.pop3Port, "alice", "wonderland", async (p) => {
            assert.equal((await p.list()).count, 1);
            assert.ok(withoutTraceHeaders(await p.retr(1)).equals(body), "stored byte for byte");
          });
        } finally {
          c.close();
        }
      } finally {
        await sim.stop();
      }
    });

    it("a full card refuses mail with 452 4.3.1 (before DATA when it can know), keeps nothing partial, and still serves and deletes", async () => {
      const dir = tempDir("full");
      const card = new SimCard({ dir, capacityBytes: 36 * 1024 + 64 * 1024 + 50 * 1024 });
      const sim = await start(runtime, dir, testConfig({ maxMessageBytes: 100000 }), card);
      try {
        const accepted: Buffer[] = [];
        let refusal: string[] = [];
        for (let i = 0; i < 12 && refusal.length === 0; i++) {
          const body = message(`f${i}@t`, 20000);
          const replies = await transaction(sim.smtpPort, "<s@remote.example> SIZE=20000", ["alice@example.org"], body);
          if (replies[replies.length - 1].startsWith("250")) accepted.push(body);
          else refusal = replies;
        }
        assert.ok(accepted.length >= 2, `${accepted.length} messages fit`);
        assert.ok(refusal.length > 0, "the card filled up");
        const last = refusal[refusal.length - 1];
        assert.match(last, /^452 4\.3\.1 /);
        if (runtime === "node") assert.equal(refusal.length, 1, "the node board reports free space: refused at MAIL");
        // POP3 on the full card: list, retrieve byte for byte, delete at QUIT.
        await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => {
          const list = await c.list();
          assert.equal(list.count, accepted.length);
          assert.ok(withoutTraceHeaders(await c.retr(1)).equals(accepted[0]));
          await c.dele(1);
          await c.dele(2);
        });
        assert.equal(messageFiles(dir).length, accepted.length - 2, "only the remaining messages have files");
        assert.equal(await count(sim, "alice", "wonderland"), accepted.length - 2);
        const after = await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org"], message("after@t", 20000));
        assert.match(after, /^250 /, "room again after the deletion");
      } finally {
        await sim.stop();
      }
    });

    it("a card too full for the boot compaction still serves POP3 and takes deletions", async () => {
      const dir = tempDir("fullboot");
      const config = testConfig({ maxMessageBytes: 100000 });
      let sim = await start(runtime, dir, config);
      const bodies = [message("b1@t", 3000), message("b2@t", 3000), message("b3@t", 3000)];
      for (const b of bodies) assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["alice@example.org", "bob@example.org"], b), /^250 /);
      await pop3Session(sim.pop3Port, "bob", "builder99", (c) => c.dele(1)); // a D record: the next boot compacts
      await sim.stop();
      // Fill every free byte of the card.
      const full = new SimCard({ dir, capacityBytes: 0 });
      full.capacityBytes = full.usedBytes() + 1000;
      fs.writeFileSync(path.join(dir, "FILL.BIN"), Buffer.alloc(1000));
      sim = await start(runtime, dir, config, full);
      try {
        assert.equal(full.freeBytes() > 0, true, "the spare file was given up for room");
        await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => {
          assert.equal((await c.list()).count, 3);
          assert.ok(withoutTraceHeaders(await c.retr(3)).equals(bodies[2]));
          await c.dele(1);
        });
        assert.equal(await count(sim, "alice", "wonderland"), 2);
        assert.equal(await count(sim, "bob", "builder99"), 2);
        assert.deepEqual(messageFiles(dir).length, 2, "b1 is gone from the card");
      } finally {
        await sim.stop();
      }
    });
  });
}
