/**
 * Message content real senders send (issue 14), over TCP on every runtime:
 * lines of any length stored unchanged, a dot-stuffed 998-octet line, and
 * bare LF mail stored with CRLF (Postfix 3.9 `smtpd_forbid_bare_newline =
 * normalize`). The smuggling variants are dialogues (test/dialogues/*smuggling.txt).
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { connect, pop3Session, sendMail, withoutTraceHeaders } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

/** Sends `wire` as the DATA body exactly as given (no stuffing, no line end fixing). */
async function sendRaw(port: number, wire: string): Promise<string> {
  const c = await connect(port);
  try {
    await c.smtpReply();
    c.send("HELO camera.home.example\r\nMAIL FROM:<cam@home.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
    for (let i = 0; i < 4; i++) await c.smtpReply();
    await c.sendBuffer(Buffer.from(wire, "latin1"));
    const reply = await c.smtpReply();
    c.send("QUIT\r\n");
    await c.smtpReply().catch(() => "");
    return reply;
  } finally {
    c.close();
  }
}

const fetchAll = (sim: Simulator) =>
  pop3Session(sim.pop3Port, "alice", "wonderland", async (p) => {
    const list = await p.list();
    const out: string[] = [];
    for (let i = 1; i <= list.count; i++) out.push(withoutTraceHeaders(await p.retr(i)).toString("latin1"));
    return out;
  });

for (const runtime of RUNTIME_NAMES) {
  describe(`message content (${runtime} runtime)`, () => {
    it("a 100 KB line inside a 5 MB message and a dot-stuffed 998-octet line come back byte for byte", async () => {
      const sim = await startSimulator({ runtime, config: testConfig({ maxMessageBytes: 8 * 1024 * 1024 }), dataDir: tempDir("content"), smtpPort: 0, pop3Port: 0 });
      try {
        const longLine = "L".repeat(100 * 1024);
        const dotLine = "." + "d".repeat(997); // 999 octets once stuffed
        let text = "Subject: long lines\r\n\r\n" + dotLine + "\r\n" + longLine + "\r\n";
        const filler = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012345\r\n";
        text += filler.repeat(Math.ceil((5 * 1024 * 1024 - text.length) / filler.length)) + longLine + "\r\nend\r\n";
        const message = Buffer.from(text, "latin1");
        assert.match(await sendMail(sim.smtpPort, "bob@example.org", ["alice@example.org"], message), /^250 2\.0\.0 /);
        const [got] = await fetchAll(sim);
        assert.equal(got.length, text.length);
        assert.ok(got === text, "stored and served unchanged");
      } finally {
        await sim.stop();
      }
    });

    it("bare LF mail is accepted and stored with CRLF; a bare CR stays; a lone dot next to a bare LF is content", async () => {
      const sim = await startSimulator({ runtime, config: testConfig(), dataDir: tempDir("bare-lf"), smtpPort: 0, pop3Port: 0 });
      try {
        const reply = await sendRaw(sim.smtpPort, "Subject: from a script\n\nline one\n..stuffed\nbare\rcr\n.\nstill in\r\n.\r\n");
        assert.match(reply, /^250 2\.0\.0 /);
        const [got] = await fetchAll(sim);
        assert.equal(got, "Subject: from a script\r\n\r\nline one\r\n.stuffed\r\nbare\rcr\r\n.\r\nstill in\r\n");
      } finally {
        await sim.stop();
      }
    });
  });
}
