/**
 * Espruino's `require("net")` for the emulated board, on real host sockets
 * (sim/net.ts maps the device's ports to host ports). Strict where the ESP32
 * is (PLATFORMS.md):
 *   - `data` events carry at most 536 bytes, split at arbitrary points;
 *   - write() only appends to a RAM buffer and returns false; `drain` fires
 *     once the buffer has gone out;
 *   - at most 10 sockets, listening ones included: a connection beyond
 *     that is reset, a listen beyond it throws;
 *   - no pause/resume, no timeouts, no remote address.
 */
import type * as net from "node:net";
import { bindDevicePort } from "../net";

export const MAX_SOCKETS = 10;
export const MAX_CHUNK = 536;

export interface NetOptions {
  portMap: { [devicePort: number]: number };
  bindHost: string;
  /** Runs a program callback the way Espruino does: an exception is reported, not fatal. */
  invoke: (what: string, fn: (...args: unknown[]) => unknown, ...args: unknown[]) => void;
  fail: (message: string) => never;
  /** Random integer in [1, max]: where received data is split. */
  chunkSize: (max: number) => number;
}

/** One emulated socket's state, kept outside the object the program holds. */
interface SocketState {
  listeners: { [event: string]: ((...args: unknown[]) => unknown)[] };
  /** Bytes written and not yet handed to the host socket, plus those in flight. */
  buffered: number;
  host: net.Socket;
}

export interface EmulatedNet {
  module: { createServer(onConnection: (socket: unknown) => void): unknown };
  /** Device port -> host port, once bound. */
  ports: { [devicePort: number]: number };
  /** Resolves when every listen() so far has bound its port. */
  bound(): Promise<void>;
  /** Program functions the emulation holds (connection callbacks, event listeners). */
  callbacks(): unknown[];
  /** Bytes waiting in the write buffers of all sockets. */
  bufferedBytes(): number;
  openSockets(): number;
  /** Highest number of sockets (listening included) open at once. */
  peakSockets(): number;
  close(): Promise<void>;
}

export function emulateNet(options: NetOptions): EmulatedNet {
  const servers = new Set<{ server?: net.Server; onConnection: (socket: unknown) => void }>();
  const sockets = new Set<SocketState>();
  const binds: Promise<unknown>[] = [];
  const ports: { [devicePort: number]: number } = {};
  let peak = 0;
  const inUse = () => servers.size + sockets.size;
  const notePeak = () => (peak = Math.max(peak, inUse()));

  const emit = (state: SocketState, event: string, ...args: unknown[]) => {
    for (const fn of state.listeners[event] || []) options.invoke(`socket ${event}`, fn, ...args);
  };

  const adopt = (host: net.Socket, onConnection: (socket: unknown) => void) => {
    if (inUse() >= MAX_SOCKETS) {
      host.resetAndDestroy(); // lwIP has no free socket: the peer sees a reset
      return;
    }
    const state: SocketState = { listeners: {}, buffered: 0, host };
    sockets.add(state);
    notePeak();
    let pending = "";
    let flushing = false;
    let ending = false;
    let closed = false;
    const flush = () => {
      if (flushing || closed) return;
      if (pending.length === 0) {
        if (ending) host.end();
        return;
      }
      const out = pending;
      pending = "";
      flushing = true;
      host.write(Buffer.from(out, "latin1"), () => {
        flushing = false;
        state.buffered -= out.length;
        if (closed) return;
        if (pending.length > 0) flush();
        else {
          emit(state, "drain");
          if (ending) host.end();
        }
      });
    };
    const socket = {
      on(event: string, fn: (...args: unknown[]) => unknown) {
        (state.listeners[event] = state.listeners[event] || []).push(fn);
      },
      write(data: unknown) {
        if (closed || ending) return false;
        const s = String(data);
        pending += s;
        state.buffered += s.length;
        setImmediate(flush);
        return false;
      },
      end(data?: unknown) {
        if (data !== undefined) socket.write(data);
        if (closed || ending) return;
        ending = true;
        setImmediate(flush);
      },
    };
    host.on("data", (buf: Buffer) => {
      for (let i = 0; i < buf.length && !closed; ) {
        const n = Math.min(buf.length - i, options.chunkSize(MAX_CHUNK));
        emit(state, "data", buf.toString("latin1", i, i + n));
        i += n;
      }
    });
    host.on("error", (err: NodeJS.ErrnoException) => {
      if (!closed) emit(state, "error", { code: -1, message: err.message });
    });
    host.on("close", () => {
      if (closed) return;
      closed = true;
      sockets.delete(state);
      emit(state, "close", false);
    });
    options.invoke("connection", onConnection, socket);
  };

  const module = {
    createServer(onConnection: (socket: unknown) => void) {
      const entry: { server?: net.Server; onConnection: (socket: unknown) => void } = { onConnection };
      const server = {
        listen(port: number) {
          if (inUse() >= MAX_SOCKETS) options.fail(`no free socket to listen on port ${port}`);
          servers.add(entry);
          notePeak();
          const bind = bindDevicePort(Number(port), options.portMap, options.bindHost, (host) => adopt(host, onConnection)).then(
            (b) => {
              entry.server = b.server;
              ports[Number(port)] = b.hostPort;
              if (!servers.has(entry)) b.server.close(); // closed before it was bound
            },
          );
          binds.push(bind);
          return server;
        },
        close() {
          servers.delete(entry);
          if (entry.server) entry.server.close();
        },
      };
      return server;
    },
  };

  return {
    module,
    ports,
    bound: async () => {
      await Promise.all(binds);
    },
    callbacks() {
      const out: unknown[] = [];
      for (const s of servers) out.push(s.onConnection);
      for (const s of sockets) for (const event of Object.keys(s.listeners)) out.push(...s.listeners[event]);
      return out;
    },
    bufferedBytes() {
      let n = 0;
      for (const s of sockets) n += s.buffered;
      return n;
    },
    openSockets: () => inUse(),
    peakSockets: () => peak,
    async close() {
      const closing: Promise<void>[] = [];
      for (const s of servers) {
        if (s.server) {
          const server = s.server;
          closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
        }
      }
      servers.clear();
      for (const s of sockets) s.host.destroy();
      sockets.clear();
      await Promise.all(binds.map((b) => b.catch(() => undefined)));
      await Promise.all(closing);
    },
  };
}
