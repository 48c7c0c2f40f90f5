/**
 * Property-based fuzzing (fast-check) of the line framing in firmware/lines.ts:
 * any split of the same byte stream into chunks gives the same events, the
 * events agree with a plain reference model, and no input throws.
 * `make fuzz` scales the number of cases up (FUZZ_SCALE).
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { DataReader, LineFramer } from "../firmware/lines";
import { cuts, runs, split, wireBytes } from "./fuzz-arbitraries";
import { HeadReader } from "../firmware/httphead";

type Event = string | { tooLong: true };

function frame(chunks: string[], maxLength: number, stopEvery = 0): Event[] {
  const events: Event[] = [];
  const framer = new LineFramer(maxLength, {
    onLine: (line) => events.push(line),
    onLineTooLong: () => events.push({ tooLong: true }),
  });
  let seen = 0;
  for (const chunk of chunks) {
    let rest = chunk;
    // A caller that stops after some lines must get the rest back and feed it again.
    while (rest.length > 0) {
      const before = rest;
      rest = framer.push(rest, () => stopEvery > 0 && ++seen % stopEvery === 0);
      assert.ok(rest.length < before.length, "push always consumes something");
    }
  }
  return events;
}

/** What the framer must report: LF ends a line, one CR before it is dropped, lines of maxLength octets or more are too long. */
function referenceFrame(s: string, maxLength: number): Event[] {
  const parts = s.split("\n");
  parts.pop(); // the unfinished line gives no event
  return parts.map((line) => (line.length + 1 > maxLength ? { tooLong: true as const } : line.replace(/\r$/, "")));
}

/** Everything a DataReader reports, with body slices joined. */
interface DataResult {
  body: string;
  ended: boolean;
  rest: string;
}

/** A board's native bare-LF search, as the node and Espruino HALs give it. */
const bareLF = (s: string) => /[^\r]\n/.test(s);

function readData(chunks: string[], findBareLF?: (s: string) => boolean): DataResult {
  let body = "";
  let ended = false;
  let rest = "";
  const reader = new DataReader(
    {
      onBody: (data) => {
        assert.ok(!ended, "no body after the end");
        assert.ok(data.length > 0, "no empty body slices");
        body += data;
      },
    },
    findBareLF,
  );
  for (const chunk of chunks) {
    if (ended) {
      rest += chunk; // the session hands later bytes to the command framer
      continue;
    }
    const after = reader.push(chunk);
    if (after !== undefined) {
      ended = true; // push is not called again after the end: later bytes are the command framer's
      rest = after;
    }
  }
  return { body, ended, rest };
}

/**
 * The rule, line by line (Postfix 3.9 `smtpd_forbid_bare_newline = normalize`):
 * LF ends a line, with its CR when there is one; only "." CRLF after a CRLF
 * (or at the start) ends DATA; a line's leading dot is dropped when more
 * follows on it; a line ending in a bare LF is stored with CRLF. An
 * unfinished last line "." or ".\r" is held back (it may be the end).
 */
function referenceData(wire: string): DataResult {
  let pos = 0;
  let afterCRLF = true;
  let body = "";
  while (true) {
    const j = wire.indexOf("\n", pos);
    if (j < 0) {
      const line = wire.slice(pos);
      if (line !== "." && line !== ".\r") body += line.startsWith(".") ? line.slice(1) : line;
      return { body, ended: false, rest: "" };
    }
    const crlf = j > pos && wire[j - 1] === "\r";
    const content = wire.slice(pos, crlf ? j - 1 : j);
    if (content === "." && crlf && afterCRLF) return { body, ended: true, rest: wire.slice(j + 1) };
    body += (content.length > 1 && content[0] === "." ? content.slice(1) : content) + "\r\n";
    afterCRLF = crlf;
    pos = j + 1;
  }
}

const dotStuff = (text: string) => text.replace(/(^|\r\n)\./g, "$1..");

describe("fuzz: line framing (firmware/lines.ts)", () => {
  it("LineFramer: any split gives the reference model's lines", () => {
    fc.assert(
      fc.property(wireBytes(200), cuts, fc.integer({ min: 2, max: 40 }), (s, c, max) => {
        const whole = frame([s], max);
        assert.deepEqual(whole, referenceFrame(s, max));
        assert.deepEqual(frame(split(s, c), max), whole);
      }),
      { numRuns: runs(300) },
    );
  });

  it("LineFramer: stopping after lines and feeding the rest again changes nothing", () => {
    fc.assert(
      fc.property(wireBytes(200), cuts, fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 4 }), (s, c, max, every) => {
        assert.deepEqual(frame(split(s, c), max, every), referenceFrame(s, max));
      }),
      { numRuns: runs(200) },
    );
  });

  it("DataReader: a well-formed dot-stuffed body comes back exactly, at any split", () => {
    const line = fc.array(fc.oneof(fc.constantFrom(".", "..", "\x00", " ", "x", "\r"), fc.string({ maxLength: 5 }).map((t) => t.replace(/[\r\n]/g, ""))), { maxLength: 8 }).map((a) => a.join(""));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), wireBytes(30), cuts, fc.boolean(), (lines, after, c, native) => {
        const text = lines.map((l) => l.replace(/\r$/, "") + "\r\n").join("");
        const wire = dotStuff(text) + ".\r\n" + after;
        const got = readData(split(wire, c), native ? bareLF : undefined);
        assert.deepEqual(got, { body: text, ended: true, rest: after });
      }),
      { numRuns: runs(300) },
    );
  });

  it("DataReader: a chunk ending in the CR of CRLF after a bare CR in the same line (found by this fuzzer)", () => {
    assert.deepEqual(readData(["a\r\r", "\n.\r\nQUIT\r\n"]), readData(["a\r\r\n.\r\nQUIT\r\n"]));
    assert.equal(readData(["a\r\r", "\n.\r\nQUIT\r\n"]).rest, "QUIT\r\n");
  });

  it("DataReader: any byte stream gives the reference model's result at any split, with or without the native search", () => {
    fc.assert(
      fc.property(wireBytes(200), cuts, fc.boolean(), (s, c, native) => {
        const expected = referenceData(s);
        assert.deepEqual(readData([s], native ? bareLF : undefined), expected);
        assert.deepEqual(readData(split(s, c), native ? bareLF : undefined), expected);
      }),
      { numRuns: runs(300) },
    );
  });

  it("HeadReader (firmware/httphead.ts): any byte stream gives the same head, status and octets used at any split, and never throws", () => {
    const piece = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom("GET / HTTP/1.1\r\n", "POST /a?b HTTP/1.0\r\n", "Host: x\r\n", "Cookie: a\r\n", "Content-Length: 12\r\n", "Connection: close\r\n", " fold\r\n", "\r\n", "X".repeat(1030), "Y: " + "y".repeat(1000) + "\r\n") },
      { weight: 4, arbitrary: wireBytes(20) },
    );
    const read = (chunks: string[]) => {
      const head = new HeadReader("client");
      let used = 0;
      for (const chunk of chunks) {
        used += head.push(chunk);
        if (head.done || head.error > 0) break;
      }
      // After an error nothing more is read: how much was taken does not matter.
      return { used: head.done ? used : -1, done: head.done, error: head.error, req: head.req, length: head.length, minor: head.minor, close: head.close };
    };
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), cuts, (pieces, c) => {
        const s = pieces.join("");
        const whole = read([s]);
        assert.ok(whole.used <= s.length);
        assert.deepEqual(read(split(s, c)), whole);
      }),
      { numRuns: runs(300) },
    );
  });
});
