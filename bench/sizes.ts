/** Sizes of the device builds against the boards' budgets, built into a scratch directory (dist/ is left alone). */
import * as fs from "node:fs";
import * as path from "node:path";
import { buildEspruino } from "../host/espruino/build";
import { buildNodemcu, sizeReport } from "../host/nodemcu/build";

export interface BuildSize {
  target: string;
  lines: string[];
  /** The build's figures (bytes; Espruino's idle variables), when it built. */
  figures?: { [name: string]: number };
}

export async function deviceBuildSizes(scratch: string): Promise<BuildSize[]> {
  const sizes: BuildSize[] = [];
  const luaDir = fs.mkdtempSync(path.join(scratch, "nodemcu-"));
  try {
    const lua = buildNodemcu(luaDir);
    sizes.push({
      target: "NodeMCU (make lua)",
      lines: sizeReport(lua).replace(/\S*nodemcu-\w+\//g, "dist/nodemcu/").split("\n"),
      figures: { luaSourceBytes: lua.sourceBytes, luaCompiledBytes: lua.compiledBytes, lfsBytes: lua.lfsBytes },
    });
  } catch (e) {
    sizes.push({ target: "NodeMCU (make lua)", lines: [`build failed: ${(e as Error).message.split("\n")[0]}`] });
  }
  const espruinoDir = fs.mkdtempSync(path.join(scratch, "espruino-"));
  try {
    const build = await buildEspruino({ outDir: espruinoDir });
    const figures: { [name: string]: number } = { espruinoBytes: build.bytes };
    if (build.bootVariables !== undefined) figures.espruinoIdleVariables = build.bootVariables;
    sizes.push({ target: "Espruino (make espruino)", lines: build.report.map((l) => l.replace(path.relative(process.cwd(), espruinoDir), "dist/espruino")), figures });
  } catch (e) {
    sizes.push({ target: "Espruino (make espruino)", lines: [`build failed: ${(e as Error).message.split("\n")[0]}`] });
  }
  return sizes;
}
