/**
 * `letterbox flash --runtime nodemcu` against an emulated dev-esp32 board
 * behind a pseudo-terminal (socat), so the real serialport binding types the
 * Lua lines: files through `io` (fault 8: dev-esp32 has no file.open or
 * file.stat), the core as an LFS image loaded with node.LFS.reload, and a
 * running box reflashed through its console (fault 6: it keeps the UART).
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { flashNodemcu, FlashError } from "../host/nodemcu/flash";
import { SimCard } from "../sim/card";
import { NodeMcuRepl } from "../sim/lua/repl";
import { Spiffs } from "../sim/lua/spiffs";
import { PtySerialLine } from "../sim/serial";
import { ROOT, tempDir } from "./helpers/fixtures";
import { luacCrossStandIn } from "./helpers/luac-cross";
import { samplePage } from "./helpers/webpage";
import { lookup } from "../firmware/webfiles";

/** Every byte value, more than one chunk's worth and not a multiple of it. */
function binaryFile(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + 7) & 255;
  return b;
}

/** A SPIFFS whose flash loses one byte of every 1000: the verification must catch it. */
class LossySpiffs extends Spiffs {
  write(name: string, data: Buffer): void {
    super.write(name, data.length > 1000 ? Buffer.concat([data.subarray(0, 999), data.subarray(1000)]) : data);
  }
}

describe("flash through the NodeMCU prompt", () => {
  let line: PtySerialLine;
  let repl: NodeMcuRepl;
  before(async () => {
    line = await PtySerialLine.open();
    repl = new NodeMcuRepl(line, new Spiffs());
  });
  after(async () => {
    await repl.stop();
    line.close();
  });

  it("writes files byte for byte and verifies them", async () => {
    const files = [
      { name: "data.bin", data: binaryFile(5000) },
      { name: "empty.txt", data: Buffer.alloc(0) },
      { name: "init.lua", data: Buffer.from('print("hello")\n') },
    ];
    const progress: number[] = [];
    await flashNodemcu({ port: line.path, files, onProgress: (w) => progress.push(w) });
    for (const f of files) assert.deepEqual(repl.spiffs.read(f.name), f.data, f.name);
    assert.equal(progress[progress.length - 1], 5000 + 15);
    assert.ok(progress.length > 5000 / 171, "progress reported chunk by chunk");
    // The prompt is left clean: the helpers are gone.
    assert.equal(repl.vm.evaluate("__lbw"), "nil");
  });

  it("rejects what the board did not store exactly", async () => {
    const lossyLine = await PtySerialLine.open();
    const lossy = new NodeMcuRepl(lossyLine, new LossySpiffs());
    try {
      await assert.rejects(flashNodemcu({ port: lossyLine.path, files: [{ name: "data.bin", data: binaryFile(3000) }] }), (e: Error) => {
        assert.ok(e instanceof FlashError);
        assert.match(e.message, /did not verify/);
        return true;
      });
    } finally {
      await lossy.stop();
      lossyLine.close();
    }
  });

  it("gives up on a port where no prompt answers", async () => {
    const silent = await PtySerialLine.open();
    try {
      await assert.rejects(flashNodemcu({ port: silent.path, files: [], timeoutMs: 300, rebootMs: 500 }), (e: Error) => {
        assert.ok(e instanceof FlashError && e.portProblem);
        return true;
      });
    } finally {
      silent.close();
    }
  });

  it("letterbox flash without luac.cross or an image says how to make one", async () => {
    const r = await flashCli(["--port", line.path]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /--luac-cross <path>.*--lfs-image/s);
  });
});

/** Runs `letterbox flash --runtime nodemcu` with `args`; resolves to its exit code and output. */
async function flashCli(args: string[]): Promise<{ code: number | null; output: string }> {
  const cli = path.join(ROOT, "host/bin/letterbox.js");
  const run = spawn(process.execPath, [cli, "flash", "--runtime", "nodemcu", "--force", "--no-progress", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  run.stdout.on("data", (d) => (output += d));
  run.stderr.on("data", (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => run.on("exit", resolve));
  return { code, output };
}

describe("letterbox flash installs the core in LFS, and reflashes a running box", () => {
  let line: PtySerialLine;
  let board: NodeMcuRepl;
  const card = new SimCard({ dir: tempDir("luaflash") });
  const luacCross = luacCrossStandIn(tempDir("luac"));
  before(async () => {
    line = await PtySerialLine.open();
    board = new NodeMcuRepl(line, new Spiffs(), card);
  });
  after(async () => {
    await board.stop();
    line.close();
  });

  it("writes init.lua and the LFS image, loads it, the board boots letterbox from LFS, and the web page goes onto its card", async () => {
    const page = path.join(tempDir("luaflash-page"), "web");
    const stored = samplePage(page, 1);
    const r = await flashCli(["--port", line.path, "--luac-cross", luacCross, "--web", page]);
    assert.equal(r.code, 0, r.output);
    // After the restart, through letterbox's own console: the page on the card, served.
    assert.match(r.output, /wrote the web page \(3 files, \d+ bytes\) to the card of the board on \/dev\/pts\/\d+, checked by MD5 there; it serves it from \/LB\/WEB\/A/);
    const served = lookup(card, "/app.js");
    assert.ok(served);
    assert.deepEqual(fs.readFileSync(path.join(card.dir, served.file)), stored.get("APP.JS"));
    const budget = JSON.parse(fs.readFileSync(path.join(ROOT, "boards/nodemcu-esp32.json"), "utf8")).lfs.size;
    assert.match(r.output, new RegExp(`LFS: +\\[[= ]{10}\\] +\\d+\\.\\d% \\(used \\d+ bytes from ${budget} bytes\\)`));
    // Exactly the files make lua writes: init.lua in SPIFFS, letterbox.lua as the LFS module.
    assert.deepEqual(board.spiffs.read("init.lua"), fs.readFileSync(path.join(ROOT, "dist/nodemcu/init.lua")));
    assert.deepEqual(board.lfs.get("letterbox"), fs.readFileSync(path.join(ROOT, "dist/nodemcu/letterbox.lua")));
    assert.equal(board.spiffs.read("letterbox.lua"), undefined, "no Lua source to dofile");
    // Restarted by flash: init.lua's pause, then letterbox from LFS, which takes the console.
    const restartsAfterFlash = board.restarts;
    await until(() => board.nodemcu.binds.length === 4, 8000); // SMTP, POP3, HTTP, IMAP
    assert.equal(board.restarts, restartsAfterFlash);
  });

  it("reflashes the running box: a console reboot, then the prompt during init.lua's pause", async () => {
    const r = await flashCli(["--port", line.path, "--luac-cross", luacCross, "--no-restart", "--no-web"]);
    assert.equal(r.code, 0, r.output);
    assert.doesNotMatch(r.output, /web page/);
    // Left at the prompt with the boot stopped.
    assert.equal(board.nodemcu.binds.length, 0);
    assert.equal(board.vm.evaluate("node.LFS.get('letterbox') ~= nil"), "true");
  });
});

function until(condition: () => boolean, ms: number): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (condition()) return resolve();
      if (Date.now() - start > ms) return reject(new Error("timed out"));
      setTimeout(poll, 20);
    };
    poll();
  });
}
