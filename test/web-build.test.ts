/**
 * `make web`: dist/web/ holds the page gzip-compressed under 8.3 names with a
 * MANIFEST whose etags are the stored files' MD5 (ISSUE18-PLAN.md); the files
 * decompress to what esbuild made; the same sources give the same octets.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { buildWeb, bundleWeb, WEB_BUDGET } from "../host/web/build";

const LINE = /^(\/\S*) ([A-Z0-9_]{1,8}(?:\.[A-Z0-9_]{1,3})?) ([a-z]+\/[a-z0-9.+-]+(?:;charset=utf-8)?) ("[0-9a-f]{8}") ([01])$/;

test("the MANIFEST lists every file with its 8.3 name, type, MD5 etag and gzip flag, and nothing else is written", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-web-"));
  const build = await buildWeb(dir);
  const manifest = fs.readFileSync(path.join(dir, "MANIFEST"), "utf8");
  assert.equal(manifest, build.manifest);
  assert.ok(manifest.endsWith("\n"));
  const lines = manifest.slice(0, -1).split("\n");
  assert.deepEqual(
    lines.map((l) => l.split(" ").slice(0, 2).join(" ")),
    ["/ INDEX.HTM", "/app.js APP.JS", "/app.css APP.CSS"],
  );
  assert.deepEqual(fs.readdirSync(dir).sort(), ["APP.CSS", "APP.JS", "INDEX.HTM", "MANIFEST"]);
  let total = 0;
  for (const line of lines) {
    const m = LINE.exec(line);
    assert.ok(m, `a MANIFEST line in the plan's format: ${line}`);
    const [, , name, type, etag, gzip] = m;
    const stored = fs.readFileSync(path.join(dir, name));
    total += stored.length;
    assert.equal(etag, '"' + crypto.createHash("md5").update(stored).digest("hex").slice(0, 8) + '"');
    assert.equal(gzip, "1");
    assert.deepEqual([stored[0], stored[1]], [0x1f, 0x8b], "a gzip member");
    const plain = zlib.gunzipSync(stored);
    assert.deepEqual(plain, build.files.find((f) => f.name === name)!.plain);
    assert.ok(plain.length > stored.length, "compression pays");
    assert.ok(type.endsWith(";charset=utf-8"));
  }
  assert.equal(total, build.total);
  assert.ok(total < WEB_BUDGET && !build.overBudget);
  assert.match(build.report.join("\n"), new RegExp(`Page: +\\[=* *\\] +\\d+\\.\\d% \\(used ${total} bytes compressed from ${WEB_BUDGET} bytes`));
});

test("the same sources give the same octets (etags change only when the page does)", async () => {
  const a = await buildWeb(fs.mkdtempSync(path.join(os.tmpdir(), "lb-web-")));
  const b = await buildWeb(fs.mkdtempSync(path.join(os.tmpdir(), "lb-web-")));
  assert.equal(a.manifest, b.manifest);
  for (let i = 0; i < a.files.length; i++) assert.deepEqual(a.files[i].stored, b.files[i].stored);
});

test("index.html loads only /app.js and /app.css, with nothing inline that the Content-Security-Policy would block", async () => {
  const { html, js, css } = await bundleWeb();
  const page = html.toString("utf8");
  assert.deepEqual(page.match(/<script\b[^>]*>/g), ['<script src="/app.js" defer>']);
  assert.match(page, /<link rel="stylesheet" href="\/app.css">/);
  assert.ok(!/<style|\sstyle=|\son[a-z]+=|javascript:/i.test(page), "no inline style, handler or javascript: URL");
  assert.ok(!/\s(src|href)="(?!\/app\.(js|css)"|data:,")/.test(page), "no other resource (the icon is an empty data: URL, so no /favicon.ico)");
  // The entity table is the browser's (web/src/entities.ts), not postal-mime's 46 KB copy.
  assert.ok(!js.includes("&xopf;") && js.includes("parseFromString"));
  assert.ok(css.toString().includes("tr.unread"));
  assert.ok(!/sourceMappingURL/.test(js.toString()));
});
