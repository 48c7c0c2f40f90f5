/**
 * A Lua 5.3 VM with NodeMCU's numbers: the reference C interpreter built
 * with LUA_32BITS (32-bit integers, single-precision floats) and run as
 * WebAssembly (sim/lua/wasm.ts), no `os` library, and helpers to hand bytes,
 * callbacks and userdata between Lua and the emulated modules.
 */
import { cfunction, heap32, lauxlib, lua, LuaFunction, LuaState, lualib, releaseCfunction, setHeap32, to_luastring } from "./wasm";

export type { LuaFunction, LuaState };

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

/** Raises a Lua error with `message` and the caller's position, as luaL_error does (never returns). */
export function raise(L: LuaState, message: string): never {
  return lauxlib.luaL_error(L, message);
}

/** The userdata of the emulated objects holds a 4-byte id; the JavaScript state lives here. */
interface ObjectClass {
  /** Runs in the object's __gc, as the firmware's finalizer (net_delete, tmr_unregister) does. */
  gc?: (L: LuaState, state: object) => void;
}

export class LuaVm {
  readonly L: LuaState;
  /** Uncaught errors in callbacks, with tracebacks. */
  readonly errors: string[] = [];
  /** Console output: print() lines end in "\n"; io.write and uart.write pass bytes as they are. */
  readonly write: (text: string) => void;
  private onError: (message: string) => void;
  private objects = new Map<number, object>();
  private nextId = 1;
  private classes = new Map<string, ObjectClass>();
  private functions: LuaFunction[] = [];
  private closed = false;
  /** Set when the board stops mid-call (a panic, a restart): errors unwinding from it are not reported. */
  halted = false;
  /** Bytes of compiled code loaded with loadCode(): on the board it runs from flash (LFS), not RAM. */
  codeBytes = 0;

  constructor(options: { write: (text: string) => void; onError: (message: string) => void }) {
    this.write = options.write;
    this.onError = options.onError;
    this.L = lauxlib.luaL_newstate();
    lualib.luaL_openlibs(this.L);
    const L = this.L;
    lua.lua_pushnil(L);
    lua.lua_setglobal(L, "os"); // NodeMCU has no os library
    this.setGlobalFunction("print", (L2) => {
      const n = lua.lua_gettop(L2);
      const parts: string[] = [];
      for (let i = 1; i <= n; i++) parts.push(Buffer.from(lauxlib.luaL_tolstring(L2, i)).toString("latin1"));
      lua.lua_settop(L2, n);
      this.write(parts.join("\t") + "\n");
      return 0;
    });
  }

  /** The pointer for `fn`, remembered so that close() frees its table slot. */
  private own(fn: LuaFunction): LuaFunction {
    this.functions.push(fn);
    return fn;
  }

  /** Frees the Lua state (every __gc runs) and this VM's functions. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    lua.lua_close(this.L);
    for (const fn of this.functions) releaseCfunction(fn);
    this.functions = [];
    this.objects.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  setGlobalBytes(name: string, bytes: Uint8Array): void {
    pushBytes(this.L, bytes);
    lua.lua_setglobal(this.L, name);
  }

  setGlobalFunction(name: string, fn: LuaFunction): void {
    lua.lua_pushcfunction(this.L, this.own(fn));
    lua.lua_setglobal(this.L, name);
  }

  /** Defines a global table of functions (a NodeMCU module); returns nothing on the stack. */
  setModule(name: string, functions: { [name: string]: LuaFunction }, constants: { [name: string]: number } = {}): void {
    const L = this.L;
    lua.lua_newtable(L);
    this.setFields(functions, constants);
    lua.lua_setglobal(L, name);
  }

  /** Sets functions and integer constants on the table at the top of the stack. */
  setFields(functions: { [name: string]: LuaFunction }, constants: { [name: string]: number } = {}): void {
    const L = this.L;
    for (const key of Object.keys(functions)) {
      lua.lua_pushcfunction(L, this.own(functions[key]));
      lua.lua_setfield(L, -2, key);
    }
    for (const key of Object.keys(constants)) {
      lua.lua_pushinteger(L, constants[key]);
      lua.lua_setfield(L, -2, key);
    }
  }

  /**
   * Registers a metatable `type` whose __index holds `methods`, for userdata
   * objects; `gc` runs when Lua collects an object (its __gc), never sooner.
   */
  defineClass(type: string, methods: { [name: string]: LuaFunction }, gc?: (L: LuaState, state: object) => void): void {
    const L = this.L;
    this.classes.set(type, { gc });
    lauxlib.luaL_newmetatable(L, type);
    lua.lua_newtable(L);
    this.setFields(methods);
    lua.lua_setfield(L, -2, "__index");
    this.setFields({
      __gc: (L2) => {
        const p = lua.lua_touserdata(L2, 1);
        const id = p === 0 ? 0 : this.idAt(p);
        const state = this.objects.get(id);
        if (state === undefined) return 0;
        this.objects.delete(id);
        if (gc) gc(L2, state);
        return 0;
      },
    });
    lua.lua_pop(L, 1);
  }

  private idAt(p: number): number {
    return heap32(p);
  }

  /** Pushes a new userdata of class `type` carrying `state` (a JS object). */
  pushObject(type: string, state: object): void {
    const L = this.L;
    const p = lua.lua_newuserdata(L, 4);
    const id = this.nextId++;
    setHeap32(p, id);
    this.objects.set(id, state);
    lauxlib.luaL_setmetatable(L, type);
  }

  /** The JS state of the userdata of class `type` at `index` (a Lua argument error otherwise). */
  checkObject<T>(L: LuaState, index: number, type: string): T {
    const p = lauxlib.luaL_checkudata(L, index, type);
    const state = this.objects.get(this.idAt(p));
    if (state === undefined) raise(L, `${type}: object already collected`);
    return state as T;
  }

  /** How many emulated objects are alive in Lua (not yet collected), of every class. */
  liveObjects(): number {
    return this.objects.size;
  }

  /** Keeps the function at `index` alive; returns a reference for call(). */
  ref(L: LuaState, index: number): number {
    lauxlib.luaL_checktype(L, index, lua.LUA_TFUNCTION);
    lua.lua_pushvalue(L, index);
    return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  }

  unref(ref: number): void {
    if (this.closed) return;
    lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
  }

  /**
   * Calls a referenced Lua function from the event loop, as the firmware
   * does (luaL_pcallx): an error is reported (with a traceback) and does not propagate.
   */
  call(ref: number, pushArgs: (L: LuaState) => number = () => 0): void {
    if (this.closed) return;
    const L = this.L;
    const base = lua.lua_gettop(L);
    lua.lua_pushcfunction(L, traceback);
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
    const n = pushArgs(L);
    const status = lua.lua_pcall(L, n, 0, base + 1);
    if (status !== lua.LUA_OK) {
      const message = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
      lua.lua_settop(L, base);
      this.report(message);
      return;
    }
    lua.lua_settop(L, base);
  }

  /**
   * Calls the function below `nargs` arguments on the stack as luaL_pcallx
   * does: errors are reported with a traceback and do not propagate.
   */
  callStack(nargs: number): void {
    const L = this.L;
    const fnIndex = lua.lua_gettop(L) - nargs;
    lua.lua_pushcfunction(L, traceback);
    lua.lua_insert(L, fnIndex);
    const status = lua.lua_pcall(L, nargs, 0, fnIndex);
    if (status !== lua.LUA_OK) {
      const message = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
      lua.lua_settop(L, fnIndex - 1);
      this.report(message);
      return;
    }
    lua.lua_settop(L, fnIndex - 1);
  }

  private report(message: string): void {
    if (this.halted || this.closed) return;
    this.errors.push(message);
    this.onError(message);
  }

  /** Loads a chunk and leaves the function on the stack; throws LuaError on a syntax error. */
  private load(source: Uint8Array | string, chunkName: string): void {
    const L = this.L;
    const bytes = typeof source === "string" ? Buffer.from(source, "latin1") : source;
    if (lauxlib.luaL_loadbuffer(L, bytes, bytes.length, chunkName) !== lua.LUA_OK) {
      const message = lua.lua_tojsstring(L, -1);
      lua.lua_pop(L, 1);
      throw new LuaError(message);
    }
  }

  /** Runs a chunk of Lua source; throws LuaError with the message on failure. Returns nothing. */
  run(source: Uint8Array | string, chunkName: string): void {
    if (this.closed) throw new LuaError("the VM is closed");
    const L = this.L;
    const base = lua.lua_gettop(L);
    lua.lua_pushcfunction(L, traceback);
    try {
      this.load(source, chunkName);
    } catch (e) {
      lua.lua_settop(L, base);
      throw e;
    }
    const status = lua.lua_pcall(L, 0, 0, base + 1);
    if (status !== lua.LUA_OK) {
      const message = Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1");
      lua.lua_settop(L, base);
      throw new LuaError(message);
    }
    lua.lua_settop(L, base);
  }

  /**
   * Loads compiled-to-be code that on the board lives in the Lua Flash Store
   * (the core bundle) and leaves the chunk's function on the stack: the
   * bytes its prototypes take are counted in codeBytes, so that the heap
   * figures leave them out as the board's RAM does.
   */
  loadCode(source: Uint8Array, chunkName: string): void {
    const before = this.heapBytes(false);
    this.load(source, chunkName);
    this.codeBytes += Math.max(0, this.heapBytes(false) - before);
  }

  /** Evaluates one Lua expression and returns its value as a JS string (tostring). */
  evaluate(expression: string): string {
    const L = this.L;
    const base = lua.lua_gettop(L);
    this.run(`__lb_result = tostring(${expression})`, "=eval");
    lua.lua_getglobal(L, "__lb_result");
    const text = Buffer.from(lua.lua_tolstring(L, -1) ?? new Uint8Array()).toString("latin1");
    lua.lua_settop(L, base);
    return text;
  }

  /**
   * collectgarbage("count") * 1024, after full collections when `collect`
   * (what is live, not what awaits the collector): two, since an object with
   * a finalizer (a socket, a file) is freed only by the collection after its __gc ran.
   */
  heapBytes(collect = true): number {
    if (this.closed) return 0;
    if (collect) {
      lua.lua_gc(this.L, lua.LUA_GCCOLLECT, 0);
      lua.lua_gc(this.L, lua.LUA_GCCOLLECT, 0);
    }
    return lua.lua_gc(this.L, lua.LUA_GCCOUNT, 0) * 1024 + lua.lua_gc(this.L, lua.LUA_GCCOUNTB, 0);
  }
}

function traceback(L: LuaState): number {
  const message = lua.lua_tostring(L, 1);
  lauxlib.luaL_traceback(L, L, message === null ? to_luastring("(error object is not a string)") : message, 1);
  return 1;
}

/** Size of the stripped binary chunk of `source` as this interpreter (LUA_32BITS) dumps it: what luac -s writes. */
export function compiledSize(source: Uint8Array, chunkName: string): number {
  const L = lauxlib.luaL_newstate();
  try {
    if (lauxlib.luaL_loadbuffer(L, source, source.length, chunkName) !== lua.LUA_OK) {
      throw new LuaError(lua.lua_tojsstring(L, -1));
    }
    let size = 0;
    lua.lua_dump(L, (bytes) => (size += bytes.length), 1);
    return size;
  } finally {
    lua.lua_close(L);
  }
}

export { cfunction };
