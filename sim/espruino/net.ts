/**
 * Espruino's `require("net")` for the emulated board, on real host sockets
 * (sim/net.ts maps the device's ports to host ports). Strict where the ESP32
 * is (PLATFORMS.md):
 *   - `data` events carry at most 536 bytes, split at arbitrary points;
 *   - write() only appends to a RAM buffer and returns false; `drain` fires
 *     once the buffer has gone out;
 *   - at most 10 sockets, listening ones included: a connection beyond
 *     that is reset, a listen beyond it throws. A socket the program ended
 *     is given back once its last byte is handed out, without waiting for
 *     the peer's FIN (socketserver.c:553-564 closes it then, :589 ->
 *     :226 netCloseSocket -> network_esp32.c:213 close());
 *   - no pause/resume, no timeouts, no remote address (the accept discards
 *     it: libs/network/esp32/network_esp32.c:232);
 *   - outbound net.connect as socketserver.c:1017 and :604-746 (connect());
 *   - write() on a closed socket throws `Error: This socket is closed`
 *     (libs/network/jswrap_net.c:757 jswrap_net_socket_write ->
 *     libs/network/socketserver.c:933 clientRequestWrite, which checks
 *     _socketConnectionOpen, socketserver.c:233). A socket is closed once the
 *     program called end() (clientRequestEnd sets `cls`, socketserver.c:1094)
 *     or once the interpreter saw the peer close (socketIdle kills the
 *     connection, setting `cls`, socketserver.c:229 via :589, in the same
 *     pass that queues the `close` event: writes throw before `close` runs);
 *   - the connection callback is queued, not called at accept
 *     (jsiQueueObjectCallbacks in serverIdle): a peer that connects and
 *     leaves at once is already closed when the program first writes;
 *   - and its `close` event is lost: socketIdle queues the close listeners
 *     present when it sees the close (socketserver.c:585-586), and
 *     jsiQueueObjectCallbacks queues nothing when there are none yet
 *     (src/jsinteractive.c:2084-2086), before the connection callback had a
 *     chance to add them. Only the failing write tells the program.
 */
import * as nodeNet from "node:net";
import type * as net from "node:net";
import { bindDevicePort } from "../net";

/**
 * What the emulated boards' lwIP answers without a DNS server (there is none
 * on the emulated network): a dotted IPv4 address is itself, "localhost" is
 * 127.0.0.1 (lwIP dns.c dns_gethostbyname_addrtype, LWIP_HAVE_LOOPIF), any
 * other name is not found (undefined).
 */
export function lookupLocally(name: string): string | undefined {
  if (name === "localhost") return "127.0.0.1";
  return nodeNet.isIPv4(name) ? name : undefined;
}

export const MAX_SOCKETS = 10;
export const MAX_CHUNK = 536;
/**
 * How long after the accept the program's connection callback runs: the
 * interpreter queues it and runs it from its idle loop. Long enough for a
 * loopback peer that closes right after connecting to be seen closed first.
 */
export const CONNECTION_CALLBACK_DELAY_MS = 5;

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
  module: { createServer(onConnection: (socket: unknown) => void): unknown; connect(options: unknown, callback?: unknown): unknown };
  /** Device port -> host port, once bound. */
  ports: { [devicePort: number]: number };
  /** Resolves when every listen() so far has bound its port. */
  bound(): Promise<void>;
  /** Program functions the emulation holds (connection callbacks, event listeners). */
  callbacks(): unknown[];
  /** Bytes waiting in the write buffers of all sockets. */
  bufferedBytes(): number;
  openSockets(): number;
  /** Connections open (accepted sockets, listening ones not counted). */
  openConnections(): number;
  /** Highest number of sockets (listening included) open at once. */
  peakSockets(): number;
  close(): Promise<void>;
}

export function emulateNet(options: NetOptions): EmulatedNet {
  const servers = new Set<{ server?: net.Server; onConnection: (socket: unknown) => void }>();
  const sockets = new Set<SocketState>();
  /** The sockets that hold one of lwIP's: `sockets` less those the program ended and the interpreter closed. */
  const slots = new Set<SocketState>();
  const binds: Promise<unknown>[] = [];
  const ports: { [devicePort: number]: number } = {};
  let peak = 0;
  const inUse = () => servers.size + slots.size;
  const notePeak = () => (peak = Math.max(peak, inUse()));

  const emit = (state: SocketState, event: string, ...args: unknown[]) => {
    for (const fn of state.listeners[event] || []) options.invoke(`socket ${event}`, fn, ...args);
  };

  /**
   * The program's Socket object over a host socket. `ready`: the program
   * holds it, so its events are delivered (an accepted socket becomes ready
   * when the queued connection callback runs; an outbound one at once).
   * `established`: connected (an outbound one once its peer answered).
   */
  const wrap = (host: net.Socket, outbound: boolean) => {
    let ready = outbound;
    let established = !outbound;
    const state: SocketState = { listeners: {}, buffered: 0, host };
    sockets.add(state);
    slots.add(state);
    notePeak();
    let pending = "";
    let flushing = false;
    let ending = false;
    let closed = false;
    let ended = false;
    /** The program ended the socket and everything went out: the interpreter closes it, its socket is free. */
    const finish = () => {
      slots.delete(state);
      host.end();
    };
    const flush = () => {
      if (flushing || closed) return;
      if (pending.length === 0) {
        if (ending) finish();
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
          if (ending) finish();
        }
      });
    };
    const socket = {
      on(event: string, fn: (...args: unknown[]) => unknown) {
        (state.listeners[event] = state.listeners[event] || []).push(fn);
      },
      // Every Espruino object's (jswrap_object.c:1054): one event's listeners, or all of them.
      removeAllListeners(event?: string) {
        if (event === undefined) state.listeners = {};
        else delete state.listeners[event];
      },
      write(data: unknown) {
        if (closed || ending || ended) options.fail("This socket is closed");
        const s = String(data);
        pending += s;
        state.buffered += s.length;
        if (established) setImmediate(flush);
        return false;
      },
      end(data?: unknown) {
        if (data !== undefined) socket.write(data); // throws on a closed socket, as jswrap_net_socket_end does
        if (closed || ending) return;
        ending = true;
        if (established) setImmediate(flush);
      },
    };
    const early: Buffer[] = [];
    host.on("data", (buf: Buffer) => {
      if (!ready || !established) {
        early.push(buf); // kept by the interpreter until the program has its socket, or its connect event has run
        return;
      }
      deliver(buf);
    });
    const deliver = (buf: Buffer, evenIfClosed = false) => {
      for (let i = 0; i < buf.length && (evenIfClosed || !closed); ) {
        const n = Math.min(buf.length - i, options.chunkSize(MAX_CHUNK));
        emit(state, "data", buf.toString("latin1", i, i + n));
        i += n;
      }
    };
    host.on("error", (err: NodeJS.ErrnoException) => {
      // A refused outbound connect: on the board the blocking connect fails
      // (network_esp32.c:107-119) and only `end` and `close` follow (below).
      if (!closed && established) emit(state, "error", { code: -1, message: err.message });
    });
    // The peer's FIN: the interpreter sees the socket closed (recv fails) and marks it at once.
    host.on("end", () => {
      ended = true;
    });
    host.on("close", () => {
      if (closed) return;
      closed = true;
      sockets.delete(state);
      slots.delete(state);
      if (!ready) return; // no listener yet: the event is lost, as on the board
      if (!established) emit(state, "end"); // socketserver.c:736-740
      emit(state, "close", false);
    });
    return {
      socket,
      /** An outbound socket is connected: `connect`, then `drain` when nothing waits (socketserver.c:693-701). */
      established() {
        established = true;
        emit(state, "connect", socket);
        if (pending.length === 0 && !ending) emit(state, "drain");
        else setImmediate(flush);
        // What came meanwhile is pushed on a later idle pass (socketserver.c:622-625).
        setImmediate(() => {
          for (const buf of early.splice(0)) deliver(buf);
        });
      },
      /** An accepted socket's connection callback runs. */
      ready(onConnection: (socket: unknown) => void) {
        if (ended && !closed) host.destroy(); // the interpreter closes a socket whose peer has gone
        ready = true;
        options.invoke("connection", onConnection, socket);
        for (const buf of early.splice(0)) deliver(buf, true); // received before the close: delivered first (socketserver.c:566)
      },
    };
  };

  const adopt = (host: net.Socket, onConnection: (socket: unknown) => void) => {
    if (inUse() >= MAX_SOCKETS) {
      host.resetAndDestroy(); // lwIP has no free socket: the peer sees a reset
      return;
    }
    const wrapped = wrap(host, false);
    // Queued like the interpreter's connection callback: it runs on a later turn of the event loop.
    setTimeout(() => wrapped.ready(onConnection), CONNECTION_CALLBACK_DELAY_MS);
  };

  /**
   * net.connect(options, callback) (jswrap_net.c:390): the address comes
   * from the name at once (socketserver.c:1028-1044; network.c:169 parses a
   * dotted address, lwIP's dns_gethostbyname answers "localhost"; the
   * emulated network has no DNS server, so other names are not found), and
   * the socket is made at once (:1055-1061, no free lwIP socket: an
   * exception). The board's connect blocks until the peer answered; here it
   * is asynchronous and a refusal arrives as `end` + `close`, the events the
   * board queues after its exception.
   */
  const connect = (connectOptions: unknown, callback?: unknown) => {
    const o = (connectOptions || {}) as { host?: unknown; port?: unknown };
    const address = o.host === undefined ? "127.0.0.1" : lookupLocally(String(o.host));
    if (address === undefined) options.fail("Unable to locate host");
    if (inUse() >= MAX_SOCKETS) options.fail("Unable to create socket");
    const host = nodeNet.connect({ host: address, port: Number(o.port) || 0 });
    host.setNoDelay(true);
    const wrapped = wrap(host, true);
    if (typeof callback === "function") wrapped.socket.on("connect", callback as never); // socketserver.c:922
    host.once("connect", () => setImmediate(() => wrapped.established()));
    return wrapped.socket;
  };

  const module = {
    connect,
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
    openConnections: () => sockets.size,
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
      slots.clear();
      await Promise.all(binds.map((b) => b.catch(() => undefined)));
      await Promise.all(closing);
    },
  };
}
