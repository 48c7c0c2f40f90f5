/**
 * The MIME structure reader compiled by TypeScriptToLua and run in the Lua
 * 5.3 VM built with LUA_32BITS (NodeMCU's numbers) gives the same ENVELOPE,
 * BODYSTRUCTURE, BODY and part ranges as on Node, for every message of the
 * awkward corpus read whole and in 1, 3, 536 and 1460-octet chunks; and its
 * memory there stays flat in message size.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { lauxlib, lua } from "../sim/lua/wasm";
import { LuaVm } from "../sim/lua/vm";
import { compileWorkload, ROOT } from "./helpers/lua-workload";
import { bigWorkload, mimeWorkload } from "./portable/mimestruct-workload";

const ENTRY = path.join(ROOT, "test/portable/mimestruct-workload.ts");

let vm: LuaVm | undefined;

/** The VM with the workload loaded as the global `workload` (compiled once). */
function workloadVm(): LuaVm {
  if (vm === undefined) {
    vm = new LuaVm({ write: () => {}, onError: () => {} });
    vm.setGlobalBytes("__workload", compileWorkload(ENTRY));
    vm.run(`workload = load(__workload, "=workload")()`, "=load");
  }
  return vm;
}

/** Runs `code` (which sets the global `result`) and gives `result` as text. */
function luaResult(code: string): string {
  const v = workloadVm();
  v.run(code, "=mime");
  const L = v.L;
  lua.lua_getglobal(L, "result");
  const text = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
  lua.lua_settop(L, 0);
  return text;
}

test("the structure reader gives the same output in Lua (32-bit) as on Node", () => {
  const expected = mimeWorkload();
  assert.doesNotMatch(expected, /DIFFERENT|unreadable/);
  assert.equal(luaResult(`result = workload.mimeWorkload(nil)`), expected);
});

test("the structure reader's memory in Lua is the same for a 5 MB base64 part as for 100 KB", (t) => {
  // Live memory in KB after a full collection (collectgarbage), sampled as the message is read.
  const memory = `function() collectgarbage("collect") return math.floor(collectgarbage("count")) end`;
  const small = luaResult(`result = workload.bigWorkload(nil, 100000, ${memory})`);
  const big = luaResult(`result = workload.bigWorkload(nil, 5000000, ${memory})`);
  const [smallPeak, ...smallRest] = small.split(" ");
  const [bigPeak, ...bigRest] = big.split(" ");
  assert.equal(bigRest.join(" "), bigWorkload(5000000, () => 0).split(" ").slice(1).join(" "), "the same structure as on Node");
  assert.ok(smallRest.join(" ").includes('"base64" 10'), small);
  t.diagnostic(`Lua heap above the start while reading: ${smallPeak} KB (100 KB message), ${bigPeak} KB (5 MB)`);
  assert.ok(Number(bigPeak) <= Number(smallPeak) + 8, `peak above the start: ${bigPeak} KB for 5 MB against ${smallPeak} KB for 100 KB`);
});
