/**
 * Issue 15 over the serial line, on every runtime: mail is never orphaned by
 * provision or `users remove`, orphaned mail is reported and saved, log lines
 * carry a time and say what happened, status reports memory in the runtime's
 * unit, monitor echoes and shows answers, and counts are in good English.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { PtySerialLine } from "../sim/serial";
import { DeviceClient } from "../host/serial/client";
import { pop3Session, sendMail } from "./helpers/clients";
import { ROOT, tempDir, testConfig } from "./helpers/fixtures";

const CLI = path.join(ROOT, "host/bin/letterbox.js");
const UNITS: { [runtime: string]: string } = { node: "KiB", lua: "bytes", espruino: "variables" };

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], input = ""): Promise<Result> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LETTERBOX_PORT: "" }, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  child.stdin.end(input);
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

function configFile(dir: string, users: string[]): string {
  const file = path.join(dir, `config-${users.join("-")}.json`);
  fs.writeFileSync(file, JSON.stringify({ hostname: "mx.test.example", domains: ["example.org"], users: users.map((name) => ({ name, password: `${name}-pass` })) }));
  return file;
}

async function mail(sim: Simulator, to: string, subject: string): Promise<void> {
  const answer = await sendMail(sim.smtpPort, "sender@remote.example", [to], Buffer.from(`Subject: ${subject}\r\n\r\nhello\r\n`));
  assert.match(answer, /^250 /);
}

async function logLines(port: string): Promise<string[]> {
  const r = await run(["logs", "--port", port]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** "1 Dec 2026 00:05:53 " before every line once the clock is set. */
describe("log lines before the clock is set", () => {
  for (const runtime of RUNTIME_NAMES) {
    it(`count seconds since boot, marked as such (${runtime} runtime)`, async () => {
      const lines: string[] = [];
      let now = 40; // a board without SNTP counts from about 0
      const sim = await startSimulator({ runtime, config: testConfig(), dataDir: tempDir(`boot-${runtime}`), smtpPort: 0, pop3Port: 0, clock: () => now, log: (l) => lines.push(l) });
      try {
        now += 7;
        await mail(sim, "alice@example.org", "late");
      } finally {
        await sim.stop();
      }
      assert.ok(lines.some((l) => /^boot\+0s store: new store created$/.test(l)), lines.join("\n"));
      assert.ok(lines.some((l) => /^boot\+7s smtp: delivered /.test(l)), lines.join("\n"));
    });
  }
});

const TIME = "\\d{1,2} [A-Z][a-z]{2} \\d{4} \\d\\d:\\d\\d:\\d\\d ";

for (const runtime of RUNTIME_NAMES) {
  describe(`what the board and the tool say (${runtime} runtime)`, () => {
    let dir: string;
    let serial: PtySerialLine;
    let sim: Simulator;
    let port: string;

    before(async () => {
      dir = tempDir(`words-${runtime}`);
      serial = await PtySerialLine.open();
      port = serial.path;
      sim = await startSimulator({
        runtime,
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

    it("a fresh card logs a new store; every line has the time (item 10)", async () => {
      const lines = await logLines(port);
      assert.ok(lines.length > 0);
      for (const line of lines) assert.match(line, new RegExp(`^${TIME}`), line);
      assert.ok(lines.some((l) => new RegExp(`^${TIME}store: new store created$`).test(l)), lines.join("\n"));
      assert.ok(!lines.some((l) => /no valid journal/.test(l)));
    });

    it("every delivery and every POP3 login and logout is logged (item 10)", async () => {
      await mail(sim, "alice@example.org", "one");
      const count = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => (await c.list()).count);
      assert.equal(count, 1);
      const lines = (await logLines(port)).join("\n");
      const peer = runtime === "espruino" ? "" : " \\[127\\.0\\.0\\.1\\]"; // Espruino's sockets have no remote address
      assert.match(lines, new RegExp(`${TIME}smtp: delivered [0-9a-f]{8} \\(\\d+ bytes\\) to alice from \\S+${peer}\\n`));
      assert.match(lines, new RegExp(`${TIME}pop3: alice logged in \\(1 message\\)\\n`));
      assert.match(lines, new RegExp(`${TIME}pop3: alice logged out`));
    });

    it(`status shows memory in the runtime's unit (${UNITS[runtime]}) and counts in good English (items 11, 13)`, async () => {
      const r = await run(["status", "--port", port]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`memory +\\d+ ${UNITS[runtime]} free\\n`));
      assert.match(r.stdout, /mailbox +alice: 1 message, \d+ bytes\n/);
      assert.match(r.stdout, /mailbox +bob: 0 messages, 0 bytes\n/);
      const json = JSON.parse((await run(["status", "--json", "--port", port])).stdout);
      assert.equal(json.memoryUnit, UNITS[runtime]);
      assert.ok(Number.isInteger(json.freeMemory) && json.freeMemory > 0);
    });

    it("monitor echoes what is typed and shows the board's answer (item 12)", async () => {
      const child = spawn(process.execPath, [CLI, "monitor", "--port", port], { stdio: "pipe" });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      const seen = (pattern: RegExp) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${pattern} in ${JSON.stringify(out)}`)), 8000);
          const check = () => (pattern.test(out) ? (clearTimeout(timer), resolve()) : setTimeout(check, 50));
          check();
        });
      try {
        await new Promise<void>((resolve) => child.stderr.once("data", () => resolve()));
        child.stdin.write("help\n");
        await seen(/help\r\n/);
        await seen(/letterbox: this console answers the letterbox tool/);
      } finally {
        child.kill("SIGINT");
      }
    });

    it("provision refuses to orphan mail, lists the users with counts, and changes nothing (item 2)", async () => {
      await mail(sim, "bob@example.org", "for bob");
      await mail(sim, "bob@example.org", "for bob again");
      const r = await run(["provision", "--port", port, "--config", configFile(dir, ["carol", "dora"])]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /would leave mail on the card that no user can reach:\n {2}alice: 1 message \(\d+ bytes\)\n {2}bob: 2 messages \(\d+ bytes\)\n/);
      assert.match(r.stderr, /--delete-mail-of-removed-users/);
      const users = await run(["users", "list", "--port", port]);
      assert.deepEqual(users.stdout.trim().split("\n"), ["alice", "bob", "carol"], "nothing changed");
    });

    it("users remove refuses to orphan mail unless --delete-mail (item 2)", async () => {
      const r = await run(["users", "remove", "alice", "--port", port]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Removing alice would leave mail on the card that no user can reach:\n {2}alice: 1 message/);
      assert.match(r.stderr, /--delete-mail/);
      assert.doesNotMatch(r.stderr, /\((conflict|not found) \d+\)/);
      const ok = await run(["users", "remove", "carol", "--port", port]);
      assert.equal(ok.code, 0, ok.stderr); // no mail: removed at once
    });

    it("mail orphaned by an earlier version is reported by status and saved by backup (item 2)", async () => {
      // As today's tool did it: the user goes, the mail stays.
      const client = await DeviceClient.open({ path: port, timeoutMs: 4000 });
      try {
        await client.request("users.remove", { name: "bob" });
      } finally {
        await client.close();
      }
      const status = await run(["status", "--port", port]);
      assert.match(status.stdout, /mailbox +bob: 2 messages, \d+ bytes {2}\(not a user any more/);
      const out = path.join(dir, "backup");
      const backup = await run(["backup", "--out", out, "--port", port]);
      assert.equal(backup.code, 0, backup.stderr);
      assert.match(backup.stdout, /backed up 2 mailboxes into .*: 3 messages downloaded/);
      assert.equal(fs.readdirSync(path.join(out, "bob", "cur")).length, 2);
      // A new user of that name would get it: refused unless --keep-old-mail, by users add and by provision.
      const add = await run(["users", "add", "bob", "--port", port], "new-bob-pass\n");
      assert.equal(add.code, 1);
      assert.match(add.stderr, /Adding bob would give the mail of an earlier user of the same name to the new one:\n {2}bob: 2 messages/);
      const provision = await run(["provision", "--port", port, "--config", configFile(dir, ["alice", "bob"])]);
      assert.equal(provision.code, 1);
      assert.match(provision.stderr, /would give the mail of an earlier user/);
      const list = await run(["users", "list", "--port", port]);
      assert.equal(list.stdout, "alice\n(bob: not a user, but mail is on the card; see letterbox status)\n");
    });

    it("with the option, the removed users' mail is deleted, so a later user of the name starts empty (item 2)", async () => {
      const saved = path.join(dir, "removed");
      const r = await run(["provision", "--port", port, "--config", configFile(dir, ["alice", "dora"]), "--delete-mail-of-removed-users", "--save-removed-mail", saved]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`provisioned mx\\.test\\.example: 2 users, domains example\\.org\\nsaved the mail of bob: 2 messages \\(\\d+ bytes\\) in ${saved}/bob, then deleted it from the board\\n`));
      assert.equal(fs.readdirSync(path.join(saved, "bob", "cur")).length, 2, "saved before it was deleted");
      const add = await run(["users", "add", "bob", "--port", port], "new-bob-pass\n");
      assert.equal(add.code, 0, add.stderr);
      assert.equal(await pop3Session(sim.pop3Port, "bob", "new-bob-pass", async (c) => (await c.list()).count), 0);
      const remove = await run(["users", "remove", "alice", "--delete-mail", "--save-removed-mail", saved, "--port", port]);
      assert.equal(remove.code, 0, remove.stderr);
      assert.match(remove.stdout, new RegExp(`removed alice\\nsaved the mail of alice: 1 message \\(\\d+ bytes\\) in ${saved}/alice, then deleted it from the board\\n`));
      assert.equal(fs.readdirSync(path.join(saved, "alice", "cur")).length, 1);
      const status = await run(["status", "--port", port]);
      assert.doesNotMatch(status.stdout, /alice/);
    });

    it("board errors are in words, without internal codes (item 9)", async () => {
      const again = await run(["users", "add", "dora", "--port", port], "whatever1\n");
      assert.equal(again.code, 1);
      assert.equal(again.stderr, "letterbox: user dora exists\n");
      const missing = await run(["users", "passwd", "nobody", "--port", port], "whatever1\n");
      assert.equal(missing.stderr, "letterbox: no user nobody\n");
    });
  });
}
