/** make lua: the size bar, and the built init.lua booting the box on the emulated board. */
import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { saveSettings } from "../firmware/settings";
import { POP3_PORT, SMTP_PORT } from "../firmware/main";
import { sizeBar } from "../host/nodemcu/build";
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

describe("init.lua on the emulated board", () => {
  const logs: string[] = [];
  const vm = new LuaVm({ write: (t) => logs.push(t), onError: (m) => logs.push(`ERROR ${m}`) });
  const spiffs = new Spiffs();
  const nodemcu = new NodeMcu({
    vm,
    spiffs,
    card: new SimCard({ dir: tempDir("luainit") }),
    portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0 },
    bindHost: "127.0.0.1",
    clock: () => Math.floor(Date.now() / 1000),
    onRestart: () => {},
  });
  after(() => nodemcu.stop());

  it("starts letterbox from the provisioned settings after its pause", async () => {
    const files = luaBuildFiles();
    spiffs.write("letterbox.lua", files.bundle);
    spiffs.write("init.lua", files.init);
    saveSettings(spiffsFlash(spiffs), { config: testConfig() }, undefined);
    vm.run('dofile("init.lua")', "=boot");
    assert.equal(nodemcu.binds.length, 0, "init.lua waits before starting");
    await new Promise((r) => setTimeout(r, 3300));
    assert.equal(nodemcu.binds.length, 2, logs.join(""));
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
