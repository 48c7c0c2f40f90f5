/**
 * Portable core code run on the C Lua 5.3 VM with the board's numbers
 * (LUA_32BITS): a workload module compiled by TypeScriptToLua into one
 * chunk, and a VM whose global `card` is the Storage interface on a
 * SimCard (as test/lua-store.test.ts does for the store).
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ts from "typescript";
import * as tstl from "typescript-to-lua";
import { lauxlib, lua } from "../../sim/lua/wasm";
import type { SimCard } from "../../sim/card";
import type { FileHandle } from "../../firmware/hal";
import { checkText, LuaVm, pushText, raise, type LuaState } from "../../sim/lua/vm";

export const ROOT = path.resolve(__dirname, "../../..");

/** The workload and everything it imports, as one Lua chunk returning the module. */
export function compileWorkload(entry: string): Buffer {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-lua-"));
  const tsconfig = path.join(outDir, "tsconfig.json");
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      compilerOptions: { target: "ES5", lib: ["ES5"], types: [], strict: true, ignoreDeprecations: "6.0", rootDir: ROOT, outDir },
      files: [entry],
      tstl: { luaTarget: "5.3", luaBundle: "workload.lua", luaBundleEntry: entry, noImplicitSelf: false, noHeader: true },
    }),
  );
  const result = tstl.transpileProject(tsconfig);
  const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  assert.deepEqual(errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")), []);
  const bundle = fs.readFileSync(path.join(outDir, "workload.lua"));
  fs.rmSync(outDir, { recursive: true, force: true });
  return bundle;
}

/** A Lua VM whose global `card` table is the Storage interface on `card` (methods take self first). */
export function luaWithCard(card: SimCard): LuaVm {
  const vm = new LuaVm({ write: () => {}, onError: () => {} });
  const files = new Map<number, FileHandle>();
  let nextId = 1;
  const guard = (L: LuaState, body: () => number): number => {
    let pushed = 0;
    let failure: string | undefined;
    try {
      pushed = body();
    } catch (e) {
      failure = (e as Error).message;
    }
    if (failure !== undefined) raise(L, failure);
    return pushed;
  };
  const file = (L: LuaState) => {
    const handle = files.get(Number(lua.lua_tointeger(L, 1)));
    if (!handle) raise(L, "file already closed");
    return handle;
  };
  vm.setModule("cardfs", {
    open: (L) => guard(L, () => {
      const handle = card.open(checkText(L, 1), checkText(L, 2));
      files.set(nextId, handle);
      lua.lua_pushinteger(L, nextId++);
      return 1;
    }),
    read: (L) => guard(L, () => {
      const data = file(L).read(Number(lua.lua_tointeger(L, 2)));
      if (data === undefined) lua.lua_pushnil(L);
      else pushText(L, data);
      return 1;
    }),
    write: (L) => guard(L, () => (file(L).write(checkText(L, 2)), 0)),
    seek: (L) => guard(L, () => (file(L).seek(Number(lua.lua_tointeger(L, 2))), 0)),
    close: (L) => guard(L, () => {
      const id = Number(lua.lua_tointeger(L, 1));
      const handle = file(L);
      files.delete(id);
      handle.close();
      return 0;
    }),
    size: (L) => guard(L, () => (lua.lua_pushinteger(L, card.size(checkText(L, 1))), 1)),
    remove: (L) => guard(L, () => (card.remove(checkText(L, 1)), 0)),
    mkdir: (L) => guard(L, () => (card.mkdir(checkText(L, 1)), 0)),
    list: (L) => guard(L, () => {
      const names = card.list(checkText(L, 1));
      lua.lua_createtable(L, names.length, 0);
      names.forEach((name, i) => {
        pushText(L, name);
        lua.lua_rawseti(L, -2, i + 1);
      });
      return 1;
    }),
  });
  vm.run(
    `card = {
      open = function(self, path, mode)
        local id = cardfs.open(path, mode)
        return {
          read = function(self, n) return cardfs.read(id, n) end,
          write = function(self, data) cardfs.write(id, data) end,
          seek = function(self, offset) cardfs.seek(id, offset) end,
          close = function(self) cardfs.close(id) end,
        }
      end,
      size = function(self, path) return cardfs.size(path) end,
      remove = function(self, path) cardfs.remove(path) end,
      mkdir = function(self, path) cardfs.mkdir(path) end,
      list = function(self, path) return cardfs.list(path) end,
    }`,
    "=card",
  );
  return vm;
}

/** Runs `call` (Lua source that returns a string, e.g. `workload.f(card)`) after loading the bundle as global `workload`; returns the string. */
export function runLua(vm: LuaVm, bundle: Buffer, call: string): string {
  vm.setGlobalBytes("__workload", bundle);
  vm.run(`workload = load(__workload, "=workload")()`, "=load");
  vm.run(`__result = ${call}`, "=call");
  const L = vm.L;
  lua.lua_getglobal(L, "__result");
  const text = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
  lua.lua_settop(L, 0);
  return text;
}
