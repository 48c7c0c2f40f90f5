/**
 * The MIME structure reader compiled by TypeScriptToLua and run in the Lua
 * 5.3 VM built with LUA_32BITS (NodeMCU's numbers) gives the same ENVELOPE,
 * BODYSTRUCTURE, BODY and part ranges as on Node, for every message of the
 * awkward corpus read whole and in 1, 3, 536 and 1460-octet chunks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ts from "typescript";
import * as tstl from "typescript-to-lua";
import { lauxlib, lua } from "../sim/lua/wasm";
import { LuaVm } from "../sim/lua/vm";
import { mimeWorkload } from "./portable/mimestruct-workload";

const ROOT = path.resolve(__dirname, "../..");
const ENTRY = path.join(ROOT, "test/portable/mimestruct-workload.ts");

function compileWorkload(): Buffer {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-lua-mime-"));
  const tsconfig = path.join(outDir, "tsconfig.json");
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      compilerOptions: { target: "ES5", lib: ["ES5"], types: [], strict: true, ignoreDeprecations: "6.0", rootDir: ROOT, outDir },
      files: [ENTRY],
      tstl: { luaTarget: "5.3", luaBundle: "workload.lua", luaBundleEntry: ENTRY, noImplicitSelf: false, noHeader: true },
    }),
  );
  const result = tstl.transpileProject(tsconfig);
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  assert.deepEqual(errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")), []);
  const bundle = fs.readFileSync(path.join(outDir, "workload.lua"));
  fs.rmSync(outDir, { recursive: true, force: true });
  return bundle;
}

test("the structure reader gives the same output in Lua (32-bit) as on Node", () => {
  const expected = mimeWorkload();
  assert.doesNotMatch(expected, /DIFFERENT|unreadable/);
  const vm = new LuaVm({ write: () => {}, onError: () => {} });
  vm.setGlobalBytes("__workload", compileWorkload());
  vm.run(`workload = load(__workload, "=workload")()`, "=load");
  vm.run(`transcript = workload.mimeWorkload(nil)`, "=mime");
  const L = vm.L;
  lua.lua_getglobal(L, "transcript");
  const text = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
  lua.lua_settop(L, 0);
  assert.equal(text, expected);
});
