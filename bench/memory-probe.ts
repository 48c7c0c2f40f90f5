/**
 * One runtime of the simulator in a process of its own, metered while the
 * parent (bench/memory.ts) drives sessions at it from outside. Run with
 * --expose-gc; a third argument "imap" runs it with the IMAP bench's users
 * and configuration (imap-setup.ts). Speaks over the IPC channel:
 *   -> {ready, smtpPort, pop3Port, httpPort, imapPort, unit}
 *   <- {cmd: "start"}  takes the idle reading -> {started}, then samples on a
 *                      timer (catching moments between checkpoints) until
 *   <- {cmd: "sample"} one reading now, at a checkpoint the parent holds the
 *                      sessions at; folded into the peak -> {value}
 *   <- {cmd: "files"}  -> {open: card paths of the files open right now}
 *   <- {cmd: "stop"}   -> {idle, peak, samples, checkpoints}
 *   <- {cmd: "exit"}
 * BENCH_PROBE_LOG=1 prints the core's log lines to stderr (=TEXT: the lines
 * containing TEXT).
 * What is metered, per runtime:
 *   node      V8 heap used after a full collection (the core's objects, the
 *             HAL adapter's and Node's socket objects), in bytes;
 *   lua       the live Lua heap, collectgarbage("count") of the C VM with the
 *             board's numbers after full collections, compiled code (in LFS
 *             on the board) left out (NodeMcu.heapBytes), in bytes;
 *   espruino  the variables the program keeps alive (sim/espruino/memory.ts),
 *             14 bytes each on the board.
 */
import * as path from "node:path";
import type { FileHandle } from "../firmware/hal";
import { SimCard } from "../sim/card";
import { SimFlash } from "../sim/flash";
import type { RunningBox, RuntimeName } from "../sim/runtime";
import { getRuntime } from "../sim/runtimes";
import { imapBenchConfig } from "./imap-setup";
import { letterboxConfig } from "./setup";

export type MemoryUnit = "bytes" | "variables";

export interface ProbeReady {
  ready: true;
  smtpPort: number;
  pop3Port: number;
  httpPort: number;
  /** With the "imap" setup (undefined when the core does not listen on 143). */
  imapPort?: number;
  unit: MemoryUnit;
}

export interface ProbeReading {
  idle: number;
  /** The largest of every reading of the phase: idle, timer, checkpoints and the final one. */
  peak: number;
  /** Readings taken on the timer. */
  samples: number;
  /** Readings taken at the parent's checkpoints. */
  checkpoints: number;
}

/**
 * The card, noting which files are open: the driver tells a session waiting
 * for a file from one being served by it. (The notes are in the node
 * runtime's heap too: some hundred bytes per open file.)
 */
class WatchedCard extends SimCard {
  readonly openPaths = new Map<FileHandle, string>();

  override open(cardPath: string, mode: string): FileHandle {
    const file = super.open(cardPath, mode);
    this.openPaths.set(file, cardPath);
    const close = file.close.bind(file);
    file.close = () => {
      this.openPaths.delete(file);
      close();
    };
    return file;
  }
}

interface Meter {
  unit: MemoryUnit;
  read(): number;
  /** Least pause between samples; the probe also waits as long as the last reading took, so that the sessions progress. */
  intervalMs: number;
}

function meterFor(name: RuntimeName, box: RunningBox): Meter {
  if (name === "lua") {
    const lua = box as unknown as { board(): { nodemcu: { heapBytes(): number } } };
    return { unit: "bytes", read: () => lua.board().nodemcu.heapBytes(), intervalMs: 5 };
  }
  if (name === "espruino") {
    const espruino = box as unknown as { board: { memory(): { variables: number } } };
    const read = (): number => {
      // A heap snapshot now and then misses the estimator's marker object; the next one finds it.
      for (let attempt = 1; ; attempt++) {
        try {
          return espruino.board.memory().variables;
        } catch (e) {
          if (attempt >= 3) throw e;
        }
      }
    };
    return { unit: "variables", read, intervalMs: 100 };
  }
  const gc = (global as unknown as { gc?: () => void }).gc;
  if (!gc) throw new Error("memory-probe: run node with --expose-gc");
  return {
    unit: "bytes",
    read: () => {
      gc();
      return process.memoryUsage().heapUsed;
    },
    intervalMs: 2,
  };
}

async function main(): Promise<void> {
  const name = process.argv[2] as RuntimeName;
  const dir = process.argv[3];
  const send = (message: object) => process.send!(message);
  const imap = process.argv[4] === "imap";
  const card = new WatchedCard({ dir: path.join(dir, "card") });
  const box = await getRuntime(name).start({
    config: imap ? imapBenchConfig() : letterboxConfig(),
    card,
    // 143 too: IMAP must not take the host's real port.
    portMap: { 25: 0, 110: 0, 80: 0, 143: 0 },
    bindHost: "127.0.0.1",
    log: (line: string) => {
      const only = process.env.BENCH_PROBE_LOG;
      if (only && (only === "1" || line.indexOf(only) >= 0)) console.error(`probe ${name}: ${line}`);
    },
    clock: () => Math.floor(Date.now() / 1000),
    flash: new SimFlash(),
  });
  const meter = meterFor(name, box);
  meter.read(); // settle: the first reading of a runtime may allocate its own bookkeeping
  let sampling: NodeJS.Timeout | undefined;
  let reading: ProbeReading = { idle: 0, peak: 0, samples: 0, checkpoints: 0 };
  const fold = (value: number): number => {
    if (value > reading.peak) reading.peak = value;
    return value;
  };
  const sample = () => {
    const started = Date.now();
    fold(meter.read());
    reading.samples++;
    sampling = setTimeout(sample, Math.max(meter.intervalMs, Date.now() - started));
  };
  process.on("message", (message: { cmd: string }) => {
    if (message.cmd === "start") {
      const idle = meter.read();
      reading = { idle, peak: idle, samples: 0, checkpoints: 0 };
      sampling = setTimeout(sample, meter.intervalMs);
      send({ started: true });
    } else if (message.cmd === "sample") {
      reading.checkpoints++;
      send({ value: fold(meter.read()) });
    } else if (message.cmd === "files") {
      send({ open: [...card.openPaths.values()] });
    } else if (message.cmd === "stop") {
      clearTimeout(sampling);
      fold(meter.read()); // after the last session closed: what stays behind
      send(reading);
    } else if (message.cmd === "exit") {
      clearTimeout(sampling);
      void box.stop().then(() => process.exit(0));
    }
  });
  send({ ready: true, smtpPort: box.ports[25], pop3Port: box.ports[110], httpPort: box.ports[80], imapPort: box.ports[143], unit: meter.unit } as ProbeReady);
}

main().catch((e) => {
  console.error(`memory-probe: ${(e as Error).stack || e}`);
  process.exit(1);
});
