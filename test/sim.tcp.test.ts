/**
 * The simulator over real TCP, on every runtime: a 5 MB round trip, restart
 * persistence, a client that vanishes mid-DATA, session caps and idle timers.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import type { RuntimeName } from "../sim/runtime";
import { connect, pop3Session, sendMail, withoutTraceHeaders } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";
import type { Config } from "../firmware/config";

/** 5 MB of 8-bit text with CRLF lines, many of them starting with dots. */
function bigMessage(bytes: number): Buffer {
  const parts: string[] = ["From: tester@remote.example\r\nTo: alice@example.org\r\nSubject: big\r\n\r\n"];
  let size = parts[0].length;
  let i = 0;
  while (size < bytes) {
    let line = i % 7 === 0 ? "." : i % 11 === 0 ? ".." : "";
    for (let k = 0; k < 60 + (i % 17); k++) line += String.fromCharCode(32 + ((i * 31 + k * 7) % 224)); // bytes 32..255
    if (i % 13 === 0) line = "."; // a line with only a dot: must not end the message
    line += "\r\n";
    parts.push(line);
    size += line.length;
    i++;
  }
  return Buffer.from(parts.join(""), "latin1");
}

function start(runtime: RuntimeName, dataDir: string, config: Config): Promise<Simulator> {
  return startSimulator({ runtime, config, dataDir, smtpPort: 0, pop3Port: 0 });
}

/** Data files under the card's message directory (the store keeps one per message). */
function messageFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, "LB", "MSG");
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  // A header cache (.HDR) goes with its message: never one without the data file.
  for (const name of names) if (name.endsWith(".HDR")) assert.ok(names.includes(name.slice(0, 8) + ".EML"), `${name} without its message`);
  return names.filter((name) => name.endsWith(".EML"));
}

for (const runtime of RUNTIME_NAMES) {
  describe(`simulator over TCP (${runtime} runtime)`, () => {
    it("round-trips a 5 MB message with 8-bit content and leading dots byte for byte", async () => {
      const dir = tempDir("big");
      const sim = await start(runtime, dir, testConfig({ maxMessageBytes: 8 * 1024 * 1024 }));
      try {
        const message = bigMessage(5 * 1024 * 1024);
        const reply = await sendMail(sim.smtpPort, "tester@remote.example", ["alice@example.org"], message);
        assert.match(reply, /^250 2\.0\.0 /);
        const fetched = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => {
          const list = await c.list();
          assert.equal(list.count, 1);
          const got = await c.retr(1);
          assert.equal(got.length, list.sizes[0], "LIST size equals the octets RETR sends");
          return got;
        });
        const original = withoutTraceHeaders(fetched);
        assert.equal(original.length, message.length);
        assert.ok(original.equals(message), "the retrieved message differs from the one sent");
      } finally {
        await sim.stop();
      }
    });

    it("a HELO name with a bare CR, a tab and 8-bit bytes reaches the Received header as '?', never as a broken line", async () => {
      const dir = tempDir("helo");
      const sim = await start(runtime, dir, testConfig());
      try {
        const body = Buffer.from("Subject: helo\r\n\r\nhi\r\n", "latin1");
        assert.match(await sendMail(sim.smtpPort, "a@remote.example", ["alice@example.org"], body, "odd\rname\t\xe9x"), /^250 /);
        const got = await pop3Session(sim.pop3Port, "alice", "wonderland", (p) => p.retr(1));
        const text = got.toString("latin1");
        // The client's address follows where the board knows it (RFC 5321 4.4 TCP-info): not on Espruino.
        const from = runtime === "espruino" ? "" : " ([127.0.0.1])";
        assert.ok(text.includes("\r\nReceived: from odd?name??x" + from + "\r\n\tby "), text.slice(0, 200));
        assert.doesNotMatch(text.slice(0, text.indexOf("\r\n\r\n")), /\r(?!\n)/, "no bare CR in the headers");
      } finally {
        await sim.stop();
      }
    });

    it("keeps every accepted message, with the same UIDL, across a restart", async () => {
      const dir = tempDir("restart");
      let sim = await start(runtime, dir, testConfig());
      let before: string[];
      try {
        for (let i = 0; i < 3; i++) {
          const reply = await sendMail(sim.smtpPort, "a@remote.example", ["bob@example.net"], Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`));
          assert.match(reply, /^250 /);
        }
        before = await pop3Session(sim.pop3Port, "bob", "builder99", async (c) => (await c.list()).uidls);
        assert.equal(before.length, 3);
        assert.equal(new Set(before).size, 3, "UIDLs are unique");
      } finally {
        await sim.stop();
      }
      sim = await start(runtime, dir, testConfig());
      try {
        const after = await pop3Session(sim.pop3Port, "bob", "builder99", async (c) => {
          const list = await c.list();
          const third = (await c.retr(3)).toString("latin1");
          assert.match(third, /Subject: 2\r\n\r\nbody 2\r\n$/);
          await c.dele(1);
          return list.uidls;
        });
        assert.deepEqual(after, before);
      } finally {
        await sim.stop();
      }
      sim = await start(runtime, dir, testConfig());
      try {
        const left = await pop3Session(sim.pop3Port, "bob", "builder99", async (c) => (await c.list()).uidls);
        assert.deepEqual(left, before.slice(1), "the deletion confirmed at QUIT survives a restart");
      } finally {
        await sim.stop();
      }
    });

    it("leaves nothing behind when the client disconnects mid-DATA", async () => {
      const dir = tempDir("middata");
      const sim = await start(runtime, dir, testConfig());
      try {
        const c = await connect(sim.smtpPort);
        await c.smtpReply();
        c.send("EHLO x.example\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
        for (let i = 0; i < 4; i++) await c.smtpReply();
        c.send("Subject: cut short\r\n\r\n" + "partial line\r\n".repeat(500));
        await new Promise((r) => setTimeout(r, 200));
        c.close();
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(messageFiles(dir), [], "no data file is left on the card");
        const count = await pop3Session(sim.pop3Port, "alice", "wonderland", async (p) => (await p.list()).count);
        assert.equal(count, 0);
      } finally {
        await sim.stop();
      }
    });

    it("answers 421 beyond the SMTP session cap and serves again once a session ends", async () => {
      const sim = await start(runtime, tempDir("cap"), testConfig({ smtpSessions: 2, pop3Sessions: 1 }));
      try {
        const a = await connect(sim.smtpPort);
        const b = await connect(sim.smtpPort);
        assert.match(await a.smtpReply(), /^220 /);
        assert.match(await b.smtpReply(), /^220 /);
        const c = await connect(sim.smtpPort);
        assert.match(await c.smtpReply(), /^421 4\.7\.0 /);
        a.send("QUIT\r\n");
        assert.match(await a.smtpReply(), /^221 /);
        await new Promise((r) => setTimeout(r, 100));
        const d = await connect(sim.smtpPort);
        assert.match(await d.smtpReply(), /^220 /);
        const p = await connect(sim.pop3Port);
        assert.match(await p.line(), /^\+OK /);
        const q = await connect(sim.pop3Port);
        assert.match(await q.line(), /^-ERR \[SYS\/TEMP\] /);
        for (const s of [b, c, d, p, q]) s.close();
      } finally {
        await sim.stop();
      }
    });

    it("drops idle sessions by timer", async () => {
      const sim = await start(runtime, tempDir("idle"), testConfig({ smtpIdleSeconds: 1, pop3IdleSeconds: 1 }));
      try {
        const s = await connect(sim.smtpPort);
        assert.match(await s.smtpReply(), /^220 /);
        const p = await connect(sim.pop3Port);
        assert.match(await p.line(), /^\+OK /);
        const started = Date.now();
        assert.match(await s.smtpReply(), /^421 4\.4\.2 /);
        assert.match(await p.line(), /^-ERR /);
        assert.ok(Date.now() - started < 4000, "closed within a few seconds of the 1 s limit");
        await assert.rejects(s.line(), /closed/);
        await assert.rejects(p.line(), /closed/);
      } finally {
        await sim.stop();
      }
    });
  });
}
