/**
 * The serial protocol's two implementations against each other: the
 * device's portable firmware/frame.ts and the host's host/serial/protocol.ts
 * (crc + msgpackr), plus the settings kept in internal flash.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import fc from "fast-check";
import adler32lib from "adler-32";
import * as device from "../firmware/frame";
import * as host from "../host/serial/protocol";
import { encode } from "../firmware/msgpack";
import { loadSettings, saveSettings, Settings, SLOT_NAMES } from "../firmware/settings";
import { SimFlash } from "../sim/flash";
import { captureLog, LogRing } from "../firmware/console";
import { testConfig } from "./helpers/fixtures";
import { testHal } from "./helpers/test-hal";

const latin1 = (b: Buffer) => b.toString("latin1");
const bytes = (s: string) => Buffer.from(s, "latin1");

/** Runs the device deframer over chunks and records what it reports. */
function deviceParse(chunks: string[]) {
  const out = { frames: [] as string[], text: "", rejects: [] as number[] };
  const d = new device.Deframer({
    onFrame: (p) => out.frames.push(p),
    onText: (t) => (out.text += t),
    onReject: (code) => out.rejects.push(code),
  });
  for (const c of chunks) d.push(c);
  return { out, deframer: d };
}

function hostParse(chunks: Buffer[]) {
  const out = { frames: [] as Buffer[], text: "", rejects: [] as string[] };
  const r = new host.FrameReader({ frame: (p) => out.frames.push(p), text: (t) => (out.text += latin1(t)), reject: (why) => out.rejects.push(why) });
  for (const c of chunks) r.push(c);
  return out;
}

/** Splits s at the given fractions. */
function split(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * s.length)))].sort((a, b) => a - b);
  const parts: string[] = [];
  let last = 0;
  for (const p of points) {
    parts.push(s.slice(last, p));
    last = p;
  }
  parts.push(s.slice(last));
  return parts;
}

test("CRC-16/CCITT-FALSE check value on the device", () => {
  assert.equal(device.crc16("123456789", 0, 9), 0x29b1);
});

test("device and host build the same frames", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: device.MAX_PAYLOAD }), (payload) => {
      const b = Buffer.from(payload);
      assert.equal(device.encodeFrame(latin1(b)), latin1(host.encodeFrame(b)));
    }),
  );
});

test("Adler-32 on the device matches the adler-32 library", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (data) => {
      const b = Buffer.from(data);
      const expected = (adler32lib.buf(b) >>> 0).toString(16).padStart(8, "0");
      assert.equal(device.adler32(latin1(b)), expected);
      const running = new device.Adler32();
      running.update(latin1(b.subarray(0, 100)));
      running.update(latin1(b.subarray(100)));
      assert.equal(running.hex(), expected);
    }),
  );
});

// Console text never holds 0xFE (it is 7-bit log output or UTF-8).
const consoleText = fc.uint8Array({ maxLength: 60 }).map((a) => latin1(Buffer.from(a.map((x) => (x === 0xfe ? 0x20 : x)))));

test("frames and console text interleaved, cut anywhere, come apart the same on both sides", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(consoleText, fc.uint8Array({ maxLength: 300 })), { maxLength: 5 }),
      consoleText,
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
      (pieces, tail, cuts) => {
        const stream = pieces.map(([text, p]) => text + device.encodeFrame(latin1(Buffer.from(p)))).join("") + tail;
        const expectedText = pieces.map(([text]) => text).join("") + tail;
        const chunks = split(stream, cuts);
        const { out, deframer } = deviceParse(chunks);
        assert.deepEqual(out.frames, pieces.map(([, p]) => latin1(Buffer.from(p))));
        assert.equal(out.text, expectedText);
        assert.deepEqual(out.rejects, []);
        assert.equal(deframer.pending(), false);
        const h = hostParse(chunks.map(bytes));
        assert.deepEqual(h.frames.map(latin1), out.frames);
        assert.equal(h.text, expectedText);
      },
    ),
  );
});

test("a damaged frame is rejected, and the next frame still gets through", () => {
  const good = device.encodeFrame("second");
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 18 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
      const first = bytes(device.encodeFrame("first frame!"));
      first[at] ^= flip;
      const { out, deframer } = deviceParse([latin1(first) + good]);
      // A damaged length makes the frame wait for bytes that never come: the console's timer expires it.
      if (deframer.pending()) deframer.expire();
      assert.ok(!out.frames.includes("first frame!"));
      assert.deepEqual(out.frames.slice(-1), ["second"]);
      assert.ok(out.rejects.length >= 1);
    }),
  );
});

test("oversized, wrong-version and truncated frames are rejected with their codes", () => {
  const oversized = "\xfeL\x01\x04\x01" + "x".repeat(10);
  assert.deepEqual(deviceParse([oversized + device.encodeFrame("ok")]).out.rejects, [device.FRAME_OVERSIZED]);
  const v2 = latin1(host.encodeFrame(Buffer.from("hi"), 2));
  const r = deviceParse([v2 + device.encodeFrame("ok")]).out;
  assert.deepEqual(r.rejects, [device.FRAME_VERSION]);
  assert.deepEqual(r.frames, ["ok"]);

  const { out, deframer } = deviceParse([device.encodeFrame("cut short").slice(0, 9)]);
  assert.equal(deframer.pending(), true);
  const started = deframer.started;
  deframer.expire();
  assert.deepEqual(out.rejects, [device.FRAME_TRUNCATED]);
  assert.deepEqual(out.frames, []);
  deframer.push(device.encodeFrame("next"));
  assert.deepEqual(out.frames, ["next"]);
  assert.equal(deframer.started, started);
});

test("the device's partial-frame counter moves only when a new frame starts", () => {
  const frame = device.encodeFrame("a longer payload");
  const { deframer } = deviceParse([frame.slice(0, 3)]);
  assert.equal(deframer.started, 1);
  deframer.push(frame.slice(3, 10));
  assert.equal(deframer.started, 1, "the same frame, still arriving");
  deframer.push(frame.slice(10) + frame.slice(0, 4));
  assert.equal(deframer.started, 2, "the next frame");
});

test("host MessagePack requests decode on the device codec and back", () => {
  const request = { id: 7, op: "prov.data", offset: 512, data: Buffer.from([0, 1, 0xfe, 0xff]) };
  const packed = host.packr.pack(request);
  const { decode } = require("../firmware/msgpack") as typeof import("../firmware/msgpack");
  const value = decode(latin1(packed), 0);
  assert.equal(value.end, packed.length);
  assert.deepEqual(value.value, { id: 7, op: "prov.data", offset: 512, data: "\x00\x01\xfe\xff" });
  assert.deepEqual(host.packr.unpack(bytes(encode({ id: 7, ok: true, users: ["a", "b"] }))), { id: 7, ok: true, users: ["a", "b"] });
});

function settings(users: string[]): Settings {
  const config = testConfig();
  config.users = users.map((name) => ({ name, password: `${name}-secret` }));
  return { config, wifi: { ssid: "HomeNet", password: "wifi-pass" }, timezone: "Europe/Berlin" };
}

test("settings alternate between two flash slots, and the newest intact one wins", () => {
  const flash = new SimFlash();
  assert.equal(loadSettings(flash), undefined);
  const first = saveSettings(flash, settings(["anna"]), undefined);
  const second = saveSettings(flash, settings(["anna", "ben"]), first);
  assert.notEqual(first.slot, second.slot);
  const loaded = loadSettings(flash)!;
  assert.deepEqual(loaded.settings.config.users.map((u) => u.name), ["anna", "ben"]);
  assert.equal(loaded.settings.wifi!.password, "wifi-pass");
  assert.equal(loaded.settings.timezone, "Europe/Berlin");
  // A write cut short by a power failure: the damaged slot is ignored.
  const name = SLOT_NAMES[second.slot];
  flash.write(name, flash.read(name)!.slice(0, -3));
  assert.deepEqual(loadSettings(flash)!.settings.config.users.map((u) => u.name), ["anna"]);
});

test("a failing flash write leaves the old settings in force", () => {
  const flash = new SimFlash();
  const first = saveSettings(flash, settings(["anna"]), undefined);
  const broken = Object.create(flash) as SimFlash;
  broken.write = () => {
    throw new Error("flash full");
  };
  assert.throws(() => saveSettings(broken, settings(["ben"]), first));
  assert.deepEqual(loadSettings(flash)!.settings.config.users.map((u) => u.name), ["anna"]);
});

test("log lines keep to the ring's size, report what was dropped, and never carry a frame marker", () => {
  const ring = new LogRing(3);
  const printed: string[] = [];
  // A board whose clock is not set counts from boot.
  const hal = testHal({ clock: 3, timers: "manual", log: (line) => printed.push(line) });
  captureLog(hal, ring);
  hal.log("RCPT from \xfeL\x01 peer");
  hal.clock.seconds = 15;
  for (const n of ["two", "three", "four"]) hal.log(n);
  assert.equal(printed[0], "boot+0s RCPT from ?L\x01 peer");
  const page = ring.since(0, 1000);
  assert.deepEqual(page.lines, ["boot+12s two", "boot+12s three", "boot+12s four"]);
  assert.equal(page.skipped, 1);
  assert.equal(page.next, 4);
  assert.deepEqual(ring.since(4, 1000).lines, []);
  const small = ring.since(1, 20);
  assert.deepEqual(small.lines, ["boot+12s two"]);
  assert.equal(small.next, 2);
  // Once the clock is set (SNTP): the date and time in UTC.
  hal.clock.seconds = 1796087153;
  hal.log("five");
  assert.equal(printed[printed.length - 1], "1 Dec 2026 01:05:53 five");
});
