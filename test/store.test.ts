/**
 * The mail store on the strict simulated card: commit, list, read back,
 * multi-recipient storage, restarts, recovery, torn journals, file handles,
 * and a power cut at every changing card operation of a small workload.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Unpackr } from "msgpackr";
import { SimCard, type CardOperation } from "../sim/card";
import type { FileHandle } from "../firmware/hal";
import { headerPath, messagePath } from "../firmware/msgfiles";
import { headerRecord, pickHeaders } from "../firmware/hdrcache";
import { MailStore, type IncomingMessage } from "../firmware/store";
import { fletcher31 } from "../firmware/checksum";
import { encode } from "../firmware/msgpack";
import { JOURNALS } from "../firmware/journal";
import { MailIndex, Maildrop, packWith } from "../firmware/mailindex";
import { Access, Mailbox } from "../firmware/mailbox";
import { testConfig } from "./helpers/fixtures";
import { testHal, type TestHal } from "./helpers/test-hal";

const EPOCH = 0x1234567;

const PARENT = fs.mkdtempSync(path.join(os.tmpdir(), "lb-store-"));
after(() => fs.rmSync(PARENT, { recursive: true, force: true }));

function tempDir(): string {
  return fs.mkdtempSync(path.join(PARENT, "card-"));
}

interface Booted {
  card: SimCard;
  store: MailStore;
  logs: string[];
}

function boot(dir: string, beforeOperation?: (op: CardOperation, cardPath: string) => void): Booted {
  const card = new SimCard({ dir, beforeOperation });
  const logs: string[] = [];
  const store = new MailStore(card, (line) => logs.push(line), () => EPOCH);
  assert.equal(store.open(), true, logs.join("\n"));
  return { card, store, logs };
}

/** Every byte value, CRLF lines, and a line starting with a dot. */
function body(n: number, length: number): string {
  let s = `Subject: message ${n}\r\n\r\n.dot line\r\n`;
  for (let i = 0; s.length < length; i++) s += String.fromCharCode((i * 7 + n) & 0xff);
  return s.slice(0, length);
}

function deliver(store: MailStore, data: string, recipients: string[]): number {
  const incoming = store.beginMessage() as IncomingMessage;
  assert.ok(incoming, "a file handle is free");
  for (let i = 0; i < data.length; i += 536) incoming.write(data.slice(i, i + 536));
  assert.equal(incoming.bytes, data.length);
  incoming.commit(recipients, 1700000000);
  return incoming.seq;
}

function readMessage(store: MailStore, seq: number): string {
  const file = store.openMessage(seq);
  assert.ok(file, "a file handle is free");
  let out = "";
  for (let chunk = file.read(700); chunk !== undefined; chunk = file.read(700)) out += chunk;
  file.close();
  return out;
}

/** The user's maildrop as plain data. */
function listing(store: MailStore, user: string): { seq: number; size: number; uid: string }[] {
  const drop = store.maildrop(user);
  const out = [];
  for (let i = 0; i < drop.count; i++) out.push({ seq: drop.seq(i), size: drop.size(i), uid: drop.uid(i) });
  assert.equal(drop.totalBytes, out.reduce((sum, m) => sum + m.size, 0));
  return out;
}

/** A read-only handle over a string, for pickHeaders. */
function fileOf(data: string): FileHandle {
  let offset = 0;
  return {
    read(length: number) {
      if (offset >= data.length) return undefined;
      offset += length;
      return data.substring(offset - length, offset);
    },
    write() {},
    seek() {},
    close() {},
  };
}

/** The header cache record the store writes for message `data` arriving at `time` (whole lines marked as such). */
function cacheOf(data: string, time: number): string {
  const picked = { whole: false };
  const lines = pickHeaders(fileOf(data), picked);
  return headerRecord(lines, time, picked.whole);
}

function messageFiles(dir: string): string[] {
  return fs.readdirSync(path.join(dir, "LB", "MSG")).sort();
}

function fileName(seq: number): string {
  return path.basename(messagePath(seq));
}

/** Parses a journal file strictly with msgpackr: records and their checksums back to back, nothing else. */
function journalRecords(dir: string, cardPath: string): unknown[][] {
  const data = fs.readFileSync(path.join(dir, ...cardPath.slice(1).split("/")));
  const values: { value: unknown; start: number; end: number }[] = [];
  new Unpackr({ useRecords: false, mapsAsObjects: true }).unpackMultiple(data, (value: unknown, start?: number, end?: number) => {
    values.push({ value, start: start as number, end: end as number });
  });
  assert.equal(values.length % 2, 0, "every record has its checksum");
  assert.equal(values.length > 0 ? values[values.length - 1].end : 0, data.length, "no bytes after the last record");
  const records: unknown[][] = [];
  for (let i = 0; i < values.length; i += 2) {
    const { value, start, end } = values[i];
    assert.ok(Array.isArray(value));
    assert.equal(values[i + 1].value, fletcher31(data.toString("latin1"), start, end), `checksum of record ${i / 2}`);
    records.push(value);
  }
  return records;
}

test("commit, list and read back byte for byte", () => {
  const dir = tempDir();
  const { store, card } = boot(dir);
  const a = body(1, 3000);
  const b = body(2, 10);
  const seqA = deliver(store, a, ["alice"]);
  const seqB = deliver(store, b, ["alice"]);
  const list = listing(store, "alice");
  assert.deepEqual(list.map((m) => [m.seq, m.size]), [[seqA, a.length], [seqB, b.length]]);
  assert.notEqual(list[0].uid, list[1].uid);
  for (const m of list) assert.match(m.uid, /^[\x21-\x7e]{1,70}$/);
  assert.equal(readMessage(store, seqA), a);
  assert.equal(readMessage(store, seqB), b);
  assert.equal(store.usage("alice"), a.length + b.length);
  assert.equal(store.usage("bob"), 0);
  assert.deepEqual(listing(store, "bob"), []);
  assert.equal(card.openFiles, 0);
  assert.equal(store.files.open, 0);
});

test("a message for several users is stored once and removed when the last one deletes it", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const data = body(3, 2000);
  const seq = deliver(store, data, ["alice", "bob", "alice"]);
  const only = deliver(store, body(4, 100), ["bob"]);
  assert.deepEqual(messageFiles(dir), [fileName(seq), fileName(only)]);
  assert.equal(store.usage("alice"), data.length);
  assert.equal(store.usage("bob"), data.length + 100);
  assert.deepEqual(listing(store, "alice").map((m) => m.seq), [seq]); // listed once despite the duplicate recipient

  store.deleteMessages("alice", [seq]);
  assert.deepEqual(listing(store, "alice"), []);
  assert.equal(store.usage("alice"), 0);
  assert.deepEqual(messageFiles(dir), [fileName(seq), fileName(only)], "bob still has it");
  assert.equal(readMessage(store, seq), data);

  store.deleteMessages("bob", [seq]);
  assert.deepEqual(listing(store, "bob").map((m) => m.seq), [only]);
  assert.equal(store.usage("bob"), 100);
  assert.deepEqual(messageFiles(dir), [fileName(only)]);
});

test("a restart sees the same messages, sizes, UIDLs and usage", () => {
  const dir = tempDir();
  const first = boot(dir).store;
  deliver(first, body(5, 500), ["alice", "bob"]);
  deliver(first, body(6, 600), ["alice"]);
  const seq = deliver(first, body(7, 700), ["bob"]);
  first.deleteMessages("bob", [seq]);
  const before = { alice: listing(first, "alice"), bob: listing(first, "bob") };

  const second = boot(dir).store;
  assert.deepEqual({ alice: listing(second, "alice"), bob: listing(second, "bob") }, before);
  assert.equal(second.usage("alice"), 1100);
  assert.equal(second.usage("bob"), 500);
  for (const m of before.alice) assert.equal(readMessage(second, m.seq), body(m.seq === before.alice[0].seq ? 5 : 6, m.size));
  const third = boot(dir).store;
  assert.deepEqual(listing(third, "alice"), before.alice);
});

test("recovery removes the data file of a message that was never committed", () => {
  const dir = tempDir();
  const { store, card } = boot(dir);
  const kept = deliver(store, body(8, 100), ["alice"]);
  const crashed = store.beginMessage() as IncomingMessage;
  crashed.write("half a message");
  const aborted = store.beginMessage() as IncomingMessage;
  aborted.write("a client that went away");
  aborted.abort();
  aborted.abort(); // twice is harmless
  assert.deepEqual(messageFiles(dir), [fileName(kept), fileName(crashed.seq)]);
  card.powerOff(); // the process dies with the message half written

  const { store: after, logs } = boot(dir);
  assert.deepEqual(messageFiles(dir), [fileName(kept)]);
  assert.deepEqual(listing(after, "alice").map((m) => m.seq), [kept]);
  assert.equal(logs.filter((l) => /card error/.test(l)).length, 0);
  // A new message gets a new number: reserved numbers are never reused.
  assert.ok(deliver(after, "x", ["alice"]) > aborted.seq);
});

test("a torn journal tail is ignored and compacted away; nothing committed is lost", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const seqs = [deliver(store, body(9, 300), ["alice"]), deliver(store, body(10, 400), ["alice", "bob"])];
  const journal = JOURNALS[store.journal.active];
  const before = listing(store, "alice");
  // Half of an A record, then garbage, as a cut in the middle of an append leaves it.
  const hostJournal = path.join(dir, ...journal.slice(1).split("/"));
  fs.appendFileSync(hostJournal, Buffer.from([0x95, 0xa1, 0x41, 0x05, 0xcd, 0x01]));
  fs.appendFileSync(hostJournal, Buffer.from("garbage\x00\x00\xff", "latin1"));

  const { store: after, logs } = boot(dir);
  assert.ok(logs.some((l) => /torn/.test(l)), logs.join("\n"));
  assert.notEqual(JOURNALS[after.journal.active], journal, "compaction moved to the other journal file");
  assert.deepEqual(listing(after, "alice"), before);
  assert.deepEqual(listing(after, "bob").map((m) => m.seq), [seqs[1]]);
  const records = journalRecords(dir, JOURNALS[after.journal.active]);
  assert.deepEqual(records.map((r) => r[0]), ["H", "A", "A", "S"]);
  // And the store goes on working across another restart.
  const more = deliver(after, body(11, 50), ["bob"]);
  assert.deepEqual(listing(boot(dir).store, "bob").map((m) => m.seq), [seqs[1], more]);
});

test("a well-formed record out of place (a second header) ends the journal like a torn one", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const seq = deliver(store, body(12, 100), ["alice"]);
  const stray = encode(["H", 1, 99, 7, 1]);
  const hostJournal = path.join(dir, ...JOURNALS[store.journal.active].slice(1).split("/"));
  fs.appendFileSync(hostJournal, Buffer.from(stray + encode(fletcher31(stray, 0, stray.length)), "latin1"));
  const { store: after, logs } = boot(dir);
  assert.ok(logs.some((l) => /torn/.test(l)), logs.join("\n"));
  assert.equal(after.epoch, EPOCH);
  assert.deepEqual(listing(after, "alice").map((m) => m.seq), [seq]);
  assert.deepEqual(journalRecords(dir, JOURNALS[after.journal.active]).map((r) => r[0]), ["H", "A", "S"]);
});

test("sequence numbers and UIDLs never repeat, even after deleting everything", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const seen = new Set<string>();
  let last = 0;
  for (let round = 0; round < 3; round++) {
    const current = boot(dir).store;
    for (let i = 0; i < 3; i++) deliver(current, body(i, 20), ["alice"]);
    const list = listing(current, "alice");
    for (const m of list) {
      assert.ok(!seen.has(m.uid), `UIDL ${m.uid} repeated`);
      seen.add(m.uid);
      assert.ok(m.seq > last);
      last = m.seq;
    }
    current.deleteMessages("alice", list.map((m) => m.seq));
    assert.deepEqual(messageFiles(dir), []);
  }
  assert.equal(seen.size, 9);
  assert.equal(store.epoch, EPOCH);
});

test("the file-handle budget: three message files, one handle always left for the journal", () => {
  const dir = tempDir();
  const { store, card } = boot(dir);
  const stored = deliver(store, "stored", ["alice"]);
  const open = [store.beginMessage(), store.beginMessage()] as IncomingMessage[];
  const reading = store.openMessage(stored);
  assert.ok(reading && open[0] && open[1]);
  assert.equal(card.openFiles, 3);
  assert.equal(store.beginMessage(), undefined);
  assert.equal(store.openMessage(stored), undefined);
  // The journal still has its handle: commits, listings and deletions work.
  open[0].write("one");
  open[0].commit(["alice"], 1);
  assert.equal(card.openFiles, 2);
  assert.equal(listing(store, "alice").length, 2);
  const third = store.beginMessage() as IncomingMessage;
  assert.ok(third);
  assert.equal(store.beginMessage(), undefined);
  store.deleteMessages("alice", [open[0].seq]);
  reading.close();
  reading.close(); // closing twice does not free a second handle
  assert.equal(store.files.open, 2);
  open[1].abort();
  third.abort();
  assert.equal(card.openFiles, 0);
  assert.equal(store.files.open, 0);
});

test("onFileFreed is called once for every message file closed, whether committed, aborted or read", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const stored = deliver(store, "stored", ["alice"]);
  let freed = 0;
  store.onFileFreed = () => freed++;
  const incoming = store.beginMessage() as IncomingMessage;
  const aborted = store.beginMessage() as IncomingMessage;
  const reading = store.openMessage(stored)!;
  assert.equal(freed, 0, "opening frees nothing");
  incoming.write("x");
  incoming.commit(["alice"], 1);
  assert.equal(freed, 1);
  aborted.abort();
  assert.equal(freed, 2);
  reading.close();
  reading.close(); // a second close frees nothing more
  assert.equal(freed, 3);
  store.deleteMessages("alice", [stored]); // journal work is not a message file
  assert.equal(freed, 3);
});

test("every name on the card is FAT 8.3", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  for (let i = 0; i < 20; i++) deliver(store, "m", ["alice"]);
  store.deleteMessages("alice", [3, 4]);
  boot(dir);
  const names: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      names.push(name);
      if (fs.statSync(path.join(d, name)).isDirectory()) walk(path.join(d, name));
    }
  };
  walk(dir);
  assert.ok(names.includes("JRNL.A") && names.includes("MSG"));
  for (const name of names) assert.match(name, /^[A-Z0-9_-]{1,8}(\.[A-Z0-9]{1,3})?$/);
  assert.equal(fileName(0x1a), "0000001A.EML");
});

test("compaction after many deletions and after journal growth keeps the live state only", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const seqs: number[] = [];
  for (let i = 0; i < 40; i++) seqs.push(deliver(store, body(i, 50), i % 2 ? ["alice", "bob"] : ["alice"]));
  const generation = store.journal.generation;
  for (let i = 0; i < 36; i++) store.deleteMessages("alice", [seqs[i]]);
  assert.ok(store.journal.generation > generation, "compacted after the deletions");
  assert.ok(journalRecords(dir, JOURNALS[store.journal.active]).filter((r) => r[0] === "D").length < 36);
  assert.deepEqual(listing(store, "alice").map((m) => m.seq), seqs.slice(36));
  const bobs = seqs.filter((_, i) => i % 2);
  assert.deepEqual(listing(store, "bob").map((m) => m.seq), bobs);
  assert.deepEqual(messageFiles(dir), [...new Set([...seqs.slice(36), ...bobs])].sort((a, b) => a - b).map(fileName));

  // Reservations of aborted messages grow the journal until a compaction drops them.
  store.compactAfterBytes = 2048;
  const journalSize = () => fs.statSync(path.join(dir, ...JOURNALS[store.journal.active].slice(1).split("/"))).size;
  const before = store.journal.generation;
  const snapshot = journalSize();
  let largest = 0;
  for (let i = 0; i < 4000; i++) { // one B record per 8 reservations
    (store.beginMessage() as IncomingMessage).abort();
    largest = Math.max(largest, journalSize());
  }
  assert.ok(store.journal.generation > before, "compacted after growth");
  assert.ok(largest < snapshot + 2048 + 100, `the journal stayed below its threshold (${largest} bytes)`);
  const carol = deliver(store, "c", ["carol"]);
  store.compactAfterBytes = 0; // compact at the next chance: the commit of the next message
  deliver(store, "d", ["dave"]);
  const records = journalRecords(dir, JOURNALS[store.journal.active]);
  // Only the live messages, and at most the rest of the current reservation block.
  assert.deepEqual(records.map((r) => r[0]).filter((t) => t !== "A" && t !== "B"), ["H", "S"]);
  assert.ok(records.filter((r) => r[0] === "B").length <= 1);
  assert.ok(journalSize() < snapshot + 100);
  assert.deepEqual(listing(boot(dir).store, "carol").map((m) => m.seq), [carol]);
});

test("stored flags: per user and message, journaled, replayed after a restart, kept by compaction", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const big = body(1, 3000);
  const shared = deliver(store, big, ["alice", "bob"]);
  const own = deliver(store, body(2, 100), ["alice"]);
  assert.equal(store.index.flags("alice", shared), 0, "a new message has no flags");
  store.storeFlags("alice", shared, 1 | 4);
  store.storeFlags("bob", shared, 8);
  store.storeFlags("alice", own, 15);
  store.storeFlags("alice", own, 2);
  assert.deepEqual([store.index.flags("alice", shared), store.index.flags("bob", shared), store.index.flags("alice", own)], [5, 8, 2]);
  assert.equal(store.index.flags("bob", own), -1, "bob's maildrop does not hold it");
  store.storeFlags("bob", own, 1); // ignored: not bob's
  assert.equal(store.index.flags("bob", own), -1);
  // The flags do not change the sizes, the usage or the listing.
  assert.deepEqual(listing(store, "alice").map((m) => m.size), [big.length, 100]);
  assert.equal(store.usage("alice"), big.length + 100);
  const records = journalRecords(dir, JOURNALS[store.journal.active]);
  assert.deepEqual(records.filter((r) => r[0] === "F"), [["F", "alice", shared, 5], ["F", "bob", shared, 8], ["F", "alice", own, 15], ["F", "alice", own, 2]]);
  assert.equal(records[0][1], 4, "format version 4");
  const ops = store.journal.end;
  store.storeFlags("alice", own, 2);
  assert.equal(store.journal.end, ops, "storing the same bits writes nothing");

  // Replay.
  const second = boot(dir).store;
  assert.deepEqual([second.index.flags("alice", shared), second.index.flags("bob", shared), second.index.flags("alice", own)], [5, 8, 2]);
  // Compaction: the flags ride on the A records (the users' bits, in the users' order).
  second.compactAfterBytes = 0;
  second.storeFlags("bob", shared, 9);
  const compacted = journalRecords(dir, JOURNALS[second.journal.active]);
  assert.deepEqual(compacted.map((r) => r[0]), ["H", "A", "A", "S"]);
  assert.deepEqual(compacted[1], ["A", shared, big.length, ["alice", "bob"], 1700000000, [5, 9]]);
  assert.deepEqual(compacted[2], ["A", own, 100, ["alice"], 1700000000, [2]]);
  const third = boot(dir).store;
  assert.deepEqual([third.index.flags("alice", shared), third.index.flags("bob", shared), third.index.flags("alice", own)], [5, 9, 2]);
  // A deletion by one user leaves the other's flags; a message without flags gets a plain A.
  third.compactAfterBytes = 0;
  third.storeFlags("alice", own, 0);
  third.deleteMessages("alice", [shared]);
  assert.equal(third.index.flags("alice", shared), -1);
  assert.equal(third.index.flags("bob", shared), 9);
  const last = journalRecords(dir, JOURNALS[third.journal.active]);
  assert.deepEqual(last.filter((r) => r[0] === "A"), [["A", shared, big.length, ["bob"], 1700000000, [9]], ["A", own, 100, ["alice"], 1700000000]]);
  assert.equal(boot(dir).store.index.flags("bob", shared), 9);
});

test("keywords: a per-user table (K), per-owner bits (F, A), any letter case, journaled, replayed, compacted, dropped with the message or folder, capped", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const one = deliver(store, body(1, 100), ["alice"]);
  const two = deliver(store, body(2, 100), ["alice", "bob"]);
  // Slots in order of first use; the first spelling is kept; the same name in another case is the same slot.
  assert.equal(store.keywordBits("alice", ["$Forwarded", "Work"], true), 3);
  assert.equal(store.keywordBits("alice", ["work", "Unknown"], false), 2, "an unknown name without create is left out");
  assert.equal(store.keywordBits("bob", ["WORK"], true), 1, "every user has a table of its own");
  store.storeFlags("alice", one, 1, 2);
  store.storeFlags("alice", two, 0, 3);
  store.storeFlags("bob", two, 4, 1);
  store.storeFlags("alice", two, 0); // flags only: the keywords stay
  assert.deepEqual([store.keywords.of("alice", one), store.keywords.of("alice", two), store.keywords.of("bob", two)], [2, 3, 1]);
  assert.equal(store.keywords.text("alice", 3), " $Forwarded Work");
  assert.equal(store.keywords.text("bob", 1), " WORK");
  const ops = store.journal.end;
  store.storeFlags("alice", one, 1, 2);
  assert.equal(store.journal.end, ops, "the same bits write nothing");
  let records = journalRecords(dir, JOURNALS[store.journal.active]);
  assert.deepEqual(records.filter((r) => r[0] === "K" || r[0] === "F"), [
    ["K", "alice", 0, "$Forwarded"],
    ["K", "alice", 1, "Work"],
    ["K", "bob", 0, "WORK"],
    ["F", "alice", one, 1, 2],
    ["F", "alice", two, 0, 3],
    ["F", "bob", two, 4, 1],
  ]);
  // The listing carries the bits of its moment.
  const drop = store.maildrop("alice");
  store.storeFlags("alice", one, 1, 0);
  assert.deepEqual([drop.keywords(0), drop.keywords(1), store.maildrop("alice").keywords(0)], [2, 3, 0]);
  // Replay.
  const second = boot(dir).store;
  assert.deepEqual([second.keywords.of("alice", one), second.keywords.of("alice", two), second.keywords.of("bob", two)], [0, 3, 1]);
  assert.equal(second.keywords.find("alice", "WORK"), 1);
  // A commit with keywords (APPEND, COPY): one A record with the owners' bits.
  const folder = "alice/1";
  second.folder(folder, "Keep", true);
  const incoming = second.beginMessage()!;
  incoming.write(body(3, 50));
  incoming.commit([folder], 1700000003, 4, 2);
  const three = incoming.seq;
  records = journalRecords(dir, JOURNALS[second.journal.active]);
  assert.deepEqual(records[records.length - 1], ["A", three, 50, [folder], 1700000003, [4], three, [2]]);
  assert.equal(second.keywords.of(folder, three), 2);
  // Compaction: K for the slots some message uses (alice's $Forwarded is used no more: its slot is free again), keyword bits on A.
  second.compactAfterBytes = 0;
  second.storeFlags("alice", two, 0, 2);
  const compacted = journalRecords(dir, JOURNALS[second.journal.active]);
  assert.deepEqual(compacted.filter((r) => r[0] === "K"), [["K", "alice", 1, "Work"], ["K", "bob", 0, "WORK"]]);
  assert.deepEqual(compacted.find((r) => r[0] === "A" && r[1] === two), ["A", two, 100, ["alice", "bob"], 1700000000, [0, 4], two, [2, 1]]);
  assert.deepEqual(compacted.find((r) => r[0] === "A" && r[1] === one), ["A", one, 100, ["alice"], 1700000000, [1]]);
  assert.equal(second.keywords.free("alice"), 0, "a slot no message uses is free after compaction");
  assert.equal(second.keywords.find("alice", "$Forwarded"), -1);
  const third = boot(dir).store;
  assert.deepEqual([third.keywords.of("alice", two), third.keywords.of("bob", two), third.keywords.of(folder, three)], [2, 1, 2]);
  assert.equal(third.keywords.names["u:alice"], " Work");
  // Expunge and folder deletion drop the bits; the other owner keeps its own.
  third.compactAfterBytes = 1 << 20;
  third.deleteMessages("alice", [two]);
  assert.equal(third.keywords.of("alice", two), 0);
  assert.equal(third.keywords.of("bob", two), 1);
  third.folder(folder, "", false);
  assert.equal(third.keywords.bits["u:" + folder], undefined);
  const fourth = boot(dir).store;
  assert.deepEqual([fourth.keywords.of("alice", two), fourth.keywords.of("bob", two), fourth.keywords.of(folder, three)], [0, 1, 0]);
  // The cap: Keyword.Max (31) names per user; then -1 and no record.
  const names = Array.from({ length: 40 }, (_, i) => `k${i}`);
  let bits = 0;
  for (const name of names.slice(0, 30)) bits |= fourth.keywordBits("bob", [name], true);
  assert.equal(bits, 0x7ffffffe, "slots 1 to 30 (WORK holds 0)");
  const end = fourth.journal.end;
  assert.equal(fourth.keywordBits("bob", ["k30"], true), -1);
  assert.equal(fourth.journal.end, end, "nothing written when full");
  assert.equal(fourth.keywordBits("bob", ["k29", "work"], true), (1 << 30) | 1, "known names still resolve");
  fourth.storeFlags("bob", two, 0, 0x7fffffff);
  assert.equal(boot(dir).store.keywords.of("bob", two), 0x7fffffff, "all 31 bits survive the journal and the index");
});

test("cards of versions 1 to 3 open with no keywords, and take some once rewritten", () => {
  for (const version of [1, 2, 3]) {
    const dir = tempDir();
    fs.cpSync(path.join(__dirname, `../../test/fixtures/card-v${version}/card`), dir, { recursive: true });
    const { store } = boot(dir);
    assert.deepEqual([store.keywords.names, store.keywords.bits], [{}, {}], `card-v${version}`);
    const user = Object.keys(store.index.entries)[0].slice(2);
    const seq = listing(store, user)[0].seq;
    store.storeFlags(user, seq, 0, store.keywordBits(user, ["$Label1"], true));
    const again = boot(dir).store;
    assert.equal(again.keywords.text(user, again.keywords.of(user, seq)), " $Label1", `card-v${version}`);
  }
});

test("a version 1 journal opens with no flags and is rewritten as version 4 before a flag is stored", () => {
  const dir = tempDir();
  fs.cpSync(path.join(__dirname, "../../test/fixtures/card-v1/card"), dir, { recursive: true });
  const v1 = journalRecords(dir, "/LB/JRNL.A").length > 0 ? "/LB/JRNL.A" : "/LB/JRNL.B";
  assert.equal(journalRecords(dir, v1)[0][1], 1);
  const { store } = boot(dir);
  const active = journalRecords(dir, JOURNALS[store.journal.active]);
  assert.equal(active[0][1], 4, "the boot rewrote it in this build's format");
  assert.equal(active.filter((r) => r[0] === "A" && r.length !== 5).length, 0, "no flags");
  let messages = 0;
  for (const user of ["dave", "erin", "frank"]) {
    for (const m of listing(store, user)) {
      assert.equal(store.index.flags(user, m.seq), 0);
      messages++;
    }
  }
  assert.ok(messages > 0);
  const first = listing(store, "dave")[0].seq;
  store.storeFlags("dave", first, 1);
  assert.equal(boot(dir).store.index.flags("dave", first), 1);
});

test("the store refuses a message its index cannot size (2^26 octets and more) without a byte written", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const incoming = store.beginMessage() as IncomingMessage;
  incoming.write("x");
  incoming.bytes = 0x4000000; // as if 64 MiB had been written
  assert.throws(() => incoming.commit(["alice"], 1), /too large/);
  assert.deepEqual(listing(store, "alice"), []);
  assert.equal(journalRecords(dir, JOURNALS[store.journal.active]).filter((r) => r[0] === "A").length, 0);
});

test("the largest size and every flag share the index word without touching each other (\\Deleted is 16)", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const incoming = store.beginMessage() as IncomingMessage;
  incoming.write("x");
  incoming.bytes = 0x3ffffff; // as if 64 MiB - 1 had been written
  incoming.commit(["alice", "bob"], 1);
  const seq = incoming.seq;
  store.storeFlags("alice", seq, 31);
  store.storeFlags("bob", seq, 16);
  const check = (s: MailStore, label: string) => {
    assert.deepEqual(listing(s, "alice").map((m) => m.size), [0x3ffffff], label);
    assert.deepEqual([s.index.flags("alice", seq), s.index.flags("bob", seq)], [31, 16], label);
    assert.deepEqual([s.maildrop("alice").flags(0), s.maildrop("bob").flags(0)], [31, 16], label);
    assert.equal(s.usage("alice"), 0x3ffffff, label);
  };
  check(store, "stored");
  store.storeFlags("alice", seq, 32 + 1); // bits beyond the five are not kept
  assert.equal(store.index.flags("alice", seq), 1);
  assert.deepEqual(listing(store, "alice").map((m) => m.size), [0x3ffffff]);
  store.storeFlags("alice", seq, 31);
  const again = boot(dir).store;
  check(again, "replayed");
  again.compactAfterBytes = 0;
  again.storeFlags("bob", seq, 17);
  again.storeFlags("bob", seq, 16);
  assert.deepEqual(journalRecords(dir, JOURNALS[again.journal.active]).filter((r) => r[0] === "A"), [["A", seq, 0x3ffffff, ["alice", "bob"], 1, [31, 16]]]);
  check(boot(dir).store, "compacted");
});

test("folders: M and X records, owner keys in A, D and F, UIDNEXT kept through expunge, compaction and restart; usage and owners", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const changes: string[] = [];
  store.onChange = (owner) => changes.push(owner);
  const inbox = deliver(store, body(1, 500), ["alice"]);
  const next = inbox + 1;
  store.folder("alice/1", "Work", false);
  store.folder("alice/2", "Lists/Rust", true);
  assert.deepEqual(store.index.folders, { "u:alice/1": "-Work", "u:alice/2": "+Lists/Rust" });
  assert.equal(store.index.next["u:alice/1"], next, "a new folder's UIDNEXT is the next seq");
  // APPEND: a folder owner with flags and an arrival time of its own.
  const incoming = store.beginMessage() as IncomingMessage;
  incoming.write(body(2, 300));
  incoming.commit(["alice/1"], 1600000000, 1 | 16);
  const filed = incoming.seq;
  const both = deliver(store, body(3, 200), ["alice", "alice/2", "bob"]);
  assert.deepEqual(changes, ["alice", "alice/1", "alice", "alice/2", "bob"]);
  assert.deepEqual(listing(store, "alice/1").map((m) => m.seq), [filed]);
  assert.equal(store.index.flags("alice/1", filed), 17);
  assert.equal(store.index.flags("alice", filed), -1, "not in INBOX");
  assert.equal(store.usage("alice"), 500 + 300 + 200 + 200, "usage covers every folder");
  assert.equal(store.usage("alice/1"), 300);
  assert.deepEqual(store.owners().sort(), ["alice", "bob"], "owners are users");
  // A folder that does not exist refuses the commit, and no file stays.
  const lost = store.beginMessage() as IncomingMessage;
  lost.write("x");
  assert.throws(() => lost.commit(["alice/9"], 1), /no such folder/);
  assert.equal(fs.existsSync(path.join(dir, "LB", "MSG", fileName(lost.seq))), false);
  // Rename and subscribe are M records; flags and expunge take the owner key.
  store.folder("alice/1", "Jobs", true);
  store.storeFlags("alice/1", filed, 4);
  store.deleteMessages("alice/1", [filed]);
  assert.equal(fs.existsSync(path.join(dir, "LB", "MSG", fileName(filed))), false, "its file goes");
  assert.equal(store.index.next["u:alice/1"], filed + 1, "UIDNEXT does not go down after an expunge");
  const records = journalRecords(dir, JOURNALS[store.journal.active]);
  assert.equal(records[0][1], 4, "format version 4");
  assert.deepEqual(records.filter((r) => r[0] === "M" || r[0] === "F" || r[0] === "D" || (r[0] === "A" && r[1] === filed)), [
    ["M", "alice/1", "Work", next, 0],
    ["M", "alice/2", "Lists/Rust", next, 1],
    ["A", filed, 300, ["alice/1"], 1600000000, [17]],
    ["M", "alice/1", "Jobs", filed + 1, 1],
    ["F", "alice/1", filed, 4],
    ["D", "alice/1", [filed]],
  ]);
  // The INBOX's last message goes too: its UIDNEXT must survive compaction (an M record for INBOX).
  store.deleteMessages("alice", [both]);
  const check = (s: MailStore, label: string) => {
    assert.deepEqual(s.index.folders, { "u:alice/1": "+Jobs", "u:alice/2": "+Lists/Rust", ...(label === "replayed" ? {} : { "u:alice": "+INBOX" }) }, label);
    assert.equal(s.index.next["u:alice/1"], filed + 1, label);
    assert.equal(s.index.next["u:alice/2"], both + 1, label);
    assert.equal(s.index.next["u:alice"], both + 1, label);
    assert.deepEqual(listing(s, "alice/2").map((m) => m.seq), [both], label);
    assert.deepEqual(listing(s, "alice").map((m) => m.seq), [inbox], label);
    assert.equal(s.usage("alice"), 700, label);
  };
  check(boot(dir).store, "replayed");
  const again = boot(dir).store;
  again.compactAfterBytes = 0;
  again.storeFlags("alice", inbox, 1);
  const compacted = journalRecords(dir, JOURNALS[again.journal.active]);
  assert.deepEqual(compacted.filter((r) => r[0] === "M"), [
    ["M", "alice", "INBOX", both + 1, 1],
    ["M", "alice/1", "Jobs", filed + 1, 1],
    ["M", "alice/2", "Lists/Rust", both + 1, 1],
  ], "folders survive compaction, sorted; bob's INBOX needs none");
  check(again, "compacted");
  check(boot(dir).store, "compacted and replayed");
  // Deleting a folder: one X record; its messages go with it, files only where no one else holds them.
  const third = boot(dir).store;
  const seen: string[] = [];
  third.onChange = (owner) => seen.push(owner);
  third.folder("alice/2", "", false);
  assert.deepEqual(seen, ["alice/2"]);
  assert.equal(third.index.folders["u:alice/2"], undefined);
  assert.equal(third.index.flags("bob", both), 0, "bob keeps his copy");
  assert.ok(fs.existsSync(path.join(dir, "LB", "MSG", fileName(both))));
  assert.deepEqual(journalRecords(dir, JOURNALS[third.journal.active]).slice(-1), [["X", "alice/2"]]);
  third.deleteMessages("bob", [both]);
  assert.equal(fs.existsSync(path.join(dir, "LB", "MSG", fileName(both))), false);
  const fourth = boot(dir).store;
  assert.deepEqual(Object.keys(fourth.index.folders).sort(), ["u:alice", "u:alice/1"]);
  assert.deepEqual(listing(fourth, "alice/2"), []);
  assert.equal(fourth.usage("alice"), 500);
  // A new folder in a deleted one's place starts empty, with UIDNEXT above every seq so far.
  fourth.folder("alice/2", "Again", false);
  assert.ok(fourth.index.next["u:alice/2"] > both);
});

test("UIDs only grow in every maildrop: a message committed after a higher seq takes a new one; its file keeps its name", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const first = store.beginMessage() as IncomingMessage;
  const second = store.beginMessage() as IncomingMessage;
  const slow = body(1, 2000);
  const quick = body(2, 100);
  first.write(slow);
  second.write(quick);
  const fileSeq = first.seq;
  second.commit(["alice"], 1700000002);
  first.commit(["alice", "bob"], 1700000001);
  assert.ok(first.seq > second.seq, "the later commit has the higher number");
  assert.notEqual(first.seq, fileSeq);
  const only = deliver(store, body(3, 50), ["bob"]); // bob had no higher seq: no new number needed later on
  assert.ok(only > first.seq, "never reused");
  const check = (s: MailStore, label: string) => {
    assert.deepEqual(listing(s, "alice").map((m) => m.seq), [second.seq, first.seq], label);
    assert.deepEqual(listing(s, "bob").map((m) => m.seq), [first.seq, only], label);
    assert.equal(readMessage(s, first.seq), slow, label);
    assert.equal(s.header(first.seq, -1), cacheOf(slow, 1700000001), label);
    assert.equal(s.index.next["u:alice"], first.seq + 1, label);
  };
  check(store, "committed");
  assert.deepEqual(messageFiles(dir), [fileName(fileSeq), fileName(second.seq), fileName(only), path.basename(headerPath(fileSeq))].sort(), "named by the number it was received under");
  assert.deepEqual(journalRecords(dir, JOURNALS[store.journal.active]).filter((r) => r[0] === "A" && r[1] === first.seq), [["A", first.seq, 2000, ["alice", "bob"], 1700000001, [0, 0], fileSeq]]);
  check(boot(dir).store, "replayed");
  const again = boot(dir).store;
  again.compactAfterBytes = 0;
  again.storeFlags("bob", first.seq, 1);
  assert.deepEqual(journalRecords(dir, JOURNALS[again.journal.active]).filter((r) => r[0] === "A" && r[1] === first.seq), [["A", first.seq, 2000, ["alice", "bob"], 1700000001, [0, 1], fileSeq]]);
  check(boot(dir).store, "compacted");
  const last = boot(dir).store;
  last.compactAfterBytes = 0;
  last.deleteMessages("alice", [first.seq]);
  last.deleteMessages("bob", [first.seq]);
  assert.equal(fs.existsSync(path.join(dir, "LB", "MSG", fileName(fileSeq))), false, "its file goes with it");
  assert.equal(last.index.file(first.seq), first.seq, "compaction forgets it");
  assert.deepEqual(listing(boot(dir).store, "alice").map((m) => m.seq), [second.seq]);
});

test("the index keeps every maildrop in ascending seq, whatever order a card written before IMAP committed in, and finds each by binary search", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const index = store.index;
  const order = [7, 3, 9, 1, 8, 2, 10, 5];
  for (const seq of order) index.add(seq, seq * 10, ["alice"]);
  const drop = store.maildrop("alice");
  assert.deepEqual([...Array(drop.count).keys()].map((i) => drop.seq(i)), [...order].sort((a, b) => a - b));
  assert.deepEqual([...Array(drop.count).keys()].map((i) => drop.size(i)), [1, 2, 3, 5, 7, 8, 9, 10].map((n) => n * 10));
  for (const seq of order) {
    index.setFlags("alice", seq, seq % 32);
    assert.equal(index.flags("alice", seq), seq % 32, `flags of ${seq}`);
  }
  for (const absent of [0, 4, 6, 11, 0x1000007]) assert.equal(index.flags("alice", absent), -1, `${absent} is not there`);
  index.remove("alice", [1, 10, 5]);
  assert.deepEqual([...Array(store.maildrop("alice").count).keys()].map((i) => store.maildrop("alice").seq(i)), [2, 3, 7, 8, 9]);
  assert.equal(index.bytes["u:alice"], (2 + 3 + 7 + 8 + 9) * 10);
  assert.equal(store.maildrop("alice").find(store.maildrop("alice").uid(4)), 4);
  // A seq whose bytes appear inside another entry (at no 8-byte boundary) is no match.
  index.add(0x0102, 0x0102, ["bob"]);
  assert.equal(index.flags("bob", 0x0102), 0);
  assert.equal(index.flags("bob", 0x01020000), -1);
});

test("the index in chunks: 2,000 messages in any order and far apart (a chunk spans at most 65,535 seqs), flag changes, removals and listings made before them agree with a plain model; closed chunks are packed", () => {
  const packed: number[] = [];
  packWith((s) => (packed.push(s.length), s));
  try {
    const index = new MailIndex();
    const model = new Map<number, { size: number; flags: number }>();
    const listing = () => [...model.keys()].sort((a, b) => a - b);
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    // Mostly ascending (deliveries), some below (a card written before IMAP), some far apart.
    const seqs: number[] = [];
    for (let i = 0; i < 2000; i++) seqs.push(i % 10 === 3 ? 1 + random(5000) * 2 : 10000 + i * 3 + (i % 50 === 0 ? 70000 : 0));
    const early = (drop: Maildrop) => [...Array(drop.count).keys()].map((i) => drop.seq(i));
    let before: { drop: Maildrop; seqs: number[] } | undefined;
    for (const [n, seq] of seqs.entries()) {
      if (model.has(seq)) continue;
      index.add(seq, seq % 1000, ["alice"]);
      model.set(seq, { size: seq % 1000, flags: 0 });
      if (n === 1000) before = { drop: new Maildrop(1, index.list("alice"), 0), seqs: listing() };
    }
    const chunks = index.entries["u:alice"];
    assert.ok(chunks.length > 8, `${chunks.length} chunks`);
    assert.ok(chunks.every((c) => c.length > 4 && c.length <= 2044 && (c.length - 4) % 6 === 0), "no chunk empty or over 2 KiB");
    assert.ok(packed.length >= chunks.length - 1 && packed.every((l) => l > 4 && l <= 2044), `packed: ${packed.slice(0, 5)}...`);
    const all = listing();
    for (const [i, seq] of all.entries()) if (i % 3 === 0) (index.setFlags("alice", seq, i % 32), (model.get(seq)!.flags = i % 32));
    const gone = all.filter((_, i) => i % 4 === 1).concat([1, 2, 999999]);
    index.remove("alice", gone);
    for (const seq of gone) model.delete(seq);
    const drop = new Maildrop(1, index.list("alice"), 0);
    assert.equal(drop.count, model.size);
    assert.deepEqual(early(drop), listing(), "a listing walks in order");
    const backwards = [...Array(drop.count).keys()].reverse().map((i) => [drop.seq(i), drop.size(i), drop.flags(i)]);
    assert.deepEqual(backwards, listing().reverse().map((seq) => [seq, model.get(seq)!.size, model.get(seq)!.flags]), "and backwards");
    for (const i of [0, 17, drop.count - 1, 400, 3]) assert.equal(drop.find(drop.uid(i)), i);
    for (const seq of [...model.keys()].slice(0, 300)) assert.equal(index.flags("alice", seq), model.get(seq)!.flags);
    for (const seq of gone) assert.equal(index.flags("alice", seq), -1);
    assert.equal(index.held(all[0]), model.has(all[0]));
    assert.deepEqual(early(before!.drop), before!.seqs, "a listing made earlier is as it was");
    assert.deepEqual(index.folder("alice", "", 0).sort((a, b) => a - b), listing(), "a folder's deletion gives back every seq");
  } finally {
    packWith((s) => s);
  }
});

test("a version 2 card (card-v2) opens with its flags, is rewritten as version 4, and takes folders", () => {
  const dir = tempDir();
  fs.cpSync(path.join(__dirname, "../../test/fixtures/card-v2/card"), dir, { recursive: true });
  const v2 = ["/LB/JRNL.A", "/LB/JRNL.B"].map((p) => journalRecords(dir, p)).filter((r) => r.length > 0);
  assert.ok(v2.some((r) => r[0][1] === 2));
  const flagged = v2.flatMap((r) => r.filter((x) => x[0] === "F" || (x[0] === "A" && x.length === 6)));
  assert.ok(flagged.length > 0, "the fixture has flags");
  const { store } = boot(dir);
  assert.equal(journalRecords(dir, JOURNALS[store.journal.active])[0][1], 4);
  let marked = 0;
  for (const user of ["dave", "erin", "frank"]) for (const m of listing(store, user)) if (store.index.flags(user, m.seq) > 0) marked++;
  assert.ok(marked > 0, "the read marks are kept");
  store.folder("dave/1", "Archive", true);
  const seq = listing(store, "dave")[0].seq;
  assert.equal(boot(dir).store.index.folders["u:dave/1"], "+Archive");
  assert.equal(boot(dir).store.index.flags("dave", seq), store.index.flags("dave", seq));
});

test("the header cache: built after the commit or on first use, read back from its file, rebuilt when damaged, removed with the message", () => {
  const dir = tempDir();
  const { store, card } = boot(dir);
  const head = "Received: by x\r\nFrom: a@example.org\r\nSubject: one\r\n two\r\nX-Other: 1\r\n\r\nbody\r\n";
  const seq = deliver(store, head, ["alice", "bob"]);
  const other = deliver(store, "To: b\r\n\r\n", ["alice"]);
  const expected = headerRecord("From: a@example.org\r\nSubject: one\r\n two\r\n", 1700000000, true);
  const hostPath = (p: string) => path.join(dir, ...p.slice(1).split("/"));
  assert.equal(path.basename(headerPath(0x1a)), "0000001A.HDR");
  // After the commit (the mailbox's timer calls this).
  store.header(seq, 1700000000);
  assert.equal(fs.readFileSync(hostPath(headerPath(seq)), "latin1"), expected);
  const opened: string[] = [];
  const watched = boot(dir, (op, p) => void (op === "open" && opened.push(p)));
  opened.length = 0; // the boot's
  assert.equal(watched.store.header(seq, -1), expected);
  assert.deepEqual(opened, [headerPath(seq)], "read from the cache file: the message is not opened");
  // On first use: the time comes from the journal's A record.
  opened.length = 0;
  assert.ok(!fs.existsSync(hostPath(headerPath(other))));
  assert.equal(watched.store.header(other, -1), headerRecord("To: b\r\n", 1700000000, true));
  assert.deepEqual(opened.filter((p) => !p.startsWith("/LB/JRNL")), [messagePath(other), headerPath(other)]);
  assert.equal(fs.readFileSync(hostPath(headerPath(other)), "latin1"), headerRecord("To: b\r\n", 1700000000, true));
  // Damaged (cut short by a power cut, or garbage): built again.
  fs.writeFileSync(hostPath(headerPath(seq)), expected.substring(0, expected.length - 3), "latin1");
  assert.equal(store.header(seq, -1), expected);
  assert.equal(fs.readFileSync(hostPath(headerPath(seq)), "latin1"), expected);
  fs.writeFileSync(hostPath(headerPath(seq)), "", "latin1");
  assert.equal(store.header(seq, -1), expected);
  fs.writeFileSync(hostPath(headerPath(seq)), "\x00" + expected.substring(1), "latin1");
  assert.equal(store.header(seq, -1), expected, "version 0 is no version");
  // A later version keeps the prefix and adds after it (issue 17's BODYSTRUCTURE): read as it is.
  fs.writeFileSync(hostPath(headerPath(seq)), "\x02" + expected.substring(1) + "more", "latin1");
  assert.equal(store.header(seq, -1), "\x02" + expected.substring(1) + "more");
  fs.writeFileSync(hostPath(headerPath(seq)), expected, "latin1");
  // A known time leaves an existing cache alone; nothing is built for a message that is gone.
  store.header(seq, 5);
  assert.equal(store.header(seq, -1), expected);
  // Removed with the message: kept while one holder is left, gone with the last one.
  store.deleteMessages("alice", [seq]);
  assert.ok(fs.existsSync(hostPath(headerPath(seq))));
  store.deleteMessages("bob", [seq]);
  assert.deepEqual(messageFiles(dir), [fileName(other), path.basename(headerPath(other))]);
  assert.equal(store.header(seq, -1), "", "gone");
  store.header(seq, 1);
  assert.deepEqual(messageFiles(dir), [fileName(other), path.basename(headerPath(other))]);
  assert.equal(card.openFiles, 0);
});

test("a message deleted while a handle reads it stays readable until that handle closes, then its files go", () => {
  const dir = tempDir();
  const { store } = boot(dir);
  const data = body(1, 5000);
  const seq = deliver(store, data, ["alice"]);
  store.header(seq, -1);
  const reader = store.openMessage(seq)!;
  const second = store.openMessage(seq)!;
  assert.equal(reader.read(100), data.substring(0, 100));
  store.deleteMessages("alice", [seq]);
  assert.deepEqual(listing(store, "alice"), []);
  assert.deepEqual(messageFiles(dir), [fileName(seq), path.basename(headerPath(seq))], "FatFs must not unlink an open file");
  let rest = "";
  for (let chunk = reader.read(700); chunk !== undefined; chunk = reader.read(700)) rest += chunk;
  assert.equal(rest, data.substring(100));
  reader.close();
  assert.equal(messageFiles(dir).length, 2, "another handle is still open");
  second.close();
  assert.deepEqual(messageFiles(dir), []);
  assert.equal(store.files.open, 0);
  // A restart in between would have removed them at the boot's compaction (the D record).
  const seq2 = deliver(store, data, ["alice"]);
  const held = store.openMessage(seq2)!;
  store.deleteMessages("alice", [seq2]);
  assert.equal(messageFiles(dir).length, 1);
  const { store: after } = boot(dir);
  assert.deepEqual(messageFiles(dir), []);
  assert.deepEqual(listing(after, "alice"), []);
  void held;
});

test("a card error makes the store not ready; open() again recovers", () => {
  const dir = tempDir();
  let failWrites = false;
  const card = new SimCard({
    dir,
    beforeOperation: (op) => {
      if (failWrites && op === "write") throw new Error("I/O error");
    },
  });
  const logs: string[] = [];
  const store = new MailStore(card, (l) => logs.push(l), () => EPOCH);
  assert.throws(() => store.maildrop("alice"), /not ready/);
  assert.ok(store.open());
  const kept = deliver(store, "kept", ["alice"]);
  const incoming = store.beginMessage() as IncomingMessage;
  failWrites = true;
  assert.throws(() => incoming.write("lost"), /I\/O error/);
  assert.equal(store.ready, false);
  incoming.abort();
  assert.throws(() => store.beginMessage(), /not ready/);
  failWrites = false;
  assert.ok(store.open());
  assert.deepEqual(listing(store, "alice").map((m) => m.seq), [kept]);
  assert.deepEqual(messageFiles(dir), [fileName(kept)]);
});

class PowerCut extends Error {}

/** A commit in flight at the cut (a delivery, an APPEND, one message of a COPY): on the card or not, whole, once per owner. */
interface Pending {
  owners: string[];
  data: string;
  time: number;
  flags: number;
  /** Keyword names, sorted, joined by spaces ("" none). */
  keys: string;
}

interface Expectation {
  /** owner (user or user/n) -> seq -> body of messages whose commit() returned and that no confirmed deletion removed. */
  live: Map<string, Map<number, string>>;
  /** Commits in flight at the cut. */
  pending: Pending[];
  /** Deletions in progress at the cut: owner -> seqs that may or may not be gone. */
  maybeDeleted: Map<string, Set<number>>;
  uids: Map<number, string>;
  /** "owner seq" -> stored flag bits confirmed (a missing key: 0). */
  flags: Map<string, number>;
  /** "owner seq" -> keyword names confirmed, sorted and joined by spaces (a missing key: none). */
  keys: Map<string, string>;
  /** A flag change in progress at the cut: either bits (and keywords) may be on the card. */
  flagging: { key: string; bits: number; keys: string } | undefined;
  /** seq -> arrival time of every message committed. */
  times: Map<number, number>;
  /** Folder owner -> its name as the index keeps it ("+" subscribed or "-", then the name), for every folder confirmed. */
  folders: Map<string, string>;
  /** A folder record in flight: the folder may be as before or as after (undefined: no such folder). */
  folderChange: { owner: string; before: string | undefined; after: string | undefined } | undefined;
  /** owner -> the highest seq it was confirmed to hold: UIDNEXT stays above it. */
  highest: Map<string, number>;
}

function expectation(): Expectation {
  return {
    live: new Map(),
    pending: [],
    maybeDeleted: new Map(),
    uids: new Map(),
    flags: new Map(),
    keys: new Map(),
    flagging: undefined,
    times: new Map(),
    folders: new Map(),
    folderChange: undefined,
    highest: new Map(),
  };
}

interface Box {
  card: SimCard;
  hal: TestHal;
  mailbox: Mailbox;
  store: MailStore;
}

/** The store under a Mailbox (for COPY) on manual timers and clock. */
function bootBox(dir: string, beforeOperation?: (op: CardOperation, cardPath: string) => void): Box {
  const card = new SimCard({ dir, beforeOperation });
  const hal = testHal({ card, timers: "manual", clock: 1700000000, random: EPOCH, log: "drop" });
  const mailbox = new Mailbox(hal, testConfig());
  assert.equal(mailbox.card.open(), true);
  return { card, hal, mailbox, store: mailbox.store };
}

/**
 * A small workload: deliveries for one and several users, two at once
 * committed out of order, an abort, listings, flags, deletions; IMAP's
 * folders created, renamed and deleted, APPEND with flags, COPY (the
 * mailbox's, on timers), flags and expunge in a folder. Stops at the power cut.
 */
function workload(box: Box, expect: Expectation): void {
  const { store, hal, mailbox } = box;
  const confirm = (seq: number, p: Pending) => {
    expect.times.set(seq, p.time);
    for (const owner of p.owners) {
      if (!expect.live.has(owner)) expect.live.set(owner, new Map());
      expect.live.get(owner)!.set(seq, p.data);
      if (p.flags !== 0) expect.flags.set(`${owner} ${seq}`, p.flags);
      if (p.keys !== "") expect.keys.set(`${owner} ${seq}`, p.keys);
      expect.highest.set(owner, Math.max(seq, expect.highest.get(owner) ?? 0));
    }
  };
  const begin = (n: number) => {
    const data = body(n, 200 + n * 150);
    const incoming = store.beginMessage() as IncomingMessage;
    for (let i = 0; i < data.length; i += 300) incoming.write(data.slice(i, i + 300));
    return { incoming, data, n };
  };
  const sorted = (names: string[]) => names.map((x) => x.toLowerCase()).sort().join(" "); // any letter case: the first spelling stays
  const finish = (m: { incoming: IncomingMessage; data: string; n: number }, owners: string[], flags = 0, time = 1700000000 + m.n, keywords: string[] = []) => {
    const p = { owners, data: m.data, time, flags, keys: sorted(keywords) };
    expect.pending = [p];
    // APPEND: the names take their slots (K records) first, then one A record.
    const keys = keywords.length > 0 ? store.keywordBits(owners[0].split("/")[0], keywords, true) : 0;
    m.incoming.commit(owners, time, flags, keys);
    expect.pending = [];
    confirm(m.incoming.seq, p);
    return m.incoming.seq;
  };
  const commit = (n: number, owners: string[], flags = 0, time = 1700000000 + n, keywords: string[] = []) => finish(begin(n), owners, flags, time, keywords);
  const remove = (owner: string, seqs: number[]) => {
    expect.maybeDeleted.set(owner, new Set(seqs));
    store.deleteMessages(owner, seqs);
    expect.maybeDeleted.delete(owner);
    for (const seq of seqs) expect.live.get(owner)!.delete(seq);
  };
  const look = (owner: string) => {
    for (const m of listing(store, owner)) expect.uids.set(m.seq, m.uid);
  };
  /** `keywords` undefined: they stay as they are (STORE of flags only). */
  const flag = (owner: string, seq: number, bits: number, keywords?: string[]) => {
    const key = `${owner} ${seq}`;
    const names = keywords === undefined ? (expect.keys.get(key) ?? "") : sorted(keywords);
    expect.flagging = { key, bits, keys: names };
    const keys = keywords === undefined ? undefined : store.keywordBits(owner.split("/")[0], keywords, true);
    store.storeFlags(owner, seq, bits, keys);
    expect.flagging = undefined;
    expect.flags.set(key, bits);
    expect.keys.set(key, names);
  };
  const folder = (owner: string, name: string | undefined) => {
    expect.folderChange = { owner, before: expect.folders.get(owner), after: name };
    store.folder(owner, name === undefined ? "" : name.slice(1), name !== undefined && name[0] === "+");
    expect.folderChange = undefined;
    if (name !== undefined) expect.folders.set(owner, name);
    else {
      expect.folders.delete(owner);
      expect.live.delete(owner);
    }
  };
  const copy = (user: string, id: number, seqs: number[], dest: number) => {
    const source = id > 0 ? `${user}/${id}` : user;
    const target = dest > 0 ? `${user}/${dest}` : user;
    const drop = mailbox.openMaildrop(user, Access.Shared, id)!;
    const indexes = seqs.map((seq) => [...Array(drop.list.count).keys()].find((i) => drop.list.seq(i) === seq)!);
    const copies = seqs.map((seq) => ({ owners: [target], data: expect.live.get(source)!.get(seq)!, time: expect.times.get(seq)!, flags: expect.flags.get(`${source} ${seq}`) ?? 0, keys: expect.keys.get(`${source} ${seq}`) ?? "" }));
    expect.pending = copies;
    let result: { uids: number[] | undefined; error: string } | undefined;
    drop.copyTo(indexes, dest, (uids, error) => void (result = { uids, error }));
    while (result === undefined && hal.timers.runNext());
    if (result!.error !== "") {
      if (/power cut|no power|not ready|card unusable/.test(result!.error)) throw new PowerCut(result!.error);
      assert.fail(`copy failed: ${result!.error}`);
    }
    expect.pending = [];
    result!.uids!.forEach((uid, i) => confirm(uid, copies[i]));
  };
  const m1 = commit(1, ["alice"]);
  store.header(m1, 1700000001); // as the mailbox does after a commit
  const m2 = commit(2, ["alice", "bob"]);
  const aborted = store.beginMessage() as IncomingMessage;
  aborted.write("never finished");
  aborted.abort();
  look("alice");
  flag("alice", m2, 1);
  flag("bob", m2, 4);
  flag("alice", m2, 1, ["Work", "$Forwarded"]); // keywords: two K records, then F
  folder("alice/1", "-Work");
  const m3 = commit(3, ["bob"]);
  const appended = commit(6, ["alice/1"], 1 | 16, 1600000000, ["$Junk", "work"]); // APPEND with flags, keywords (one known in another case) and a date
  copy("alice", 0, [m2, m1], 1);
  remove("alice", [m1, m2]);
  const m4 = commit(4, ["alice", "bob", "carol"]);
  store.header(m4, -1); // built on first use
  flag("bob", m4, 9, ["todo"]);
  look("bob");
  folder("alice/1", "+Jobs");
  flag("alice/1", appended, 4, ["$Junk"]); // a keyword cleared
  flag("alice", m4, 0, ["WORK"]);
  look("alice/1");
  remove("alice/1", [appended]); // EXPUNGE
  remove("bob", [m2, m3]);
  flag("bob", m4, 1); // the keywords stay
  // Two deliveries at once, the later-begun committed first: the other takes a new number.
  const slow = begin(7);
  const quick = begin(8);
  finish(quick, ["carol"]);
  finish(slow, ["carol", "alice/1"]);
  folder("alice/2", "+Trash");
  copy("alice", 0, [m4], 2);
  folder("alice/2", undefined);
  commit(5, ["carol"]);
  look("carol");
}

function checkAfterCut(dir: string, expect: Expectation, label: string): void {
  const { store } = boot(dir);
  const files = new Set<number>();
  const change = expect.folderChange;
  const named = (owner: string) => store.index.folders["u:" + owner];
  for (const [owner, name] of expect.folders) if (change?.owner !== owner) assert.equal(named(owner), name, `${label}: folder ${owner}`);
  let gone = "";
  if (change !== undefined) {
    assert.ok(named(change.owner) === change.before || named(change.owner) === change.after, `${label}: folder ${change.owner} is ${named(change.owner)}`);
    if (named(change.owner) === undefined) gone = change.owner;
  }
  const owners = new Set(["alice", "bob", "carol", ...expect.live.keys(), ...expect.folders.keys(), ...(change ? [change.owner] : [])]);
  for (const key of Object.keys(store.index.folders)) if (key.includes("/")) assert.ok(owners.has(key.slice(2)), `${label}: folder ${key} was never created`);
  const seen = new Map<Pending, Set<string>>();
  for (const owner of owners) {
    const list = listing(store, owner);
    const seqs = list.map((m) => m.seq);
    assert.equal(new Set(seqs).size, seqs.length, `${label}: ${owner} sees a message twice`);
    const live = owner === gone ? new Map<number, string>() : (expect.live.get(owner) ?? new Map<number, string>());
    const maybe = expect.maybeDeleted.get(owner) ?? new Set<number>();
    for (const seq of live.keys()) {
      if (maybe.has(seq)) continue;
      assert.ok(seqs.includes(seq), `${label}: ${owner} lost committed message ${seq}`);
    }
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `${label}: ${owner}'s UIDs ascend`);
    for (const m of list) {
      const content = readMessage(store, m.seq);
      const key = `${owner} ${m.seq}`;
      let data = live.get(m.seq);
      let time = expect.times.get(m.seq) ?? -1;
      let confirmed = expect.flags.get(key) ?? 0;
      let names = expect.keys.get(key) ?? "";
      if (data === undefined) {
        const p = expect.pending.find((c) => c.owners.includes(owner) && c.data === content && !seen.get(c)?.has(owner));
        assert.ok(p, `${label}: ${owner} sees message ${m.seq} that was not committed or was deleted`);
        if (!seen.has(p)) seen.set(p, new Set());
        seen.get(p)!.add(owner);
        data = p.data;
        time = p.time;
        confirmed = p.flags;
        names = p.keys;
      }
      assert.equal(m.size, data.length, `${label}: size of ${m.seq}`);
      assert.equal(content, data, `${label}: content of ${m.seq}`);
      if (expect.uids.has(m.seq)) assert.equal(m.uid, expect.uids.get(m.seq), `${label}: UIDL of ${m.seq} changed`);
      assert.equal(store.header(m.seq, -1), cacheOf(data, time), `${label}: header cache of ${m.seq}`);
      const flags = store.index.flags(owner, m.seq);
      if (expect.flagging?.key === key) assert.ok(flags === confirmed || flags === expect.flagging.bits, `${label}: flags of ${key}: ${flags}`);
      else assert.equal(flags, confirmed, `${label}: flags of ${key}`);
      // Every keyword bit has its name in the user's table.
      const bits = store.keywords.of(owner, m.seq);
      const text = store.keywords.text(owner.split("/")[0], bits);
      assert.equal(text.split(" ").length - 1, bits.toString(2).replace(/0/g, "").length, `${label}: keyword bits of ${key} without a name: ${bits} ${text}`);
      const got = text.slice(1).split(" ").filter((x) => x !== "").map((x) => x.toLowerCase()).sort().join(" ");
      if (expect.flagging?.key === key) assert.ok(got === names || got === expect.flagging.keys, `${label}: keywords of ${key}: ${got}`);
      else assert.equal(got, names, `${label}: keywords of ${key}`);
      files.add(store.index.file(m.seq));
    }
    assert.equal(store.index.bytes["u:" + owner] ?? 0, list.reduce((sum, m) => sum + m.size, 0), `${label}: bytes of ${owner}`);
    const highest = expect.highest.get(owner);
    if (highest !== undefined && owner !== gone) assert.ok((store.index.next["u:" + owner] ?? 0) > highest, `${label}: UIDNEXT of ${owner}`);
  }
  for (const [p, by] of seen) for (const owner of p.owners) if (owner !== gone) assert.ok(by.has(owner), `${label}: a commit reached ${[...by]} but not ${owner}`);
  assert.deepEqual(
    messageFiles(dir).filter((f) => f.endsWith(".EML")),
    [...files].sort((a, b) => a - b).map(fileName),
    `${label}: data files are exactly the live messages`,
  );
  for (const f of messageFiles(dir)) assert.ok(files.has(parseInt(f, 16)), `${label}: ${f} belongs to no live message`);
}

test("power cut at every changing card operation of a workload, and again during recovery", () => {
  // Count the operations of the whole workload first.
  let total = 0;
  {
    const dir = tempDir();
    const box = bootBox(dir, () => void total++);
    total = 0;
    workload(box, expectation());
  }
  assert.ok(total > 30, `the workload has ${total} card operations`);
  let tried = 0;
  let passed = 0;
  let recoveryCuts = 0;
  for (let k = 1; k <= total; k++) {
    tried++;
    const dir = tempDir();
    let count = 0;
    let armed = false;
    let card!: SimCard;
    const booted = bootBox(dir, () => {
      if (armed && ++count === k) {
        card.powerOff();
        throw new PowerCut(`power cut at operation ${k}`);
      }
    });
    card = booted.card;
    armed = true;
    const expect = expectation();
    try {
      workload(booted, expect);
      assert.fail(`operation ${k} was never reached`);
    } catch (e) {
      if (!(e instanceof PowerCut) && !/no power|not ready/.test(String(e))) throw e;
    }
    // A second cut at every operation of the first recovery, for every fifth k (to keep the run short).
    if (k % 5 === 0) {
      for (let j = 1; ; j++) {
        const copy = tempDir();
        fs.cpSync(dir, copy, { recursive: true });
        let ops = 0;
        const cutCard = new SimCard({
          dir: copy,
          beforeOperation: () => {
            if (++ops === j) {
              cutCard.powerOff();
              throw new PowerCut("cut during recovery");
            }
          },
        });
        const opened = new MailStore(cutCard, () => {}, () => EPOCH).open();
        if (!opened) {
          recoveryCuts++;
          checkAfterCut(copy, expect, `cut at operation ${k}, then at ${j} in recovery`);
        }
        fs.rmSync(copy, { recursive: true, force: true });
        if (opened) break; // recovery finished before operation j
      }
    }
    checkAfterCut(dir, expect, `cut at operation ${k}`);
    checkAfterCut(dir, expect, `cut at operation ${k}, second boot`);
    passed++;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`power cuts: ${tried} cut points tried, ${passed} passed (plus ${recoveryCuts} cuts during recovery)`);
  assert.equal(passed, tried);
});
