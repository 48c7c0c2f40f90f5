/**
 * `letterbox flash --runtime nodemcu` against an emulated NodeMCU prompt
 * behind a pseudo-terminal (socat), so the real serialport binding types the
 * Lua lines.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { flashNodemcu, FlashError } from "../host/nodemcu/flash";
import { NodeMcuRepl } from "../sim/lua/repl";
import { Spiffs } from "../sim/lua/spiffs";
import { PtySerialLine } from "../sim/serial";
import { ROOT } from "./helpers/fixtures";

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
      await assert.rejects(flashNodemcu({ port: silent.path, files: [], timeoutMs: 300 }), (e: Error) => {
        assert.ok(e instanceof FlashError && e.portProblem);
        return true;
      });
    } finally {
      silent.close();
    }
  });

  it("letterbox flash builds and writes letterbox.lua and init.lua", async () => {
    const cli = path.join(ROOT, "host/bin/letterbox.js");
    const run = spawn(process.execPath, [cli, "flash", "--runtime", "nodemcu", "--port", line.path, "--force", "--no-progress", "--no-restart"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    run.stdout.on("data", (d) => (output += d));
    run.stderr.on("data", (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => run.on("exit", resolve));
    assert.equal(code, 0, output);
    const budget = JSON.parse(fs.readFileSync(path.join(ROOT, "boards/nodemcu-esp32.json"), "utf8")).lfs.size;
    assert.match(output, new RegExp(`LFS: +\\[[= ]{10}\\] +\\d+\\.\\d% \\(used \\d+ bytes from ${budget} bytes\\)`));
    for (const name of ["letterbox.lua", "init.lua"]) {
      assert.deepEqual(repl.spiffs.read(name), fs.readFileSync(path.join(ROOT, "dist/nodemcu", name)), name);
    }
  });
});
