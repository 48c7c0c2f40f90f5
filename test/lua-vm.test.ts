/** The emulated NodeMCU is as strict as the board: numbers, sockets, files, timers. */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { SimCard } from "../sim/card";
import { NodeMcu, MAX_RECEIVE } from "../sim/lua/nodemcu";
import { Spiffs } from "../sim/lua/spiffs";
import { LuaVm } from "../sim/lua/vm";
import { tempDir } from "./helpers/fixtures";

function board(card?: SimCard): { vm: LuaVm; nodemcu: NodeMcu; output: string[] } {
  const output: string[] = [];
  const vm = new LuaVm({ write: (t) => output.push(t), onError: (m) => output.push(`ERROR ${m}`) });
  const nodemcu = new NodeMcu({ vm, spiffs: new Spiffs(), card, portMap: { 2525: 0 }, bindHost: "127.0.0.1", clock: () => 1700000000, onRestart: () => {} });
  return { vm, nodemcu, output };
}

function until(condition: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (condition()) return resolve();
      if (Date.now() - start > ms) return reject(new Error("timed out"));
      setTimeout(poll, 5);
    };
    poll();
  });
}

describe("emulated NodeMCU numbers", () => {
  const { vm } = board();
  it("has 32-bit integers that wrap", () => {
    assert.equal(vm.evaluate("0x7fffffff + 1"), "-2147483648");
    assert.equal(vm.evaluate("math.maxinteger"), "2147483647");
  });
  it("has single-precision floats", () => {
    assert.equal(vm.evaluate("16777217.0 + 0"), "16777216.0");
    assert.equal(vm.evaluate("1000000123 / 1"), "1000000128.0");
    assert.equal(vm.evaluate("0.1 + 0.2 == 0.3"), "true"); // false with doubles
  });
  it("has no os library", () => {
    assert.equal(vm.evaluate("os"), "nil");
  });
});

describe("emulated NodeMCU sockets", () => {
  const { vm, nodemcu } = board();
  let port = 0;
  before(async () => {
    vm.run(
      `received, biggest, chunks, doubleSend = {}, 0, 0, "not tried"
       srv = net.createServer(net.TCP)
       srv:listen(2525, function(sock)
         sock:on("receive", function(s, data)
           chunks = chunks + 1
           if #data > biggest then biggest = #data end
           received[#received + 1] = data
           if data:find("SEND", 1, true) then
             s:send("one")
             doubleSend = tostring(pcall(s.send, s, "two"))
           end
         end)
       end)`,
      "=test",
    );
    port = (await nodemcu.binds[0]).hostPort;
  });
  after(() => nodemcu.stop());

  it("delivers every byte in chunks of at most 1460 bytes", async () => {
    const payload = Buffer.alloc(300000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 8)) & 255;
    const client = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => client.write(payload, () => resolve()));
    await until(() => Number(vm.evaluate("#table.concat(received)")) === payload.length);
    assert.equal(vm.evaluate("table.concat(received) == __expected"), "false"); // sanity: __expected unset
    vm.setGlobalBytes("__expected", payload);
    assert.equal(vm.evaluate("table.concat(received) == __expected"), "true");
    assert.ok(Number(vm.evaluate("biggest")) <= MAX_RECEIVE);
    assert.ok(Number(vm.evaluate("chunks")) > payload.length / MAX_RECEIVE, "split into more chunks than full segments");
    client.destroy();
  });

  it("refuses a second send before the sent callback", async () => {
    const client = net.connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    client.on("data", (d) => got.push(d));
    client.write("SEND");
    await until(() => Buffer.concat(got).toString() === "one");
    assert.match(vm.evaluate("doubleSend"), /^false/);
    client.destroy();
  });
});

describe("emulated NodeMCU files on the card", () => {
  const card = new SimCard({ dir: tempDir("luavm") });
  const { vm, nodemcu } = board(card);
  after(() => nodemcu.stop());
  before(() => vm.run(`card = sdmmc.init(sdmmc.SPI2, {sck_pin=18, mosi_pin=23, miso_pin=19, cs_pin=5}) assert(card:mount("/SD0"))`, "=mount"));

  it("keeps bytes intact (binary, through io)", () => {
    vm.run(
      `local all = {} for i = 0, 255 do all[#all + 1] = string.char(i) end
       local f = assert(io.open("/SD0/BIN.DAT", "wb")) f:write(table.concat(all)) f:close()
       local g = assert(io.open("/SD0/BIN.DAT", "rb")) back = g:read(1000) g:close()
       same = back == table.concat(all)`,
      "=bin",
    );
    assert.equal(vm.evaluate("same"), "true");
    assert.equal(card.size("/BIN.DAT"), 256);
  });

  it("opens at most four files at once", () => {
    vm.run(
      `opened = {}
       for i = 1, 4 do opened[i] = assert(io.open("/SD0/F" .. i .. ".TXT", "w")) end
       fifth, why = io.open("/SD0/F5.TXT", "w")
       for i = 1, 4 do opened[i]:close() end
       again = io.open("/SD0/F5.TXT", "w") ~= nil`,
      "=four",
    );
    assert.equal(vm.evaluate("fifth"), "nil");
    assert.match(vm.evaluate("why"), /too many open files/);
    assert.equal(vm.evaluate("again"), "true");
  });

  it("accepts 8.3 names only", () => {
    assert.equal(vm.evaluate(`io.open("/SD0/LONGFILENAME.TXT", "w")`), "nil");
    assert.equal(vm.evaluate(`select(2, io.open("/SD0/A.JSON", "w"))`).includes("8.3"), true);
  });

  it("lists directories with the file module", () => {
    vm.run(`file.mkdir("/SD0/LB") local f = io.open("/SD0/LB/X.1", "w") f:write("abc") f:close()`, "=dir");
    assert.equal(vm.evaluate(`file.chdir("/SD0/LB") and file.list()["X.1"]`), "3");
    assert.equal(vm.evaluate(`file.stat("/SD0/LB/X.1").size`), "3");
  });
});

describe("emulated NodeMCU timers", () => {
  const { vm, nodemcu } = board();
  after(() => nodemcu.stop());
  it("rejects a zero interval and fires single alarms once", async () => {
    assert.match(vm.evaluate(`select(2, pcall(function() tmr.create():alarm(0, tmr.ALARM_SINGLE, function() end) end))`), /interval/);
    vm.run(`fired = 0 tmr.create():alarm(20, tmr.ALARM_SINGLE, function() fired = fired + 1 end)`, "=t");
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(vm.evaluate("fired"), "1");
  });
});
