/**
 * README shows what the tool prints: its `make sim` transcripts, the config
 * error and refusal examples are compared with real runs (paths, ports and
 * sizes aside), and every option in its command lines exists.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { sendMail } from "./helpers/clients";
import { runDialogue } from "./helpers/dialogue";
import { ROOT, tempDir } from "./helpers/fixtures";
import { tcpPipe, tcpTransport } from "./helpers/transports";
import { loadConfigFile, toCoreConfig } from "../host/config";
import { startSimulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";

const CLI = path.join(ROOT, "host/bin/letterbox.js");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const HOME = "/home/me/letterbox";

/** The code blocks of README whose first line starts with `first`. */
function blocks(first: string): string[][] {
  const out: string[][] = [];
  const re = /```[a-z]*\n([^]*?)```/g;
  for (let m; (m = re.exec(README)); ) {
    const lines = m[1].replace(/\n$/, "").split("\n");
    if (lines[0].startsWith(first)) out.push(lines);
  }
  return out;
}

/** The same text with what differs between runs made equal. */
function normal(text: string, cwd: string): string {
  return text
    .split(cwd)
    .join(HOME)
    .replace(/\/dev\/pts\/\d+/g, "/dev/pts/N")
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT")
    .replace(/\(\d+ bytes\)/g, "(N bytes)");
}

interface Sim {
  output: () => string;
  stop: () => Promise<void>;
}

function startSim(cwd: string): Promise<Sim> {
  const child = spawn(process.execPath, [CLI, "sim", "--serial", "--smtp-port", "0", "--pop3-port", "0", "--http-port", "0", "--imap-port", "0"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("Ctrl-C to stop.\n")) {
        resolve({
          output: () => out,
          stop: () => new Promise<void>((done) => (child.on("exit", () => done()), child.kill("SIGINT"))),
        });
      }
    });
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => reject(new Error(`sim exited with ${code}: ${err}`)));
  });
}

function letterbox(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8", timeout: 30000, env: { ...process.env, LETTERBOX_PORT: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("README", () => {
  it("shows what make sim prints, the first time and after provisioning, and the examples of errors", async () => {
    const cwd = fs.realpathSync(tempDir("readme"));
    fs.mkdirSync(path.join(cwd, "examples"));
    fs.copyFileSync(path.join(ROOT, "examples/home.json"), path.join(cwd, "examples/home.json"));
    const [first, second] = blocks("$ make sim");
    assert.ok(first && second, "two make sim transcripts");
    // The make steps are what Makefile and the install script print.
    const makefile = fs.readFileSync(path.join(ROOT, "Makefile"), "utf8");
    assert.ok(makefile.includes(`@echo "${first[1]}"`), first[1]);
    assert.ok(makefile.includes(`@echo "${first[2]}"`), first[2]);
    assert.equal(first[3], "installing Debian packages: socat (apt-get; this can take a minute)"); // test/cli-slips checks the script says so

    let sim = await startSim(cwd);
    const port = /serial (\/dev\/pts\/\d+)/.exec(sim.output())![1];
    const smtp = Number(/SMTP  127\.0\.0\.1:(\d+)/.exec(sim.output())![1]);
    try {
      assert.equal(normal(sim.output(), cwd), normal(first.slice(4, first.indexOf("^C")).join("\n") + "\n", cwd));
      // The refusal: three messages for alice, then a file without her.
      for (let i = 0; i < 3; i++) {
        assert.match(await sendMail(smtp, "bob@home.arpa", ["alice@home.arpa"], Buffer.from("Subject: hello\r\n\r\nHi Alice!\r\n")), /^250 /);
      }
      const refusal = blocks("$ npx letterbox provision").find((b) => b.some((l) => l.includes("would leave mail")))!;
      const realPort = (a: string) => (a.startsWith("/dev/pts/") ? port : a);
      let r = letterbox(refusal[0].slice(2).split(" ").slice(2).map(realPort), cwd);
      assert.equal(r.code, 1);
      assert.equal(normal(r.stderr, cwd), normal(refusal.slice(1).join("\n") + "\n", cwd));
      // The config errors.
      const errors = blocks("$ npx letterbox provision").find((b) => b.some((l) => l.includes("config:")))!;
      fs.writeFileSync(path.join(cwd, "mine.json"), JSON.stringify({ hostname: "box.home.arpa", domains: ["home.arpa"], users: [{ name: "dora", password: "two words" }], timezone: "Mars/Olympus" }));
      r = letterbox(errors[0].slice(2).split(" ").slice(2).map(realPort), cwd);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, errors.slice(1).join("\n") + "\n");
      // Provisioned (the mail of alice deleted, as README says), then the second transcript.
      r = letterbox(["provision", "--port", port, "--config", "examples/home.json", "--delete-mail-of-removed-users"], cwd);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await sim.stop();
    }
    assert.equal(normal(sim.output(), cwd).split("\n").slice(-2)[0], first[first.length - 1].split(cwd).join(HOME));
    sim = await startSim(cwd);
    try {
      assert.equal(normal(sim.output(), cwd), normal(second.slice(1).join("\n") + "\n", cwd));
    } finally {
      await sim.stop();
    }
  });

  for (const runtime of RUNTIME_NAMES) {
    it(`its SMTP and POP3 transcripts run as shown against the demo setup (${runtime} runtime)`, async () => {
      const [smtp] = blocks("S: 220 ");
      const [pop3] = blocks("S: +OK letterbox POP3");
      assert.ok(smtp && pop3);
      // What differs from run to run: the APOP timestamp, the store's id, the date (and with it the size),
      // and the client's address in Received: (the simulator's client is 127.0.0.1; Espruino's sockets name none).
      const from = runtime === "espruino" ? "" : " ([127.0.0.1])";
      // Both transcripts end with QUIT: the box closes each connection.
      const script = ["@connect smtp smtp", ...smtp, "@closed", "@connect pop3 pop3", ...pop3, "@closed"]
        .map((l) => l.replace(/^([CS]):$/, "$1: "))
        .map((l) => (l.startsWith("S: ") ? l.replace(/^(S: \+OK letterbox POP3 server ready <)[^>]*@/, "$1*@").replace(/^S: 1 [0-9a-f]{8}-/, "S: 1 *-").replace(/\d+ octets/, "* octets").replace(/^S: \t[A-Z][a-z]{2}, .*$/, "S: \t*").replace(/^(S: Received: from \S+) \(\[192\.168\.1\.23\]\)$/, "$1" + from) : l))
        .join("\n");
      const file = path.join(tempDir("readme-dialogue"), "readme.txt");
      fs.writeFileSync(file, script + "\n", "latin1");
      const sim = await startSimulator({
        runtime,
        config: toCoreConfig(loadConfigFile(path.join(ROOT, "sim/default-config.json"))),
        dataDir: tempDir(`readme-${runtime}`),
        smtpPort: 0,
        pop3Port: 0,
      });
      try {
        await runDialogue(file, tcpTransport({ smtp: sim.smtpPort, pop3: sim.pop3Port }));
      } finally {
        await sim.stop();
      }
    });
  }

  for (const runtime of RUNTIME_NAMES) {
    it(`its log lines of failed logins and lockouts are what the box logs (${runtime} runtime)`, async () => {
      const shown = blocks("").find((b) => / pop3: USER\/PASS failed for /.test(b[0]));
      assert.ok(shown, "README shows failed-login log lines");
      // The time and the client's address differ: the simulator's client is 127.0.0.1, and Espruino's sockets name none.
      const peer = runtime === "espruino" ? "" : " [127.0.0.1]";
      const want = shown.map((l) => l.replace(/^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d /, "").replace(" [192.168.1.23]", peer));
      const logs: string[] = [];
      const sim = await startSimulator({
        runtime,
        config: toCoreConfig(loadConfigFile(path.join(ROOT, "sim/default-config.json"))),
        dataDir: tempDir(`readme-log-${runtime}`),
        smtpPort: 0,
        pop3Port: 0,
        log: (line) => logs.push(line.replace(/^\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d /, "")),
      });
      try {
        // Five failures each for alice (the first as the README shows) and for mallory, each on a session dropped once it is logged.
        const attempts = ["USER Alice@Home.Arpa\r\nPASS wrong\r\n", "APOP mallory 0123456789abcdef0123456789abcdef\r\n"];
        for (let i = 0; i < 4; i++) attempts.push("USER alice\r\nPASS wrong\r\n", "USER mallory\r\nPASS wrong\r\n");
        for (const attempt of attempts) {
          const before = logs.length;
          const pipe = await tcpPipe(sim.pop3Port);
          assert.match((await pipe.readLine(5000))!, /^\+OK /);
          pipe.write(attempt);
          for (let t = 0; t < 250 && logs.length === before; t++) await new Promise((r) => setTimeout(r, 20));
          pipe.drop();
        }
        for (const line of want) assert.ok(logs.includes(line), `README's ${JSON.stringify(line)} is not among what the box logged:\n${logs.join("\n")}`);
      } finally {
        await sim.stop();
      }
    });
  }

  it("every option in its command lines exists", () => {
    const lines = README.split("\n").filter((l) => /^(echo .*\| )?npx letterbox /.test(l));
    assert.ok(lines.length > 10);
    for (const line of lines) {
      const words = line.replace(/^echo .*\| /, "").replace(/#.*$/, "").trim().split(/\s+/).slice(2);
      const command = words.filter((w, i) => !w.startsWith("-") && words.slice(0, i).every((p) => !p.startsWith("-")));
      const sub = command.filter((w) => /^[a-z]+$/.test(w)).slice(0, 2);
      const help = letterbox([...sub, "--help"], ROOT);
      assert.equal(help.code, 0, `${sub.join(" ")} --help`);
      for (const option of words.filter((w) => /^--?[a-z]/.test(w))) {
        assert.ok(help.stdout.includes(option), `README: \`${line.trim()}\`: ${option} is not an option of letterbox ${sub.join(" ")}`);
      }
    }
  });
});
