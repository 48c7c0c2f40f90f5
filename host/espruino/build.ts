/**
 * `make espruino`: the core plus boards/espruino as ONE minified ES5 script
 * for Espruino, in dist/espruino/letterbox.js.
 *
 *   1. tsc at target ES5 (boards/espruino/tsconfig.json): the TypeScript
 *      compiler does all lowering, so nothing later has to;
 *   2. a small CommonJS bundler (host/espruino/bundle.ts) joins the modules;
 *   3. terser minifies at ecma 5, escaping every non-ASCII byte (the
 *      interpreter reads its source as 8-bit bytes: a raw "\xc0" written as
 *      UTF-8 would become two characters);
 *   4. acorn parses the result at ES5 and host/espruino/verify.ts rejects what
 *      Espruino lacks;
 *   5. size and variable estimate against boards/espruino-esp32.json.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as acorn from "acorn";
import { minify } from "terser";
import { HTTP_PORT, IMAP_PORT, POP3_PORT, SMTP_PORT } from "../../firmware/main";
import { encode, MsgMap } from "../../firmware/msgpack";
import { SimCard } from "../../sim/card";
import { EspruinoBoard as EmulatedBoard } from "../../sim/espruino/board";
import { SimFlash } from "../../sim/flash";
import { loadConfigFile, toSettingsMap } from "../config";
import { bundleCommonJs } from "./bundle";
import { findHoistingDependencies } from "./hoisting";
import { verifyEspruinoSource } from "./verify";

const ROOT = path.resolve(__dirname, "../../..");

export interface EspruinoBoard {
  name: string;
  upload: { maximum_size: number; maximum_ram_size: number; speed: number };
  espruino: { jsvar_bytes: number; variables: number };
  sd: { sck: number; miso: number; mosi: number; cs: number };
}

/** Sources the bundle is made from, for deciding whether it is stale. */
export function espruinoSources(): string[] {
  const out: string[] = [];
  const scan = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) scan(p);
      else if (entry.name.endsWith(".ts")) out.push(p);
    }
  };
  scan(path.join(ROOT, "firmware"));
  scan(path.join(ROOT, "boards/espruino"));
  scan(path.join(ROOT, "host/espruino"));
  return out;
}

/** The bundle's default path. */
export const ESPRUINO_BUNDLE = path.join(ROOT, "dist/espruino/letterbox.js");

/** True when the bundle is missing or older than one of its sources. */
export function espruinoBundleStale(file: string = ESPRUINO_BUNDLE): boolean {
  if (!fs.existsSync(file)) return true;
  const built = fs.statSync(file).mtimeMs;
  return espruinoSources().some((src) => fs.statSync(src).mtimeMs > built);
}

export function loadEspruinoBoard(): EspruinoBoard {
  return JSON.parse(fs.readFileSync(path.join(ROOT, "boards/espruino-esp32.json"), "utf8"));
}

export interface EspruinoBuild {
  /** Path of the bundle written. */
  file: string;
  bytes: number;
  /** Variables the code itself keeps in RAM when saved to flash (function objects, scopes): a static upper bound. */
  codeVariables: number;
  /** Variables in use once booted with examples/home.json, measured on the emulated board (when measured). */
  bootVariables?: number;
  board: EspruinoBoard;
  /** The PlatformIO-style report, one line per entry. */
  report: string[];
  overBudget: boolean;
}

/**
 * Variables the code costs once saved to flash: the bodies stay in flash,
 * but every function object (with its code link and scope) and each of its
 * parameter names live in RAM, as does every name declared in a module's
 * scope. An upper bound, since functions nested in others exist only while
 * called.
 */
export function estimateCodeVariables(code: string): number {
  const ast = acorn.parse(code, { ecmaVersion: 5 }) as acorn.Node;
  let vars = 0;
  const visit = (node: acorn.Node & { [k: string]: unknown }) => {
    if (node.type === "FunctionDeclaration" || node.type === "FunctionExpression") {
      vars += 3 + (node.params as unknown[]).length;
    } else if (node.type === "VariableDeclarator") {
      vars += 1;
    }
    for (const key of Object.keys(node)) {
      const child = node[key];
      if (Array.isArray(child)) child.forEach((c) => c && typeof c.type === "string" && visit(c));
      else if (child && typeof (child as acorn.Node).type === "string") visit(child as never);
    }
  };
  visit(ast as never);
  return vars;
}

function bar(fraction: number): string {
  const filled = Math.min(10, Math.round(fraction * 10));
  return "[" + "=".repeat(filled) + " ".repeat(10 - filled) + "]";
}

function percent(fraction: number): string {
  return (fraction * 100).toFixed(1).padStart(5) + "%";
}

/**
 * Boots the bundle on the emulated board (sim/espruino/) with the example
 * settings, on loopback ports, and measures the variables it keeps alive
 * once idle: what it costs on the device before the first session.
 */
export async function measureBootVariables(code: string): Promise<number> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-espruino-boot-"));
  const settings = toSettingsMap(loadConfigFile(path.join(ROOT, "examples/home.json"))) as MsgMap;
  const board = new EmulatedBoard({
    card: new SimCard({ dir: scratch }),
    flash: new SimFlash(),
    romFiles: { "lbdefault.cfg": encode(settings) },
    // Every service's port: one left out would bind the real one (IMAP's 143 did: EADDRINUSE beside another run).
    portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0, [HTTP_PORT]: 0, [IMAP_PORT]: 0 },
    bindHost: "127.0.0.1",
    log: () => undefined,
    clock: () => Math.floor(Date.now() / 1000),
  });
  try {
    board.run(code, "letterbox.js");
    if (board.errors.length > 0) throw new Error(`the bundle fails at boot: ${board.errors[0]}`);
    await board.ports();
    return board.memory().variables;
  } finally {
    await board.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

export interface BuildOptions {
  /** Boot the bundle on the emulated board to measure its idle variables (default true). */
  measure?: boolean;
  /** Output directory (default dist/espruino). */
  outDir?: string;
  /** Keep the unminified bundle next to the output, for debugging. */
  keepDebug?: boolean;
  /**
   * ES5 source of another entry module, bundled instead of main.js from
   * boards/espruino/ (it may `require("./hal")`): tests drive the adapter
   * itself on the emulated board through it, built the same way.
   */
  entrySource?: string;
}

export async function buildEspruino(options: BuildOptions = {}): Promise<EspruinoBuild> {
  const outDir = options.outDir || path.dirname(ESPRUINO_BUNDLE);
  // A private output directory: builds started by parallel test processes must not mix files.
  const compiled = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-espruino-"));
  let bundled: string;
  try {
    const tsconfig = path.join(ROOT, "boards/espruino/tsconfig.json");
    const tsc = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", tsconfig, "--outDir", compiled], {
      encoding: "utf8",
    });
    if (tsc.status !== 0) throw new Error(`tsc (ES5) failed:\n${tsc.stdout}${tsc.stderr}`);
    let entry = path.join(compiled, "boards/espruino/main.js");
    if (options.entrySource !== undefined) {
      entry = path.join(compiled, "boards/espruino/entry.js");
      fs.writeFileSync(entry, options.entrySource);
    }
    bundled = bundleCommonJs(entry);
  } finally {
    fs.rmSync(compiled, { recursive: true, force: true });
  }
  const minified = await minify(bundled, {
    ecma: 5,
    toplevel: true,
    // Espruino does not hoist: terser moves every function declaration and
    // `var` to the top of its function, and the check below proves it.
    // terser may paste a function used once in as an IIFE at the start of a
    // for loop's init, which Espruino 2v29 cannot parse: the check below
    // rejects it (msgpack.ts exports sortBytewise so it is not pasted).
    // Turning reduce_funcs off instead left the real 32-bit interpreter out
    // of memory at boot (LOW_MEMORY, MEMORY: measured under qemu-i386).
    compress: { passes: 2, unsafe: false, hoist_funs: true, hoist_vars: true },
    mangle: true,
    format: { ascii_only: true, comments: false },
  });
  if (!minified.code) throw new Error("terser produced no output");
  const code = minified.code;

  const problems = verifyEspruinoSource(code).concat(findHoistingDependencies(code).map((p) => `${p.where}: ${p.message}`));
  if (problems.length > 0) {
    const rejected = path.join(outDir, "letterbox.rejected.js");
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(rejected, code, "latin1");
    throw new Error(`the bundle uses what Espruino lacks (kept as ${rejected}):\n  ${problems.join("\n  ")}`);
  }

  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, "letterbox.js");
  const partial = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(partial, code, "latin1");
  fs.renameSync(partial, file); // readers never see half a bundle
  if (options.keepDebug) fs.writeFileSync(path.join(outDir, "letterbox.debug.js"), bundled);

  const board = loadEspruinoBoard();
  const bytes = Buffer.byteLength(code, "latin1");
  const codeVariables = estimateCodeVariables(code);
  const bootVariables = options.measure === false ? undefined : await measureBootVariables(code);
  const flashUse = bytes / board.upload.maximum_size;
  const ramUse = (bootVariables !== undefined ? bootVariables : codeVariables) / board.espruino.variables;
  const ramText =
    bootVariables !== undefined
      ? `~${bootVariables} of ${board.espruino.variables} variables idle after boot, measured on the emulated board; bodies saved to flash`
      : `code keeps ~${codeVariables} of ${board.espruino.variables} variables; bodies saved to flash`;
  const report = [
    `Espruino bundle: ${path.relative(process.cwd(), file)} (${board.name})`,
    `RAM:   ${bar(ramUse)} ${percent(ramUse)} (${ramText})`,
    `Flash: ${bar(flashUse)} ${percent(flashUse)} (used ${bytes} bytes from ${board.upload.maximum_size} bytes)`,
    `If sent to RAM instead of flash the code alone would take ~${Math.ceil(bytes / 10)} variables.`,
  ];
  return { file, bytes, codeVariables, bootVariables, board, report, overBudget: flashUse > 1 || ramUse > 1 };
}

if (require.main === module) {
  buildEspruino({ keepDebug: process.argv.includes("--debug") }).then(
    (build) => {
      for (const line of build.report) console.log(line);
      if (build.overBudget) {
        console.error("letterbox: the Espruino bundle is over the board's budget");
        process.exit(1);
      }
    },
    (err) => {
      console.error(`letterbox: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
