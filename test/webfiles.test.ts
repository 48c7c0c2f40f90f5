/**
 * The web page on the card (firmware/webfiles.ts) on the node runtime, on a
 * strict simulated card: lookup of a good page and of every kind of damage
 * (undefined, never a throw), its cost in card calls, the manifest check
 * before a switch, the incremental MD5, and the simulator's install at start
 * (sim/webinstall.ts). The lua and espruino builds answer the same lookups
 * over the serial line in test/web-serial.test.ts.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { SimCard } from "../sim/card";
import type { FileHandle, Storage } from "../firmware/hal";
import { md5Begin, md5End, md5hex, md5Update } from "../firmware/md5";
import { clearDir, lookup, manifestProblem, switchTo, valid83 } from "../firmware/webfiles";
import { installPage } from "../sim/webinstall";
import { PageError, readPage } from "../host/webpage";
import { startSimulator } from "../sim/simulator";
import { tempDir, testConfig } from "./helpers/fixtures";
import { makePage, noise, samplePage } from "./helpers/webpage";

const INDEX = '/ INDEX.HTM text/html;charset=utf-8 "0123abcd" 1\n';
const APP = '/app.js APP.JS text/javascript "89ab4567" 1\n';
const PLAIN = '/robots.txt ROBOTS.TXT text/plain "00000000" 0\n';

/** A card with directory A served: MANIFEST and files as given (host-side writes, any bytes). */
function cardWith(files: { [cardPath: string]: string | Buffer }): { card: SimCard; dir: string } {
  const dir = tempDir("webfiles");
  for (const [p, data] of Object.entries(files)) {
    const host = path.join(dir, ...p.split("/").filter((x) => x));
    fs.mkdirSync(path.dirname(host), { recursive: true });
    fs.writeFileSync(host, data);
  }
  return { card: new SimCard({ dir }), dir };
}

function goodCard(manifest = INDEX + APP + PLAIN): { card: SimCard; dir: string } {
  return cardWith({
    "/LB/WEB/CURRENT": "A",
    "/LB/WEB/A/MANIFEST": manifest,
    "/LB/WEB/A/INDEX.HTM": "<html>",
    "/LB/WEB/A/APP.JS": "x".repeat(1000),
    "/LB/WEB/A/ROBOTS.TXT": "",
  });
}

/** Storage calls made through it, by name. */
function counting(card: Storage): { storage: Storage; calls: string[] } {
  const calls: string[] = [];
  const storage: Storage = {
    open(p, mode): FileHandle {
      calls.push("open");
      const f = card.open(p, mode);
      return {
        read: (n) => (calls.push("read"), f.read(n)),
        write: (d) => (calls.push("write"), f.write(d)),
        seek: (o) => (calls.push("seek"), f.seek(o)),
        close: () => (calls.push("close"), f.close()),
      };
    },
    size: (p) => (calls.push("size"), card.size(p)),
    remove: (p) => (calls.push("remove"), card.remove(p)),
    mkdir: (p) => (calls.push("mkdir"), card.mkdir(p)),
    list: (p) => (calls.push("list"), card.list(p)),
  };
  return { storage, calls };
}

describe("webfiles lookup", () => {
  it("finds each url path of the page served, with its card path, type, etag, encoding and size", () => {
    const { card } = goodCard();
    assert.deepEqual(lookup(card, "/"), { file: "/LB/WEB/A/INDEX.HTM", type: "text/html;charset=utf-8", etag: '"0123abcd"', gzip: true, size: 6 });
    assert.deepEqual(lookup(card, "/app.js"), { file: "/LB/WEB/A/APP.JS", type: "text/javascript", etag: '"89ab4567"', gzip: true, size: 1000 });
    assert.deepEqual(lookup(card, "/robots.txt"), { file: "/LB/WEB/A/ROBOTS.TXT", type: "text/plain", etag: '"00000000"', gzip: false, size: 0 });
  });

  it("answers only whole url paths: prefixes, extensions, case, queries and paths inside a line are not found", () => {
    const { card } = goodCard();
    for (const p of ["/app", "/app.j", "/app.js2", "/APP.JS", "/App.js", "app.js", "/app.js?x=1", "INDEX.HTM", "/INDEX.HTM", "", " ", "/ ", "/app.js ", "text/plain", '"00000000"', "1", "\n/"]) {
      assert.equal(lookup(card, p), undefined, JSON.stringify(p));
    }
  });

  it("serves what the last byte of CURRENT names", () => {
    const { card, dir } = goodCard();
    fs.mkdirSync(path.join(dir, "LB/WEB/B"));
    fs.writeFileSync(path.join(dir, "LB/WEB/B/MANIFEST"), '/ NEW.HTM text/html "11111111" 1\n');
    fs.writeFileSync(path.join(dir, "LB/WEB/B/NEW.HTM"), "new");
    fs.writeFileSync(path.join(dir, "LB/WEB/CURRENT"), "AB");
    assert.equal(lookup(card, "/")?.file, "/LB/WEB/B/NEW.HTM");
    assert.equal(lookup(card, "/app.js"), undefined, "the other directory's files are not served");
    fs.writeFileSync(path.join(dir, "LB/WEB/CURRENT"), "ABBA");
    assert.equal(lookup(card, "/")?.file, "/LB/WEB/A/INDEX.HTM");
    assert.equal(clearDir(card), "B", "a new page goes into the other one");
    assert.deepEqual(fs.readdirSync(path.join(dir, "LB/WEB/B")), [], "emptied");
    assert.equal(lookup(card, "/")?.file, "/LB/WEB/A/INDEX.HTM", "the page served is untouched");
  });

  it("is undefined, never a throw, for every kind of damage", () => {
    const damage: [string, (dir: string) => void, string[]][] = [
      ["no page at all", (d) => fs.rmSync(path.join(d, "LB"), { recursive: true }), ["/"]],
      ["no CURRENT", (d) => fs.rmSync(path.join(d, "LB/WEB/CURRENT")), ["/", "/app.js"]],
      ["an empty CURRENT", (d) => fs.writeFileSync(path.join(d, "LB/WEB/CURRENT"), ""), ["/"]],
      ["CURRENT naming another directory", (d) => fs.writeFileSync(path.join(d, "LB/WEB/CURRENT"), "AC"), ["/"]],
      ["CURRENT in lower case", (d) => fs.writeFileSync(path.join(d, "LB/WEB/CURRENT"), "a"), ["/"]],
      ["CURRENT naming a directory that is not there", (d) => fs.writeFileSync(path.join(d, "LB/WEB/CURRENT"), "B"), ["/"]],
      ["no MANIFEST", (d) => fs.rmSync(path.join(d, "LB/WEB/A/MANIFEST")), ["/", "/app.js"]],
      ["an empty MANIFEST", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), ""), ["/"]],
      ["a missing file", (d) => fs.rmSync(path.join(d, "LB/WEB/A/APP.JS")), ["/app.js"]],
      ["the last line cut short", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), INDEX + APP + PLAIN.slice(0, -1)), ["/robots.txt"]],
      ["a line of four fields", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ INDEX.HTM text/html "0123abcd"\n'), ["/"]],
      ["a line of six fields", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ INDEX.HTM text/html "0123abcd" 1 x\n'), ["/"]],
      ["a path as the file name", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ ../A/INDEX.HTM text/html "0123abcd" 1\n'), ["/"]],
      ["an absolute file name", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ /LB/JRNL.A text/html "0123abcd" 1\n'), ["/"]],
      ["a file name in lower case", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ index.htm text/html "0123abcd" 1\n'), ["/"]],
      ["a long file name", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ INDEXFILE.HTM text/html "0123abcd" 1\n'), ["/"]],
      ["a four-letter extension", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ INDEX.HTML text/html "0123abcd" 1\n'), ["/"]],
      ["an unquoted etag", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), "/ INDEX.HTM text/html 0123abcd 1\n"), ["/"]],
      ["gzip neither 0 nor 1", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ INDEX.HTM text/html "0123abcd" 2\n'), ["/"]],
      ["an empty type", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), '/ INDEX.HTM  "0123abcd" 1\n'), ["/"]],
      ["a MANIFEST over 2048 bytes", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), INDEX + "#".repeat(2048) + "\n"), ["/"]],
      ["CR LF line ends", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), INDEX.replace("\n", "\r\n")), ["/"]],
      ["binary garbage", (d) => fs.writeFileSync(path.join(d, "LB/WEB/A/MANIFEST"), noise(700, 3)), ["/", "/app.js"]],
    ];
    for (const [what, spoil, paths] of damage) {
      const { card, dir } = goodCard();
      spoil(dir);
      for (const p of paths) assert.equal(lookup(card, p), undefined, `${what}: ${p}`);
    }
    // A damaged line does not spoil the others.
    const { card } = goodCard('/ INDEX.HTM text/html "0123abcd"\n' + APP);
    assert.equal(lookup(card, "/"), undefined);
    assert.equal(lookup(card, "/app.js")?.file, "/LB/WEB/A/APP.JS");
  });

  it("is undefined when the card fails, is pulled out or has no power", () => {
    let { card } = goodCard();
    card.eject();
    assert.equal(lookup(card, "/"), undefined);
    card.insert();
    assert.equal(lookup(card, "/")?.size, 6);
    for (const call of ["size", "open", "read"] as const) {
      card.failCall(call);
      assert.equal(lookup(card, "/"), undefined, call);
      assert.equal(card.openFiles, 0, `nothing left open after a failing ${call}`);
    }
    ({ card } = goodCard());
    card.powerOff();
    assert.equal(lookup(card, "/"), undefined);
  });

  it("costs a size and a one-byte read of CURRENT, one read of MANIFEST and a size, with nothing left open", () => {
    const { card } = goodCard(INDEX + APP + PLAIN);
    const { storage, calls } = counting(card);
    assert.ok(lookup(storage, "/robots.txt"));
    assert.deepEqual(calls, ["size", "open", "seek", "read", "close", "open", "read", "close", "size"]);
    assert.equal(card.openFiles, 0);
  });

  it("takes 8.3 names in upper case only, never a path", () => {
    for (const ok of ["A", "INDEX.HTM", "APP.JS", "X.C", "ABCDEFGH.IJK", "A-B_C", "MANIFEST", "0"]) assert.ok(valid83(ok), ok);
    for (const bad of ["", ".", "..", ".HTM", "A.", "ABCDEFGHI", "A.BCDE", "A.B.C", "a.htm", "A/B", "../X", "/X", "A B", "A\0", "A:B", "Ä"]) {
      assert.ok(!valid83(bad), JSON.stringify(bad));
    }
  });
});

describe("webfiles manifest check before the switch", () => {
  it("accepts a page whose every file was written and checked, and names what is wrong otherwise", () => {
    const checked = " INDEX.HTM APP.JS ROBOTS.TXT MANIFEST ";
    assert.equal(manifestProblem(INDEX + APP + PLAIN, checked), "");
    assert.equal(manifestProblem("", checked), "MANIFEST is empty or its last line has no line feed");
    assert.equal(manifestProblem(INDEX + APP.slice(0, -1), checked), "MANIFEST is empty or its last line has no line feed");
    assert.equal(manifestProblem(INDEX + APP, " INDEX.HTM "), "MANIFEST line 2: APP.JS was not written and checked");
    assert.equal(manifestProblem(INDEX + INDEX, checked), "MANIFEST line 2: / twice");
    assert.match(manifestProblem(INDEX + "app.js APP.JS text/javascript \"1\" 1\n", checked), /^MANIFEST line 2: not <url-path>/);
    assert.match(manifestProblem(INDEX + '/x ../APP.JS text/plain "1" 1\n', checked), /^MANIFEST line 2: not <url-path> <8.3-name>/);
    assert.equal(manifestProblem(INDEX.repeat(50), checked), "MANIFEST is over 2048 bytes");
    // Two url paths may share a file.
    assert.equal(manifestProblem(INDEX + '/index.html INDEX.HTM text/html "0123abcd" 1\n', checked), "");
  });
});

describe("incremental MD5", () => {
  it("gives the same sum as node's MD5 for any split of any length, and md5hex as before", () => {
    const data = noise(1500, 9).toString("latin1");
    for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 1500]) {
      const s = data.slice(0, length);
      const expected = crypto.createHash("md5").update(Buffer.from(s, "latin1")).digest("hex");
      assert.equal(md5hex(s), expected, `md5hex of ${length}`);
      for (const piece of [1, 7, 64, 100, 1024]) {
        const m = md5Begin();
        for (let i = 0; i < s.length; i += piece) md5Update(m, s.slice(i, i + piece));
        assert.equal(md5End(m), expected, `${length} bytes in pieces of ${piece}`);
      }
    }
    assert.equal(md5hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  });
});

describe("the simulator's card gets the page at start", () => {
  it("installs into A, leaves a page served already alone, puts a changed one into the other directory, and never touches the mail", () => {
    const dir = tempDir("webinstall");
    const card = new SimCard({ dir: path.join(dir, "card") });
    const v1 = samplePage(path.join(dir, "v1"), 1);
    const v2 = samplePage(path.join(dir, "v2"), 2);
    fs.mkdirSync(path.join(dir, "card/LB/MSG"), { recursive: true });
    fs.writeFileSync(path.join(dir, "card/LB/MSG/00000001.EML"), "mail");
    assert.match(installPage(card, path.join(dir, "v1")), /^web page: installed .*v1 \(3 files, \d+ bytes\) into the card's \/LB\/WEB\/A$/);
    const served = (name: string) => fs.readFileSync(path.join(dir, "card", lookup(card, name)!.file));
    assert.deepEqual(served("/app.js"), v1.get("APP.JS"));
    assert.match(installPage(card, path.join(dir, "v1")), /^web page: the card serves .*v1 already \(\/LB\/WEB\/A\)$/);
    assert.match(installPage(card, path.join(dir, "v2")), /into the card's \/LB\/WEB\/B$/);
    assert.deepEqual(served("/app.js"), v2.get("APP.JS"));
    assert.deepEqual(served("/favicon.ico"), v2.get("FAVICON.ICO"));
    assert.equal(lookup(card, "/favicon.ico")!.gzip, false);
    assert.equal(fs.readFileSync(path.join(dir, "card/LB/WEB/CURRENT"), "latin1"), "AB");
    // Back to v1: into A, which is emptied first.
    fs.writeFileSync(path.join(dir, "card/LB/WEB/A/STALE.TXT"), "old");
    assert.match(installPage(card, path.join(dir, "v1")), /\/LB\/WEB\/A$/);
    assert.deepEqual(fs.readdirSync(path.join(dir, "card/LB/WEB/A")).sort(), ["APP.JS", "FAVICON.ICO", "INDEX.HTM", "MANIFEST"]);
    // A file changed on the card (same manifest) is put right.
    fs.writeFileSync(path.join(dir, "card/LB/WEB/A/APP.JS"), "short");
    assert.match(installPage(card, path.join(dir, "v1")), /\/LB\/WEB\/B$/);
    assert.equal(fs.readFileSync(path.join(dir, "card/LB/MSG/00000001.EML"), "latin1"), "mail");
    assert.equal(card.openFiles, 0);
  });

  it("refuses a page that is missing or damaged on the host, saying what to do, and leaves the card's page served", () => {
    const dir = tempDir("webinstall-bad");
    const card = new SimCard({ dir: path.join(dir, "card") });
    samplePage(path.join(dir, "good"), 1);
    installPage(card, path.join(dir, "good"));
    assert.throws(() => installPage(card, path.join(dir, "none")), (e: Error) => e instanceof PageError && /MANIFEST is missing \(make web builds it\)/.test(e.message));
    const bad = path.join(dir, "bad");
    samplePage(bad, 2);
    fs.appendFileSync(path.join(bad, "APP.JS"), "x");
    assert.throws(() => readPage(bad), /damaged: APP.JS does not match its etag/);
    makePage(bad, [{ url: "/", name: "index.htm", type: "text/html", body: "x" }]);
    assert.throws(() => readPage(bad), /index.htm is not an 8.3 name in upper case/);
    fs.writeFileSync(path.join(bad, "MANIFEST"), "/ INDEX.HTM text/html\n");
    assert.throws(() => readPage(bad), /MANIFEST line 1 is not/);
    assert.equal(lookup(card, "/")!.file, "/LB/WEB/A/INDEX.HTM");
  });

  it("startSimulator installs webDir before the board starts and says so; a test's own card works like any other", async () => {
    const dir = tempDir("webinstall-sim");
    samplePage(path.join(dir, "page"), 1);
    const lines: string[] = [];
    const sim = await startSimulator({
      runtime: "node",
      config: testConfig(),
      dataDir: path.join(dir, "card"),
      smtpPort: 0,
      pop3Port: 0,
      webDir: path.join(dir, "page"),
      log: (line) => lines.push(line),
    });
    try {
      assert.match(sim.web!, /^web page: installed /);
      assert.equal(lines[0], sim.web, "the log says so, before the board's first line");
      assert.equal(lookup(sim.card, "/")!.file, "/LB/WEB/A/INDEX.HTM");
    } finally {
      await sim.stop();
    }
    const again = await startSimulator({ runtime: "node", config: testConfig(), dataDir: path.join(dir, "card"), smtpPort: 0, pop3Port: 0, webDir: path.join(dir, "nothing") });
    try {
      assert.match(again.web!, /^web page: not installed: the web page is not built/);
      assert.equal(lookup(again.card, "/")!.file, "/LB/WEB/A/INDEX.HTM", "the page on the card stays");
    } finally {
      await again.stop();
    }
  });

  it("switchTo appends one byte to CURRENT, nothing else; an emptied directory serves nothing", () => {
    const { card, dir } = goodCard();
    assert.equal(clearDir(card), "B");
    const { storage, calls } = counting(card);
    switchTo(storage, "B");
    assert.deepEqual(calls, ["open", "write", "close"]);
    assert.equal(card.openFiles, 0);
    assert.equal(fs.readFileSync(path.join(dir, "LB/WEB/CURRENT"), "latin1"), "AB");
    assert.equal(lookup(card, "/"), undefined, "an empty B serves nothing");
  });
});
