/**
 * Espruino does not hoist (issue 13, faults 1 and 2): the bundle must not
 * depend on it, the build checks that, and the emulated board fails on a
 * program that does, as the interpreter does.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findHoistingDependencies } from "../host/espruino/hoisting";
import { SimCard } from "../sim/card";
import { EspruinoBoard } from "../sim/espruino/board";
import { ensureEspruinoBundle } from "../sim/espruino-runtime";
import { SimFlash } from "../sim/flash";

const names = (code: string) => findHoistingDependencies(code).map((p) => p.name);

test("the checker finds a function used before its declaration runs (fault 1: exports.x = x; function x)", () => {
  assert.deepEqual(names("exports.f = f; function f() {}"), ["f"]);
  assert.deepEqual(names("(function (exports) { exports.f = f; function f() {} })({})"), ["f"]);
  assert.deepEqual(names("function f() {} exports.f = f;"), []);
});

test("the checker finds a var written by a callback before its declaration runs (fault 2)", () => {
  // On Espruino the callback's `n = 2` lands in the outer n: "Expecting function, got Number".
  assert.deepEqual(names("var n = function () {}; (function () { function g() { n = 2; } g(); var n = 3; })()"), ["n"]);
  assert.deepEqual(names("(function () { if (true) { x = 1; } var x; })()"), ["x"]);
  assert.deepEqual(names("(function () { var a = function () { return b(); }; a(); function b() {} })()"), ["b"]);
});

test("the checker accepts what runs the same without hoisting", () => {
  assert.deepEqual(names("(function () { function a() { return b(); } function b() { return 1; } a(); })()"), []);
  assert.deepEqual(names("(function () { var x; function g() { x = 2; } g(); var x = 3; })()"), []);
  assert.deepEqual(names("(function (e) { e.f = function () { return i; }, e.g = void 0; var i = 1; })({})"), []);
  assert.deepEqual(names("(function () { for (var i = 0; i < 2; i++) {} return i; })()"), []);
});

test("the built bundle does not depend on hoisting", async () => {
  const file = await ensureEspruinoBundle();
  assert.deepEqual(findHoistingDependencies(fs.readFileSync(file, "latin1")), []);
});

test("the emulated board refuses a program that needs hoisting, with Espruino's ReferenceError", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-hoist-"));
  const logged: string[] = [];
  const board = new EspruinoBoard({
    card: new SimCard({ dir }),
    flash: new SimFlash(),
    portMap: {},
    bindHost: "127.0.0.1",
    log: (line) => logged.push(line),
    clock: () => 1_700_000_000,
  });
  try {
    board.run("var ran = 1; exports = {}; exports.h = h; function h() {}", "hoist.js");
    assert.equal(board.errors.length, 1);
    assert.match(board.errors[0], /^Uncaught ReferenceError: "h" is not defined/);
    assert.equal((board.context as { ran?: number }).ran, undefined, "nothing ran");
  } finally {
    void board.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
