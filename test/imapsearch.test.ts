/**
 * IMAP SEARCH (firmware/imapsearch.ts) over a real MailStore on a simulated
 * card: every key of RFC 3501 6.4.4, NOT/OR/lists, sets and UID sets,
 * charsets, bad input; header keys from the cache and from the card, BODY
 * and TEXT streamed (a needle across reads, 8-bit octets); dates; the same
 * transcript from the core compiled to Lua (the C VM with LUA_32BITS); a
 * long result in pieces; the wait for a message file.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { SimCard } from "../sim/card";
import { Access } from "../firmware/mailbox";
import { parseSearch, searchJob, type SearchProgram } from "../firmware/imapsearch";
import { tempDir } from "./helpers/fixtures";
import { compileWorkload, luaWithCard, ROOT, runLua } from "./helpers/lua-workload";
import { searchWorkload, workloadBox } from "./portable/imap-workload";

/** What each search gives (sequence numbers; with "UID": UIDs), checked by hand against the messages of searchMessages(). */
const EXPECTED = [
    "ALL -> 1 2 3 4",
    "UID ALL -> 1 2 3 4",
    "1:2 -> 1 2",
    "UID 1:2 -> 1 2",
    "* -> 4",
    "UID * -> 4",
    "2:* SEEN -> 4",
    "UID 2:* SEEN -> 4",
    "UID 3:* -> 3 4",
    "UID UID 3:* -> 3 4",
    "ANSWERED -> 1",
    "UID ANSWERED -> 1",
    "UNANSWERED -> 2 3 4",
    "DELETED -> 2",
    "UNDELETED -> 1 3 4",
    "DRAFT -> 4",
    "UNDRAFT -> 1 2 3",
    "FLAGGED -> 2",
    "UNFLAGGED -> 1 3 4",
    "SEEN -> 1 4",
    "UNSEEN -> 2 3",
    "RECENT -> 3 4",
    "NEW -> 3",
    "OLD -> 1 2",
    "KEYWORD $Junk -> 1 3",
    "UNKEYWORD $Junk -> 2 4",
    "KEYWORD WORK -> 3",
    "KEYWORD unknown ->",
    "UNKEYWORD unknown -> 1 2 3 4",
    "OR KEYWORD work DRAFT -> 3 4",
    "LARGER 300 -> 2 4",
    "SMALLER 300 -> 1 3",
    "BEFORE 1-Dec-2025 ->",
    "ON 1-Dec-2025 -> 1 2 3 4",
    "SINCE 1-Dec-2025 -> 1 2 3 4",
    "SINCE 2-dec-2025 ->",
    "SENTBEFORE 30-Nov-2026 -> 1",
    "SENTON 30-Nov-2026 -> 3",
    "SENTSINCE 30-Nov-2026 -> 2 3",
    "SENTON 1-Dec-2026 -> 2",
    "FROM alice -> 1",
    "FROM ALICE\\x20SMITH -> 1",
    "FROM =?utf-8?q?j=c3=bc -> 3",
    "TO member39@ -> 2",
    "TO bob -> 1",
    "CC carol -> 1",
    "BCC hidden -> 2",
    "SUBJECT friday -> 1",
    "SUBJECT gr\\xc3\\xbc\\xdf -> 3",
    "SUBJECT GR\\xc3\\x9c ->",
    "HEADER x-mailer letter -> 2",
    "HEADER X-Mailer  -> 2",
    "HEADER x-folded first\\x20second ->",
    "HEADER x-folded FIRST\\x09SECOND -> 4",
    "BODY needle -> 2 4",
    "BODY shall -> 1",
    "BODY friday ->",
    "TEXT friday -> 1",
    "TEXT needle\\x20is -> 2",
    "BODY \\xc3\\x84PFEL -> 3",
    "BODY \\xe3\\x84 -> 3",
    "BODY \\xc3\\xa4 ->",
    "BODY line\\x2029\\x20of\\x20text\\x0d\\x0afiller -> 4",
    "TEXT K\\xe3\\xb6LN ->",
    "TEXT k\\xc3\\xb6LN -> 3",
    "NOT SEEN -> 2 3",
    "OR FLAGGED DRAFT -> 2 4",
    "NOT (SEEN DRAFT) -> 1 2 3",
    "(OR 1 4) TEXT needle -> 4",
    "OR BODY noon HEADER x-mailer letter -> 1 2",
    "NOT NOT NOT ANSWERED -> 2 3 4",
    "CHARSET UTF-8 FROM news -> 2",
    "CHARSET us-ascii ALL -> 1 2 3 4",
    "UID 2,4 NOT SMALLER 300 -> 2 4",
    "CHARSET ISO-8859-1 ALL -> BAD [BADCHARSET (US-ASCII UTF-8)] Charset not supported",
    " -> BAD SEARCH needs a search key",
    "FROM -> BAD Unknown search key or missing operand: FROM",
    "BOGUS -> BAD Unknown search key or missing operand: BOGUS",
    "1:x -> BAD Invalid sequence set",
    "UID 0 -> BAD Invalid UID set",
    "LARGER -1 -> BAD Invalid size",
    "BEFORE 1\\x20Dec\\x202025 -> BAD Invalid date (d-Mon-yyyy): 1 Dec 2025",
    "ON 32-Jan-2025 -> BAD Invalid date (d-Mon-yyyy): 32-Jan-2025",
    "HEADER x-mailer -> BAD HEADER needs a field name and a string",
    "() -> BAD Empty list of search keys",
    "OR ALL -> BAD Missing search key",
    "NOT -> BAD Missing search key",
    "SINCE 1-Foo-2025 -> BAD Invalid date (d-Mon-yyyy): 1-Foo-2025",
    "BAD Search keys nested too deep",
    "BAD Search keys nested too deep",
    "* SEARCH 2 3 4",
];

test("SEARCH: every key, NOT/OR/lists, sets, UIDs, charsets, bad input", () => {
  const out = searchWorkload(new SimCard({ dir: tempDir("imapsearch") }));
  const results = out.replace(/\r\ns OK SEARCH completed\r\n/g, "\n").replace(/ -> \* SEARCH/g, " ->");
  assert.equal(results.substring(0, results.indexOf("\n 1-Jan-1970")), EXPECTED.join("\n"));
  // Dates: RFC 3501 date-time and RFC 5322 from seconds; day numbers of search dates (strict) and Date fields (lenient).
  assert.ok(out.endsWith(
    [
      " 1-Jan-1970 00:00:00 +0000 | Thu, 1 Jan 1970 00:00:00 +0000", "29-Feb-2000 00:00:00 +0000 | Tue, 29 Feb 2000 00:00:00 +0000",
      "29-Feb-2024 00:00:00 +0000 | Thu, 29 Feb 2024 00:00:00 +0000", "19-Jan-2038 03:14:07 +0000 | Tue, 19 Jan 2038 03:14:07 +0000",
      " 1-Dec-2025 10:00:00 +0000 | Mon, 1 Dec 2025 10:00:00 +0000", "1-Jan-1970 0 -100000000", "29-Feb-2000 11016 -100000000",
      "31-Dec-1969 -1 -100000000", "1-Jan-0001 -719162 -100000000", "19-Jan-2038 24855 -100000000", "Tue, 1 Feb 94 10:00 -100000000 8797",
      " (c) 1 feb 1994 -100000000 8797", "1 Feb 1994 -100000000 8797", "1-Feb-94 -100000000 -100000000", "x -100000000 -100000000", "",
    ].join("\n"),
  ));
});

test("SEARCH gives the same transcript on the Lua VM with the board's numbers", () => {
  const expected = searchWorkload(new SimCard({ dir: tempDir("imapsearch-node") }));
  const bundle = compileWorkload(path.join(ROOT, "test/portable/imap-workload.ts"));
  const lvm = luaWithCard(new SimCard({ dir: tempDir("imapsearch-lua") }));
  assert.equal(runLua(lvm, bundle, "workload.searchWorkload(nil, card)"), expected);
});

test("SEARCH streams a long result in pieces, reads a body one chunk per call and waits for a message file without spinning", () => {
  const messages: string[] = [];
  for (let n = 0; n < 1200; n++) messages.push(`Subject: ${n}\r\n\r\n${n % 500 === 7 ? "the needle" : "hay"}\r\n`);
  const box = workloadBox(new SimCard({ dir: tempDir("imapsearch-long") }), messages);
  const drop = box.openMaildrop("alice", Access.Shared)!;
  const view = { maildrop: drop, readOnly: false, recent: () => false, sendChunk: 512 };
  const all = searchJob(view, "t", parseSearch(["ALL"]) as SearchProgram, true);
  const pieces: string[] = [];
  for (let c = all.next(); c !== undefined; c = all.next()) pieces.push(c);
  let expected = "* SEARCH";
  for (let n = 1; n <= 1200; n++) expected += " " + n;
  assert.equal(pieces.join(""), expected + "\r\nt OK SEARCH completed\r\n");
  assert.ok(pieces.length >= 5 && Math.max(...pieces.map((p) => p.length)) < 1100, "never built whole");
  // BODY: the card pass; with every message file taken it waits (blocked), then goes on.
  const held = [box.store.openMessage(1)!, box.store.openMessage(2)!, box.store.openMessage(3)!];
  const body = searchJob(view, "b", parseSearch(["BODY", "NEEDLE"]) as SearchProgram, false);
  assert.equal(body.next(), "* SEARCH");
  assert.equal(body.next(), "");
  assert.equal(body.blocked, true);
  assert.equal(body.next(), "");
  assert.equal(body.blocked, true);
  held[0].close();
  let out = "";
  let calls = 0;
  for (let c = body.next(); c !== undefined; c = body.next()) out += c, calls++;
  assert.equal(out, " 8 508 1008\r\nb OK SEARCH completed\r\n");
  assert.ok(calls >= 1190, `one read of data per call: about a call per message (${calls})`);
  assert.notEqual(box.store.openMessage(4), undefined, "the job gave its file back");
  for (const f of held.slice(1)) f.close();
});
