/**
 * The core's number helpers (firmware/num.ts) compiled to Lua and run in the
 * emulated NodeMCU VM (32-bit integers, single-precision floats) agree with
 * JavaScript across the whole int32 range: code that leaned on doubles
 * would differ here.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as fc from "fast-check";
import * as tstl from "typescript-to-lua";
import * as num from "../firmware/num";
import { LuaVm } from "../sim/lua/vm";
import { ROOT } from "./helpers/fixtures";

function luaNum(): (call: string) => string {
  const source = fs.readFileSync(path.join(ROOT, "firmware/num.ts"), "utf8");
  const result = tstl.transpileString(source, { luaTarget: tstl.LuaTarget.Lua53, luaLibImport: tstl.LuaLibImportKind.Inline });
  assert.deepEqual(result.diagnostics.map((d) => d.messageText), []);
  const vm = new LuaVm({ write: () => {}, onError: () => {} });
  vm.setGlobalBytes("__num", Buffer.from(result.file!.lua!, "latin1"));
  vm.run("num = load(__num, '=num')()", "=load");
  return (call) => vm.evaluate(call);
}

const INT31 = fc.integer({ min: 0, max: 2147483647 });
const INT32 = fc.integer({ min: -2147483647, max: 2147483647 });
/** Values near the edges, where single-precision floats and int32 wrap-around bite. */
const EDGES = fc.oneof(INT31, fc.integer({ min: 2147483000, max: 2147483647 }), fc.integer({ min: 16777200, max: 16777300 }));

describe("firmware/num.ts on NodeMCU numbers", () => {
  const lua = luaNum();

  it("the VM really has single-precision floats (else these tests prove nothing)", () => {
    // LUA_32BITS prints floats with "%.7g" (luaconf.h), as the board does.
    assert.equal(lua("16777217 / 1"), "1.677722e+07");
    assert.equal(lua("16777217 / 1 == 16777216"), "true");
    assert.equal(lua("0x7fffffff + 1"), "-2147483648");
    assert.equal(lua("1700000000123 + 0.0"), "1.7e+12");
    // div() is documented for values below 2^24: above, single precision shows.
    assert.equal(lua("num.div(nil, 16777217, 1)"), "16777216");
    assert.equal(num.div(16777217, 1), 16777217);
  });

  it("decimal() prints every int32 like JavaScript", () => {
    fc.assert(fc.property(fc.oneof(INT32, EDGES), (n) => lua(`num.decimal(nil, ${n})`) === String(n)), { numRuns: 400 });
  });

  it("hex() gives the same digits for every non-negative int32", () => {
    fc.assert(fc.property(EDGES, (n) => lua(`num.hex(nil, ${n}, 8)`) === n.toString(16).padStart(8, "0")), { numRuns: 400 });
  });

  it("parseDecimal() reads every digit string like JavaScript, saturating at 2^31 - 1", () => {
    const expected = (s: string) => String(Math.min(Number(s), num.TOO_LARGE));
    fc.assert(
      fc.property(fc.oneof(fc.stringMatching(/^[0-9]{1,12}$/), fc.stringMatching(/^0{0,30}[0-9]{1,30}$/)), (s) => lua(`num.parseDecimal(nil, "${s}")`) === expected(s) && String(num.parseDecimal(s)) === expected(s)),
      { numRuns: 300 },
    );
    // The edges the issue names: 2^24 +- 1, 2^31 - 1, 2^31, 2^32 - 1, 2^32 + 1, a 30-digit number.
    for (const s of ["16777215", "16777217", "2147483646", "2147483647", "2147483648", "4294967295", "4294967297", "123456789012345678901234567890"]) {
      assert.equal(lua(`num.parseDecimal(nil, "${s}")`), expected(s), s);
      assert.equal(num.parseDecimal(s), Math.min(Number(s), num.TOO_LARGE), s);
    }
    assert.equal(lua(`num.parseDecimal(nil, "12x")`), "-1");
    assert.equal(lua(`num.parseDecimal(nil, "")`), "-1");
  });

  it("div() is exact below 2^24", () => {
    const small = fc.integer({ min: 0, max: 16777215 });
    fc.assert(fc.property(small, fc.integer({ min: 1, max: 16777215 }), (a, b) => lua(`num.div(nil, ${a}, ${b})`) === String(Math.floor(a / b))), {
      numRuns: 300,
    });
  });
});
