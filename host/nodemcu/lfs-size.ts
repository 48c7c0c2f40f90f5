/**
 * How many bytes of the Lua Flash Store region a build takes once
 * `node.LFS.reload` has loaded it: an estimate, from the structure of the
 * compiled code. The code is compiled by the reference Lua 5.3 with
 * NodeMCU's numbers (LUA_32BITS, sim/lua/wasm.ts) and its binary chunk
 * parsed; LFS holds, per function, a Proto (76 bytes on the 32-bit ESP32,
 * components/lua/lua-5.3/lobject.h:443), its instructions (4 bytes), constants
 * (TValue, 8 bytes), upvalue descriptors (8), child pointers (4) and
 * packed line info (about a byte per instruction), without local variable
 * names; and every distinct string once (TString header 16 bytes,
 * lobject.h:337, plus the bytes and a NUL, 4-aligned). That sum is scaled by
 * one factor calibrated on a measured build: NodeMCU's `luac.cross -f` image
 * of letterbox's build at commit 0c21172 (199,227 bytes of Lua; 96,981 bytes
 * as an image file) took 179,940 bytes of the LFS region once loaded
 * (issue 12), where this model gives 178,153 (the factor is 1.010). Counting
 * local variable records too would give 212,565 for that build, so the image
 * evidently keeps line info but not local names.
 */
import { lauxlib, lua } from "../../sim/lua/wasm";

/** What the model of the calibration build gives (computed with this file, see the doc comment). */
export const LFS_MODEL_OF_CALIBRATION = 178153;
/** The LFS region that build really took (issue 12, measured on the board's firmware). */
export const LFS_MEASURED_OF_CALIBRATION = 179940;

export interface ChunkCounts {
  functions: number;
  instructions: number;
  constants: number;
  upvalues: number;
  children: number;
  locals: number;
  /** Distinct strings: constants, and the names debug information keeps. */
  strings: Set<string>;
}

/** The binary chunk of `source` as the LUA_32BITS interpreter dumps it (with debug information unless `strip`). */
export function dumpChunk(source: Uint8Array, chunkName: string, strip: boolean): Buffer {
  const L = lauxlib.luaL_newstate();
  try {
    if (lauxlib.luaL_loadbuffer(L, source, source.length, chunkName) !== lua.LUA_OK) throw new Error(lua.lua_tojsstring(L, -1));
    const parts: Uint8Array[] = [];
    lua.lua_dump(L, (b) => parts.push(b), strip ? 1 : 0);
    return Buffer.concat(parts);
  } finally {
    lua.lua_close(L);
  }
}

/** Counts a Lua 5.3 binary chunk's contents (ldump.c's format; ints, size_t, Instruction, integers and numbers of 4 bytes). */
export function countChunk(chunk: Buffer): ChunkCounts {
  let at = 0;
  const byte = () => chunk[at++];
  const int = () => {
    const v = chunk.readInt32LE(at);
    at += 4;
    return v;
  };
  const str = (): string | undefined => {
    let size = byte();
    if (size === 0xff) size = int();
    if (size === 0) return undefined;
    const s = chunk.subarray(at, at + size - 1).toString("latin1");
    at += size - 1;
    return s;
  };
  if (chunk.subarray(0, 4).toString("latin1") !== "\x1bLua" || chunk[4] !== 0x53) throw new Error("not a Lua 5.3 binary chunk");
  // signature, version, format, LUAC_DATA (6), five sizes, LUAC_INT (4), LUAC_NUM (4)
  at = 4 + 1 + 1 + 6 + 5;
  if (chunk[12] !== 4 || chunk[13] !== 4 || chunk[15] !== 4 || chunk[16] !== 4) throw new Error("not a LUA_32BITS chunk");
  at += 4 + 4;
  byte(); // sizeupvalues of the main closure
  const counts: ChunkCounts = { functions: 0, instructions: 0, constants: 0, upvalues: 0, children: 0, locals: 0, strings: new Set() };
  const add = (s: string | undefined) => {
    if (s !== undefined) counts.strings.add(s);
  };
  const fn = () => {
    counts.functions++;
    add(str()); // source
    int(); // linedefined
    int(); // lastlinedefined
    at += 3; // numparams, is_vararg, maxstacksize
    const code = int();
    counts.instructions += code;
    at += 4 * code;
    const k = int();
    counts.constants += k;
    for (let i = 0; i < k; i++) {
      const t = byte();
      if (t === 1) at += 1;
      else if (t === 3 || t === 19) at += 4;
      else if (t === 4 || t === 20) add(str());
      else if (t !== 0) throw new Error(`unknown constant type ${t}`);
    }
    const up = int();
    counts.upvalues += up;
    at += 2 * up;
    const p = int();
    counts.children += p;
    for (let i = 0; i < p; i++) fn();
    const lines = int(); // lineinfo: one int per instruction
    at += 4 * lines;
    const locals = int();
    counts.locals += locals;
    for (let i = 0; i < locals; i++) {
      add(str());
      at += 8;
    }
    const names = int();
    for (let i = 0; i < names; i++) add(str());
  };
  fn();
  if (at !== chunk.length) throw new Error(`binary chunk not fully read (${at} of ${chunk.length})`);
  return counts;
}

const PROTO = 76;
const INSTRUCTION = 4;
const TVALUE = 8;
const UPVALDESC = 8;
const POINTER = 4;
const LINEINFO = 1;
const LOCVAR = 12;
const TSTRING = 16;

/** The model's sum for a build, before calibration. */
export function lfsModelBytes(counts: ChunkCounts): number {
  let strings = 0;
  for (const s of counts.strings) strings += (TSTRING + s.length + 1 + 3) & ~3;
  return (
    counts.functions * PROTO +
    counts.instructions * (INSTRUCTION + LINEINFO) +
    counts.constants * TVALUE +
    counts.upvalues * UPVALDESC +
    counts.children * POINTER +
    counts.locals * LOCVAR +
    strings
  );
}

/** The estimated bytes of the LFS region a Lua source (one module) takes once loaded. */
export function estimateLfsBytes(source: Uint8Array, chunkName: string): number {
  const model = lfsModelBytes(countChunk(dumpChunk(source, chunkName, true)));
  return Math.round((model * LFS_MEASURED_OF_CALIBRATION) / LFS_MODEL_OF_CALIBRATION);
}
