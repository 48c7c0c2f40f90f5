/**
 * `make espruino`: the bundle is one ES5 script with nothing Espruino lacks,
 * 8-bit literals escaped, and a size/budget report; the verifier and the
 * bundler do what they claim on small inputs.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as acorn from "acorn";
import { buildEspruino, estimateCodeVariables } from "../host/espruino/build";
import { bundleCommonJs } from "../host/espruino/bundle";
import { verifyEspruinoSource } from "../host/espruino/verify";

test("the bundle is a single ES5 script within the board's budget, ASCII only", async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "lb-espruino-build-"));
  const build = await buildEspruino({ outDir: out });
  const code = fs.readFileSync(build.file, "latin1");
  assert.doesNotThrow(() => acorn.parse(code, { ecmaVersion: 5 }));
  assert.deepEqual(verifyEspruinoSource(code), []);
  assert.ok(/^[\x09\x0a\x0d\x20-\x7e]*$/.test(code), "non-ASCII bytes are escaped, not written raw");
  assert.ok(!/\brequire\("\.\.?\//.test(code), "no relative require is left for the board to resolve");
  assert.ok(!/sourceMappingURL|__esModule/.test(code));
  assert.equal(build.bytes, Buffer.byteLength(code, "latin1"));
  assert.ok(!build.overBudget);
  assert.match(build.report.join("\n"), /RAM: +\[=* *\] +\d+\.\d% \(~\d+ of 16383 variables idle after boot, measured on the emulated board/);
  assert.ok(build.bootVariables! > 100 && build.bootVariables! < build.board.espruino.variables);
  assert.match(build.report.join("\n"), /Flash: +\[=* *\] +\d+\.\d% \(used \d+ bytes from \d+ bytes\)/);
});

test("the verifier rejects what Espruino lacks and accepts plain ES5", () => {
  assert.match(verifyEspruinoSource("let a = 1;")[0], /not ES5/);
  assert.match(verifyEspruinoSource("var f = (a) => a;")[0], /not ES5/);
  assert.match(verifyEspruinoSource("var m = new Map();")[0], /Map \(Espruino lacks it\)/);
  assert.match(verifyEspruinoSource("var s = Symbol('x');")[0], /Symbol/);
  assert.match(verifyEspruinoSource("var r = /a(?=b)/;")[0], /lookaround/);
  assert.match(verifyEspruinoSource("var r = /a{3}/;")[0], /repetition/);
  assert.match(verifyEspruinoSource("var r = /(a)\\1/;")[0], /backreference/);
  assert.match(verifyEspruinoSource("outer: for (;;) { break outer; }")[0], /label/);
  assert.match(verifyEspruinoSource("'a'.localeCompare('b');")[0], /localeCompare/);
  assert.match(verifyEspruinoSource("switch (n) { case 10: 'a' === x && f(); }")[0], /case body that starts with a string/);
  assert.deepEqual(verifyEspruinoSource("switch (n) { case 10: f('a' === x); }"), []);
  assert.match(verifyEspruinoSource("for (function (t) { t.sort(); }(l), n = 0; n < 2; n++) f(n);")[0], /for loop whose init starts with a function/);
  assert.deepEqual(verifyEspruinoSource("for (n = g(function (t) { return t; }); n < 2; n++) f(n);"), []);
  assert.deepEqual(verifyEspruinoSource("var o = { Map: 1 }; o.Map = 2; var r = /a+b*/; function f(x) { return x + 1; }"), []);
});

test("the bundler inlines relative modules once, keeps Espruino's own modules, and runs each module once", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-bundle-"));
  fs.writeFileSync(path.join(dir, "main.js"), `"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
var a = require("./a"); var b = require("./b"); var net = require("net");
log(a.name + b.name + a.count());
//# sourceMappingURL=main.js.map`);
  fs.writeFileSync(path.join(dir, "a.js"), `exports.name = "A"; var n = 0; exports.count = function () { return ++n; }; n++;`);
  fs.writeFileSync(path.join(dir, "b.js"), `var a = require("./a.js"); exports.name = "B" + a.count();`);
  const code = bundleCommonJs(path.join(dir, "main.js"));
  assert.deepEqual(verifyEspruinoSource(code), []);
  const logged: string[] = [];
  const required: string[] = [];
  new Function("log", "require", code)((s: string) => logged.push(s), (m: string) => (required.push(m), {}));
  assert.deepEqual(logged, ["AB23"], "module a ran once and is shared");
  assert.deepEqual(required, ["net"]);
  assert.ok(!code.includes("__esModule") && !code.includes("sourceMappingURL"));
});

test("code variables: each function and its parameters, each declared name", () => {
  assert.equal(estimateCodeVariables("var a = 1, b;"), 2);
  assert.equal(estimateCodeVariables("function f(x, y) { var z; }"), 3 + 2 + 1);
});
