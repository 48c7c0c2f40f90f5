/**
 * TypeScript declarations of the NodeMCU modules (branch dev-esp32, Lua 5.3)
 * the adapter uses, as their C sources define them (components/modules/*.c;
 * only what dev-esp32 has). Module functions are called with `.` (@noSelf);
 * methods of the objects they return (sockets, timers, files) with `:`.
 * Callbacks handed to the firmware are plain Lua functions: `this: void`.
 */

/** @noSelf */
declare namespace net {
  const TCP: number;
  /** net.c:371: the timeout is TCP keep-alive in seconds, not an idle timer. */
  function createServer(type: number, timeoutSeconds?: number): NetServer;
  /** net.c:386: a client socket, not yet connected (secure connections raise). */
  function createConnection(type: number): NetSocket;
}

/** @noSelf */
declare namespace net.dns {
  /**
   * net.c:886 net_dns_static: `callback(ip)` from the event loop, ip nil when
   * the name is unknown (ldnsstatic_cb, net.c:986); raises on a bad name.
   */
  function resolve(name: string, callback: (this: void, address: string | undefined) => void): void;
}

interface NetServer {
  /** net.c:463 */
  listen(port: number, onConnection: (this: void, socket: NetSocket) => void): void;
  close(): void;
}

interface NetSocket {
  /** net.c:561: a function registers, undefined (nil) unregisters; references are freed only by the socket's __gc. */
  on(event: "receive", callback: ((this: void, socket: NetSocket, data: string) => void) | undefined): void;
  on(event: "sent", callback: ((this: void, socket: NetSocket) => void) | undefined): void;
  on(event: "disconnection" | "reconnection", callback: ((this: void, socket: NetSocket, error?: number) => void) | undefined): void;
  /** net.c:1004 lconnected_cb: a client socket is connected. */
  on(event: "connection", callback: ((this: void, socket: NetSocket) => void) | undefined): void;
  /**
   * net.c:536 net_connect: looks `host` up, then connects ("connection"); a
   * failure is "reconnection" with the lwIP error when registered, else
   * "disconnection" (lerr_cb, net.c:1085). Raises on a bad name (net.c:449).
   */
  connect(port: number, host: string): void;
  /** net.c:603. One send outstanding: the next one only after "sent". Raises "not connected" after a close. */
  send(data: string): void;
  /** net.c:757: raises "not connected" on a closed socket. */
  close(): void;
  /** Port and IP address of the peer, nil nil once closed (net.c:699 net_getpeer). */
  getpeer(): LuaMultiReturn<[number | undefined, string | undefined]>;
}

/** @noSelf */
declare namespace tmr {
  const ALARM_SINGLE: number;
  const ALARM_AUTO: number;
  function create(): NodeTimer;
}

interface NodeTimer {
  /** tmr.c:138: the interval in ms, at least one 10 ms tick (a period of 0 ticks asserts in FreeRTOS). */
  alarm(intervalMs: number, mode: number, callback: (this: void, timer: NodeTimer) => void): boolean;
  unregister(): void;
}

/** @noSelf */
declare namespace time {
  /** time.c:31: seconds and microseconds since the epoch (0 before SNTP sync). */
  function get(): LuaMultiReturn<[number, number]>;
  function initntp(server?: string): void;
}

/** @noSelf */
declare namespace file {
  /** file.c:39: names and sizes in a directory (SPIFFS without one); nil when it cannot be opened. */
  function list(dir?: string): LuaTable<string, number> | undefined;
  /** file.c:79 */
  function exists(path: string): boolean;
  /** file.c:92: unlink(), no result. */
  function remove(path: string): void;
  /** file.c:102: false when the target exists. */
  function rename(from: string, to: string): boolean;
  /** file.c:133: returns nothing, raises on failure. */
  function mkdir(path: string): void;
}

/** Lua's standard io file (liolib.c), on ESP-IDF's VFS: SPIFFS at the root, the card at /SD0. */
interface LuaFile {
  /** Undefined at the end of the file; undefined and a reason on failure. */
  read(what: number | "a"): LuaMultiReturn<[string | undefined, string | undefined]>;
  write(data: string): LuaMultiReturn<[LuaFile | undefined, string | undefined]>;
  seek(whence: "set" | "cur" | "end", offset: number): LuaMultiReturn<[number | undefined, string | undefined]>;
  /** true, or undefined and a reason. */
  flush(): boolean | undefined;
  close(): LuaMultiReturn<[boolean | undefined, string | undefined]>;
}

/** @noSelf */
declare namespace io {
  function open(path: string, mode: string): LuaMultiReturn<[LuaFile | undefined, string | undefined]>;
}

interface SdCard {
  /** sdmmc.c:348: false when no FAT file system can be mounted. */
  mount(path: string): boolean;
}

/** @noSelf */
declare namespace sdmmc {
  /** sdmmc.c:96: raises when the slot or card cannot be initialised; in SD-SPI mode only cs_pin counts (the bus comes from spi.master). */
  function init(slot: number, config: { cs_pin: number }): SdCard;
}

/** @noSelf */
declare namespace spi {
  /** spi_master.c:217: initialises an SPI bus (only SPI1/SPI2 pass its host check). */
  function master(host: number, config: { sclk: number; mosi: number; miso: number }, dma?: number): object;
}

/** @noSelf */
declare namespace wifi {
  const STATION: number;
  function mode(mode: number): void;
  function start(): void;
}

/** @noSelf */
declare namespace wifi.sta {
  /** wifi_sta.c:243 */
  function config(options: { ssid: string; pwd: string }, save: boolean): void;
  function connect(): void;
  /** wifi_sta.c:530: events start, stop, connected, disconnected, authmode_changed, got_ip. */
  function on(event: string, callback: ((this: void, event: string, info: { ip?: string }) => void) | undefined): void;
}

/** @noSelf */
declare namespace uart {
  /** uart.c:95 uart.on([id], method, [number/end_char], [function], [run_input]). */
  function on(id: number, event: "data", count: number, callback: (this: void, data: string) => void, runInput: number): void;
  function write(id: number, data: string): void;
}

/** @noSelf */
declare namespace node {
  function heap(): number;
  function restart(): void;
}

/** @noSelf */
declare namespace node.task {
  /** node.c:791: runs `callback` from the event loop, after the current callback returns. */
  function post(callback: (this: void) => void): void;
}

/** @noSelf */
declare namespace sodium.random {
  /** sodium.c:16: randombytes_random() as a signed 32-bit integer; libsodium's ESP-IDF port draws it from esp_random(), the hardware RNG. */
  function random(): number;
}

/** @noSelf */
declare namespace math {
  function random(m: number, n: number): number;
}

declare function print(this: void, line: string): void;
/** Lua 5.3 (lbaselib.c luaB_collectgarbage): "collect" runs a full collection. */
declare function collectgarbage(this: void, opt: "collect"): number;
declare function pcall(this: void, f: (this: void, arg: string) => void, arg: string): LuaMultiReturn<[boolean, string | undefined]>;

/**
 * Lua 5.3's string library (manual 6.4.1; lstrlib.c str_find_aux): `find`
 * with a pattern searches natively in one call, however long the string.
 */
/** @noSelf */
declare namespace string {
  function find(s: string, pattern: string, init?: number, plain?: boolean): number | undefined;
}
