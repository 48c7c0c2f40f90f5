/**
 * Memory on the emulated Espruino board: the bundle must fit the variables of
 * the board it targets (an ESP32 with PSRAM: 16,383), with every session the
 * default limits allow busy at once (SMTP mid-DATA, POP3 mid-RETR), and its
 * write buffers must stay within a chunk per session (drain pacing). The
 * estimate is calibrated against the real interpreter (BENCHMARKS.md).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { defaultLimits } from "../firmware/config";
import { SimCard } from "../sim/card";
import { EspruinoBox, espruinoRuntime } from "../sim/espruino-runtime";
import { DEFAULT_VARIABLES } from "../sim/espruino/board";
import { connect, sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

function body(bytes: number): Buffer {
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  return Buffer.from(("Subject: load\r\n\r\n" + line.repeat(Math.ceil(bytes / line.length))).slice(0, bytes) + "\r\n", "latin1");
}

test("every session busy at once stays within the board's variables, write buffers paced by drain", async (t) => {
  const limits = defaultLimits();
  const config = testConfig({ smtpSessions: limits.smtpSessions, pop3Sessions: limits.pop3Sessions, maxMessageBytes: 4 * 1024 * 1024 });
  const box = (await espruinoRuntime.start({
    config,
    card: new SimCard({ dir: tempDir("espruino-mem") }),
    portMap: { 25: 0, 110: 0 },
    bindHost: "127.0.0.1",
    log: () => undefined,
    clock: () => Math.floor(Date.now() / 1000),
  })) as EspruinoBox;
  const closers: (() => void)[] = [];
  try {
    const idle = box.board.memory();
    t.diagnostic(`idle: ${idle.variables} variables (${idle.functions} program functions, ${idle.stringBytes} bytes in strings)`);
    assert.match(await sendMail(box.ports[25], "big@remote.example", ["alice@example.org"], body(3 * 1024 * 1024)), /^250 /);

    // Every SMTP session the limits allow, each in the middle of DATA.
    for (let i = 0; i < limits.smtpSessions; i++) {
      const c = await connect(box.ports[25]);
      closers.push(() => c.close());
      await c.smtpReply();
      for (const cmd of ["EHLO client.example", "MAIL FROM:<a@remote.example>", "RCPT TO:<bob@example.org>", "DATA"]) {
        c.send(cmd + "\r\n");
        await c.smtpReply();
      }
      await c.sendBuffer(body(40000 + i * 777).subarray(0, 40000 + i * 777 - 2)); // no end marker: still receiving
    }
    // Every POP3 session, each retrieving the 3 MB message into a client that stops reading.
    for (let i = 0; i < limits.pop3Sessions; i++) {
      const c = await connect(box.ports[110]);
      closers.push(() => c.close());
      await c.line();
      for (const cmd of ["USER alice", "PASS wonderland", "RETR 1"]) {
        c.send(cmd + "\r\n");
        await c.line();
      }
      c.socket.pause();
    }
    await new Promise((r) => setTimeout(r, 500));
    const busy = box.board.memory();
    t.diagnostic(
      `busy (${limits.smtpSessions} SMTP in DATA, ${limits.pop3Sessions} POP3 in RETR): ${busy.variables} variables, ` +
        `${busy.stringBytes} bytes in strings, ${busy.bufferedBytes} bytes in socket buffers, ${busy.openFiles} files open`,
    );
    assert.ok(busy.variables < DEFAULT_VARIABLES, `${busy.variables} variables used, the board has ${DEFAULT_VARIABLES}`);
    assert.ok(busy.bufferedBytes <= limits.pop3Sessions * 2048, `write buffers hold ${busy.bufferedBytes} bytes`);
    assert.ok(box.board.peakSockets() <= 10);
    assert.deepEqual(box.board.errors, []);
  } finally {
    for (const close of closers) close();
    await box.stop();
  }
});
