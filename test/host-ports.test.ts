/** Choosing the board's port by USB id, and the board definitions themselves. */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { BOARDS_DIR, loadBoards } from "../host/boards";
import { choosePort, matchBoardPorts, PortError, PortInfo } from "../host/serial/ports";
import { tempDir } from "./helpers/fixtures";

// What SerialPort.list() reports on Linux for common USB-serial chips.
const cp2102: PortInfo = { path: "/dev/ttyUSB0", manufacturer: "Silicon Labs", vendorId: "10c4", productId: "ea60" };
const ch340: PortInfo = { path: "/dev/ttyUSB1", manufacturer: "1a86", vendorId: "1a86", productId: "7523" };
const arduino: PortInfo = { path: "/dev/ttyACM0", manufacturer: "Arduino", vendorId: "2341", productId: "0043" };
const builtin: PortInfo = { path: "/dev/ttyS0" };

test("every board definition in boards/ is valid and has USB ids", () => {
  const boards = loadBoards();
  assert.ok(boards.length >= 2);
  for (const b of boards) {
    assert.ok(["espruino", "nodemcu"].includes(b.runtime), b.id);
    assert.ok(b.build.hwids.length > 0, b.id);
  }
  assert.deepEqual(
    boards.map((b) => b.id),
    fs.readdirSync(BOARDS_DIR).filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, "")).sort(),
  );
});

test("a broken board definition is reported with its file and field", () => {
  const dir = tempDir("boards");
  const good = JSON.parse(fs.readFileSync(path.join(BOARDS_DIR, "espruino-esp32.json"), "utf8"));
  good.build.hwids = [["10C4", "0xEA60"]];
  fs.writeFileSync(path.join(dir, "odd.json"), JSON.stringify(good));
  assert.throws(() => loadBoards(dir), /boards\/odd\.json: \/build\/hwids\/0\/0 must match pattern/);
});

test("the one board among other serial ports is chosen", () => {
  const boards = loadBoards();
  assert.equal(choosePort([builtin, arduino, cp2102], boards), "/dev/ttyUSB0");
  const match = matchBoardPorts([cp2102], boards);
  assert.deepEqual(match[0].boards.map((b) => b.id).sort(), ["espruino-esp32", "nodemcu-esp32"]);
});

test("no board: the hint says what to check and how to name the port", () => {
  assert.throws(
    () => choosePort([builtin, arduino], loadBoards()),
    (e: Error) =>
      e instanceof PortError &&
      /no letterbox board found/.test(e.message) &&
      /\/dev\/ttyACM0 \(Arduino\) \[2341:0043\]/.test(e.message) &&
      /data USB cable/.test(e.message) &&
      /dialout/.test(e.message) &&
      /--port PATH/.test(e.message),
  );
  assert.throws(() => choosePort([], loadBoards()), /No serial ports at all/);
});

test("several boards: the hint lists them and asks for --port", () => {
  assert.throws(
    () => choosePort([cp2102, ch340], loadBoards()),
    (e: Error) => e instanceof PortError && /several letterbox boards/.test(e.message) && /\/dev\/ttyUSB0/.test(e.message) && /\/dev\/ttyUSB1/.test(e.message) && /--port PATH/.test(e.message),
  );
});
