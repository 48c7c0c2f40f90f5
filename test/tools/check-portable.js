#!/usr/bin/env node
// Portability gate 3: rejects source in firmware/ that steps outside the
// intersection of Espruino and NodeMCU (../shared/PLATFORMS.md), even where
// both compilers would accept it. Uses the TypeScript AST, not text search,
// so comments and strings never trigger it. The core's modules import only
// each other: an import that leaves firmware/ would pull Node-only code into
// the board builds. `node check-portable.js [DIR]` checks DIR instead of
// firmware/ (for the test of this gate).
"use strict";
const ts = require("typescript");
const fs = require("fs");
const path = require("path");

const root = path.resolve(process.argv[2] || path.resolve(__dirname, "../../firmware"));
const FORBIDDEN_GLOBALS = new Set(["RegExp", "Date", "JSON", "Map", "Set", "WeakMap", "WeakSet", "Symbol",
  "Buffer", "Uint8Array", "Int8Array", "Uint16Array", "Int16Array", "Uint32Array", "Int32Array",
  "Float32Array", "Float64Array", "ArrayBuffer", "DataView", "Promise", "require", "process", "Proxy", "Reflect"]);

function files(dir) {
  const out = [];
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const problems = [];
for (const file of files(root)) {
  const text = fs.readFileSync(file, "utf8");
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const report = (node, what) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    problems.push(`${path.relative(process.cwd(), file)}:${line + 1}:${character + 1}: ${what}`);
  };
  const visit = (node) => {
    switch (node.kind) {
      case ts.SyntaxKind.StringLiteral:
      case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
        // TypeScriptToLua writes such literals as UTF-8, so "\xc0" becomes two bytes in Lua.
        if (/[^\x00-\x7f]/.test(node.text)) report(node, "non-ASCII character in a string literal (use String.fromCharCode)");
        break;
      case ts.SyntaxKind.RegularExpressionLiteral: report(node, "RegExp literal (no RegExp on NodeMCU)"); break;
      case ts.SyntaxKind.SpreadElement: case ts.SyntaxKind.SpreadAssignment: report(node, "spread (Espruino lacks it)"); break;
      case ts.SyntaxKind.ObjectBindingPattern: case ts.SyntaxKind.ArrayBindingPattern: report(node, "destructuring (Espruino lacks it)"); break;
      case ts.SyntaxKind.AwaitExpression: report(node, "await (no async on either board)"); break;
      case ts.SyntaxKind.YieldExpression: report(node, "generator (no generators on Espruino)"); break;
      case ts.SyntaxKind.ForOfStatement: report(node, "for-of (lowered to iterators on ES5; use an index loop)"); break;
      case ts.SyntaxKind.ImportDeclaration:
      case ts.SyntaxKind.ExportDeclaration: {
        if (!node.moduleSpecifier) break; // export { a, b } without from
        const spec = node.moduleSpecifier.text;
        const target = path.resolve(path.dirname(file), spec);
        if (!spec.startsWith(".")) report(node, `import of "${spec}" (the core imports only its own modules)`);
        else if (path.relative(root, target).split(path.sep)[0] === "..") report(node, `import of "${spec}" leaves ${path.basename(root)}/ (the core imports only its own modules)`);
        break;
      }
      case ts.SyntaxKind.ImportEqualsDeclaration: report(node, "import = require (the core imports only its own modules as ES imports)"); break;
      case ts.SyntaxKind.CallExpression:
        if (node.expression.kind === ts.SyntaxKind.ImportKeyword) report(node, "dynamic import (no modules loaded at run time on either board)");
        break;
      case ts.SyntaxKind.Parameter:
        if (node.dotDotDotToken) report(node, "rest parameter (Espruino lacks it)");
        if (node.initializer) report(node, "default parameter (Espruino lacks it)");
        break;
      case ts.SyntaxKind.BinaryExpression: {
        const op = node.operatorToken.kind;
        if (op === ts.SyntaxKind.GreaterThanGreaterThanToken || op === ts.SyntaxKind.GreaterThanGreaterThanEqualsToken)
          report(node, ">> (a compile error for Lua 5.3; divide instead)");
        if (op === ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken || op === ts.SyntaxKind.GreaterThanGreaterThanGreaterThanEqualsToken)
          report(node, ">>> (throws on NodeMCU's int32 build)");
        if (op === ts.SyntaxKind.AsteriskAsteriskToken) report(node, "** (not in ES5)");
        break;
      }
      case ts.SyntaxKind.Identifier:
        if (FORBIDDEN_GLOBALS.has(node.text)) {
          const parent = node.parent;
          const isMemberName = parent && ts.isPropertyAccessExpression(parent) && parent.name === node;
          const isDeclName = parent && (ts.isPropertyDeclaration(parent) || ts.isMethodDeclaration(parent) || ts.isPropertySignature(parent)) && parent.name === node;
          if (!isMemberName && !isDeclName) report(node, `${node.text} (outside the portable subset)`);
        }
        break;
      default:
        if (node.modifiers && node.modifiers.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) report(node, "async (no async on either board)");
        if (node.asteriskToken && (ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isMethodDeclaration(node)))
          report(node, "generator (no generators on Espruino)");
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
if (problems.length) {
  console.error(`${path.relative(process.cwd(), root) || "."}/ steps outside the portable subset (see ../shared/PLATFORMS.md):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`portable subset: ${files(root).length} files in ${path.relative(process.cwd(), root) || "."}/ checked, none outside it`);
