/**
 * FETCH and SEARCH (firmware/imapfetch.ts, imapsearch.ts) through the IMAP
 * session over real TCP to the simulator, on every runtime: the same
 * transcript everywhere (parts of a multipart with a forwarded message,
 * partials, HEADER.FIELDS, \Seen, every kind of search key), and on the
 * emulated Espruino board the variables in use while a large BODY[] is in
 * flight to a client that reads slowly: flat, as POP3's RETR.
 */
import { test } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as assert from "node:assert/strict";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator } from "../sim/simulator";
import { SimCard } from "../sim/card";
import { EspruinoBox, espruinoRuntime } from "../sim/espruino-runtime";
import { sendMail } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";
import { ImapClient } from "./helpers/imap-client";

const CLOCK = 1764583200;

/**
 * The emulated board's variables in use. Its heap walk (sim/espruino/memory.ts)
 * now and then finds no roots in the V8 snapshot under a loaded machine (seen
 * in a full run, not alone): that is the measurement failing, so it is taken again.
 */
function variables(box: EspruinoBox): number {
  for (let k = 0; ; k++) {
    try {
      return box.board.memory().variables;
    } catch (e) {
      if (k >= 3 || !String(e).includes("measurement roots not found")) throw e;
    }
  }
}

const MESSAGES = [
  "From: Alice Smith <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Lunch on Friday\r\nDate: Fri, 27 Nov 2026 11:00:00 +0100\r\n\r\nShall we meet at noon?\r\n",
  "From: Carol <carol@example.org>\r\nTo: alice@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
    "preamble\r\n--outer\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nfirst part\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n" +
    "From: dave@example.net\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\ninner needle\r\n--inner\r\n" +
    "Content-Type: text/html\r\n\r\n<p>inner html</p>\r\n--inner--\r\n\r\n--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
    "AAECAwQFBgcICQ==\r\n--outer--\r\n",
  "From: news@lists.example\r\nTo: alice@example.org\r\nSubject: Weekly digest\r\nDate: 1 Dec 26 08:00 GMT\r\nX-Mailer: Letter 1.0\r\n\r\n" + "filler line of text\r\n".repeat(300) + "the NEEDLE\r\n",
];

const COMMANDS = [
  "SELECT INBOX",
  "FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)",
  "FETCH 2 (BODYSTRUCTURE ENVELOPE)",
  "FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.HEADER] BODY.PEEK[2.1] BODY.PEEK[2.2.MIME] BODY.PEEK[3]<4.6> BODY.PEEK[9])",
  "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From Subject)])",
  "FETCH 3 BODY.PEEK[TEXT]<6290.100>",
  "SEARCH UNSEEN",
  "FETCH 1 BODY[TEXT]",
  "SEARCH SEEN",
  "SEARCH FROM carol",
  "SEARCH BODY needle",
  "SEARCH TEXT \"inner html\"",
  "UID SEARCH OR SUBJECT friday HEADER X-Mailer letter",
  "SEARCH NOT (SEEN LARGER 100)",
  "SEARCH SENTSINCE 1-Dec-2026",
  "SEARCH SINCE 1-Dec-2025 BEFORE 2-Dec-2025 2:*",
  "SEARCH CHARSET KOI8-R ALL",
  "SEARCH BOGUS",
  "FETCH 1 (BODY[0])",
];

// First in the file: the heap walk of the emulated board fails to find its roots after the simulators of the other tests ran in this process.
test("an 8 MB BODY[] to a client that reads slowly keeps the emulated Espruino board's variables flat", async (t) => {
  const config = testConfig({ maxMessageBytes: 9 * 1024 * 1024 });
  const box = (await espruinoRuntime.start({
    config,
    card: new SimCard({ dir: tempDir("imapfetch-espruino") }),
    portMap: { 25: 0, 110: 0, 80: 0, 143: 0 },
    bindHost: "127.0.0.1",
    log: () => undefined,
    clock: () => CLOCK,
  })) as EspruinoBox;
  try {
    const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    const big = Buffer.from("Subject: big\r\n\r\n" + line.repeat(Math.floor((8 * 1024 * 1024) / line.length)), "latin1");
    assert.match(await sendMail(box.ports[25], "x@remote.example", ["alice@example.org"], big), /^250 /);
    for (let n = 0; n < 40; n++) assert.match(await sendMail(box.ports[25], "x@remote.example", ["alice@example.org"], Buffer.from(`Subject: ${n}\r\n\r\nx\r\n`)), /^250 /);
    const c = await ImapClient.login(box.ports[143], "alice", "wonderland");
    assert.equal((await c.command("SELECT INBOX")).status.slice(0, 2), "OK");
    await new Promise((r) => setTimeout(r, 300));
    const idle = variables(box);
    // FLAGS of every message, then the big body; the client reads a little at a time.
    c.socket.pause();
    const tag = c.takeTag();
    c.write(`${tag} FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])\r\n${tag}b FETCH 1 BODY.PEEK[]\r\n`);
    // Two samples while the answers are in flight (a heap walk each: seconds), the client reading a little between them.
    let peak = 0;
    for (let k = 0; k < 2; k++) {
      await new Promise((r) => setTimeout(r, 500));
      peak = Math.max(peak, variables(box) - idle);
      c.socket.resume();
      await new Promise((r) => setTimeout(r, 30));
      c.socket.pause();
    }
    c.socket.resume();
    const first = await c.until(tag);
    assert.equal(first.lines.length, 41);
    const body = await c.until(`${tag}b`, [], 60000);
    assert.equal(body.status, "OK FETCH completed");
    const head = /^\* 1 FETCH \(BODY\[\] \{(\d+)\}\r\n/.exec(body.lines[0]);
    assert.ok(head && body.lines[0].length === head[0].length + Number(head[1]) + 1, "the literal's count is exact");
    assert.ok(body.lines[0].endsWith(big.toString("latin1") + ")"), "the message as delivered (after the headers SMTP added)");
    t.diagnostic(`variables idle after SELECT: ${idle}; largest growth while FETCH was in flight: ${peak}`);
    assert.ok(peak < 400, `FETCH in flight took ${peak} variables more`);
    await c.logout();
  } finally {
    await box.stop();
  }
});

test("FETCH and SEARCH through the session: the same transcript on every runtime", async () => {
  const transcripts: string[] = [];
  for (const runtime of RUNTIME_NAMES) {
    const sim = await startSimulator({ runtime, config: testConfig(), dataDir: tempDir("imapfetch-tcp"), smtpPort: 0, pop3Port: 0, imapPort: 0, clock: () => CLOCK });
    try {
      for (const m of MESSAGES) assert.match(await sendMail(sim.smtpPort, "x@remote.example", ["alice@example.org"], Buffer.from(m, "latin1")), /^250 /);
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      let out = "";
      for (const cmd of COMMANDS) {
        const r = await c.command(cmd);
        out += `> ${cmd}\n${r.lines.join("\n").replace(/UIDVALIDITY \d+/, "UIDVALIDITY (the card's)")}\n${r.status}\n`;
      }
      await c.logout();
      transcripts.push(out);
    } finally {
      await sim.stop();
    }
  }
  const out = transcripts[0];
  const has = (s: string) => assert.ok(out.includes(s), `missing ${JSON.stringify(s)} in\n${out}`);
  has(`* 2 FETCH (BODY[1] {10}\r\nfirst part BODY[2.HEADER] {95}\r\nFrom: dave@example.net\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n BODY[2.1] {12}\r\ninner needle BODY[2.2.MIME] {27}\r\nContent-Type: text/html\r\n\r\n BODY[3]<4> {6}\r\nAwQFBg BODY[9] NIL)`);
  has(`* 1 FETCH (UID 1 BODY[HEADER.FIELDS (FROM SUBJECT)] {67}\r\nFrom: Alice Smith <alice@example.org>\r\nSubject: Lunch on Friday\r\n\r\n)`);
  const text = "filler line of text\r\n".repeat(300) + "the NEEDLE\r\n";
  has(`* 3 FETCH (BODY[TEXT]<6290> {${text.length - 6290}}\r\n${text.substring(6290)})`);
  has("> SEARCH UNSEEN\n* SEARCH 1 2 3\nOK SEARCH completed\n");
  has(`* 1 FETCH (BODY[TEXT] {24}\r\nShall we meet at noon?\r\n FLAGS (\\Seen \\Recent))`);
  has("> SEARCH SEEN\n* SEARCH 1\n");
  has("> SEARCH FROM carol\n* SEARCH 2\n");
  has("> SEARCH BODY needle\n* SEARCH 2 3\n");
  has("> SEARCH TEXT \"inner html\"\n* SEARCH 2\n");
  has("> UID SEARCH OR SUBJECT friday HEADER X-Mailer letter\n* SEARCH 1 3\n");
  has("> SEARCH NOT (SEEN LARGER 100)\n* SEARCH 2 3\n");
  has("> SEARCH SENTSINCE 1-Dec-2026\n* SEARCH 3\n");
  has("> SEARCH SINCE 1-Dec-2025 BEFORE 2-Dec-2025 2:*\n* SEARCH 2 3\n");
  has("> SEARCH CHARSET KOI8-R ALL\n");
  has("> SEARCH BOGUS\n\nBAD ");
  has("> FETCH 1 (BODY[0])\n\nBAD ");
  // The Received line SMTP adds names the client's address where the board knows it (not on Espruino): sizes of whole messages differ by it.
  const same = (s: string) => s.replace(/RFC822\.SIZE \d+/g, "RFC822.SIZE (size)");
  for (let r = 1; r < transcripts.length; r++) assert.equal(same(transcripts[r]), same(out), `${RUNTIME_NAMES[r]} differs from ${RUNTIME_NAMES[0]}`);
});

for (const runtime of RUNTIME_NAMES) {
  test(`SEARCH with a charset it does not know answers NO [BADCHARSET] (RFC 3501 6.4.4: NO, not BAD) (${runtime} runtime)`, async () => {
    const sim = await startSimulator({ runtime, config: testConfig(), dataDir: tempDir("imapfetch-charset"), smtpPort: 0, pop3Port: 0, imapPort: 0, clock: () => CLOCK });
    try {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      await c.command("SELECT INBOX");
      assert.deepEqual(await c.command("SEARCH CHARSET KOI8-R ALL"), { lines: [], status: "NO [BADCHARSET (US-ASCII UTF-8)] Charset not supported" });
      assert.deepEqual(await c.command("SEARCH CHARSET UTF-8 ALL"), { lines: ["* SEARCH"], status: "OK SEARCH completed" });
      await c.logout();
    } finally {
      await sim.stop();
    }
  });
}

/**
 * The header cache's corpus: [label, message, whether the cache keeps its
 * From/To/Subject/Date/Message-ID lines whole (hdrcache.ts pickHeaders)].
 */
function cacheCorpus(): [string, string, boolean][] {
  const head = "From: Anna <anna@example.org>\r\nTo: bob@example.org\r\nSubject: plain\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <p1@example.org>\r\n";
  const cc = (n: number) => Array.from({ length: n }, (_, k) => `Cc: person${k}@example.org, another${k}@example.org, third${k}@example.org\r\n`).join("");
  const received = Array.from({ length: 250 }, (_, k) => `Received: from relay${k}.example by mx.example with SMTP id ${k * 7919}\r\n`).join("");
  return [
    ["plain", head + "\r\nbody\r\n", true],
    ["folded", "From: \"A very long display name\"\r\n <anna@example.org>\r\nTo: bob@example.org,\r\n\tcarol@example.org,\r\n  dave@example.org\r\nSubject: folded\r\n over\r\n\tthree lines\r\n\r\nbody\r\n", true],
    ["repeated", head + "To: second@example.org\r\nsubject : spaced before the colon\r\nSUBJECT:upper\r\nX-Other: between\r\nDate: twice\r\n\r\nbody\r\n", true],
    ["absent", "X-Only: nothing asked\r\nReceived: from a by b\r\n\r\nbody\r\n", true],
    ["absent some", "Subject: only a subject\r\nMIME-Version: 1.0\r\n\r\nbody\r\n", true],
    ["empty values", "From:\r\n\t<anna@example.org>\r\nSubject:\r\nTo: \r\n\r\nbody\r\n", true],
    ["continuation first", " leading continuation\r\nSubject: after it\r\n\r\nbody\r\n", true],
    ["8-bit", "From: Ch\xc3\xb6e <chloe@example.org>\r\nSubject: caf\xe9 \xff \x80 na\xc3\xafve\r\nTo: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n\r\nbody \xe9\r\n", true],
    ["long subject within its cap", "Subject: " + "s".repeat(900) + "\r\nFrom: a@example.org\r\n\r\nbody\r\n", true],
    ["long To over its cap", "To: " + "r".repeat(600) + "@example.org\r\nSubject: kept\r\n\r\nbody\r\n", false],
    ["long To folded over its cap", "To: a@example.org,\r\n" + Array.from({ length: 25 }, (_, k) => ` recipient${k}@example.org,\r\n`).join("") + " last@example.org\r\nSubject: kept\r\n\r\nbody\r\n", false],
    ["over the lines' cap", "From: a@example.org\r\n" + cc(30) + "Subject: after many Cc lines\r\n\r\nbody\r\n", false],
    ["other field's line too long to keep", "X-Long: " + "l".repeat(1500) + "\r\n" + "X-Longer: " + "l".repeat(3000) + "\r\n\tmore\r\nSubject: after the long lines\r\n\r\nbody\r\n", true],
    ["Subject's line too long to keep", "From: a@example.org\r\nSubject: " + "l".repeat(3000) + "\r\n\r\nbody\r\n", false],
    ["Subject's continuation too long to keep", "From: a@example.org\r\nSubject: s\r\n " + "l".repeat(3000) + "\r\n\r\nbody\r\n", false],
    ["bare LF", "From: a@example.org\nSubject: bare LF\r\n\r\nbody\r\n", false],
    ["bare LF elsewhere", "X-Other: bare\nSubject: kept\r\n\r\nbody\r\n", true],
    ["colon far", "Subject" + " ".repeat(40) + ": far colon\r\nFrom: a@example.org\r\n\r\nbody\r\n", false],
    ["header past 16 KiB", received + "Subject: late\r\n\r\nbody\r\n", false],
    ["no blank line, cut line", "From: a@example.org\r\nSubject: no body", false],
    ["no blank line, whole lines", "From: a@example.org\r\nSubject: no body either\r\n", true],
  ];
}

/** HEADER.FIELDS as RFC 3501 6.4.5 says, for the test: the named fields' lines, raw, in order, and a blank line. */
function fieldsOf(message: string, names: string[]): string {
  const want = names.map((n) => n.toUpperCase());
  let out = "";
  let keep = false;
  for (const line of message.split(/(?<=\n)/)) {
    if (line === "\r\n" || line === "\n") break;
    if (line[0] !== " " && line[0] !== "\t") {
      const colon = line.indexOf(":");
      const nl = line.indexOf("\n");
      const name = colon < 0 || (nl >= 0 && nl < colon) ? "" : line.substring(0, colon).replace(/[ \t]+$/, "").toUpperCase();
      keep = name !== "" && !/[ \r]/.test(name) && want.includes(name);
    }
    if (keep) out += line;
  }
  return out + "\r\n";
}

/** The literal of a one-item FETCH response. */
function literalOf(r: { lines: string[]; status: string }): string {
  const lines = r.lines;
  assert.equal(lines.length, 1, lines.join("\n") + "\n" + r.status);
  const m = /^\* \d+ FETCH \(BODY\[[^\]]*\](<\d+>)? (\{(\d+)\}\r\n)?/s.exec(lines[0]);
  assert.ok(m, lines[0]);
  if (!m[2]) return lines[0].substring(m[0].length).startsWith('""') ? "" : assert.fail(lines[0]);
  return lines[0].substring(m[0].length, m[0].length + Number(m[3]));
}

test("HEADER.FIELDS of names the header cache keeps: from the cache when its lines are whole, octet for octet as the card's, on every runtime", async () => {
  const corpus = cacheCorpus();
  const asked = "From To Subject Date Message-ID";
  for (const runtime of RUNTIME_NAMES) {
    const dataDir = tempDir("imapfetch-hdrcache");
    const sim = await startSimulator({ runtime, config: testConfig({ maxMessageBytes: 100000 }), dataDir, smtpPort: 0, pop3Port: 0, imapPort: 0, clock: () => CLOCK });
    try {
      const c = await ImapClient.login(sim.imapPort, "alice", "wonderland");
      for (const [label, m] of corpus) assert.match((await c.command("APPEND INBOX {+}", [m])).status, /^OK/, `${runtime}: APPEND ${label}`);
      await c.command("SELECT INBOX");
      // Every structure built (the background build rewrites the cache file) before the message files change below.
      await c.command("FETCH 1:* BODYSTRUCTURE");
      const fetch = async (n: number, item: string) => literalOf(await c.command(`FETCH ${n} BODY.PEEK[${item}`));
      for (let n = 1; n <= corpus.length; n++) {
        const [label, m] = corpus[n - 1];
        const what = `${runtime}, ${label}`;
        const expected = fieldsOf(m, asked.split(" "));
        // The cache's path (every name one it keeps) and the card's (a name it does not keep), and partials of both.
        assert.equal(await fetch(n, `HEADER.FIELDS (${asked})]`), expected, `${what}: through the cache`);
        assert.equal(await fetch(n, `HEADER.FIELDS (${asked} X-Card-Only)]`), expected, `${what}: from the card`);
        assert.equal(await fetch(n, "HEADER.FIELDS (Subject To)]<5.30>"), fieldsOf(m, ["Subject", "To"]).substring(5, 35), `${what}: a partial`);
        assert.equal(await fetch(n, "HEADER.FIELDS (Cc)]<3000.10>"), "", `${what}: a partial past the end`);
      }
      // The messages' files overwritten with as many other octets: what still reads as before came from the cache.
      const dir = path.join(dataDir, "LB", "MSG");
      for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".EML"))) fs.writeFileSync(path.join(dir, f), "x".repeat(fs.statSync(path.join(dir, f)).size));
      const cached: string[] = [];
      for (let n = 1; n <= corpus.length; n++) {
        const [label, m] = corpus[n - 1];
        if ((await fetch(n, `HEADER.FIELDS (${asked})]`)) === fieldsOf(m, asked.split(" "))) cached.push(label);
        assert.equal(await fetch(n, `HEADER.FIELDS (${asked} X-Card-Only)]`), "\r\n", `${runtime}, ${label}: the card's path reads the card`);
      }
      assert.deepEqual(cached, corpus.filter((e) => e[2]).map((e) => e[0]), `${runtime}: the messages answered from the cache`);
      // Without its cache file (a card older than the caches) the message is read, and no cache is built for it.
      for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".HDR"))) fs.rmSync(path.join(dir, f));
      await c.command("SELECT INBOX"); // a new view: the last record read is not kept
      for (let n = 1; n <= corpus.length; n++) assert.equal(await fetch(n, `HEADER.FIELDS (${asked})]`), "\r\n", `${runtime}, ${corpus[n - 1][0]}: no cache file`);
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".HDR")), [], "none built by the header sync");
      await c.logout();
    } finally {
      await sim.stop();
    }
  }
});
