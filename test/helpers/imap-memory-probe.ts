/**
 * One runtime of the simulator in a process of its own, metered for
 * test/imap-memory.test.ts while the test drives IMAP and POP3 clients at it
 * from outside (so the test's own clients are never in the reading).
 * Started as `node --expose-gc imap-memory-probe.js RUNTIME CARD_DIR
 * CONFIG_JSON`; speaks over the IPC channel, one answer per request:
 *   -> {ready, smtp, pop3, imap, unit}
 *   <- {cmd: "read"}          one reading now -> {value}
 *   <- {cmd: "watch", at, edges}
 *                             begins a phase: a reading whenever the IMAP
 *                             sockets have sent each offset of `at` (octets
 *                             since "watch"), taken inside that write, with
 *                             the response in flight; on the lua runtime
 *                             also after every 4th socket callback
 *                             (NodeMcu.heapSampleEvery); `edges`: one more
 *                             now and one at "stop" -> {started}
 *   <- {cmd: "stop"}          -> {peak: the largest reading of the phase,
 *                             samples, at: [the readings at `at`]}
 *   <- {cmd: "exit"}
 * The meters are bench/memory-probe.ts's: node, V8's heap used after a full
 * collection (bytes); lua, the live heap of the LUA_32BITS VM after full
 * collections, compiled code left out (bytes); espruino, the emulated
 * board's estimate of the variables the program keeps alive
 * (sim/espruino/memory.ts; 14 bytes each on the board).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import type { Config } from "../../firmware/config";
import { SimCard } from "../../sim/card";
import type { RunningBox, RuntimeName } from "../../sim/runtime";
import { getRuntime } from "../../sim/runtimes";

export type ProbeUnit = "bytes" | "variables";

export interface ProbeReady {
  ready: true;
  smtp: number;
  pop3: number;
  imap: number;
  unit: ProbeUnit;
}

export interface ProbeStop {
  peak: number;
  samples: number;
  at: number[];
}

type Read = () => number;

function meterFor(name: RuntimeName, box: RunningBox): { unit: ProbeUnit; read: Read; lua?: { heapSampleEvery: number; peakHeap: number; sampleHeap(): number } } {
  if (name === "lua") {
    const nodemcu = (box as unknown as { board(): { nodemcu: { heapBytes(): number; heapSampleEvery: number; peakHeap: number; sampleHeap(): number } } }).board().nodemcu;
    return { unit: "bytes", read: () => nodemcu.heapBytes(), lua: nodemcu };
  }
  if (name === "espruino") {
    const board = (box as unknown as { board: { memory(): { variables: number } } }).board;
    return {
      unit: "variables",
      read: () => {
        // A heap snapshot now and then misses the estimator's marker object; the next one finds it (as bench/memory-probe.ts).
        for (let attempt = 1; ; attempt++) {
          try {
            return board.memory().variables;
          } catch (e) {
            if (attempt >= 3) throw e;
          }
        }
      },
    };
  }
  const gc = (global as unknown as { gc?: () => void }).gc;
  if (!gc) throw new Error("imap-memory-probe: run node with --expose-gc");
  return {
    unit: "bytes",
    read: () => {
      gc();
      return process.memoryUsage().heapUsed;
    },
  };
}

async function main(): Promise<void> {
  const [name, cardDir, configFile] = process.argv.slice(2) as [RuntimeName, string, string];
  const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as Config;
  const box = await getRuntime(name).start({
    config,
    card: new SimCard({ dir: cardDir }),
    portMap: { 25: 0, 110: 0, 80: 0, 143: 0 },
    bindHost: "127.0.0.1",
    log: (line) => {
      if (process.env.IMAP_PROBE_LOG) console.error(`probe ${name}: ${line}`);
    },
    clock: () => Math.floor(Date.now() / 1000),
  });
  const imapPort = box.ports[143];
  const meter = meterFor(name, box);
  meter.read(); // the first reading may allocate the meter's own bookkeeping
  let peak = 0;
  let samples = 0;
  let marks: number[] = [];
  let at: number[] = [];
  let sent = 0;
  let edges = false;
  const fold = (v: number): number => {
    samples++;
    if (v > peak) peak = v;
    return v;
  };
  // Every octet the box writes to an IMAP client passes here (each runtime's sockets are Node's).
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, data: unknown, ...rest: unknown[]) {
    const result = (write as (...a: unknown[]) => boolean).call(this, data, ...rest);
    if (at.length > 0 && this.localPort === imapPort && data !== undefined) {
      sent += typeof data === "string" ? Buffer.byteLength(data, "latin1") : (data as Uint8Array).length;
      while (at.length > 0 && sent >= at[0]) {
        at.shift();
        marks.push(fold(meter.read()));
      }
    }
    return result;
  } as typeof net.Socket.prototype.write;
  const send = (m: object) => process.send!(m);
  process.on("message", (m: { cmd: string; at?: number[]; edges?: boolean }) => {
    if (m.cmd === "read") send({ value: meter.read() });
    else if (m.cmd === "watch") {
      samples = 0;
      peak = 0;
      edges = m.edges === true;
      if (edges) fold(meter.read());
      marks = [];
      at = (m.at || []).slice();
      sent = 0;
      if (meter.lua) {
        meter.lua.peakHeap = peak;
        meter.lua.heapSampleEvery = 4;
      }
      send({ started: true });
    } else if (m.cmd === "stop") {
      at = [];
      if (meter.lua) {
        meter.lua.heapSampleEvery = 0;
        if (meter.lua.peakHeap > peak) peak = meter.lua.peakHeap;
      }
      if (edges) fold(meter.read());
      send({ peak, samples, at: marks } as ProbeStop);
    } else if (m.cmd === "exit") {
      void box.stop().then(() => process.exit(0));
    }
  });
  send({ ready: true, smtp: box.ports[25], pop3: box.ports[110], imap: imapPort, unit: meter.unit } as ProbeReady);
}

main().catch((e) => {
  console.error(`imap-memory-probe: ${(e as Error).stack || e}`);
  process.exit(1);
});
