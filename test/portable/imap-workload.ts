/**
 * IMAP FETCH and SEARCH jobs (firmware/imapfetch.ts, imapsearch.ts) over a
 * real MailStore, written in the portable subset so that it runs unchanged
 * on Node and, compiled by TypeScriptToLua, in the Lua 5.3 VM with the
 * board's numbers (test/imapfetch.test.ts): both must print the same
 * transcript.
 */
import type { Config } from "../../firmware/config";
import type { Hal, Storage } from "../../firmware/hal";
import { Access, Mailbox, type Maildrop } from "../../firmware/mailbox";
import { decimal, hex } from "../../firmware/num";
import { fetchJob, parseFetchItems, type FetchItem, type SelectedView } from "../../firmware/imapfetch";
import type { Token } from "../../firmware/imapparse";
import { parseSearch, searchJob, type SearchProgram } from "../../firmware/imapsearch";
import { formatDate, parseDay } from "../../firmware/date";

/** Arrival times of the messages: 2025-12-01 10:00:00 UTC and an hour apart. */
export const ARRIVAL = 1764583200;

/** The messages the workload delivers to alice, in order. */
export function workloadMessages(): string[] {
  let received = "";
  for (let n = 0; n < 80; n++) received += "Received: from relay" + decimal(n) + ".example by mx.example with SMTP id " + decimal(n * 7919) + "\r\n";
  let body = "";
  for (let n = 0; n < 200; n++) body += "body line " + decimal(n) + " of the long message\r\n";
  return [
    "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Hello there\r\nDate: Tue, 1 Dec 2026 09:59:00 +0100\r\n" +
      "X-Folded: one\r\n two\r\nsubject : spaced name\r\n\r\nBody line one\r\nBody line two\r\n",
    "Subject: bare\nFrom: x@example.net\n\nbare LF body\n",
    received + "Subject: many hops\r\nFrom: far@example.net\r\n\r\n" + body,
    "Subject: no body\r\nFrom: h@example.org\r\n",
    "From: Carol <carol@example.org>\r\nTo: alice@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
      "preamble\r\n--outer\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nfirst part\r\n--outer\r\nContent-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n" +
      "From: dave@example.net\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--inner\r\n" +
      "Content-Type: text/html\r\n\r\n<p>inner html</p>\r\n--inner--\r\n\r\n--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      "AAECAwQFBgcICQ==\r\n--outer--\r\nepilogue\r\n",
  ];
}

/** Every chunk of a job until it ends; "<blocked>" where it waited (at most 5 times in a row). */
export function drain(source: { next(): string | undefined; release(): void; blocked?: boolean }): string {
  let out = "";
  let waits = 0;
  for (let chunk = source.next(); chunk !== undefined; chunk = source.next()) {
    if (chunk.length === 0 && source.blocked === true) {
      out += "<blocked>";
      if (++waits > 5) break;
    }
    out += chunk;
  }
  source.release();
  return out;
}

function view(drop: Maildrop, readOnly: boolean): SelectedView {
  return {
    maildrop: drop,
    readOnly: readOnly,
    recent: function (i: number): boolean {
      return i === 0;
    },
    sendChunk: 700,
  };
}

/** A FETCH: its items as tokens, the set as [lo, hi, ...] pairs. */
function fetch(drop: Maildrop, readOnly: boolean, set: number[], byUid: boolean, args: Token[]): string {
  const items = parseFetchItems(args);
  if (typeof items === "string") return "BAD " + items + "\n";
  return drain(fetchJob(view(drop, readOnly), "a1", set, byUid, items as FetchItem[]));
}

/** A box with alice's messages on `storage`; `hal` pieces the Mailbox uses. */
export function workloadBox(storage: Storage, messages?: string[]): Mailbox {
  const timers: (() => void)[] = [];
  const hal = {
    storage: storage,
    log: function (): void {},
    random: function (): number {
      return 0x2468ace;
    },
    setTimer: function (ms: number, f: () => void) {
      timers.push(f);
      return { cancel: function (): void {} };
    },
    now: function (): number {
      return ARRIVAL;
    },
  } as unknown as Hal;
  const box = new Mailbox(hal, {} as unknown as Config);
  box.card.open();
  if (messages === undefined) messages = workloadMessages();
  for (let n = 0; n < messages.length; n++) {
    const d = box.card.beginMessage();
    if (d === undefined) continue;
    for (let p = 0; p < messages[n].length; p += 500) d.write(messages[n].substring(p, p + 500));
    d.commit(["alice"], ARRIVAL + n * 3600);
  }
  while (timers.length > 0) (timers.shift() as () => void)();
  return box;
}

/** The FETCH transcript: every item, partials at their edges, \Seen, UID sets, an expunged message, bad item lists. */
export function fetchWorkload(storage: Storage): string {
  const box = workloadBox(storage);
  const drop = box.openMaildrop("alice", Access.Shared) as Maildrop;
  let out = "";
  const all = [1, -1];
  out += fetch(drop, false, all, false, [["FLAGS", "UID", "RFC822.SIZE", "INTERNALDATE"]]);
  out += fetch(drop, false, all, true, ["FLAGS"]);
  out += fetch(drop, false, [2, 3], true, ["FAST"]);
  out += fetch(drop, false, [-1, 3], true, ["ALL"]);
  out += fetch(drop, false, [1, 1, 4, 5], false, ["FULL"]);
  out += fetch(drop, false, [1, 1, 5, 5], false, [["BODYSTRUCTURE", "BODY", "ENVELOPE"]]);
  // Parts: numbered, nested in a message/rfc822, its HEADER/TEXT/MIME/HEADER.FIELDS, a partial of a part, parts that are not there.
  out += fetch(drop, false, [5, 5], false, [["BODY.PEEK[1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[2]", "BODY.PEEK[2.HEADER]", "BODY.PEEK[2.TEXT]", "BODY.PEEK[2.MIME]"]]);
  out += fetch(drop, false, [5, 5], false, [["BODY.PEEK[2.1]", "BODY.PEEK[2.2]", "BODY.PEEK[2.2.MIME]", "BODY.PEEK[2.HEADER.FIELDS (subject)]", "BODY.PEEK[3]<4.6>", "BODY.PEEK[3]<100.6>"]]);
  out += fetch(drop, false, [5, 5], false, [["BODY.PEEK[4]", "BODY.PEEK[2.3]", "BODY.PEEK[1.1]", "BODY.PEEK[1.HEADER]", "BODY.PEEK[3.TEXT]", "BODY.PEEK[2.1.MIME]", "BODY.PEEK[TEXT]<0.8>"]]);
  out += fetch(drop, false, [1, 1], false, [["BODY.PEEK[1]", "BODY.PEEK[1.MIME]", "BODY.PEEK[2]"]]);
  out += fetch(drop, false, [1, 1], false, ["BODY.PEEK[]"]);
  out += fetch(drop, false, [1, 2], false, [["BODY.PEEK[]<0.10>", "BODY.PEEK[]<5.0>", "BODY.PEEK[]<1000.10>", "BODY.PEEK[]<10.100000>", "BODY.PEEK[]<0.4294967296>"]]);
  out += fetch(drop, false, [1, 4], false, [["BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]", "RFC822.HEADER"]]);
  out += fetch(drop, false, [1, 2], false, [["BODY.PEEK[HEADER.FIELDS (Subject From)]", "BODY.PEEK[HEADER.FIELDS.NOT (Subject \"From\" x-folded)]"]]);
  out += fetch(drop, false, [1, 1], false, [["BODY.PEEK[HEADER.FIELDS (SUBJECT)]<3.9>", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]<500.9>", "BODY.PEEK[HEADER.FIELDS (nothing)]"]]);
  out += fetch(drop, false, [3, 3], false, [["BODY.PEEK[HEADER.FIELDS (Received)]", "BODY.PEEK[HEADER.FIELDS (received)]<1000.200>", "BODY.PEEK[HEADER.FIELDS (received)]<6000.200>", "BODY.PEEK[HEADER.FIELDS.NOT (received)]"]]);
  out += fetch(drop, true, [1, 1], false, ["BODY[TEXT]"]);
  out += fetch(drop, false, [1, 1], false, [["FLAGS", "BODY[TEXT]"]]);
  out += fetch(drop, false, [2, 2], false, ["RFC822.TEXT"]);
  out += fetch(drop, false, [3, 3], true, ["RFC822"]);
  out += fetch(drop, false, [1, 2], false, ["BODY[]<0.20>"]);
  out += fetch(drop, false, all, false, ["FLAGS"]);
  // Deleted by another opener since this listing: no response, NO [EXPUNGEISSUED].
  box.store.deleteMessages("alice", [drop.list.seq(1)]);
  out += fetch(drop, false, all, false, [["UID", "FLAGS"]]);
  out += fetch(drop, false, [2, 2], false, ["BODY.PEEK[]"]);
  const bad: Token[][] = [
    [], ["FLAGS", "UID"], [[]], ["ALL2"], [["ALL"]], [["FLAGS", ["UID"]]], ["BODY[0]"], ["BODY[1.]"], ["BODY[MIME]"], ["BODY[HEADER.FIELDS]"],
    ["BODY[HEADER.FIELDS ()]"], ["BODY[TEXT]<1>"], ["BODY[TEXT]<a.1>"], ["BODY.PEEK[TEXT"], ["BODY[X]"], ["BODY[HEADER.FIELDS (a:b)]"], ["BINARY[]"],
    ["BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17]"],
  ];
  for (let n = 0; n < bad.length; n++) {
    const parsed = parseFetchItems(bad[n]);
    out += typeof parsed === "string" ? "BAD " + parsed + "\n" : "parsed " + decimal(parsed.length) + "\n";
  }
  const names = parseFetchItems([["body.peek[1.2.header.fields (a b)]<7.8>", "Rfc822.Size", "BODY[2.MIME]", "body[3.text]", "BODY[4.HEADER]"]]) as FetchItem[];
  for (let n = 0; n < names.length; n++) out += names[n].name + " " + decimal(names[n].kind) + " " + names[n].path + (names[n].seen ? " seen" : "") + "\n";
  drop.close();
  return out;
}

/** The messages SEARCH is tried on (bob's): header fields the cache holds and does not, 8-bit text, a needle across reads. */
export function searchMessages(): string[] {
  let longTo = "To: ";
  for (let n = 0; n < 40; n++) longTo += (n > 0 ? ",\r\n " : "") + "member" + decimal(n) + "@list.example";
  let body = "";
  for (let n = 0; n < 30; n++) body += "filler line " + decimal(n) + " of text\r\n";
  return [
    "From: Alice Smith <alice@example.org>\r\nTo: bob@example.org\r\nCc: carol@example.org\r\nSubject: Lunch on Friday\r\nDate: Fri, 27 Nov 2026 11:00:00 +0100\r\n\r\nShall we meet at noon?\r\n",
    "From: news@lists.example\r\n" + longTo + "\r\nBcc: hidden@example.net\r\nSubject: Weekly digest\r\nDate: 1 Dec 26 08:00 GMT\r\nX-Mailer: Letter 1.0\r\n\r\n" + body + "the NEEDLE is here\r\n",
    "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\r\nSubject: Gr" + String.fromCharCode(0xc3, 0xbc) + String.fromCharCode(0xdf) + "e aus K" + String.fromCharCode(0xc3, 0xb6) + "ln\r\nDate: Mon, 30 Nov 2026 23:30:00 -0800\r\n\r\nBody with " + String.fromCharCode(0xc3, 0x84) + "pfel and " + String.fromCharCode(0xe3, 0x84) + "x\r\n",
    "Subject: no date, no from\r\nX-Folded: first\r\n\tsecond part\r\n\r\n" + body + body + "end with needle",
  ];
}

function search(drop: Maildrop, args: Token[], byUid: boolean): string {
  const program = parseSearch(args);
  if (typeof program === "string") return "BAD " + program + "\n";
  const v = view(drop, false);
  v.recent = function (i: number): boolean {
    return i >= 2;
  };
  return drain(searchJob(v, "s", program as SearchProgram, byUid));
}

/** Tokens as a line of the transcript: lists in parentheses, other octets than printable ASCII as \\xHH. */
function show(tokens: Token[]): string {
  let out = "";
  for (let n = 0; n < tokens.length; n++) {
    const t = tokens[n];
    if (n > 0) out += " ";
    if (typeof t !== "string") out += "(" + show(t) + ")";
    else {
      for (let c = 0; c < t.length; c++) {
        const code = t.charCodeAt(c);
        out += code > 32 && code < 127 ? t.charAt(c) : "\\x" + hex(code, 2);
      }
    }
  }
  return out;
}

/** The SEARCH transcript: every key, NOT/OR/lists, sets, UIDs, charsets, bad input; dates. */
export function searchWorkload(storage: Storage): string {
  const box = workloadBox(storage, searchMessages());
  const drop = box.openMaildrop("alice", Access.Shared) as Maildrop;
  drop.store(0, 1 | 2, box.store.keywordBits("alice", ["$Junk"], true));
  drop.store(1, 4 | 16);
  drop.store(2, 0, box.store.keywordBits("alice", ["$junk", "Work"], true));
  drop.store(3, 8 | 1);
  let out = "";
  const cases: Token[][] = [
    ["ALL"], ["1:2"], ["*"], ["2:*", "SEEN"], ["UID", "3:*"], ["ANSWERED"], ["UNANSWERED"], ["DELETED"], ["UNDELETED"], ["DRAFT"], ["UNDRAFT"],
    ["FLAGGED"], ["UNFLAGGED"], ["SEEN"], ["UNSEEN"], ["RECENT"], ["NEW"], ["OLD"], ["KEYWORD", "$Junk"], ["UNKEYWORD", "$Junk"], ["KEYWORD", "WORK"], ["KEYWORD", "unknown"], ["UNKEYWORD", "unknown"], ["OR", "KEYWORD", "work", "DRAFT"],
    ["LARGER", "300"], ["SMALLER", "300"], ["BEFORE", "1-Dec-2025"], ["ON", "1-Dec-2025"], ["SINCE", "1-Dec-2025"], ["SINCE", "2-dec-2025"],
    ["SENTBEFORE", "30-Nov-2026"], ["SENTON", "30-Nov-2026"], ["SENTSINCE", "30-Nov-2026"], ["SENTON", "1-Dec-2026"],
    ["FROM", "alice"], ["FROM", "ALICE SMITH"], ["FROM", "=?utf-8?q?j=c3=bc"], ["TO", "member39@"], ["TO", "bob"], ["CC", "carol"], ["BCC", "hidden"],
    ["SUBJECT", "friday"], ["SUBJECT", "gr" + String.fromCharCode(0xc3, 0xbc) + String.fromCharCode(0xdf)], ["SUBJECT", "GR" + String.fromCharCode(0xc3, 0x9c)],
    ["HEADER", "x-mailer", "letter"], ["HEADER", "X-Mailer", ""], ["HEADER", "x-folded", "first second"], ["HEADER", "x-folded", "FIRST\tSECOND"],
    ["BODY", "needle"], ["BODY", "shall"], ["BODY", "friday"], ["TEXT", "friday"], ["TEXT", "needle is"], ["BODY", String.fromCharCode(0xc3, 0x84) + "PFEL"],
    ["BODY", String.fromCharCode(0xe3, 0x84)], ["BODY", String.fromCharCode(0xc3, 0xa4)], ["BODY", "line 29 of text\r\nfiller"], ["TEXT", "K" + String.fromCharCode(0xe3, 0xb6) + "LN"], ["TEXT", "k" + String.fromCharCode(0xc3, 0xb6) + "LN"],
    ["NOT", "SEEN"], ["OR", "FLAGGED", "DRAFT"], ["NOT", ["SEEN", "DRAFT"]], [["OR", "1", "4"], "TEXT", "needle"], ["OR", "BODY", "noon", "HEADER", "x-mailer", "letter"],
    ["NOT", "NOT", "NOT", "ANSWERED"], ["CHARSET", "UTF-8", "FROM", "news"], ["CHARSET", "us-ascii", "ALL"], ["UID", "2,4", "NOT", "SMALLER", "300"],
    ["CHARSET", "ISO-8859-1", "ALL"], [], ["FROM"], ["BOGUS"], ["1:x"], ["UID", "0"], ["LARGER", "-1"], ["BEFORE", "1 Dec 2025"], ["ON", "32-Jan-2025"],
    ["HEADER", "x-mailer"], [[]], ["OR", "ALL"], ["NOT"], ["SINCE", "1-Foo-2025"],
  ];
  for (let n = 0; n < cases.length; n++) {
    out += show(cases[n]) + " -> " + search(drop, cases[n], false);
    if (n < 6) out += "UID " + show(cases[n]) + " -> " + search(drop, cases[n], true);
  }
  // Deeper than the nesting allowed.
  let deep: Token[] = ["ALL"];
  for (let n = 0; n < 40; n++) deep = [deep];
  out += search(drop, deep, false);
  const nots: Token[] = [];
  for (let n = 0; n < 40; n++) nots.push("NOT");
  nots.push("ALL");
  out += search(drop, nots, false);
  // Deleted by another opener since this listing: left out.
  box.store.deleteMessages("alice", [drop.list.seq(0)]);
  out += search(drop, ["ALL"], false);
  // Dates: formats and day numbers at the edges.
  const times = [0, 951782400, 1709164800, 2147483647, 1764583200];
  for (let n = 0; n < times.length; n++) out += formatDate(times[n], true) + " | " + formatDate(times[n], false) + "\n";
  const days = ["1-Jan-1970", "29-Feb-2000", "31-Dec-1969", "1-Jan-0001", "19-Jan-2038", "Tue, 1 Feb 94 10:00", " (c) 1 feb 1994", "1 Feb 1994", "1-Feb-94", "x"];
  for (let n = 0; n < days.length; n++) out += days[n] + " " + decimal(parseDay(days[n], true)) + " " + decimal(parseDay(days[n], false)) + "\n";
  drop.close();
  return out;
}

/**
 * Memory while FETCH streams: a message of `megabytes` MiB fetched whole,
 * then FLAGS of `count` small messages; `measure` gives the heap in use in
 * KiB after a full collection (Lua: collectgarbage("count")). Returns
 * "octets <sent> largest <chunk> growth <KiB>" per fetch: the largest
 * growth of the heap over its start while it ran.
 */
export function flatWorkload(storage: Storage, measure: (this: void) => number, megabytes: number, count: number): string {
  const box = workloadBox(storage, []);
  let block = "Subject: big\r\n\r\n";
  while (block.length < 65536) block += "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef\r\n";
  const big = box.card.beginMessage();
  if (big === undefined) return "no file";
  for (let n = 0; n < megabytes * 16; n++) big.write(block);
  big.commit(["alice"], ARRIVAL);
  for (let n = 0; n < count; n++) {
    const d = box.card.beginMessage();
    if (d === undefined) return "no file";
    d.write("Subject: " + decimal(n) + "\r\n\r\nx\r\n");
    d.commit(["alice"], ARRIVAL + n);
  }
  const drop = box.openMaildrop("alice", Access.Shared) as Maildrop;
  let out = "";
  for (let pass = 0; pass < 2; pass++) {
    const items = parseFetchItems([pass === 0 ? "BODY.PEEK[]" : "FLAGS"]) as FetchItem[];
    const job = fetchJob(view(drop, true), "m", pass === 0 ? [1, 1] : [2, -1], false, items);
    const base = measure();
    let sent = 0;
    let largest = 0;
    let growth = 0;
    let calls = 0;
    for (let chunk = job.next(); chunk !== undefined; chunk = job.next()) {
      sent += chunk.length;
      if (chunk.length > largest) largest = chunk.length;
      calls++;
      if (calls % 500 === 0) {
        const now = measure() - base;
        if (now > growth) growth = now;
      }
    }
    job.release();
    out += "octets " + decimal(sent) + " largest " + decimal(largest) + " growth " + decimal(Math.floor(growth)) + "\n";
  }
  drop.close();
  return out;
}
