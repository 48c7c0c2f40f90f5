/**
 * The MIME structure reader (firmware/mimestruct.ts) on awkward messages:
 * no MIME headers, a missing close delimiter, preamble and epilogue,
 * message/rfc822 nested in a multipart and in itself, boundaries cut by
 * chunk ends at every offset, nesting and part limits, a 12 MB base64 part
 * read with the memory of a small one; and random MIME trees (fast-check):
 * every part's octet range holds exactly the part that was put there,
 * however the message is split into chunks.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import { nstring, parseStructure, structureRecord, StructureReader, type MessageStructure } from "../firmware/mimestruct";
import { CORPUS, crlf, deepMessage } from "./mimestruct-corpus";

/** `text` read in chunks of the given sizes (cycled); the structure and the reader's largest held-back string. */
function read(text: string, sizes: number[], log?: (line: string) => void): { ms: MessageStructure; held: number } {
  const reader = new StructureReader(log);
  let held = 0;
  for (let i = 0, k = 0; i < text.length; k++) {
    const n = sizes[k % sizes.length];
    reader.push(text.substring(i, i + n));
    i += n;
    held = Math.max(held, (reader as unknown as { held: string }).held.length);
  }
  return { ms: reader.finish(), held };
}

function whole(text: string): MessageStructure {
  return read(text, [text.length + 1]).ms;
}

/** The octets of part `path`'s body, header (MIME header or, for message/rfc822, the enclosed header) and text. */
function body(text: string, ms: MessageStructure, path: string): string {
  const r = ms.part(path);
  assert.ok(r, `part ${path} exists`);
  assert.ok(r.header <= r.body && r.body <= r.end && r.end <= text.length, `part ${path}: ordered ranges ${JSON.stringify(r)}`);
  return text.substring(r.body, r.end);
}

const byName = (name: string) => CORPUS.find((m) => m.name === name)!.text;

describe("the structure reader", () => {
  it("gives the same structure for every split of every corpus message", () => {
    for (const m of CORPUS.concat([{ name: "deep 20", text: deepMessage(20) }])) {
      const record = structureRecord(whole(m.text));
      for (const size of [1, 3, 536, 1460]) assert.equal(structureRecord(read(m.text, [size]).ms), record, `${m.name}: chunks of ${size}`);
      // Two chunks, cut at every offset: a boundary cut at each of its octets.
      for (let cut = 1; cut < m.text.length; cut++) {
        const r = new StructureReader();
        r.push(m.text.substring(0, cut));
        r.push(m.text.substring(cut));
        assert.equal(structureRecord(r.finish()), record, `${m.name}: cut at ${cut}`);
      }
    }
  });

  it("reads a message without MIME headers as text/plain, and one without a blank line as all header", () => {
    const ms = whole(crlf("From: a@b.test", "Subject: plain", "", "Hello", "world", ""));
    assert.equal(ms.bodystructure, '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2 NIL NIL NIL NIL)');
    assert.equal(ms.body, '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2)');
    assert.deepEqual(ms.part(""), { header: 0, body: 34, end: 48, inner: -1 });
    assert.deepEqual(ms.part("1"), { header: 0, body: 34, end: 48, inner: -1 });
    assert.equal(ms.part("2"), undefined);
    const all = whole(crlf("From: a@b.test", "Subject: all header"));
    assert.deepEqual(all.part(""), { header: 0, body: 35, end: 35, inner: -1 });
    assert.match(all.envelope, /^\(NIL "all header" /);
  });

  it("gives each part of a multipart its MIME header and body, without preamble, epilogue or the CRLF before a boundary", () => {
    const text = byName("multipart with preamble and epilogue");
    const ms = whole(text);
    assert.equal(body(text, ms, "1"), "Hello=20there\r\nline 2");
    assert.match(body(text, ms, "2"), /^SGVsbG8g[\s\S]*LiBIZWxsbw==|^SGVsbG8g[\s\S]*IQ==$|^SGVs[\s\S]*dC4=$/);
    const r1 = ms.part("1")!;
    assert.ok(text.substring(r1.header, r1.body).startsWith("Content-Type: text/plain; charset=utf-8"));
    assert.ok(text.substring(r1.header, r1.body).endsWith("the text\r\n\r\n"));
    assert.equal(ms.part("")!.end, text.length);
    assert.ok(text.substring(ms.part("")!.body).startsWith("This is a preamble."));
    assert.equal(ms.part("3"), undefined);
    assert.equal(ms.part("1.1"), undefined);
  });

  it("ends the last part at the end of the message when the close delimiter is missing", () => {
    const text = byName("missing end boundary");
    const ms = whole(text);
    assert.equal(body(text, ms, "1"), "one");
    assert.equal(body(text, ms, "2"), "two\r\nthree\r\n");
  });

  it("numbers the parts of a message/rfc822 under its own number and gives its header and text", () => {
    const text = byName("message/rfc822 in multipart");
    const ms = whole(text);
    const r = ms.part("2")!;
    assert.ok(r.inner > r.body);
    assert.ok(text.substring(r.body, r.inner).startsWith("From: inner@y.test\r\n"));
    assert.ok(text.substring(r.body, r.inner).endsWith("boundary=\"in\"\r\n\r\n"));
    assert.ok(text.substring(r.inner, r.end).startsWith("--in\r\n"));
    assert.equal(body(text, ms, "2.1"), "inner text");
    assert.equal(body(text, ms, "2.2"), "<p>inner</p>");
    assert.equal(body(text, ms, "1"), "see attached");
    assert.match(ms.bodystructure, /"message" "rfc822" NIL NIL NIL "7bit" 243 \(NIL "inner one" /);

    const top = byName("top-level message/rfc822");
    const tm = whole(top);
    assert.equal(body(top, tm, "1.1"), "inner body\r\ntwo\r\n");
    assert.equal(top.substring(tm.part("1")!.body, tm.part("1")!.inner), "From: c@d.test\r\nSubject: inside\r\n\r\n");

    const nested = byName("message/rfc822 inside message/rfc822");
    const nm = whole(nested);
    assert.equal(body(nested, nm, "1.1.1"), "UEsDBBQ=");
    assert.match(nm.bodystructure, /^\("message" "rfc822" .* \("message" "rfc822" .*\(NIL "inner" /);
  });

  it("reads parts nested deeper than 16 as one part, and says so", () => {
    const lines: string[] = [];
    const ms = whole(deepMessage(20));
    read(deepMessage(20), [100000], (line) => lines.push(line));
    assert.deepEqual(lines, ["mime: parts nested deeper than 16 read as one"]);
    assert.ok(ms.bodystructure.startsWith("(".repeat(16) + '("multipart" "mixed" ("boundary" "b16.") NIL NIL "7bit" '));
    assert.ok(ms.part("1".repeat(16).split("").join("."))); // the leaf at depth 16
    assert.equal(ms.part("1".repeat(17).split("").join(".")), undefined);
    assert.ok(ms.part("1.1.2")); // the parts beside the deep ones are there
  });

  it("stops making parts after 100 and reads the rest as the last part's body", () => {
    let text = "Content-Type: multipart/mixed; boundary=p\r\n\r\n";
    for (let i = 0; i < 150; i++) text += "--p\r\n\r\npart " + i + "\r\n";
    text += "--p--\r\n";
    const lines: string[] = [];
    const ms = read(text, [536], (line) => lines.push(line)).ms;
    assert.deepEqual(lines, ["mime: more than 100 parts; the rest read as body"]);
    assert.ok(ms.part("99"));
    assert.equal(ms.part("100"), undefined);
    assert.ok(body(text, ms, "99").startsWith("part 98\r\n--p\r\n"));
    assert.ok(body(text, ms, "99").endsWith("part 149"));
  });

  it("keeps its memory flat: a 12 MB base64 part and a 3 MB text part hold back no more than a boundary line", () => {
    const line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    const b64 = line.repeat(Math.ceil(12e6 / line.length));
    const textLine = "a line of text -- with dashes\r\n";
    const txt = textLine.repeat(100000);
    const text = crlf("Subject: big", "Content-Type: multipart/mixed; boundary=\"==big==\"", "", "--==big==", "Content-Type: text/plain", "", "") + txt + "\r\n--==big==\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--==big==--\r\n";
    const { ms, held } = read(text, [1460, 536, 1]);
    assert.ok(held <= 20, `held back at most ${held} octets`);
    assert.equal(ms.part("2")!.end - ms.part("2")!.body, b64.length);
    assert.match(ms.bodystructure, new RegExp(`^\\(\\("text" "plain" \\("charset" "us-ascii"\\) NIL NIL "7bit" ${txt.length} 100000 `));
  });

  it("keeps a record that reads back, and refuses a cut one", () => {
    const ms = whole(byName("message/rfc822 in multipart"));
    const record = structureRecord(ms);
    const back = parseStructure("xx" + record, 2)!;
    assert.equal(back.envelope, ms.envelope);
    assert.equal(back.bodystructure, ms.bodystructure);
    assert.equal(back.body, ms.body);
    assert.deepEqual(back.part("2.2"), ms.part("2.2"));
    for (const cut of [0, 3, 10, record.length - 1]) assert.equal(parseStructure(record.substring(0, cut), 0), undefined);
  });

  it("quotes strings as IMAP needs them", () => {
    assert.equal(nstring(undefined), "NIL");
    assert.equal(nstring(""), '""');
    assert.equal(nstring('a "b"'), '"a \\"b\\""');
    assert.equal(nstring('"""""'), '{5}\r\n"""""');
    assert.equal(nstring("caf\xe9"), "{4}\r\ncaf\xe9");
    assert.equal(nstring("a\r\nb"), "{4}\r\na\r\nb");
  });
});

/** A random MIME tree, rendered; `parts` maps each part number to the body that was put there. */
interface Built {
  text: string;
  parts: Map<string, string>;
}

type Node = { kind: "leaf"; type: string; body: string } | { kind: "multi"; kids: Node[] } | { kind: "message"; inner: Node };

const leafBody = fc.array(fc.constantFrom("x", "ab c", "-- sig", "-", "--", "=3D", "\t", "q-p=\r\n", "line\r\n", "\r\n", "\n", "\r", "é"), { maxLength: 12 }).map((a) => a.join(""));
const node: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ kind: fc.constant("leaf" as const), type: fc.constantFrom("text/plain", "application/octet-stream", "image/png"), body: leafBody }),
    fc.record({ kind: fc.constant("multi" as const), kids: fc.array(tie("node"), { minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant("message" as const), inner: tie("node") }),
  ),
})).node;

function render(root: Node): Built {
  const parts = new Map<string, string>();
  let counter = 0;
  // Returns the entity's header fields and body; `num` its part number, `root` whether it is a message's body.
  const entity = (n: Node, num: string, prefix: string): { head: string; body: string } => {
    if (n.kind === "leaf") {
      parts.set(num, n.body);
      return { head: `Content-Type: ${n.type}\r\n`, body: n.body };
    }
    if (n.kind === "message") {
      const inner = entity(n.inner, n.inner.kind === "multi" ? "" : num + ".1", num);
      const msg = "Subject: inner " + num + "\r\n" + inner.head + "\r\n" + inner.body;
      parts.set(num, msg);
      return { head: "Content-Type: message/rfc822\r\n", body: msg };
    }
    const b = `b${counter++}_${"x".repeat(counter % 3)}=`;
    let body = counter % 2 === 0 ? "preamble\r\n" : "";
    n.kids.forEach((kid, i) => {
      const kidNum = (prefix.length > 0 ? prefix + "." : "") + (i + 1);
      const e = entity(kid, kidNum, kidNum);
      body += `--${b}\r\n${e.head}\r\n${e.body}\r\n`;
    });
    body += `--${b}--\r\n` + (counter % 3 === 0 ? "epilogue" : "");
    if (num.length > 0) parts.set(num, body);
    return { head: `Content-Type: multipart/mixed; boundary="${b}"\r\n`, body };
  };
  const top = entity(root, root.kind === "multi" ? "" : "1", "");
  return { text: "Subject: random\r\n" + top.head + "\r\n" + top.body, parts };
}

describe("the structure reader on random MIME trees", () => {
  it("finds every part where it was put, for any split into chunks", () => {
    fc.assert(
      fc.property(node, fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 }), (root, sizes) => {
        const built = render(root);
        const ms = whole(built.text);
        assert.ok(built.parts.size > 0);
        for (const [num, expected] of built.parts) assert.equal(body(built.text, ms, num), expected, `part ${num}`);
        assert.equal(structureRecord(read(built.text, sizes).ms), structureRecord(ms));
      }),
      { numRuns: Number(process.env.MIME_RUNS || 300) },
    );
  });
});
