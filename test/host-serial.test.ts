/**
 * The `letterbox` tool end to end against the simulator's serial line: a
 * real pseudo-terminal (socat) opened by the real `serialport` binding, on
 * every runtime the simulator supports. Every command runs as a separate
 * process, as a user would run it.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CardError, SimCard } from "../sim/card";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { PtySerialLine } from "../sim/serial";
import { DeviceClient, DeviceError, openPort } from "../host/serial/client";
import { encodeFrame, FrameReader, packr } from "../host/serial/protocol";
import { ROOT, tempDir, testConfig } from "./helpers/fixtures";
import { tcpPipe } from "./helpers/transports";
import type { Pipe } from "./helpers/dialogue";
import { connect } from "./helpers/clients";
import { ImapClient } from "./helpers/imap-client";

const CLI = path.join(ROOT, "host/bin/letterbox.js");
const EXAMPLE = path.join(ROOT, "examples/home.json");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function start(args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LETTERBOX_PORT: "", ...env }, stdio: "pipe" });
}

function finish(child: ChildProcess, input?: string): Promise<Result> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdin!.end(input);
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

function run(args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<Result> {
  return finish(start(args, env), input);
}

/** Resolves once what the child prints from now on (stdout, or stderr) matches. */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 10000, stream: "stdout" | "stderr" = "stdout"): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in: ${seen}`)), timeoutMs);
    child[stream]!.on("data", (d) => {
      seen += d;
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
}

async function expectLine(pipe: Pipe, prefix: string): Promise<string> {
  const line = await pipe.readLine(5000);
  assert.ok(line !== undefined && line.startsWith(prefix), `expected ${prefix}, got ${line}`);
  return line;
}

async function pop3Login(port: number, user: string, password: string): Promise<boolean> {
  const pipe = await tcpPipe(port);
  await expectLine(pipe, "+OK");
  pipe.write(`USER ${user}\r\n`);
  await expectLine(pipe, "+OK");
  pipe.write(`PASS ${password}\r\n`);
  const answer = await pipe.readLine(5000);
  pipe.write("QUIT\r\n");
  await pipe.readLine(5000);
  pipe.drop();
  return answer !== undefined && answer.startsWith("+OK");
}

async function deliver(port: number, to: string, body: string): Promise<void> {
  const pipe = await tcpPipe(port);
  await expectLine(pipe, "220");
  pipe.write("HELO tester.example\r\n");
  await expectLine(pipe, "250");
  pipe.write("MAIL FROM:<sender@tester.example>\r\n");
  await expectLine(pipe, "250");
  pipe.write(`RCPT TO:<${to}>\r\n`);
  await expectLine(pipe, "250");
  pipe.write("DATA\r\n");
  await expectLine(pipe, "354");
  pipe.write(body.replace(/^\./gm, "..") + ".\r\n");
  await expectLine(pipe, "250");
  pipe.write("QUIT\r\n");
  await pipe.readLine(5000);
  pipe.drop();
}

/** Tries to deliver a message, whatever the answer (the card may be failing). */
async function tryDelivery(port: number, to: string): Promise<void> {
  const pipe = await tcpPipe(port);
  await pipe.readLine(5000);
  for (const line of ["HELO tester.example", "MAIL FROM:<sender@tester.example>", `RCPT TO:<${to}>`, "DATA"]) {
    pipe.write(line + "\r\n");
    const answer = await pipe.readLine(5000);
    if (!answer || answer[0] === "4" || answer[0] === "5") break;
  }
  pipe.drop();
}

/** Every file under dir, recursively. */
function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

function configFile(dir: string, value: unknown): string {
  const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

for (const runtime of RUNTIME_NAMES) {
  describe(`letterbox over the serial line (${runtime} runtime)`, () => {
    let dir: string;
    let serial: PtySerialLine;
    let sim: Simulator;
    let port: string;
    /** Set to make every card operation fail, as when the card is pulled. */
    let cardFails = false;
    let mailboxesAfterBackup: unknown;

    before(async () => {
      dir = tempDir(`serial-${runtime}`);
      serial = await PtySerialLine.open();
      port = serial.path;
      const card = new SimCard({
        dir: path.join(dir, "card"),
        beforeOperation: () => {
          if (cardFails) throw new CardError("card removed");
        },
      });
      sim = await startSimulator({
        runtime,
        card,
        config: testConfig(),
        dataDir: path.join(dir, "card"),
        flashDir: path.join(dir, "flash"),
        smtpPort: 0,
        pop3Port: 0,
        serial,
      });
    });

    after(async () => {
      await sim.stop();
      serial.close();
    });

    it("status reports the runtime, the sessions, the mailboxes and the card", async (t) => {
      // A POP3 client and an IMAP client with INBOX selected are open while it asks.
      const pop = await connect(sim.pop3Port);
      assert.match(await pop.line(), /^\+OK /);
      const imap = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      t.after(async () => {
        pop.close();
        await imap.logout();
      });
      assert.match((await imap.command("SELECT INBOX")).status, /^OK /);
      const r = await run(["status", "--port", port]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nsessions +smtp 0 of 3, pop3 1 of 3, http 0 of 4, imap 1 of 4\n/);
      assert.match(r.stdout, /\nsockets +6 of 10 in use /, "4 listeners and 2 sessions");
      assert.match(r.stdout, /firmware +letterbox \d+\.\d+\.\d+ \(protocol 1\)/);
      assert.match(r.stdout, new RegExp(`runtime .*${runtime}`));
      assert.match(r.stdout, /not provisioned/);
      assert.match(r.stdout, /mailbox +alice: 0 messages, 0 bytes/);
      // The node runtime measures the card directory's file system; board adapters report it when they can.
      if (runtime === "node") assert.match(r.stdout, /card +[\d.]+ \w+ free of [\d.]+ \w+/);
      else assert.match(r.stdout, /card +(capacity not reported|[\d.]+ \w+ free of)/);
      const json = JSON.parse((await run(["status", "--json", "--port", port])).stdout);
      assert.ok(json.uptime >= 0);
      assert.deepEqual(json.sessions.find((x: { service: string }) => x.service === "imap"), { service: "imap", open: 1, max: 4 });
    });

    it("provision refuses an invalid file, lists every problem, and sends nothing", async () => {
      const bad = configFile(dir, { hostname: "x..y", domains: [], users: [{ name: "Anna", password: "a" }], colour: "red" });
      const r = await run(["provision", "--port", port, "--config", bad]);
      assert.equal(r.code, 2);
      for (const field of ["hostname", "domains", 'users "Anna".name', 'users "Anna".password', "colour"]) {
        assert.match(r.stderr, new RegExp(`config: ${field.replace(".", "\\.")}: .*\\(`), `no hint for ${field}`);
      }
      assert.match(r.stderr, /nothing was sent/);
      assert.equal(fs.readdirSync(path.join(dir, "flash")).length, 0);
      assert.equal(await pop3Login(sim.pop3Port, "alice", "wonderland"), true);
    });

    it("provision applies examples/home.json at once: its users log in by POP3, the old ones no longer", async () => {
      const r = await run(["provision", "--port", port, "--config", EXAMPLE]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /provisioned letterbox\.example\.net: 3 users/);
      assert.equal(await pop3Login(sim.pop3Port, "anna", "correct-horse"), true);
      assert.equal(await pop3Login(sim.pop3Port, "anna", "wrong-horse"), false);
      assert.equal(await pop3Login(sim.pop3Port, "alice", "wonderland"), false);
      const status = await run(["status", "--port", port]);
      assert.match(status.stdout, /provisioned \(internal flash\)/);
      assert.match(status.stdout, /domains example\.net, mail\.example\.net/);
    });

    it("secrets are in the flash directory, never on the card, and never printed", async () => {
      const secrets = ["correct-horse", "battery-staple", "wifi-secret"];
      const flashBytes = files(path.join(dir, "flash")).map((f) => fs.readFileSync(f, "latin1")).join("");
      for (const s of secrets) assert.ok(flashBytes.includes(s), `${s} not in flash`);
      for (const f of files(path.join(dir, "card"))) {
        const content = fs.readFileSync(f, "latin1");
        for (const s of secrets) assert.ok(!content.includes(s), `${s} found on the card in ${f}`);
      }
      for (const args of [["status"], ["users", "list"], ["logs"], ["status", "--json"]]) {
        const r = await run([...args, "--port", port]);
        for (const s of secrets) assert.ok(!(r.stdout + r.stderr).includes(s), `${args.join(" ")} printed ${s}`);
      }
    });

    it("users add, passwd and remove change who can log in, each committed at once", async () => {
      const list = await run(["users", "list", "--port", port]);
      assert.deepEqual(list.stdout.trim().split("\n"), ["anna", "ben", "family"]);
      const add = await run(["users", "add", "dora", "--port", port], "dora-pass-1\n");
      assert.equal(add.code, 0, add.stderr);
      assert.equal(await pop3Login(sim.pop3Port, "dora", "dora-pass-1"), true);
      const passwd = await run(["users", "passwd", "dora", "--port", port], "dora-pass-2\n");
      assert.equal(passwd.code, 0, passwd.stderr);
      assert.equal(await pop3Login(sim.pop3Port, "dora", "dora-pass-1"), false);
      assert.equal(await pop3Login(sim.pop3Port, "dora", "dora-pass-2"), true);
      const again = await run(["users", "add", "dora", "--port", port], "whatever1\n");
      assert.equal(again.code, 1);
      assert.match(again.stderr, /exists/);
      const remove = await run(["users", "remove", "dora", "--port", port]);
      assert.equal(remove.code, 0, remove.stderr);
      assert.equal(await pop3Login(sim.pop3Port, "dora", "dora-pass-2"), false);
      const missing = await run(["users", "remove", "nobody", "--port", port]);
      assert.equal(missing.code, 1);
      const badName = await run(["users", "add", "Bad Name", "--port", port], "password1\n");
      assert.equal(badName.code, 2);
    });

    it("backup downloads every mailbox into verified Maildirs, and keeps what is there", async () => {
      const big = "Subject: big\r\n\r\n" + Array.from({ length: 60 }, (_, i) => `line ${i} \xe4\xf6\xfc ${"x".repeat(40)}\r\n`).join("");
      await deliver(sim.smtpPort, "anna@example.net", big);
      await deliver(sim.smtpPort, "family@mail.example.net", "Subject: small\r\n\r\nhello\r\n");
      const out = path.join(dir, "backup");
      const r = await run(["backup", "--out", out, "--port", port]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /3 mailboxes .*: 2 messages downloaded .* 0 already there; all verified/);
      const annas = fs.readdirSync(path.join(out, "anna", "cur"));
      assert.equal(annas.length, 1);
      const saved = fs.readFileSync(path.join(out, "anna", "cur", annas[0]), "latin1");
      assert.ok(saved.includes("line 59 \xe4\xf6\xfc"), "8-bit body intact");
      assert.ok(saved.length > 2000);
      assert.match(annas[0], new RegExp(`,S=${saved.length}:2,$`));
      assert.deepEqual(fs.readdirSync(path.join(out, "anna", "tmp")), []);
      const again = await run(["backup", "--out", out, "--port", port]);
      assert.match(again.stdout, /0 messages downloaded .* 2 already there/);
      mailboxesAfterBackup = JSON.parse((await run(["status", "--json", "--port", port])).stdout).mailboxes;
    });

    it("monitor shows the board's console output as it comes", async () => {
      const monitor = start(["monitor", "--port", port]);
      const opened = waitForOutput(monitor, /monitor on/, 10000, "stderr");
      const done = finish(monitor);
      try {
        await opened;
        // Watch from before the delivery: the core logs the error before it answers the client,
        // so the line can reach the monitor before tryDelivery returns (it does on the slower lua runtime).
        const logged = waitForOutput(monitor, /store: card error/);
        cardFails = true; // the card goes bad: the core logs it
        await tryDelivery(sim.smtpPort, "ben@example.net");
        await logged;
      } finally {
        monitor.kill("SIGINT");
      }
      assert.equal((await done).code, 0);
    });

    it("logs prints the ring buffer, and --follow shows new lines as they come", async () => {
      const logs = await run(["logs", "--port", port]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /settings committed/);
      assert.match(logs.stdout, /store: card error: .*card removed/);
      const status = JSON.parse((await run(["status", "--json", "--port", port])).stdout);
      assert.ok(status.errors.some((e: string) => /card error/.test(e)), "status lists the last errors");
      const follower = start(["logs", "--follow", "--interval", "200", "--port", port]);
      const done = finish(follower);
      try {
        await waitForOutput(follower, /card error/);
        // Only output from here on counts: what the next failed delivery logs.
        const fresh = waitForOutput(follower, /(smtp|store): /);
        await tryDelivery(sim.smtpPort, "ben@example.net");
        await fresh;
      } finally {
        follower.kill("SIGINT");
      }
      assert.equal((await done).code, 0);
    });

    it("users remove and provision change nothing while the card cannot be read: whose mail is on it is unknown", async () => {
      const r = await run(["users", "remove", "ben", "--port", port]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /the board cannot read its card, so no one can tell whose mail is on it\. Nothing was changed/);
      const p = await run(["provision", "--port", port, "--config", EXAMPLE]);
      assert.equal(p.code, 1);
      const list = await run(["users", "list", "--port", port]);
      assert.deepEqual(list.stdout.trim().split("\n"), ["anna", "ben", "family"]);
    });

    it("reboot restarts the box with its settings and mail (and a reinserted card)", async () => {
      cardFails = false;
      const r = await run(["reboot", "--port", port]);
      assert.equal(r.code, 0, r.stderr);
      let after: { uptime: number; provisioned: boolean; mailboxes: { user: string; messages: number }[] } | undefined;
      for (let i = 0; i < 20 && !after; i++) {
        await new Promise((res) => setTimeout(res, 250));
        const s = await run(["status", "--json", "--port", port]);
        if (s.code === 0) after = JSON.parse(s.stdout);
      }
      assert.ok(after, "status answers after the reboot");
      assert.equal(after!.provisioned, true);
      assert.deepEqual(after!.mailboxes, mailboxesAfterBackup, "the mail survived");
      assert.equal(await pop3Login(sim.pop3Port, "anna", "correct-horse"), true);
    });

    describe("bad frames", () => {
      let client: DeviceClient;
      before(async () => {
        client = await DeviceClient.open({ path: port, timeoutMs: 4000 });
      });
      after(() => client.close());

      /** Writes bytes on a port of its own and returns the error code of the board's reply (id 0: unreadable frame). */
      async function rejection(bytes: Buffer): Promise<number> {
        const raw = await openPort(port, 115200);
        try {
          const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no reply to ${bytes.toString("hex")}`)), 4000);
            const reader = new FrameReader({
              frame: (payload) => (clearTimeout(timer), resolve(packr.unpack(payload))),
              text: () => {},
              reject: (why) => reject(new Error(why)),
            });
            raw.on("data", (d: Buffer) => reader.push(d));
          });
          raw.write(bytes);
          const map = await reply;
          assert.equal(map.id, 0);
          assert.equal(map.ok, false);
          return Number(map.error);
        } finally {
          await new Promise((r) => raw.close(r));
        }
      }

      it("corrupted, oversized, wrong-version and truncated frames get error replies", async () => {
        const good = encodeFrame(packr.pack({ id: 99, op: "users.remove", name: "ben" }));
        const corrupted = Buffer.from(good);
        corrupted[8] ^= 0x20;
        await client.close();
        assert.equal(await rejection(corrupted), 1);
        assert.equal(await rejection(Buffer.from([0xfe, 0x4c, 1, 0x7f, 0xff])), 3);
        assert.equal(await rejection(encodeFrame(Buffer.from("hi"), 9)), 4);
        // Half a frame: the board waits a second for the rest, then rejects it.
        assert.equal(await rejection(good.subarray(0, 10)), 2);
        assert.equal(await rejection(encodeFrame(Buffer.from([0xc1]))), 5);
        client = await DeviceClient.open({ path: port, timeoutMs: 4000 });
        const list = await client.request("users.list");
        assert.deepEqual(list.map.users, ["anna", "ben", "family"], "nothing changed");
      });

      it("malformed requests and unknown ops are refused", async () => {
        await assert.rejects(client.request("no.such.op"), (e: DeviceError) => e.code === 6);
        await assert.rejects(client.request("users.add", { name: "eve" }), (e: DeviceError) => e.code === 7);
      });

      it("a provisioning that is not committed, or does not check out, changes nothing", async () => {
        const settings = packr.pack({ hostname: "evil.example", domains: ["evil.example"], users: [{ name: "eve", password: "evil-pass" }] });
        await client.request("prov.begin", { size: settings.length, sum: "00000000" });
        await client.request("prov.data", { offset: 0, data: settings });
        await assert.rejects(client.request("prov.commit"), (e: DeviceError) => e.code === 7 && /checksum/.test(e.message));
        await client.request("prov.begin", { size: settings.length + 10, sum: "00000000" });
        await client.request("prov.data", { offset: 0, data: settings });
        // The host goes away here; a later commit finds nothing to commit.
        await client.request("hello");
        const list = await client.request("users.list");
        assert.deepEqual(list.map.users, ["anna", "ben", "family"]);
        assert.equal(await pop3Login(sim.pop3Port, "eve", "evil-pass"), false);
      });
    });
  });
}

describe("letterbox without a board", () => {
  it("explains what to do when udevadm is missing", async () => {
    const r = await run(["status"], undefined, { PATH: "/nonexistent" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /udevadm.*missing/s);
    assert.match(r.stderr, /apt-get install udev/);
    assert.match(r.stderr, /--port/);
  });

  it("reports a port where no letterbox answers", async () => {
    const serial = await PtySerialLine.open(); // a line nobody answers on
    try {
      const r = await run(["status", "--port", serial.path, "--timeout", "300"]);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /no letterbox answered on/);
    } finally {
      serial.close();
    }
    const missing = await run(["status", "--port", "/dev/does-not-exist"]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /\/dev\/does-not-exist does not exist: is the board plugged in\?/);
    assert.equal(missing.stderr.match(/does not exist/g)!.length, 1, "said once");
  });

  it("every command has --help, and bad usage exits 2", async () => {
    for (const args of [[], ["provision"], ["status"], ["users"], ["users", "add"], ["logs"], ["monitor"], ["backup"], ["reboot"], ["boards"], ["sim"]]) {
      const r = await run([...args, "--help"]);
      assert.equal(r.code, 0, `${args.join(" ")} --help`);
      assert.match(r.stdout, /Usage: letterbox/);
    }
    assert.match((await run(["--help"])).stdout, /Exit codes: 0 ok, 1 failure/);
    assert.equal((await run(["provision"])).code, 2, "missing --config");
    assert.equal((await run(["no-such-command"])).code, 2);
  });

  it("boards lists the definitions with their USB ids", async () => {
    const r = await run(["boards"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /espruino-esp32\n.*\n  runtime espruino, MCU esp32, flash 4MB/);
    assert.match(r.stdout, /nodemcu-esp32/);
    assert.match(r.stdout, /USB ids 0x10C4:0xEA60/);
  });
});
