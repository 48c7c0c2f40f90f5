/**
 * The portable MessagePack codec against msgpackr, in both directions, plus
 * the streaming decoder's INCOMPLETE / INVALID results.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr, Unpackr } from "msgpackr";
import { decode, encode, INCOMPLETE, INVALID, type MsgValue } from "../firmware/msgpack";

// Plain msgpack: no record extension, smallest map headers, undefined as nil.
const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const bytes = (s: string) => Buffer.from(s, "latin1");
const hexOf = (s: string) => bytes(s).toString("hex");
const theirs = (v: unknown) => packr.pack(v).toString("latin1");
const fromTheirs = (s: string) => unpackr.unpack(bytes(s));

function decodeAll(s: string): MsgValue {
  const r = decode(s, 0);
  assert.equal(r.end, s.length, `decode of ${hexOf(s)} ended at ${r.end}`);
  return r.value;
}

/** A copy whose maps have their keys inserted in byte order, the order our encoder writes. */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortedKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

const INT_BOUNDARIES = [
  0, 1, 31, 32, 63, 64, 127, 128, 255, 256, 65535, 65536, 2147483647,
  -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, -2147483647, -2147483648,
];

test("integers at every width boundary: same bytes as msgpackr, both directions", () => {
  for (const n of INT_BOUNDARIES) {
    assert.equal(hexOf(encode(n)), hexOf(theirs(n)), `encode ${n}`);
    assert.equal(decodeAll(theirs(n)), n, `decode msgpackr's ${n}`);
    assert.equal(fromTheirs(encode(n)), n, `msgpackr decodes our ${n}`);
  }
});

test("smallest encodings, byte for byte", () => {
  const cases: [MsgValue, string][] = [
    [127, "7f"], [128, "cc80"], [256, "cd0100"], [65536, "ce00010000"], [2147483647, "ce7fffffff"],
    [-32, "e0"], [-33, "d0df"], [-129, "d1ff7f"], [-32769, "d2ffff7fff"], [-2147483648, "d280000000"],
    [null, "c0"], [undefined, "c0"], [false, "c2"], [true, "c3"],
    ["", "a0"], ["a".repeat(32), "d920" + "61".repeat(32)],
    [[], "90"], [[1, [2]], "920191" + "02"], [{ b: 1, a: "x" }, "82a161a178a16201"],
  ];
  for (const [value, expected] of cases) assert.equal(hexOf(encode(value)), expected, JSON.stringify(value));
});

test("string, array and map length boundaries match msgpackr", () => {
  for (const n of [0, 15, 16, 31, 32, 255, 256, 65535, 65536]) {
    const s = "x".repeat(n);
    assert.equal(hexOf(encode(s)), hexOf(theirs(s)), `string of ${n}`);
    assert.equal(decodeAll(theirs(s)), s);
    const a = new Array(n).fill(7);
    assert.equal(hexOf(encode(a)), hexOf(theirs(a)), `array of ${n}`);
    assert.deepEqual(decodeAll(theirs(a)), a);
    const m: Record<string, number> = {};
    for (let i = 0; i < Math.min(n, 300); i++) m["k" + String(i).padStart(4, "0")] = i;
    assert.equal(hexOf(encode(m)), hexOf(theirs(m)), `map of ${Object.keys(m).length}`);
    assert.deepEqual(decodeAll(theirs(m)), m);
  }
});

test("map keys are written in byte order whatever the insertion order", () => {
  const value = { zeta: 1, Alpha: 2, alpha: [3, { y: 0, x: 1 }], _: null };
  assert.equal(hexOf(encode(value)), hexOf(theirs(sortedKeys(value))));
  assert.deepEqual(fromTheirs(encode(value)), value);
  // Properties that are undefined are left out, as Lua cannot see them.
  assert.equal(hexOf(encode({ a: 1, b: undefined })), hexOf(encode({ a: 1 })));
});

// Keys start with a letter: JavaScript iterates integer-like keys first, so
// msgpackr's order for them is not the byte order (see firmware/msgpack.ts).
const asciiString = fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const key = fc.tuple(fc.constantFrom("a", "k", "Z", "_"), asciiString).map(([a, b]) => a + b);
const int32 = fc.integer({ min: -2147483648, max: 2147483647 });
const { value: plainValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    int32,
    fc.integer({ min: -200, max: 70000 }),
    asciiString,
    fc.array(tie("value"), { maxLength: 20 }),
    fc.dictionary(key, tie("value"), { maxKeys: 20, noNullPrototype: true }),
  ),
}));

test("property: our bytes equal msgpackr's, and each decodes the other's", () => {
  fc.assert(
    fc.property(plainValue, (v) => {
      const ours = encode(v as MsgValue);
      assert.equal(hexOf(ours), hexOf(theirs(sortedKeys(v))));
      assert.deepEqual(fromTheirs(ours), v);
      assert.deepEqual(decodeAll(theirs(v)), v);
    }),
    { numRuns: 500 },
  );
});

test("property: 8-bit strings round-trip through our codec byte for byte", () => {
  const byteString = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 300 });
  fc.assert(
    fc.property(byteString, (s) => {
      const encoded = encode(s);
      assert.equal(decodeAll(encoded), s);
      // The header counts bytes, as msgpackr does for a Buffer's bin (same lengths).
      assert.equal(encoded.length - s.length, theirs(s.replace(/[^\x00-\x7f]/g, "?")).length - s.length);
    }),
  );
});

test("property: every proper prefix of an encoding is INCOMPLETE; values decode back to back", () => {
  fc.assert(
    fc.property(plainValue, plainValue, (a, b) => {
      const ea = encode(a as MsgValue);
      for (let cut = 0; cut < ea.length; cut++) assert.equal(decode(ea.substring(0, cut), 0).end, INCOMPLETE, `cut at ${cut}`);
      const both = "junk" + ea + encode(b as MsgValue);
      const first = decode(both, 4);
      assert.equal(first.end, 4 + ea.length);
      assert.deepEqual(first.value, a);
      const second = decode(both, first.end);
      assert.equal(second.end, both.length);
      assert.deepEqual(second.value, b);
    }),
    { numRuns: 200 },
  );
});

test("bin from msgpackr (a Buffer) decodes as an 8-bit string", () => {
  const data = Buffer.from([0, 1, 0x80, 0xff, 0x41]);
  assert.equal(decodeAll(theirs(data)), data.toString("latin1"));
});

test("what the codec refuses", () => {
  for (const v of [1.5, 2147483648, -2147483649, NaN, Infinity, () => 1]) {
    assert.throws(() => encode(v as unknown as MsgValue), /msgpack/, String(v));
  }
  const invalid = [
    "c1", "ca3fc00000", "cb3ff8000000000000", // unused tag, float32, float64
    "cf0000000000000001", "d30000000000000001", "d40000", "c70100", // 64-bit ints, ext
    "ce80000000", "dd80000000", "81" + "01" + "02", // beyond int32; a map whose key is no string
    "91".repeat(40) + "c0", // nested too deeply
    "81a95f5f70726f746f5f5f80", // {"__proto__": {}}
  ];
  for (const h of invalid) assert.equal(decode(Buffer.from(h, "hex").toString("latin1"), 0).end, INVALID, h);
  assert.equal(decode("", 0).end, INCOMPLETE);
  assert.equal(decode("\x92\x01", 0).end, INCOMPLETE);
});
