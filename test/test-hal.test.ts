/** The test HAL (test/helpers/test-hal.ts) holds the core to the HAL's rules, and its manual parts move only when told. */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import type { Connection, ConnectionEvents } from "../firmware/hal";
import { FakeClient, testHal } from "./helpers/test-hal";

/** A service that hands its Connection to the test, so the test can break the rules in the core's place. */
function service(): { accept: (c: Connection) => ConnectionEvents; conn: () => Connection; sent: number } {
  let held: Connection | undefined;
  const s = {
    sent: 0,
    accept(c: Connection): ConnectionEvents {
      held = c;
      return { onData: () => {}, onSent: () => void s.sent++, onClose: () => {} };
    },
    conn: () => held as Connection,
  };
  return s;
}

test("a second send before the first completed, a close with a send outstanding and a send after close all fail", () => {
  const s = service();
  const client = new FakeClient(s.accept, { completion: "manual" });
  s.conn().send("one");
  assert.throws(() => s.conn().send("two"), /a second send before the first completed/);
  assert.throws(() => s.conn().close(), /the core closed while a send was outstanding/);
  assert.equal(client.completeSend(), true);
  assert.equal(s.sent, 1);
  assert.equal(client.completeSend(), false, "nothing left to complete");
  s.conn().close();
  assert.throws(() => s.conn().send("three"), /a send after the core closed the connection/);
  assert.equal(client.received, "one");
});

test("manual timers run in the order they are due, zero-delay ones alone when asked, and the manual clock moves only when set", () => {
  const hal = testHal({ clock: 500, timers: "manual" });
  const ran: string[] = [];
  hal.setTimer(30, () => ran.push("30"));
  hal.setTimer(10, () => ran.push("10"));
  hal.setTimer(0, () => (ran.push("0"), hal.setTimer(0, () => ran.push("0 again"))));
  hal.setTimer(5, () => ran.push("cancelled")).cancel();
  assert.equal(hal.timers.runZeroDelay(), true);
  assert.deepEqual(ran, ["0", "0 again"]);
  while (hal.timers.runNext());
  assert.deepEqual(ran, ["0", "0 again", "10", "30"]);
  assert.equal(hal.timers.elapsedMs, 30);
  assert.equal(hal.now(), 500);
  hal.clock.seconds += 7;
  assert.equal(hal.now(), 507);
});

test("a failing card throws on every call, and so does cardSpace", () => {
  const hal = testHal({ card: "failing" });
  assert.throws(() => hal.storage.open("/LB/X", "r"), /card removed/);
  assert.throws(() => hal.storage.list("/"), /card removed/);
  assert.throws(() => hal.cardSpace!(), /card removed/);
});
