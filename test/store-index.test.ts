/**
 * The store's index and format version (issue 16 item 3): listing and
 * reading a maildrop never open the journal, whatever its length; a journal
 * of a newer format version is refused and left as it is.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SimCard } from "../sim/card";
import type { FileHandle } from "../firmware/hal";
import { MailStore, type IncomingMessage } from "../firmware/store";
import { fletcher31 } from "../firmware/checksum";
import { JOURNALS, Format } from "../firmware/journal";
const FORMAT_VERSION = Format.Version;
import { encode } from "../firmware/msgpack";

const PARENT = fs.mkdtempSync(path.join(os.tmpdir(), "lb-store-index-"));
after(() => fs.rmSync(PARENT, { recursive: true, force: true }));

/** A card that counts the opens of each path. */
class CountingCard extends SimCard {
  opens: { [path: string]: number } = {};
  open(cardPath: string, mode: string): FileHandle {
    this.opens[cardPath] = (this.opens[cardPath] || 0) + 1;
    return super.open(cardPath, mode);
  }
}

function deliver(store: MailStore, text: string, users: string[]): number {
  const incoming = store.beginMessage() as IncomingMessage;
  incoming.write(text);
  incoming.commit(users, 1700000000);
  return incoming.seq;
}

test("listing, reading and the quota use the index: the journal is not opened, however long it is", () => {
  const card = new CountingCard({ dir: fs.mkdtempSync(path.join(PARENT, "card-")) });
  const logs: string[] = [];
  const store = new MailStore(card, (l) => logs.push(l), () => 7);
  assert.equal(store.open(), true, logs.join("\n"));
  const seqs: number[] = [];
  for (let i = 0; i < 40; i++) seqs.push(deliver(store, `Subject: ${i}\r\n\r\n` + "x".repeat(i * 13), i % 3 === 0 ? ["alice", "bob"] : ["alice"]));
  store.deleteMessages("alice", [seqs[3], seqs[4]]);
  const journal = JOURNALS[store.journal.active];
  card.opens = {};
  for (let round = 0; round < 3; round++) {
    const drop = store.maildrop("alice");
    assert.equal(drop.count, 38);
    for (let i = 0; i < drop.count; i += 7) {
      const file = store.openMessage(drop.seq(i)) as FileHandle;
      let text = "";
      for (let chunk = file.read(768); chunk !== undefined; chunk = file.read(768)) text += chunk;
      file.close();
      assert.equal(text.length, drop.size(i));
    }
    assert.equal(store.usage("alice"), drop.totalBytes);
    assert.deepEqual(store.owners().sort(), ["alice", "bob"]);
  }
  assert.equal(card.opens[journal] || 0, 0, "the journal was not opened");
  // A deletion appends one D record and reads nothing back.
  store.deleteMessages("alice", [seqs[0]]);
  assert.equal(card.opens[JOURNALS[store.journal.active]], 1);
  assert.equal(store.maildrop("bob").count, 14);
});

test("a journal of a newer format version is refused, and the card left exactly as it was", () => {
  const dir = fs.mkdtempSync(path.join(PARENT, "card-"));
  const card = new SimCard({ dir });
  const first = new MailStore(card, () => {}, () => 7);
  assert.equal(first.open(), true);
  deliver(first, "Subject: kept\r\n\r\nbody\r\n", ["alice"]);
  // A newer build compacted this card into JRNL.B: its header says FORMAT_VERSION + 1.
  const write = (records: unknown[][]) =>
    records.map((r) => {
      const body = encode(r as never);
      return body + encode(fletcher31(body, 0, body.length));
    }).join("");
  fs.writeFileSync(path.join(dir, "LB", "JRNL.B"), Buffer.from(write([["H", FORMAT_VERSION + 1, 50, 7, 9], ["S", 50]]), "latin1"));
  const snapshot = () => {
    const out: { [name: string]: string } = {};
    for (const sub of ["LB", "LB/MSG"]) {
      for (const name of fs.readdirSync(path.join(dir, sub))) {
        const p = path.join(dir, sub, name);
        if (fs.statSync(p).isFile()) out[sub + "/" + name] = fs.readFileSync(p).toString("hex");
      }
    }
    return out;
  };
  const before = snapshot();
  const logs: string[] = [];
  const store = new MailStore(new SimCard({ dir }), (l) => logs.push(l), () => 8);
  assert.equal(store.open(), false);
  assert.equal(store.available(), false);
  assert.ok(logs.some((l) => l.indexOf("/LB/JRNL.B is format " + (FORMAT_VERSION + 1)) >= 0), logs.join("\n"));
  assert.deepEqual(snapshot(), before, "nothing on the card changed");
});
