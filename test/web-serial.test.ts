/**
 * The web page written onto the card over the serial line (docs/SERIAL.md,
 * web.*), on every runtime: `letterbox web` end to end through a real
 * pseudo-terminal, the board's lookup (web.info) against node's on good and
 * damaged layouts, a wrong MD5 refused (the sum is of what the card holds,
 * not of what was received), a transfer cut off by a killed tool or a pulled
 * card leaving the old page served, and a power cut at every card operation
 * of a transfer (node runtime) never leaving a mix of two pages or none.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CardError, CardOperation, SimCard } from "../sim/card";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { PtySerialLine } from "../sim/serial";
import { DeviceClient, DeviceError } from "../host/serial/client";
import { lookup } from "../firmware/webfiles";
import { readPage } from "../host/webpage";
import { installPage } from "../sim/webinstall";
import { writePage } from "../host/commands/web";
import { ROOT, tempDir, testConfig } from "./helpers/fixtures";
import { makePage, noise, samplePage } from "./helpers/webpage";

const CLI = path.join(ROOT, "host/bin/letterbox.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function start(args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LETTERBOX_PORT: "", ...env }, stdio: "pipe" });
}

function finish(child: ChildProcess): Promise<Result> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdin!.end();
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

function run(args: string[], env?: NodeJS.ProcessEnv): Promise<Result> {
  return finish(start(args, env));
}

function md5(data: Buffer): string {
  return crypto.createHash("md5").update(data).digest("hex");
}

/** What the board answers for a url path (web.info), in lookup()'s shape, or undefined when it serves nothing there. */
async function boardLookup(client: DeviceClient, urlPath: string): Promise<unknown> {
  try {
    const { map } = await client.request("web.info", { path: urlPath });
    return { file: map.file, type: map.type, etag: map.etag, gzip: map.gzip, size: map.size };
  } catch (e) {
    if (e instanceof DeviceError && e.codeName === "not found") return undefined;
    throw e;
  }
}

/** The bytes the card serves for a url path (node's lookup on the card directory). */
function served(cardDir: string, urlPath: string): Buffer | undefined {
  const found = lookup(new SimCard({ dir: cardDir }), urlPath);
  return found && fs.readFileSync(path.join(cardDir, ...found.file.split("/").filter((p) => p)));
}

/** Resolves when `check` holds, polling. */
async function until(check: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const runtime of RUNTIME_NAMES) {
  describe(`the web page over the serial line (${runtime} runtime)`, () => {
    let dir: string;
    let cardDir: string;
    let serial: PtySerialLine;
    let sim: Simulator;
    let port: string;
    let card: SimCard;
    const pages: { [name: string]: string } = {};
    const stored: { [name: string]: Map<string, Buffer> } = {};

    before(async () => {
      dir = tempDir(`web-${runtime}`);
      cardDir = path.join(dir, "card");
      for (const v of [1, 2]) {
        pages[`v${v}`] = path.join(dir, `v${v}`);
        stored[`v${v}`] = samplePage(pages[`v${v}`], v);
      }
      pages.big = path.join(dir, "big");
      stored.big = makePage(pages.big, [
        { url: "/", name: "INDEX.HTM", type: "text/html", body: "<!doctype html><p>big" },
        { url: "/app.js", name: "APP.JS", type: "text/javascript", body: noise(60000, 5), plain: true },
      ]);
      serial = await PtySerialLine.open();
      port = serial.path;
      card = new SimCard({ dir: cardDir });
      sim = await startSimulator({ runtime, card, config: testConfig(), dataDir: cardDir, flashDir: path.join(dir, "flash"), smtpPort: 0, pop3Port: 0, serial, webDir: pages.v1 });
    });

    after(async () => {
      await sim.stop();
      serial.close();
    });

    it("the simulator put the page on its card at start; the board serves it as node's lookup does, for good and damaged layouts", async () => {
      assert.match(sim.web!, /^web page: installed .* into the card's \/LB\/WEB\/A$/);
      assert.deepEqual(served(cardDir, "/app.js"), stored.v1.get("APP.JS"));
      const client = await DeviceClient.open({ path: port, timeoutMs: 5000 });
      try {
        const paths = ["/", "/app.js", "/favicon.ico", "/app", "/APP.JS", "/missing", "/app.js ", ""];
        const nodeCard = new SimCard({ dir: cardDir });
        const compare = async (what: string) => {
          for (const p of paths) assert.deepEqual(await boardLookup(client, p), lookup(nodeCard, p), `${what}: ${JSON.stringify(p)}`);
        };
        await compare("the page as installed");
        assert.equal(((await boardLookup(client, "/")) as { etag: string }).etag, `"${md5(stored.v1.get("INDEX.HTM")!).slice(0, 8)}"`);
        const manifestPath = path.join(cardDir, "LB/WEB/A/MANIFEST");
        const currentPath = path.join(cardDir, "LB/WEB/CURRENT");
        const manifest = fs.readFileSync(manifestPath, "latin1");
        const damage: [string, string, () => void][] = [
          ["a line of four fields", "/", () => fs.writeFileSync(manifestPath, manifest.replace(/ 1\n/, "\n"))],
          ["a path as a file name", "/", () => fs.writeFileSync(manifestPath, manifest.replace(" INDEX.HTM ", " ../INDEX.HTM "))],
          ["the last line cut short", "/favicon.ico", () => fs.writeFileSync(manifestPath, manifest.slice(0, -1))],
          ["a missing file", "/app.js", () => fs.renameSync(path.join(cardDir, "LB/WEB/A/APP.JS"), path.join(dir, "APP.JS"))],
          ["no MANIFEST", "/", () => fs.rmSync(manifestPath)],
          ["CURRENT naming B, which is not there", "/", () => fs.writeFileSync(currentPath, "AB")],
          ["a damaged CURRENT", "/", () => fs.writeFileSync(currentPath, "A?")],
          ["no CURRENT", "/", () => fs.rmSync(currentPath)],
        ];
        for (const [what, gone, spoil] of damage) {
          spoil();
          await compare(what);
          assert.equal(await boardLookup(client, gone), undefined, `${what}: ${gone} not served`);
          // Put it right again.
          fs.writeFileSync(manifestPath, manifest);
          fs.writeFileSync(currentPath, "A");
          if (fs.existsSync(path.join(dir, "APP.JS"))) fs.renameSync(path.join(dir, "APP.JS"), path.join(cardDir, "LB/WEB/A/APP.JS"));
        }
        await compare("put right");
        const info = await client.request("web.info");
        assert.equal(info.map.dir, "A");
        assert.equal(info.map.manifest, md5(Buffer.from(manifest, "latin1")));
      } finally {
        await client.close();
      }
    });

    it("letterbox web writes a new page into the other directory, checks it there and switches; again it writes nothing", async () => {
      const r = await run(["web", "--port", port, "--dir", pages.v2, "--no-progress"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^wrote the web page \(3 files, \d+ bytes\) to the card of the board on \/dev\/pts\/\d+, checked by MD5 there; it serves it from \/LB\/WEB\/B\n$/);
      for (const [url, name] of [["/", "INDEX.HTM"], ["/app.js", "APP.JS"], ["/favicon.ico", "FAVICON.ICO"]]) {
        assert.deepEqual(served(cardDir, url), stored.v2.get(name), url);
      }
      assert.equal(fs.readFileSync(path.join(cardDir, "LB/WEB/CURRENT"), "latin1"), "AB");
      assert.deepEqual(fs.readdirSync(path.join(cardDir, "LB/WEB/B")).sort(), ["APP.JS", "FAVICON.ICO", "INDEX.HTM", "MANIFEST"]);
      const again = await run(["web", "--port", port, "--dir", pages.v2, "--no-progress"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /serves this web page already \(3 files, \d+ bytes, \/LB\/WEB\/B\); --force writes it again/);
      assert.equal(fs.readFileSync(path.join(cardDir, "LB/WEB/CURRENT"), "latin1"), "AB", "nothing written");
      const forced = await run(["web", "--port", port, "--dir", pages.v2, "--no-progress", "--force"]);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, /serves it from \/LB\/WEB\/A/);
      assert.deepEqual(served(cardDir, "/app.js"), stored.v2.get("APP.JS"));
    });

    it("a wrong MD5 is refused with the sums, the file removed and the switch refused; the sum is of the card's bytes, not of what was sent", async () => {
      const client = await DeviceClient.open({ path: port, timeoutMs: 5000 });
      const before = served(cardDir, "/app.js");
      try {
        const begun = await client.request("web.begin");
        const other = String(begun.map.dir);
        const data = noise(2500, 11);
        for (let offset = 0; offset < data.length; offset += 960) await client.request("web.write", { name: "APP.JS", offset, data: data.subarray(offset, offset + 960) });
        const check = async (name: string, sum: string) => {
          for (;;) {
            const { map } = await client.request("web.check", { name, md5: sum });
            if (map.done) return map;
          }
        };
        const wrong = "0123456789abcdef0123456789abcdef";
        await assert.rejects(check("APP.JS", wrong), (e: DeviceError) => {
          assert.equal(e.codeName, "invalid value");
          assert.equal(e.message, `APP.JS: MD5 on the card is ${md5(data)}, not ${wrong} as sent; the file was removed`);
          return true;
        });
        assert.ok(!fs.existsSync(path.join(cardDir, "LB/WEB", other, "APP.JS")), "removed");
        // Sent right, then changed on the card before the check: the check reads the card.
        for (let offset = 0; offset < data.length; offset += 960) await client.request("web.write", { name: "APP.JS", offset, data: data.subarray(offset, offset + 960) });
        const onCard = path.join(cardDir, "LB/WEB", other, "APP.JS");
        const spoilt = Buffer.from(data);
        spoilt[1234] ^= 1;
        fs.writeFileSync(onCard, spoilt);
        await assert.rejects(check("APP.JS", md5(data)), new RegExp(`MD5 on the card is ${md5(spoilt)}, not ${md5(data)}`));
        // Out of sequence.
        await client.request("web.write", { name: "APP.JS", offset: 0, data: data.subarray(0, 100) });
        await assert.rejects(client.request("web.write", { name: "APP.JS", offset: 500, data: data.subarray(500, 600) }), /data out of sequence: APP.JS has 100 bytes/);
        // Names are 8.3, never paths.
        for (const name of ["../CURRENT", "/LB/JRNL.A", "app.js", "TOOLONGNAME.JS", "A.B.C"]) {
          await assert.rejects(client.request("web.write", { name, offset: 0, data: Buffer.from("x") }), /file name: an 8.3 name in upper case/, name);
        }
        // A MANIFEST naming a file never checked: no switch.
        const manifest = Buffer.from('/app.js APP.JS text/javascript "00000000" 0\n');
        await client.request("web.write", { name: "MANIFEST", offset: 0, data: manifest });
        await check("MANIFEST", md5(manifest));
        await assert.rejects(client.request("web.commit"), /MANIFEST line 1: APP.JS was not written and checked/);
        assert.deepEqual(served(cardDir, "/app.js"), before, "the page served is unchanged");
      } finally {
        await client.close();
      }
    });

    it("a transfer cut off (the tool killed mid-file) leaves the old page served; the next letterbox web completes", async () => {
      const before = served(cardDir, "/app.js");
      const currentBefore = fs.readFileSync(path.join(cardDir, "LB/WEB/CURRENT"), "latin1");
      const other = currentBefore.endsWith("A") ? "B" : "A";
      const child = start(["web", "--port", port, "--dir", pages.big, "--no-progress"]);
      const result = finish(child);
      const partial = path.join(cardDir, "LB/WEB", other, "APP.JS");
      await until(() => fs.existsSync(partial) && fs.statSync(partial).size > 5000, "part of APP.JS on the card");
      child.kill("SIGKILL");
      await result;
      assert.ok(fs.statSync(partial).size < 60000, "cut off mid-file");
      assert.deepEqual(served(cardDir, "/app.js"), before, "the old page is served");
      assert.equal(fs.readFileSync(path.join(cardDir, "LB/WEB/CURRENT"), "latin1"), currentBefore);
      const r = await run(["web", "--port", port, "--dir", pages.big, "--no-progress", "--timeout", "20000"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(served(cardDir, "/app.js"), stored.big.get("APP.JS"));
    });

    it("a card pulled out is named as the problem, with what to do, and changes nothing", async () => {
      const before = served(cardDir, "/app.js");
      card.eject();
      try {
        const r = await run(["web", "--port", port, "--dir", pages.v1, "--no-progress"]);
        assert.equal(r.code, 1);
        // The reason is the board's own words (no card, or its file system's error).
        assert.match(r.stderr, /^letterbox: the board cannot write its card \(card: [^)]+\)\. Is a FAT-formatted SD card in the slot\? letterbox status shows the card; the page served before is unchanged\.\n$/);
      } finally {
        card.insert();
      }
      assert.deepEqual(served(cardDir, "/app.js"), before);
    });
  });
}

describe("letterbox web: what it says when it cannot", () => {
  it("names a page that is not built, and a damaged one, and sends nothing", async () => {
    const dir = tempDir("web-errors");
    const r = await run(["web", "--port", "/dev/does-not-exist", "--dir", path.join(dir, "none")]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `letterbox: the web page is not built: ${path.join(dir, "none", "MANIFEST")} is missing (make web builds it)\n`);
    samplePage(path.join(dir, "bad"), 1);
    fs.appendFileSync(path.join(dir, "bad", "INDEX.HTM"), "x");
    const bad = await run(["web", "--port", "/dev/does-not-exist", "--dir", path.join(dir, "bad")]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /damaged: INDEX.HTM does not match its etag "[0-9a-f]{8}" \(make web builds it again\)/);
  });

  it("without a board it says what to do, as the other commands do (exit 3)", async () => {
    const dir = tempDir("web-noboard");
    samplePage(path.join(dir, "page"), 1);
    const r = await run(["web", "--dir", path.join(dir, "page")], { PATH: "/nonexistent" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /udevadm.*missing.*--port/s);
    const missing = await run(["web", "--dir", path.join(dir, "page"), "--port", "/dev/does-not-exist"]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /\/dev\/does-not-exist does not exist: is the board plugged in\?/);
  });
});

describe("a power cut at every card operation of a page transfer (node runtime)", () => {
  it("leaves the old page or the new one served, whole, never a mix or none; a new transfer then completes", async () => {
    const dir = tempDir("web-cut");
    const v1 = path.join(dir, "v1");
    const v2 = path.join(dir, "v2");
    const old = makePage(v1, [
      { url: "/", name: "INDEX.HTM", type: "text/html", body: "one" },
      { url: "/app.js", name: "APP.JS", type: "text/javascript", body: noise(1500, 1), plain: true },
    ]);
    const fresh = makePage(v2, [
      { url: "/", name: "INDEX.HTM", type: "text/html", body: "two" },
      { url: "/app.js", name: "APP.JS", type: "text/javascript", body: noise(1500, 2), plain: true },
    ]);
    const page = readPage(v2);
    const serial = await PtySerialLine.open();
    try {
      let total = 0;
      const outcomes = new Set<string>();
      for (let cut = 0; ; cut++) {
        const cardDir = path.join(dir, `card${cut}`);
        installPage(new SimCard({ dir: cardDir }), v1);
        let count = 0;
        let didCut = false;
        const card: SimCard = new SimCard({
          dir: cardDir,
          beforeOperation: (op: CardOperation, p: string) => {
            if (!p.startsWith("/LB/WEB")) return;
            if (count++ === cut) {
              didCut = true;
              card.powerOff();
              throw new CardError("power cut");
            }
          },
        });
        let sim = await startSimulator({ runtime: "node", card, config: testConfig(), dataDir: cardDir, smtpPort: 0, pop3Port: 0, serial });
        const client = await DeviceClient.open({ path: serial.path, timeoutMs: 5000 });
        try {
          await writePage(client, page, { progress: false });
        } catch (e) {
          if (!didCut) throw e;
        } finally {
          await client.close();
          await sim.stop();
        }
        // Power back: a new card on the same directory, the board as it boots.
        const after = new SimCard({ dir: cardDir });
        sim = await startSimulator({ runtime: "node", card: after, config: testConfig(), dataDir: cardDir, smtpPort: 0, pop3Port: 0, serial });
        try {
          const index = served(cardDir, "/");
          const app = served(cardDir, "/app.js");
          const whole =
            (index?.equals(old.get("INDEX.HTM")!) && app?.equals(old.get("APP.JS")!) && "old") ||
            (index?.equals(fresh.get("INDEX.HTM")!) && app?.equals(fresh.get("APP.JS")!) && "new");
          assert.ok(whole, `cut before operation ${cut}: the card serves a mix or nothing`);
          outcomes.add(whole);
          if (!didCut) assert.equal(whole, "new", "no cut: the new page");
          // And a transfer after the cut completes.
          const client2 = await DeviceClient.open({ path: serial.path, timeoutMs: 5000 });
          try {
            await writePage(client2, page, { progress: false, force: true });
          } finally {
            await client2.close();
          }
          assert.ok(served(cardDir, "/")!.equals(fresh.get("INDEX.HTM")!));
        } finally {
          await sim.stop();
        }
        fs.rmSync(cardDir, { recursive: true, force: true });
        if (!didCut) {
          total = cut;
          break;
        }
      }
      assert.ok(total > 20, `a transfer makes ${total} card operations`);
      assert.deepEqual([...outcomes].sort(), ["new", "old"]);
    } finally {
      serial.close();
    }
  });
});
