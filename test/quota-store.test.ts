/**
 * The store on a card with no free byte left: a deletion still commits
 * (the spare file gives up its room), a torn journal tail left by a short
 * write is recovered, and new mail is refused until there is room again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SimCard } from "../sim/card";
import { MailStore, type IncomingMessage } from "../firmware/store";
import { tempDir } from "./helpers/fixtures";

function boot(dir: string, capacityBytes?: number): { card: SimCard; store: MailStore; logs: string[] } {
  const card = new SimCard({ dir, capacityBytes });
  const logs: string[] = [];
  const store = new MailStore(card, (line) => logs.push(line), () => 42);
  assert.equal(store.open(), true, logs.join("\n"));
  return { card, store, logs };
}

function deliver(store: MailStore, bytes: number, users: string[]): number {
  const incoming = store.beginMessage() as IncomingMessage;
  incoming.write("x".repeat(bytes));
  incoming.commit(users, 1700000000);
  return incoming.seq;
}

test("a deletion on a card with no free byte commits, and the card takes mail again after it", () => {
  const dir = tempDir("fullstore");
  const { card, store, logs } = boot(dir);
  const seqs = [deliver(store, 5000, ["alice"]), deliver(store, 5000, ["alice", "bob"]), deliver(store, 5000, ["alice"])];
  card.capacityBytes = card.usedBytes(); // not one byte free
  assert.equal(store.cardFull, false, "the spare is still there");
  store.deleteMessages("alice", [seqs[0], seqs[2]]);
  assert.equal(store.ready, true, logs.join("\n"));
  assert.equal(store.maildrop("alice").count, 1);
  // The deleted messages' room was enough to make the spare again.
  assert.equal(store.cardFull, false);
  const again = boot(dir, card.capacityBytes);
  assert.equal(again.store.maildrop("alice").count, 1, "the deletion is on the card");
  assert.equal(again.store.maildrop("bob").count, 1);
});

test("a journal torn by a short write on a full card is recovered with the spare's room", () => {
  const dir = tempDir("tornfull");
  const { card, store } = boot(dir);
  const kept = deliver(store, 3000, ["alice"]);
  // Use up the reservation block, so the next message appends a new B record.
  for (let i = 0; i < 7; i++) deliver(store, 10, ["bob"]);
  card.capacityBytes = card.usedBytes() + 3; // the next record is written short
  assert.throws(() => store.beginMessage(), /card full/);
  assert.equal(store.ready, false);
  const rebooted = boot(dir, card.capacityBytes);
  assert.equal(rebooted.store.cardFull, true, "the spare was given up and cannot be made again");
  assert.ok(rebooted.logs.some((l) => /torn/.test(l)), rebooted.logs.join("\n"));
  const drop = rebooted.store.maildrop("alice");
  assert.equal(drop.count, 1);
  assert.equal(drop.seq(0), kept);
  rebooted.store.deleteMessages("alice", [kept]);
  assert.equal(rebooted.store.maildrop("alice").count, 0);
  assert.equal(rebooted.store.cardFull, false, "room again: the spare is back");
});
