/**
 * `letterbox flash --runtime espruino` against an emulated Espruino console
 * (sim/espruino/repl.ts): over tcp:// (the board's Telnet console) through
 * the CLI with the real bundle, and over a pseudo-terminal standing for the
 * USB serial port through EspruinoTools' serial path.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { EmulatedEspruinoConsole } from "../sim/espruino/repl";
import { ROOT } from "./helpers/fixtures";

const CLI = path.join(ROOT, "host/bin/letterbox.js");

/**
 * Holds the services' real default ports on loopback where this process may
 * (one in use elsewhere, or privileged, is left out): `flash` boots the
 * bundle on the emulated board to measure it, and a port missing from its
 * port map would bind the real one (IMAP's 143 did, EADDRINUSE beside
 * another test run). Held here, such a bind fails the flash.
 */
async function holdDefaultPorts(): Promise<net.Server[]> {
  const held: net.Server[] = [];
  for (const port of [25, 110, 80, 143]) {
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) held.push(server);
  }
  return held;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

test("letterbox flash --runtime espruino --port tcp://... saves the bundle as boot code, verified, and starts it", async () => {
  const board = new EmulatedEspruinoConsole({ consoleName: "Telnet" });
  const port = await board.listen();
  const held = await holdDefaultPorts();
  try {
    const r = await run(["flash", "--runtime", "espruino", "--port", `tcp://127.0.0.1:${port}`, "--no-progress"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /RAM: +\[.*\] .*variables/);
    assert.match(r.stdout, /Flash: +\[.*\] .*bytes from \d+ bytes/);
    assert.match(r.stdout, /flashed \d+ bytes to tcp:\/\/127\.0\.0\.1:\d+ \(ESP32, Espruino 2v29\), verified by CRC32 and started/);
    assert.match(r.stderr, /found ESP32, Espruino 2v29/);
    const bundle = fs.readFileSync(path.join(ROOT, "dist/espruino/letterbox.js"), "latin1");
    assert.equal(board.storage.get(".bootcde"), bundle, "the boot code in flash is the bundle, byte for byte");
    assert.equal(board.boots.length, 1, "load() ran it once, after the check");
    assert.ok(board.boots[0].parses);
    assert.ok(board.executed.some((s) => s.includes("E.CRC32(")), "the upload was checked on the board");
  } finally {
    for (const server of held) server.close();
    await board.close();
  }
});

test("flashEspruino over a serial port (pty): progress, CRC check, and a failure when the flash garbles the code", async () => {
  const { flashEspruino, FlashError } = await import("../host/flash-espruino");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-flash-"));
  const file = path.join(dir, "app.js");
  const code = `var greeting = "${"hello ".repeat(500)}"; console.log(greeting.length);\n`;
  fs.writeFileSync(file, code);

  const board = new EmulatedEspruinoConsole({ consoleName: "Serial1" });
  const tty = await board.serialPort();
  const progress: number[] = [];
  try {
    const result = await flashEspruino({ port: tty, file, onProgress: (sent) => progress.push(sent) });
    assert.equal(result.bytes, code.length);
    assert.equal(result.crc, zlib.crc32(Buffer.from(code, "latin1")));
    assert.equal(board.storage.get(".bootcde"), code);
    assert.equal(board.boots.length, 1);
    assert.ok(progress.length > 1 && progress[progress.length - 1] >= progress[0], "progress reported as it went");
  } finally {
    await board.close();
  }

  // A board whose flash keeps only half of each write: the CRC check catches it and nothing is started.
  const faulty = new EmulatedEspruinoConsole({ consoleName: "Serial1" });
  const realSet = faulty.storage.set.bind(faulty.storage);
  faulty.storage.set = (name: string, value: string) => realSet(name, name === ".bootcde" ? value.replace(/hello/g, "HELLO") : value);
  const tty2 = await faulty.serialPort();
  try {
    await assert.rejects(flashEspruino({ port: tty2, file }), (e: Error) => e instanceof FlashError && /does not match/.test(e.message));
    assert.equal(faulty.boots.length, 0, "nothing started after a failed check");
  } finally {
    await faulty.close();
  }
});

test("flashEspruino over Telnet to a slow interpreter: it waits until the board has run the whole upload before the check", async () => {
  // Over TCP the upload goes out unpaced. An interpreter that runs each statement slowly (the 32-bit one
  // under qemu did) was still writing the last pieces when EspruinoTools' prompt wait (500 ms) sent
  // Ctrl-C, which broke off the write that was running: the tail stayed erased and the check failed.
  const { flashEspruino } = await import("../host/flash-espruino");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-flash-slow-"));
  const file = path.join(dir, "app.js");
  let code = "";
  for (let i = 0; code.length < 40000; i++) code += `var v${i} = "${(i * 7919).toString(36).repeat(8)}";\n`;
  fs.writeFileSync(file, code);
  const board = new EmulatedEspruinoConsole({ consoleName: "Telnet", statementMs: 60 });
  const port = await board.listen();
  try {
    const result = await flashEspruino({ port: `tcp://127.0.0.1:${port}`, file });
    assert.equal(result.crc, zlib.crc32(Buffer.from(code, "latin1")));
    assert.equal(board.storage.get(".bootcde"), code, "every piece written, the last one too");
    assert.equal(board.boots.length, 1);
    assert.ok(board.executed.filter((s) => s.includes("Storage")).length > 10, "the upload took many statements");
  } finally {
    await board.close();
  }
});

test("flash to Espruino's Linux build (no Wifi module): the board holds the bundle exactly, the CRC matches, and it is started", async () => {
  // EspruinoTools would put "\n" in front of code requiring a module the board
  // lacks; the real Linux build then held "\n" + bundle and the check failed (issue 13, fault 5).
  const board = new EmulatedEspruinoConsole({ consoleName: "Telnet", board: "LINUX" });
  const port = await board.listen();
  const held = await holdDefaultPorts();
  try {
    const r = await run(["flash", "--runtime", "espruino", "--port", `tcp://127.0.0.1:${port}`, "--no-progress"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /found LINUX, Espruino 2v29/);
    assert.match(r.stderr, /no Wifi module/);
    const bundle = fs.readFileSync(path.join(ROOT, "dist/espruino/letterbox.js"), "latin1");
    assert.equal(board.storage.get(".bootcde"), bundle, "no newline or module code in front of the bundle");
    assert.equal(board.boots.length, 1, "load() ran it");
  } finally {
    for (const server of held) server.close();
    await board.close();
  }
});
