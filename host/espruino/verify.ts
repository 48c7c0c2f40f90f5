/**
 * Checks that a bundle only uses what Espruino 2v29 runs (PLATFORMS.md):
 * it must parse as ES5, and even within ES5 some constructs and globals are
 * missing on the interpreter. Returns the problems found (empty when fine).
 */
import * as acorn from "acorn";

type AnyNode = acorn.Node & { [key: string]: unknown };

/** Globals Espruino does not have (or the core must not rely on). */
const MISSING_GLOBALS = new Set(["Map", "Set", "WeakMap", "WeakSet", "Symbol", "Proxy", "Reflect", "Intl", "WeakRef"]);
/** Methods Espruino's String and Object lack. */
const MISSING_METHODS = new Set(["localeCompare", "normalize", "codePointAt", "fromCodePoint"]);

/** Visits every node with the key under which its parent holds it. */
function walk(node: AnyNode, parent: AnyNode | undefined, key: string, visit: (node: AnyNode, parent: AnyNode | undefined, key: string) => void): void {
  visit(node, parent, key);
  for (const k of Object.keys(node)) {
    const child = node[k];
    if (Array.isArray(child)) {
      for (const c of child) if (c && typeof c.type === "string") walk(c, node, k, visit);
    } else if (child && typeof (child as AnyNode).type === "string") {
      walk(child as AnyNode, node, k, visit);
    }
  }
}

/** An identifier used as a name (`a.Map`, `{ Map: 1 }`) rather than a variable reference. */
function isPropertyName(parent: AnyNode | undefined, key: string): boolean {
  if (!parent) return false;
  if (parent.type === "MemberExpression") return key === "property" && !parent.computed;
  return parent.type === "Property" && key === "key";
}

/** Espruino's RegExp has no lookaround, no {n} counts and no backreferences. */
function regexProblem(pattern: string): string | undefined {
  if (/\(\?[=!<]/.test(pattern)) return "lookaround";
  if (/(^|[^\\])\{\d+(,\d*)?\}/.test(pattern)) return "{n} repetition";
  if (/\\[1-9]/.test(pattern)) return "backreference";
  return undefined;
}

export function verifyEspruinoSource(code: string): string[] {
  const problems: string[] = [];
  let ast: AnyNode;
  try {
    ast = acorn.parse(code, { ecmaVersion: 5, sourceType: "script", locations: true }) as unknown as AnyNode;
  } catch (e) {
    return [`not ES5: ${(e as Error).message}`];
  }
  const where = (node: AnyNode) => {
    const loc = node.loc as acorn.SourceLocation;
    return `${loc.start.line}:${loc.start.column + 1}`;
  };
  walk(ast, undefined, "", (node, parent, key) => {
    switch (node.type) {
      case "Identifier":
        if (!isPropertyName(parent, key) && MISSING_GLOBALS.has(node.name as string)) problems.push(`${where(node)}: ${node.name} (Espruino lacks it)`);
        break;
      case "MemberExpression": {
        const prop = node.property as AnyNode;
        if (!node.computed && MISSING_METHODS.has(prop.name as string))
          problems.push(`${where(node)}: .${prop.name} (Espruino lacks it)`);
        break;
      }
      case "Literal": {
        const regex = node.regex as { pattern: string } | undefined;
        const why = regex && regexProblem(regex.pattern);
        if (why) problems.push(`${where(node)}: RegExp /${regex!.pattern}/ uses ${why} (Espruino's RegExp lacks it)`);
        break;
      }
      case "LabeledStatement":
        problems.push(`${where(node)}: labeled statement (Espruino does not support labels)`);
        break;
      case "WithStatement":
        problems.push(`${where(node)}: with (Espruino does not support it)`);
        break;
      case "DebuggerStatement":
        problems.push(`${where(node)}: debugger statement (would stop the board)`);
        break;
      case "SwitchCase": {
        // Espruino 2v29 skips a statement that starts with a string right
        // after a case label: measured on the Linux build, `switch (n) { case
        // 10: "a" === "a" && print(1) }` prints nothing. A minifier writes
        // `if (x === "s")` as `"s" === x && ...`, so it can appear from plain source.
        const first = (node.consequent as AnyNode[])[0];
        const c = first ? code.charAt(first.start) : "";
        if (c === '"' || c === "'") problems.push(`${where(first)}: a case body that starts with a string (Espruino 2v29 skips that statement)`);
        break;
      }
      case "ForStatement": {
        // Espruino 2v29 reads `for (function` as a function declaration and
        // throws "Got '(' expected ID": measured on the Linux build, where
        // terser had inlined a helper as an IIFE into a loop's init
        // (`for(function(t){...}(l),n=0;...)`) and every map encode failed.
        const init = node.init as AnyNode | null;
        if (init && code.startsWith("function", init.start)) problems.push(`${where(init)}: a for loop whose init starts with a function expression (Espruino 2v29 cannot parse it)`);
        break;
      }
    }
  });
  return problems;
}
