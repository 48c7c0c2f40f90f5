/**
 * Finds every place a script depends on hoisting, which Espruino does not do
 * (PLATFORMS.md; src/jsparse.c runs a script statement by statement: a
 * `function f(){}` or `var x` is declared only when its statement runs).
 *
 * A use of a name declared with `var` or `function` in some function (or the
 * script) is a problem when it can run before that declaration has run:
 *   - a use in the same function placed before the declaration;
 *   - a use inside a nested function created before the declaration, unless
 *     everything between the creation and the declaration is inert
 *     (function declarations and `var` without initialisers), so the nested
 *     function cannot be called in between.
 * On Espruino the first kind throws `ReferenceError: "f" is not defined`;
 * a write of the second kind lands in an outer variable of the same name
 * (the bundle's "Expecting function, got Number" fault).
 *
 * Scopes come from eslint-scope (ESLint's own analyser) over an acorn AST.
 */
import * as acorn from "acorn";
import * as eslintScope from "eslint-scope";

type AnyNode = acorn.Node & { [key: string]: unknown };

export interface HoistingProblem {
  name: string;
  /** "line:column" of the use. */
  where: string;
  message: string;
}

/** The statements of a function's (or the script's) body. */
function bodyOf(block: AnyNode): AnyNode[] {
  if (block.type === "Program") return block.body as AnyNode[];
  const body = block.body as AnyNode;
  return body.type === "BlockStatement" ? (body.body as AnyNode[]) : [];
}

/** Index of the body statement that contains source position `pos`, or -1. */
function statementAt(statements: AnyNode[], pos: number): number {
  for (let i = 0; i < statements.length; i++) if (statements[i].start <= pos && pos < statements[i].end) return i;
  return -1;
}

/** An expression that only makes a value, calling nothing: a literal (`void 0`, `-1` too) or a function expression. */
function makesValue(e: AnyNode | null): boolean {
  if (e === null || e.type === "Literal" || e.type === "FunctionExpression") return true;
  return e.type === "UnaryExpression" && (e.operator === "void" || e.operator === "-" || e.operator === "!") && (e.argument as AnyNode).type === "Literal";
}

/**
 * Statements that call no code, so nothing can call a function while they
 * run: function declarations, `var` with such initialisers, and assignments
 * of them to a name or a property (`exports.f = function () {...}`, as
 * terser writes exports).
 */
function inert(s: AnyNode): boolean {
  if (s.type === "FunctionDeclaration" || s.type === "EmptyStatement") return true;
  if (s.type === "ExpressionStatement") {
    if (s.directive !== undefined) return true; // "use strict"
    const e = s.expression as AnyNode;
    if (e.type === "SequenceExpression") return (e.expressions as AnyNode[]).every(inertAssignment);
    return inertAssignment(e);
  }
  if (s.type !== "VariableDeclaration") return false;
  return (s.declarations as AnyNode[]).every((d) => makesValue(d.init as AnyNode | null));
}

function inertAssignment(e: AnyNode): boolean {
  if (e.type !== "AssignmentExpression" || e.operator !== "=" || !makesValue(e.right as AnyNode)) return false;
  const target = e.left as AnyNode;
  if (target.type === "Identifier") return true;
  return target.type === "MemberExpression" && !target.computed && (target.object as AnyNode).type === "Identifier";
}

/**
 * Checks `code` (ES5, a classic script). Returns the problems found, empty
 * when the script runs the same without hoisting. Throws when it does not parse.
 */
export function findHoistingDependencies(code: string): HoistingProblem[] {
  // eslint-scope reads `range`.
  const ast = acorn.parse(code, { ecmaVersion: 5, sourceType: "script", locations: true, ranges: true }) as unknown as AnyNode;
  const manager = eslintScope.analyze(ast as never, { ecmaVersion: 5, sourceType: "script" });
  const problems: HoistingProblem[] = [];
  const where = (node: AnyNode) => {
    const loc = node.loc as acorn.SourceLocation;
    return `${loc.start.line}:${loc.start.column + 1}`;
  };

  for (const scope of manager.scopes) {
    if (scope.type !== "function" && scope.type !== "global") continue;
    const statements = bodyOf(scope.block as unknown as AnyNode);
    for (const variable of scope.variables) {
      const defs = variable.defs.filter((d) => d.type === "FunctionName" || d.type === "Variable");
      if (defs.length === 0) continue;
      // Where the declaration runs: its statement (the declarator's `var`, or the function declaration).
      let declared = Infinity;
      for (const d of defs) {
        const node = (d.type === "Variable" ? d.parent : d.node) as unknown as AnyNode;
        declared = Math.min(declared, node.start);
      }
      const declaredAt = statementAt(statements, declared);
      // eslint-scope leaves uses of the script's own globals unresolved ("through").
      const references = scope.type === "global" ? scope.through.filter((r) => (r.identifier as { name: string }).name === variable.name) : variable.references;
      for (const ref of references) {
        const id = ref.identifier as unknown as AnyNode;
        if (id.start >= declared) continue;
        // The outermost function between the use and the declaring scope, if any.
        let inner: eslintScope.Scope | null = ref.from;
        let creator: eslintScope.Scope | null = null;
        while (inner && inner !== scope) {
          if (inner.type === "function") creator = inner;
          inner = inner.upper;
        }
        if (creator === null) {
          problems.push({
            name: variable.name,
            where: where(id),
            message: `"${variable.name}" is used before its declaration runs (${defs[0].type === "FunctionName" ? "function" : "var"} at ${where(defs[0].name as unknown as AnyNode)}); Espruino does not hoist`,
          });
          continue;
        }
        const fn = creator.block as unknown as AnyNode;
        const createdAt = statementAt(statements, fn.start);
        let safe = createdAt >= 0 && declaredAt >= 0;
        for (let i = createdAt; safe && i < declaredAt; i++) if (!inert(statements[i])) safe = false;
        if (!safe) {
          problems.push({
            name: variable.name,
            where: where(id),
            message: `"${variable.name}" is used in a function that can run before the declaration of "${variable.name}" (at ${where(defs[0].name as unknown as AnyNode)}) has run; Espruino does not hoist`,
          });
        }
      }
    }
  }
  return problems;
}
