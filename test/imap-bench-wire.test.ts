/**
 * The IMAP bench's bare client (bench/imap-wire.ts) against a scripted
 * server that splits its answers at every offset: it finds the tagged end of
 * an answer past literals that contain what looks like one, counts every
 * octet, pauses half-way through a large literal, and fails on NO; and the
 * bench's listing messages have the size they claim.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { ImapWire } from "../bench/imap-wire";
import { bodyMessage, listMessage } from "../bench/imap-setup";

/** A server that answers LOGIN, then `answer(tag)` to the next command, written in pieces of `piece` octets. */
async function scripted(answer: (tag: string) => string, piece: number): Promise<{ port: number; close: () => void }> {
  const server = net.createServer((socket) => {
    socket.write("* OK ready\r\n");
    let input = "";
    socket.on("data", async (d) => {
      input += d.toString("latin1");
      for (let i; (i = input.indexOf("\r\n")) >= 0; ) {
        const line = input.slice(0, i);
        input = input.slice(i + 2);
        const tag = line.split(" ")[0];
        const out = / LOGIN /.test(line) ? `${tag} OK logged in\r\n` : / LOGOUT/.test(line) ? `* BYE\r\n${tag} OK bye\r\n` : answer(tag);
        for (let at = 0; at < out.length; at += piece) {
          socket.write(Buffer.from(out.slice(at, at + piece), "latin1"));
          await new Promise((r) => setImmediate(r));
        }
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

test("ImapWire reads to the tagged line past literals that hold tag-like lines, whatever the split", async () => {
  const literal = (tag: string) => `x\r\n${tag} OK not the end\r\n{5}\r\nmore\r\n`;
  for (const piece of [1, 2, 3, 7, 64, 100000]) {
    let expected = 0;
    const server = await scripted((tag) => {
      const l = literal(tag);
      const out = `* 1 FETCH (UID 7 BODY[] {${l.length}}\r\n${l})\r\n* 2 FETCH (FLAGS (\\Seen))\r\n${tag} OK done\r\n`;
      expected = out.length;
      return out;
    }, piece);
    try {
      const wire = await ImapWire.login(server.port, "u", "p");
      const answer = await wire.command("FETCH 1:2 (BODY[])", { keepLines: true });
      assert.match(answer.status, /^b\d+ OK done$/);
      assert.equal(answer.octets, expected, `piece ${piece}`);
      assert.equal(answer.literalOctets, literal("b2").length);
      assert.deepEqual(answer.lines, [`* 1 FETCH (UID 7 BODY[] {${literal("b2").length}})`, "* 2 FETCH (FLAGS (\\Seen))"]);
      await wire.logout();
    } finally {
      server.close();
    }
  }
});

test("ImapWire pauses half-way through a literal of 64 KB or more, and fails on NO", async () => {
  const big = "y".repeat(100000);
  const server = await scripted((tag) => (tag === "b2" ? `* 1 FETCH (BODY[] {${big.length}}\r\n${big})\r\n${tag} OK done\r\n` : `${tag} NO [NONEXISTENT] no such folder\r\n`), 4096);
  try {
    const wire = await ImapWire.login(server.port, "u", "p");
    let paused = 0;
    const answer = await wire.command("UID FETCH 1 BODY.PEEK[]", { midway: async () => void paused++ });
    assert.equal(paused, 1);
    assert.equal(answer.literalOctets, big.length);
    await assert.rejects(wire.command("SELECT Nowhere"), /NO \[NONEXISTENT\]/);
    await wire.logout();
  } finally {
    server.close();
  }
});

test("the IMAP bench's messages are valid and of the size asked for", () => {
  for (const i of [0, 1, 999, 9999]) {
    const m = listMessage(i).toString("latin1");
    assert.equal(m.length, 3000);
    assert.ok(m.endsWith("\r\n") && !/[^\r]\n|\r[^\n]/.test(m), "CRLF lines only");
    assert.ok(m.split("\r\n").every((l) => l.length <= 998));
    assert.match(m, /^From: .*\r\nTo: .*\r\nSubject: Message \d+ /);
  }
  for (const size of [102400, 10485760]) {
    const m = bodyMessage(size).toString("latin1");
    assert.equal(m.length, size);
    assert.ok(m.endsWith("\r\n") && !/[^\r]\n|\r[^\n]/.test(m) && m.split("\r\n").every((l) => l.length <= 998));
  }
});
