/** The DATA reader and the command-line framer, on their own. */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { DataReader, LineFramer } from "../firmware/lines";

interface Read {
  body: string;
  rest: string | undefined;
  bare: boolean;
  long: boolean;
}

/** Feeds `input` cut at the given positions; returns what the reader made of it. */
function read(input: string, cuts: number[]): Read {
  const result: Read = { body: "", rest: undefined, bare: false, long: false };
  const reader: DataReader = new DataReader(1000, {
    onBody: (d) => (result.body += d),
    onEnd: (rest) => (result.rest = rest),
  });
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    if (result.rest !== undefined) break;
    reader.push(input.slice(from, cut));
    from = cut;
  }
  result.bare = reader.bareLineBreak;
  result.long = reader.lineTooLong;
  return result;
}

describe("DataReader", () => {
  const message = "Subject: x\r\n\r\n..dot\r\nplain\r\n...two\r\n.\r\nNEXT";
  it("unstuffs dots and stops at CRLF.CRLF, wherever the chunks end", () => {
    for (let a = 0; a <= message.length; a++) {
      for (let b = a; b <= message.length; b += 3) {
        const r = read(message, [a, b]);
        assert.equal(r.body, "Subject: x\r\n\r\n.dot\r\nplain\r\n..two\r\n", `cut at ${a},${b}`);
        assert.equal(r.bare, false);
        // What follows the marker comes back (as far as that chunk went).
        assert.ok("NEXT".startsWith(r.rest as string) && r.rest !== undefined, `rest at ${a},${b}: ${JSON.stringify(r.rest)}`);
      }
    }
  });

  it("ends an empty message at once", () => {
    assert.deepEqual(read(".\r\n", []), { body: "", rest: "", bare: false, long: false });
  });

  for (const [name, variant] of [
    ["LF.LF", "\n.\n"],
    ["LF.CRLF", "\n.\r\n"],
    ["CRLF.LF", "\r\n.\n"],
    ["CR.CRLF", "\r.\r\n"],
    ["CRLF.CR", "\r\n.\r"],
    ["LF.CRLF with NUL", "\n.\x00\r\n"],
  ]) {
    it(`never ends at ${name}, and flags the bare line break`, () => {
      const input = "Subject: s\r\n\r\nbody" + variant + "MAIL FROM:<a@b.example>\r\n";
      for (let cut = 0; cut <= input.length; cut++) {
        const r = read(input, [cut]);
        assert.equal(r.rest, undefined, `ended early when cut at ${cut}`);
        assert.equal(r.bare, true, `not flagged when cut at ${cut}`);
      }
    });
  }

  it("flags lines over 1000 octets, CRLF included", () => {
    assert.equal(read("a".repeat(998) + "\r\n.\r\n", [500]).long, false);
    assert.equal(read("a".repeat(999) + "\r\n.\r\n", [500]).long, true);
    assert.equal(read("a".repeat(999) + "\r\n.\r\n", [999, 1000]).long, true);
  });
});

describe("LineFramer", () => {
  it("splits lines, strips CRLF, reports an over-long line once and goes on", () => {
    const lines: string[] = [];
    let tooLong = 0;
    const framer = new LineFramer(512, { onLine: (l) => lines.push(l), onLineTooLong: () => tooLong++ });
    const input = "NOOP\r\n" + "x".repeat(2000) + "\r\nQUIT\nLAST\r\n";
    for (let i = 0; i < input.length; i += 7) framer.push(input.slice(i, i + 7), () => false);
    assert.deepEqual(lines, ["NOOP", "QUIT", "LAST"]);
    assert.equal(tooLong, 1);
  });

  it("hands back the rest of the chunk when told to stop", () => {
    const lines: string[] = [];
    const framer = new LineFramer(512, { onLine: (l) => lines.push(l), onLineTooLong: () => {} });
    const rest = framer.push("DATA\r\nbody bytes\r\n", () => lines.length === 1);
    assert.equal(rest, "body bytes\r\n");
  });
});
