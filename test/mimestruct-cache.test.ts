/**
 * The MIME structure's cache on the card (hdrcache.ts StructureBuilder,
 * Maildrop.structure): built after the commit in timer ticks that each read
 * at most 16 KiB of the message, written after the header lines of the .HDR
 * file, read back after a reboot, rebuilt from a version-1 or cut file, and
 * nothing for a message deleted meanwhile. The header lines (the web page's
 * listing) stay as they were, with the fields ENVELOPE needs added.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { FileHandle, Storage } from "../firmware/hal";
import { Access, Mailbox, type Delivery } from "../firmware/mailbox";
import { structureRecord, StructureReader } from "../firmware/mimestruct";
import { SimCard } from "../sim/card";
import { tempDir, testConfig } from "./helpers/fixtures";
import { testHal } from "./helpers/test-hal";

/** A card that counts the octets read from message files. */
function countingCard(dir: string): Storage & { messageReads: number; failReads: boolean } {
  const card = new SimCard({ dir });
  const counting = {
    messageReads: 0,
    /** Reads of message files throw (a card error). */
    failReads: false,
    open(p: string, mode: string): FileHandle {
      const f = card.open(p, mode);
      if (!p.endsWith(".EML")) return f;
      return {
        read(n: number) {
          if (counting.failReads) throw new Error("read error");
          const s = f.read(n);
          if (s !== undefined) counting.messageReads += s.length;
          return s;
        },
        write: (d: string) => f.write(d),
        seek: (o: number) => f.seek(o),
        close: () => f.close(),
      };
    },
    size: (p: string) => card.size(p),
    remove: (p: string) => card.remove(p),
    mkdir: (p: string) => card.mkdir(p),
    list: (p: string) => card.list(p),
  };
  return counting;
}

function boot(dir: string) {
  const card = countingCard(dir);
  const hal = testHal({ clock: 1700000000, card, timers: "manual" });
  const mailbox = new Mailbox(hal, testConfig({ maxMessageBytes: 30000000 }));
  assert.equal(mailbox.card.open(), true, hal.logged.join("\n"));
  hal.logged.length = 0;
  const ready: number[] = [];
  mailbox.onStructureReady = (seq) => ready.push(seq);
  return { mailbox, hal, card, ready };
}

function deliver(mailbox: Mailbox, text: string): void {
  const d = mailbox.card.beginMessage() as Delivery;
  for (let i = 0; i < text.length; i += 1460) d.write(text.substring(i, i + 1460));
  d.commit(["alice"], 1700000000);
}

const B64 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n".repeat(3000);
const MESSAGE =
  "From: Alice <a@x.test>\r\nSender: s@x.test\r\nReply-To: r@x.test\r\nBcc: b@x.test\r\nIn-Reply-To: <1@x.test>\r\nSubject: big\r\n" +
  "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--zz\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
  B64 + "--zz--\r\n";

function expected(text: string): string {
  const r = new StructureReader();
  r.push(text);
  return structureRecord(r.finish());
}

describe("the structure cache", () => {
  it("is built after the commit, at most 16 KiB of the message per timer tick, and kept after the header lines", () => {
    const dir = tempDir("mimecache");
    const { mailbox, hal, card, ready } = boot(dir);
    deliver(mailbox, MESSAGE);
    const drop = mailbox.openMaildrop("alice", Access.Shared)!;
    assert.equal(drop.structure(0), undefined, "not built yet");
    let ticks = 0;
    for (;;) {
      card.messageReads = 0;
      if (!hal.timers.runNext()) break;
      ticks++;
      assert.ok(card.messageReads <= 16384, `a tick read ${card.messageReads} octets of the message`);
    }
    assert.ok(ticks >= Math.ceil(MESSAGE.length / 16384), `${ticks} ticks for ${MESSAGE.length} octets`);
    const seq = drop.list.seq(0);
    assert.deepEqual(ready, [seq]);
    const ms = drop.structure(0)!;
    assert.equal(structureRecord(ms), expected(MESSAGE));
    assert.match(ms.envelope, /^\(NIL "big" \(\("Alice" NIL "a" "x.test"\)\) \(\(NIL NIL "s" "x.test"\)\) \(\(NIL NIL "r" "x.test"\)\) NIL NIL \(\(NIL NIL "b" "x.test"\)\) "<1@x.test>" NIL\)$/);
    assert.equal(MESSAGE.substring(ms.part("2")!.body, ms.part("2")!.end), B64.substring(0, B64.length - 2), "the CRLF before the boundary is the delimiter's");
    // The listing's lines are as before, with the fields ENVELOPE needs.
    assert.equal(drop.headers(0), "From: Alice <a@x.test>\r\nSender: s@x.test\r\nReply-To: r@x.test\r\nBcc: b@x.test\r\nIn-Reply-To: <1@x.test>\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=zz\r\n");
    assert.equal(drop.time(0), 1700000000);
    assert.deepEqual(hal.logged, []);

    // After a reboot it is read from the card: no build, no timer.
    const again = boot(dir);
    const drop2 = again.mailbox.openMaildrop("alice", Access.Shared)!;
    assert.equal(structureRecord(drop2.structure(0)!), expected(MESSAGE));
    assert.equal(again.hal.timers.runNext(), false);
  });

  it("rebuilds a version-1 header cache and a cut structure on first use", () => {
    const dir = tempDir("mimecache1");
    const { mailbox, hal } = boot(dir);
    deliver(mailbox, MESSAGE);
    while (hal.timers.runNext());
    const drop = mailbox.openMaildrop("alice", Access.Shared)!;
    const file = path.join(dir, "LB", "MSG", drop.list.seq(0).toString(16).toUpperCase().padStart(8, "0") + ".HDR");
    const kept = fs.readFileSync(file, "latin1");
    // A cut structure: read as not built, built again.
    fs.writeFileSync(file, Buffer.from(kept.substring(0, kept.length - 5), "latin1"));
    const cut = boot(dir);
    const dropCut = cut.mailbox.openMaildrop("alice", Access.Shared)!;
    assert.equal(dropCut.structure(0), undefined);
    while (cut.hal.timers.runNext());
    assert.equal(structureRecord(dropCut.structure(0)!), expected(MESSAGE));
    assert.equal(fs.readFileSync(file, "latin1"), kept);
    // Version 1 (lines only, fewer fields): the lines are picked again, then the structure built.
    const v1lines = "From: Alice <a@x.test>\r\nSubject: big\r\n";
    fs.writeFileSync(file, Buffer.from("\x01" + kept.substring(1, 5) + String.fromCharCode(0, v1lines.length) + v1lines, "latin1"));
    const old = boot(dir);
    const dropOld = old.mailbox.openMaildrop("alice", Access.Shared)!;
    assert.match(dropOld.headers(0), /^From: Alice <a@x.test>\r\nSender: s@x.test\r\n/);
    assert.equal(dropOld.structure(0), undefined);
    while (old.hal.timers.runNext());
    assert.equal(structureRecord(dropOld.structure(0)!), expected(MESSAGE));
    assert.equal(fs.readFileSync(file, "latin1"), kept);
  });

  it("drops the build of a message deleted meanwhile, and says the message is gone", () => {
    const dir = tempDir("mimecache2");
    const { mailbox, hal, ready } = boot(dir);
    deliver(mailbox, MESSAGE);
    hal.timers.runNext(); // the header cache
    hal.timers.runNext(); // the structure's first step
    const drop = mailbox.openMaildrop("alice", Access.Exclusive)!;
    drop.setFlags(0, 1);
    drop.commit();
    drop.close();
    while (hal.timers.runNext());
    assert.deepEqual(ready, []);
    assert.deepEqual(hal.logged, []);
    assert.throws(() => drop.structure(0), /deleted/);
  });

  it("tells a failed build once (structure() throws, its waiter woken), then builds it again", () => {
    const dir = tempDir("mimecache3");
    const { mailbox, hal, card, ready } = boot(dir);
    deliver(mailbox, MESSAGE);
    hal.timers.runNext(); // the header cache
    hal.timers.runNext(); // the structure's first step
    card.failReads = true;
    const drop = mailbox.openMaildrop("alice", Access.Shared)!;
    const seq = drop.list.seq(0);
    mailbox.onStructureReady = (s) => {
      ready.push(s);
      throw new Error("a waiter's bug");
    };
    while (hal.timers.runNext());
    assert.deepEqual(ready, [seq], "woken once");
    assert.match(hal.logged[0], /^store: structure of [0-9a-f]{8} not built: .*read error/);
    assert.equal(hal.logged[1], "store: onStructureReady: a waiter's bug");
    assert.throws(() => drop.structure(0), /could not be read/);
    card.failReads = false;
    assert.equal(drop.structure(0), undefined, "built again");
    while (hal.timers.runNext());
    assert.equal(structureRecord(drop.structure(0)!), expected(MESSAGE));
  });
});
