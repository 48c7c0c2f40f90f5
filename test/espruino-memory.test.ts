/**
 * Memory on the emulated Espruino board: the bundle must fit the variables of
 * the board it targets (an ESP32 with PSRAM: 16,383) with every session the
 * default limits allow open at once and as busy as the card lets them be:
 * the card has three message files (MAX_OPEN_FILES less the journal's), so
 * two SMTP sessions are mid-DATA and one POP3 session mid-RETR holding them,
 * and the other SMTP and POP3 sessions wait for a file (firmware/smtp.ts
 * WaitFile, the POP3 RETR queue). Write buffers must stay within a chunk per
 * session (drain pacing). The estimate is calibrated against the real
 * interpreter (BENCHMARKS.md, make real-espruino).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { defaultServices } from "../firmware/config";
import { SimCard } from "../sim/card";
import { EspruinoBox, espruinoRuntime } from "../sim/espruino-runtime";
import { DEFAULT_VARIABLES } from "../sim/espruino/board";
import { connect, sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

function body(bytes: number): Buffer {
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  return Buffer.from(("Subject: load\r\n\r\n" + line.repeat(Math.ceil(bytes / line.length))).slice(0, bytes) + "\r\n", "latin1");
}

test("every session the limits allow, open at once and as busy as the card lets them be, stays within the board's variables; write buffers paced by drain", async (t) => {
  // The default session caps (SMTP 4, POP3 3) under the default 10-socket budget with 3 listeners (IMAP off here) and
  // one socket kept free to refuse with: 6 sessions, SMTP's 4 and 2 POP3 (a third is refused, firmware/sessions.ts).
  const services = defaultServices();
  const limits = { smtpSessions: services.smtp.sessions, pop3Sessions: 10 - 3 - 1 - services.smtp.sessions };
  const config = testConfig({ smtpSessions: limits.smtpSessions, pop3Sessions: services.pop3.sessions, maxMessageBytes: 9 * 1024 * 1024 });
  config.services.imap.enabled = false;
  const box = (await espruinoRuntime.start({
    config,
    card: new SimCard({ dir: tempDir("espruino-mem") }),
    portMap: { 25: 0, 110: 0, 80: 0, 143: 0 },
    bindHost: "127.0.0.1",
    log: () => undefined,
    clock: () => Math.floor(Date.now() / 1000),
  })) as EspruinoBox;
  const closers: (() => void)[] = [];
  try {
    const idle = box.board.memory();
    t.diagnostic(`idle: ${idle.variables} variables (${idle.functions} program functions, ${idle.stringBytes} bytes in strings)`);
    assert.match(await sendMail(box.ports[25], "big@remote.example", ["alice@example.org"], body(8 * 1024 * 1024)), /^250 /);

    // Two SMTP sessions in the middle of DATA (each holds a message file).
    const smtp = async () => {
      const c = await connect(box.ports[25]);
      closers.push(() => c.close());
      await c.smtpReply();
      for (const cmd of ["EHLO client.example", "MAIL FROM:<a@remote.example>", "RCPT TO:<bob@example.org>"]) {
        c.send(cmd + "\r\n");
        await c.smtpReply();
      }
      return c;
    };
    for (let i = 0; i < 2; i++) {
      const c = await smtp();
      c.send("DATA\r\n");
      assert.match(await c.smtpReply(), /^354 /);
      await c.sendBuffer(body(40000 + i * 777).subarray(0, 40000 + i * 777 - 2)); // no end marker: still receiving
    }
    // One POP3 session retrieving the large message into a client that stops
    // reading: the third file. The message is larger than loopback's buffers
    // take in, so the RETR is still open when the reading is taken.
    const retr = await connect(box.ports[110]);
    closers.push(() => retr.close());
    await retr.line();
    for (const cmd of ["USER alice", "PASS wonderland"]) {
      retr.send(cmd + "\r\n");
      await retr.line();
    }
    retr.socket.pause();
    retr.send("RETR 1\r\n");
    await new Promise((r) => setTimeout(r, 1500));
    // The rest of the sessions the limits allow: they wait for a file.
    for (let i = 2; i < limits.smtpSessions; i++) {
      const c = await smtp();
      c.send("DATA\r\n"); // no 354 until a file is free
    }
    for (let i = 1; i < limits.pop3Sessions; i++) {
      const c = await connect(box.ports[110]);
      closers.push(() => c.close());
      await c.line();
      for (const cmd of ["USER alice", "PASS wonderland"]) {
        c.send(cmd + "\r\n");
        await c.line();
      }
      c.send("RETR 1\r\n"); // waits for a file
    }
    // One more is answered "too many" on the socket kept for that, not reset.
    const over = await connect(box.ports[110]);
    closers.push(() => over.close());
    assert.match(await over.line(), /^-ERR \[SYS\/TEMP\] Too many connections/);
    await new Promise((r) => setTimeout(r, 500));
    const busy = box.board.memory();
    t.diagnostic(
      `busy (${limits.smtpSessions} SMTP and ${limits.pop3Sessions} POP3 sessions: 2 SMTP in DATA, 1 POP3 in RETR, the rest waiting for a file): ${busy.variables} variables, ` +
        `${busy.stringBytes} bytes in strings, ${busy.bufferedBytes} bytes in socket buffers, ${busy.openFiles} files open`,
    );
    assert.equal(busy.connections, limits.smtpSessions + limits.pop3Sessions, "every session the limits allow is open");
    assert.equal(busy.openFiles, 3, "the card's three message files are all in use (2 DATA, 1 RETR)");
    assert.ok(busy.variables < DEFAULT_VARIABLES, `${busy.variables} variables used, the board has ${DEFAULT_VARIABLES}`);
    assert.ok(busy.bufferedBytes <= limits.pop3Sessions * 2048, `write buffers hold ${busy.bufferedBytes} bytes`);
    assert.ok(box.board.peakSockets() <= 10);
    assert.deepEqual(box.board.errors, []);
  } finally {
    for (const close of closers) close();
    await box.stop();
  }
});
