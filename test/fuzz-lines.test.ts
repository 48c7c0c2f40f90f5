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
  bareLineBreak: boolean;
  lineTooLong: boolean;
}

function readData(chunks: string[], maxLine: number): DataResult {
  let body = "";
  let ended = false;
  let rest = "";
  const reader = new DataReader(maxLine, {
    onBody: (data) => {
      assert.ok(!ended, "no body after the end");
      assert.ok(data.length > 0, "no empty body slices");
      body += data;
    },
    onEnd: (r) => {
      assert.ok(!ended, "one end only");
      ended = true;
      rest = r;
    },
  });
  for (const chunk of chunks) {
    if (ended) rest += chunk; // the session hands later bytes to the command framer
    else reader.push(chunk);
  }
  return { body, ended, rest, bareLineBreak: reader.bareLineBreak, lineTooLong: reader.lineTooLong };
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
    const line = fc.array(fc.oneof(fc.constantFrom(".", "..", "\x00", " ", "x"), fc.string({ maxLength: 5 }).map((t) => t.replace(/[\r\n]/g, ""))), { maxLength: 8 }).map((a) => a.join(""));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), wireBytes(30), cuts, (lines, after, c) => {
        const text = lines.map((l) => l + "\r\n").join("");
        const wire = dotStuff(text) + ".\r\n" + after;
        const got = readData(split(wire, c), 1000);
        assert.deepEqual(got, { body: text, ended: true, rest: after, bareLineBreak: false, lineTooLong: false });
      }),
      { numRuns: runs(300) },
    );
  });

  it("DataReader: a chunk ending in the CR of CRLF after a bare CR in the same line (found by this fuzzer)", () => {
    // Once the reader lost the CR here and missed the end marker that followed.
    assert.deepEqual(readData(["a\r\r", "\n.\r\nQUIT\r\n"], 1000), readData(["a\r\r\n.\r\nQUIT\r\n"], 1000));
    assert.equal(readData(["a\r\r", "\n.\r\nQUIT\r\n"], 1000).rest, "QUIT\r\n");
  });

  it("DataReader: any byte stream gives the same result at any split, and only CRLF.CRLF ends it", () => {
    fc.assert(
      fc.property(wireBytes(200), cuts, fc.integer({ min: 3, max: 30 }), (s, c, max) => {
        const whole = readData([s], max);
        assert.deepEqual(readData(split(s, c), max), whole);
        const marker = ("\r\n" + s).indexOf("\r\n.\r\n");
        assert.equal(whole.ended, marker >= 0);
        if (whole.ended) assert.equal(whole.rest, s.slice(marker + 3));
        // A CR at the very end of an unfinished stream may still be half of a CRLF.
        const read = whole.ended ? s.slice(0, marker + 3) : s.replace(/\r$/, "");
        if (/\r(?!\n)|(?<!\r)\n/.test(read)) assert.ok(whole.bareLineBreak, "a bare CR or LF is flagged");
      }),
      { numRuns: runs(300) },
    );
  });
});
