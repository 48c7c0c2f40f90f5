/**
 * The Lua VM's live heap (collectgarbage("count") of the C VM after full
 * collections, less the compiled code the board keeps in LFS) while the NodeMCU build receives a message by
 * SMTP and serves it by POP3 RETR: it must stay flat with message size.
 * Reported for 1 MB and 10 MB; the 10 MB peaks may exceed the 1 MB ones by
 * no more than a few kilobytes.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { HTTP_PORT, POP3_PORT, SMTP_PORT } from "../firmware/main";
import { SimCard } from "../sim/card";
import { LuaRunningBox, startLuaBox } from "../sim/lua-runtime";
import { tempDir, testConfig } from "./helpers/fixtures";

const MB = 1024 * 1024;
/** Slack between the 1 MB and 10 MB peaks: noise from timers and buffers, not per-megabyte growth. */
const FLAT_SLACK_BYTES = 8 * 1024;

/** A line-oriented client over one socket. */
class Client {
  private buffered = "";
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d) => {
      this.buffered += d.toString("latin1");
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }
  /** Waits until the received text contains `marker`; returns everything up to and including it. */
  async until(marker: string, timeoutMs = 120000): Promise<string> {
    const started = Date.now();
    for (;;) {
      const i = this.buffered.indexOf(marker);
      if (i >= 0) {
        const out = this.buffered.slice(0, i + marker.length);
        this.buffered = this.buffered.slice(i + marker.length);
        return out;
      }
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${JSON.stringify(marker)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }
  /** Received octets so far, dropping them (for long replies). */
  async discardUntilEnd(marker: string, timeoutMs = 300000): Promise<number> {
    let count = 0;
    const started = Date.now();
    for (;;) {
      const i = this.buffered.indexOf(marker);
      if (i >= 0) {
        count += i + marker.length;
        this.buffered = this.buffered.slice(i + marker.length);
        return count;
      }
      const keep = marker.length - 1;
      count += Math.max(0, this.buffered.length - keep);
      this.buffered = this.buffered.slice(Math.max(0, this.buffered.length - keep));
      if (Date.now() - started > timeoutMs) throw new Error("timed out");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }
  async command(line: string, expect: string): Promise<string> {
    this.socket.write(line + "\r\n");
    const reply = await this.until("\r\n");
    assert.ok(reply.startsWith(expect), `${line} -> ${reply}`);
    return reply;
  }
  write(data: Buffer): Promise<void> {
    return new Promise((resolve) => (this.socket.write(data) ? resolve() : this.socket.once("drain", () => resolve())));
  }
}

function messageLines(bytes: number): Buffer[] {
  const line = Buffer.from("The quick brown fox jumps over the lazy dog; letterbox keeps every byte of it.    \r\n");
  const header = Buffer.from("From: a@example.net\r\nTo: alice@example.org\r\nSubject: big\r\n\r\n");
  const parts = [header];
  const count = Math.ceil((bytes - header.length) / line.length);
  for (let i = 0; i < count; i++) parts.push(line);
  return parts;
}

interface Peaks {
  smtp: number;
  retr: number;
  idle: number;
}

async function measure(box: LuaRunningBox, bytes: number): Promise<Peaks> {
  const nodemcu = box.board().nodemcu;
  nodemcu.heapSampleEvery = 4;
  const idle = nodemcu.sampleHeap();
  nodemcu.peakHeap = idle;
  const smtp = await Client.connect(box.ports[SMTP_PORT]);
  await smtp.until("\r\n");
  await smtp.command("EHLO client.example.net", "250");
  await smtp.until("250 ");
  await smtp.until("\r\n");
  await smtp.command("MAIL FROM:<a@example.net>", "250");
  await smtp.command("RCPT TO:<alice@example.org>", "250");
  await smtp.command("DATA", "354");
  const lines = messageLines(bytes);
  for (let i = 0; i < lines.length; i += 256) await smtp.write(Buffer.concat(lines.slice(i, i + 256)));
  await smtp.write(Buffer.from(".\r\n"));
  await smtp.until("\r\n", 300000).then((r) => assert.match(r, /^250/, r));
  await smtp.command("QUIT", "221");
  smtp.socket.destroy();
  const smtpPeak = nodemcu.peakHeap;

  nodemcu.peakHeap = nodemcu.sampleHeap();
  const pop = await Client.connect(box.ports[POP3_PORT]);
  await pop.until("\r\n");
  await pop.command("USER alice", "+OK");
  await pop.command("PASS wonderland", "+OK");
  const list = await pop.command("LIST", "+OK");
  assert.ok(list.length > 0);
  await pop.until("\r\n.\r\n");
  pop.socket.write("RETR 1\r\n");
  const received = await pop.discardUntilEnd("\r\n.\r\n");
  assert.ok(received >= bytes, `RETR gave ${received} octets for a ${bytes}-byte message`);
  await pop.command("DELE 1", "+OK");
  await pop.command("QUIT", "+OK");
  pop.socket.destroy();
  return { smtp: smtpPeak, retr: nodemcu.peakHeap, idle };
}

describe("Lua heap during a big message (lua runtime)", () => {
  let box: LuaRunningBox;
  const peaks: { [size: string]: Peaks } = {};
  before(async () => {
    const config = { ...testConfig({ maxMessageBytes: 11 * MB }), smtpPort: SMTP_PORT, pop3Port: POP3_PORT };
    box = await startLuaBox({
      config,
      card: new SimCard({ dir: tempDir("luamem") }),
      portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0, [HTTP_PORT]: 0, 143: 0 },
      bindHost: "127.0.0.1",
      log: () => {},
      clock: () => Math.floor(Date.now() / 1000),
    });
  });
  after(() => box.stop());

  for (const size of [1, 10]) {
    it(`receives and serves ${size} MB`, async () => {
      peaks[size] = await measure(box, size * MB);
      const p = peaks[size];
      console.log(`# lua heap, ${size} MB message: idle ${kib(p.idle)}, peak while receiving ${kib(p.smtp)}, peak during RETR ${kib(p.retr)}`);
      assert.deepEqual(box.errors, []);
    });
  }

  it("stays flat with message size", () => {
    assert.ok(peaks[1] && peaks[10], "both sizes measured");
    assert.ok(peaks[10].smtp - peaks[1].smtp < FLAT_SLACK_BYTES, `receiving: ${kib(peaks[1].smtp)} at 1 MB, ${kib(peaks[10].smtp)} at 10 MB`);
    assert.ok(peaks[10].retr - peaks[1].retr < FLAT_SLACK_BYTES, `RETR: ${kib(peaks[1].retr)} at 1 MB, ${kib(peaks[10].retr)} at 10 MB`);
  });
});

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
