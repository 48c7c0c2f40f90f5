/**
 * A minimal CommonJS bundler for tsc's ES5 output: follows the relative
 * require() calls from an entry module and emits one script in which each
 * module is a function called once on first use. Non-relative requires
 * ("net", "fs", "Storage", "Wifi") are Espruino's own modules and stay calls
 * to the interpreter's `require`. The input is already ES5 and is copied
 * unchanged apart from the rewritten require calls, so nothing newer than
 * ES5 can creep in here.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as acorn from "acorn";

interface Module {
  file: string;
  source: string;
  /** [start, end, replacement] edits, in source order. */
  edits: [number, number, string][];
}

type AnyNode = acorn.Node & { [key: string]: unknown };

function walk(node: AnyNode, visit: (node: AnyNode) => void): void {
  visit(node);
  for (const key of Object.keys(node)) {
    const child = node[key];
    if (Array.isArray(child)) {
      for (const c of child) if (c && typeof c.type === "string") walk(c, visit);
    } else if (child && typeof (child as AnyNode).type === "string") {
      walk(child as AnyNode, visit);
    }
  }
}

function resolveModule(fromFile: string, request: string): string {
  const base = path.resolve(path.dirname(fromFile), request);
  for (const candidate of [base, base + ".js", path.join(base, "index.js")]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  throw new Error(`cannot resolve "${request}" from ${fromFile}`);
}

/** The name the bundle's module loader goes by; chosen not to clash with tsc output. */
const LOADER = "__lbRequire";

/** Bundles `entryFile` (a compiled CommonJS module) and its relative imports into one ES5 script. */
export function bundleCommonJs(entryFile: string): string {
  const modules: Module[] = [];
  const indexOf = new Map<string, number>();

  const load = (file: string): number => {
    const known = indexOf.get(file);
    if (known !== undefined) return known;
    const index = modules.length;
    indexOf.set(file, index);
    const source = fs.readFileSync(file, "utf8");
    const module: Module = { file, source, edits: [] };
    modules.push(module);
    const ast = acorn.parse(source, { ecmaVersion: 5, sourceType: "script" }) as unknown as AnyNode;
    walk(ast, (node) => {
      // tsc marks every module as an ES module for interop nobody here needs;
      // dropping the marker saves a property per module on the device.
      if (node.type === "ExpressionStatement" && isEsModuleMarker(node.expression as AnyNode)) {
        module.edits.push([node.start, node.end, ""]);
      }
      if (node.type !== "CallExpression") return;
      const callee = node.callee as AnyNode;
      const args = node.arguments as AnyNode[];
      if (callee.type !== "Identifier" || callee.name !== "require" || args.length !== 1) return;
      const arg = args[0];
      if (arg.type !== "Literal" || typeof arg.value !== "string") return;
      if (!arg.value.startsWith(".")) return; // one of Espruino's modules
      const target = load(resolveModule(file, arg.value));
      module.edits.push([node.start, node.end, `${LOADER}(${target})`]);
    });
    return index;
  };

  load(entryFile);
  const parts = [
    "(function () {",
    `var defs = [], cache = [];`,
    `function ${LOADER}(i) {`,
    `  var exports = cache[i];`,
    `  if (!exports) { exports = cache[i] = {}; defs[i](exports); defs[i] = undefined; }`,
    `  return exports;`,
    `}`,
  ];
  modules.forEach((m, i) => {
    parts.push(`// ${path.basename(m.file)}`);
    parts.push(`defs[${i}] = function (exports) {\n${applyEdits(m)}\n};`);
  });
  parts.push(`${LOADER}(0);`, "})();", "");
  return parts.join("\n");
}

function isEsModuleMarker(expr: AnyNode | undefined): boolean {
  if (!expr || expr.type !== "CallExpression") return false;
  const callee = expr.callee as AnyNode;
  const args = expr.arguments as AnyNode[];
  return (
    callee.type === "MemberExpression" &&
    (callee.object as AnyNode).type === "Identifier" &&
    (callee.object as AnyNode).name === "Object" &&
    (callee.property as AnyNode).name === "defineProperty" &&
    args.length === 3 &&
    (args[0] as AnyNode).type === "Identifier" &&
    (args[0] as AnyNode).name === "exports" &&
    (args[1] as AnyNode).value === "__esModule"
  );
}

function applyEdits(m: Module): string {
  let out = "";
  let at = 0;
  for (const [start, end, text] of [...m.edits].sort((a, b) => a[0] - b[0])) {
    out += m.source.slice(at, start) + text;
    at = end;
  }
  out += m.source.slice(at);
  // tsc's source-map comment points at files the bundle does not ship.
  return out.replace(/\n\/\/# sourceMappingURL=.*$/, "");
}
