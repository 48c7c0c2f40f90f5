/**
 * make lua: the LFS bar (fault 9: the loaded size, estimated), the bundle
 * calling only what dev-esp32 has (fault 1), and the built init.lua booting
 * the box from LFS on the emulated board.
 */
import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { saveSettings } from "../firmware/settings";
import { HTTP_PORT, POP3_PORT, SMTP_PORT } from "../firmware/main";
import * as fs from "node:fs";
import { buildNodemcu, LuaBuild, overBudget, sizeBar, sizeReport } from "../host/nodemcu/build";
import { countChunk, dumpChunk, estimateLfsBytes, LFS_MEASURED_OF_CALIBRATION, LFS_MODEL_OF_CALIBRATION, lfsModelBytes } from "../host/nodemcu/lfs-size";
import { LfsStore } from "../sim/lua/lfs";
import { SimCard } from "../sim/card";
import { luaBuildFiles, spiffsFlash } from "../sim/lua-runtime";
import { NodeMcu } from "../sim/lua/nodemcu";
import { Spiffs } from "../sim/lua/spiffs";
import { LuaVm } from "../sim/lua/vm";
import { tempDir, testConfig } from "./helpers/fixtures";

describe("make lua size bar", () => {
  it("reads like PlatformIO's", () => {
    assert.equal(sizeBar("LFS", 32768, 65536), "LFS:   [=====     ]  50.0% (used 32768 bytes from 65536 bytes)");
    assert.equal(sizeBar("LFS", 0, 65536), "LFS:   [          ]   0.0% (used 0 bytes from 65536 bytes)");
    assert.equal(sizeBar("LFS", 98304, 65536), "LFS:   [==========] 150.0% (used 98304 bytes from 65536 bytes)");
  });
});

describe("the LFS bar reports what the board's LFS region will hold (fault 9)", () => {
  const build = buildNodemcu(tempDir("luabuild"));
  it("is the calibrated estimate of the loaded size, not the size of the code as a file", () => {
    // The build: 115,275 bytes as a stripped chunk, 179,940 in the LFS region once loaded.
    assert.ok(build.lfsBytes > build.compiledBytes * 1.4 && build.lfsBytes < build.compiledBytes * 1.8, `${build.lfsBytes} vs ${build.compiledBytes}`);
    const model = lfsModelBytes(countChunk(dumpChunk(fs.readFileSync(build.bundlePath), "=letterbox.lua", true)));
    assert.equal(build.lfsBytes, Math.round((model * LFS_MEASURED_OF_CALIBRATION) / LFS_MODEL_OF_CALIBRATION));
    assert.ok(Math.abs(LFS_MEASURED_OF_CALIBRATION / LFS_MODEL_OF_CALIBRATION - 1) < 0.05, "the model alone is within 5% of the measurement");
    assert.match(sizeReport(build), new RegExp(`^LFS: .*\\(used ${build.lfsBytes} bytes from ${build.budgetBytes} bytes\\)`));
    assert.match(sizeReport(build), /estimate calibrated on a measured image/);
    assert.equal(estimateLfsBytes(fs.readFileSync(build.bundlePath), "=x"), build.lfsBytes);
  });
  it("fails over the board's budget", () => {
    assert.equal(overBudget(build), undefined);
    const small: LuaBuild = { ...build, budgetBytes: build.lfsBytes - 1 };
    assert.match(overBudget(small) ?? "", /1 over the board's \d+-byte LFS partition/);
  });
});

describe("the bundle calls only what dev-esp32 has (fault 1)", () => {
  it("every module function it names exists in the emulation written from the C sources", async () => {
    // Code only: strings and comments name the C sources (and the functions they lack).
    const bundle = luaBuildFiles()
      .bundle.toString("latin1")
      .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
      .replace(/--[^\n]*/g, "");
    const vm = new LuaVm({ write: () => {}, onError: () => {} });
    const nodemcu = new NodeMcu({ vm, spiffs: new Spiffs(), portMap: {}, bindHost: "127.0.0.1", clock: () => 0, onRestart: () => {} });
    const modules = ["file", "net", "tmr", "node", "uart", "sdmmc", "spi", "wifi", "time", "encoder", "crypto", "sodium", "io"];
    const used = new Set<string>();
    for (const m of bundle.matchAll(new RegExp(`(?<![.\\w])(${modules.join("|")})((?:\\.[A-Za-z_]+)+)`, "g"))) used.add(m[1] + m[2]);
    assert.ok(used.has("file.list") && used.has("io.open"), [...used].join(" "));
    const missing = [...used].filter((name) => vm.evaluate(`${name} == nil`) === "true");
    await nodemcu.stop();
    assert.deepEqual(missing, [], "functions the dev-esp32 firmware lacks");
  });
});

describe("init.lua on the emulated board", () => {
  const logs: string[] = [];
  const vm = new LuaVm({ write: (t) => logs.push(t), onError: (m) => logs.push(`ERROR ${m}`) });
  const spiffs = new Spiffs();
  const lfs = new LfsStore();
  const nodemcu = new NodeMcu({
    lfs,
    vm,
    spiffs,
    card: new SimCard({ dir: tempDir("luainit") }),
    portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0, [HTTP_PORT]: 0, 143: 0 },
    bindHost: "127.0.0.1",
    clock: () => Math.floor(Date.now() / 1000),
    onRestart: () => {},
  });
  after(() => nodemcu.stop());

  it("without the core in LFS, says how to flash it and loads no Lua source", async () => {
    spiffs.write("init.lua", luaBuildFiles().init);
    vm.run('dofile("init.lua") letterbox_boot:unregister() letterbox_start()', "=boot");
    assert.match(logs.join(""), /no letterbox module in the Lua Flash Store; install it with: letterbox flash --runtime nodemcu --luac-cross/);
    assert.equal(nodemcu.binds.length, 0);
    logs.length = 0;
  });

  it("starts letterbox from LFS with the provisioned settings after its pause", async () => {
    const files = luaBuildFiles();
    lfs.set("letterbox", files.bundle);
    spiffs.write("init.lua", files.init);
    saveSettings(spiffsFlash(spiffs), { config: testConfig() }, undefined);
    vm.run('dofile("init.lua")', "=boot");
    assert.equal(nodemcu.binds.length, 0, "init.lua waits before starting");
    await new Promise((r) => setTimeout(r, 3300));
    assert.equal(nodemcu.binds.length, 4, logs.join("")); // SMTP, POP3, HTTP, IMAP
    const smtp = (await Promise.all(nodemcu.binds)).find((b) => b.devicePort === SMTP_PORT)!;
    const banner = await new Promise<string>((resolve, reject) => {
      const s = net.connect(smtp.hostPort, "127.0.0.1");
      s.once("data", (d) => (resolve(d.toString("latin1")), s.destroy()));
      s.once("error", reject);
    });
    assert.match(banner, /^220 mx\.test\.example /);
    assert.ok(!logs.join("").includes("ERROR"), logs.join(""));
  });
});
