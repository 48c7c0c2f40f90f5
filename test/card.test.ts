/**
 * The simulated card's failure modes: capacity and card full (short writes,
 * as FatFs does), injected I/O errors, the card pulled out and put back, and
 * the power-cut card that fails before its k-th changing operation.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { CardError, SimCard } from "../sim/card";
import { PowerCutCard } from "../sim/powercut";
import { tempDir } from "./helpers/fixtures";

function writeFile(card: SimCard, p: string, data: string, mode = "w"): void {
  const f = card.open(p, mode);
  try {
    f.write(data);
  } finally {
    f.close();
  }
}

describe("simulated card capacity", () => {
  it("writes what fits, then fails: card full; space() reports it in KiB", () => {
    const dir = tempDir("card");
    const card = new SimCard({ dir, capacityBytes: 4096 });
    assert.deepEqual(card.space(), { totalKiB: 4, freeKiB: 4 });
    writeFile(card, "/A.TXT", "x".repeat(3000));
    assert.equal(card.freeBytes(), 1096);
    assert.throws(() => writeFile(card, "/B.TXT", "y".repeat(2000)), /card full/);
    assert.equal(fs.statSync(path.join(dir, "B.TXT")).size, 1096, "the short write stays");
    assert.equal(card.freeBytes(), 0);
    assert.equal(card.openFiles, 0, "the failed file was closed by the finally");
    assert.throws(() => writeFile(card, "/A.TXT", "z", "a"), CardError);
    card.remove("/B.TXT");
    writeFile(card, "/A.TXT", "z".repeat(100), "a");
    assert.equal(card.size("/A.TXT"), 3100);
  });

  it("overwriting in place (mode w after seek) needs no new room", () => {
    const card = new SimCard({ dir: tempDir("card"), capacityBytes: 1000 });
    writeFile(card, "/A.TXT", "a".repeat(1000));
    writeFile(card, "/A.TXT", "b".repeat(1000)); // "w" truncates first
    assert.equal(card.size("/A.TXT"), 1000);
  });

  it("has no capacity unless given one", () => {
    const card = new SimCard({ dir: tempDir("card") });
    assert.equal(card.space(), undefined);
    assert.equal(card.freeBytes(), Infinity);
  });
});

describe("injected I/O errors", () => {
  it("fail the chosen call once, after skipping the given number of matches", () => {
    const card = new SimCard({ dir: tempDir("card") });
    writeFile(card, "/A.TXT", "hello");
    card.failCall("read", /A\.TXT$/, 1);
    const f = card.open("/A.TXT", "r");
    assert.equal(f.read(2), "he");
    assert.throws(() => f.read(2), /I\/O error/);
    assert.equal(f.read(10), "llo", "only once");
    f.close();
    card.failCall("write");
    assert.throws(() => writeFile(card, "/B.TXT", "data"), /I\/O error/);
    assert.equal(card.size("/B.TXT"), 0, "the failed write wrote nothing");
    card.failCall("size", /C\.TXT/);
    assert.equal(card.size("/B.TXT"), 0, "other paths are not affected");
    assert.throws(() => card.size("/C.TXT"), /I\/O error/);
  });

  it("a failing close still releases its handle", () => {
    const card = new SimCard({ dir: tempDir("card") });
    card.failCall("close");
    const f = card.open("/A.TXT", "w");
    f.write("abc");
    assert.throws(() => f.close(), /I\/O error/);
    assert.equal(card.openFiles, 0);
    assert.equal(card.size("/A.TXT"), 3);
  });
});

describe("card removed and put back", () => {
  it("every call fails while it is out, open files are lost, and it works again once back", () => {
    const card = new SimCard({ dir: tempDir("card") });
    writeFile(card, "/A.TXT", "kept");
    const open = card.open("/A.TXT", "r");
    card.eject();
    assert.equal(card.present, false);
    assert.throws(() => card.open("/A.TXT", "r"), /no card/);
    assert.throws(() => card.size("/A.TXT"), /no card/);
    assert.throws(() => card.list("/"), /no card/);
    assert.throws(() => card.hostPath("/A.TXT"), /no card/, "emulations that stat the host go through it too");
    assert.throws(() => open.read(4), CardError);
    assert.equal(card.openFiles, 0);
    card.insert();
    assert.throws(() => open.read(4), /closed/, "a handle from before stays dead");
    const again = card.open("/A.TXT", "r");
    assert.equal(again.read(10), "kept");
    again.close();
  });
});

describe("power-cut card", () => {
  it("counts changing operations, and before the k-th cuts the power and calls back", () => {
    const dir = tempDir("card");
    const reference = new PowerCutCard({ dir });
    writeFile(reference, "/A.TXT", "one");
    reference.mkdir("/D");
    reference.remove("/A.TXT");
    assert.deepEqual(
      reference.events.map((e) => e.op),
      ["open", "write", "close", "mkdir", "remove"],
    );
    assert.equal(reference.events[1].data, "one");

    const dir2 = tempDir("card");
    let called = 0;
    const cut = new PowerCutCard({ dir: dir2, cutBefore: 3, onCut: () => called++ });
    const f = cut.open("/A.TXT", "a");
    f.write("synced");
    assert.throws(() => f.close(), /power cut/);
    assert.equal(called, 1);
    assert.equal(cut.cut, true);
    assert.equal(cut.operations, 2);
    assert.throws(() => cut.size("/A.TXT"), /no power/);
    assert.equal(new SimCard({ dir: dir2 }).size("/A.TXT"), 6, "an append is on the card when its write returned");
  });
});
