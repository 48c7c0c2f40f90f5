/**
 * The `node` runtime: the core compiled for Node, run in this process, with
 * the HAL implemented on Node's `net`, timers and the simulated card.
 */
import * as crypto from "node:crypto";
import * as dns from "node:dns";
import * as net from "node:net";
import * as v8 from "node:v8";
import type { Connection, ConnectionEvents, ConnectOptions, Hal, Listener, ListenOptions, Timer } from "../firmware/hal";
import { startLetterbox } from "../firmware/main";
import { bindDevicePort } from "./net";
import { cardSpace } from "./space";
import type { RunningBox, Runtime, RuntimeOptions } from "./runtime";

/**
 * Largest chunk handed to onData, and the HAL's sendChunk. The boards see at
 * most one TCP segment (536 or 1460 octets, kept by the lua and espruino
 * runtimes); this runtime is the desktop one, so it takes what a desktop
 * stack delivers. Small chunks are covered by the dialogue tests (1, 3 and
 * 536 octets) and the other runtimes.
 */
const MAX_CHUNK = 16384;

function adoptSocket(socket: net.Socket, onConnection: (conn: Connection) => ConnectionEvents, sockets: Set<net.Socket>): void {
  sockets.add(socket);
  let sending = false;
  let closed = false;
  const conn: Connection = {
    send(data: string) {
      if (sending) throw new Error("HAL violation: send() while a send is outstanding");
      if (closed) return;
      sending = true;
      socket.write(Buffer.from(data, "latin1"), () => {
        sending = false;
        if (!closed) events.onSent();
      });
    },
    close() {
      if (closed) return;
      closed = true;
      socket.end();
    },
    // An IPv4 client of a dual-stack listener shows as "::ffff:a.b.c.d": the boards say "a.b.c.d".
    remoteAddress: socket.remoteAddress && socket.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, ""),
  };
  const events = onConnection(conn);
  socket.on("data", (buf: Buffer) => {
    for (let i = 0; i < buf.length && !closed; i += MAX_CHUNK) {
      events.onData(buf.toString("latin1", i, Math.min(buf.length, i + MAX_CHUNK)));
    }
  });
  socket.on("error", () => socket.destroy());
  socket.on("close", () => {
    sockets.delete(socket);
    closed = true;
    events.onClose(); // once, whoever closed it: the core releases the session here
  });
}

/**
 * Hal.connect on Node's net: the socket joins `sockets` (closed when the box
 * stops) and becomes a Connection once connected; a failure before that is
 * onError, once.
 */
export function nodeConnect(options: ConnectOptions, sockets: Set<net.Socket>): void {
  const socket = net.connect({ host: options.host, port: options.port, family: 4 });
  sockets.add(socket);
  let connected = false;
  socket.once("connect", () => {
    connected = true;
    socket.setNoDelay(true);
    adoptSocket(socket, options.onConnection, sockets);
  });
  socket.once("error", (err: Error) => {
    if (connected) return; // adoptSocket's handlers take it from here
    sockets.delete(socket);
    socket.destroy();
    options.onError(err.message);
  });
}

/** Hal.resolve on the host's resolver (dns.lookup: /etc/hosts, then DNS), IPv4 only as on the boards. */
export function nodeResolve(name: string, callback: (address: string | undefined) => void): void {
  dns.lookup(name, { family: 4 }, (err, address) => callback(err ? undefined : address));
}

/** Hal.random from the operating system's CSPRNG (crypto.randomInt): "entropy". */
export function nodeRandom(): number {
  return crypto.randomInt(2147483648);
}

/** An LF after anything but a CR (Hal.findBareLF). */
const BARE_LF = /[^\r]\n/;

export const nodeRuntime: Runtime = {
  name: "node",
  async start(options: RuntimeOptions): Promise<RunningBox> {
    const binds: Promise<{ devicePort: number; server: net.Server; hostPort: number }>[] = [];
    const sockets = new Set<net.Socket>();
    const timers = new Set<NodeJS.Timeout>();
    const hal: Hal = {
      implementation: "letterbox-sim (node)",
      storage: options.card,
      sendChunk: MAX_CHUNK,
      // The boards' one native search per chunk (Espruino's RegExp, NodeMCU's
      // string.find), so the node runtime takes the DATA reader's same paths.
      findBareLF: (s: string) => BARE_LF.test(s),
      listen(listenOptions: ListenOptions): Listener {
        const bound = bindDevicePort(listenOptions.port, options.portMap, options.bindHost, (socket) =>
          adoptSocket(socket, listenOptions.onConnection, sockets),
        ).then((b) => ({ devicePort: listenOptions.port, server: b.server, hostPort: b.hostPort }));
        binds.push(bound);
        return { close: () => void bound.then((b) => b.server.close()) };
      },
      setTimer(ms: number, callback: () => void): Timer {
        const handle = setTimeout(() => {
          timers.delete(handle);
          callback();
        }, ms);
        timers.add(handle);
        return { cancel: () => (clearTimeout(handle), timers.delete(handle)) };
      },
      now: options.clock,
      serial: options.serial,
      flash: options.flash,
      reboot: options.reboot,
      cardSpace: () => options.card.space() || cardSpace(options.card.dir),
      random: nodeRandom,
      randomQuality: "entropy",
      connect: (connectOptions: ConnectOptions) => nodeConnect(connectOptions, sockets),
      resolve: nodeResolve,
      // The V8 heap this process may still grow into, in KiB (in bytes it passes 2^31, beyond the protocol's integers).
      freeMemory: () => {
        const heap = v8.getHeapStatistics();
        return Math.floor((heap.heap_size_limit - heap.used_heap_size) / 1024);
      },
      memoryUnit: "KiB",
      log: options.log,
    };
    const box = startLetterbox(hal, options.config);
    const bound = await Promise.all(binds);
    const ports: { [devicePort: number]: number } = {};
    for (const b of bound) ports[b.devicePort] = b.hostPort;
    return {
      runtime: "node",
      ports,
      async stop() {
        box.stop();
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const s of sockets) s.destroy();
        await Promise.all(bound.map((b) => new Promise<void>((resolve) => b.server.close(() => resolve()))));
      },
    };
  },
};
