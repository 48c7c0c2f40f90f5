/** `letterbox sim` as a user runs it: config errors, printed ports, a restart on the same card. */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { pop3Session, sendMail } from "./helpers/clients";
import { ROOT, tempDir } from "./helpers/fixtures";

const CLI = path.join(ROOT, "host/bin/letterbox.js");

function writeConfig(value: unknown): string {
  const file = path.join(tempDir("config"), "config.json");
  fs.writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
  return file;
}

const GOOD = { hostname: "box.example", domains: ["example.com"], users: [{ name: "dora", password: "explorer" }] };

/** Starts the simulator and resolves with the ports it printed. */
function startCli(args: string[]): Promise<{ child: ChildProcess; smtp: number; pop3: number }> {
  const child = spawn(process.execPath, [CLI, "sim", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (b) => {
      out += b;
      const smtp = /SMTP\s+127\.0\.0\.1:(\d+)/.exec(out);
      const pop3 = /POP3\s+127\.0\.0\.1:(\d+)/.exec(out);
      if (smtp && pop3 && out.includes("Ctrl-C")) resolve({ child, smtp: Number(smtp[1]), pop3: Number(pop3[1]) });
    });
    child.stderr!.on("data", (b) => (err += b));
    child.on("exit", (code) => reject(new Error(`simulator exited with ${code}: ${err}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners("exit");
    child.on("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

describe("letterbox sim", () => {
  const cases: [string, unknown, RegExp][] = [
    ["a missing field", { hostname: "box.example", domains: ["example.com"] }, /config: users: is missing/],
    ["a bad user name", { ...GOOD, users: [{ name: "Dora Explorer", password: "explorer" }] }, /config: users "Dora Explorer"\.name: not allowed \(1 to 32 lower-case letters/],
    ["an unknown field", { ...GOOD, domians: ["x.example"] }, /config: domians: is not a known field/],
    ["a bad domain", { ...GOOD, domains: ["not a domain"] }, /config: domains #1: not allowed \(a domain such as home\.arpa/],
    ["a duplicate user", { ...GOOD, users: [GOOD.users[0], GOOD.users[0]] }, /config: users #2: the name "dora" appears twice/],
    ["broken JSON", '{\n  "hostname": "box.example",\n  domains: []\n}', /config: .*not valid JSON at line 3, column 3: .*\n  3 \|   domains: \[\]\n    \|   \^/],
    ["a short password", { ...GOOD, users: [{ name: "dora", password: "ab" }] }, /config: users "dora"\.password: not allowed \(4 to 128 printable ASCII characters, no spaces\)/],
    ["a password with a space", { ...GOOD, users: [{ name: "dora", password: "two words" }] }, /config: users "dora"\.password: not allowed \(4 to 128 printable ASCII characters, no spaces\)/],
    ["an unknown time zone", { ...GOOD, timezone: "Mars/Olympus" }, /config: timezone: "Mars\/Olympus" is not a time zone/],
    ["a user without a name", { ...GOOD, users: [{ password: "explorer" }] }, /config: users #1\.name: is missing/],
    ["a number as text", { ...GOOD, smtpPort: "25" }, /config: smtpPort: should be a whole number/],
  ];
  for (const [what, config, message] of cases) {
    it(`rejects ${what} with a clear line naming the field and exit code 2`, () => {
      const r = spawnSync(process.execPath, [CLI, "sim", "--config", writeConfig(config), "--data", tempDir("bad")], { encoding: "utf8", timeout: 30000 });
      assert.equal(r.status, 2);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\^\[|\\x21|must match pattern|users\.\d|\/users\//, "no raw patterns or JSON pointers");
      assert.equal(r.stdout, "", "nothing starts");
    });
  }

  it("rejects a missing config file with exit code 2", () => {
    const r = spawnSync(process.execPath, [CLI, "sim", "--config", "/nonexistent/letterbox.json"], { encoding: "utf8", timeout: 30000 });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, "letterbox: config: /nonexistent/letterbox.json: cannot read it: there is no such file\n");
  });

  it("rejects a directory given as the config file in words, exit code 2", () => {
    const dir = tempDir("config-dir");
    const r = spawnSync(process.execPath, [CLI, "sim", "--config", dir], { encoding: "utf8", timeout: 30000 });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `letterbox: config: ${dir}: cannot read it: it is a directory, not a file\n`);
  });

  it("tells a value that breaks two rules once (a short password with a space)", () => {
    const r = spawnSync(process.execPath, [CLI, "sim", "--config", writeConfig({ ...GOOD, users: [{ name: "dora", password: "a b" }] }), "--data", tempDir("bad")], { encoding: "utf8", timeout: 30000 });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'letterbox: config: users "dora".password: not allowed (4 to 128 printable ASCII characters, no spaces)\n');
  });

  for (const runtime of RUNTIME_NAMES) {
    it(`serves on the ports it prints and keeps mail across a restart (${runtime} runtime)`, async () => {
      const data = tempDir("cli");
      const args = ["--config", writeConfig(GOOD), "--data", data, "--flash", tempDir("flash"), "--smtp-port", "0", "--pop3-port", "0", "--http-port", "0", "--imap-port", "0", "--runtime", runtime];
      let sim = await startCli(args);
      try {
        assert.match(await sendMail(sim.smtp, "x@remote.example", ["dora@example.com"], Buffer.from("Subject: hi\r\n\r\nhi\r\n")), /^250 /);
      } finally {
        await stop(sim.child);
      }
      sim = await startCli(args);
      try {
        const count = await pop3Session(sim.pop3, "dora", "explorer", async (c) => (await c.list()).count);
        assert.equal(count, 1);
      } finally {
        await stop(sim.child);
      }
    });
  }
});
