/** `status` keeps answering when the card is pulled: that is how one finds out. */
import { it } from "node:test";
import * as assert from "node:assert/strict";
import { Console, LogRing } from "../firmware/console";
import { Deframer, encodeFrame } from "../firmware/frame";
import type { Hal } from "../firmware/hal";
import { decode, encode, MsgMap } from "../firmware/msgpack";
import { testConfig } from "./helpers/fixtures";

it("status reports an unreadable card instead of failing", () => {
  let receiver: (data: string) => void = () => {};
  const replies: MsgMap[] = [];
  const deframer = new Deframer({
    onFrame: (payload) => replies.push(decode(payload, 0).value as MsgMap),
    onText: () => {},
    onReject: () => {},
  });
  const hal = {
    now: () => 1000,
    log: () => {},
    implementation: "test",
    setTimer: () => ({ cancel() {} }),
    serial: { write: (d: string) => deframer.push(d), setReceiver: (r: (d: string) => void) => (receiver = r) },
    cardSpace: () => {
      throw new Error("card removed");
    },
  } as unknown as Hal;
  const failing = () => {
    throw new Error("card removed");
  };
  new Console({
    hal,
    target: { applyConfig: () => {}, listMessages: failing, readMessage: failing, owners: failing, deleteMail: failing },
    settings: { config: testConfig() },
    stored: undefined,
    log: new LogRing(8),
  });
  receiver(encodeFrame(encode({ id: 7, op: "status" })));
  assert.equal(replies.length, 1);
  const reply = replies[0];
  assert.equal(reply.id, 7);
  assert.equal(reply.ok, true, JSON.stringify(reply));
  assert.equal(reply.cardError, "card not readable");
  assert.ok((reply.errors as string[]).some((e) => /cannot read the card/.test(e)));
});
