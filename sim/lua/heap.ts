/**
 * What `collectgarbage("count")` would report on NodeMCU after a full
 * collection: fengari leaves memory to the JavaScript GC and counts nothing,
 * so this walks every object reachable from the registry and the stacks and
 * adds up the sizes Lua 5.3 gives them on a 32-bit ESP32. Function
 * prototypes (code and constants) are left out: from the Lua Flash Store
 * they run in flash, not RAM.
 */
import type { LuaState } from "./vm";

// Object sizes of Lua 5.3 built for a 32-bit MCU (lobject.h): TValue 8, Node 20.
const TVALUE = 8;
const STRING_HEADER = 16;
const TABLE_HEADER = 32;
const TABLE_NODE = 20;
const CLOSURE_HEADER = 16;
const UPVALUE = 16;
const USERDATA_HEADER = 24;
const THREAD_HEADER = 112;

const T = { string: 4, table: 5, function: 6, userdata: 7, thread: 8 };
const LCL = 6;
const CCL = 6 | (2 << 4);

/* eslint-disable @typescript-eslint/no-explicit-any */
export function liveLuaBytes(L: LuaState): number {
  const seen = new Set<object>();
  let bytes = 0;
  const pending: any[] = [];
  const value = (tv: any) => {
    if (tv === undefined || tv === null) return;
    const base = tv.type & 15;
    if (base < T.string || tv.value === null || typeof tv.value !== "object") return;
    pending.push(tv);
  };
  const visit = (tv: any) => {
    const o = tv.value;
    if (seen.has(o)) return;
    seen.add(o);
    switch (tv.type & 15) {
      case T.string:
        bytes += STRING_HEADER + o.realstring.length + 1;
        break;
      case T.table:
        bytes += TABLE_HEADER + TABLE_NODE * o.strong.size;
        for (const entry of o.strong.values()) {
          value(entry.key);
          value(entry.value);
        }
        if (o.metatable) pending.push({ type: T.table, value: o.metatable });
        break;
      case T.function:
        if (tv.type === LCL) {
          bytes += CLOSURE_HEADER + 4 * o.nupvalues;
          for (const uv of o.upvals) {
            if (uv && !seen.has(uv)) {
              seen.add(uv);
              bytes += UPVALUE;
              value(uv);
            }
          }
        } else if (tv.type === CCL) {
          bytes += CLOSURE_HEADER + TVALUE * o.nupvalues;
          for (const uv of o.upvalue) value(uv);
        }
        break;
      case T.userdata:
        bytes += USERDATA_HEADER + (o.len || 0);
        if (o.metatable) pending.push({ type: T.table, value: o.metatable });
        value(o.uservalue);
        break;
      case T.thread:
        bytes += THREAD_HEADER + TVALUE * o.stack.length;
        for (let i = 0; i < o.top; i++) value(o.stack[i]);
        break;
    }
  };
  const g = L.l_G;
  value(g.l_registry);
  for (const mt of g.mt) if (mt) pending.push({ type: T.table, value: mt });
  pending.push({ type: T.thread, value: L });
  while (pending.length > 0) visit(pending.pop());
  return bytes;
}
