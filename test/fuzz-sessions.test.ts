/**
 * Property-based fuzzing (fast-check) of the SMTP, POP3 and IMAP command handling,
 * of POP3's dot-stuffing and of HTTP's request framing (with the test
 * handler of test/helpers/http-handler.ts), through the real servers and the real store on
 * a simulated card, with a synchronous in-process connection.
 *
 * Split invariance is checked with two identical boxes fed the same sessions
 * in the same order, one in a single chunk and one cut into random chunks:
 * their transcripts must be identical (so their stores stay identical too).
 */
import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import fc from "fast-check";
import type { Config } from "../firmware/config";
import { HttpService } from "../firmware/http";
import { ImapServer } from "../firmware/imap";
import { Mailbox } from "../firmware/mailbox";
import { Pop3Server } from "../firmware/pop3";
import { SmtpServer } from "../firmware/smtp";
import { tempDir, testConfig } from "./helpers/fixtures";
import { FakeClient, TestHal, testHal } from "./helpers/test-hal";
import { cuts, runs, split, wireBytes } from "./fuzz-arbitraries";
import { testHandler } from "./helpers/http-handler";

/** The core's servers on a simulated card, driven synchronously: sends complete and timers fire when pumped. */
export class SyncBox {
  smtp: SmtpServer;
  pop3: Pop3Server;
  http: HttpService;
  imap: ImapServer;
  mailbox: Mailbox;
  /** Clock seconds: each session starts 1000 s after the previous, so login failures are forgotten; timers run when pumped. */
  private hal: TestHal;

  constructor(dir: string, config: Config) {
    const hal = testHal({ implementation: "letterbox fuzz", card: dir, clock: 1700000000, timers: "manual", log: "drop" });
    this.hal = hal;
    this.mailbox = new Mailbox(hal, config);
    assert.ok(this.mailbox.card.open());
    this.smtp = new SmtpServer(hal, config, this.mailbox);
    this.pop3 = new Pop3Server(hal, config, this.mailbox);
    this.http = new HttpService(hal, config, testHandler(hal));
    this.imap = new ImapServer(hal, config, this.mailbox);
  }

  /** One connection: the chunks in order, then the client hangs up. Returns all it was sent. */
  session(protocol: "smtp" | "pop3" | "http" | "imap", chunks: string[]): string {
    this.hal.clock.seconds += 1000;
    const client = new FakeClient((conn) => this[protocol].accept(conn), { completion: "manual" });
    const pump = () => {
      while (true) {
        if (client.completeSend()) continue;
        if (!this.hal.timers.runNext()) return;
      }
    };
    pump();
    for (const chunk of chunks) {
      if (client.closed) break;
      client.say(chunk);
      pump();
    }
    client.drop(); // the socket is gone, whoever closed it (the boards report both)
    this.hal.timers.clear();
    return client.received + (client.closed ? "<closed by server>" : "");
  }
}

function fuzzConfig(): Config {
  return testConfig({ maxMessageBytes: 200000, maxRecipients: 3 });
}

const boxes: string[] = [];
function newBox(): SyncBox {
  const dir = tempDir("fuzz");
  boxes.push(dir);
  return new SyncBox(dir, fuzzConfig());
}

const line = (l: fc.Arbitrary<string>) => l.map((s) => s + "\r\n");

/** A transaction cut short at a random point, so random input also reaches the later states. */
const smtpTransaction = fc
  .nat({ max: 4 })
  .map((n) => ["EHLO client.example\r\n", "MAIL FROM:<x@remote.example>\r\n", "RCPT TO:<alice@example.org>\r\n", "DATA\r\n"].slice(0, n + 1).join(""));

const smtpToken = fc.oneof(
  fc.constantFrom(
    "EHLO client.example", "HELO client.example", "EHLO", "MAIL FROM:<x@remote.example>", "MAIL FROM:<>",
    "MAIL FROM:<x@remote.example> SIZE=100 BODY=8BITMIME", "MAIL FROM:<x@remote.example> SIZE=999999999",
    "RCPT TO:<alice@example.org>", "RCPT TO:<bob+tag@example.net>", "RCPT TO:<nobody@example.org>",
    "RCPT TO:<postmaster>", "RCPT TO:<a@elsewhere.example>", "DATA", "DATA x", "RSET", "NOOP", "QUIT",
    "VRFY alice", "HELP", "EXPN x", "BDAT 10 LAST", "STARTTLS", "", "mail from:<X@REMOTE.EXAMPLE>",
  ).map((c) => c + "\r\n"),
  // Message text: lines with dots, and the end marker.
  fc.constantFrom("Subject: fuzz\r\n", "\r\n", ".\r\n", "..\r\n", ".x\r\n", "body\r\n", "\r\n.\r\n"),
  line(fc.string({ maxLength: 30 })),
  wireBytes(12),
);
const smtpCommand = fc.oneof({ weight: 1, arbitrary: smtpTransaction }, { weight: 4, arbitrary: smtpToken });

const popToken = fc.oneof(
  fc.constantFrom(
    "USER alice", "PASS wonderland", "PASS wrong", "USER bob", "PASS builder99", "APOP alice 0123456789abcdef0123456789abcdef",
    "STAT", "LIST", "UIDL", "RSET", "NOOP", "CAPA", "QUIT", "", "RETR", "TOP 1", "USER",
  ).map((c) => c + "\r\n"),
  fc
    .tuple(fc.constantFrom("RETR", "LIST", "UIDL", "DELE", "TOP"), fc.oneof(fc.constantFrom("1", "2", "3", "0", "-1", "99999999999", "1 0", "1 2", "2 99"), fc.string({ maxLength: 6 })))
    .map(([verb, arg]) => `${verb} ${arg}\r\n`),
  wireBytes(10),
);
const popCommand = fc.oneof({ weight: 1, arbitrary: fc.constantFrom("USER alice\r\nPASS wonderland\r\n", "CAPA\r\nUSER bob\r\nPASS builder99\r\n") }, { weight: 5, arbitrary: popToken });

const crlf = (l: string) => l + "\r\n";
/** Request lines, header lines, whole requests and bodies, for the test handler's paths. */
const httpToken = fc.oneof(
  fc.constantFrom(
    "GET / HTTP/1.1", "GET /hello HTTP/1.1", "HEAD /stream HTTP/1.1", "POST /fields?q=1 HTTP/1.1", "GET /chunked HTTP/1.0",
    "GET /stream-chunked HTTP/1.1", "GET /later HTTP/1.1", "GET /throw HTTP/1.1", "GET /throw-late HTTP/1.1", "GET /no-answer HTTP/1.1",
    "GET /not-modified HTTP/1.1", "PUT / HTTP/1.1", "GET / HTTP/2.0", "GET http://x/fields?b HTTP/1.1", "GET  / HTTP/1.1", "get / HTTP/1.1",
    "Host: x", "host: y", "Content-Length: 3", "Content-Length: 0", "Content-Length: 5000", "Content-Length: x", "Connection: close",
    "Connection: keep-alive", "Expect: 100-continue", "Transfer-Encoding: chunked", "Cookie: a=b", " folded", "X: y", "Bad : z", "",
  ).map(crlf),
  fc.constantFrom(
    "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", "POST /fields HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    "GET /later HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD /chunked HTTP/1.1\r\nHost: x\r\n\r\n", "abc", "\r\n\r\n",
  ),
  line(fc.string({ maxLength: 30 })),
  wireBytes(10),
);

/** IMAP commands in every state, with literals (synchronizing, LITERAL+, APPEND's), sets and sections, and garbage. */
const imapToken = fc.oneof(
  fc.constantFrom(
    "a LOGIN alice wonderland", "b LOGIN bob wrong", "c CAPABILITY", "d NOOP", "e LOGOUT", "f SELECT INBOX", "g EXAMINE inbox",
    'h LIST "" "*"', 'i LIST "" %', 'j LSUB "" "*"', "k STATUS INBOX (MESSAGES UNSEEN UIDNEXT RECENT UIDVALIDITY)", "l CREATE Fuzz/a",
    "m RENAME Fuzz/a Fuzz/b", "n DELETE Fuzz/b", "o SUBSCRIBE Sent", "p FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)",
    "q FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY[TEXT]<0.5> ENVELOPE BODYSTRUCTURE)", "r UID FETCH 1:* (UID FLAGS)",
    "s STORE 1 +FLAGS (\\Deleted)", "t UID STORE 1:* -FLAGS.SILENT (\\Seen)", "u EXPUNGE", "v SEARCH UNSEEN", "w UID SEARCH OR SEEN TEXT one",
    "x COPY 1 Archive", "y MOVE 1:* Trash", "z CLOSE", "A UNSELECT", "B IDLE", "DONE", "C NAMESPACE", 'D ID ("name" "fuzz")', "E ENABLE UTF8=ACCEPT",
    "F APPEND INBOX {5+}\r\nhello", "G APPEND Drafts (\\Draft) {3}", "abc", "H FETCH 1:*,999999999,5:3 (UID)", "I NOOP (((", "J CHECK",
    "K AUTHENTICATE PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=", "L UID EXPUNGE 1:*", "M SELECT Trash", "", "*", "N FROB",
  ).map((c) => c + "\r\n"),
  line(fc.string({ maxLength: 30 })),
  wireBytes(10),
);
const imapCommand = fc.oneof({ weight: 1, arbitrary: fc.constantFrom("a LOGIN alice wonderland\r\nb SELECT INBOX\r\n", "a LOGIN alice wonderland\r\n") }, { weight: 5, arbitrary: imapToken });

/** A small well-formed message, so the POP3 properties have mail to read. */
function deliver(box: SyncBox, to: string, text: string): void {
  const reply = box.session("smtp", [`HELO c.example\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<${to}>\r\nDATA\r\n${text.replace(/(^|\r\n)\./g, "$1..")}.\r\nQUIT\r\n`]);
  assert.match(reply, /250 2\.0\.0 Ok: queued/, reply);
}

describe("fuzz: SMTP, POP3, IMAP and HTTP sessions", () => {
  after(() => boxes.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it("SMTP: random command streams give the same replies at any split, and never throw", () => {
    const whole = newBox();
    const pieces = newBox();
    let reachedData = 0;
    fc.assert(
      fc.property(fc.array(smtpCommand, { maxLength: 40 }), cuts, (commands, c) => {
        const input = commands.join("");
        const transcript = whole.session("smtp", [input]);
        assert.equal(pieces.session("smtp", split(input, c)), transcript);
        if (/\r\n354 /.test(transcript)) reachedData++;
      }),
      { numRuns: runs(150) },
    );
    assert.ok(reachedData > 0, "some cases got as far as DATA");
  });

  it("POP3: random command streams give the same replies at any split, and never throw", () => {
    const whole = newBox();
    const pieces = newBox();
    let loggedIn = 0;
    fc.assert(
      fc.property(fc.array(popCommand, { maxLength: 30 }), cuts, (commands, c) => {
        // Keep alice's maildrop stocked (the same on both boxes): QUIT may have emptied it.
        if (whole.mailbox.card.usage("alice") === 0) {
          for (const box of [whole, pieces]) {
            deliver(box, "alice@example.org", "Subject: a\r\n\r\none\r\n.two\r\n");
            deliver(box, "alice@example.org", "Subject: b\r\n\r\n..\r\nthree\r\n");
          }
        }
        const input = commands.join("").slice(0, 900); // under the input held during a login delay
        const transcript = whole.session("pop3", [input]);
        assert.equal(pieces.session("pop3", split(input, c)), transcript);
        if (/\r\n\+OK alice has /.test(transcript)) loggedIn++;
      }),
      { numRuns: runs(150) },
    );
    assert.ok(loggedIn > 0, "some cases logged in");
  });

  it("IMAP: random command streams give the same replies at any split, and never throw", () => {
    const whole = newBox();
    const pieces = newBox();
    let selected = 0;
    fc.assert(
      fc.property(fc.array(imapCommand, { maxLength: 30 }), cuts, (commands, c) => {
        if (whole.mailbox.card.usage("alice") < 100) {
          for (const box of [whole, pieces]) {
            deliver(box, "alice@example.org", "Subject: one\r\nFrom: x@remote.example\r\n\r\none\r\n");
            deliver(box, "alice@example.org", "Subject: two\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\npart\r\n--b--\r\n");
          }
        }
        const input = commands.join("").slice(0, 4000); // under the input held while a command runs
        const transcript = whole.session("imap", [input]);
        assert.equal(pieces.session("imap", split(input, c)), transcript);
        if (/\r\nb OK \[READ-WRITE\]/.test(transcript)) selected++;
      }),
      { numRuns: runs(400) },
    );
    assert.ok(selected > 0, "some cases selected INBOX");
  });

  it("HTTP: random request streams give the same answers at any split, and never throw", () => {
    const whole = newBox();
    const pieces = newBox();
    let answered = 0;
    fc.assert(
      fc.property(fc.array(httpToken, { maxLength: 40 }), cuts, (tokens, c) => {
        const input = tokens.join("").slice(0, 4000); // under what a session holds while an answer is made
        const transcript = whole.session("http", [input]);
        assert.equal(pieces.session("http", split(input, c)), transcript);
        if (/HTTP\/1\.1 200 OK\r\n/.test(transcript)) answered++;
      }),
      { numRuns: runs(300) },
    );
    assert.ok(answered > 0, "some cases got an answer from the handler");
  });

  it("POP3 dot-stuffing: RETR and TOP give back exactly the stored text", () => {
    const box = newBox();
    const textLine = fc
      .array(fc.oneof(fc.constantFrom(".", "..", " ", "\t", "x", "\x00", "\xff"), fc.string({ maxLength: 40 }).map((t) => t.replace(/[\r\n]/g, ""))), { maxLength: 6 })
      .map((a) => a.join("").slice(0, 998));
    fc.assert(
      fc.property(fc.array(textLine, { minLength: 1, maxLength: 12 }), fc.array(textLine, { maxLength: 120 }), fc.nat({ max: 130 }), (headers, body, top) => {
        const headerText = headers.map((h) => "X-H: " + h + "\r\n").join("");
        const text = headerText + "\r\n" + body.map((l) => l + "\r\n").join("");
        deliver(box, "bob@example.org", text);
        const out = box.session("pop3", [`USER bob\r\nPASS builder99\r\nRETR 1\r\nTOP 1 ${top}\r\nDELE 1\r\nQUIT\r\n`]);
        const m = /^\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK (\d+) octets\r\n([\s\S]*?\r\n)\.\r\n\+OK Top of message follows\r\n([\s\S]*?\r\n)\.\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n<closed by server>$/.exec(out);
        assert.ok(m, JSON.stringify(out.slice(0, 600)));
        const unstuff = (s: string) => {
          assert.ok(!/(^|\r\n)\.(?!\.)/.test(s), "every line starting with a dot was stuffed");
          return s.replace(/(^|\r\n)\./g, "$1");
        };
        const retr = unstuff(m[2]);
        assert.equal(retr.length, Number(m[1]), "the octet count is the unstuffed size");
        const trace = /^Return-Path: <[^>]*>\r\nReceived: [^\r]*\r\n(?:\t[^\r]*\r\n)*/.exec(retr);
        assert.ok(trace);
        assert.equal(retr.slice(trace[0].length), text);
        const bodyLines = body.map((l) => l + "\r\n");
        assert.equal(unstuff(m[3]), trace[0] + headerText + "\r\n" + bodyLines.slice(0, top).join(""));
      }),
      { numRuns: runs(100) },
    );
  });
});
