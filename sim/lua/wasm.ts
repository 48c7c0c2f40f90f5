/**
 * The reference Lua 5.3 interpreter (Debian's `lua5.3` source, built with
 * LUA_32BITS: 32-bit integers and single-precision floats, exactly
 * NodeMCU's `[5.3-int32-singlefp]` numbers) compiled to WebAssembly by
 * test/tools/build-lua-wasm.sh, with its C API wrapped for TypeScript in the
 * shape of fengari's (`lua.lua_pushinteger(L, n)`, `lauxlib.luaL_ref(...)`):
 * strings go in and come out as bytes (Uint8Array), a JavaScript function
 * becomes a lua_CFunction, and the macros of lua.h/lauxlib.h (lua_pcall,
 * lua_pop, lua_newtable, ...) are built from the exported functions as the
 * headers define them. One wasm instance serves every Lua state.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/* eslint-disable @typescript-eslint/no-explicit-any */
export type LuaState = number;
export type LuaFunction = (L: LuaState) => number;

const ROOT = path.resolve(__dirname, "../../..");
/** Built (and cached) by test/tools/build-lua-wasm.sh; `make test` and `make lua` run it first, else the first use below. */
export const LUA_WASM = path.join(ROOT, ".cache/lua-wasm/lua53.js");

let M: any;

function wasm(): any {
  if (M) return M;
  if (!fs.existsSync(LUA_WASM)) {
    // A test run straight from node --test: build it now (a few seconds with emscripten installed).
    execFileSync("bash", [path.join(ROOT, "test/tools/build-lua-wasm.sh")], { stdio: "inherit" });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const create = require(LUA_WASM);
  M = create({ print: (s: string) => process.stdout.write(s + "\n"), printErr: (s: string) => process.stderr.write(s + "\n") });
  return M;
}

/** The C string (NUL-terminated) for a key, kept for the life of the process: keys are a small fixed set. */
const keyCache = new Map<string, number>();

function key(k: Uint8Array | string): number {
  const s = typeof k === "string" ? k : Buffer.from(k).toString("latin1");
  let p = keyCache.get(s);
  if (p === undefined) {
    const bytes = Buffer.from(s, "latin1");
    p = wasm()._malloc(bytes.length + 1) as number;
    wasm().HEAPU8.set(bytes, p);
    wasm().HEAPU8[p + bytes.length] = 0;
    keyCache.set(s, p);
  }
  return p;
}

/** Copies bytes into the wasm heap (NUL-terminated too), runs `fn` with the pointer, frees it. */
function withBytes<T>(bytes: Uint8Array, fn: (p: number) => T): T {
  const m = wasm();
  const p = m._malloc(bytes.length + 1) as number;
  m.HEAPU8.set(bytes, p);
  m.HEAPU8[p + bytes.length] = 0;
  try {
    return fn(p);
  } finally {
    m._free(p);
  }
}

/** The bytes at p (length from a size_t* at lenp), copied out of the heap; null for a NULL pointer. */
function bytesAt(p: number, lenp: number): Uint8Array | null {
  const m = wasm();
  if (p === 0) return null;
  const n = m.HEAPU32[lenp >> 2];
  return Uint8Array.from(m.HEAPU8.subarray(p, p + n));
}

let lenSlot = 0;
function lenPtr(): number {
  if (lenSlot === 0) lenSlot = wasm()._malloc(4);
  return lenSlot;
}

/** What an emscripten longjmp (a Lua error unwinding) throws: let it through, never catch it. */
function isLongjmp(e: unknown): boolean {
  return typeof e === "number";
}

const pointers = new Map<LuaFunction, number>();

/**
 * The lua_CFunction pointer for a JavaScript function (one table slot per
 * function, reused). A JavaScript exception inside it becomes a Lua error
 * with its message, as a C module's luaL_error would be: it must never
 * unwind through the interpreter's C frames.
 */
export function cfunction(fn: LuaFunction): number {
  let p = pointers.get(fn);
  if (p !== undefined) return p;
  const m = wasm();
  p = m.addFunction((L: number) => {
    let message: string;
    try {
      return fn(L);
    } catch (e) {
      if (isLongjmp(e)) throw e;
      message = e instanceof Error ? e.message : String(e);
    }
    withBytes(Buffer.from(message, "latin1"), (s) => m._lua_pushlstring(L, s, Buffer.byteLength(message, "latin1")));
    return m._lua_error(L);
  }, "ii") as number;
  pointers.set(fn, p);
  return p;
}

/** Frees the table slot of a function no Lua state will call again. */
export function releaseCfunction(fn: LuaFunction): void {
  const p = pointers.get(fn);
  if (p === undefined) return;
  pointers.delete(fn);
  wasm().removeFunction(p);
}

/** The int32 at a heap address (an emulated object's id in its userdata). */
export function heap32(p: number): number {
  return wasm().HEAP32[p >> 2];
}

export function setHeap32(p: number, value: number): void {
  wasm().HEAP32[p >> 2] = value;
}

const LUAI_MAXSTACK = 1000000;

export const lua = {
  LUA_OK: 0,
  LUA_YIELD: 1,
  LUA_ERRRUN: 2,
  LUA_ERRSYNTAX: 3,
  LUA_ERRMEM: 4,
  LUA_ERRGCMM: 5,
  LUA_ERRERR: 6,
  LUA_TNONE: -1,
  LUA_TNIL: 0,
  LUA_TBOOLEAN: 1,
  LUA_TLIGHTUSERDATA: 2,
  LUA_TNUMBER: 3,
  LUA_TSTRING: 4,
  LUA_TTABLE: 5,
  LUA_TFUNCTION: 6,
  LUA_TUSERDATA: 7,
  LUA_TTHREAD: 8,
  LUA_MULTRET: -1,
  LUA_REGISTRYINDEX: -LUAI_MAXSTACK - 1000,
  LUA_GCSTOP: 0,
  LUA_GCRESTART: 1,
  LUA_GCCOLLECT: 2,
  LUA_GCCOUNT: 3,
  LUA_GCCOUNTB: 4,
  lua_absindex: (L: LuaState, i: number): number => wasm()._lua_absindex(L, i),
  lua_gettop: (L: LuaState): number => wasm()._lua_gettop(L),
  lua_settop: (L: LuaState, i: number): void => wasm()._lua_settop(L, i),
  lua_pop: (L: LuaState, n: number): void => wasm()._lua_settop(L, -n - 1),
  lua_pushvalue: (L: LuaState, i: number): void => wasm()._lua_pushvalue(L, i),
  lua_rotate: (L: LuaState, i: number, n: number): void => wasm()._lua_rotate(L, i, n),
  lua_insert: (L: LuaState, i: number): void => wasm()._lua_rotate(L, i, 1),
  lua_remove: (L: LuaState, i: number): void => {
    wasm()._lua_rotate(L, i, -1);
    wasm()._lua_settop(L, -2);
  },
  lua_checkstack: (L: LuaState, n: number): boolean => wasm()._lua_checkstack(L, n) !== 0,
  lua_type: (L: LuaState, i: number): number => wasm()._lua_type(L, i),
  lua_isinteger: (L: LuaState, i: number): boolean => wasm()._lua_isinteger(L, i) !== 0,
  lua_isnumber: (L: LuaState, i: number): boolean => wasm()._lua_isnumber(L, i) !== 0,
  lua_isstring: (L: LuaState, i: number): boolean => wasm()._lua_isstring(L, i) !== 0,
  lua_isnil: (L: LuaState, i: number): boolean => wasm()._lua_type(L, i) === 0,
  lua_isnoneornil: (L: LuaState, i: number): boolean => wasm()._lua_type(L, i) <= 0,
  lua_isfunction: (L: LuaState, i: number): boolean => wasm()._lua_type(L, i) === 6,
  lua_istable: (L: LuaState, i: number): boolean => wasm()._lua_type(L, i) === 5,
  lua_tointeger: (L: LuaState, i: number): number => wasm()._lua_tointegerx(L, i, 0),
  lua_tonumber: (L: LuaState, i: number): number => wasm()._lua_tonumberx(L, i, 0),
  lua_toboolean: (L: LuaState, i: number): boolean => wasm()._lua_toboolean(L, i) !== 0,
  /** The bytes of a string or number (converted in place, as in C); null for other types. */
  lua_tolstring: (L: LuaState, i: number): Uint8Array | null => bytesAt(wasm()._lua_tolstring(L, i, lenPtr()), lenPtr()),
  lua_tostring: (L: LuaState, i: number): Uint8Array | null => bytesAt(wasm()._lua_tolstring(L, i, lenPtr()), lenPtr()),
  lua_tojsstring: (L: LuaState, i: number): string => {
    const b = bytesAt(wasm()._lua_tolstring(L, i, lenPtr()), lenPtr());
    return b === null ? "" : Buffer.from(b).toString("utf8");
  },
  lua_touserdata: (L: LuaState, i: number): number => wasm()._lua_touserdata(L, i),
  lua_rawlen: (L: LuaState, i: number): number => wasm()._lua_rawlen(L, i),
  lua_pushnil: (L: LuaState): void => wasm()._lua_pushnil(L),
  lua_pushnumber: (L: LuaState, n: number): void => wasm()._lua_pushnumber(L, n),
  /** Pushes an integer; JavaScript numbers outside int32 wrap as a C cast to lua_Integer would. */
  lua_pushinteger: (L: LuaState, n: number): void => wasm()._lua_pushinteger(L, n | 0),
  lua_pushboolean: (L: LuaState, b: boolean | number): void => wasm()._lua_pushboolean(L, b ? 1 : 0),
  lua_pushlstring: (L: LuaState, bytes: Uint8Array, length?: number): void => {
    const n = length ?? bytes.length;
    withBytes(bytes.subarray(0, n), (p) => wasm()._lua_pushlstring(L, p, n));
  },
  lua_pushcfunction: (L: LuaState, fn: LuaFunction): void => wasm()._lua_pushcclosure(L, cfunction(fn), 0),
  lua_getglobal: (L: LuaState, name: Uint8Array | string): number => wasm()._lua_getglobal(L, key(name)),
  lua_setglobal: (L: LuaState, name: Uint8Array | string): void => wasm()._lua_setglobal(L, key(name)),
  lua_getfield: (L: LuaState, i: number, k: Uint8Array | string): number => wasm()._lua_getfield(L, i, key(k)),
  /** Sets t[k] for a field name from the program (cached as a C string). */
  lua_setfield: (L: LuaState, i: number, k: Uint8Array | string): void => wasm()._lua_setfield(L, i, key(k)),
  lua_rawgeti: (L: LuaState, i: number, n: number): number => wasm()._lua_rawgeti(L, i, n),
  lua_rawseti: (L: LuaState, i: number, n: number): void => wasm()._lua_rawseti(L, i, n),
  lua_rawset: (L: LuaState, i: number): void => wasm()._lua_rawset(L, i),
  lua_rawget: (L: LuaState, i: number): number => wasm()._lua_rawget(L, i),
  lua_settable: (L: LuaState, i: number): void => wasm()._lua_settable(L, i),
  lua_gettable: (L: LuaState, i: number): number => wasm()._lua_gettable(L, i),
  lua_createtable: (L: LuaState, narr: number, nrec: number): void => wasm()._lua_createtable(L, narr, nrec),
  lua_newtable: (L: LuaState): void => wasm()._lua_createtable(L, 0, 0),
  lua_newuserdata: (L: LuaState, size: number): number => wasm()._lua_newuserdata(L, size),
  lua_setmetatable: (L: LuaState, i: number): void => wasm()._lua_setmetatable(L, i),
  lua_getmetatable: (L: LuaState, i: number): boolean => wasm()._lua_getmetatable(L, i) !== 0,
  lua_next: (L: LuaState, i: number): boolean => wasm()._lua_next(L, i) !== 0,
  lua_concat: (L: LuaState, n: number): void => wasm()._lua_concat(L, n),
  lua_call: (L: LuaState, nargs: number, nresults: number): void => wasm()._lua_callk(L, nargs, nresults, 0, 0),
  lua_pcall: (L: LuaState, nargs: number, nresults: number, errfunc: number): number => wasm()._lua_pcallk(L, nargs, nresults, errfunc, 0, 0),
  lua_error: (L: LuaState): never => {
    wasm()._lua_error(L);
    throw new Error("unreachable");
  },
  lua_gc: (L: LuaState, what: number, data: number): number => wasm()._lua_gc(L, what, data),
  lua_close: (L: LuaState): void => wasm()._lua_close(L),
  /** Calls writer(bytes) for each piece of the chunk's binary form; returns lua_dump's status. */
  lua_dump: (L: LuaState, writer: (bytes: Uint8Array) => void, strip: number): number => {
    const m = wasm();
    const w = m.addFunction((_L: number, p: number, sz: number) => {
      writer(Uint8Array.from(m.HEAPU8.subarray(p, p + sz)));
      return 0;
    }, "iiiii");
    try {
      return m._lua_dump(L, w, 0, strip);
    } finally {
      m.removeFunction(w);
    }
  },
};

export const lauxlib = {
  LUA_NOREF: -2,
  LUA_REFNIL: -1,
  luaL_newstate: (): LuaState => wasm()._luaL_newstate(),
  luaL_loadbuffer: (L: LuaState, bytes: Uint8Array, length: number, name: Uint8Array | string): number =>
    withBytes(bytes.subarray(0, length), (p) => withBytes(typeof name === "string" ? Buffer.from(name, "latin1") : name, (n) => wasm()._luaL_loadbufferx(L, p, length, n, 0))),
  luaL_checklstring: (L: LuaState, i: number): Uint8Array => bytesAt(wasm()._luaL_checklstring(L, i, lenPtr()), lenPtr())!,
  luaL_checkinteger: (L: LuaState, i: number): number => wasm()._luaL_checkinteger(L, i),
  luaL_optinteger: (L: LuaState, i: number, d: number): number => wasm()._luaL_optinteger(L, i, d),
  luaL_checknumber: (L: LuaState, i: number): number => wasm()._luaL_checknumber(L, i),
  luaL_checktype: (L: LuaState, i: number, t: number): void => wasm()._luaL_checktype(L, i, t),
  luaL_checkany: (L: LuaState, i: number): void => wasm()._luaL_checkany(L, i),
  luaL_checkudata: (L: LuaState, i: number, type: Uint8Array | string): number => wasm()._luaL_checkudata(L, i, key(type)),
  luaL_testudata: (L: LuaState, i: number, type: Uint8Array | string): number => wasm()._luaL_testudata(L, i, key(type)),
  luaL_newmetatable: (L: LuaState, type: Uint8Array | string): boolean => wasm()._luaL_newmetatable(L, key(type)) !== 0,
  luaL_setmetatable: (L: LuaState, type: Uint8Array | string): void => wasm()._luaL_setmetatable(L, key(type)),
  /** Raises "bad argument #arg ... (extramsg)"; the message is one of the program's own (cached as a C string). */
  luaL_argerror: (L: LuaState, arg: number, extramsg: Uint8Array | string): never => {
    wasm()._luaL_argerror(L, arg, key(extramsg));
    throw new Error("unreachable");
  },
  /** luaL_error(L, "%s", message): the message with the caller's position, as C modules raise. */
  luaL_error: (L: LuaState, message: Uint8Array | string): never => {
    const m = wasm();
    m._luaL_where(L, 1);
    lua.lua_pushlstring(L, typeof message === "string" ? Buffer.from(message, "latin1") : message);
    m._lua_concat(L, 2);
    m._lua_error(L);
    throw new Error("unreachable");
  },
  luaL_tolstring: (L: LuaState, i: number): Uint8Array => bytesAt(wasm()._luaL_tolstring(L, i, lenPtr()), lenPtr())!,
  luaL_ref: (L: LuaState, t: number): number => wasm()._luaL_ref(L, t),
  luaL_unref: (L: LuaState, t: number, ref: number): void => wasm()._luaL_unref(L, t, ref),
  luaL_traceback: (L: LuaState, L1: LuaState, msg: Uint8Array | null, level: number): void => {
    if (msg === null) wasm()._luaL_traceback(L, L1, 0, level);
    else withBytes(msg, (p) => wasm()._luaL_traceback(L, L1, p, level));
  },
  luaL_where: (L: LuaState, level: number): void => wasm()._luaL_where(L, level),
};

export const lualib = {
  luaL_openlibs: (L: LuaState): void => wasm()._luaL_openlibs(L),
};

export function to_luastring(s: string): Uint8Array {
  return Buffer.from(s, "utf8");
}
