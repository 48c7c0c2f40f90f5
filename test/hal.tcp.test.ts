/**
 * The HAL's network and randomness on every runtime (firmware/hal.ts:
 * connect, resolve, Connection.remoteAddress, random and randomQuality):
 * the node runtime's own functions, and the board adapters themselves
 * (boards/espruino/hal.ts, boards/nodemcu/hal.ts) built as for the board
 * and run on the emulated boards, against loopback servers of this process.
 * What each board declares in boards/*.json is what its adapter does.
 */
import { after, before, describe, it, mock } from "node:test";
import * as assert from "node:assert/strict";
import nodeCrypto = require("node:crypto");
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { Connection } from "../firmware/hal";
import { buildEspruino } from "../host/espruino/build";
import { lfsModuleName, readBoard } from "../host/nodemcu/build";
import { SimCard } from "../sim/card";
import { EspruinoBoard } from "../sim/espruino/board";
import { SimFlash } from "../sim/flash";
import { luaBuildFiles } from "../sim/lua-runtime";
import { LfsStore } from "../sim/lua/lfs";
import { NodeMcu } from "../sim/lua/nodemcu";
import { Spiffs } from "../sim/lua/spiffs";
import { LuaVm } from "../sim/lua/vm";
import { freePort } from "../sim/net";
import { nodeConnect, nodeRandom, nodeResolve } from "../sim/node-runtime";
import { tempDir } from "./helpers/fixtures";

const ROOT = path.resolve(__dirname, "../..");
const LISTEN_PORT = 7;

/** A loopback server that greets first (as SMTP does), answers a line upper-cased, then closes. */
async function upperServer(): Promise<{ port: number; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = net.createServer((socket) => {
    socket.write("hi\r\n");
    let got = "";
    socket.on("data", (d) => {
      got += d.toString("latin1");
      if (got.endsWith("\r\n")) {
        received.push(got);
        socket.end(got.toUpperCase());
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Connects to the probe's listener, waits for its close, and tells the address it connected from. */
function touch(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => {
      const from = s.localAddress ?? "";
      s.on("close", () => resolve(from));
      s.resume();
    });
    s.once("error", reject);
  });
}

/** What a board declares in boards/NAME.json: its `hal` block. */
function declared(board: string): { connect: boolean; resolve: boolean; remoteAddress: boolean; randomQuality: string } {
  return JSON.parse(fs.readFileSync(path.join(ROOT, "boards", board + ".json"), "utf8")).hal;
}

/** Probe output lines "PROBE [what, value]" as a map (a what seen twice is a failure). */
function probeResults(lines: string[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const line of lines) {
    const m = /^PROBE (.*)$/.exec(line);
    if (!m) continue;
    const [what, value] = JSON.parse(m[1]) as [string, unknown];
    assert.ok(!out.has(what), `${what} reported twice`);
    out.set(what, value);
  }
  return out;
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function assertRandom(values: number[]): void {
  assert.equal(values.length, 200);
  for (const v of values) assert.ok(Number.isInteger(v) && v >= 0 && v < 2147483648, `random() gave ${v}`);
  assert.ok(new Set(values).size > 190, "random() repeats itself");
  assert.ok(values.some((v) => v >= 1073741824) && values.some((v) => v < 1073741824), "random() leaves half its range unused");
}

describe("HAL on the node runtime", () => {
  it("connect: a round trip with a loopback server, then its close", async () => {
    const server = await upperServer();
    const sockets = new Set<net.Socket>();
    const got = await new Promise<string>((resolve, reject) => {
      let data = "";
      nodeConnect(
        {
          host: "127.0.0.1",
          port: server.port,
          onConnection: (conn: Connection) => {
            conn.send("hello\r\n");
            return { onData: (d) => (data += d), onSent: () => undefined, onClose: () => resolve(data) };
          },
          onError: reject,
        },
        sockets,
      );
    });
    assert.equal(got, "hi\r\nHELLO\r\n");
    assert.deepEqual(server.received, ["hello\r\n"]);
    await server.close();
  });

  it("connect: a refused connection is onError, once", async () => {
    const port = await freePort();
    const errors: string[] = [];
    nodeConnect({ host: "127.0.0.1", port, onConnection: () => assert.fail("connected"), onError: (r) => errors.push(r) }, new Set());
    await until(() => errors.length > 0, "onError");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(errors.length, 1);
    assert.match(errors[0], /ECONNREFUSED/);
  });

  it("resolve: localhost and a dotted address", async () => {
    const lookup = (name: string) => new Promise<string | undefined>((resolve) => nodeResolve(name, resolve));
    assert.equal(await lookup("localhost"), "127.0.0.1");
    assert.equal(await lookup("127.0.0.1"), "127.0.0.1");
  });

  it("random: [0, 2^31) from the operating system's CSPRNG", () => {
    // The module object itself (an `import * as` copy would not see the spy).
    const spy = mock.method(nodeCrypto, "randomInt");
    const values: number[] = [];
    for (let i = 0; i < 200; i++) values.push(nodeRandom());
    assert.equal(spy.mock.callCount(), 200);
    spy.mock.restore();
    assertRandom(values);
  });
});

/** The Espruino probe: the adapter of boards/espruino/hal.ts, bundled as for the board, reporting on the console. */
const ESPRUINO_PROBE = `
var hal = require("./hal").espruinoHal(undefined, undefined, undefined, "probe");
var cfg = JSON.parse(require("Storage").read("probe"));
function report(what, value) { console.log("PROBE " + JSON.stringify([what, value])); }
var values = [];
for (var i = 0; i < 200; i++) values.push(hal.random());
report("random", { quality: hal.randomQuality, values: values });
report("capabilities", { connect: typeof hal.connect === "function", resolve: typeof hal.resolve === "function" });
if (hal.resolve) {
  hal.resolve("localhost", function (a) { report("resolve localhost", a); });
  hal.resolve("127.0.0.1", function (a) { report("resolve dotted", a); });
  hal.resolve("nowhere.invalid", function (a) { report("resolve unknown", a === undefined ? "undefined" : a); });
}
function trip(name, host, port) {
  hal.connect({ host: host, port: port,
    onConnection: function (conn) {
      var got = "";
      conn.send("hello\\r\\n");
      return { onData: function (d) { got += d; }, onSent: function () {}, onClose: function () { report(name, got); } };
    },
    onError: function (reason) { report(name + " error", reason); } });
}
trip("round trip", "127.0.0.1", cfg.port);
trip("refused", "127.0.0.1", cfg.closedPort);
trip("unknown host", "nowhere.invalid", cfg.port);
hal.listen({ port: ${LISTEN_PORT}, onConnection: function (conn) {
  report("remoteAddress", conn.remoteAddress === undefined ? "undefined" : conn.remoteAddress);
  conn.close();
  return { onData: function () {}, onSent: function () {}, onClose: function () {} };
} });
`;

describe("HAL on the espruino runtime (boards/espruino/hal.ts on the emulated board)", () => {
  let code = "";
  let server: Awaited<ReturnType<typeof upperServer>>;
  let closedPort = 0;
  before(async () => {
    const out = tempDir("hal-espruino-probe");
    const build = await buildEspruino({ measure: false, outDir: out, entrySource: ESPRUINO_PROBE });
    code = fs.readFileSync(build.file, "latin1");
    server = await upperServer();
    closedPort = await freePort();
  });
  after(() => server.close());

  async function runProbe(onCard: boolean): Promise<{ results: Map<string, unknown>; board: EspruinoBoard; logs: string[] }> {
    const logs: string[] = [];
    const board = new EspruinoBoard({
      card: onCard ? new SimCard({ dir: tempDir("hal-espruino-card") }) : undefined,
      workDir: onCard ? undefined : tempDir("hal-espruino-linux"),
      flash: new SimFlash(),
      romFiles: { probe: JSON.stringify({ port: server.port, closedPort }) },
      portMap: { [LISTEN_PORT]: 0 },
      bindHost: "127.0.0.1",
      log: (line) => logs.push(line),
      clock: () => 1700000000,
    });
    board.run(code, "probe.js");
    const ports = await board.ports();
    const from = await touch(ports[LISTEN_PORT]);
    assert.equal(from, "127.0.0.1");
    const wanted = onCard ? 9 : 6;
    await until(() => probeResults(logs).size >= wanted, `${wanted} probe results (have: ${logs.join(" | ")})`);
    await board.stop();
    assert.deepEqual(board.errors, []);
    return { results: probeResults(logs), board, logs };
  }

  it("ESP32: round trip, refusal, unknown host, resolve, no remote address, random from the RNG register", async () => {
    const { results, board } = await runProbe(true);
    assert.equal(results.get("round trip"), "hi\r\nHELLO\r\n");
    assert.ok(server.received.includes("hello\r\n"));
    assert.equal(typeof results.get("refused error"), "string");
    assert.match(String(results.get("unknown host error")), /Unable to locate host/);
    assert.equal(results.get("resolve localhost"), "127.0.0.1");
    assert.equal(results.get("resolve dotted"), "127.0.0.1");
    assert.equal(results.get("resolve unknown"), "undefined");
    assert.equal(results.get("remoteAddress"), "undefined");
    const random = results.get("random") as { quality: string; values: number[] };
    assert.equal(random.quality, "entropy");
    assertRandom(random.values);
    assert.equal(board.rngReads, 200, "every random() reads the RNG register (peek32)");
    const hal = declared("espruino-esp32");
    assert.deepEqual(
      { ...(results.get("capabilities") as object), remoteAddress: false, randomQuality: random.quality },
      { connect: hal.connect, resolve: hal.resolve, remoteAddress: hal.remoteAddress, randomQuality: hal.randomQuality },
    );
  });

  it("Linux build: no resolver, random is E.hwRand (Espruino's rand(), src/jsutils.c:972, fixed seed)", async () => {
    const { results, board } = await runProbe(false);
    assert.equal(results.get("round trip"), "hi\r\nHELLO\r\n");
    assert.equal(typeof results.get("refused error"), "string");
    assert.deepEqual(results.get("capabilities"), { connect: true, resolve: false });
    const random = results.get("random") as { quality: string; values: number[] };
    assert.equal(random.quality, "prng");
    // The first outputs of jsutils.c's multiply-with-carry from 0xDEADBEEF / 0xCAFEBABE, computed by hand from the C.
    assert.deepEqual(random.values.slice(0, 3), [2002641757, 1519824769, 548953282]);
    assertRandom(random.values);
    assert.equal(board.rngReads, 0);
  });
});

/** The NodeMCU probe: nodemcuHal from the LFS bundle (exported by boards/nodemcu/main.ts), run on the emulated modules. */
function luaProbe(port: number, closedPort: number, moduleName: string): string {
  return `
local m = node.LFS.get("${moduleName}")()
local hal = m.nodemcuHal(nil, "probe", function() end)
local function q(v)
  if type(v) ~= "string" then return tostring(v) end
  local s = v:gsub('[\\\\"]', '\\\\%0')
  s = s:gsub("\\r", "\\\\r")
  s = s:gsub("\\n", "\\\\n")
  return '"' .. s .. '"'
end
local function report(what, value) print("PROBE [" .. q(what) .. "," .. value .. "]") end
local values = {}
for i = 1, 200 do values[i] = tostring(hal:random()) end
report("random", '{"quality":' .. q(hal.randomQuality) .. ',"values":[' .. table.concat(values, ",") .. ']}')
report("capabilities", '{"connect":' .. tostring(hal.connect ~= nil) .. ',"resolve":' .. tostring(hal.resolve ~= nil) .. '}')
hal:resolve("localhost", function(_, a) report("resolve localhost", q(a or "undefined")) end)
hal:resolve("127.0.0.1", function(_, a) report("resolve dotted", q(a or "undefined")) end)
hal:resolve("nowhere.invalid", function(_, a) report("resolve unknown", q(a or "undefined")) end)
local function trip(name, host, p)
  hal:connect({ host = host, port = p,
    onConnection = function(_, conn)
      local got = ""
      conn:send("hello\\r\\n")
      return { onData = function(_, d) got = got .. d end, onSent = function() end, onClose = function() report(name, q(got)) end }
    end,
    onError = function(_, reason) report(name .. " error", q(reason)) end })
end
trip("round trip", "127.0.0.1", ${port})
trip("refused", "127.0.0.1", ${closedPort})
trip("unknown host", "nowhere.invalid", ${port})
hal:listen({ port = ${LISTEN_PORT}, onConnection = function(_, conn)
  report("remoteAddress", q(conn.remoteAddress or "undefined"))
  conn:close()
  return { onData = function() end, onSent = function() end, onClose = function() end }
end })
`;
}

describe("HAL on the lua runtime (boards/nodemcu/hal.ts on the emulated dev-esp32 modules)", () => {
  let server: Awaited<ReturnType<typeof upperServer>>;
  let closedPort = 0;
  before(async () => {
    server = await upperServer();
    closedPort = await freePort();
  });
  after(() => server.close());

  async function runProbe(withSodium: boolean): Promise<{ results: Map<string, unknown>; nodemcu: NodeMcu }> {
    const board = readBoard();
    const lfs = new LfsStore();
    lfs.set(lfsModuleName(board), luaBuildFiles().bundle);
    const out: string[] = [];
    const errors: string[] = [];
    let text = "";
    const vm = new LuaVm({
      write: (t) => {
        text += t;
        const lines = text.split("\n");
        text = lines.pop() ?? "";
        out.push(...lines.map((l) => l.replace(/\r$/, "")));
      },
      onError: (message) => errors.push(message),
    });
    const nodemcu = new NodeMcu({ vm, spiffs: new Spiffs(), lfs, portMap: { [LISTEN_PORT]: 0 }, bindHost: "127.0.0.1", clock: () => 0, onRestart: () => {} });
    try {
      // A firmware built without the sodium module has no `sodium` global.
      if (!withSodium) vm.run("sodium = nil", "=nosodium");
      vm.run(luaProbe(server.port, closedPort, lfsModuleName(board)), "=probe");
      const [bound] = await Promise.all(nodemcu.binds);
      assert.equal(await touch(bound.hostPort), "127.0.0.1");
      await until(() => probeResults(out).size >= 9 || errors.length > 0, `9 probe results (have: ${out.join(" | ")})`);
      assert.deepEqual(errors, []);
      return { results: probeResults(out), nodemcu };
    } finally {
      await nodemcu.stop();
    }
  }

  it("round trip, refusal, unknown host, resolve, the client's address, random from sodium (the hardware RNG)", async () => {
    const { results, nodemcu } = await runProbe(true);
    assert.equal(results.get("round trip"), "hi\r\nHELLO\r\n");
    assert.ok(server.received.includes("hello\r\n"));
    assert.match(String(results.get("refused error")), /lwIP error -14/);
    assert.match(String(results.get("unknown host error")), /lwIP error -4/);
    assert.equal(results.get("resolve localhost"), "127.0.0.1");
    assert.equal(results.get("resolve dotted"), "127.0.0.1");
    assert.equal(results.get("resolve unknown"), "undefined");
    assert.equal(results.get("remoteAddress"), "127.0.0.1");
    const random = results.get("random") as { quality: string; values: number[] };
    assert.equal(random.quality, "entropy");
    assertRandom(random.values);
    assert.equal(nodemcu.rngReads, 200, "every random() is a sodium.random.random()");
    const hal = declared("nodemcu-esp32");
    assert.deepEqual(
      { ...(results.get("capabilities") as object), remoteAddress: true, randomQuality: random.quality },
      { connect: hal.connect, resolve: hal.resolve, remoteAddress: hal.remoteAddress, randomQuality: hal.randomQuality },
    );
  });

  it("a firmware without the sodium module: random is math.random, declared prng", async () => {
    const { results, nodemcu } = await runProbe(false);
    const random = results.get("random") as { quality: string; values: number[] };
    assert.equal(random.quality, "prng");
    assertRandom(random.values);
    assert.equal(nodemcu.rngReads, 0);
  });
});
