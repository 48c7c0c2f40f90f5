/**
 * The emulated Espruino board (sim/espruino/) with small programs: it must be
 * as strict as the ESP32 where the firmware could go wrong (chunking, drain,
 * socket limit, files, the indexOf bug) and price memory sensibly.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { SimCard } from "../sim/card";
import { SimFlash } from "../sim/flash";
import { EspruinoBoard, EspruinoBoardOptions } from "../sim/espruino/board";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "lb-espruino-"));
}

function board(extra: Partial<EspruinoBoardOptions> = {}): { board: EspruinoBoard; logs: string[] } {
  const logs: string[] = [];
  const b = new EspruinoBoard({
    card: new SimCard({ dir: tempDir() }),
    flash: new SimFlash(),
    portMap: { 25: 0, 110: 0, 80: 0, 143: 0, 7: 0 },
    bindHost: "127.0.0.1",
    log: (line) => logs.push(line),
    clock: () => 1700000000,
    ...extra,
  });
  return { board: b, logs };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

test("String.prototype.indexOf/includes carry Espruino 2v29's bug, inside the board only", async () => {
  const { board: b, logs } = board();
  b.run(
    `console.log(JSON.stringify(["abcde".indexOf("deF"), "abc\\r\\n".indexOf("\\r\\n.\\r\\n"), "ab".indexOf("abc"), "xxabcxx".indexOf("abc"),
      "abc\\r\\n.\\r\\n".indexOf("\\r\\n.\\r\\n"), "abcd".includes("dx"), "abcd".lastIndexOf("dx"), "a\\r\\nb\\r".indexOf("\\r\\n", 2)]));`,
    "quirk.js",
  );
  await b.stop();
  assert.deepEqual(JSON.parse(logs[0]), [3, 3, -1, 2, 3, true, -1, 4]);
  assert.equal("abcde".indexOf("deF"), -1, "the host's String is untouched");
});

/** An echo server written the way the adapter must write: one chunk out, wait for drain. */
const ECHO = `
var events = [];
require("net").createServer(function (socket) {
  var queue = [], busy = false;
  function pump() {
    if (busy || queue.length === 0) return;
    busy = true;
    events.push("write:" + socket.write(queue.shift()));
  }
  socket.on("data", function (d) { events.push("data:" + d.length); queue.push(d); pump(); });
  socket.on("drain", function () { busy = false; events.push("drain"); pump(); });
  socket.on("close", function () { console.log(JSON.stringify(events)); });
}).listen(7);
`;

test("sockets: data in chunks of at most 536 bytes, write() returns false, drain paces writes", async () => {
  const { board: b, logs } = board();
  b.run(ECHO, "echo.js");
  const ports = await b.ports();
  const client = await connect(ports[7]);
  const payload = Buffer.alloc(20000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const received: Buffer[] = [];
  let total = 0;
  await new Promise<void>((resolve) => {
    client.on("data", (d) => {
      received.push(d);
      total += d.length;
      if (total >= payload.length) resolve();
    });
    client.write(payload);
  });
  client.end();
  await new Promise((r) => client.on("close", r));
  await new Promise((r) => setTimeout(r, 50));
  await b.stop();
  assert.deepEqual(Buffer.concat(received), payload, "binary bytes survive both ways");
  const events: string[] = JSON.parse(logs[logs.length - 1]);
  const sizes = events.filter((e) => e.startsWith("data:")).map((e) => Number(e.slice(5)));
  assert.ok(sizes.every((n) => n >= 1 && n <= 536), "every data event is at most 536 bytes");
  assert.ok(new Set(sizes).size > 3, "split at varying points");
  assert.ok(events.filter((e) => e.startsWith("write:")).every((e) => e === "write:false"));
  assert.equal(events.filter((e) => e === "drain").length, sizes.length, "one drain per paced write");
  assert.deepEqual(b.errors, []);
});

test("sockets: at most 10 including the listening one; the 10th connection is reset", async () => {
  const { board: b } = board();
  b.run(`require("net").createServer(function (s) { s.on("data", function () {}); }).listen(7);`, "ten.js");
  const port = (await b.ports())[7];
  const clients: net.Socket[] = [];
  for (let i = 0; i < 9; i++) clients.push(await connect(port));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(b.openSockets(), 10);
  // The reset may come during the handshake or just after it.
  const outcome = await new Promise<string>((resolve) => {
    const extra = net.connect(port, "127.0.0.1");
    extra.on("error", (e: NodeJS.ErrnoException) => resolve(e.code || "error"));
    extra.on("close", () => resolve("closed"));
  });
  assert.match(outcome, /ECONNRESET|closed/);
  assert.equal(b.peakSockets(), 10);
  for (const c of clients) c.destroy();
  await b.stop();
});

test("sockets: one the program ended is free again once its bytes are out, before the peer answers the FIN", async () => {
  const { board: b } = board();
  // The 9th connection gets "bye" and is ended by the program, as a service refuses a client over its budget.
  b.run(`var n = 0; require("net").createServer(function (s) { s.on("data", function () {}); if (++n === 9) s.end("bye"); }).listen(7);`, "end.js");
  const port = (await b.ports())[7];
  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < 8; i++) clients.push(await connect(port));
    // A client that keeps its half open: it never sends its own FIN, so only the board's close can free the socket.
    const ended = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
      s.once("error", reject);
      s.on("data", (d) => assert.equal(d.toString(), "bye"));
      s.on("end", () => resolve(s));
    });
    clients.push(ended);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.openSockets(), 9, "8 connections and the listener: the ended one is given back");
    clients.push(await connect(port));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.openSockets(), 10);
  } finally {
    for (const c of clients) c.destroy();
    await b.stop();
  }
});

test("files: E.openFile and fs as on the card: no rename, undefined at end, 64-byte paths, 8.3 names", async () => {
  const { board: b, logs } = board();
  b.run(
    `var fs = require("fs"), out = [];
     function attempt(f) { try { return f(); } catch (e) { return "threw: " + (e instanceof Error); } }
     fs.mkdirSync("/LB");
     var f = E.openFile("/LB/A.TXT", "w"); out.push(f.write("hello")); f.close();
     f = E.openFile("/LB/A.TXT", "a"); f.write(" world"); f.close();
     f = E.openFile("/LB/A.TXT", "r"); out.push(f.read(4), f.read(100), f.read(100)); f.seek(6); out.push(f.read(5)); f.close();
     out.push(fs.statSync("/LB/A.TXT").size, fs.statSync("/LB/NONE") === undefined, fs.statSync("/LB").dir);
     out.push(typeof fs.renameSync, typeof fs.truncateSync);
     out.push(attempt(function () { return E.openFile("/LB/" + "A".repeat(70), "w"); }));
     out.push(attempt(function () { return E.openFile("/LB/TOOLONGNAME.TXT", "w"); }));
     out.push(attempt(function () { return E.openFile("/LB/A.TXT", "r+"); }));
     out.push(fs.readdirSync("/LB").join(","), fs.readdirSync("/NOPE") === undefined);
     out.push(fs.unlinkSync("/LB/A.TXT"), fs.unlinkSync("/LB/A.TXT"));
     console.log(JSON.stringify(out));`,
    "files.js",
  );
  await b.stop();
  assert.deepEqual(b.errors, []);
  assert.deepEqual(JSON.parse(logs[0]), [
    5, "hell", "o world", null, "world", 11, true, true, "undefined", "undefined",
    "threw: true", "threw: true", "threw: true", ".,..,A.TXT", true, true, false,
  ]);
});

test("Linux build: no E.connectSDCard, files in the working directory, no Wifi module", async () => {
  const work = tempDir();
  const { board: b, logs } = board({ card: undefined, workDir: work });
  b.run(
    `var out = [typeof E.connectSDCard, typeof SPI1, process.env.BOARD];
     try { require("Wifi"); out.push("wifi"); } catch (e) { out.push("no wifi"); }
     require("fs").mkdirSync("data");
     var f = E.openFile("data/x.txt", "w"); f.write("abc"); f.close();
     console.log(JSON.stringify(out));`,
    "linux.js",
  );
  await b.stop();
  assert.deepEqual(JSON.parse(logs[0]), ["undefined", "undefined", "LINUX", "no wifi"]);
  assert.equal(fs.readFileSync(path.join(work, "data/x.txt"), "latin1"), "abc");
});

test("uncaught exceptions in callbacks are reported and the board goes on", async () => {
  const { board: b, logs } = board();
  b.run(`setTimeout(function () { throw new Error("boom"); }, 1); setTimeout(function () { console.log("still running"); }, 5);`, "throw.js");
  await new Promise((r) => setTimeout(r, 40));
  await b.stop();
  assert.equal(b.errors.length, 1);
  assert.match(b.errors[0], /boom/);
  assert.ok(logs.includes("still running"));
});

test("process.memory() prices what the program keeps alive", async () => {
  const { board: b } = board();
  b.run(
    `var keep = [];
     setTimeout(function tick() { keep.length; }, 100000);
     global_hold = function (n) { var s = ""; for (var i = 0; i < n; i++) s += "0123456789"; keep.push(s); };`,
    "memory.js",
  );
  const before = b.memory().variables;
  const hold = (b.context as unknown as { global_hold: (n: number) => void }).global_hold;
  hold(2000); // 20,000 characters: ~2,000 variables on the device
  const after = b.memory();
  const grown = after.variables - before;
  assert.ok(grown > 1800 && grown < 2300, `20 kB string should cost ~2000 variables, got ${grown}`);
  assert.ok(after.stringBytes >= 20000);
  // The program's own process.memory() is the quick estimate: sockets, buffers, files, code.
  const quick = (b.context as unknown as { process: { memory(): { usage: number; free: number; total: number } } }).process.memory();
  assert.equal(quick.usage + quick.free, quick.total);
  assert.equal(quick.total, 16383);
  await b.stop();
});

test("every object carries Espruino's event emitter (jswrap_object.c:809-1054), so a map read by key finds `on`", async () => {
  const { board: b, logs } = board();
  b.run(
    `var m = {}; var o = {}; var got = [];
     o.on("x", function (a, b) { got.push("on:" + a + b); });
     o.prependListener("x", function (a) { got.push("first:" + a); });
     o.emit("x", 1, 2);
     got.push("emit returned");
     setTimeout(function () {
       var keys = []; for (var k in o) keys.push(k);
       console.log(JSON.stringify([typeof m.on, typeof m.emit, typeof m.removeAllListeners, m.hasOwnProperty("on"), got, keys]));
     }, 5);`,
    "events.js",
  );
  await new Promise((r) => setTimeout(r, 40));
  await b.stop();
  assert.deepEqual(b.errors, []);
  // emit queues the listeners (jsiQueueEvents, :994): they run after the code that emitted, prepended first.
  assert.deepEqual(JSON.parse(logs[logs.length - 1]), ["function", "function", "function", false, ["emit returned", "first:1", "on:12"], []]);
});
