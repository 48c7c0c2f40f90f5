/**
 * `make web`: the web page (web/src) as three gzip-compressed files with 8.3
 * names and a MANIFEST, in dist/web/, for the card (ISSUE18-PLAN.md):
 *
 *   1. esbuild bundles web/src/main.ts (postal-mime, DOMPurify, msgpackr and
 *      the CSS it imports) into one minified app.js and one app.css, with
 *      postal-mime's entity table left to the browser (web/src/entities.ts);
 *   2. index.html loses the whitespace between its tags;
 *   3. each is gzipped (level 9; Node's gzip header carries no time stamp, so
 *      the same sources give the same octets) and named INDEX.HTM, APP.JS, APP.CSS;
 *   4. MANIFEST: one line per file, `<url-path> <8.3-name> <content-type> <etag> <gzip:0|1>`,
 *      the etag being the first 8 hex digits of the stored file's MD5, in quotes.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as esbuild from "esbuild";

const ROOT = path.resolve(__dirname, "../../..");
export const WEB_SOURCE = path.join(ROOT, "web/src");
export const WEB_DIST = path.join(ROOT, "dist/web");
/**
 * What the compressed page may take: a choice, not a board limit (the card has
 * room for far more). Estimate: at the 100-200 KB/s an ESP32 serves from its
 * card over Wi-Fi, 128 KiB is the first load in about a second.
 */
export const WEB_BUDGET = 128 * 1024;

export interface WebFile {
  urlPath: string;
  /** The 8.3 name on the card. */
  name: string;
  type: string;
  /** `"xxxxxxxx"`: the first 8 hex digits of the MD5 of `stored`, quoted. */
  etag: string;
  gzip: boolean;
  /** The file as the browser reads it. */
  plain: Buffer;
  /** The file as written (gzip-compressed). */
  stored: Buffer;
}

export interface WebBuild {
  dir: string;
  files: WebFile[];
  /** The MANIFEST's text. */
  manifest: string;
  /** Sum of the stored sizes, in octets. */
  total: number;
  report: string[];
  overBudget: boolean;
}

/** postal-mime's table of HTML entities replaced by web/src/entities.ts, which asks the browser (a third of the bundle less). */
function browserEntities(source: string): esbuild.Plugin {
  return {
    name: "browser-entities",
    setup(build) {
      build.onResolve({ filter: /^\.\/html-entities\.js$/ }, (args) =>
        /postal-mime/.test(args.importer) ? { path: path.join(source, "entities.ts") } : undefined,
      );
    },
  };
}

/** Bundles the page in memory (no files written). */
export async function bundleWeb(source = WEB_SOURCE): Promise<{ html: Buffer; js: Buffer; css: Buffer }> {
  const result = await esbuild.build({
    entryPoints: { app: path.join(source, "main.ts") },
    bundle: true,
    minify: true,
    format: "iife",
    platform: "browser",
    target: ["es2020"],
    outdir: "/out",
    write: false,
    legalComments: "eof",
    logLevel: "silent",
    plugins: [browserEntities(source)],
  });
  const output = (ext: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (!file) throw new Error(`esbuild wrote no ${ext}`);
    return Buffer.from(file.contents);
  };
  const html = fs.readFileSync(path.join(source, "index.html"), "utf8").replace(/>\s+</g, "><").trim();
  return { html: Buffer.from(html, "utf8"), js: output(".js"), css: output(".css") };
}

function file(urlPath: string, name: string, type: string, plain: Buffer): WebFile {
  const stored = zlib.gzipSync(plain, { level: 9 });
  const etag = '"' + crypto.createHash("md5").update(stored).digest("hex").slice(0, 8) + '"';
  return { urlPath, name, type, etag, gzip: true, plain, stored };
}

function bar(fraction: number): string {
  const filled = Math.min(10, Math.round(fraction * 10));
  return "[" + "=".repeat(filled) + " ".repeat(10 - filled) + "]";
}

/** Builds the page into `dir` (default dist/web/), replacing what was there. */
export async function buildWeb(dir = WEB_DIST, source = WEB_SOURCE): Promise<WebBuild> {
  const { html, js, css } = await bundleWeb(source);
  const files = [
    file("/", "INDEX.HTM", "text/html;charset=utf-8", html),
    file("/app.js", "APP.JS", "text/javascript;charset=utf-8", js),
    file("/app.css", "APP.CSS", "text/css;charset=utf-8", css),
  ];
  const manifest = files.map((f) => `${f.urlPath} ${f.name} ${f.type} ${f.etag} ${f.gzip ? 1 : 0}\n`).join("");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const f of files) fs.writeFileSync(path.join(dir, f.name), f.stored);
  fs.writeFileSync(path.join(dir, "MANIFEST"), manifest);

  const total = files.reduce((n, f) => n + f.stored.length, 0);
  const use = total / WEB_BUDGET;
  const report = [`Web page: ${path.relative(process.cwd(), dir) || "."} (gzip -9)`];
  for (const f of files) report.push(`  ${f.name.padEnd(9)} ${f.urlPath.padEnd(8)} ${String(f.plain.length).padStart(7)} -> ${String(f.stored.length).padStart(6)} bytes  ${f.etag}`);
  report.push(`Page:  ${bar(use)} ${(use * 100).toFixed(1).padStart(5)}% (used ${total} bytes compressed from ${WEB_BUDGET} bytes, a budget for a quick first load)`);
  return { dir, files, manifest, total, report, overBudget: use > 1 };
}

if (require.main === module) {
  buildWeb(process.argv[2] ? path.resolve(process.argv[2]) : WEB_DIST).then(
    (build) => {
      for (const line of build.report) console.log(line);
      if (build.overBudget) {
        console.error("letterbox: the web page is over its budget");
        process.exit(1);
      }
    },
    (err) => {
      console.error(`letterbox: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
