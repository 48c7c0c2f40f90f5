/**
 * Issue 12, fault 5: dev-esp32 frees a socket's callbacks only when Lua
 * collects the socket (net_delete, components/modules/net.c:786), so an
 * adapter whose callbacks reach their own socket leaks every session. A few
 * hundred SMTP and POP3 connect + QUIT cycles on the lua runtime must leave
 * the Lua heap flat (collectgarbage("count") on the C VM after a full
 * collection) and no socket uncollected.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { HTTP_PORT, POP3_PORT, SMTP_PORT } from "../firmware/main";
import { SimCard } from "../sim/card";
import { LuaRunningBox, startLuaBox } from "../sim/lua-runtime";
import { tempDir, testConfig } from "./helpers/fixtures";

/** Connects, reads the greeting, sends QUIT, waits for the reply and the close. */
function connectAndQuit(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    let quitSent = false;
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (!quitSent && got.includes("\r\n")) {
        quitSent = true;
        s.write("QUIT\r\n");
      }
    });
    s.on("close", () => resolve(got));
    s.on("error", reject);
  });
}

const CYCLES = 300;
/** Allowed growth from the heap after the first 50 cycles to any later sample (every 50 cycles). */
const SLACK_BYTES = 2048;

describe("a few hundred connections leave the Lua heap flat (lua runtime, fault 5)", () => {
  let box: LuaRunningBox;
  before(async () => {
    box = await startLuaBox({
      config: testConfig(),
      card: new SimCard({ dir: tempDir("lualeak") }),
      portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0, [HTTP_PORT]: 0, 143: 0 },
      bindHost: "127.0.0.1",
      log: () => {},
      clock: () => Math.floor(Date.now() / 1000),
    });
  });
  after(() => box.stop());

  it(`${CYCLES} SMTP and ${CYCLES} POP3 sessions: heap flat, every socket collected`, async () => {
    const nodemcu = box.board().nodemcu;
    const heap: number[] = [];
    for (let i = 1; i <= CYCLES; i++) {
      assert.match(await connectAndQuit(box.ports[SMTP_PORT]), /^220 [\s\S]*221 /);
      assert.match(await connectAndQuit(box.ports[POP3_PORT]), /^\+OK [\s\S]*\+OK /);
      if (i % 50 === 0) {
        await new Promise((r) => setTimeout(r, 50)); // the close events of the last session
        heap.push(nodemcu.heapBytes());
      }
    }
    console.log(`# lua heap every 50 cycles: ${heap.join(", ")} bytes; sockets alive ${nodemcu.liveSockets()}`);
    assert.deepEqual(box.errors, []);
    assert.equal(box.restarts, 0);
    const grown = Math.max(...heap.slice(1)) - heap[0];
    assert.ok(grown < SLACK_BYTES, `the heap grew by ${grown} bytes over ${CYCLES - 50} cycles`);
    assert.equal(nodemcu.liveSockets(), 0, "every closed socket was collected (its callbacks freed)");
  });
});
