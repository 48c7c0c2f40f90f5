/**
 * The same bundle on Espruino's Linux build (emulated: no E.connectSDCard, no
 * SPI1, no Wifi, files in the working directory): it falls back to a
 * directory and serves mail unchanged.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { EspruinoBoard } from "../sim/espruino/board";
import { DEFAULTS_FILE, ensureEspruinoBundle } from "../sim/espruino-runtime";
import { SimFlash } from "../sim/flash";
import { encode } from "../firmware/msgpack";
import { settingsToMap } from "../firmware/settings";
import { pop3Session, sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

test("without an SD card the bundle keeps its files under letterbox-data/ and serves mail", async () => {
  const work = tempDir("espruino-linux");
  const logs: string[] = [];
  const board = new EspruinoBoard({
    workDir: work,
    flash: new SimFlash(),
    romFiles: { [DEFAULTS_FILE]: encode(settingsToMap({ config: testConfig() })) },
    portMap: { 25: 0, 110: 0, 80: 0, 143: 0 },
    bindHost: "127.0.0.1",
    log: (line) => logs.push(line),
    clock: () => Math.floor(Date.now() / 1000),
  });
  board.run(fs.readFileSync(await ensureEspruinoBundle(), "latin1"), "letterbox.js");
  try {
    const ports = await board.ports();
    const message = Buffer.from("Subject: linux\r\n\r\nfrom the Linux build\r\n", "latin1");
    assert.match(await sendMail(ports[25], "x@remote.example", ["bob@example.org"], message), /^250 /);
    const got = await pop3Session(ports[110], "bob", "builder99", (c) => c.retr(1));
    assert.match(got.toString("latin1"), /from the Linux build/);
    assert.ok(logs.some((l) => /no SD card .*letterbox-data/.test(l)), logs.join("\n"));
    assert.ok(fs.readdirSync(path.join(work, "letterbox-data")).length > 0, "the store lives in the fallback directory");
    assert.deepEqual(board.errors, []);
    // Issue 13, fault 6: the console must stay where it is (stdin, Telnet) on the Linux build.
    await new Promise((r) => setTimeout(r, 5300)); // past the REPL window the ESP32 build keeps
    assert.deepEqual(board.consoleMoves, [], "the console was not moved");
    assert.ok(!logs.some((l) => /No path defined/.test(l)), logs.join("\n"));
  } finally {
    await board.stop();
  }
});
