/** `status` keeps answering when the card is pulled: that is how one finds out. */
import { it } from "node:test";
import * as assert from "node:assert/strict";
import { Console, LogRing } from "../firmware/console";
import { Deframer, encodeFrame } from "../firmware/frame";
import { decode, encode, MsgMap } from "../firmware/msgpack";
import { testConfig } from "./helpers/fixtures";
import { testHal } from "./helpers/test-hal";

it("status reports an unreadable card instead of failing", () => {
  const replies: MsgMap[] = [];
  const deframer = new Deframer({
    onFrame: (payload) => replies.push(decode(payload, 0).value as MsgMap),
    onText: () => {},
    onReject: () => {},
  });
  const hal = testHal({ implementation: "test", clock: 1000, timers: "manual", card: "failing", serial: true, onWrite: (d) => deframer.push(d), log: "drop" });
  const failing = () => {
    throw new Error("card removed");
  };
  new Console({
    hal,
    target: {
      applyConfig: () => {},
      listMessages: failing,
      readMessage: failing,
      owners: failing,
      deleteMail: failing,
      sessions: () => ({ services: [{ service: "pop3", open: 1, max: 3 }], sockets: 2, socketLimit: 10 }),
    },
    settings: { config: testConfig() },
    stored: undefined,
    log: new LogRing(8),
  });
  hal.serialIn(encodeFrame(encode({ id: 7, op: "status" })));
  assert.equal(replies.length, 1);
  const reply = replies[0];
  assert.equal(reply.id, 7);
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.equal(reply.cardError, "card not readable");
  assert.ok((reply.errors as string[]).some((e) => /cannot read the card/.test(e)));
  assert.deepEqual(reply.sessions, [{ service: "pop3", open: 1, max: 3 }], "the sessions are reported with the card gone");
  assert.equal(reply.sockets, 2);
});
