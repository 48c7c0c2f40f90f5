/**
 * The portable-subset gate (test/tools/check-portable.js, run by `make
 * check`) on a small core in a scratch directory: it passes the core's own
 * imports and fails an import that leaves the core's directory.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT, tempDir } from "./helpers/fixtures";

/** Runs the gate on a directory `core/` holding `files` (name -> source). */
function check(files: { [name: string]: string }) {
  const dir = path.join(tempDir("portable"), "core");
  for (const name of Object.keys(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), files[name]);
  }
  fs.writeFileSync(path.join(dir, "../outside.ts"), "export const x = 1;\n");
  const r = spawnSync(process.execPath, [path.join(ROOT, "test/tools/check-portable.js"), dir], { cwd: ROOT, encoding: "utf8" });
  return { code: r.status, out: r.stdout + r.stderr };
}

const own = { "b.ts": "export const y = 2;\n", "sub/c.ts": 'import { y } from "../b";\nexport const z = y;\n' };

test("imports between the core's own modules pass, a sub-directory's ../ included", () => {
  const r = check({ ...own, "a.ts": 'import { y } from "./b";\nimport { z } from "./sub/c";\nexport const w = y + z;\n' });
  assert.equal(r.code, 0, r.out);
});

test("an import that leaves the core's directory fails the gate, with its file and line", () => {
  const r = check({ ...own, "a.ts": 'import { y } from "./b";\nimport { x } from "../outside";\nexport const w = x + y;\n' });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /a\.ts:2:1: import of "\.\.\/outside" leaves core\//);
});

test("so does a re-export from outside, and one from a sub-directory going up twice", () => {
  const r = check({ ...own, "a.ts": 'export { x } from "../outside";\n', "sub/d.ts": 'export * from "../../outside";\n' });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /a\.ts:1:1: import of "\.\.\/outside" leaves core\//);
  assert.match(r.out, /d\.ts:1:1: import of "\.\.\/\.\.\/outside" leaves core\//);
});
