/** The DATA reader and the command-line framer, on their own. */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { DataReader, LineFramer } from "../firmware/lines";

interface Read {
  body: string;
  rest: string | undefined;
}

/** A board's native bare-LF search (as the node and Espruino HALs give it). */
export const bareLF = (s: string) => /[^\r]\n/.test(s);

/** Feeds `input` cut at the given positions; returns what the reader made of it. */
function read(input: string, cuts: number[], findBareLF?: (s: string) => boolean): Read {
  const result: Read = { body: "", rest: undefined };
  const reader: DataReader = new DataReader({ onBody: (d) => (result.body += d) }, findBareLF);
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    if (result.rest !== undefined) break;
    result.rest = reader.push(input.slice(from, cut));
    from = cut;
  }
  return result;
}

/** Every way to cut `input` in two, with and without the native search. */
function everyCut(input: string, check: (r: Read, where: string) => void): void {
  for (const native of [undefined, bareLF]) {
    for (let cut = 0; cut <= input.length; cut++) check(read(input, [cut], native), `cut at ${cut}${native ? ", native search" : ""}`);
  }
}

describe("DataReader", () => {
  const message = "Subject: x\r\n\r\n..dot\r\nplain\r\n...two\r\n.\r\nNEXT";
  it("unstuffs dots and stops at CRLF.CRLF, wherever the chunks end", () => {
    for (const native of [undefined, bareLF]) {
      for (let a = 0; a <= message.length; a++) {
        for (let b = a; b <= message.length; b += 3) {
          const r = read(message, [a, b], native);
          assert.equal(r.body, "Subject: x\r\n\r\n.dot\r\nplain\r\n..two\r\n", `cut at ${a},${b}`);
          // What follows the marker comes back (as far as that chunk went).
          assert.ok("NEXT".startsWith(r.rest as string) && r.rest !== undefined, `rest at ${a},${b}: ${JSON.stringify(r.rest)}`);
        }
      }
    }
  });

  it("ends an empty message at once", () => {
    assert.deepEqual(read(".\r\n", []), { body: "", rest: "" });
  });

  it("stores a bare LF as CRLF, unstuffs dots after it, and keeps a bare CR as content (Postfix 3.9 normalize)", () => {
    everyCut("a\nb\r\n..c\n..d\rx\r\n\n\r\n.\r\n", (r, where) => {
      assert.equal(r.body, "a\r\nb\r\n.c\r\n.d\rx\r\n\r\n\r\n", where);
      assert.equal(r.rest, "", where);
    });
  });

  // The smuggling variants (issue 14): none ends the message; the "." line is stored as content.
  for (const [name, variant, stored] of [
    ["LF.LF", "\n.\n", "\r\n.\r\n"],
    ["LF.CRLF", "\n.\r\n", "\r\n.\r\n"],
    ["CRLF.LF", "\r\n.\n", "\r\n.\r\n"],
    ["CR.CRLF", "\r.\r\n", "\r.\r\n"],
    ["CRLF.CR", "\r\n.\r", "\r\n\r"],
    ["LF.NUL CRLF", "\n.\x00\r\n", "\r\n\x00\r\n"],
    ["CRLF.NUL CRLF", "\r\n.\x00\r\n", "\r\n\x00\r\n"],
  ]) {
    it(`never ends at ${name}: the smuggled command stays in the message`, () => {
      const input = "Subject: s\r\n\r\nbody" + variant + "MAIL FROM:<a@b.example>\r\n.\r\nQUIT\r\n";
      everyCut(input, (r, where) => {
        assert.equal(r.body, "Subject: s\r\n\r\nbody" + stored + "MAIL FROM:<a@b.example>\r\n", where);
        assert.ok(r.rest !== undefined && "QUIT\r\n".startsWith(r.rest), `${where}: rest ${JSON.stringify(r.rest)}`);
      });
    });
  }

  it("takes lines of any length unchanged, a dot-stuffed 998-octet line too", () => {
    const long = "x".repeat(100000);
    const line998 = "." + "y".repeat(997);
    everyCut("a\r\n" + long + "\r\n." + line998 + "\r\n.\r\n", (r, where) => {
      assert.equal(r.body, "a\r\n" + long + "\r\n" + line998 + "\r\n", where);
    });
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
