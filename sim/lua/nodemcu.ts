/**
 * NodeMCU's modules (branch dev-esp32) emulated for the C Lua VM of
 * sim/lua/vm.ts, written from the firmware's sources: every function cites
 * the `components/...` file:line it follows (paths relative to the
 * nodemcu-firmware repository). What the branch lacks is absent here, so a
 * call fails as on the board (`attempt to call a nil value`). `net` runs on
 * real TCP sockets, `tmr` on Node timers in 10 ms ticks, `io`/`file` on the
 * simulated card (/SD0) and SPIFFS, `node.LFS` on the emulated Lua Flash
 * Store. Strict where the board is strict: a timer under one tick asserts
 * (the board restarts), callbacks are released only when Lua collects their
 * socket, at most four files open per file system, 8.3 names on the card.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import type { SerialLine } from "../../firmware/hal";
import type { SimCard } from "../card";
import { lookupLocally } from "../espruino/net";
import { bindDevicePort } from "../net";
import { mulberry32 } from "../prng";
import { cardPathOf, CARD_MOUNT, FileError, OpenFile, openFile } from "./files";
import { LfsStore } from "./lfs";
import { Spiffs } from "./spiffs";
import { checkBytes, checkText, LuaState, LuaVm, optText, pushBytes, pushText, raise } from "./vm";
import { lauxlib, lua } from "./wasm";

/** Largest `receive` chunk: one TCP segment on the ESP32's lwIP. */
export const MAX_RECEIVE = 1460;
/** Free heap of an ESP32-WROOM with Wi-Fi up before the program loads (PLATFORMS.md; an estimate, not measured). */
export const HEAP_BYTES = 200 * 1024;
/** CONFIG_NODEMCU_MAX_OPEN_FILES (components/platform/Kconfig:29): open files per file system. */
export const MAX_OPEN_FILES = 4;
/** CONFIG_FREERTOS_HZ of ESP-IDF's default sdkconfig: one tick is 10 ms. */
export const TICK_MS = 10;
/** components/modules/tmr.c:20 */
const MAX_TIMEOUT = 6870947;
/** SPIFFS as formatted by NodeMCU's default partition table (an estimate for file.fsinfo()). */
const SPIFFS_TOTAL = 448 * 1024;
const NOREF = -2;

// lwIP error codes passed to "disconnection"/"reconnection" (lwip/err.h).
const ERR_OK = 0;
const ERR_RTE = -4;
const ERR_RST = -14;
/** How long lwIP's DNS takes to give up on a name (no DNS server on the emulated network; shortened). */
const DNS_GIVE_UP_MS = 50;
/** lwIP's DNS_MAX_NAME_LENGTH: a longer name is ERR_ARG (dns.c dns_gethostbyname_addrtype). */
const DNS_MAX_NAME_LENGTH = 256;

// components/modules/tmr.c:10-13
const TIMER_MODE_OFF = 3;
const TIMER_MODE_SINGLE = 0;
const TIMER_MODE_SEMI = 2;
const TIMER_MODE_AUTO = 1;
const TIMER_IDLE_FLAG = 1 << 7;

// ESP-IDF 5 spi_host_device_t (SPI1_HOST 0, SPI2_HOST 1, SPI3_HOST 2); sdmmc.c:23-29 adds 100 for SD-SPI.
const SPI1_HOST = 0;
const SPI2_HOST = 1;
const SPI3_HOST = 2;
const LSDMMC_HOST_SDSPI = 100;

export interface NodeMcuOptions {
  vm: LuaVm;
  spiffs: Spiffs;
  /** The card in the slot; undefined: none inserted. */
  card?: SimCard;
  /** The Lua Flash Store: survives restarts, as flash does. */
  lfs?: LfsStore;
  portMap: { [devicePort: number]: number };
  bindHost: string;
  clock: () => number;
  /** node.restart(), a FreeRTOS assert, node.LFS.reload(). */
  onRestart: () => void;
  /** UART 0 as seen by the host; undefined: nobody listening (print goes to the VM's write). */
  serial?: SerialLine;
  /** Seed for the receive split points (reproducible runs). */
  seed?: number;
}

/** lnet_userdata of a TCP client socket (net.c:235-262). */
interface SocketState {
  socket?: net.Socket;
  /** Registry reference to the socket's own userdata, held while connected (net.c:1060, released net.c:1101 / 779). */
  selfRef: number;
  /** Callback references, released only by net_delete (the socket's __gc, net.c:786). */
  handlers: { [event: string]: number };
  /** Bytes of the last send not yet acknowledged (num_send, net.c:622). */
  sending: number;
  closing: boolean;
  /** A client socket between net_connect and its connection or error (the netconn exists, net.c:550). */
  connecting?: boolean;
  /** Lookups this socket waits for (wait_dns, net.c:422): its self reference stays while any run. */
  waitDns?: number;
}

interface ServerState {
  selfRef: number;
  acceptRef: number;
  port?: number;
  server?: net.Server;
  closed: boolean;
}

/** tmr_struct_t (tmr.c:25-30). */
interface TimerState {
  cbRef: number;
  selfRef: number;
  interval: number;
  mode: number;
  handle?: NodeJS.Timeout;
  /** The FreeRTOS timer exists (xTimerCreate succeeded). */
  created: boolean;
}

interface SdCardState {
  mounted: boolean;
}

const WIFI_EVENTS = ["start", "stop", "connected", "disconnected", "authmode_changed", "got_ip"]; // wifi_sta.c:62-69

export class NodeMcu {
  readonly vm: LuaVm;
  private L: LuaState;
  private spiffs: Spiffs;
  private card?: SimCard;
  private lfs: LfsStore;
  private mounted = false;
  private sockets = new Set<SocketState>();
  private servers: ServerState[] = [];
  private timers = new Set<TimerState>();
  private immediates = new Set<NodeJS.Immediate>();
  private files = new Set<OpenFile>();
  private spiffsOpen = 0;
  private spiBuses = new Set<number>();
  private stopped = false;
  private random: () => number;
  private wifiEvents: { [event: string]: number } = {};
  private lfsFunctions = new Map<string, number>();
  /** uart.on("data") receiver for UART 0 and whether console input still goes to the Lua prompt (run_input, uart.c:146-157). */
  private uartReceiver = NOREF;
  private runInput = true;
  private consoleLine = "";
  private consolePending = "";
  private consoleLastCr = false;
  /** Binds started by server:listen(), for the runtime to await. */
  readonly binds: Promise<{ devicePort: number; hostPort: number }>[] = [];
  /** Highest live Lua heap seen by sampleHeap(), in bytes. */
  peakHeap = 0;
  /** Measure the live heap after every n-th socket callback (0: only when asked). */
  heapSampleEvery = 0;
  private callbacks = 0;
  /** Reads of the hardware RNG (sodium.random), for tests of where randomness comes from. */
  rngReads = 0;
  /** Set when the board panicked (a FreeRTOS assert): it is restarting. */
  panicked?: string;

  constructor(private options: NodeMcuOptions) {
    this.vm = options.vm;
    this.L = options.vm.L;
    this.spiffs = options.spiffs;
    this.card = options.card;
    this.lfs = options.lfs ?? new LfsStore();
    this.random = mulberry32(options.seed ?? 1);
    this.installNet();
    this.installTmr();
    this.installIo();
    this.installFile();
    this.installSd();
    this.installNode();
    this.installUart();
    this.installOthers();
    options.serial?.setReceiver((data) => this.consoleInput(data));
  }

  /** Stops every socket, server and timer and frees the VM: the board is off. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) if (t.handle) clearTimeout(t.handle);
    this.timers.clear();
    for (const i of this.immediates) clearImmediate(i);
    for (const h of this.timerHandles) clearTimeout(h);
    for (const s of this.sockets) s.socket?.destroy();
    this.sockets.clear();
    for (const f of this.files) if (!f.closed) f.close(); // power off: the card forgets open handles
    this.files.clear();
    await Promise.all(
      this.servers.map((s) => new Promise<void>((resolve) => (s.server && s.server.listening ? s.server.close(() => resolve()) : resolve()))),
    );
    this.options.serial?.setReceiver(() => {});
    this.vm.close();
  }

  /** The live Lua heap in RAM now: collectgarbage("count") * 1024 after a full collection, less the code LFS keeps in flash. */
  heapBytes(): number {
    return Math.max(0, this.vm.heapBytes(true) - this.vm.codeBytes);
  }

  sampleHeap(): number {
    const bytes = this.heapBytes();
    if (bytes > this.peakHeap) this.peakHeap = bytes;
    return bytes;
  }

  /** Sockets Lua has not collected yet (each holds its callbacks until then). */
  liveSockets(): number {
    return this.liveSocketCount;
  }
  private liveSocketCount = 0;

  /** Runs `fn` from the event loop (a task post) unless the board stopped. */
  private later(fn: () => void): void {
    const handle = setImmediate(() => {
      this.immediates.delete(handle);
      if (!this.stopped) fn();
    });
    this.immediates.add(handle);
  }

  /** Calls a registry function as luaL_pcallx does (lnodemcu.c): errors are reported, the board restarts. */
  private pcall(ref: number, pushArgs?: (L: LuaState) => number): void {
    if (this.stopped || ref === NOREF) return;
    this.vm.call(ref, pushArgs);
  }

  /**
   * A FreeRTOS configASSERT: the firmware aborts and the board restarts.
   * The running Lua code is unwound and nothing else of this boot runs.
   */
  private panic(L: LuaState, message: string): never {
    this.panicked = message;
    this.vm.halted = true;
    this.console(`\n${message}\n\nabort() was called\nRebooting...\n`);
    this.stopped = true;
    setImmediate(() => this.options.onRestart());
    return raise(L, message);
  }

  /** Text to UART 0 (print, io.write, uart.write(0, ...), panics). */
  private console(text: string): void {
    if (this.options.serial) this.options.serial.write(text);
    else this.vm.write(text);
  }

  // ---- net (components/modules/net.c) ----

  private installNet(): void {
    const vm = this.vm;
    // net.c:1111-1117
    vm.defineClass(
      "net.tcpserver",
      {
        listen: (L) => this.listen(L),
        close: (L) => {
          // net.c:757 net_close
          const s = vm.checkObject<ServerState>(L, 1, "net.tcpserver");
          if (!s.server && s.port === undefined) raise(L, "not connected");
          s.closed = true;
          s.server?.close();
          s.port = undefined;
          if (s.selfRef !== NOREF) lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, s.selfRef);
          s.selfRef = NOREF;
          return 0;
        },
      },
      (L, state) => {
        // net.c:786 net_delete (server): the accept callback goes with the object
        const s = state as ServerState;
        s.closed = true;
        s.server?.close();
        lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, s.acceptRef);
      },
    );
    // net.c:1119-1129
    vm.defineClass(
      "net.tcpsocket",
      {
        on: (L) => {
          // net.c:561 net_on
          const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
          const name = checkText(L, 2);
          if (!["connection", "disconnection", "reconnection", "dns", "receive", "sent"].includes(name)) raise(L, "invalid callback name");
          if (lua.lua_isfunction(L, 3)) {
            lua.lua_pushvalue(L, 3);
            lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, s.handlers[name] ?? NOREF);
            s.handlers[name] = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
          } else if (lua.lua_isnil(L, 3)) {
            lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, s.handlers[name] ?? NOREF);
            delete s.handlers[name];
          } else raise(L, "invalid callback function");
          return 0;
        },
        send: (L) => {
          // net.c:603 net_send
          const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
          const data = checkBytes(L, 2);
          if (data.length === 0) raise(L, "no data to send");
          if (lua.lua_isfunction(L, 3)) {
            lua.lua_pushvalue(L, 3);
            lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, s.handlers.sent ?? NOREF);
            s.handlers.sent = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
          }
          if (!s.socket || s.connecting || s.selfRef === NOREF) raise(L, "not connected"); // net.c:646
          // Stricter than net.c, which overwrites num_send (net.c:622) and loses
          // the first "sent": PLATFORMS.md's rule of one send outstanding.
          if (s.sending > 0) raise(L, "send in progress: wait for the sent callback (one send outstanding)");
          s.sending = data.length;
          const socket = s.socket;
          socket.write(data, () => {
            // EVT_SENT with the whole length acknowledged (net.c:300-303)
            s.sending = 0;
            if (!this.stopped && s.socket === socket && s.selfRef !== NOREF) this.callSocket(s, "sent", () => 1);
          });
          return 0;
        },
        close: (L) => {
          // net.c:757 net_close: no "disconnection" for a close of our own
          const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
          if (!s.socket && !s.connecting) raise(L, "not connected");
          s.closing = true;
          if (s.connecting) s.socket?.destroy();
          else s.socket?.end();
          s.socket = undefined;
          s.connecting = false;
          if (!s.waitDns) this.releaseSelf(L, s); // net.c:776-782
          return 0;
        },
        connect: (L) => this.connect(L),
        getpeer: (L) => {
          // net.c:699 net_getpeer
          const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
          if (!s.socket || s.connecting || !s.socket.remotePort) {
            lua.lua_pushnil(L);
            lua.lua_pushnil(L);
            return 2;
          }
          lua.lua_pushinteger(L, s.socket.remotePort);
          pushText(L, s.socket.remoteAddress ?? "");
          return 2;
        },
      },
      (L, state) => {
        // net.c:786 net_delete: only now are the callbacks released
        const s = state as SocketState;
        s.socket?.destroy();
        s.socket = undefined;
        for (const ref of Object.values(s.handlers)) lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, ref);
        s.handlers = {};
        this.releaseSelf(L, s);
        this.liveSocketCount--;
      },
    );
    // net.c:1148-1158
    vm.setModule(
      "net",
      {
        createServer: (L) => {
          // net.c:371 net_createServer
          const type = lauxlib.luaL_optinteger(L, 1, 1);
          lauxlib.luaL_optinteger(L, 2, 30); // keep-alive seconds: not an idle timer
          if (type === 2) raise(L, "UDP sockets are not emulated");
          if (type !== 1) raise(L, "invalid type");
          const server: ServerState = { selfRef: NOREF, acceptRef: NOREF, closed: false };
          this.servers.push(server);
          vm.pushObject("net.tcpserver", server);
          return 1;
        },
        createConnection: (L) => {
          // net.c:386 net_createConnection: a TCP client, not connected yet
          const type = lauxlib.luaL_optinteger(L, 1, 1);
          const secure = lauxlib.luaL_optinteger(L, 2, 0);
          if (type === 2) raise(L, "UDP sockets are not emulated");
          if (type !== 1) raise(L, "invalid type");
          if (secure) raise(L, "secure connections not yet supported");
          const state: SocketState = { selfRef: NOREF, handlers: {}, sending: 0, closing: false };
          this.sockets.add(state);
          vm.pushObject("net.tcpsocket", state);
          this.liveSocketCount++;
          return 1;
        },
      },
      { TCP: 1, UDP: 2 }, // net.c:42-43
    );
    // net.c:1142-1146 net.dns
    lua.lua_getglobal(this.L, "net");
    lua.lua_newtable(this.L);
    vm.setFields({
      resolve: (L) => {
        // net.c:886 net_dns_static: callback(ip) from the event loop (ldnsstatic_cb, net.c:986)
        const name = checkText(L, 1);
        lauxlib.luaL_checktype(L, 2, lua.LUA_TFUNCTION);
        const address = this.lookup(L, name); // raises like lwip_lua_checkerr (net.c:908)
        lua.lua_pushvalue(L, 2);
        const ref = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
        this.dnsAnswer(address, () => {
          lua.lua_rawgeti(this.L, lua.LUA_REGISTRYINDEX, ref);
          lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
          if (address === undefined) lua.lua_pushnil(this.L);
          else pushText(this.L, address);
          vm.callStack(1);
        });
        return 0;
      },
    });
    lua.lua_setfield(this.L, -2, "dns");
    lua.lua_pop(this.L, 1);
  }

  /**
   * lwIP's dns_gethostbyname as the emulated network answers it: a dotted
   * address or "localhost" at once (ERR_OK), an empty or too long name
   * raises "illegal argument" (ERR_ARG via lwip_lua_checkerr, net.c:210),
   * any other name goes to a DNS server the emulated network lacks and is
   * not found (undefined, later).
   */
  private lookup(L: LuaState, name: string): string | undefined {
    if (name.length === 0 || name.length >= DNS_MAX_NAME_LENGTH) raise(L, "illegal argument");
    return lookupLocally(name);
  }

  /** net_dns_cb (net.c:120): the answer goes through a task post; a name not found only after the DNS gave up. */
  private dnsAnswer(address: string | undefined, answer: () => void): void {
    if (address !== undefined) return this.later(answer);
    const handle = setTimeout(() => {
      this.timerHandles.delete(handle);
      if (!this.stopped) answer();
    }, DNS_GIVE_UP_MS);
    this.timerHandles.add(handle);
  }
  private timerHandles = new Set<NodeJS.Timeout>();

  /**
   * net.c:536 net_connect(port, [host]): the socket holds itself while it
   * resolves and connects (lnet_socket_resolve_dns, net.c:420-427); the
   * lookup's answer calls "dns" (socket, ip or nil) and then connects
   * (ldnsfound_cb, net.c:960-979); connected: "connection" (lconnected_cb,
   * net.c:1004); refused: lerr_cb (net.c:1085) with ERR_RST. A name not
   * found connects to no address: ERR_RTE (lwIP tcp_connect finds no route;
   * assumed to reach lerr_cb like any netconn error).
   */
  private connect(L: LuaState): number {
    const s = this.vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
    if (s.socket || s.connecting) raise(L, "already connected");
    const port = lauxlib.luaL_checkinteger(L, 2);
    if (port === 0) raise(L, "specify port");
    const domain = lua.lua_isstring(L, 3) ? checkText(L, 3) : "127.0.0.1";
    const address = this.lookup(L, domain);
    s.connecting = true;
    s.closing = false;
    if (s.selfRef === NOREF) {
      lua.lua_pushvalue(L, 1);
      s.selfRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    }
    s.waitDns = (s.waitDns ?? 0) + 1;
    this.dnsAnswer(address, () => {
      this.callSocket(s, "dns", (L2) => (address === undefined ? lua.lua_pushnil(L2) : pushText(L2, address), 2));
      s.waitDns = (s.waitDns ?? 1) - 1;
      if (!s.connecting || this.vm.isClosed) {
        if (!s.waitDns && !this.vm.isClosed) this.releaseSelf(this.L, s); // closed while looking up (net.c:977)
        return;
      }
      if (address === undefined) return this.connectFailed(s, ERR_RTE);
      const socket = net.connect({ host: address, port });
      socket.setNoDelay(true);
      s.socket = socket;
      socket.once("connect", () => {
        if (s.socket !== socket || this.stopped) return;
        s.connecting = false;
        this.callSocket(s, "connection", () => 1);
      });
      this.attach(s, socket);
    });
    return 0;
  }

  /** lerr_cb (net.c:1085) for a connect that failed: "reconnection" when registered, else "disconnection"; the self reference goes. */
  private connectFailed(s: SocketState, err: number): void {
    s.connecting = false;
    s.socket = undefined;
    const event = s.handlers.reconnection !== undefined ? "reconnection" : "disconnection";
    this.callSocket(s, event, (L2) => (lua.lua_pushinteger(L2, err), 2));
    if (!this.vm.isClosed && !s.waitDns) this.releaseSelf(this.L, s);
  }

  private releaseSelf(L: LuaState, s: SocketState): void {
    if (s.selfRef === NOREF) return;
    lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, s.selfRef);
    s.selfRef = NOREF;
  }

  /** net.c:463 net_listen: server:listen([port], [ip], callback). */
  private listen(L: LuaState): number {
    const s = this.vm.checkObject<ServerState>(L, 1, "net.tcpserver");
    if (s.port !== undefined) raise(L, "already listening");
    let stack = 2;
    let port = 0;
    if (lua.lua_isnumber(L, stack)) port = lua.lua_tointeger(L, stack++);
    if (lua.lua_isstring(L, stack)) checkText(L, stack++);
    if (!lua.lua_isfunction(L, stack)) raise(L, "need callback");
    lua.lua_pushvalue(L, stack);
    lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, s.acceptRef);
    s.acceptRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    s.port = port;
    if (s.selfRef === NOREF) {
      lua.lua_pushvalue(L, 1);
      s.selfRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    }
    const bound = bindDevicePort(port, this.options.portMap, this.options.bindHost, (socket) => {
      if (this.stopped || s.closed) return void socket.destroy();
      this.accept(s, socket);
    }).then((b) => {
      s.server = b.server;
      if (s.closed || this.stopped) b.server.close();
      return { devicePort: port, hostPort: b.hostPort };
    });
    this.binds.push(bound);
    return 0;
  }

  /** net.c:1053 laccept_cb: a new socket object, held by its self reference, handed to the accept callback. */
  private accept(server: ServerState, socket: net.Socket): void {
    if (this.vm.isClosed) return void socket.destroy();
    const L = this.L;
    socket.setNoDelay(true);
    const state: SocketState = { socket, selfRef: NOREF, handlers: {}, sending: 0, closing: false };
    this.vm.pushObject("net.tcpsocket", state);
    this.liveSocketCount++;
    state.selfRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.sockets.add(state);
    this.attach(state, socket);
    this.pcall(server.acceptRef, (L2) => {
      lua.lua_rawgeti(L2, lua.LUA_REGISTRYINDEX, state.selfRef);
      return 1;
    });
  }

  /** A host socket's events as net_handler dispatches them (net.c:1013 receive, :1085 lerr_cb). */
  private attach(state: SocketState, socket: net.Socket): void {
    socket.on("data", (buf: Buffer) => this.receive(state, socket, buf));
    socket.on("error", () => socket.destroy());
    socket.on("close", (hadError: boolean) => {
      this.sockets.delete(state);
      if (this.stopped || state.socket !== socket) return; // closed by Lua: no event (net.c:757)
      if (state.connecting) return this.connectFailed(state, ERR_RST); // refused: lwIP reports a reset
      // net.c:1085 lerr_cb: "reconnection" on an error when registered, else "disconnection"; then the self reference goes.
      const err = hadError ? ERR_RST : ERR_OK;
      const event = err !== ERR_OK && state.handlers.reconnection !== undefined ? "reconnection" : "disconnection";
      this.callSocket(state, event, (L2) => (lua.lua_pushinteger(L2, err), 2));
      if (!this.vm.isClosed) this.releaseSelf(this.L, state);
    });
  }

  /** net.c:1013 lrecv_cb: the payload in segments of at most 1460 bytes, split at arbitrary points here. */
  private receive(state: SocketState, socket: net.Socket, buf: Buffer): void {
    let at = 0;
    while (at < buf.length && !this.stopped && state.socket === socket) {
      // Mostly full segments, now and then a cut anywhere: the core must not care.
      const size = this.random() < 0.25 ? 1 + Math.floor(this.random() * MAX_RECEIVE) : MAX_RECEIVE;
      const chunk = buf.subarray(at, Math.min(buf.length, at + size));
      at += chunk.length;
      this.callSocket(state, "receive", (L) => (pushBytes(L, chunk), 2));
    }
  }

  /** Calls a socket's handler with (socket, ...) when both are still registered (net.c:1004-1083). */
  private callSocket(state: SocketState, event: string, pushMore: (L: LuaState) => number): void {
    const ref = state.handlers[event];
    if (ref === undefined || state.selfRef === NOREF || this.stopped) return;
    this.pcall(ref, (L) => {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, state.selfRef);
      return pushMore(L);
    });
    if (this.heapSampleEvery > 0 && ++this.callbacks % this.heapSampleEvery === 0 && !this.vm.isClosed) this.sampleHeap();
  }

  // ---- tmr (components/modules/tmr.c) ----

  private installTmr(): void {
    const vm = this.vm;
    const tmrGet = (L: LuaState) => vm.checkObject<TimerState>(L, 1, "tmr.timer"); // tmr.c:65
    const stopTimer = (t: TimerState) => {
      if (t.handle) clearTimeout(t.handle);
      t.handle = undefined;
      this.timers.delete(t);
    };
    const arm = (t: TimerState) => {
      // pdMS_TO_TICKS (tmr.c:98, :196): whole ticks, the remainder dropped
      const ticks = Math.floor((t.interval * 1000) / (TICK_MS * 1000));
      this.timers.add(t);
      t.handle = setTimeout(() => fire(t), ticks * TICK_MS);
    };
    // tmr.c:35 timer_callback posts alarm_timer_task (tmr.c:42)
    const fire = (t: TimerState) => {
      t.handle = undefined;
      if (this.stopped || vm.isClosed) return;
      if (t.mode === TIMER_MODE_AUTO) arm(t);
      else this.timers.delete(t);
      const L = this.L;
      if (t.cbRef === NOREF || t.selfRef === NOREF) return;
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, t.cbRef);
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, t.selfRef);
      if (t.mode === TIMER_MODE_SINGLE) {
        lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, t.cbRef);
        t.cbRef = NOREF;
        t.mode = TIMER_MODE_OFF;
      } else if (t.mode === TIMER_MODE_SEMI) t.mode |= TIMER_IDLE_FLAG;
      if (t.mode !== TIMER_MODE_AUTO) {
        lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, t.selfRef);
        t.selfRef = NOREF;
      }
      vm.callStack(1);
    };
    // tmr.c:71 tmr_register
    const register = (L: LuaState) => {
      const t = tmrGet(L);
      const interval = lauxlib.luaL_checkinteger(L, 2);
      if (!(interval > 0 && interval <= MAX_TIMEOUT)) lauxlib.luaL_argerror(L, 2, `Range: 1-${MAX_TIMEOUT}`);
      const mode = lauxlib.luaL_checkinteger(L, 3);
      if (mode !== TIMER_MODE_SINGLE && mode !== TIMER_MODE_SEMI && mode !== TIMER_MODE_AUTO) lauxlib.luaL_argerror(L, 3, "Invalid mode");
      lauxlib.luaL_checktype(L, 4, lua.LUA_TFUNCTION);
      stopTimer(t); // xTimerDelete of the previous timer (tmr.c:86-89)
      lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, t.cbRef);
      lua.lua_pushvalue(L, 4);
      t.cbRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
      t.mode = mode | TIMER_IDLE_FLAG;
      t.interval = interval;
      // xTimerCreate(pdMS_TO_TICKS(interval)) (tmr.c:97): FreeRTOS asserts on a period of 0 ticks.
      if (Math.floor(interval / TICK_MS) === 0) {
        this.panic(L, `assert failed: xTimerCreate timers.c (( xTimerPeriodInTicks > 0 ))`);
      }
      t.created = true;
      return 0;
    };
    // tmr.c:111 tmr_start
    const start = (L: LuaState) => {
      const t = tmrGet(L);
      if (t.selfRef === NOREF) {
        lua.lua_pushvalue(L, 1);
        t.selfRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
      }
      if (!t.created || t.cbRef === NOREF) raise(L, "timer not registered");
      if (!(t.mode & TIMER_IDLE_FLAG)) {
        lua.lua_pushboolean(L, false);
      } else {
        t.mode &= ~TIMER_IDLE_FLAG;
        arm(t);
        lua.lua_pushboolean(L, true);
      }
      return 1;
    };
    // tmr.c:163 tmr_unregister, also the timer's __gc (tmr.c:248)
    const unregister = (L: LuaState, t: TimerState) => {
      lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, t.selfRef);
      t.selfRef = NOREF;
      stopTimer(t);
      t.created = false;
      lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, t.cbRef);
      t.cbRef = NOREF;
      t.mode = TIMER_MODE_OFF;
    };
    vm.defineClass(
      "tmr.timer",
      {
        register,
        alarm: (L) => (register(L), start(L)), // tmr.c:138
        start,
        stop: (L) => {
          // tmr.c:144 tmr_stop
          const t = tmrGet(L);
          lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, t.selfRef);
          t.selfRef = NOREF;
          if (!(t.mode & TIMER_IDLE_FLAG) && t.mode !== TIMER_MODE_OFF) {
            t.mode |= TIMER_IDLE_FLAG;
            stopTimer(t);
            lua.lua_pushboolean(L, true);
          } else lua.lua_pushboolean(L, false);
          return 1;
        },
        unregister: (L) => (unregister(L, tmrGet(L)), 0),
        interval: (L) => {
          // tmr.c:187 tmr_interval
          const t = tmrGet(L);
          const interval = lauxlib.luaL_checkinteger(L, 2);
          if (!(interval > 0 && interval <= MAX_TIMEOUT)) lauxlib.luaL_argerror(L, 2, `Range: 1-${MAX_TIMEOUT}`);
          if (t.mode !== TIMER_MODE_OFF) {
            t.interval = interval;
            if (Math.floor(interval / TICK_MS) === 0) this.panic(L, `assert failed: xTimerChangePeriod timers.c (( xNewPeriod > 0 ))`);
            if (!(t.mode & TIMER_IDLE_FLAG)) {
              stopTimer(t);
              arm(t);
            }
          }
          return 0;
        },
        state: (L) => {
          // tmr.c:209 tmr_state
          const t = tmrGet(L);
          if (t.mode === TIMER_MODE_OFF) return lua.lua_pushnil(L), 1;
          lua.lua_pushboolean(L, (t.mode & TIMER_IDLE_FLAG) === 0);
          lua.lua_pushinteger(L, t.mode & ~TIMER_IDLE_FLAG);
          return 2;
        },
      },
      (L, state) => unregister(L, state as TimerState),
    );
    // tmr.c:259-265
    vm.setModule(
      "tmr",
      {
        create: () => {
          // tmr.c:223 tmr_create
          const t: TimerState = { cbRef: NOREF, selfRef: NOREF, interval: 0, mode: TIMER_MODE_OFF, created: false };
          vm.pushObject("tmr.timer", t);
          return 1;
        },
        wdclr: () => 0, // tmr.c:237
      },
      { ALARM_SINGLE: TIMER_MODE_SINGLE, ALARM_SEMI: TIMER_MODE_SEMI, ALARM_AUTO: TIMER_MODE_AUTO },
    );
  }

  // ---- io (components/lua/lua-5.3/liolib.c on ESP-IDF's VFS) ----

  private open(path: string, mode: string): OpenFile {
    const onCard = cardPathOf(path) !== undefined;
    if (!onCard && this.spiffsOpen >= MAX_OPEN_FILES) throw new FileError("Too many open files in system");
    const f = openFile(this.mounted ? this.card : undefined, this.spiffs, path, mode);
    if (!onCard) {
      this.spiffsOpen++;
      const close = f.close.bind(f);
      f.close = () => {
        if (!f.closed) this.spiffsOpen--;
        close();
      };
    }
    this.files.add(f);
    return f;
  }

  /** luaL_fileresult(L, 0, name): nil, message, errno. */
  private fileError(L: LuaState, e: unknown, name?: string): number {
    if (!(e instanceof Error)) throw e;
    lua.lua_pushnil(L);
    pushText(L, name === undefined ? e.message : `${name}: ${e.message}`);
    lua.lua_pushinteger(L, 5); // EIO: the emulation does not model errno
    return 3;
  }

  private installIo(): void {
    const vm = this.vm;
    const tofile = (L: LuaState) => {
      // liolib.c:174 tofile
      const f = vm.checkObject<OpenFile>(L, 1, "FILE*");
      if (f.closed) raise(L, "attempt to use a closed file");
      return f;
    };
    const close = (L: LuaState, f: OpenFile) => {
      this.files.delete(f);
      try {
        f.close();
      } catch (e) {
        return this.fileError(L, e);
      }
      lua.lua_pushboolean(L, true);
      return 1;
    };
    vm.defineClass(
      "FILE*",
      {
        read: (L) => {
          // liolib.c:529 g_read: one format (a count, "a", "l", "L")
          const f = tofile(L);
          try {
            if (lua.lua_type(L, 2) === lua.LUA_TNUMBER) {
              const n = lauxlib.luaL_checkinteger(L, 2);
              const data = f.read(Math.max(n, 1));
              if (data === undefined) return lua.lua_pushnil(L), 1; // read_chars (liolib.c:516): nil at the end
              pushBytes(L, n === 0 ? Buffer.alloc(0) : data);
              return 1;
            }
            const what = optText(L, 2, "l").replace(/^\*/, "");
            const parts: Buffer[] = [];
            if (what === "a") {
              for (let d = f.read(4096); d !== undefined; d = f.read(4096)) parts.push(d);
              pushBytes(L, Buffer.concat(parts));
              return 1;
            }
            if (what === "l" || what === "L") {
              for (let d = f.read(1); d !== undefined; d = f.read(1)) {
                if (d[0] === 10) {
                  if (what === "L") parts.push(d);
                  pushBytes(L, Buffer.concat(parts));
                  return 1;
                }
                parts.push(d);
              }
              if (parts.length === 0) return lua.lua_pushnil(L), 1;
              pushBytes(L, Buffer.concat(parts));
              return 1;
            }
          } catch (e) {
            return this.fileError(L, e);
          }
          return lauxlib.luaL_argerror(L, 2, "invalid format");
        },
        write: (L) => {
          // liolib.c:620 g_write: returns the file, or nil, message, errno
          const f = tofile(L);
          try {
            for (let i = 2; i <= lua.lua_gettop(L); i++) f.write(checkBytes(L, i));
          } catch (e) {
            return this.fileError(L, e);
          }
          lua.lua_pushvalue(L, 1);
          return 1;
        },
        seek: (L) => {
          // liolib.c:656 f_seek
          const f = tofile(L);
          const whence = optText(L, 2, "cur");
          if (!["set", "cur", "end"].includes(whence)) lauxlib.luaL_argerror(L, 2, "invalid option");
          try {
            lua.lua_pushinteger(L, f.seek(whence, lauxlib.luaL_optinteger(L, 3, 0)));
            return 1;
          } catch (e) {
            return this.fileError(L, e);
          }
        },
        flush: (L) => {
          // liolib.c:692 f_flush: true, or nil, message, errno
          const f = tofile(L);
          try {
            f.flush();
          } catch (e) {
            return this.fileError(L, e);
          }
          lua.lua_pushboolean(L, true);
          return 1;
        },
        close: (L) => close(L, tofile(L)), // liolib.c:209 f_close
      },
      // liolib.c:222 f_gc: a forgotten file is closed when collected
      (_L, state) => {
        const f = state as OpenFile;
        this.files.delete(f);
        try {
          if (!f.closed) f.close();
        } catch {
          // the handle is gone either way
        }
      },
    );
    vm.setModule("io", {
      open: (L) => {
        // liolib.c:256 io_open
        const path = checkText(L, 1);
        const mode = optText(L, 2, "r");
        if (!/^[rwa]\+?b*$/.test(mode)) lauxlib.luaL_argerror(L, 2, "invalid mode"); // l_checkmode, liolib.c:40
        try {
          vm.pushObject("FILE*", this.open(path, mode));
          return 1;
        } catch (e) {
          if (!(e instanceof FileError) && !(e instanceof Error)) throw e;
          return this.fileError(L, e, path);
        }
      },
      write: (L) => {
        // liolib.c:644 io_write to stdout, the console
        const parts: Buffer[] = [];
        for (let i = 1; i <= lua.lua_gettop(L); i++) parts.push(checkBytes(L, i));
        this.console(Buffer.concat(parts).toString("latin1"));
        return 0;
      },
    });
  }

  // ---- file (components/modules/file.c) ----

  private cardDir(path: string): string | undefined {
    const cardPath = cardPathOf(path);
    return cardPath !== undefined && this.mounted && this.card ? cardPath : undefined;
  }

  private installFile(): void {
    // file.c:157-166: exactly these; no open/getcontents/putcontents/stat/chdir on dev-esp32
    this.vm.setModule("file", {
      list: (L) => {
        // file.c:39 file_list([dir]): nothing when the directory cannot be opened
        const dir = lua.lua_isnoneornil(L, 1) ? undefined : checkText(L, 1);
        let entries: [string, number][];
        try {
          entries = this.listDir(dir);
        } catch {
          return 0;
        }
        lua.lua_newtable(L);
        for (const [name, size] of entries) {
          lua.lua_pushinteger(L, size);
          lua.lua_setfield(L, -2, Buffer.from(name, "latin1"));
        }
        return 1;
      },
      format: () => {
        // file.c:23 file_format
        for (const [name] of this.spiffs.list()) this.spiffs.remove(name);
        this.console("format done.\n");
        return 0;
      },
      remove: (L) => {
        // file.c:92 file_remove: unlink(), no result
        const path = checkText(L, 1);
        try {
          const cardPath = cardPathOf(path);
          if (cardPath !== undefined) {
            if (this.cardDir(path) !== undefined && this.card!.size(cardPath) >= 0) this.card!.remove(cardPath);
          } else {
            const name = Spiffs.nameOf(path);
            if (name !== undefined) this.spiffs.remove(name);
          }
        } catch {
          // unlink failed: file.remove says nothing
        }
        return 0;
      },
      rename: (L) => {
        // file.c:102 file_rename: rename() refuses an existing target on FAT and SPIFFS
        const from = checkText(L, 1);
        const to = checkText(L, 2);
        let ok = false;
        try {
          ok = this.rename(from, to);
        } catch {
          ok = false;
        }
        lua.lua_pushboolean(L, ok);
        return 1;
      },
      exists: (L) => {
        // file.c:79 file_exists: stat() succeeds
        lua.lua_pushboolean(L, this.statPath(checkText(L, 1)) !== undefined);
        return 1;
      },
      fsinfo: (L) => {
        // file.c:116 file_fsinfo: remaining, used, total of SPIFFS
        let used = 0;
        for (const [, size] of this.spiffs.list()) used += size;
        lua.lua_pushinteger(L, SPIFFS_TOTAL - used);
        lua.lua_pushinteger(L, used);
        lua.lua_pushinteger(L, SPIFFS_TOTAL);
        return 3;
      },
      mkdir: (L) => {
        // file.c:133 file_mkdir: returns nothing, raises on failure
        const name = checkText(L, 1);
        lauxlib.luaL_optinteger(L, 2, 0o777);
        const cardPath = this.cardDir(name);
        let code = 0;
        if (cardPath === undefined) code = 134; // ENOTSUP: SPIFFS has no directories
        else if (this.statPath(name) !== undefined) code = 17; // EEXIST
        else {
          try {
            this.card!.mkdir(cardPath);
          } catch {
            code = 5; // EIO
          }
        }
        if (code !== 0) raise(L, `failed to create directory '${name}'; code ${code}`);
        return 0;
      },
      rmdir: (L) => {
        // file.c:145 file_rmdir
        const name = checkText(L, 1);
        raise(L, `failed to remove directory '${name}'; code 134`);
      },
    });
  }

  /** stat(): size and kind, or undefined when it does not exist (or the card fails). */
  private statPath(path: string): { size: number; isDir: boolean } | undefined {
    const cardPath = cardPathOf(path);
    if (cardPath !== undefined) {
      if (this.cardDir(path) === undefined) return undefined;
      try {
        if (cardPath === "/") return { size: 0, isDir: true };
        const size = this.card!.size(cardPath);
        if (size >= 0) return { size, isDir: false };
        const slash = cardPath.lastIndexOf("/");
        const parent = slash <= 0 ? "/" : cardPath.slice(0, slash);
        return this.card!.list(parent).includes(cardPath.slice(slash + 1)) ? { size: 0, isDir: true } : undefined;
      } catch {
        return undefined;
      }
    }
    const name = Spiffs.nameOf(path);
    const data = name === undefined ? undefined : this.spiffs.read(name);
    return data === undefined ? undefined : { size: data.length, isDir: false };
  }

  /** opendir/readdir/stat (file.c:44-70): SPIFFS for no directory or "/", else a card directory. */
  private listDir(dir: string | undefined): [string, number][] {
    if (dir === undefined || dir === "/" || dir === "") return this.spiffs.list();
    const cardPath = this.cardDir(dir);
    if (cardPath === undefined) throw new FileError("no such directory");
    return this.card!.list(cardPath).map((name) => [name, this.statPath(`${dir}/${name}`)?.size ?? 0]);
  }

  private rename(from: string, to: string): boolean {
    if (this.statPath(from) === undefined || this.statPath(to) !== undefined) return false;
    const a = this.cardDir(from);
    const b = this.cardDir(to);
    if (a !== undefined && b !== undefined) {
      fs.renameSync(this.card!.hostPath(a), this.card!.hostPath(b));
      return true;
    }
    const na = Spiffs.nameOf(from);
    const nb = Spiffs.nameOf(to);
    if (na === undefined || nb === undefined || !Spiffs.valid(nb)) return false;
    this.spiffs.write(nb, this.spiffs.read(na)!);
    this.spiffs.remove(na);
    return true;
  }

  // ---- sdmmc (components/modules/sdmmc.c) and spi (components/modules/spi.c, spi_master.c) ----

  private installSd(): void {
    const vm = this.vm;
    vm.defineClass("sdmmc.card", {
      mount: (L) => {
        // sdmmc.c:348 lsdmmc_mount: false when FAT cannot be mounted
        const c = vm.checkObject<SdCardState>(L, 1, "sdmmc.card");
        const where = checkText(L, 2);
        if (c.mounted) raise(L, "already mounted");
        const ok = this.card !== undefined && this.card.present && where === CARD_MOUNT;
        c.mounted = ok;
        this.mounted = this.mounted || ok;
        lua.lua_pushboolean(L, ok);
        return 1;
      },
      umount: (L) => {
        // sdmmc.c:383 lsdmmc_umount
        const c = vm.checkObject<SdCardState>(L, 1, "sdmmc.card");
        if (!c.mounted) raise(L, "not mounted");
        c.mounted = false;
        this.mounted = false;
        return 0;
      },
    });
    vm.setModule(
      "sdmmc",
      {
        init: (L) => {
          // sdmmc.c:96 lsdmmc_init(slot, config)
          const slot = lauxlib.luaL_checkinteger(L, 1);
          const sdspi = [LSDMMC_HOST_SDSPI + SPI2_HOST, LSDMMC_HOST_SDSPI + SPI3_HOST].includes(slot);
          if (!(slot === 0 || slot === 1 || sdspi)) lauxlib.luaL_argerror(L, 1, "invalid slot");
          if (lua.lua_type(L, 2) === lua.LUA_TTABLE) {
            if (sdspi) {
              const present = (k: string) => (lua.lua_getfield(L, 2, k), !lua.lua_isnoneornil(L, -1));
              const legacy = present("sck_pin") || present("mosi_pin") || present("miso_pin");
              lua.lua_settop(L, 2);
              // sdmmc.c:133-139
              if (legacy) this.console("Warning, deprecated API! SCK/MOSI/MISO ignored; please configure via spimaster instead. It will be removed in IDFv5\n");
            }
          } else if (sdspi) raise(L, "missing slot configuration table");
          // sdspi_host_init_device needs the SPI bus set up first (spi.master); SDMMC slots have fixed pins.
          if (sdspi && !this.spiBuses.has(slot - LSDMMC_HOST_SDSPI)) raise(L, "failed to init slot");
          if (!this.card || !this.card.present) raise(L, "failed to init card");
          vm.pushObject("sdmmc.card", { mounted: false } as SdCardState);
          return 1;
        },
      },
      // sdmmc.c:415-430 (ESP32)
      { HS1: 0, HS2: 1, HSPI: LSDMMC_HOST_SDSPI + SPI2_HOST, VSPI: LSDMMC_HOST_SDSPI + SPI3_HOST, SPI2: LSDMMC_HOST_SDSPI + SPI2_HOST, SPI3: LSDMMC_HOST_SDSPI + SPI3_HOST },
    );
    vm.defineClass("spi.master", {}, (_L, state) => this.spiBuses.delete((state as { host: number }).host)); // spi_master.c:204 lspi_host_free
    vm.setModule(
      "spi",
      {
        master: (L) => {
          // spi_master.c:217 lspi_master(host, config[, dma]); its check admits SPI1_HOST and SPI2_HOST only (SPI2 twice, spi_master.c:223-226)
          const host = lauxlib.luaL_checkinteger(L, 1);
          if (!(host === SPI1_HOST || host === SPI2_HOST)) lauxlib.luaL_argerror(L, 1, "invalid host");
          if (lua.lua_type(L, 2) === lua.LUA_TTABLE) {
            for (const pin of ["sclk", "mosi", "miso"]) {
              lua.lua_getfield(L, 2, pin);
              if (!lua.lua_isnoneornil(L, -1)) lauxlib.luaL_checkinteger(L, -1);
              lua.lua_pop(L, 1);
            }
            const dma = lauxlib.luaL_optinteger(L, 3, 1);
            if (dma < 0 || dma > 2) lauxlib.luaL_argerror(L, 3, "out of range");
            if (this.spiBuses.has(host)) raise(L, "bus init failed"); // spi_bus_initialize: already initialized
            this.spiBuses.add(host);
          }
          vm.pushObject("spi.master", { host });
          return 1;
        },
      },
      // spi.c:10-23 (ESP32)
      { SPI: SPI1_HOST, HSPI: SPI2_HOST, VSPI: SPI3_HOST, SPI1: SPI1_HOST, SPI2: SPI2_HOST, SPI3: SPI3_HOST },
    );
  }

  // ---- node (components/modules/node.c) and the Lua Flash Store (components/lua/lua-5.3/lnodemcu.c) ----

  private installNode(): void {
    const vm = this.vm;
    const L0 = this.L;
    vm.setModule("node", {
      // node.c:188 node_heap: esp_get_free_heap_size(), modelled as the free heap less Lua's RAM (an estimate)
      heap: (L) => {
        lua.lua_pushinteger(L, Math.max(0, HEAP_BYTES - Math.max(0, vm.heapBytes(false) - vm.codeBytes)));
        return 1;
      },
      // node.c:195 node_restart
      restart: () => {
        setImmediate(() => this.options.onRestart());
        return 0;
      },
      chipid: (L) => (pushText(L, "0x24a1600000"), 1), // node.c:163
      chipmodel: (L) => (pushText(L, "esp32"), 1), // node.c:181
    });
    lua.lua_getglobal(L0, "node");
    // node.c:932-937 node.task
    lua.lua_newtable(L0);
    vm.setFields(
      {
        post: (L) => {
          // node.c:791 node_task_post([priority,] fn); do_node_task (node.c:781) calls fn(priority)
          let n = 1;
          let priority = 1;
          if (lua.lua_type(L, 1) === lua.LUA_TNUMBER) {
            priority = lauxlib.luaL_checkinteger(L, 1);
            if (priority > 2) lauxlib.luaL_argerror(L, 1, "invalid  priority");
            n = 2;
          }
          if (lua.lua_type(L, n) !== lua.LUA_TFUNCTION) lauxlib.luaL_argerror(L, n, "invalid function");
          lua.lua_pushvalue(L, n);
          const ref = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
          this.later(() => {
            // node.c:781 do_node_task
            lua.lua_rawgeti(this.L, lua.LUA_REGISTRYINDEX, ref);
            lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
            lua.lua_pushinteger(this.L, priority);
            vm.callStack(1);
          });
          return 0;
        },
      },
      { LOW_PRIORITY: 0, MEDIUM_PRIORITY: 1, HIGH_PRIORITY: 2 },
    );
    lua.lua_setfield(L0, -2, "task");
    // node.c:907-915 node.LFS
    lua.lua_newtable(L0);
    vm.setFields({
      get: (L) => {
        // node.c:858 node_lfsindex -> lnodemcu.c:333 lua_pushlfsfunc: the module's function, or nil
        const name = checkText(L, 1);
        const source = this.lfs.get(name);
        if (source === undefined) return lua.lua_pushnil(L), 1;
        let ref = this.lfsFunctions.get(name);
        if (ref === undefined) {
          vm.loadCode(source, "=" + name);
          ref = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
          this.lfsFunctions.set(name, ref);
        }
        lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
        return 1;
      },
      list: (L) => {
        // node.c:866 node_lfslist: sorted module names, nil without LFS
        const names = this.lfs.names().sort();
        if (names.length === 0) return lua.lua_pushnil(L), 1;
        lua.lua_newtable(L);
        names.forEach((n, i) => {
          pushText(L, n);
          lua.lua_rawseti(L, -2, i + 1);
        });
        return 1;
      },
      reload: (L) => {
        // node.c:844 -> lnodemcu.c:631 luaL_lfsreload: a message when it cannot, else the board restarts and loads the image
        const image = checkText(L, 1);
        const name = Spiffs.nameOf(image);
        const data = name === undefined ? undefined : this.spiffs.read(name);
        if (data === undefined) return pushText(L, "No LFS partition allocated"), 1;
        const problem = this.lfs.load(data);
        this.console(problem === undefined ? "LFS image loaded\n" : `LFS image not loaded: ${problem}\n`);
        this.stopped = true;
        vm.halted = true;
        setImmediate(() => this.options.onRestart());
        raise(L, "system restarting");
      },
    });
    lua.lua_setfield(L0, -2, "LFS");
    lua.lua_pop(L0, 1);
  }

  // ---- uart (components/modules/uart.c) and the console (base_nodemcu/user_main.c) ----

  private installUart(): void {
    const vm = this.vm;
    vm.setModule(
      "uart",
      {
        on: (L) => {
          // uart.c:95 uart_on([id], method, [number/end_char], [function], [run_input])
          let stack = 1;
          let id = 0;
          if (lua.lua_isnumber(L, stack)) {
            id = lauxlib.luaL_checkinteger(L, stack);
            if (id < 0 || id > 2) raise(L, "uart " + id + " does not exist");
            stack++;
          }
          const method = checkText(L, stack);
          stack++;
          if (lua.lua_type(L, stack) === lua.LUA_TNUMBER) {
            const needLen = lauxlib.luaL_checkinteger(L, stack);
            stack++;
            if (needLen > 255) raise(L, "wrong arg range");
            if (needLen !== 0) raise(L, "the emulated console delivers byte by byte only (need_len 0)");
          } else if (lua.lua_isstring(L, stack)) {
            raise(L, "end_char is not emulated");
          }
          let run = 1;
          const hasFunction = lua.lua_isfunction(L, stack);
          if (hasFunction && lua.lua_isnumber(L, stack + 1)) run = lua.lua_tointeger(L, stack + 1);
          if (method === "data") {
            if (id !== 0) raise(L, "only UART 0 (the console) is emulated");
            this.runInput = true; // uart.c:147-148
            lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, this.uartReceiver);
            this.uartReceiver = NOREF;
            if (hasFunction) {
              lua.lua_pushvalue(L, stack);
              this.uartReceiver = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
              if (run === 0) this.runInput = false; // uart.c:156-157
            }
          } else if (method !== "error") raise(L, "method not supported");
          return 0;
        },
        write: (L) => {
          // uart.c:244 uart_write(id, data...)
          const id = lauxlib.luaL_checkinteger(L, 1);
          if (id < 0 || id > 2) raise(L, "uart " + id + " does not exist");
          const parts: Buffer[] = [];
          for (let i = 2; i <= lua.lua_gettop(L); i++) {
            if (lua.lua_type(L, i) === lua.LUA_TNUMBER) {
              const n = lua.lua_tointeger(L, i);
              if (n > 255) raise(L, "invalid number");
              parts.push(Buffer.from([n]));
            } else {
              lauxlib.luaL_checktype(L, i, lua.LUA_TSTRING);
              parts.push(checkBytes(L, i));
            }
          }
          if (id === 0) this.console(Buffer.concat(parts).toString("latin1"));
          return 0;
        },
        setup: (L) => (lua.lua_pushinteger(L, lauxlib.luaL_checkinteger(L, 2)), 1), // uart.c:180: the baud rate set
      },
      { STOPBITS_1: 1, STOPBITS_1_5: 2, STOPBITS_2: 3, PARITY_NONE: 0, PARITY_EVEN: 1, PARITY_ODD: 2 },
    );
  }

  /**
   * Bytes from the host on UART 0 (user_main.c:179-214, platform.c:91): the
   * console task hands them one at a time to the Lua prompt while run_input
   * holds, and to a uart.on("data", 0, fn) receiver as single bytes
   * (need_len 0 delivers at once, uart.c:79-90).
   */
  consoleInput(data: string): void {
    for (const ch of data) {
      if (this.stopped || this.vm.isClosed) return;
      if (this.runInput) this.feedPrompt(ch);
      if (this.uartReceiver !== NOREF) this.pcall(this.uartReceiver, (L) => (pushText(L, ch), 1));
    }
  }

  /** The Lua prompt: echo, lines of at most LUA_MAXINPUT (256), ">> " for an incomplete statement (lua.c). */
  private feedPrompt(ch: string): void {
    if (ch === "\n" && this.consoleLastCr) {
      this.consoleLastCr = false;
      return;
    }
    this.console(ch === "\r" ? "\r\n" : ch);
    this.consoleLastCr = ch === "\r";
    if (ch !== "\r" && ch !== "\n") {
      if (this.consoleLine.length < 255) this.consoleLine += ch;
      return;
    }
    const line = this.consoleLine;
    this.consoleLine = "";
    this.execute(line);
  }

  /** Runs a line as lua.c does: as an expression first, else as statements; waits for more when incomplete. */
  private execute(line: string): void {
    const source = this.consolePending === "" ? line : this.consolePending + "\n" + line;
    const L = this.L;
    const base = lua.lua_gettop(L);
    const asExpression = Buffer.from("return " + source, "latin1");
    let status = lauxlib.luaL_loadbuffer(L, asExpression, asExpression.length, "=stdin");
    if (status !== lua.LUA_OK) {
      lua.lua_settop(L, base);
      const asStatements = Buffer.from(source, "latin1");
      status = lauxlib.luaL_loadbuffer(L, asStatements, asStatements.length, "=stdin");
      if (status === lua.LUA_ERRSYNTAX && lua.lua_tojsstring(L, -1).endsWith("<eof>")) {
        lua.lua_settop(L, base);
        this.consolePending = source;
        this.console(">> ");
        return;
      }
    }
    this.consolePending = "";
    if (status === lua.LUA_OK) status = lua.lua_pcall(L, 0, lua.LUA_MULTRET, 0);
    if (this.vm.isClosed) return;
    if (status !== lua.LUA_OK) {
      this.console(Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1") + "\n");
    } else if (lua.lua_gettop(L) > base) {
      const parts: string[] = [];
      for (let i = base + 1; i <= lua.lua_gettop(L); i++) parts.push(Buffer.from(lauxlib.luaL_tolstring(L, i)).toString("latin1"));
      this.console(parts.join("\t") + "\n");
    }
    lua.lua_settop(L, base);
    if (!this.stopped) this.console("> ");
  }

  // ---- time, wifi, encoder, crypto, print, dofile ----

  private installOthers(): void {
    const vm = this.vm;
    const L0 = this.L;
    // time.c:146-156
    vm.setModule("time", {
      get: (L) => {
        // time.c:31 time_get: seconds and microseconds (gettimeofday)
        lua.lua_pushinteger(L, this.options.clock());
        lua.lua_pushinteger(L, 0);
        return 2;
      },
      initntp: (L) => (optText(L, 1, "pool.ntp.org"), 0), // time.c:77
    });

    // wifi.c:132-166
    vm.setModule(
      "wifi",
      {
        mode: (L) => {
          // wifi.c:61 wifi_mode
          const mode = lauxlib.luaL_checkinteger(L, 1);
          if (mode < 0 || mode > 3) raise(L, `invalid wifi mode ${mode}`);
          return 0;
        },
        start: () => {
          // wifi.c:81 wifi_start; the station's "start" event follows
          this.later(() => this.wifiEvent("start", () => 0));
          return 0;
        },
        stop: () => 0, // wifi.c:89
      },
      { NULLMODE: 0, STATION: 1, SOFTAP: 2, STATIONAP: 3 },
    );
    lua.lua_getglobal(L0, "wifi");
    lua.lua_newtable(L0);
    vm.setFields({
      config: (L) => {
        // wifi_sta.c:243 wifi_sta_config(cfg[, save]): ssid required
        lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
        lua.lua_getfield(L, 1, "ssid");
        lauxlib.luaL_checklstring(L, -1);
        lua.lua_pop(L, 1);
        return 0;
      },
      connect: () => {
        // wifi_sta.c:372 wifi_sta_connect: then the events "connected" and "got_ip" (wifi_sta.c:62-69)
        this.later(() => {
          this.wifiEvent("connected", (L) => {
            lua.lua_newtable(L);
            pushText(L, "letterbox-sim");
            lua.lua_setfield(L, -2, "ssid");
            return 1;
          });
          this.wifiEvent("got_ip", (L) => {
            lua.lua_newtable(L);
            pushText(L, "127.0.0.1");
            lua.lua_setfield(L, -2, "ip");
            pushText(L, "255.0.0.0");
            lua.lua_setfield(L, -2, "netmask");
            pushText(L, "127.0.0.1");
            lua.lua_setfield(L, -2, "gw");
            return 1;
          });
        });
        return 0;
      },
      disconnect: () => 0, // wifi_sta.c:379
      on: (L) => {
        // wifi_sta.c:530 -> wifi_common.c:62 wifi_on(event[, fn])
        const event = checkText(L, 1);
        if (!lua.lua_isnoneornil(L, 2)) lauxlib.luaL_checktype(L, 2, lua.LUA_TFUNCTION);
        if (!WIFI_EVENTS.includes(event)) raise(L, `unknown event: ${event}`);
        lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, this.wifiEvents[event] ?? NOREF);
        if (lua.lua_isnoneornil(L, 2)) delete this.wifiEvents[event];
        else {
          lua.lua_pushvalue(L, 2);
          this.wifiEvents[event] = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
        }
        return 0;
      },
    });
    lua.lua_setfield(L0, -2, "sta");
    lua.lua_pop(L0, 1);

    // encoder.c:159-164; do_func (encoder.c:136); an empty input gives "" (encoder.c:45)
    const hexOk = (s: string) => s.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(s);
    vm.setModule("encoder", {
      toBase64: (L) => (pushText(L, checkBytes(L, 1).toString("base64")), 1),
      fromBase64: (L) => {
        const text = checkText(L, 1);
        // encoder.c:40 fromBase64: length a multiple of 4, base64 characters before the padding
        if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) raise(L, "Invalid base64 string");
        pushBytes(L, Buffer.from(text, "base64"));
        return 1;
      },
      toHex: (L) => (pushText(L, checkBytes(L, 1).toString("hex")), 1),
      fromHex: (L) => {
        const text = checkText(L, 1);
        if (!hexOk(text)) raise(L, "Invalid hex string"); // encoder.c:100 fromHex
        pushBytes(L, Buffer.from(text, "hex"));
        return 1;
      },
    });

    // sodium.c:126-141: only the random table is emulated (crypto_box is not used).
    // libsodium's ESP-IDF port answers from esp_random(), the hardware RNG
    // (port/randombytes_esp32.c): here the host's CSPRNG, counted in rngReads.
    vm.setModule("sodium", {});
    lua.lua_getglobal(L0, "sodium");
    lua.lua_newtable(L0);
    vm.setFields({
      // sodium.c:16 l_randombytes_random: the 32 bits as a signed integer
      random: (L) => (this.rngReads++, lua.lua_pushinteger(L, crypto.randomBytes(4).readInt32LE(0)), 1),
      uniform: (L) => {
        // sodium.c:24 l_randombytes_uniform: [0, upper) (0 for an upper bound below 2), as a signed integer
        const upper = lauxlib.luaL_checkinteger(L, 1) >>> 0;
        this.rngReads++;
        lua.lua_pushinteger(L, upper < 2 ? 0 : crypto.randomInt(upper) | 0);
        return 1;
      },
      buf: (L) => {
        // sodium.c:33 l_randombytes_buf: n random bytes
        const n = lauxlib.luaL_checkinteger(L, 1);
        this.rngReads++;
        pushBytes(L, crypto.randomBytes(Math.max(0, n)));
        return 1;
      },
    });
    lua.lua_setfield(L0, -2, "random");
    lua.lua_pop(L0, 1);

    // crypto.c:155-168
    const ALGORITHMS = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]; // crypto.c:28-34
    vm.defineClass("crypto.hash", {
      update: (L) => {
        // crypto.c:101
        vm.checkObject<{ h: crypto.Hash | crypto.Hmac }>(L, 1, "crypto.hash").h.update(checkBytes(L, 2));
        return 0;
      },
      finalize: (L) => {
        // crypto.c:124
        pushBytes(L, vm.checkObject<{ h: crypto.Hash | crypto.Hmac }>(L, 1, "crypto.hash").h.digest());
        return 1;
      },
    });
    const algorithm = (L: LuaState) => {
      const name = checkText(L, 1);
      if (!ALGORITHMS.includes(name.toLowerCase())) raise(L, `Unsupported algorithm: ${name}`);
      return name.toLowerCase();
    };
    vm.setModule("crypto", {
      new_hash: (L) => (vm.pushObject("crypto.hash", { h: crypto.createHash(algorithm(L)) }), 1), // crypto.c:89
      new_hmac: (L) => {
        // crypto.c:93
        const name = algorithm(L);
        vm.pushObject("crypto.hash", { h: crypto.createHmac(name, checkBytes(L, 2)) });
        return 1;
      },
    });

    // print goes to the console UART
    vm.setGlobalFunction("print", (L) => {
      const n = lua.lua_gettop(L);
      const parts: string[] = [];
      for (let i = 1; i <= n; i++) parts.push(Buffer.from(lauxlib.luaL_tolstring(L, i)).toString("latin1"));
      lua.lua_settop(L, n);
      this.console(parts.join("\t") + "\n");
      return 0;
    });
    // dofile/loadfile (lbaselib.c) read through the VFS: SPIFFS or the card
    const loadFile = (L: LuaState, name: string): boolean => {
      let data: Buffer | undefined;
      try {
        const f = this.open(name, "rb");
        const parts: Buffer[] = [];
        for (let d = f.read(4096); d !== undefined; d = f.read(4096)) parts.push(d);
        f.close();
        this.files.delete(f);
        data = Buffer.concat(parts);
      } catch {
        data = undefined;
      }
      if (data === undefined) {
        pushText(L, `cannot open ${name}`);
        return false;
      }
      return lauxlib.luaL_loadbuffer(L, data, data.length, "@" + name) === lua.LUA_OK;
    };
    vm.setGlobalFunction("dofile", (L) => {
      const name = checkText(L, 1);
      lua.lua_settop(L, 1);
      if (!loadFile(L, name)) return lua.lua_error(L);
      lua.lua_call(L, 0, lua.LUA_MULTRET);
      return lua.lua_gettop(L) - 1;
    });
    vm.setGlobalFunction("loadfile", (L) => {
      const name = checkText(L, 1);
      lua.lua_settop(L, 1);
      if (loadFile(L, name)) return 1;
      lua.lua_pushnil(L);
      lua.lua_insert(L, -2);
      return 2;
    });
  }

  private wifiEvent(event: string, pushInfo: (L: LuaState) => number): void {
    const ref = this.wifiEvents[event];
    if (ref === undefined) return;
    // wifi_common.c: the callback gets the event name and an info table
    this.pcall(ref, (L) => {
      pushText(L, event);
      return 1 + pushInfo(L);
    });
  }
}
