/**
 * NodeMCU's modules, emulated for a fengari VM: `net` on real TCP sockets,
 * `tmr` on Node timers, `io`/`file` on the simulated card (/SD0) and an
 * in-memory SPIFFS, `sdmmc`, `node`, `time`, `wifi`, `uart`, `encoder`,
 * `crypto`. Strict where the board is strict: a second send before `sent`
 * is an error, `receive` hands over at most 1460 bytes split at arbitrary
 * points, at most four files open on the card, 8.3 names, no `os`.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import { lauxlib, lua, to_luastring } from "fengari";
import type { SerialLine } from "../../firmware/hal";
import type { SimCard } from "../card";
import { bindDevicePort } from "../net";
import { mulberry32 } from "../prng";
import { cardPathOf, CARD_MOUNT, FileError, OpenFile, openFile } from "./files";
import { liveLuaBytes } from "./heap";
import { Spiffs, SPIFFS_NAME_MAX } from "./spiffs";
import { checkBytes, checkText, LuaState, LuaVm, optText, pushBytes, pushText, raise } from "./vm";

/** Largest `receive` chunk: one TCP segment on the ESP32's lwIP. */
export const MAX_RECEIVE = 1460;
/** Free heap of an ESP32-WROOM before the program loads (PLATFORMS.md). */
const HEAP_BYTES = 200 * 1024;
/** CONFIG_NODEMCU_FS_OBJ_NAME_LEN: file.stat() takes whole paths up to this long. */
const FS_OBJ_NAME_LEN = 31;

export interface NodeMcuOptions {
  vm: LuaVm;
  spiffs: Spiffs;
  /** The card behind /SD0 once `card:mount("/SD0")` succeeds; undefined: no card inserted. */
  card?: SimCard;
  portMap: { [devicePort: number]: number };
  bindHost: string;
  clock: () => number;
  /** node.restart(). */
  onRestart: () => void;
  /** UART 0 as seen by the host (uart.on / uart.write); undefined: nobody listening. */
  serial?: SerialLine;
  /** Seed for the receive split points (reproducible runs). */
  seed?: number;
}

interface SocketState {
  socket: net.Socket;
  /** Registry reference to the socket's own userdata, passed to callbacks. */
  self: number;
  handlers: { [event: string]: number };
  sending: boolean;
  /** Closed by Lua (sock:close()). */
  closedLocally: boolean;
  /** The TCP connection is gone. */
  gone: boolean;
}

interface ServerState {
  port?: number;
  server?: net.Server;
  closed: boolean;
}

interface TimerState {
  self: number;
  callback: number;
  handle?: NodeJS.Timeout;
  interval: number;
  mode: number;
}

const ALARM_SINGLE = 0;
const ALARM_SEMI = 1;
const ALARM_AUTO = 2;

export class NodeMcu {
  readonly vm: LuaVm;
  private L: LuaState;
  private spiffs: Spiffs;
  private card?: SimCard;
  private mounted = false;
  private cwd = "/FLASH";
  private sockets = new Set<SocketState>();
  private servers: ServerState[] = [];
  private timers = new Set<TimerState>();
  private immediates = new Set<NodeJS.Immediate>();
  private files = new Set<OpenFile>();
  private stopped = false;
  private random: () => number;
  /** Binds started by server:listen(), for the runtime to await. */
  readonly binds: Promise<{ devicePort: number; hostPort: number }>[] = [];
  /** Highest live Lua heap seen by sampleHeap(), in bytes. */
  peakHeap = 0;
  /** Measure the live heap after every n-th socket callback (0: only when Lua asks). */
  heapSampleEvery = 0;
  private callbacks = 0;

  constructor(private options: NodeMcuOptions) {
    this.vm = options.vm;
    this.L = options.vm.L;
    this.spiffs = options.spiffs;
    this.card = options.card;
    this.random = mulberry32(options.seed ?? 1);
    this.installNet();
    this.installTmr();
    this.installFiles();
    this.installSystem();
  }

  /** Stops every socket, server and timer; the VM is dead afterwards. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) if (t.handle) clearTimeout(t.handle);
    this.timers.clear();
    for (const i of this.immediates) clearImmediate(i);
    for (const s of this.sockets) s.socket.destroy();
    this.sockets.clear();
    for (const f of this.files) if (!f.closed) f.close(); // power off: the card forgets open handles
    await Promise.all(
      this.servers.map((s) => new Promise<void>((resolve) => (s.server && s.server.listening ? s.server.close(() => resolve()) : resolve()))),
    );
  }

  /** The live Lua heap now (collectgarbage("count") * 1024 after a full collection). */
  heapBytes(): number {
    return liveLuaBytes(this.L);
  }

  sampleHeap(): number {
    const bytes = this.heapBytes();
    if (bytes > this.peakHeap) this.peakHeap = bytes;
    return bytes;
  }

  /** Runs `fn` from the event loop unless the board stopped. */
  private later(fn: () => void): void {
    const handle = setImmediate(() => {
      this.immediates.delete(handle);
      if (!this.stopped) fn();
    });
    this.immediates.add(handle);
  }

  // ---- net ----

  private installNet(): void {
    const vm = this.vm;
    vm.defineClass("net.tcpserver", {
      listen: (L) => this.listen(L),
      close: (L) => {
        const s = vm.checkObject<ServerState>(L, 1, "net.tcpserver");
        s.closed = true;
        s.server?.close();
        return 0;
      },
    });
    vm.defineClass("net.tcpsocket", {
      on: (L) => {
        const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
        const event = checkText(L, 2);
        if (!["receive", "sent", "disconnection", "connection", "reconnection"].includes(event)) raise(L, `invalid event '${event}'`);
        if (s.handlers[event] !== undefined) vm.unref(s.handlers[event]);
        if (lua.lua_isnoneornil(L, 3)) delete s.handlers[event];
        else s.handlers[event] = vm.ref(L, 3);
        return 0;
      },
      send: (L) => {
        const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
        const data = checkBytes(L, 2);
        if (s.closedLocally) raise(L, "not connected");
        if (s.sending) raise(L, "send in progress: wait for the sent callback (one send outstanding)");
        if (s.gone) return 0; // the peer left; "disconnection" is on its way
        s.sending = true;
        s.socket.write(data, () => {
          s.sending = false;
          if (!this.stopped && !s.closedLocally && s.handlers.sent !== undefined) {
            this.callSocket(s, "sent", () => 1);
          }
        });
        return 0;
      },
      close: (L) => {
        const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
        if (!s.closedLocally) {
          s.closedLocally = true;
          s.socket.end(); // no "disconnection" for a close of our own
        }
        return 0;
      },
      getpeer: (L) => {
        const s = vm.checkObject<SocketState>(L, 1, "net.tcpsocket");
        lua.lua_pushinteger(L, s.socket.remotePort ?? 0);
        pushText(L, s.socket.remoteAddress ?? "");
        return 2;
      },
    });
    vm.setModule(
      "net",
      {
        createServer: (L) => {
          const type = lauxlib.luaL_optinteger(L, 1, 1);
          if (type !== 1) raise(L, "only net.TCP servers are emulated");
          const server: ServerState = { closed: false };
          this.servers.push(server);
          vm.pushObject("net.tcpserver", server);
          return 1;
        },
      },
      { TCP: 1, UDP: 2 },
    );
  }

  private listen(L: LuaState): number {
    const s = this.vm.checkObject<ServerState>(L, 1, "net.tcpserver");
    const port = lauxlib.luaL_checkinteger(L, 2);
    const callbackIndex = lua.lua_type(L, 3) === lua.LUA_TSTRING ? 4 : 3; // listen(port, [ip,] cb)
    const callback = this.vm.ref(L, callbackIndex);
    if (s.port !== undefined) raise(L, "already listening");
    s.port = port;
    const bound = bindDevicePort(port, this.options.portMap, this.options.bindHost, (socket) => {
      if (this.stopped || s.closed) return void socket.destroy();
      this.accept(socket, callback);
    }).then((b) => {
      s.server = b.server;
      if (s.closed || this.stopped) b.server.close();
      return { devicePort: port, hostPort: b.hostPort };
    });
    this.binds.push(bound);
    return 0;
  }

  private accept(socket: net.Socket, callback: number): void {
    const vm = this.vm;
    const L = this.L;
    socket.setNoDelay(true);
    const state: SocketState = { socket, self: 0, handlers: {}, sending: false, closedLocally: false, gone: false };
    vm.pushObject("net.tcpsocket", state);
    state.self = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.sockets.add(state);
    vm.call(callback, (L2) => {
      lua.lua_rawgeti(L2, lua.LUA_REGISTRYINDEX, state.self);
      return 1;
    });
    socket.on("data", (buf: Buffer) => this.receive(state, buf));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      state.gone = true;
      this.sockets.delete(state);
      if (!this.stopped && !state.closedLocally && state.handlers.disconnection !== undefined) {
        this.callSocket(state, "disconnection", (L2) => (lua.lua_pushinteger(L2, 0), 2));
      }
      for (const ref of Object.values(state.handlers)) vm.unref(ref);
      state.handlers = {};
      vm.unref(state.self);
    });
  }

  /** Hands received bytes to Lua in chunks of at most 1460 bytes, split at arbitrary points. */
  private receive(state: SocketState, buf: Buffer): void {
    let at = 0;
    while (at < buf.length && !this.stopped && !state.closedLocally) {
      // Mostly full segments, now and then a cut anywhere: the core must not care.
      const size = this.random() < 0.25 ? 1 + Math.floor(this.random() * MAX_RECEIVE) : MAX_RECEIVE;
      const chunk = buf.subarray(at, Math.min(buf.length, at + size));
      at += chunk.length;
      if (state.handlers.receive === undefined) continue;
      this.callSocket(state, "receive", (L) => (pushBytes(L, chunk), 2));
    }
  }

  /** Calls a socket's handler with (socket, ...); `pushMore` pushes the rest and returns the total count. */
  private callSocket(state: SocketState, event: string, pushMore: (L: LuaState) => number): void {
    const ref = state.handlers[event];
    if (ref === undefined) return;
    this.vm.call(ref, (L) => {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, state.self);
      return pushMore(L);
    });
    if (this.heapSampleEvery > 0 && ++this.callbacks % this.heapSampleEvery === 0) this.sampleHeap();
  }

  // ---- tmr ----

  private installTmr(): void {
    const vm = this.vm;
    const stopTimer = (t: TimerState) => {
      if (t.handle) clearTimeout(t.handle);
      t.handle = undefined;
      this.timers.delete(t);
    };
    const arm = (t: TimerState) => {
      this.timers.add(t);
      t.handle = setTimeout(() => {
        t.handle = undefined;
        if (this.stopped) return;
        if (t.mode === ALARM_AUTO) arm(t);
        else this.timers.delete(t);
        vm.call(t.callback, (L) => {
          lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, t.self);
          return 1;
        });
      }, t.interval);
    };
    const release = (t: TimerState) => {
      stopTimer(t);
      if (t.callback) vm.unref(t.callback);
      t.callback = 0;
    };
    vm.defineClass("tmr.timer", {
      alarm: (L) => {
        const t = vm.checkObject<TimerState>(L, 1, "tmr.timer");
        const interval = lauxlib.luaL_checkinteger(L, 2);
        const mode = lauxlib.luaL_checkinteger(L, 3);
        if (interval <= 0) raise(L, "wrong arg range: interval must be positive");
        if (mode !== ALARM_SINGLE && mode !== ALARM_SEMI && mode !== ALARM_AUTO) raise(L, "wrong arg range: mode");
        release(t);
        t.callback = vm.ref(L, 4);
        t.interval = interval;
        t.mode = mode;
        arm(t);
        lua.lua_pushboolean(L, 1);
        return 1;
      },
      start: (L) => {
        const t = vm.checkObject<TimerState>(L, 1, "tmr.timer");
        if (!t.callback) raise(L, "timer not registered");
        if (!t.handle) arm(t);
        lua.lua_pushboolean(L, 1);
        return 1;
      },
      stop: (L) => {
        stopTimer(vm.checkObject<TimerState>(L, 1, "tmr.timer"));
        lua.lua_pushboolean(L, 1);
        return 1;
      },
      unregister: (L) => {
        release(vm.checkObject<TimerState>(L, 1, "tmr.timer"));
        return 0;
      },
    });
    vm.setModule(
      "tmr",
      {
        create: (L) => {
          const t: TimerState = { self: 0, callback: 0, interval: 0, mode: 0 };
          vm.pushObject("tmr.timer", t);
          // A timer object stays alive while armed, as on the board.
          lua.lua_pushvalue(L, -1);
          t.self = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
          return 1;
        },
        now: (L) => {
          lua.lua_pushinteger(L, Number(process.hrtime.bigint() / 1000n) | 0);
          return 1;
        },
      },
      { ALARM_SINGLE, ALARM_SEMI, ALARM_AUTO },
    );
  }

  // ---- io, file, sdmmc ----

  private cardHostPath(path: string): string | undefined {
    const cardPath = cardPathOf(path);
    if (cardPath === undefined || !this.mounted || !this.card) return undefined;
    try {
      return this.card.hostPath(cardPath);
    } catch {
      return undefined;
    }
  }

  private open(path: string, mode: string): OpenFile {
    const f = openFile(this.mounted ? this.card : undefined, this.spiffs, path, mode);
    this.files.add(f);
    return f;
  }

  private installFiles(): void {
    const vm = this.vm;
    const ioFile = (L: LuaState) => {
      const f = vm.checkObject<OpenFile>(L, 1, "io.file");
      if (f.closed) raise(L, "attempt to use a closed file");
      return f;
    };
    vm.defineClass("io.file", {
      read: (L) => {
        const f = ioFile(L);
        const what = lua.lua_isnoneornil(L, 2) ? "l" : lua.lua_type(L, 2) === lua.LUA_TNUMBER ? lauxlib.luaL_checkinteger(L, 2) : checkText(L, 2).replace("*", "");
        if (typeof what === "number") {
          let data: Buffer | undefined;
          try {
            data = f.read(Math.max(what, 1));
          } catch (e) {
            lua.lua_pushnil(L);
            pushText(L, (e as Error).message);
            return 2;
          }
          if (data === undefined) return lua.lua_pushnil(L), 1;
          pushBytes(L, what === 0 ? Buffer.alloc(0) : data);
          return 1;
        }
        if (what === "a") {
          const parts: Buffer[] = [];
          for (let d = f.read(4096); d !== undefined; d = f.read(4096)) parts.push(d);
          pushBytes(L, Buffer.concat(parts));
          return 1;
        }
        raise(L, `read format '${what}' is not emulated`);
      },
      write: (L) => {
        const f = ioFile(L);
        try {
          for (let i = 2; i <= lua.lua_gettop(L); i++) f.write(checkBytes(L, i));
        } catch (e) {
          lua.lua_pushnil(L);
          pushText(L, (e as Error).message);
          return 2;
        }
        lua.lua_pushvalue(L, 1);
        return 1;
      },
      seek: (L) => {
        const f = ioFile(L);
        try {
          lua.lua_pushinteger(L, f.seek(optText(L, 2, "cur"), lauxlib.luaL_optinteger(L, 3, 0)));
          return 1;
        } catch (e) {
          lua.lua_pushnil(L);
          pushText(L, (e as Error).message);
          return 2;
        }
      },
      flush: (L) => {
        ioFile(L).flush();
        lua.lua_pushvalue(L, 1);
        return 1;
      },
      close: (L) => {
        const f = ioFile(L);
        this.files.delete(f);
        try {
          f.close();
        } catch (e) {
          lua.lua_pushnil(L);
          pushText(L, (e as Error).message);
          return 2;
        }
        lua.lua_pushboolean(L, 1);
        return 1;
      },
    });
    vm.setModule("io", {
      open: (L) => {
        const path = checkText(L, 1);
        try {
          vm.pushObject("io.file", this.open(path, optText(L, 2, "r")));
          return 1;
        } catch (e) {
          if (!(e instanceof FileError)) throw e;
          lua.lua_pushnil(L);
          pushText(L, `${path}: ${e.message}`);
          return 2;
        }
      },
      write: (L) => {
        const parts: string[] = [];
        for (let i = 1; i <= lua.lua_gettop(L); i++) parts.push(checkText(L, i));
        this.vm.write(parts.join(""));
        return 0;
      },
    });

    // The file module: SPIFFS by default, the card with /SD0 paths.
    const fileObj = (L: LuaState) => {
      const f = vm.checkObject<OpenFile>(L, 1, "file.obj");
      if (f.closed) raise(L, "open a file first");
      return f;
    };
    const checkName = (L: LuaState, index: number) => {
      const path = checkText(L, index);
      const base = path.slice(path.lastIndexOf("/") + 1);
      if (base.length > SPIFFS_NAME_MAX || path.includes("\0")) lauxlib.luaL_argerror(L, index, to_luastring("filename invalid"));
      return path;
    };
    vm.defineClass("file.obj", {
      read: (L) => {
        const f = fileObj(L);
        const n = lua.lua_isnoneornil(L, 2) ? 1024 : lauxlib.luaL_checkinteger(L, 2);
        const data = f.read(n);
        if (data === undefined) lua.lua_pushnil(L);
        else pushBytes(L, data);
        return 1;
      },
      write: (L) => {
        const f = fileObj(L);
        try {
          f.write(checkBytes(L, 2));
          lua.lua_pushboolean(L, 1);
        } catch {
          lua.lua_pushnil(L);
        }
        return 1;
      },
      seek: (L) => {
        lua.lua_pushinteger(L, fileObj(L).seek(optText(L, 2, "cur"), lauxlib.luaL_optinteger(L, 3, 0)));
        return 1;
      },
      flush: (L) => {
        fileObj(L).flush();
        lua.lua_pushboolean(L, 1);
        return 1;
      },
      close: (L) => {
        const f = vm.checkObject<OpenFile>(L, 1, "file.obj");
        if (!f.closed) f.close();
        this.files.delete(f);
        return 0;
      },
    });
    const resolve = (path: string) => (path.startsWith("/") ? path : this.cwd + "/" + path);
    vm.setModule("file", {
      open: (L) => {
        const path = resolve(checkName(L, 1));
        try {
          vm.pushObject("file.obj", this.open(path, optText(L, 2, "r")));
        } catch (e) {
          if (!(e instanceof FileError)) throw e;
          lua.lua_pushnil(L);
        }
        return 1;
      },
      exists: (L) => {
        lua.lua_pushboolean(L, this.stat(resolve(checkName(L, 1))) !== undefined ? 1 : 0);
        return 1;
      },
      stat: (L) => {
        const path = checkText(L, 1);
        if (path.length > FS_OBJ_NAME_LEN) lauxlib.luaL_argerror(L, 1, to_luastring("filename invalid"));
        const st = this.stat(resolve(path));
        if (st === undefined) return lua.lua_pushnil(L), 1;
        lua.lua_newtable(L);
        lua.lua_pushinteger(L, st.size);
        lua.lua_setfield(L, -2, to_luastring("size"));
        pushText(L, st.name);
        lua.lua_setfield(L, -2, to_luastring("name"));
        lua.lua_pushboolean(L, st.isDir ? 1 : 0);
        lua.lua_setfield(L, -2, to_luastring("is_dir"));
        return 1;
      },
      remove: (L) => {
        const path = resolve(checkName(L, 1));
        const cardPath = cardPathOf(path);
        if (cardPath !== undefined) {
          if (this.mounted && this.card && this.card.size(cardPath) >= 0) this.card.remove(cardPath);
        } else {
          const name = Spiffs.nameOf(path);
          if (name !== undefined) this.spiffs.remove(name);
        }
        return 0;
      },
      rename: (L) => {
        const from = resolve(checkName(L, 1));
        const to = resolve(checkName(L, 2));
        lua.lua_pushboolean(L, this.rename(from, to) ? 1 : 0);
        return 1;
      },
      mkdir: (L) => {
        const cardPath = cardPathOf(resolve(checkText(L, 1)));
        if (cardPath === undefined || !this.mounted || !this.card) return lua.lua_pushboolean(L, 0), 1;
        try {
          this.card.mkdir(cardPath);
          lua.lua_pushboolean(L, 1);
        } catch {
          lua.lua_pushboolean(L, 0);
        }
        return 1;
      },
      chdir: (L) => {
        const dir = checkText(L, 1).replace(/\/+$/, "");
        const ok = dir === "/FLASH" || (this.stat(dir)?.isDir ?? false) || (dir === CARD_MOUNT && this.mounted);
        if (ok) this.cwd = dir;
        lua.lua_pushboolean(L, ok ? 1 : 0);
        return 1;
      },
      list: (L) => {
        lua.lua_newtable(L);
        for (const [name, size] of this.list(this.cwd)) {
          lua.lua_pushinteger(L, size);
          lua.lua_setfield(L, -2, Buffer.from(name, "latin1"));
        }
        return 1;
      },
      getcontents: (L) => {
        const path = resolve(checkName(L, 1));
        try {
          const f = this.open(path, "r");
          const parts: Buffer[] = [];
          for (let d = f.read(4096); d !== undefined; d = f.read(4096)) parts.push(d);
          f.close();
          this.files.delete(f);
          pushBytes(L, Buffer.concat(parts));
          return 1;
        } catch (e) {
          if (!(e instanceof FileError)) throw e;
          return 0;
        }
      },
      putcontents: (L) => {
        const path = resolve(checkName(L, 1));
        const data = checkBytes(L, 2);
        try {
          const f = this.open(path, "w");
          f.write(data);
          f.close();
          this.files.delete(f);
          lua.lua_pushboolean(L, 1);
        } catch (e) {
          if (!(e instanceof FileError)) throw e;
          lua.lua_pushnil(L);
        }
        return 1;
      },
      fsinfo: (L) => {
        let used = 0;
        for (const [, size] of this.spiffs.list()) used += size;
        const total = 1024 * 1024;
        lua.lua_pushinteger(L, total - used);
        lua.lua_pushinteger(L, used);
        lua.lua_pushinteger(L, total);
        return 3;
      },
    });

    vm.defineClass("sdmmc.card", {
      mount: (L) => {
        const where = checkText(L, 2);
        const ok = where === CARD_MOUNT && this.card !== undefined;
        this.mounted = this.mounted || ok;
        lua.lua_pushboolean(L, ok ? 1 : 0);
        return 1;
      },
      umount: (L) => {
        this.mounted = false;
        lua.lua_pushboolean(L, 1);
        return 1;
      },
    });
    vm.setModule(
      "sdmmc",
      {
        init: (L) => {
          const slot = lauxlib.luaL_checkinteger(L, 1);
          lauxlib.luaL_checktype(L, 2, lua.LUA_TTABLE);
          if (slot < 0 || slot > 3) raise(L, "invalid slot");
          if (slot >= 2) {
            for (const pin of ["sck_pin", "mosi_pin", "miso_pin", "cs_pin"]) {
              lua.lua_getfield(L, 2, to_luastring(pin));
              if (!lua.lua_isinteger(L, -1)) raise(L, `${pin} missing`);
              lua.lua_pop(L, 1);
            }
          }
          vm.pushObject("sdmmc.card", {});
          return 1;
        },
      },
      { HS1: 0, HS2: 1, SPI2: 2, SPI3: 3 },
    );
  }

  private stat(path: string): { size: number; name: string; isDir: boolean } | undefined {
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (cardPathOf(path) !== undefined) {
      const host = this.cardHostPath(path);
      if (host === undefined || !fs.existsSync(host)) return undefined;
      const st = fs.statSync(host);
      return { size: st.isFile() ? st.size : 0, name, isDir: st.isDirectory() };
    }
    const spiffsName = Spiffs.nameOf(path);
    const data = spiffsName === undefined ? undefined : this.spiffs.read(spiffsName);
    return data === undefined ? undefined : { size: data.length, name, isDir: false };
  }

  private list(dir: string): [string, number][] {
    if (dir === "/FLASH") return this.spiffs.list();
    const cardPath = cardPathOf(dir);
    if (cardPath === undefined || !this.card) return [];
    return this.card.list(cardPath).map((name) => [name, this.stat(dir + "/" + name)?.size ?? 0]);
  }

  private rename(from: string, to: string): boolean {
    if (this.stat(from) === undefined || this.stat(to) !== undefined) return false; // FAT refuses to overwrite
    const a = this.cardHostPath(from);
    const b = this.cardHostPath(to);
    if (a && b) {
      fs.renameSync(a, b);
      return true;
    }
    const na = Spiffs.nameOf(from);
    const nb = Spiffs.nameOf(to);
    if (na === undefined || nb === undefined || !Spiffs.valid(nb)) return false;
    this.spiffs.write(nb, this.spiffs.read(na)!);
    this.spiffs.remove(na);
    return true;
  }

  // ---- node, time, wifi, uart, encoder, crypto, collectgarbage, dofile ----

  private installSystem(): void {
    const vm = this.vm;
    const L0 = this.L;
    vm.setModule("node", {
      heap: (L) => {
        lua.lua_pushinteger(L, Math.max(0, HEAP_BYTES - this.heapBytes()));
        return 1;
      },
      restart: () => {
        this.later(() => this.options.onRestart());
        return 0;
      },
      chipid: (L) => (pushText(L, "0x24a1600000000000"), 1),
    });
    lua.lua_getglobal(L0, to_luastring("node"));
    lua.lua_newtable(L0);
    vm.setFields({
      post: (L) => {
        const fnIndex = lua.lua_type(L, 1) === lua.LUA_TNUMBER ? 2 : 1; // post([priority,] fn)
        const ref = vm.ref(L, fnIndex);
        this.later(() => {
          vm.call(ref);
          vm.unref(ref);
        });
        return 0;
      },
    });
    lua.lua_setfield(L0, -2, to_luastring("task"));
    lua.lua_pop(L0, 1);

    vm.setModule("time", {
      get: (L) => {
        lua.lua_pushinteger(L, this.options.clock());
        lua.lua_pushinteger(L, 0);
        return 2;
      },
      initntp: () => 0,
    });

    vm.setModule("wifi", { mode: () => 0, start: () => 0, stop: () => 0 }, { STATION: 1, SOFTAP: 2, STATIONAP: 3, NULLMODE: 0 });
    lua.lua_getglobal(L0, to_luastring("wifi"));
    lua.lua_newtable(L0);
    vm.setFields({
      config: (L) => (lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE), 0),
      connect: () => 0,
      disconnect: () => 0,
      getip: (L) => (pushText(L, "127.0.0.1"), 1),
    });
    lua.lua_setfield(L0, -2, to_luastring("sta"));
    lua.lua_pop(L0, 1);

    let uartReceiver = 0;
    vm.setModule("uart", {
      setup: () => 0,
      // uart.on("data", [id,] 0, function(data) end, run_input): every byte as it comes.
      on: (L) => {
        if (checkText(L, 1) !== "data") raise(L, "only the data event is emulated");
        const fnIndex = lua.lua_type(L, 2) === lua.LUA_TNUMBER && lua.lua_type(L, 3) === lua.LUA_TNUMBER ? 4 : 3;
        if (uartReceiver) vm.unref(uartReceiver);
        uartReceiver = lua.lua_isnoneornil(L, fnIndex) ? 0 : vm.ref(L, fnIndex);
        this.options.serial?.setReceiver((data) => {
          if (!this.stopped && uartReceiver) vm.call(uartReceiver, (L2) => (pushText(L2, data), 1));
        });
        return 0;
      },
      write: (L) => {
        const parts: string[] = [];
        for (let i = 2; i <= lua.lua_gettop(L); i++) parts.push(checkText(L, i));
        if (this.options.serial) this.options.serial.write(parts.join(""));
        else this.vm.write(parts.join(""));
        return 0;
      },
    });

    vm.setModule("encoder", {
      toBase64: (L) => (pushText(L, checkBytes(L, 1).toString("base64")), 1),
      fromBase64: (L) => {
        const text = checkText(L, 1);
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) raise(L, "not base64");
        pushBytes(L, Buffer.from(text, "base64"));
        return 1;
      },
      toHex: (L) => (pushText(L, checkBytes(L, 1).toString("hex")), 1),
      fromHex: (L) => {
        const text = checkText(L, 1);
        if (!/^([0-9a-fA-F]{2})*$/.test(text)) raise(L, "not hex");
        pushBytes(L, Buffer.from(text, "hex"));
        return 1;
      },
    });

    vm.defineClass("crypto.hash", {
      update: (L) => {
        vm.checkObject<crypto.Hash>(L, 1, "crypto.hash").update(checkBytes(L, 2));
        return 0;
      },
      finalize: (L) => {
        pushBytes(L, vm.checkObject<crypto.Hash>(L, 1, "crypto.hash").digest());
        return 1;
      },
    });
    const algorithm = (L: LuaState, index: number) => {
      const name = checkText(L, index).toLowerCase();
      if (!["md5", "sha1", "sha256"].includes(name)) raise(L, `unknown hash ${name}`);
      return name;
    };
    vm.setModule("crypto", {
      new_hash: (L) => (vm.pushObject("crypto.hash", crypto.createHash(algorithm(L, 1))), 1),
      hash: (L) => (pushBytes(L, crypto.createHash(algorithm(L, 1)).update(checkBytes(L, 2)).digest()), 1),
    });

    // fengari counts no memory: collectgarbage("count") reports the live heap instead.
    vm.setGlobalFunction("collectgarbage", (L) => {
      const what = optText(L, 1, "collect");
      if (what === "count") {
        const bytes = this.sampleHeap();
        lua.lua_pushnumber(L, bytes / 1024);
        return 1;
      }
      lua.lua_pushinteger(L, 0);
      return 1;
    });
    // dofile/loadfile read SPIFFS, as on the board.
    vm.setGlobalFunction("dofile", (L) => {
      const name = checkText(L, 1);
      const data = this.spiffs.read(Spiffs.nameOf(name) ?? "");
      if (data === undefined) raise(L, `cannot open ${name}`);
      if (lauxlib.luaL_loadbuffer(L, data, data.length, to_luastring("@" + name)) !== lua.LUA_OK) lua.lua_error(L);
      const base = lua.lua_gettop(L) - 1;
      lua.lua_call(L, 0, lua.LUA_MULTRET);
      return lua.lua_gettop(L) - base;
    });
    lua.lua_pushnil(L0);
    lua.lua_setglobal(L0, to_luastring("loadfile"));
  }
}
