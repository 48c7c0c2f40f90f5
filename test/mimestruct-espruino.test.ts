/**
 * The MIME structure reader as built for Espruino (the ES5 bundle, terser
 * and all) on the emulated board, whose String.indexOf has Espruino 2v29's
 * bug (sim/espruino/string-quirk.ts): every corpus message read whole and
 * in 1, 3, 536 and 1460-octet chunks gives the record Node gives.
 * Measured once on the real interpreters (not part of make test: they are
 * not in the repository), the same reader over a message with a base64
 * part: 64-bit Linux build, 110 KB and 1.1 MB read in 2 KiB pieces, peak
 * 66 and 60 variables above the start; 1.1 MB (100 KB of text lines, 1 MB
 * of base64) in 0.26-0.38 s, of which 0.30 s the base64, and of that 0.17-
 * 0.19 s is the interpreter's own String.indexOf("\n--") over the 485
 * pieces (the floor of any search: ~0.35 us per octet there). The 32-bit
 * build with the ESP32 variable format (under qemu-i386: memory exact, time
 * not), 33 KB and 330 KB: peak 100 and 95 variables above the start.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { buildEspruino } from "../host/espruino/build";
import { structureRecord, StructureReader } from "../firmware/mimestruct";
import { EspruinoBoard } from "../sim/espruino/board";
import { SimFlash } from "../sim/flash";
import { tempDir } from "./helpers/fixtures";
import { CORPUS, deepMessage } from "./mimestruct-corpus";

const ENTRY = `
var mimestruct = require("../../firmware/mimestruct");
var corpus = JSON.parse(require("Storage").read("corpus"));
function hex(s) { var out = ""; for (var i = 0; i < s.length; i++) out += (s.charCodeAt(i) + 256).toString(16).substring(1); return out; }
function read(text, size) {
  var r = new mimestruct.StructureReader(undefined);
  for (var i = 0; i < text.length; i += size) r.push(text.substring(i, i + size));
  return mimestruct.structureRecord(r.finish());
}
for (var m = 0; m < corpus.length; m++) {
  var whole = read(corpus[m], corpus[m].length + 1);
  var same = [1, 3, 536, 1460].map(function (size) { return read(corpus[m], size) === whole; });
  console.log("MIME " + JSON.stringify([m, hex(whole), same]));
}
console.log("MIME done");
`;

test("the Espruino build of the structure reader gives Node's records on the emulated board", async () => {
  const texts = CORPUS.map((m) => m.text).concat([deepMessage(20)]);
  const build = await buildEspruino({ measure: false, outDir: tempDir("mime-espruino"), entrySource: ENTRY });
  const code = fs.readFileSync(build.file, "latin1");
  const logs: string[] = [];
  const board = new EspruinoBoard({ flash: new SimFlash(), romFiles: { corpus: JSON.stringify(texts) }, log: (line) => void logs.push(line), workDir: tempDir("mime-espruino-run"), portMap: {}, bindHost: "127.0.0.1", clock: () => 1700000000 });
  try {
    board.run(code, "mime.js");
    assert.deepEqual(board.errors, []);
    assert.ok(logs.includes("MIME done"), logs.slice(-5).join("\n"));
  } finally {
    await board.stop();
  }
  const results = logs.filter((l) => l.startsWith("MIME [")).map((l) => JSON.parse(l.substring(5)) as [number, string, boolean[]]);
  assert.equal(results.length, texts.length);
  for (const [m, record, same] of results) {
    const r = new StructureReader();
    r.push(texts[m]);
    assert.equal(Buffer.from(record, "hex").toString("latin1"), structureRecord(r.finish()), `message ${m}`);
    assert.deepEqual(same, [true, true, true, true], `message ${m}: chunked reads agree`);
  }
});
