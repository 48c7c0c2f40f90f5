/**
 * The header cache's field picker (firmware/hdrcache.ts) on awkward
 * headers: folded lines, 8-bit and encoded words, missing fields, field
 * names in any case and with white space before the colon, bare LF line
 * ends, no blank line, huge and endless headers, lines longer than a
 * chunk. The same input read in pieces of any size gives the same result.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import type { FileHandle } from "../firmware/hal";
import { headerRecord, keptNames, pickHeaders, wholeLines } from "../firmware/hdrcache";

/** A read-only file over `data` whose reads give at most `piece` octets (a real card gives what is asked). */
function fileOf(data: string, piece = Infinity): FileHandle & { reads: number; offset: number } {
  const f = {
    reads: 0,
    offset: 0,
    read(length: number): string | undefined {
      f.reads++;
      if (f.offset >= data.length) return undefined;
      const n = Math.min(length, piece);
      const out = data.substring(f.offset, f.offset + n);
      f.offset += out.length;
      return out;
    },
    write() {
      throw new Error("read-only");
    },
    seek(offset: number) {
      f.offset = offset;
    },
    close() {},
  };
  return f;
}

/** pickHeaders over `data`, checked to give the same with reads of 1, 7 and 1000 octets. */
function pick(data: string): string {
  const whole = pickHeaders(fileOf(data));
  for (const piece of [1, 7, 1000]) assert.equal(pickHeaders(fileOf(data, piece)), whole, `reads of ${piece} octets`);
  return whole;
}

/** Whether pickHeaders calls the lines of `data` whole, checked to say the same with reads of 1, 7, 1000 and 2048 octets. */
function whole(data: string): boolean {
  const says = (piece: number) => {
    const picked = { whole: false };
    pickHeaders(fileOf(data, piece), picked);
    return picked.whole;
  };
  const first = says(Infinity);
  for (const piece of [1, 7, 1000]) assert.equal(says(piece), first, `reads of ${piece} octets`);
  return first;
}

describe("header cache: the fields a listing needs", () => {
  it("keeps From, To, Cc, Subject, Date, Message-ID and Content-Type with their folded lines, raw, in message order", () => {
    const head =
      "Received: from x by y; Tue, 1 Dec 2026 08:00:00 +0000\r\n" +
      "Return-Path: <a@b.example>\r\n" +
      "from: Alice <alice@example.org>\r\n" +
      "TO: bob@example.org,\r\n" +
      "\tcarol@example.org\r\n" +
      "X-Mailer: something\r\n" +
      " folded X-Mailer line\r\n" +
      "Subject: =?UTF-8?B?5L2g5aW9?= and\r\n" +
      "  =?GB2312?Q?=C4=E3=BA=C3?= more\r\n" +
      "Date: Tue, 1 Dec 2026 08:00:00 +0000\r\n" +
      "Message-ID: <1@example.org>\r\n" +
      "MIME-Version: 1.0\r\n" +
      "Content-Type: multipart/alternative;\r\n" +
      ' boundary="b1"\r\n' +
      "Cc : dave@example.org\r\n" +
      "\r\n" +
      "From: not a header, the body\r\n";
    assert.equal(
      pick(head),
      "from: Alice <alice@example.org>\r\n" +
        "TO: bob@example.org,\r\n\tcarol@example.org\r\n" +
        "Subject: =?UTF-8?B?5L2g5aW9?= and\r\n  =?GB2312?Q?=C4=E3=BA=C3?= more\r\n" +
        "Date: Tue, 1 Dec 2026 08:00:00 +0000\r\n" +
        "Message-ID: <1@example.org>\r\n" +
        "Content-Type: multipart/alternative;\r\n boundary=\"b1\"\r\n" +
        "Cc : dave@example.org\r\n",
    );
  });

  it("keeps 8-bit octets, NUL included, as they are", () => {
    const subject = "Subject: caf\xe9 \xe4\xb8\xad\xe6\x96\x87 \x00\xff\r\n";
    assert.equal(pick("From: x\r\n" + subject + "\r\nbody"), "From: x\r\n" + subject);
  });

  it("gives nothing for a message with none of the fields, an empty message or one that starts with its body", () => {
    assert.equal(pick("X-A: 1\r\nReceived: 2\r\n\r\nSubject: in the body\r\n"), "");
    assert.equal(pick(""), "");
    assert.equal(pick("\r\nSubject: in the body\r\n"), "");
    assert.equal(pick("not a header line\r\nSubject: after garbage\r\n\r\n"), "Subject: after garbage\r\n");
    assert.equal(pick("Subjectless: x\r\nsubject:\r\n\r\n"), "subject:\r\n", "an empty field is a field");
    assert.equal(pick("To Cc: x\r\nX-To: y\r\n: z\r\n\r\n"), "", "names that only look like wanted ones");
  });

  it("takes bare LF line ends and a header without a blank line or a last line end", () => {
    assert.equal(pick("From: a\nSubject: b\n c\n\nbody\n"), "From: a\r\nSubject: b\r\n c\r\n");
    assert.equal(pick("From: a\r\nSubject: the last line"), "From: a\r\nSubject: the last line\r\n");
    assert.equal(pick("Subject: s\r\nTo: t\r\n"), "Subject: s\r\nTo: t\r\n");
  });

  it("caps a field at a line end (Subject 1024 octets, the others 512) and all of them at 2048; later fields may still fit", () => {
    const line = (name: string, n: number) => name + ": " + "x".repeat(n - name.length - 4) + "\r\n"; // n octets with CRLF
    // A To folded over many lines keeps the lines that fit in 512 octets.
    let to = "To: first\r\n";
    for (let i = 0; i < 40; i++) to += " continued-" + String(i).padStart(2, "0") + "-" + "y".repeat(20) + "\r\n";
    const got = pick(to + "Subject: short\r\n\r\n");
    const kept = got.substring(0, got.indexOf("Subject:"));
    assert.ok(kept.length <= 512 && kept.length > 450, `${kept.length} octets of To kept`);
    assert.ok(to.startsWith(kept), "a prefix of the field, cut at a line end");
    assert.ok(got.endsWith("Subject: short\r\n"));
    // A single line over its cap is left out whole; a Subject of 1024 fits.
    assert.equal(pick(line("From", 513) + line("Subject", 1024) + "\r\n"), line("Subject", 1024));
    assert.equal(pick(line("Subject", 1025) + line("Date", 40) + "\r\n"), line("Date", 40));
    // 2048 in all: the fields that fit, in order, and a small one after a big one that did not.
    const all = pick(line("Subject", 1000) + line("From", 500) + line("To", 500) + line("Cc", 100) + line("Date", 40) + "\r\n");
    assert.equal(all, line("Subject", 1000) + line("From", 500) + line("To", 500) + line("Date", 40));
    assert.ok(all.length <= 2048);
  });

  it("reads at most 16 KiB of a huge or endless header, in few reads, and drops a line cut there", () => {
    let huge = "From: a\r\n";
    while (huge.length < 20000) huge += "Received: from somewhere by somewhere else; Tue, 1 Dec 2026\r\n";
    const file = fileOf(huge + "Subject: too late\r\n\r\n");
    assert.equal(pickHeaders(file), "From: a\r\n");
    assert.equal(file.offset, 16384);
    assert.equal(file.reads, 8);
    // A message with a header of a single endless line.
    assert.equal(pick("Subject: " + "z".repeat(100000)), "");
    assert.equal(pick("From: a\r\nX-Long: " + "z".repeat(5000) + "\r\nTo: b\r\n\r\n"), "From: a\r\nTo: b\r\n");
    assert.equal(pick("From: a\r\n " + "z".repeat(5000) + "\r\n more\r\nTo: b\r\n\r\n"), "From: a\r\nTo: b\r\n", "an overlong continuation ends its field");
    assert.equal(pick("From: a\r\nSubject: " + "z".repeat(3000) + "\r\n more\r\nTo: b\r\n\r\n"), "From: a\r\nTo: b\r\n", "an overlong field goes whole");
    // The blank line is found within the first read: one read.
    const short = fileOf("From: a\r\n\r\n" + "body ".repeat(10000));
    assert.equal(pickHeaders(short), "From: a\r\n");
    assert.equal(short.reads, 1);
  });

  it("says whether the lines are whole: every line of every field kept, octet for octet, the header read to its end", () => {
    assert.equal(whole("From: a\r\nTo: b,\r\n\tc\r\nX-Other: x\r\n\r\nbody\r\n"), true);
    assert.equal(whole("From: a\r\nSubject: s\r\n"), true, "a header that ends with the message, at a line end");
    assert.equal(whole("X-Other: bare LF\nFrom: a\r\n\r\n"), true, "a bare LF in a field not kept");
    assert.equal(whole("X-Long: " + "z".repeat(5000) + "\r\n more\r\nFrom: a\r\n\r\n"), true, "a line too long to keep in a field not kept");
    assert.equal(whole("From: a\r\nSubject: s"), false, "the end of the message cuts a line: kept with a CRLF it has not");
    assert.equal(whole("From: a\nSubject: s\r\n\r\n"), false, "a bare LF in a kept field");
    assert.equal(whole("From: a\r\n " + "z".repeat(5000) + "\r\n\r\n"), false, "a continuation too long to keep");
    assert.equal(whole("From: a\r\nSubject: " + "z".repeat(3000) + "\r\n\r\n"), false, "a field too long to keep");
    assert.equal(whole("To: " + "r".repeat(600) + "\r\n\r\n"), false, "a field over its cap");
    assert.equal(whole("Cc: " + "c".repeat(500) + "\r\n" + ("Cc: " + "c".repeat(400) + "\r\n").repeat(4) + "\r\n"), false, "fields over the lines' cap");
    assert.equal(whole("Subject" + " ".repeat(40) + ": far\r\n\r\n"), false, "a colon past the longest name kept");
    let huge = "From: a\r\n";
    while (huge.length < 20000) huge += "Received: from somewhere by somewhere else; Tue, 1 Dec 2026\r\n";
    assert.equal(whole(huge + "\r\n"), false, "a header past the 16 KiB read");
    // The record says so in its first octet; only a whole one gives its lines.
    assert.equal(headerRecord("From: a\r\n", 0, true).charCodeAt(0), 3);
    assert.equal(wholeLines(headerRecord("From: a\r\n", 0, true) + "structure"), "From: a\r\n");
    assert.equal(wholeLines(headerRecord("From: a\r\n", 0, false)), undefined);
    assert.equal(wholeLines(""), undefined);
    assert.equal(keptNames(" FROM TO SUBJECT DATE MESSAGE-ID "), true);
    assert.equal(keptNames(" FROM X-MAILER "), false);
    assert.equal(keptNames(" FROM"), false);
  });

  it("the cache record: version, arrival time, the lines' length, the lines (the store reads it back, test/store.test.ts)", () => {
    const record = headerRecord("From: a\r\n", 1764576000);
    assert.equal(Buffer.from(record, "latin1").toString("hex"), "02" + "692d4b00" + "0009" + Buffer.from("From: a\r\n").toString("hex"));
    assert.equal(headerRecord("", 0), "\x02\x00\x00\x00\x00\x00\x00");
    assert.equal(headerRecord("x".repeat(2048), 0).substring(5, 7), "\x08\x00");
  });
});
