/**
 * A cost model for the DATA path on Espruino's interpreter, measured in the
 * emulation (PLATFORMS.md: the interpreter pays for every pass over a string
 * and for every statement it walks). Two counts:
 *   - interpreted work: function calls and loop iterations of the program
 *     (counters inserted into its source), which on Espruino cost thousands
 *     of instructions each however little they do;
 *   - native string work: bytes scanned by indexOf/lastIndexOf, copied by
 *     substring/substr/slice/split, read one at a time by charCodeAt/charAt
 *     (String.prototype patched inside the board's context only).
 * Comparing a program's counts per received byte with those of a handler
 * that only writes each chunk to a file gives the ratio the issue bounds.
 */
import * as acorn from "acorn";

export interface ProfileCounts {
  calls: number;
  iterations: number;
  scannedBytes: number;
  copiedBytes: number;
  charReads: number;
}

export const PROFILE_GLOBAL = "__lbProfile";

type AnyNode = acorn.Node & { [key: string]: unknown };

/** Inserts a counter at the start of every function body and loop body. */
export function instrumentForProfile(code: string): string {
  const ast = acorn.parse(code, { ecmaVersion: 5 }) as unknown as AnyNode;
  const inserts: [number, string][] = [];
  const wrapBody = (body: AnyNode, counter: string) => {
    if (body.type === "BlockStatement") inserts.push([body.start + 1, `${PROFILE_GLOBAL}.${counter}++;`]);
    else {
      inserts.push([body.start, `{${PROFILE_GLOBAL}.${counter}++;`]);
      inserts.push([body.end, "}"]);
    }
  };
  const visit = (node: AnyNode) => {
    if (node.type === "FunctionDeclaration" || node.type === "FunctionExpression") wrapBody(node.body as AnyNode, "calls");
    if (node.type === "ForStatement" || node.type === "WhileStatement" || node.type === "DoWhileStatement" || node.type === "ForInStatement")
      wrapBody(node.body as AnyNode, "iterations");
    for (const key of Object.keys(node)) {
      const child = node[key];
      if (Array.isArray(child)) child.forEach((c) => c && typeof c.type === "string" && visit(c));
      else if (child && typeof (child as AnyNode).type === "string") visit(child as AnyNode);
    }
  };
  visit(ast);
  // Apply from the end so earlier offsets stay valid; at one offset, keep source order.
  inserts.sort((a, b) => b[0] - a[0]);
  let out = code;
  for (const [at, text] of inserts) out = out.slice(0, at) + text + out.slice(at);
  return out;
}

/** Run inside the board's context: counts native string work into the profile object. */
export const STRING_PROFILE_SCRIPT = `(function (profile) {
  var P = String.prototype;
  function scanning(name) {
    var original = P[name];
    Object.defineProperty(P, name, { configurable: true, writable: true, value: function (needle, from) {
      var s = String(this), r = original.apply(this, arguments);
      var start = name === "lastIndexOf" ? 0 : (from === undefined ? 0 : Math.max(0, from | 0));
      profile.scannedBytes += r >= 0 ? Math.max(0, r - start) + String(needle).length : Math.max(0, s.length - start);
      return r;
    } });
  }
  function copying(name) {
    var original = P[name];
    Object.defineProperty(P, name, { configurable: true, writable: true, value: function () {
      var r = original.apply(this, arguments);
      profile.copiedBytes += name === "split" ? String(this).length : r.length;
      return r;
    } });
  }
  function reading(name) {
    var original = P[name];
    Object.defineProperty(P, name, { configurable: true, writable: true, value: function (i) {
      profile.charReads++;
      return original.call(this, i);
    } });
  }
  scanning("indexOf"); scanning("lastIndexOf");
  copying("substring"); copying("substr"); copying("slice"); copying("split");
  reading("charCodeAt"); reading("charAt");
})`;

export function emptyProfile(): ProfileCounts {
  return { calls: 0, iterations: 0, scannedBytes: 0, copiedBytes: 0, charReads: 0 };
}
