/**
 * A Lua 5.3 VM (fengari) shaped like NodeMCU's: 32-bit integers (fengari's
 * own), single-precision floats (every float result rounded with
 * Math.fround, see patchSinglePrecision), no `os` library, and helpers to
 * hand bytes, callbacks and userdata between Lua and the emulated modules.
 */
import { lauxlib, lua, lualib, to_luastring } from "fengari";

/* eslint-disable @typescript-eslint/no-explicit-any */
export type LuaState = any;
/** A JavaScript function callable from Lua: reads its arguments off the stack, returns how many results it pushed. */
export type LuaFunction = (L: LuaState) => number;

let singlePrecision = false;

/**
 * NodeMCU's default build stores floats in 32 bits: 16777217.0 becomes
 * 16777216, 1000000123 / 1 gives 1000000128. fengari keeps doubles; every
 * float it stores goes through TValue.setfltvalue, so rounding there makes
 * the arithmetic single precision. (Process-wide: only NodeMCU VMs use fengari here.)
 */
export function patchSinglePrecision(): void {
  if (singlePrecision) return;
  singlePrecision = true;
  const proto = require("fengari/src/lobject.js").TValue.prototype;
  const setFloat = proto.setfltvalue;
  proto.setfltvalue = function (x: number) {
    setFloat.call(this, Math.fround(x));
  };
}

export class LuaError extends Error {}

/** Bytes of a Lua string argument, copied out of the VM. */
export function checkBytes(L: LuaState, index: number): Buffer {
  return Buffer.from(lauxlib.luaL_checklstring(L, index));
}

export function checkText(L: LuaState, index: number): string {
  return checkBytes(L, index).toString("latin1");
}

export function optText(L: LuaState, index: number, fallback: string): string {
  return lua.lua_isnoneornil(L, index) ? fallback : checkText(L, index);
}

/** Pushes bytes as a Lua string (binary-safe: never through UTF-8). */
export function pushBytes(L: LuaState, bytes: Uint8Array): void {
  lua.lua_pushlstring(L, bytes, bytes.length);
}

export function pushText(L: LuaState, text: string): void {
  pushBytes(L, Buffer.from(text, "latin1"));
}

/** Raises a Lua error with `message` (never returns). */
export function raise(L: LuaState, message: string): never {
  lauxlib.luaL_error(L, to_luastring(message.replace(/%/g, "%%")));
  throw new Error("unreachable");
}

export class LuaVm {
  readonly L: LuaState;
  /** Uncaught errors in callbacks, with tracebacks. */
  readonly errors: string[] = [];

  /** Console output: print() lines end in "\n"; io.write and uart.write pass bytes as they are. */
  readonly write: (text: string) => void;
  private onError: (message: string) => void;

  constructor(options: { write: (text: string) => void; onError: (message: string) => void }) {
    this.write = options.write;
    this.onError = options.onError;
    patchSinglePrecision();
    this.L = lauxlib.luaL_newstate();
    lualib.luaL_openlibs(this.L);
    const L = this.L;
    lua.lua_pushnil(L);
    lua.lua_setglobal(L, to_luastring("os")); // NodeMCU has no os library
    // A JavaScript exception inside an emulated module (the simulated card
    // failing, say) becomes a Lua error with its message, as a C module's
    // luaL_error would be; without this fengari loses the error object.
    lua.lua_atnativeerror(L, (L2: LuaState) => {
      const e = lua.lua_touserdata(L2, 1);
      pushText(L2, e instanceof Error ? e.message : String(e));
      return 1;
    });
    this.setGlobalFunction("print", (L2) => {
      const n = lua.lua_gettop(L2);
      const parts: string[] = [];
      for (let i = 1; i <= n; i++) parts.push(Buffer.from(lauxlib.luaL_tolstring(L2, i)).toString("latin1"));
      lua.lua_settop(L2, n);
      this.write(parts.join("\t") + "\n");
      return 0;
    });
  }

  setGlobalBytes(name: string, bytes: Uint8Array): void {
    pushBytes(this.L, bytes);
    lua.lua_setglobal(this.L, to_luastring(name));
  }

  setGlobalFunction(name: string, fn: LuaFunction): void {
    lua.lua_pushcfunction(this.L, fn);
    lua.lua_setglobal(this.L, to_luastring(name));
  }

  /** Defines a global table of functions (a NodeMCU module); returns nothing on the stack. */
  setModule(name: string, functions: { [name: string]: LuaFunction }, constants: { [name: string]: number } = {}): void {
    const L = this.L;
    lua.lua_newtable(L);
    this.setFields(functions, constants);
    lua.lua_setglobal(L, to_luastring(name));
  }

  /** Sets functions and integer constants on the table at the top of the stack. */
  setFields(functions: { [name: string]: LuaFunction }, constants: { [name: string]: number } = {}): void {
    const L = this.L;
    for (const key of Object.keys(functions)) {
      lua.lua_pushcfunction(L, functions[key]);
      lua.lua_setfield(L, -2, to_luastring(key));
    }
    for (const key of Object.keys(constants)) {
      lua.lua_pushinteger(L, constants[key]);
      lua.lua_setfield(L, -2, to_luastring(key));
    }
  }

  /** Registers a metatable `type` whose __index holds `methods`, for userdata objects. */
  defineClass(type: string, methods: { [name: string]: LuaFunction }): void {
    const L = this.L;
    lauxlib.luaL_newmetatable(L, to_luastring(type));
    lua.lua_newtable(L);
    this.setFields(methods);
    lua.lua_setfield(L, -2, to_luastring("__index"));
    lua.lua_pop(L, 1);
  }

  /** Pushes a new userdata of class `type` carrying `state` (a JS object). */
  pushObject(type: string, state: object): void {
    const L = this.L;
    const data = lua.lua_newuserdata(L, 0);
    data.state = state;
    lauxlib.luaL_setmetatable(L, to_luastring(type));
  }

  /** The JS state of the userdata of class `type` at `index`. */
  checkObject<T>(L: LuaState, index: number, type: string): T {
    return lauxlib.luaL_checkudata(L, index, to_luastring(type)).state as T;
  }

  /** Keeps the function at `index` alive; returns a reference for call(). */
  ref(L: LuaState, index: number): number {
    lauxlib.luaL_checktype(L, index, lua.LUA_TFUNCTION);
    lua.lua_pushvalue(L, index);
    return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  }

  unref(ref: number): void {
    lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
  }

  /**
   * Calls a referenced Lua function from the event loop, as the firmware
   * does: an error is reported (with a traceback) and does not propagate.
   */
  call(ref: number, pushArgs: (L: LuaState) => number = () => 0): void {
    const L = this.L;
    const base = lua.lua_gettop(L);
    lua.lua_pushcfunction(L, traceback);
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
    const n = pushArgs(L);
    const status = lua.lua_pcall(L, n, 0, base + 1);
    if (status !== lua.LUA_OK) {
      const message = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
      this.errors.push(message);
      this.onError(message);
    }
    lua.lua_settop(L, base);
  }

  /** Runs a chunk of Lua source; throws LuaError with the message on failure. Returns nothing. */
  run(source: Uint8Array | string, chunkName: string): void {
    const L = this.L;
    const bytes = typeof source === "string" ? Buffer.from(source, "latin1") : source;
    const base = lua.lua_gettop(L);
    lua.lua_pushcfunction(L, traceback);
    if (lauxlib.luaL_loadbuffer(L, bytes, bytes.length, to_luastring(chunkName)) !== lua.LUA_OK) {
      const message = lua.lua_tojsstring(L, -1);
      lua.lua_settop(L, base);
      throw new LuaError(message);
    }
    const status = lua.lua_pcall(L, 0, 0, base + 1);
    if (status !== lua.LUA_OK) {
      const message = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
      lua.lua_settop(L, base);
      throw new LuaError(message);
    }
    lua.lua_settop(L, base);
  }

  /** Evaluates one Lua expression and returns its value as a JS string (tostring). */
  evaluate(expression: string): string {
    const L = this.L;
    const base = lua.lua_gettop(L);
    this.run(`__lb_result = tostring(${expression})`, "=eval");
    lua.lua_getglobal(L, to_luastring("__lb_result"));
    const text = Buffer.from(lua.lua_tolstring(L, -1)).toString("latin1");
    lua.lua_settop(L, base);
    return text;
  }
}

function traceback(L: LuaState): number {
  const message = lua.lua_tostring(L, 1);
  lauxlib.luaL_traceback(L, L, message === null ? to_luastring("(error object is not a string)") : message, 1);
  return 1;
}

/** Size of the stripped compiled chunk of `source` (roughly what the Lua Flash Store holds). */
export function compiledSize(source: Uint8Array, chunkName: string): number {
  const L = lauxlib.luaL_newstate();
  if (lauxlib.luaL_loadbuffer(L, source, source.length, to_luastring(chunkName)) !== lua.LUA_OK) {
    throw new LuaError(lua.lua_tojsstring(L, -1));
  }
  let size = 0;
  lua.lua_dump(
    L,
    (_L: LuaState, bytes: Uint8Array, length: number) => {
      size += length === undefined ? bytes.length : length;
      return 0;
    },
    null,
    1,
  );
  return size;
}
