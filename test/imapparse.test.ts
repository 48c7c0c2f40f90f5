/**
 * firmware/imapparse.ts: the IMAP command reader (grammar, literals, APPEND
 * streaming, every limit, bad input), sequence sets, modified UTF-7 names,
 * LIST patterns and quoting. The same stream cut anywhere gives the same
 * events (every offset, 1-, 3- and 536-octet chunks, fast-check); the
 * reader keeps at most one command; the Lua VM with the board's numbers
 * gives the same transcript as Node.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { CommandReader, decodeMailboxName, inSet, matchPattern, parseSet, quote, type ImapCommand } from "../firmware/imapparse";
import { cases, imapparseWorkload, readAll, show as showTok } from "./portable/imapparse-workload";
import { runs, split } from "./fuzz-arbitraries";
import { LuaVm } from "../sim/lua/vm";
import { compileWorkload, runLua } from "./helpers/lua-workload";
import { spawnSync } from "node:child_process";
import * as vm from "node:vm";
import { minify } from "terser";
import { bundleCommonJs } from "../host/espruino/bundle";
import { EspruinoBoard } from "../sim/espruino/board";
import { SimCard } from "../sim/card";
import { SimFlash } from "../sim/flash";

const ROOT = path.resolve(__dirname, "../..");
const caseInput = (name: string) => cases().find((c) => c[0] === name)![1];
/** The events of a case fed whole, as lines. */
const events = (input: string, refuse = false) => readAll(input, input.length, refuse, false).trimEnd().split("\n");

describe("the command reader", () => {
  it("reads tags, names in upper case, atoms, UID forms; bare LF ends a line too", () => {
    assert.deepEqual(events(caseInput("simple")), ["C a1 NOOP ()", "C A2 CAPABILITY ()", "C A3 LOGIN ('alice' 'secret')"]);
    assert.deepEqual(events("a1 NOOP\na2 LOGIN   a   b  \r\n"), ["C a1 NOOP ()", "C a2 LOGIN ('a' 'b')"]);
    assert.deepEqual(events(caseInput("uid")), [
      "C A UID FETCH ('1:*,3' ('FLAGS' 'UID'))",
      "B B UID needs a command", // two spaces after UID
      "B C UID needs a command",
    ]);
    assert.deepEqual(events("a uid fetch 1 FLAGS\r\n"), ["C a UID FETCH ('1' 'FLAGS')"]);
  });

  it("reads quoted strings with \\\\ and \\\" escapes, and nothing else escaped", () => {
    assert.deepEqual(events(caseInput("quoted")), [
      "C a LOGIN ('al ice' 'p\"a\\92;ss')",
      "C b LIST ('' '')",
      "B c Invalid quoted string",
      "B d Invalid quoted string",
    ]);
    assert.deepEqual(events('a X "\\\r\nb X "a\\"\r\nc X "caf\xe9"\r\n'), ["B a Invalid quoted string", "B b Invalid quoted string", "C c X ('caf\\233;')"]);
  });

  it("reads parenthesised lists, empty lists and NIL, and rejects unbalanced ones and missing spaces", () => {
    assert.deepEqual(events(caseInput("lists")), [
      "C a STORE ('1' 'FLAGS' ())",
      "C b X (('a' ('b' ('c' 'NIL')) '' 'd'))",
      "B c Missing )",
      "B d Unexpected )",
      "B e Missing space",
      "B f Missing space",
    ]);
  });

  it("keeps a section-bearing atom whole: brackets, spaces, parentheses and the partial", () => {
    assert.deepEqual(events(caseInput("sections")), [
      "C a FETCH ('1' ('BODY.PEEK[HEADER.FIELDS (From To)]<0.100>' 'BODY[]' 'BODY[1.2.MIME]' 'RFC822.SIZE'))",
      // A quoted header name that is a plain atom is unquoted; others stay quoted.
      "C b FETCH ('1' 'BODY[HEADER.FIELDS (Subject \"X Y\" \"a\\92;\"b\")]')",
      "B c Invalid [section]",
      "B d Invalid [section]",
      "C e SELECT ('[Gmail]/Sent')",
    ]);
  });

  it("takes synchronizing and non-synchronizing literals, in lists and empty, and checks what follows them", () => {
    assert.deepEqual(events(caseInput("literals")), [
      "L a 5 sync",
      "L a 6 nonsync",
      "C a LOGIN ('alice' 'secret')",
      "L b 0 sync",
      "L b 3 sync",
      "C b X (('' '(a)'))",
      "L c 3 sync",
      "B c Missing space after literal",
      "B d Invalid literal", // {3} not at the end of the line
      "B e Invalid literal",
      "B f Invalid literal",
    ]);
  });

  it("a literal the session refuses: a synchronizing one is never sent, a non-synchronizing one is dropped", () => {
    assert.deepEqual(events("a LOGIN {5}\r\nb NOOP\r\nc LOGIN {5+}\r\nalice x\r\nd NOOP\r\n", true), [
      "L a 5 sync", "B a refused", "C b NOOP ()",
      "L c 5 nonsync", "B c refused", "C d NOOP ()",
    ]);
  });

  it("inline literals: 8 KiB per command in all; larger ones BAD, a non-synchronizing one read and dropped", () => {
    const ev = events(caseInput("literal limit"));
    assert.equal(ev[0], "L a 8192 sync");
    assert.equal(ev[1], "C a X ('" + "y".repeat(8192) + "')");
    assert.deepEqual(ev.slice(2), ["L b 4096 nonsync", "B b [TOOBIG] Literal too large", "C c NOOP ()"]);
  });

  it("{4294967296} and longer numbers: BAD, never sent, and the session goes on", () => {
    assert.deepEqual(events(caseInput("huge literals")), [
      "B a [TOOBIG] Literal too large", "C b NOOP ()", "B c [TOOBIG] Literal too large", "C d NOOP ()",
    ]);
  });

  it("NUL in a line or an inline literal and a bare CR inside a line: BAD", () => {
    assert.deepEqual(events(caseInput("nul")), ["B a NUL in command", "L b 3 sync", "B b NUL in literal", "B c NUL in command", "C d NOOP ()"]);
    assert.deepEqual(events(caseInput("cr")), ["B a CR inside a line", "B b CR inside a line"]);
  });

  it("tags: up to 64 octets of ASTRING-CHARs but +; a bad or 10 KB tag is answered with *", () => {
    assert.deepEqual(events(caseInput("tags")), [
      "B * Invalid tag", "B * Invalid tag", "B * Invalid tag",
      "C " + "t".repeat(64) + " NOOP ()",
      "B * Tag too long",
      "B * Command line too long",
      "C z NOOP ()",
    ]);
  });

  it("a missing or malformed command name is BAD with the tag; empty lines are ignored", () => {
    assert.deepEqual(events(caseInput("names")), [
      "B a1 Missing or invalid command name",
      "B a2 Missing or invalid command name",
      "B a3 Missing or invalid command name",
      "B a4 Missing or invalid command name",
      "B GET Missing or invalid command name",
      "B a5 Missing or invalid command name",
      "C a6 NOOP ()",
    ]);
  });

  it("nesting: 16 levels are read, 17 and a thousand are BAD, and the session goes on", () => {
    assert.deepEqual(events(caseInput("nesting")), [
      "C a X (" + "(".repeat(16) + ")".repeat(16) + ")",
      "B b Lists nested too deeply",
      "B c Lists nested too deeply",
      "C d NOOP ()",
    ]);
  });

  it("line text: 8192 octets per command with the CRLFs; beyond, BAD, and a {n+} ending the line is dropped", () => {
    const ev = events(caseInput("line limit"));
    assert.equal(ev[0], "C a X ('" + "a".repeat(8186) + "')"); // 4 + 8186 + CRLF = 8192
    assert.deepEqual(ev.slice(1), ["B b Command line too long", "L c 5 nonsync", "B c Command line too long", "C d NOOP ()"]);
    assert.deepEqual(events(caseInput("long continuation")), ["L a 1 sync", "B a Command line too long", "C b NOOP ()"]);
    // An over-long line that announces a non-synchronizing literal: its octets are not read as commands.
    assert.deepEqual(events("a X " + "x".repeat(9000) + " {5+}\r\nb NOO\r\nc NOOP\r\n"), ["B a Command line too long", "C c NOOP ()"]);
  });

  it("at most 1000 tokens and parentheses per command", () => {
    const ev = events(caseInput("items"));
    assert.equal(ev[0], "C a X (" + Array(1000).fill("'x'").join(" ") + ")");
    assert.equal(ev[2], "C c X (" + Array(500).fill("()").join(" ") + ")");
    assert.deepEqual([ev[1], ev[3], ev[4]], ["B b Too many arguments", "B d Too many arguments", "C e NOOP ()"]);
  });

  it("streams APPEND's message literal, one message per APPEND; a mailbox literal is inline", () => {
    assert.deepEqual(events(caseInput("append")), [
      "A a ('INBOX' ('\\92;Seen') '01-Jan-2024 10:00:00 +0000') 13 sync",
      "D 'Hello\\13;\\10;World!'",
      "E",
      "A b ('Sent') 0 nonsync",
      "D ''",
      "E",
      "L c 6 sync",
      "A c ('Drafts') 3 nonsync",
      "D 'abc'",
      "E",
      "A d ('x') 2 sync",
      "D 'ab'",
      "B d Only one message per APPEND", // MULTIAPPEND: the second message is dropped
      "L e 2 sync",
      "C e APPEND ('x' ('ab'))", // no message: the session answers it
      "C f NOOP ()",
    ]);
  });

  it("a refused APPEND: a synchronizing message is never sent, a non-synchronizing one is dropped", () => {
    assert.deepEqual(events("a APPEND INBOX {3}\r\nb NOOP\r\nc APPEND INBOX {3+}\r\nxyz\r\nd NOOP\r\n", true), [
      "A a ('INBOX') 3 sync", "B a refused", "C b NOOP ()",
      "A c ('INBOX') 3 nonsync", "B c refused", "C d NOOP ()",
    ]);
  });

  it("APPEND's message goes on in the chunks it came in: never kept, never split into lines", () => {
    const message = "From: a\r\n\r\n" + "0123456789\r\n".repeat(1000);
    const chunks: string[] = [];
    const reader = new CommandReader({
      onCommand: () => assert.fail("no command"),
      onBad: (t, text) => assert.fail(text),
      onLiteral: () => true,
      onAppendStart: () => true,
      onAppendData: (c) => {
        chunks.push(c);
        assert.ok(retained(reader) < 100, "the message is not kept");
      },
      onAppendEnd: () => chunks.push("END"),
      onContinuation: () => assert.fail("no line"),
    });
    const input = "a APPEND INBOX {" + message.length + "+}\r\n" + message + "\r\n";
    const pieces = split(input, Array.from({ length: 40 }, (_, i) => i * 536));
    for (const piece of pieces) assert.equal(reader.push(piece, () => false), "");
    assert.equal(chunks.pop(), "END");
    assert.equal(chunks.join(""), message);
    assert.ok(chunks.length <= pieces.length, "at most one data event per chunk");
  });

  it("expectLine(): the next line goes to onContinuation unparsed; an over-long one is BAD and the next one comes", () => {
    assert.deepEqual(events(caseInput("continuations")), [
      "C a IDLE ()", "K 'DONE'",
      "C b AUTHENTICATE ('PLAIN')", "K 'AGFsaWNlAHNlY3JldA=='",
      "C c IDLE ()", "B * Line too long", "K 'DONE'",
      "C d NOOP ()",
    ]);
  });

  it("garbage, 8-bit and control octets in atoms, a quote inside an atom, stray parentheses", () => {
    assert.deepEqual(events(caseInput("garbage")), [
      "B * Invalid tag", "B * Invalid tag",
      "C a NOOP ('\\233;t\\233;')",
      "B b Invalid character in atom",
      "B * Invalid tag",
      "L c 2 nonsync", "C c X ('\\13;\\10;')",
      "C d NOOP ()",
    ]);
  });

  it("gives the same events however the stream is cut: at every offset, and in 1-, 3- and 536-octet chunks with stops", () => {
    for (const [name, input] of cases()) {
      const whole = readAll(input, input.length, false, false);
      for (const size of [1, 3, 536]) assert.equal(readAll(input, size, false, size === 3), whole, `${name}, ${size}-octet chunks`);
      // Two chunks cut at every offset (every 97th in the long cases), fed with and without stops.
      const step = input.length > 2000 ? 97 : 1;
      for (let cut = 1; cut < input.length; cut += step) {
        assert.equal(feedPieces([input.slice(0, cut), input.slice(cut)], cut % 2 === 0), whole, `${name}, cut at ${cut}`);
      }
    }
  });

  it("fuzz: random commands and garbage, cut anywhere, give the same events; no throw; at most one command kept", () => {
    const atom = fc.constantFrom("NOOP", "LOGIN", "x", "1:*", "\\Seen", "BODY[]", "BODY.PEEK[HEADER.FIELDS (A B)]<0.5>", "NIL", "UID", "APPEND", "IDLE");
    const piece = fc.oneof(
      { weight: 5, arbitrary: atom },
      { weight: 2, arbitrary: fc.constantFrom("(", ")", " ", "\r\n", "\n", '"', "\\", "{", "}", "+", "[", "]", "\x00", "\r", "*") },
      { weight: 2, arbitrary: fc.string({ maxLength: 6 }).map((s) => '"' + s.replace(/["\\]/g, "") + '"') },
      { weight: 2, arbitrary: fc.tuple(fc.nat({ max: 12 }), fc.boolean()).map(([n, plus]) => `{${n}${plus ? "+" : ""}}\r\n` + "L".repeat(n)) },
      { weight: 1, arbitrary: fc.constantFrom("{99999}\r\n", "{4294967296+}\r\n", "(".repeat(20), "x".repeat(300)) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) },
    );
    const line = fc.tuple(fc.constantFrom("a", "B1", "*", "+", ""), fc.array(piece, { maxLength: 12 })).map(([tag, ps]) => tag + " " + ps.join(" ") + "\r\n");
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), fc.boolean(), (lines, cuts, stop, refuse) => {
        const input = lines.join("");
        const whole = readAll(input, input.length, refuse, false);
        assert.equal(feedPieces(split(input, cuts), stop, refuse), whole);
      }),
      { numRuns: runs(400) },
    );
  });

  it("memory: whatever comes, the reader keeps at most a command's line text and its literals", () => {
    const bounded = (input: string) => {
      const reader = new CommandReader({
        onCommand: () => {}, onBad: () => {}, onLiteral: () => true, onAppendStart: () => true,
        onAppendData: () => {}, onAppendEnd: () => {}, onContinuation: () => {},
      });
      let most = 0;
      for (let p = 0; p < input.length; p += 536) {
        reader.push(input.slice(p, p + 536), () => false);
        most = Math.max(most, retained(reader));
      }
      return most;
    };
    assert.ok(bounded("a X " + "y".repeat(100000) + "\r\n") <= 8192);
    assert.ok(bounded("a X {8000+}\r\n" + "z".repeat(8000) + " {8000+}\r\n" + "z".repeat(8000) + "\r\n") <= 8192 + 8192);
    assert.ok(bounded("a X " + "(".repeat(100000) + "\r\n") <= 8192);
    assert.ok(bounded(("a X " + "b".repeat(6000) + " {2000+}\r\n" + "c".repeat(2000)).repeat(20)) <= 8192 + 8192);
    // An unterminated literal waits (the session's idle timer ends it) without growing beyond its limit.
    assert.ok(bounded("a LOGIN {8192}\r\n" + "q".repeat(8000)) <= 8192 + 32);
  });
});

/** Octets the reader holds: its partial line, literal and the strings of the command so far. */
function retained(reader: CommandReader): number {
  const r = reader as unknown as { buf: string; c: { lit: string; args: unknown[] } };
  const size = (t: unknown): number => (typeof t === "string" ? t.length : (t as unknown[]).reduce((a: number, x) => a + size(x), 0));
  return r.buf.length + r.c.lit.length + size(r.c.args);
}

/** readAll over given pieces instead of fixed-size chunks. */
function feedPieces(pieces: string[], stop: boolean, refuse = false): string {
  let out = "";
  let data = "";
  let stopNow = false;
  const reader: CommandReader = new CommandReader({
    onCommand: (cmd: ImapCommand) => {
      out += "C " + cmd.tag + " " + cmd.name + " " + showTok(cmd.args) + "\n";
      if (cmd.name === "IDLE" || cmd.name === "AUTHENTICATE") reader.expectLine();
      stopNow = true;
    },
    onBad: (tag, text) => {
      if (data.length > 0) out += "D " + showTok(data) + "\n";
      data = "";
      out += "B " + tag + " " + text + "\n";
      stopNow = true;
    },
    onLiteral: (tag, n, sync) => {
      out += "L " + tag + " " + n + (sync ? " sync" : " nonsync") + "\n" + (refuse ? "B " + tag + " refused\n" : "");
      return !refuse;
    },
    onAppendStart: (cmd, n, sync) => {
      out += "A " + cmd.tag + " " + showTok(cmd.args) + " " + n + (sync ? " sync" : " nonsync") + "\n" + (refuse ? "B " + cmd.tag + " refused\n" : "");
      return !refuse;
    },
    onAppendData: (chunk) => {
      if (chunk.length === 0) out += "empty data chunk\n";
      data += chunk;
    },
    onAppendEnd: () => {
      out += "D " + showTok(data) + "\nE\n";
      data = "";
      stopNow = true;
    },
    onContinuation: (line) => {
      out += "K " + showTok(line) + "\n";
      stopNow = true;
    },
  });
  const shouldStop = () => {
    const s = stopNow && stop;
    stopNow = false;
    return s;
  };
  for (const piece of pieces) {
    let rest = piece;
    while (rest.length > 0) {
      const before = rest.length;
      rest = reader.push(rest, shouldStop);
      if (rest.length >= before) return out + "push consumed nothing\n";
      assert.ok(retained(reader) <= 8192 + 8192 + 32, "at most one command kept");
    }
  }
  return out;
}


describe("sequence sets", () => {
  it("parses ranges as written, * as -1, clamps 2^31-1 and more, rejects 0 and malformed sets", () => {
    assert.deepEqual(parseSet("1:*,999999999,5:3"), [1, -1, 999999999, 999999999, 5, 3]);
    assert.deepEqual(parseSet("4294967296:2147483647"), [2147483647, 2147483647]);
    assert.deepEqual(parseSet("*"), [-1, -1]);
    for (const bad of ["", "0", "1:0", "1,", ",1", "1::2", "a", "-1", "+1", "1:2:3", "$", " 1", "1 ", "1.5"]) assert.equal(parseSet(bad), undefined, bad);
    const many = Array.from({ length: 512 }, (_, i) => String(i * 2 + 1)).join(",");
    assert.equal(parseSet(many)!.length, 1024);
    assert.equal(parseSet(many + ",2000"), undefined, "more than 512 ranges");
  });

  it("inSet: either order, * as the highest number in use (5:* holds it even when it is below 5)", () => {
    const set = parseSet("1:*,999999999,5:3")!;
    for (const n of [1, 2, 10]) assert.ok(inSet(set, n, 10));
    assert.ok(!inSet(set, 11, 10));
    assert.ok(inSet(set, 999999999, 10));
    assert.ok(inSet(parseSet("5:3")!, 4, 1));
    assert.ok(inSet(parseSet("20:*")!, 7, 7), "UID 20:* holds the highest UID 7");
    assert.ok(!inSet(parseSet("20:*")!, 6, 7));
    assert.ok(!inSet(parseSet("*")!, 1, 0), "* in an empty folder");
  });
});

describe("mailbox names (modified UTF-7, RFC 3501 5.1.3)", () => {
  it("accepts what RFC 3501 shows and what clients send", () => {
    for (const ok of ["INBOX", "a&-b", "&-", "Entw&APw-rfe", "&Jjo-!", "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "&2D3eAA-", "[Gmail]/Sent Mail", "&AAE-"]) {
      assert.equal(decodeMailboxName(ok), ok, ok);
    }
  });
  it("rejects unterminated shifts, bad base64, encoded printable ASCII, NUL, stray bits, lone surrogates, 8-bit and controls", () => {
    for (const bad of ["&", "&U,BTFw", "&AGE-", "&AAA-", "&2D0-", "&3gA-", "&2D3YPQ-", "&APw", "&APx-", "&AP-", "a\x7fb", "caf\xe9", "tab\there", "&U,B-", "&*-", "&U/BTFw-"]) {
      assert.equal(decodeMailboxName(bad), undefined, JSON.stringify(bad));
    }
  });
  it("agrees with a UTF-16 round trip on random names", () => {
    // Node's reference: encode a random string the RFC way; it must be accepted.
    const encode = (s: string) => {
      let out = "";
      let shifted = "";
      const flush = () => {
        if (shifted) out += "&" + Buffer.from(shifted, "utf16le").swap16().toString("base64").replace(/=+$/, "").replace(/\//g, ",") + "-";
        shifted = "";
      };
      for (const ch of s) {
        const c = ch.codePointAt(0)!;
        if (c >= 0x20 && c <= 0x7e) {
          flush();
          out += ch === "&" ? "&-" : ch;
        } else shifted += ch;
      }
      flush();
      return out;
    };
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 12 }), (s) => {
        fc.pre(!s.includes("\0"));
        const name = encode(s);
        assert.equal(decodeMailboxName(name), name, name);
      }),
      { numRuns: runs(300) },
    );
  });
});

describe("LIST patterns", () => {
  const folders = ["INBOX", "INBOX/Sub", "Sent", "Archive/2024", "Archive/2024/Jan", "a/b/c", "Ssst", "inboxes"];
  const matches = (p: string) => folders.filter((f) => matchPattern(p, f));
  it("* crosses the delimiter, % does not; INBOX in any case", () => {
    assert.deepEqual(matches("*"), folders);
    assert.deepEqual(matches("%"), ["INBOX", "Sent", "Ssst", "inboxes"]);
    assert.deepEqual(matches("inbox"), ["INBOX"]);
    assert.deepEqual(matches("Inbox/%"), ["INBOX/Sub"]);
    assert.deepEqual(matches("Archive/%"), ["Archive/2024"]);
    assert.deepEqual(matches("Archive/*"), ["Archive/2024", "Archive/2024/Jan"]);
    assert.deepEqual(matches("%/%"), ["INBOX/Sub", "Archive/2024"]);
    assert.deepEqual(matches("S%t"), ["Sent", "Ssst"]);
    assert.deepEqual(matches("a*b*c"), ["a/b/c"]);
    assert.deepEqual(matches(""), []);
    assert.deepEqual(matches("sent"), [], "other names are case-sensitive");
  });
  it("agrees with a regular-expression reference on random patterns, and stays fast on pathological ones", () => {
    const reference = (p: string, name: string) => {
      const inbox = /^INBOX(\/|$)/i.test(name) ? 5 : 0;
      const n = inbox ? "INBOX" + name.slice(5) : name;
      let pp = p;
      if (inbox) {
        // The first five octets of INBOX match in any case: fold the pattern's literal prefix.
        pp = p.replace(/^[^*%]{1,5}/, (m) => m.toUpperCase());
      }
      const re = new RegExp("^" + pp.replace(/[.+?^${}()|[\]\\/]/g, "\\$&").replace(/\*/g, ".*").replace(/%/g, "[^/]*") + "$", "s");
      return re.test(n);
    };
    const ch = fc.constantFrom("a", "b", "/", "*", "%", "I", "n");
    fc.assert(
      fc.property(fc.array(ch, { maxLength: 8 }), fc.array(fc.constantFrom("a", "b", "/"), { maxLength: 10 }), (p, n) => {
        assert.equal(matchPattern(p.join(""), n.join("")), reference(p.join(""), n.join("")), `${p.join("")} ~ ${n.join("")}`);
      }),
      { numRuns: runs(1000) },
    );
    const started = Date.now();
    assert.equal(matchPattern("*a".repeat(200) + "b", "a".repeat(250)), false);
    assert.equal(matchPattern("%a".repeat(100), "a".repeat(250)), true);
    assert.ok(Date.now() - started < 1000);
  });
});

describe("quote", () => {
  it("quotes 7-bit text with escapes, and sends 8-bit, CR, LF or NUL as a literal", () => {
    assert.equal(quote(""), '""');
    assert.equal(quote("plain"), '"plain"');
    assert.equal(quote('a "b" \\c'), '"a \\"b\\" \\\\c"');
    assert.equal(quote("caf\xe9"), "{4}\r\ncaf\xe9");
    assert.equal(quote("a\r\nb"), "{4}\r\na\r\nb");
    assert.equal(quote("n\x00"), "{2}\r\nn\x00");
    assert.equal(quote("tab\there"), '"tab\there"');
  });
  it("reads back through the reader as the same string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 20 }).map((s) => Buffer.from(s, "utf8").toString("latin1")), (s) => {
        fc.pre(!s.includes("\0"));
        const q = quote(s);
        const input = "a X " + (q.startsWith("{") ? q.replace("}\r\n", "+}\r\n") : q) + "\r\n";
        assert.deepEqual(events(input).filter((e) => e.startsWith("C")), ["C a X (" + showTok(s) + ")"]);
      }),
      { numRuns: runs(300) },
    );
  });
});

describe("the Lua VM with the board's numbers (LUA_32BITS)", () => {
  it("gives the transcript Node gives", () => {
    const expected = imapparseWorkload();
    assert.ok(!/DIFFERENT|push consumed nothing|empty data chunk/.test(expected), expected.match(/.*(DIFFERENT|consumed|empty data).*/)?.[0]);
    const bundle = compileWorkload(path.join(ROOT, "test/portable/imapparse-workload.ts"));
    const got = runLua(new LuaVm({ write: () => {}, onError: () => {} }), bundle, "workload.imapparseWorkload(nil)");
    if (got !== expected) {
      const a = got.split("\n");
      const b = expected.split("\n");
      const i = a.findIndex((l, k) => l !== b[k]);
      assert.fail(`Lua differs at line ${i + 1}:\n lua:  ${a[i]?.slice(0, 200)}\n node: ${b[i]?.slice(0, 200)}`);
    }
  });
});

describe("the emulated Espruino board (its indexOf quirk, no hoisting)", () => {
  it("gives the transcript Node gives, from the ES5 bundle as the board build makes it", async () => {
    const expected = imapparseWorkload();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-imap-es5-"));
    try {
      const entry = path.join(ROOT, "test/portable/imapparse-workload.ts");
      fs.writeFileSync(
        path.join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: { target: "ES5", module: "commonjs", lib: ["ES5"], types: [], strict: true, ignoreDeprecations: "6.0", removeComments: true, rootDir: ROOT, outDir: path.join(dir, "out") },
          files: [entry],
        }),
      );
      const tsc = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(dir, "tsconfig.json")], { encoding: "utf8" });
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
      const main = path.join(dir, "out/test/portable/entry.js");
      fs.writeFileSync(main, 'transcript = require("./imapparse-workload").imapparseWorkload();\n');
      // As host/espruino/build.ts does: terser hoists declarations (Espruino does not), escapes 8-bit octets.
      const code = (await minify(bundleCommonJs(main), { ecma: 5, toplevel: true, compress: { passes: 2, hoist_funs: true, hoist_vars: true }, mangle: true, format: { ascii_only: true } })).code!;
      const board = new EspruinoBoard({ card: new SimCard({ dir }), flash: new SimFlash(), portMap: {}, bindHost: "127.0.0.1", log: () => {}, clock: () => 1_700_000_000 });
      board.run(code, "imapparse.js");
      assert.deepEqual(board.errors, []);
      assert.ok(vm.runInContext('"abcde".indexOf("deF")', board.context) === 3, "the board has Espruino's indexOf quirk");
      assert.equal((board.context as { transcript?: string }).transcript, expected);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
