/**
 * The bundle on a REAL Espruino interpreter (`make real-espruino
 * ESPRUINO=/path/to/espruino`; skipped without ESPRUINO, so not part of
 * `make test`). The interpreter is Espruino built for Linux (ideally 32-bit
 * with the ESP32's variable format, as docs/ESPRUINO.md describes); it must
 * bind loopback only, and its Telnet console is port 2323. Each box is
 * started in a scratch directory, given the test settings through the
 * console, flashed with `letterbox flash`'s code path, then tried over TCP.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { encode } from "../firmware/msgpack";
import { settingsToMap } from "../firmware/settings";
import { flashEspruino } from "../host/flash-espruino";
import { freePort } from "../sim/net";
import { connect, pop3Session, sendMail, withoutTraceHeaders } from "./helpers/clients";
import { runDialogue } from "./helpers/dialogue";
import { DIALOGUES, tempDir, testConfig } from "./helpers/fixtures";
import { tcpTransport } from "./helpers/transports";

const ESPRUINO = process.env.ESPRUINO;
const TELNET = 2323;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends one console line over Telnet; resolves with what came back within `ms`. */
function consoleLine(line: string, ms = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(TELNET, "127.0.0.1");
    let out = "";
    s.on("data", (d) => (out += d.toString("latin1")));
    s.on("error", reject);
    s.on("connect", () => {
      s.write("\x10" + line + "\n");
      setTimeout(() => (s.destroy(), resolve(out)), ms);
    });
  });
}

async function usage(): Promise<number> {
  const out = await consoleLine("print('USAGE',process.memory().usage)");
  const m = /USAGE (\d+)/.exec(out);
  if (!m) throw new Error(`no memory figure in ${JSON.stringify(out)}`);
  return Number(m[1]);
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`nothing listens on ${port} after ${ms} ms`);
}

interface RealBox {
  child: ChildProcess;
  smtp: number;
  pop3: number;
  output: () => string;
}

async function startReal(): Promise<RealBox> {
  const dir = tempDir("real-espruino");
  const child = spawn(ESPRUINO as string, ["--telnet"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d.toString("latin1")));
  child.stderr!.on("data", (d) => (output += d.toString("latin1")));
  await waitForPort(TELNET, 10000);
  const config = testConfig({ maxMessageBytes: 2 * 1024 * 1024, smtpSessions: 4, pop3Sessions: 3 });
  config.smtpPort = await freePort();
  config.pop3Port = await freePort();
  const blob = Buffer.from(encode(settingsToMap({ config })), "latin1").toString("base64");
  await consoleLine(`require("Storage").write("lbdefault.cfg", atob("${blob}"))`);
  await flashEspruino({ port: `tcp://127.0.0.1:${TELNET}` });
  await waitForPort(config.smtpPort, 20000);
  return { child, smtp: config.smtpPort, pop3: config.pop3Port, output: () => output };
}

async function stopReal(box: RealBox | undefined): Promise<void> {
  if (!box) return;
  box.child.kill("SIGKILL");
  await new Promise((r) => box.child.once("exit", r));
  await sleep(300); // the Telnet port is free again for the next box
}

describe("the bundle on a real Espruino interpreter", { skip: ESPRUINO ? false : "set ESPRUINO=/path/to/espruino (make real-espruino)" }, () => {
  let box: RealBox | undefined;
  before(async () => {
    assert.ok(fs.existsSync(ESPRUINO as string), `no interpreter at ${ESPRUINO}`);
    box = await startReal();
  });
  after(() => stopReal(box));

  it("boots from flash and greets on SMTP and POP3", async () => {
    const s = await connect(box!.smtp);
    assert.match(await s.line(), /^220 /);
    s.close();
    const p = await connect(box!.pop3);
    assert.match(await p.line(), /^\+OK /);
    p.close();
    assert.doesNotMatch(box!.output(), /Uncaught|ReferenceError/);
  });

  it("round-trips a message with stuffed dots, a 100 KB line and bare LFs", async () => {
    const text = "Subject: real\r\n\r\n." + "d".repeat(997) + "\r\n" + "L".repeat(100 * 1024) + "\r\n..x\r\nend\r\n";
    assert.match(await sendMail(box!.smtp, "bob@example.org", ["alice@example.org"], Buffer.from(text, "latin1")), /^250 /);
    const got = await pop3Session(box!.pop3, "alice", "wonderland", (c) => c.retr(1));
    assert.ok(withoutTraceHeaders(got).toString("latin1") === text, "stored and served unchanged");
  });

  it("clients that leave before the greeting or mid-DATA leave no session behind", async () => {
    for (let i = 0; i < 6; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(box!.smtp, "127.0.0.1", () => s.destroy());
        s.on("close", () => resolve());
        s.on("error", () => resolve());
      });
    }
    await sleep(500);
    const s = await connect(box!.smtp);
    assert.match(await s.line(), /^220 /);
    s.close();
    assert.doesNotMatch(box!.output(), /Uncaught/);
  });

  it("memory stays flat over deliveries, aborted DATA and logins (prints the figures)", async () => {
    const idle = await usage();
    const line = "x".repeat(78) + "\r\n";
    for (let i = 0; i < 5; i++) {
      assert.match(await sendMail(box!.smtp, "bob@example.org", ["bob@example.org"], Buffer.from("Subject: m\r\n\r\n" + line.repeat(200), "latin1")), /^250 /);
      const c = await connect(box!.smtp);
      await c.smtpReply();
      c.send("HELO x\r\nMAIL FROM:<b@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
      for (let k = 0; k < 4; k++) await c.smtpReply();
      c.send("Subject: gone\r\n\r\n" + line);
      await sleep(200);
      c.close();
      await pop3Session(box!.pop3, "bob", "builder99", (p) => p.list());
    }
    await sleep(500);
    const afterwards = await usage();
    console.log(`real Espruino: ${idle} variables before, ${afterwards} after 5 deliveries, 5 aborted DATA and 5 POP3 logins`);
    // The store keeps a few variables per stored message; a leaked session costs hundreds.
    assert.ok(afterwards - idle < 5 * 30, `grew by ${afterwards - idle} variables`);
  });
});

describe("smuggling on a real Espruino interpreter", { skip: ESPRUINO ? false : "set ESPRUINO=/path/to/espruino (make real-espruino)" }, () => {
  let box: RealBox | undefined;
  before(async () => {
    box = await startReal();
  });
  after(() => stopReal(box));

  it("hostile-smuggling.txt: one message each time, the smuggled text inside", async () => {
    await runDialogue(path.join(DIALOGUES, "hostile-smuggling.txt"), tcpTransport({ smtp: box!.smtp, pop3: box!.pop3 }));
  });
});
