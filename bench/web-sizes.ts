/**
 * The web page's build size (host/web/build.ts, as `make web` writes
 * dist/web/, built into a scratch directory) and how much the device builds
 * grew with the web page's firmware side.
 */
import * as path from "node:path";
import { buildWeb, WEB_BUDGET } from "../host/web/build";
import type { BuildSize } from "./sizes";

/**
 * The device builds at c41013a, the last commit before the HTTP service
 * (5eea913): measured once on the bench machine (2026-12-01, deviceBuildSizes
 * of that commit). Everything since is the web page's firmware side: http.ts,
 * httphead.ts, webapp.ts, webfiles.ts, msgpack.ts's additions, the console's
 * web.* operations and the store's header cache.
 */
export const BEFORE_HTTP = {
  commit: "c41013a",
  luaSourceBytes: 216921,
  luaCompiledBytes: 132414,
  lfsBytes: 206132,
  espruinoBytes: 81028,
  espruinoIdleVariables: 5018,
};

export interface PageSize {
  /** The compressed files together, in octets (what the card holds and a first load fetches). */
  total: number;
  budget: number;
  report: string[];
}

export async function pageSize(scratch: string): Promise<PageSize> {
  const build = await buildWeb(path.join(scratch, "web"));
  return { total: build.total, budget: WEB_BUDGET, report: build.report.map((l) => l.replace(/^(Web page: )\S+/, "$1dist/web")) };
}

function growth(before: number, now: number | undefined, unit: string): string {
  if (now === undefined) return "not measured";
  const d = now - before;
  return `${before} -> ${now} ${unit} (${d >= 0 ? "+" : ""}${d}, ${d >= 0 ? "+" : ""}${((d / before) * 100).toFixed(1)}%)`;
}

/** Lines comparing the builds now with BEFORE_HTTP. */
export function buildGrowth(sizes: BuildSize[]): string[] {
  const lua = sizes.find((s) => s.figures && s.figures.lfsBytes !== undefined)?.figures || {};
  const esp = sizes.find((s) => s.figures && s.figures.espruinoBytes !== undefined)?.figures || {};
  const b = BEFORE_HTTP;
  return [
    `NodeMCU Lua source: ${growth(b.luaSourceBytes, lua.luaSourceBytes, "bytes")}`,
    `NodeMCU compiled (stripped): ${growth(b.luaCompiledBytes, lua.luaCompiledBytes, "bytes")}`,
    `NodeMCU LFS region (estimate): ${growth(b.lfsBytes, lua.lfsBytes, "bytes")}`,
    `Espruino bundle: ${growth(b.espruinoBytes, esp.espruinoBytes, "bytes")}`,
    `Espruino idle after boot (emulated board, estimate): ${growth(b.espruinoIdleVariables, esp.espruinoIdleVariables, "variables")}`,
  ];
}
