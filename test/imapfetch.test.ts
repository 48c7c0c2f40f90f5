/**
 * IMAP FETCH (firmware/imapfetch.ts) over a real MailStore on a simulated
 * card: every item, partials at their edges, \Seen, UID sets, a message
 * expunged meanwhile, the waits for a file and for a structure (through
 * the Sender), flat memory for FETCH 1:* (FLAGS) on 10,000 messages and a
 * 25 MB BODY[]; and the same transcript from the core compiled to Lua
 * (the C VM with LUA_32BITS).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { SimCard } from "../sim/card";
import { Access, type Maildrop } from "../firmware/mailbox";
import { fetchJob, nextInSet, parseFetchItems, type FetchItem, type SelectedView } from "../firmware/imapfetch";
import { Sender } from "../firmware/sender";
import { tempDir } from "./helpers/fixtures";
import { compileWorkload, luaWithCard, ROOT, runLua } from "./helpers/lua-workload";
import { fetchWorkload, flatWorkload, workloadBox, workloadMessages } from "./portable/imap-workload";

/** Checks every literal's announced count against what follows it (then " ", ")" must come); returns the text with literals as <n octets>. */
function literalsExact(out: string): string {
  let shown = "";
  let p = 0;
  for (let open = out.indexOf("{", p); open >= 0; open = out.indexOf("{", p)) {
    const close = out.indexOf("}\r\n", open);
    const n = Number(out.substring(open + 1, close));
    assert.ok(Number.isInteger(n) && n > 0, `a literal count at ${open}: ${out.substring(open, close + 1)}`);
    const after = out.charAt(close + 3 + n);
    assert.ok(after === " " || after === ")", `literal of ${n} at ${open} is followed by ${JSON.stringify(out.substring(close + 3 + n - 10, close + 3 + n + 10))}`);
    shown += out.substring(p, open) + `<${n}>`;
    p = close + 3 + n;
  }
  return shown + out.substring(p);
}

function itemsOf(args: (string | string[])[]): FetchItem[] {
  const items = parseFetchItems(args);
  assert.ok(typeof items !== "string", String(items));
  return items as FetchItem[];
}

function viewOf(drop: Maildrop, readOnly = false, sendChunk = 1024): SelectedView {
  return { maildrop: drop, readOnly, recent: () => false, sendChunk };
}

test("FETCH: every item, partials, HEADER.FIELDS (.NOT), \\Seen, UID sets, an expunged message: literal counts exact", () => {
  const out = fetchWorkload(new SimCard({ dir: tempDir("imapfetch") }));
  const shown = literalsExact(out);
  const messages = workloadMessages();
  // Octets as stored, CRLF untouched, bare LFs as they came.
  assert.ok(out.includes(`* 1 FETCH (BODY[] {${messages[0].length}}\r\n${messages[0]})\r\na1 OK FETCH completed\r\n`));
  assert.ok(out.includes(`* 2 FETCH (BODY[]<0> {10}\r\nSubject: b BODY[]<5> "" BODY[]<1000> "" BODY[]<10> {38}\r\n${messages[1].substring(10)} BODY[]<0> {48}\r\n${messages[1]})`));
  assert.ok(out.includes(`* 1 FETCH (FLAGS (\\Recent) UID 1 RFC822.SIZE ${messages[0].length} INTERNALDATE " 1-Dec-2025 10:00:00 +0000")\r\n`));
  assert.ok(out.includes(`* 5 FETCH (UID 5 FLAGS ())\r\na1 OK FETCH completed\r\n`), "UID mode puts the UID first");
  assert.ok(out.includes(`* 3 FETCH (UID 3 FLAGS () INTERNALDATE " 1-Dec-2025 12:00:00 +0000" RFC822.SIZE ${messages[2].length} ENVELOPE (NIL "many hops" ((NIL NIL "far" "example.net")) ((NIL NIL "far" "example.net")) ((NIL NIL "far" "example.net")) NIL NIL NIL NIL NIL))\r\n* 4 FETCH`), "3:* in UID mode");
  // The structure's strings as mimestruct.ts makes them (compared with Dovecot's there); parts by their ranges, nested in a message/rfc822.
  assert.ok(out.includes(`RFC822.SIZE 190 ENVELOPE ("Tue, 1 Dec 2026 09:59:00 +0100" "spaced name" (("Alice" NIL "alice" "example.org"))`));
  assert.ok(out.includes(` BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 30 2))\r\n* 4 FETCH`));
  assert.ok(out.includes(`* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 30 2 NIL NIL NIL NIL) BODY ("text"`));
  const mime = messages[4];
  const at = (s: string) => mime.indexOf(s);
  const inner = mime.substring(at("From: dave"), at("\r\n\r\n--outer\r\nContent-Type: application") + 2);
  assert.ok(out.includes(`* 5 FETCH (BODY[1] {10}\r\nfirst part BODY[1.MIME] {46}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n BODY[2] {${inner.length}}\r\n${inner} BODY[2.HEADER] {95}\r\n${inner.substring(0, 95)} BODY[2.TEXT] {${inner.length - 95}}\r\n${inner.substring(95)} BODY[2.MIME] {64}\r\nContent-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n)`));
  assert.ok(out.includes(`* 5 FETCH (BODY[2.1] {10}\r\ninner text BODY[2.2] {17}\r\n<p>inner html</p> BODY[2.2.MIME] {27}\r\nContent-Type: text/html\r\n\r\n BODY[2.HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: inner\r\n\r\n BODY[3]<4> {6}\r\nAwQFBg BODY[3]<100> "")`));
  assert.ok(out.includes(`* 5 FETCH (BODY[4] NIL BODY[2.3] NIL BODY[1.1] NIL BODY[1.HEADER] NIL BODY[3.TEXT] NIL BODY[2.1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n BODY[TEXT]<0> {8}\r\npreamble)`));
  assert.ok(shown.includes(`* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] <80> BODY[HEADER.FIELDS.NOT (SUBJECT FROM X-FOLDED)] <61>)`));
  assert.ok(out.includes("From: Alice <alice@example.org>\r\nSubject: Hello there\r\nsubject : spaced name\r\n\r\n BODY[HEADER.FIELDS.NOT"), "fields in message order, white space before the colon, the blank line");
  assert.ok(out.includes("{61}\r\nTo: bob@example.org\r\nDate: Tue, 1 Dec 2026 09:59:00 +0100\r\n\r\n)"), ".NOT drops the named fields and their continuation lines");
  assert.ok(out.includes(`{9}\r\nject: Hel BODY[HEADER.FIELDS (SUBJECT)]<500> "" BODY[HEADER.FIELDS (NOTHING)] {2}\r\n\r\n)`), "a partial of a filtered header");
  // 80 Received lines: more than is kept from one reading, so read twice (count, then send).
  let received = "";
  for (let n = 0; n < 80; n++) received += `Received: from relay${n}.example by mx.example with SMTP id ${n * 7919}\r\n`;
  received += "\r\n";
  assert.ok(received.length > 1024, "more than a filtered header kept from one reading");
  assert.ok(out.includes(`* 3 FETCH (BODY[HEADER.FIELDS (RECEIVED)] {${received.length}}\r\n${received} BODY[HEADER.FIELDS (RECEIVED)]<1000> {200}\r\n${received.substring(1000, 1200)} BODY[HEADER.FIELDS (RECEIVED)]<6000> "" BODY[HEADER.FIELDS.NOT (RECEIVED)] {45}\r\nSubject: many hops\r\nFrom: far@example.net\r\n\r\n)`));
  assert.ok(out.includes(`* 4 FETCH (BODY[HEADER] {${messages[3].length}}\r\n${messages[3]} BODY[TEXT] "" RFC822.HEADER`), "a message without a body: all header");
  assert.ok(out.includes(`* 1 FETCH (BODY[1] {30}\r\nBody line one\r\nBody line two\r\n BODY[1.MIME] {160}\r\n${messages[0].substring(0, 160)} BODY[2] NIL)`), "a single part's MIME header is the message's; a part that is not there is NIL");
  // \Seen: not on EXAMINE, set by BODY[] (FLAGS asked: as they are now), RFC822.TEXT and RFC822 (FLAGS added).
  assert.ok(out.includes("a1 OK FETCH completed\r\n* 1 FETCH (BODY[TEXT] {30}\r\nBody line one\r\nBody line two\r\n)\r\na1 OK FETCH completed\r\n* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] {30}"));
  assert.ok(out.includes("* 2 FETCH (RFC822.TEXT {13}\r\nbare LF body\n FLAGS (\\Seen))\r\n"));
  assert.ok(shown.includes("* 3 FETCH (UID 3 RFC822 <" + messages[2].length + ">" ) && shown.includes("> FLAGS (\\Seen))\r\n"));
  assert.ok(out.includes("* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n* 2 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (FLAGS (\\Seen))\r\n* 4 FETCH (FLAGS ())\r\n* 5 FETCH (FLAGS ())\r\na1 OK"));
  // Message 2 deleted by another opener: skipped, the command answers NO.
  assert.ok(out.includes("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))\r\n* 3 FETCH (UID 3 FLAGS (\\Seen))\r\n* 4 FETCH (UID 4 FLAGS ())\r\n* 5 FETCH (UID 5 FLAGS ())\r\na1 NO [EXPUNGEISSUED] Some of the requested messages no longer exist\r\na1 NO [EXPUNGEISSUED]"));
  assert.ok(!out.includes("<blocked>"));
  const bad = out.substring(out.indexOf("BAD "));
  assert.equal(
    bad,
    [
      "BAD FETCH takes a sequence set and one item or a list of items", "BAD FETCH takes a sequence set and one item or a list of items",
      "BAD Empty list of FETCH items", "BAD Unknown FETCH item ALL2", "BAD Unknown FETCH item ALL", "BAD Invalid FETCH item (a list)",
      "BAD Invalid section in BODY", "BAD Invalid section in BODY", "BAD Invalid section in BODY", "BAD HEADER.FIELDS needs a list of field names",
      "BAD HEADER.FIELDS needs a list of field names", "BAD Invalid partial in BODY", "BAD Invalid partial in BODY", "BAD Unknown FETCH item BODY.PEEK[TEXT",
      "BAD Invalid section in BODY", "BAD Invalid header field name", "BAD Unknown FETCH item BINARY[]", "BAD Invalid part number in BODY",
      "BODY[1.2.HEADER.FIELDS (A B)]<7> 12 1.2", "RFC822.SIZE 3 ", "BODY[2.MIME] 15 2 seen", "BODY[3.TEXT] 14 3 seen", "BODY[4.HEADER] 11 4 seen", "",
    ].join("\n"),
  );
});

test("FETCH gives the same transcript on the Lua VM with the board's numbers", () => {
  const expected = fetchWorkload(new SimCard({ dir: tempDir("imapfetch-node") }));
  const bundle = compileWorkload(path.join(ROOT, "test/portable/imap-workload.ts"));
  const lvm = luaWithCard(new SimCard({ dir: tempDir("imapfetch-lua") }));
  assert.equal(runLua(lvm, bundle, "workload.fetchWorkload(nil, card)"), expected);
});

test("sets: ranges either way round, *, UIDs by binary search, nothing past the end", () => {
  const box = workloadBox(new SimCard({ dir: tempDir("imapfetch-set") }));
  box.store.deleteMessages("alice", [2]); // UIDs 1 3 4 5
  const drop = box.openMaildrop("alice", Access.Shared)!;
  const walk = (set: number[], byUid: boolean) => {
    const seen: number[] = [];
    for (let i = nextInSet(drop, set, byUid, -1); i >= 0; i = nextInSet(drop, set, byUid, i)) seen.push(i);
    return seen;
  };
  assert.deepEqual(walk([1, -1], false), [0, 1, 2, 3]);
  assert.deepEqual(walk([3, 1], false), [0, 1, 2]);
  assert.deepEqual(walk([2, 2, 9, 12], false), [1]);
  assert.deepEqual(walk([2, 2], true), []);
  assert.deepEqual(walk([2, 3, 4, 4], true), [1, 2]);
  assert.deepEqual(walk([99, -1], true), [3], "99:* holds the largest UID (RFC 3501 6.4.8)");
  assert.deepEqual(walk([-1, -1, 1, 1], true), [0, 3]);
  assert.deepEqual(walk([6, 2147483647], true), []);
  assert.deepEqual(walk([2147483647, 5], true), [3]);
});

test("FETCH waits, without spinning, for a message file (the budget of 3) and for a structure being built", () => {
  const box = workloadBox(new SimCard({ dir: tempDir("imapfetch-wait") }));
  const drop = box.openMaildrop("alice", Access.Shared)!;
  let building = true;
  const structured = drop as unknown as { structure: (i: number) => unknown };
  const real = structured.structure;
  structured.structure = (i: number) => (building ? undefined : real.call(drop, i));
  // The message's own header fields need no structure: read while it is being built.
  const fields = fetchJob(viewOf(drop), "h", [1, 1], false, itemsOf(["BODY.PEEK[HEADER.FIELDS (Subject)]"]));
  let headerOut = "";
  for (let c = fields.next(); c !== undefined; c = fields.next()) headerOut += c;
  fields.release();
  assert.equal(headerOut, "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {47}\r\nSubject: Hello there\r\nsubject : spaced name\r\n\r\n)\r\nh OK FETCH completed\r\n");
  // The three message files taken by others.
  const held = [box.store.openMessage(1)!, box.store.openMessage(3)!, box.store.openMessage(4)!];
  assert.equal(box.store.openMessage(2), undefined);
  const sent: string[] = [];
  let completions = 0;
  const sender = new Sender({ send: (d) => void sent.push(d), close: () => {} });
  const job = fetchJob(viewOf(drop), "t", [1, 2], false, itemsOf([["UID", "BODY.PEEK[]", "BODY.PEEK[TEXT]"]]));
  let calls = 0;
  const next = job.next.bind(job);
  job.next = () => (calls++, next());
  sender.stream(() => job);
  const pump = () => {
    while (sent.length > completions) completions++, sender.onSent();
  };
  pump();
  assert.equal(sent.join(""), "", "the first message's structure is being built: nothing of its response yet");
  assert.ok(calls <= 3, `next() is not called over and over while it waits (${calls})`);
  pump();
  assert.ok(calls <= 3);
  building = false;
  sender.retry();
  pump();
  assert.equal(sent.join(""), `* 1 FETCH (UID 1 BODY[] {${workloadMessages()[0].length}}\r\n`, "what needs no file went out");
  const before = calls;
  sender.retry(); // a retry that finds no file free waits again
  pump();
  assert.ok(calls <= before + 2);
  held.pop()!.close();
  sender.retry();
  pump();
  const out = sent.join("");
  literalsExact(out);
  assert.ok(out.endsWith("\r\nt OK FETCH completed\r\n"), out.slice(-200));
  assert.ok(out.includes(" BODY[TEXT] {30}\r\nBody line one\r\nBody line two\r\n)\r\n* 2 FETCH (UID 2 BODY[] {48}"));
  for (const f of held) f.close();
  assert.ok(box.store.openMessage(1) !== undefined, "the job gave its file back");
});

test("a source's empty chunk yields the loop when the Sender has a defer (a long search), and goes on at once without one", () => {
  for (const withDefer of [true, false]) {
    const deferred: (() => void)[] = [];
    const sent: string[] = [];
    const sender = new Sender({ send: (d) => void sent.push(d), close: () => {} }, withDefer ? (f) => void deferred.push(f) : undefined);
    let n = 0;
    sender.stream(() => ({ next: () => (++n > 6 ? undefined : n % 2 === 0 ? "x" + n : ""), release: () => {} }));
    for (let rounds = 0; rounds < 20; rounds++) {
      if (sent.length > 0 && rounds % 2 === 0) sender.onSent();
      else if (deferred.length > 0) deferred.shift()!();
    }
    assert.deepEqual(sent, ["x2", "x4", "x6"]);
    if (!withDefer) assert.equal(deferred.length, 0);
  }
});

/** Heap used after a full collection (node, with gc exposed for the test). */
function heapAfterGc(): number {
  v8.setFlagsFromString("--expose-gc");
  (vm.runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

test("a 25 MB BODY[] streams one read per send: memory flat", () => {
  const dir = tempDir("imapfetch-big");
  const box = workloadBox(new SimCard({ dir }));
  const d = box.card.beginMessage()!;
  const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef\r\n"; // 80 octets
  let block = "Subject: big\r\n\r\n";
  while (block.length < 65536) block += line;
  let size = 0;
  while (size < 25 * 1024 * 1024) d.write(block), (size += block.length);
  d.commit(["alice"], 1764583200);
  const drop = box.openMaildrop("alice", Access.Shared)!;
  const job = fetchJob(viewOf(drop, false, 1460), "big", [-1, -1], false, itemsOf(["BODY.PEEK[]"]));
  const base = heapAfterGc();
  let total = 0;
  let largest = 0;
  let peak = 0;
  let chunks = 0;
  for (let c = job.next(); c !== undefined; c = job.next()) {
    total += c.length;
    largest = Math.max(largest, c.length);
    if (++chunks % 4000 === 0) peak = Math.max(peak, heapAfterGc() - base);
  }
  job.release();
  const head = `* 6 FETCH (BODY[] {${size}}\r\n`;
  assert.equal(total, head.length + size + ")\r\n".length + "big OK FETCH completed\r\n".length);
  assert.ok(largest <= 1460 + head.length, `largest chunk ${largest}`);
  assert.ok(peak < 4 * 1024 * 1024, `heap grew by ${peak} bytes while 25 MB went out`);
});

test("FETCH 1:* (FLAGS) on 10,000 messages: batched responses, flat memory, the file budget untouched", () => {
  const dir = tempDir("imapfetch-many");
  const box = workloadBox(new SimCard({ dir }));
  for (let n = 0; n < 9995; n++) {
    const d = box.card.beginMessage()!;
    d.write("Subject: " + n + "\r\n\r\nx\r\n");
    d.commit(["alice"], 1764583200 + n);
  }
  const drop = box.openMaildrop("alice", Access.Shared)!;
  assert.equal(drop.list.count, 10000);
  const job = fetchJob(viewOf(drop), "many", [1, -1], true, itemsOf([["FLAGS"]]));
  const base = heapAfterGc();
  let peak = 0;
  let lines = 0;
  let chunks = 0;
  let largest = 0;
  for (let c = job.next(); c !== undefined; c = job.next()) {
    for (let p = c.indexOf("\r\n"); p >= 0; p = c.indexOf("\r\n", p + 2)) lines++;
    largest = Math.max(largest, c.length);
    if (++chunks % 100 === 0) peak = Math.max(peak, heapAfterGc() - base);
  }
  assert.equal(lines, 10001);
  assert.ok(chunks >= 200 && largest < 1100, `${chunks} chunks, the largest ${largest}`);
  assert.ok(peak < 2 * 1024 * 1024, `heap grew by ${peak}`);
  assert.notEqual(box.store.openMessage(1), undefined);
});

test("memory stays flat on the Lua VM too: a 25 MB BODY[] and FLAGS of 1,000 messages, as on node", () => {
  const bundle = compileWorkload(path.join(ROOT, "test/portable/imap-workload.ts"));
  const lvm = luaWithCard(new SimCard({ dir: tempDir("imapfetch-lua-flat") }));
  const lua = runLua(lvm, bundle, `workload.flatWorkload(nil, card, function() collectgarbage() return collectgarbage("count") end, 25, 1000)`);
  const node = flatWorkload(new SimCard({ dir: tempDir("imapfetch-node-flat") }), () => heapAfterGc() / 1024, 25, 1000);
  const rows = (out: string) => out.trim().split("\n").map((line) => line.split(" ").map(Number));
  for (const [runtime, out] of [["lua", lua], ["node", node]]) {
    const [big, flags] = rows(out);
    assert.ok(big[1] > 25 * 1024 * 1024 && big[3] <= 700 + 40 && flags[3] < 1100, `${runtime}: octets and largest chunks: ${out}`);
    assert.ok(big[5] < (runtime === "lua" ? 64 : 4096) && flags[5] < (runtime === "lua" ? 64 : 2048), `${runtime}: heap growth in KiB: ${out}`);
  }
  assert.deepEqual(rows(lua).map((r) => [r[1], r[3]]), rows(node).map((r) => [r[1], r[3]]), "the same octets in the same chunks");
});
