/**
 * A stand-in for NodeMCU's `luac.cross -f -o <image> <file.lua>...` in tests:
 * writes an LFS image with one module per file, named after the file, in the
 * simulator's container (sim/lua/lfs.ts), which the emulated
 * node.LFS.reload loads. The real luac.cross writes its own build's binary
 * format, which only the board loads.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { simLfsImage } from "../../sim/lua/lfs";
import { LuaVm } from "../../sim/lua/vm";

/** Makes an executable script that runs this stand-in; returns its path. */
export function luacCrossStandIn(dir: string): string {
  const script = path.join(dir, "luac.cross");
  fs.writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${__filename}" "$@"\n`, { mode: 0o755 });
  return script;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const o = args.indexOf("-o");
  if (!args.includes("-f") || o < 0 || o + 1 >= args.length) {
    console.error("usage: luac.cross -f -o <image> <file.lua>...");
    process.exit(1);
  }
  const out = args[o + 1];
  const inputs = args.filter((a, i) => a !== "-f" && i !== o && i !== o + 1);
  const vm = new LuaVm({ write: () => {}, onError: () => {} });
  const modules = inputs.map((file) => {
    const source = fs.readFileSync(file);
    const name = path.basename(file, ".lua");
    vm.setGlobalBytes("__src", source);
    vm.run(`assert(load(__src, "=${name}"))`, "=compile"); // a syntax error fails the build, as in luac.cross
    return { name, source };
  });
  vm.close();
  fs.writeFileSync(out, simLfsImage(modules));
}
