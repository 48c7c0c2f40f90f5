/**
 * The codec and the store compiled by TypeScriptToLua and run in a Lua 5.3
 * VM with NodeMCU's numbers (the C interpreter built with LUA_32BITS: 32-bit integers,
 * single-precision floats), on a simulated card: the transcript and the card's bytes must
 * equal those of the same workload run on Node.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SimCard } from "../sim/card";
import { compileWorkload, luaWithCard, ROOT, runLua } from "./helpers/lua-workload";
import { msgpackWorkload, storeWorkload } from "./portable/store-workload";

const ENTRY = path.join(ROOT, "test/portable/store-workload.ts");

function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (fs.statSync(p).isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p).toString("hex"));
    }
  };
  walk(dir);
  return out;
}

test("the codec and the store give the same transcript and the same card bytes in Lua as on Node", () => {
  const bundle = compileWorkload(ENTRY);
  const nodeDir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-node-card-"));
  const luaDir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-lua-card-"));
  const expectedCodec = msgpackWorkload();
  const expectedStore = storeWorkload(new SimCard({ dir: nodeDir }));
  assert.ok(!/DIFFERENT|failed|not nil/.test(expectedCodec + expectedStore), expectedCodec + expectedStore);
  assert.match(expectedStore, /generation [2-9]/, "the workload compacts");

  const vm = luaWithCard(new SimCard({ dir: luaDir }));
  assert.equal(runLua(vm, bundle, "workload.msgpackWorkload(nil)"), expectedCodec);
  assert.equal(runLua(vm, bundle, "workload.storeWorkload(nil, card)"), expectedStore);
  assert.deepEqual(tree(luaDir), tree(nodeDir));
  for (const dir of [nodeDir, luaDir]) fs.rmSync(dir, { recursive: true, force: true });
});
