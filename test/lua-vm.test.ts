/**
 * The Lua VM is the reference C interpreter with the board's numbers, and the
 * emulated dev-esp32 modules are as strict as the firmware's C sources:
 * numbers, module tables, sockets, files, timers, the SD card over SPI, the
 * console UART. Several of these are the faults of issue 12 (a test each).
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { SimCard } from "../sim/card";
import { NodeMcu, MAX_RECEIVE } from "../sim/lua/nodemcu";
import { Spiffs } from "../sim/lua/spiffs";
import { LuaVm } from "../sim/lua/vm";
import { tempDir } from "./helpers/fixtures";

interface Board {
  vm: LuaVm;
  nodemcu: NodeMcu;
  output: string[];
  restarts: () => number;
  serial: { sent: string[]; feed: (data: string) => void };
}

function board(card?: SimCard): Board {
  const output: string[] = [];
  let restarts = 0;
  let receiver: (data: string) => void = () => {};
  const sent: string[] = [];
  const vm = new LuaVm({ write: (t) => output.push(t), onError: (m) => output.push(`ERROR ${m}`) });
  const nodemcu = new NodeMcu({
    vm,
    spiffs: new Spiffs(),
    card,
    portMap: { 2525: 0 },
    bindHost: "127.0.0.1",
    clock: () => 1700000000,
    onRestart: () => restarts++,
    serial: { write: (d) => sent.push(d), setReceiver: (r) => (receiver = r) },
  });
  return { vm, nodemcu, output, restarts: () => restarts, serial: { sent, feed: (d) => receiver(d) } };
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

describe("the Lua VM has NodeMCU's numbers (LUA_32BITS)", () => {
  const { vm, nodemcu } = board();
  after(() => nodemcu.stop());
  it("has 32-bit integers that wrap", () => {
    assert.equal(vm.evaluate("0x7fffffff + 1"), "-2147483648");
    assert.equal(vm.evaluate("math.maxinteger"), "2147483647");
    assert.equal(vm.evaluate("math.type(2147483648)"), "float"); // too big for an integer literal
  });
  it("has single-precision floats, printed with %.7g", () => {
    assert.equal(vm.evaluate("16777217 / 1"), "1.677722e+07");
    assert.equal(vm.evaluate("16777217 / 1 == 16777216"), "true");
    assert.equal(vm.evaluate("16777217.0 + 0 == 16777216"), "true");
    assert.equal(vm.evaluate("1000000123 / 1 == 1000000128"), "true");
    assert.equal(vm.evaluate("1700000000123"), "1.7e+12");
    assert.equal(vm.evaluate("0.1 + 0.2 == 0.3"), "true"); // false with doubles
  });
  it("has no os library", () => {
    assert.equal(vm.evaluate("os"), "nil");
  });
});

describe("module tables are dev-esp32's (fault 1: ESP8266 functions are absent)", () => {
  const { vm, nodemcu } = board();
  after(() => nodemcu.stop());
  const keys = (table: string) =>
    vm
      .evaluate(`(function() local k = {} for name in pairs(${table}) do k[#k + 1] = name end table.sort(k) return table.concat(k, " ") end)()`)
      .split(" ");
  it("file has exactly file.c's functions", () => {
    assert.deepEqual(keys("file"), ["exists", "format", "fsinfo", "list", "mkdir", "remove", "rename", "rmdir"]);
  });
  it("calling an ESP8266 function fails as on the board", () => {
    assert.throws(() => vm.run(`file.getcontents("init.lua")`, "=boot"), /attempt to call a nil value \(field 'getcontents'\)/);
    for (const name of ["putcontents", "stat", "chdir", "open"]) assert.equal(vm.evaluate(`file.${name}`), "nil", name);
    assert.equal(vm.evaluate("wifi.sta.getip"), "nil");
    assert.equal(vm.evaluate("crypto.hash"), "nil");
  });
  it("SPIFFS is read and written through io", () => {
    vm.run(`local f = assert(io.open("settings.bin", "wb")) f:write("\\0\\1\\2") assert(f:close())`, "=w");
    assert.equal(vm.evaluate(`#io.open("/settings.bin", "rb"):read("a")`), "3");
    assert.equal(vm.evaluate(`file.list()["settings.bin"]`), "3");
  });
});

describe("emulated NodeMCU sockets (net.c)", () => {
  const { vm, nodemcu } = board();
  let port = 0;
  before(async () => {
    vm.run(
      `received, biggest, chunks, doubleSend, sendAfterClose = {}, 0, 0, "not tried", "not tried"
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
           if data:find("BYE", 1, true) then
             s:close()
             sendAfterClose = select(2, pcall(s.send, s, "late"))
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

  it("raises 'not connected' on a send after close (net.c:646)", async () => {
    const client = net.connect(port, "127.0.0.1");
    client.write("BYE");
    await until(() => vm.evaluate("sendAfterClose") !== "not tried");
    assert.match(vm.evaluate("sendAfterClose"), /not connected/);
    client.destroy();
  });

  it("keeps a closed socket's callbacks until Lua collects the socket (fault 5: net_delete, net.c:786)", async () => {
    vm.run(
      `leaky = net.createServer(net.TCP)
       leaky:listen(2526, function(sock)
         -- The callback captures its own socket: registry -> callback -> socket, never collected.
         sock:on("receive", function(_, data) sock:send(data) end)
       end)`,
      "=leak",
    );
    await until(() => nodemcu.binds.length === 2);
    const leakPort = (await nodemcu.binds[1]).hostPort;
    vm.heapBytes(true); // a full collection: what is left is held
    const base = nodemcu.liveSockets();
    for (let i = 0; i < 20; i++) {
      const c = net.connect(leakPort, "127.0.0.1");
      await new Promise<void>((resolve) => c.on("connect", () => resolve()));
      c.end();
      await new Promise<void>((resolve) => c.on("close", () => resolve()));
    }
    await until(() => nodemcu.liveSockets() >= base + 20);
    vm.heapBytes(true);
    assert.equal(nodemcu.liveSockets(), base + 20, "a socket whose callback captures it is never collected");
  });
});

describe("emulated NodeMCU card over SPI (sdmmc.c, spi_master.c; fault 7)", () => {
  const card = new SimCard({ dir: tempDir("luavm") });
  const { vm, nodemcu, serial } = board(card);
  after(() => nodemcu.stop());

  it("needs the SPI bus from spi.master first", () => {
    assert.throws(() => vm.run(`sdmmc.init(sdmmc.SPI2, {cs_pin = 5})`, "=nobus"), /failed to init slot/);
    assert.throws(() => vm.run(`spi.master(spi.VSPI, {sclk = 18, mosi = 23, miso = 19})`, "=vspi"), /invalid host/); // spi_master.c:223
  });

  it("ignores sck/mosi/miso given to sdmmc.init, with a deprecation note", () => {
    // Held in a global: collected, the object would free the bus (spi_master.c:339, :204) before the tests below mount.
    vm.run(`bus = spi.master(spi.SPI2, {sclk = 18, mosi = 23, miso = 19})`, "=bus");
    vm.run(`legacy = sdmmc.init(sdmmc.SPI2, {sck_pin = 18, mosi_pin = 23, miso_pin = 19, cs_pin = 5})`, "=legacy");
    assert.match(serial.sent.join(""), /SCK\/MOSI\/MISO ignored; please configure via spimaster instead/);
  });

  it("mounts at /SD0", () => {
    vm.run(`card = sdmmc.init(sdmmc.SPI2, {cs_pin = 5}) assert(card:mount("/SD0"))`, "=mount");
  });

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

  it("file.mkdir returns nothing and raises on failure (fault 2: file.c:133)", () => {
    assert.equal(vm.evaluate(`select("#", file.mkdir("/SD0/LB"))`), "0");
    assert.throws(() => vm.run(`file.mkdir("/SD0/LB")`, "=again"), /failed to create directory '\/SD0\/LB'; code 17/);
    assert.throws(() => vm.run(`file.mkdir("DIR")`, "=spiffs"), /failed to create directory/);
  });

  it("lists a directory with file.list(dir)", () => {
    vm.run(`local f = io.open("/SD0/LB/X.1", "w") f:write("abc") f:close()`, "=dir");
    assert.equal(vm.evaluate(`file.list("/SD0/LB")["X.1"]`), "3");
    assert.equal(vm.evaluate(`file.list("/SD0/NONE") == nil`), "true");
    assert.equal(vm.evaluate(`file.exists("/SD0/LB")`), "true");
  });
});

describe("emulated NodeMCU timers (tmr.c; fault 3)", () => {
  it("rejects a zero interval and fires single alarms once", async () => {
    const { vm, nodemcu } = board();
    assert.match(vm.evaluate(`select(2, pcall(function() tmr.create():alarm(0, tmr.ALARM_SINGLE, function() end) end))`), /Range: 1-6870947/);
    vm.run(`fired = 0 tmr.create():alarm(20, tmr.ALARM_SINGLE, function() fired = fired + 1 end)`, "=t");
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(vm.evaluate("fired"), "1");
    await nodemcu.stop();
  });

  it("a period under one 10 ms tick asserts in FreeRTOS and the board restarts", async () => {
    const { vm, nodemcu, restarts, serial } = board();
    assert.throws(() => vm.run(`tmr.create():alarm(1, tmr.ALARM_SINGLE, function() end)`, "=tick"), /xTimerPeriodInTicks > 0/);
    await until(() => restarts() === 1);
    assert.match(serial.sent.join(""), /abort\(\) was called/);
    await nodemcu.stop();
  });

  it("node.task.post runs soon, with the priority", async () => {
    const { vm, nodemcu } = board();
    vm.run(`posted = nil node.task.post(function(p) posted = p end)`, "=post");
    assert.equal(vm.evaluate("posted"), "nil");
    await until(() => vm.evaluate("posted") === "1");
    await nodemcu.stop();
  });
});

describe("emulated console UART (uart.c; fault 6)", () => {
  it("uart.on('data', 0, 0, fn, 1) reads 0 where the function belongs and unregisters", async () => {
    const { vm, nodemcu, serial } = board();
    vm.run(`got = "" uart.on("data", 0, 0, function(d) got = got .. d end, 1)`, "=wrong");
    serial.feed("x");
    assert.equal(vm.evaluate("got"), "");
    await nodemcu.stop();
  });

  it("uart.on(0, 'data', 0, fn, 0) gets every byte, one at a time, and the Lua prompt none", async () => {
    const { vm, nodemcu, serial } = board();
    vm.run(`got = {} uart.on(0, "data", 0, function(d) got[#got + 1] = d end, 0)`, "=right");
    serial.sent.length = 0;
    serial.feed('print("executed")\r\n');
    assert.equal(vm.evaluate("table.concat(got)"), 'print("executed")\r\n');
    assert.equal(vm.evaluate("#got"), String('print("executed")\r\n'.length));
    assert.doesNotMatch(serial.sent.join(""), /executed/);
    await nodemcu.stop();
  });

  it("without a receiver, console input goes to the Lua prompt", async () => {
    const { nodemcu, serial } = board();
    serial.feed('print("exec" .. "uted")\r\n');
    assert.match(serial.sent.join(""), /\nexecuted\n> /);
    await nodemcu.stop();
  });
});
