/**
 * Issue 15: nothing lost by a slip, every error in words. The simulator and
 * the host tool as a user runs them (separate processes), on every runtime.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { SimFlash } from "../sim/flash";
import { saveSettings } from "../firmware/settings";
import { defaultFlashDir } from "../sim/simulator";
import { ROOT, tempDir, testConfig } from "./helpers/fixtures";

const CLI = path.join(ROOT, "host/bin/letterbox.js");
const GOOD = { hostname: "box.example", domains: ["example.com"], users: [{ name: "dora", password: "explorer" }] };

function writeConfig(value: unknown): string {
  const file = path.join(tempDir("config"), "config.json");
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

interface Started {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

/** Starts `letterbox sim` and resolves once it is serving (or rejects with what it said when it exits first). */
function startSim(args: string[], cwd = ROOT): Promise<Started> {
  const child = spawn(process.execPath, [CLI, "sim", "--smtp-port", "0", "--pop3-port", "0", "--http-port", "0", "--imap-port", "0", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ? `${signal}: ${err}` as unknown as number : code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (b) => {
      out += b;
      if (out.includes("Ctrl-C to stop.")) resolve({ child, out: () => out, err: () => err, exited });
    });
    child.stderr!.on("data", (b) => (err += b));
    void exited.then((code) => reject(new Error(`simulator exited with ${code}: ${err}`)));
  });
}

/** Runs `letterbox ...` to its end. */
function run(args: string[], input = ""): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8", timeout: 30000, env: { ...process.env, LETTERBOX_PORT: "" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function interrupt(sim: Started): Promise<number | null> {
  sim.child.kill("SIGINT");
  return sim.exited;
}

/** A pid that is certainly not running any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

describe("one card, one simulator (item 1)", () => {
  for (const runtime of RUNTIME_NAMES) {
    const other = RUNTIME_NAMES[(RUNTIME_NAMES.indexOf(runtime) + 1) % RUNTIME_NAMES.length];
    it(`a second simulator (${other}) on a card the ${runtime} runtime uses refuses to start, naming the holder (exit 2)`, async () => {
      const dir = tempDir("lock");
      const data = path.join(dir, "card");
      const first = await startSim(["--runtime", runtime, "--data", data]);
      try {
        const second = run(["sim", "--runtime", other, "--data", data, "--smtp-port", "0", "--pop3-port", "0", "--http-port", "0", "--imap-port", "0"]);
        assert.equal(second.code, 2, second.stderr);
        assert.match(second.stderr, new RegExp(`the card ${data} is in use by another simulator \\(process ${first.child.pid}, lock file ${data}\\.lock\\)`));
        assert.match(second.stderr, new RegExp(`Stop that simulator \\(kill ${first.child.pid}\\), or give this one a card of its own: --data DIR\\.\\n$`));
        assert.equal(second.stdout, "");
        // The same for the flash: a new card with the first one's flash.
        const flashToo = run(["sim", "--runtime", other, "--data", path.join(dir, "card2"), "--flash", defaultFlashDir(data), "--smtp-port", "0", "--pop3-port", "0", "--http-port", "0", "--imap-port", "0"]);
        assert.equal(flashToo.code, 2, flashToo.stderr);
        assert.match(flashToo.stderr, new RegExp(`the flash ${defaultFlashDir(data)} is in use by another simulator \\(process ${first.child.pid},`));
        // The advice fits: another flash (--flash), since this card is free.
        assert.match(flashToo.stderr, new RegExp(`one flash is used by one box at a time\\. Stop that simulator \\(kill ${first.child.pid}\\), or give this one a flash of its own: --flash DIR\\.\\n$`));
      } finally {
        await interrupt(first);
      }
      assert.ok(!fs.existsSync(`${data}.lock`), "the lock goes with the simulator");
    });

    it(`a lock left by a killed simulator is taken over (${runtime} runtime)`, async () => {
      const data = path.join(tempDir("stale"), "card");
      const gone = deadPid();
      fs.writeFileSync(`${data}.lock`, `${gone}\n${data}\n`);
      fs.writeFileSync(`${defaultFlashDir(data)}.lock`, `${gone}\n${defaultFlashDir(data)}\n`);
      const sim = await startSim(["--runtime", runtime, "--data", data]);
      try {
        assert.match(sim.out(), new RegExp(`${data}: took over the lock of process ${gone}, which is no longer running`));
        assert.equal(fs.readFileSync(`${data}.lock`, "utf8").split("\n")[0], String(sim.child.pid));
      } finally {
        await interrupt(sim);
      }
    });
  }
});

describe("a lock whose pid now belongs to another process", () => {
  it("is stale too: the process started after the lock was written", async () => {
    const data = path.join(tempDir("reused"), "card");
    fs.writeFileSync(`${data}.lock`, `${process.pid}\n${data}\n1\n`); // a live pid, but not the process that locked
    const sim = await startSim(["--data", data]);
    try {
      assert.match(sim.out(), new RegExp(`took over the lock of process ${process.pid}, which is no longer running`));
    } finally {
      await interrupt(sim);
    }
  });
});

describe("a card and its flash make one board (items 3, 4)", () => {
  function provisionInto(flashDir: string): void {
    const config = testConfig();
    config.users = [{ name: "anna", password: "correct-horse" }];
    saveSettings(new SimFlash(flashDir), { config }, undefined);
  }

  it("a new --data is a new board: --config applies, whatever ./sim-flash holds", async () => {
    const cwd = tempDir("cwd");
    provisionInto(path.join(cwd, "sim-flash"));
    const data = path.join(cwd, "elsewhere", "card");
    const sim = await startSim(["--config", writeConfig(GOOD), "--data", data], cwd);
    try {
      assert.match(sim.out(), /users: dora\n/);
      assert.doesNotMatch(sim.out(), /provisioned/);
      assert.match(sim.out(), new RegExp(`flash in ${data}-flash`));
    } finally {
      await interrupt(sim);
    }
  });

  for (const [what, args, back] of [
    ["--config", (cwd: string) => ["--config", writeConfig(GOOD), "--data", path.join(cwd, "sim-data")], "--config"],
    ["the demo setup", (cwd: string) => ["--data", path.join(cwd, "sim-data")], "the demo setup"],
  ] as [string, (cwd: string) => string[], string][]) {
    it(`settings provisioned beside the card win over ${what}, and the start says how to go back`, async () => {
      const cwd = tempDir("cwd");
      provisionInto(path.join(cwd, "sim-flash"));
      const sim = await startSim(args(cwd), cwd);
      try {
        assert.match(sim.out(), new RegExp(`settings: provisioned into ${path.join(cwd, "sim-flash")}; they win over ${back}`));
        assert.match(sim.out(), /users: anna\n/);
        assert.match(sim.out(), /domains: example\.org, example\.net/);
        assert.match(sim.out(), new RegExp(`To go back to ${back}: stop, then rm -r ${path.join(cwd, "sim-flash")} \\(the settings; the mail on the card stays\\)\\.`));
      } finally {
        await interrupt(sim);
      }
    });
  }
});

describe("stopping (item 6)", () => {
  for (const runtime of RUNTIME_NAMES) {
    it(`Ctrl-C says the box stopped and the card is safe (${runtime} runtime)`, async () => {
      const data = path.join(tempDir("stop"), "card");
      const sim = await startSim(["--runtime", runtime, "--data", data]);
      assert.equal(await interrupt(sim), 0);
      assert.match(sim.out(), new RegExp(`letterbox stopped\\. The card is safe: every message accepted is on it \\(${data}\\)\\.\\n$`));
    });
  }
});

describe("Ctrl-C in a terminal", () => {
  it("prints the stop message on its own line after the terminal's ^C, as README shows", async () => {
    // script(1) (util-linux, in every Debian) gives the simulator a terminal; \x03 typed into it is a real Ctrl-C.
    const data = path.join(tempDir("stop-tty"), "card");
    // exec: script runs the command with $SHELL -c, or /bin/sh (dash) when SHELL is unset as under CI; dash stays
    // between script and the simulator, takes the same Ctrl-C and dies of it (exit 130) while the simulator stops cleanly.
    const command = "exec " + [process.execPath, CLI, "sim", "--smtp-port", "0", "--pop3-port", "0", "--http-port", "0", "--imap-port", "0", "--data", data].map((w) => `'${w}'`).join(" ");
    const child = spawn("script", ["-qefc", command, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (b) => {
        out += b;
        if (out.includes("Ctrl-C to stop.")) resolve();
      });
      void exited.then((code) => reject(new Error(`script exited with ${code}: ${out}`)));
    });
    child.stdin!.write("\x03");
    assert.equal(await exited, 0);
    assert.match(out, new RegExp(`\\^C\r\nletterbox stopped\\. The card is safe: every message accepted is on it \\(${data}\\)\\.\r\n$`));
  });
});

describe("usage errors exit 2 (item 7)", () => {
  const cases: [string[], RegExp][] = [
    [["status", "--timeout", "abc"], /option '--timeout <ms>' argument 'abc' is invalid\. "abc" is not a whole number of milliseconds/],
    [["status", "--timeout", "-5"], /--timeout/],
    [["status", "--timeout", "0"], /--timeout/],
    [["logs", "--interval", "0"], /option '--interval <ms>' argument '0' is invalid/],
    [["sim", "--smtp-port", "abc"], /option '--smtp-port <n>' argument 'abc' is invalid\. "abc" is not a port number from 0 to 65535/],
    [["sim", "--pop3-port", "99999"], /--pop3-port/],
    [["provision", "--config", "x.json", "--timeout", "soon"], /--timeout/],
    [["users", "list", "--timeout", "1.5"], /--timeout/],
    [["users", "remove"], /missing required argument 'name'/],
    [["users", "add", "dora", "--timeout", "x"], /--timeout/],
    [["users", "passwd"], /missing required argument 'name'/],
    [["users", "add", "Dora Explorer"], /user name "Dora Explorer": use 1-32 lower-case letters/],
    [["monitor", "--baud", "fast"], /--baud/],
    [["backup", "--port", "/dev/null"], /required option '-o, --out <dir>' not specified/],
    [["reboot", "--timeout", "x"], /--timeout/],
    [["boards", "extra"], /too many arguments/],
    [["sim", "--runtime", "python"], /--runtime/],
    [["sim", "--data", "/tmp/lb-same", "--flash", "/tmp/lb-same/flash"], /--flash \/tmp\/lb-same\/flash is on the card/],
    [["flash", "--runtime", "esp8266"], /--runtime/],
    [["flash", "--timeout", "later"], /--timeout/],
    [["build", "--runtime", "arduino"], /--runtime/],
  ];
  for (const [args, message] of cases) {
    it(`letterbox ${args.join(" ")}`, () => {
      const r = run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }
});

describe("serial errors in words (item 9)", () => {
  it("a file that is not a serial port", () => {
    const r = run(["status", "--port", "/etc/passwd"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^letterbox: \/etc\/passwd is not a serial port \(it is a regular file\)/);
    assert.doesNotMatch(r.stderr, /ioctl|baud rate/);
  });

  it("a device that is not a serial port", () => {
    const r = run(["status", "--port", "/dev/null"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /\/dev\/null is not a serial port/);
  });

  it("a port that does not exist is said once", () => {
    const r = run(["status", "--port", "/dev/ttyUSB9"]);
    assert.equal(r.code, 3);
    assert.equal(r.stderr.match(/ttyUSB9/g)!.length, 1, r.stderr);
    assert.match(r.stderr, /\/dev\/ttyUSB9 does not exist/);
  });

  it("no password on standard input", () => {
    const r = run(["users", "add", "x", "--port", "/dev/ttyUSB9"], "");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no password was given/);
  });
});

describe("make sim (item 5)", () => {
  it("installs Debian packages with one line, apt's noise hidden, and shows apt's words when it fails", () => {
    const bin = tempDir("fakeapt");
    const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    stub("dpkg-query", "exit 1");
    stub("sudo", 'exec "$@"');
    stub("debconf-set-selections", "cat >/dev/null");
    stub("apt-get", 'echo "Reading package lists... Done"; echo "W: some apt warning" >&2; [ "$1" = update ] || [ -z "$APT_FAILS" ] || { echo "E: Unable to locate package frobnicate"; exit 100; }');
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const script = path.join(ROOT, "test/tools/install-debian-deps.sh");
    const ok = spawnSync("bash", [script, "socat"], { env, encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, "installing Debian packages: socat (apt-get; this can take a minute)\n");
    assert.equal(ok.stderr, "");
    const failed = spawnSync("bash", [script, "frobnicate"], { env: { ...env, APT_FAILS: "1" }, encoding: "utf8" });
    assert.equal(failed.status, 1);
    assert.match(failed.stderr, /installing Debian packages failed; apt said:\n[^]*E: Unable to locate package frobnicate/);
  });

  it("a second start builds nothing when no source changed", () => {
    // Under `make test` the build is fresh; after an edit outside make, build once first.
    if (spawnSync("make", ["-q", "build"], { cwd: ROOT }).status !== 0) spawnSync("make", ["-s", "build"], { cwd: ROOT });
    const r = spawnSync("make", ["-q", "build"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, "make build would compile again: " + r.stdout + r.stderr);
    const dry = spawnSync("make", ["-n", "sim"], { cwd: ROOT, encoding: "utf8" });
    assert.doesNotMatch(dry.stdout, /tsc|npm install/);
  });
});
