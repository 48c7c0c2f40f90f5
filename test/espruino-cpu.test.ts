/**
 * CPU on Espruino, estimated in the emulation (sim/espruino/profile.ts): the
 * core receiving DATA against the floor of a handler that only appends each
 * received chunk to a file. Interpreted work (calls, loop iterations) and
 * native string work (bytes scanned, copied, read one by one) are counted
 * per received byte, on the same bytes split at the same points.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import { SimCard } from "../sim/card";
import { EspruinoBoard } from "../sim/espruino/board";
import { ProfileCounts } from "../sim/espruino/profile";
import { DEFAULTS_FILE, ensureEspruinoBundle } from "../sim/espruino-runtime";
import { SimFlash } from "../sim/flash";
import { encode } from "../firmware/msgpack";
import { settingsToMap } from "../firmware/settings";
import { connect } from "./helpers/clients";
import { tempDir, testConfig } from "./helpers/fixtures";

/** A typical text message: 72-character lines, a few stuffed dots. */
function message(bytes: number): Buffer {
  const lines: string[] = ["Subject: cpu\r\n\r\n"];
  let size = lines[0].length;
  for (let i = 0; size < bytes; i++) {
    const line = (i % 50 === 0 ? ".." : "") + "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(""), "latin1");
}

const BYTES = 300000;

function board(extra: { flash?: SimFlash; romFiles?: { [name: string]: string } } = {}): EspruinoBoard {
  return new EspruinoBoard({
    card: new SimCard({ dir: tempDir("espruino-cpu") }),
    flash: extra.flash || new SimFlash(),
    romFiles: extra.romFiles,
    portMap: { 25: 0, 110: 0, 80: 0, 143: 0, 7: 0 },
    bindHost: "127.0.0.1",
    log: () => undefined,
    clock: () => Math.floor(Date.now() / 1000),
    profile: true,
    seed: 7,
  });
}

async function sendAll(port: number, data: Buffer, until: (received: string) => boolean): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  let received = "";
  await new Promise<void>((resolve, reject) => {
    socket.on("error", reject);
    socket.on("data", (d) => {
      received += d.toString("latin1");
      if (until(received)) resolve();
    });
    socket.write(data);
  });
  socket.destroy();
}

function perByte(c: ProfileCounts, bytes: number): string {
  const f = (n: number) => (n / bytes).toFixed(3);
  return `calls ${f(c.calls)} + iterations ${f(c.iterations)}/byte, scanned ${f(c.scannedBytes)}, copied ${f(c.copiedBytes)}, char reads ${f(c.charReads)}`;
}

test("receiving DATA costs about what writing each chunk to a file costs", async (t) => {
  const body = message(BYTES);
  const dotted = Buffer.concat([body, Buffer.from(".\r\n", "latin1")]);

  // The floor: append every received chunk to a file, acknowledge at the end marker.
  const floor = board();
  floor.run(
    `require("net").createServer(function (socket) {
       var file = E.openFile("/FLOOR.TXT", "a"), total = 0;
       socket.on("data", function (data) {
         file.write(data);
         total += data.length;
         if (total >= ${dotted.length}) { file.close(); socket.write("250 ok\\r\\n"); }
       });
     }).listen(7);`,
    "floor.js",
  );
  await sendAll((await floor.ports())[7], dotted, (r) => r.includes("250 ok"));
  const floorCost = floor.takeProfile();
  await floor.stop();

  // The core: the same bytes as one SMTP DATA body.
  const code = fs.readFileSync(await ensureEspruinoBundle(), "latin1");
  const core = board({ romFiles: { [DEFAULTS_FILE]: encode(settingsToMap({ config: testConfig({ maxMessageBytes: 1024 * 1024 }) })) } });
  core.run(code, "letterbox.js");
  const c = await connect((await core.ports())[25]);
  await c.smtpReply();
  for (const cmd of ["EHLO client.example", "MAIL FROM:<a@remote.example>", "RCPT TO:<alice@example.org>", "DATA"]) {
    c.send(cmd + "\r\n");
    await c.smtpReply();
  }
  core.takeProfile(); // from here on: the DATA body only
  await c.sendBuffer(dotted);
  assert.match(await c.smtpReply(), /^250 /);
  const coreCost = core.takeProfile();
  c.close();
  await core.stop();

  t.diagnostic(`floor (write each chunk): ${perByte(floorCost, dotted.length)}`);
  t.diagnostic(`core DATA path:           ${perByte(coreCost, dotted.length)}`);
  const interpreted = (coreCost.calls + coreCost.iterations) / Math.max(1, floorCost.calls + floorCost.iterations);
  t.diagnostic(`core/floor interpreted work: ${interpreted.toFixed(2)}x`);
  // Guards on the design lines.ts documents (a regression shows up here first): the body is
  // copied about once on its way to the file, scanned about twice (LF and CR), never walked
  // byte by byte in the interpreter, and the interpreted work stays per line and per chunk.
  assert.ok(coreCost.copiedBytes / dotted.length < 1.5, "the body is copied about once");
  assert.ok(coreCost.scannedBytes / dotted.length < 2.5, "the body is scanned at most about twice");
  assert.ok(coreCost.charReads / dotted.length < 0.1, "no byte-by-byte loop over the body");
  assert.ok(((coreCost.calls + coreCost.iterations) * 1024) / dotted.length < 100, "interpreted work per KB stays bounded");
});
