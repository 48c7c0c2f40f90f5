/**
 * Estimates the Espruino variables ("JsVars", 14 bytes each) a program keeps
 * alive, from a V8 heap snapshot of this process: everything reachable from
 * the given roots (the callbacks the program registered with the emulated
 * board, which is what keeps its state alive on the device) is priced the
 * way Espruino stores it:
 *   - a string: one variable per ~10 characters (a 537-byte chunk ~ 55),
 *     V8's lazy concatenations priced as the one string Espruino makes;
 *   - an object or array: one for itself plus one per property or element;
 *   - a function of the program: FUNCTION_VARIABLES, plus one per variable
 *     of every scope it closes over (Espruino keeps whole scopes alive);
 *   - a program class's prototype, once, with its methods;
 *   - numbers, booleans: nothing beyond the property holding them.
 * Functions that are not the program's (the emulation's own, built-ins) cost
 * one variable and are not followed, nor are prototypes of built-ins.
 */
import * as inspector from "node:inspector";

/** Marks the snapshot node where the traversal starts; one instance lives only during a measurement. */
class EspruinoHeapRoots {
  constructor(public roots: unknown[]) {}
}

export interface VariableEstimate {
  /** Total variables. */
  variables: number;
  /** Of which strings. */
  stringVariables: number;
  /** Characters in the strings counted. */
  stringBytes: number;
  /** The program's functions counted (FUNCTION_VARIABLES each). */
  functions: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function takeSnapshot(): Snapshot {
  const session = new inspector.Session();
  session.connect();
  const chunks: string[] = [];
  session.on("HeapProfiler.addHeapSnapshotChunk", (m) => chunks.push(m.params.chunk));
  let failure: Error | null = null;
  // The in-process session answers synchronously.
  session.post("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, (err) => {
    failure = err;
  });
  session.disconnect();
  if (failure) throw failure;
  return JSON.parse(chunks.join(""));
}

/** Variables a string of `length` characters takes. */
export function stringVariables(length: number): number {
  return Math.max(1, Math.ceil((length + 4) / 10));
}

/**
 * What one of the program's functions costs on Espruino even with its body in
 * flash: the function, its code link and scope link, its name and parameter
 * names, and what this walk does not see otherwise. Fitted to the idle
 * figures of the real 2v29 interpreter (32-bit, ESP32 format): 4,736
 * variables after boot and 4,766 with one message stored, where 328 program
 * functions at 12 give 4,816 and 4,829 (+1.7%, +1.3%). A least-squares fit
 * of this and CONNECTION_VARIABLES over every state of
 * test/helpers/memory-scenario.ts gives 11.8 and 109 (BENCHMARKS.md).
 */
export const FUNCTION_VARIABLES = 12;

/**
 * What an open connection costs on Espruino beyond what this walk finds
 * from the program's side: the Socket object as the interpreter keeps it
 * (socket number, type, send buffer, "#on..." listener entries, its place in
 * the connection list: libs/network/socketserver.c; a bare socket with two
 * listeners measures 24 on the real interpreter) and what the walk misses in
 * the session's objects and closures (V8 keeps only the variables a closure
 * captures, Espruino the whole scope). Fitted to the per-session deltas on
 * the real interpreter (BENCHMARKS.md), real minus estimate per session
 * above idle, open files priced as on the Linux build there: 1 SMTP session
 * mid-DATA 117, 4 SMTP 115 each, 1 POP3 mid-RETR 98, 4 POP3 93 each, 4 SMTP +
 * 4 POP3 108 each; 106 over those 18 sessions.
 */
export const CONNECTION_VARIABLES = 105;

/** Edges that are V8 machinery rather than program data. */
const SKIPPED_PROPERTIES = new Set(["__proto__", "constructor"]);

/**
 * Variables a flat string of `length` characters takes: a header and the
 * blocks after it, 14 characters each (jsvar.c:963 jsvNewFlatStringOfLength,
 * sizeof(JsVar) = 14 on ESP32).
 */
export function flatStringVariables(length: number): number {
  return 1 + Math.ceil(length / 14);
}

/** `flat(length, name)`: the string of that length, named so in the snapshot (its first 1,024 characters), is a flat string on the board. */
export function estimateVariables(roots: unknown[], programScript: string, flat?: (length: number, name: string) => boolean): VariableEstimate {
  let holder: EspruinoHeapRoots | null = new EspruinoHeapRoots(roots);
  const snap = takeSnapshot();
  holder = null;
  void holder;

  const meta = snap.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const F_TYPE = meta.node_fields.indexOf("type");
  const F_NAME = meta.node_fields.indexOf("name");
  const F_SIZE = meta.node_fields.indexOf("self_size");
  const F_EDGES = meta.node_fields.indexOf("edge_count");
  const E_TYPE = meta.edge_fields.indexOf("type");
  const E_NAME = meta.edge_fields.indexOf("name_or_index");
  const E_TO = meta.edge_fields.indexOf("to_node");

  const nodeCount = nodes.length / NF;
  const firstEdge = new Uint32Array(nodeCount + 1);
  for (let n = 0, e = 0; n < nodeCount; n++) {
    firstEdge[n] = e;
    e += nodes[n * NF + F_EDGES] * EF;
    firstEdge[n + 1] = e;
  }
  const type = (n: number) => nodeTypes[nodes[n * NF + F_TYPE]];
  const name = (n: number) => strings[nodes[n * NF + F_NAME]];
  const edgeType = (e: number) => edgeTypes[edges[e + E_TYPE]];
  const edgeName = (e: number) => {
    const t = edgeType(e);
    return t === "element" || t === "hidden" ? String(edges[e + E_NAME]) : strings[edges[e + E_NAME]];
  };
  const target = (e: number) => edges[e + E_TO] / NF;
  const edgeTo = (n: number, wantedType: string, wantedName: string): number => {
    for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += EF) {
      if (edgeType(e) === wantedType && edgeName(e) === wantedName) return target(e);
    }
    return -1;
  };

  let start = -1;
  for (let n = 0; n < nodeCount; n++) {
    if (type(n) === "object" && name(n) === "EspruinoHeapRoots") {
      start = edgeTo(n, "property", "roots");
      break;
    }
  }
  if (start < 0) throw new Error("heap snapshot: measurement roots not found");

  const isProgramFunction = (n: number): boolean => {
    const shared = edgeTo(n, "internal", "shared");
    if (shared < 0) return false;
    const script = edgeTo(shared, "internal", "script_or_debug_info");
    return script >= 0 && name(script) === programScript;
  };

  /** An object whose `constructor` is a program function: the prototype of one of the program's classes. */
  const isProgramPrototype = (n: number): boolean => {
    const ctor = edgeTo(n, "property", "constructor");
    return ctor >= 0 && type(ctor) === "closure" && isProgramFunction(ctor);
  };

  const seen = new Uint8Array(nodeCount);
  const stack: number[] = [];
  const result: VariableEstimate = { variables: 0, stringVariables: 0, stringBytes: 0, functions: 0 };
  const push = (n: number) => {
    if (!seen[n]) {
      seen[n] = 1;
      stack.push(n);
    }
  };
  // The roots array itself is the emulation's, not the program's: only its elements count.
  seen[start] = 1;
  for (let e = firstEdge[start]; e < firstEdge[start + 1]; e += EF) if (edgeType(e) === "element") push(target(e));

  /**
   * Characters in a string node. A cons string (V8's lazy concatenation) is
   * one string on Espruino, which copies on `+`: its length is the sum of
   * its leaves, worked out without recursion (cons chains get deep).
   */
  const lengths = new Map<number, number>();
  const stringLength = (root: number): number => {
    const work = [root];
    while (work.length > 0) {
      const n = work[work.length - 1];
      if (lengths.has(n)) {
        work.pop();
        continue;
      }
      const t = type(n);
      // The snapshot names strings by their content, cut at 1024 characters;
      // beyond that the object size (16-byte header, one byte a character) tells.
      if (t === "string" || t === "sliced string") {
        const named = name(n).length;
        lengths.set(n, named < 1024 || t === "sliced string" ? named : Math.max(named, nodes[n * NF + F_SIZE] - 16));
      }
      else if (t === "concatenated string") {
        const parts = [edgeTo(n, "internal", "first"), edgeTo(n, "internal", "second")].filter((p) => p >= 0);
        const missing = parts.filter((p) => !lengths.has(p));
        if (missing.length > 0) {
          work.push(...missing);
          continue;
        }
        lengths.set(n, parts.reduce((sum, p) => sum + lengths.get(p)!, 0));
      } else lengths.set(n, 0);
      work.pop();
    }
    return lengths.get(root)!;
  };
  const countString = (n: number) => {
    const length = stringLength(n);
    result.stringBytes += length;
    const v = flat !== undefined && type(n) === "string" && flat(length, name(n)) ? flatStringVariables(length) : stringVariables(length);
    result.stringVariables += v;
    result.variables += v;
  };

  while (stack.length > 0) {
    const n = stack.pop()!;
    const t = type(n);
    if (t === "string" || t === "sliced string" || t === "concatenated string") {
      countString(n);
      continue;
    }
    if (t === "closure") {
      if (!isProgramFunction(n)) {
        result.variables += 1;
        continue;
      }
      result.variables += FUNCTION_VARIABLES;
      result.functions++;
      const context = edgeTo(n, "internal", "context");
      if (context >= 0) push(context);
      for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += EF) {
        if (edgeType(e) === "property" && !SKIPPED_PROPERTIES.has(edgeName(e))) {
          result.variables += 1;
          push(target(e));
        }
      }
      continue;
    }
    if (t === "object" && name(n) === "system / Context") {
      for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += EF) {
        if (edgeType(e) === "context") {
          result.variables += 1;
          push(target(e));
        }
      }
      const previous = edgeTo(n, "internal", "previous");
      if (previous >= 0) push(previous);
      continue;
    }
    if (t === "object" && !name(n).startsWith("system /")) {
      result.variables += 1;
      for (let e = firstEdge[n]; e < firstEdge[n + 1]; e += EF) {
        const et = edgeType(e);
        if ((et === "property" && !SKIPPED_PROPERTIES.has(edgeName(e))) || et === "element") {
          result.variables += 1;
          push(target(e));
        } else if (et === "property" && edgeName(e) === "__proto__" && isProgramPrototype(target(e))) {
          push(target(e)); // a class's prototype: its methods live in RAM on Espruino, counted once
        }
      }
    }
    // numbers, code, native and hidden nodes: no variables of their own
  }
  return result;
}
