/** The lua runtime behaves like the board when Lua fails: an uncaught error restarts it, and it comes back serving. */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { HTTP_PORT, POP3_PORT, SMTP_PORT } from "../firmware/main";
import { SimCard } from "../sim/card";
import { LuaRunningBox, startLuaBox } from "../sim/lua-runtime";
import { sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

function banner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("data", (d) => (resolve(d.toString("latin1")), s.destroy()));
    s.once("error", reject);
  });
}

describe("lua runtime", () => {
  let box: LuaRunningBox;
  const logs: string[] = [];
  before(async () => {
    box = await startLuaBox({
      config: testConfig(),
      card: new SimCard({ dir: tempDir("luart") }),
      portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0, [HTTP_PORT]: 0, 143: 0 },
      bindHost: "127.0.0.1",
      log: (l) => logs.push(l),
      clock: () => Math.floor(Date.now() / 1000),
    });
  });
  after(() => box.stop());

  it("boots the built bundle and answers on the mapped ports", async () => {
    assert.match(await banner(box.ports[SMTP_PORT]), /^220 mx\.test\.example /);
    assert.ok(logs.some((l) => l.includes("letterbox-nodemcu (esp32, lua 5.3)")), logs.join("\n"));
  });

  it("DATA of CRLF mail costs a few native searches per chunk, not one per line (the board's findBareLF)", async () => {
    const vm = box.board().vm;
    // Count every string.find the firmware makes (TSTL's indexOf is string.find too).
    vm.run(`local f = string.find; __lb_finds = 0; string.find = function(...) __lb_finds = __lb_finds + 1; return f(...) end`, "=count");
    const lines = 250; // within the test limit of 20,000 octets
    // Not text/*: the MIME structure, built after the 250 (off the DATA path, while this session still runs), counts
    // a text part's lines with a search per line by design; this counts what DATA costs.
    const body = Buffer.from("Subject: count\r\nContent-Type: application/octet-stream\r\n\r\n" + "a line of text, seventy-odd octets long, as mail usually has them.\r\n".repeat(lines), "latin1");
    assert.match(await sendMail(box.ports[SMTP_PORT], "a@remote.example", ["alice@example.org"], body), /^250 /);
    const finds = Number(vm.evaluate("__lb_finds"));
    vm.run(`__lb_finds = nil`, "=count");
    // About 2 per 536-octet chunk (~33 chunks) plus the commands (106 measured), and the header cache and structure
    // built after the 250 (31 measured: a few per 16 KiB step and per header line); a walk over the lines would be over 250.
    assert.ok(finds < lines * 0.7, `${finds} string.find calls for ${lines} lines`);
  });

  it("restarts the board on an uncaught Lua error, on the same ports", async () => {
    const before = box.board();
    before.vm.run(`tmr.create():alarm(10, tmr.ALARM_SINGLE, function() error("boom") end)`, "=fail");
    for (let i = 0; i < 200 && box.board() === before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.notEqual(box.board(), before, "a new VM booted");
    assert.equal(box.restarts, 1);
    assert.match(box.errors[0], /boom/);
    assert.match(await banner(box.ports[SMTP_PORT]), /^220 /);
  });
});

describe("lua runtime: the card's SPI bus outlives a garbage collection", () => {
  // spi.master's object frees the bus when Lua collects it (spi_master.c:339, :204);
  // a board that dropped it could not mount a card put in later (sdmmc.c:214).
  it("a box booted without its card mounts it after a full collection", async () => {
    const card = new SimCard({ dir: tempDir("luagc") });
    card.eject();
    const box = await startLuaBox({
      config: testConfig(),
      card,
      portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0, [HTTP_PORT]: 0, 143: 0 },
      bindHost: "127.0.0.1",
      log: () => {},
      clock: () => Math.floor(Date.now() / 1000),
    });
    try {
      assert.match(await banner(box.ports[SMTP_PORT]), /^421 4\.3\.0 /);
      box.board().vm.heapBytes(true); // two full collections: anything unreferenced is finalized
      card.insert();
      assert.match(await banner(box.ports[SMTP_PORT]), /^220 /);
      assert.deepEqual(box.errors, []);
    } finally {
      await box.stop();
    }
  });
});
