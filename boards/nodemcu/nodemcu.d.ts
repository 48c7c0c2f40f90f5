/**
 * TypeScript declarations of the NodeMCU (ESP32, Lua 5.3) modules the adapter
 * uses. Module functions are called with `.` (@noSelf); methods of the
 * objects they return (sockets, timers, files) with `:`. Callbacks handed to
 * the firmware are plain Lua functions: `this: void`.
 */

/** @noSelf */
declare namespace net {
  const TCP: number;
  function createServer(type: number, timeoutSeconds?: number): NetServer;
}

interface NetServer {
  listen(port: number, onConnection: (this: void, socket: NetSocket) => void): void;
  close(): void;
}

interface NetSocket {
  on(event: "receive", callback: (this: void, socket: NetSocket, data: string) => void): void;
  on(event: "sent", callback: (this: void, socket: NetSocket) => void): void;
  on(event: "disconnection", callback: (this: void, socket: NetSocket, error?: number) => void): void;
  /** One send outstanding: the next one only after "sent". */
  send(data: string): void;
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
  alarm(intervalMs: number, mode: number, callback: (this: void, timer: NodeTimer) => void): void;
  unregister(): void;
}

/** @noSelf */
declare namespace time {
  /** Seconds and microseconds since the epoch (0 before SNTP sync). */
  function get(): LuaMultiReturn<[number, number]>;
  function initntp(server?: string): void;
}

interface FileStat {
  size: number;
  name: string;
  is_dir: boolean;
}

/** @noSelf */
declare namespace file {
  /** Names and sizes in the current directory (see chdir). */
  function list(): LuaTable<string, number>;
  function chdir(dir: string): boolean;
  function exists(path: string): boolean;
  function remove(path: string): void;
  function rename(from: string, to: string): boolean;
  function mkdir(path: string): boolean;
  function stat(path: string): FileStat | undefined;
  function getcontents(path: string): string | undefined;
  function putcontents(path: string, data: string): boolean | undefined;
}

/** Lua's standard io file, on the VFS (the card is mounted at /SD0). */
interface LuaFile {
  /** Undefined at the end of the file; undefined and a reason on failure. */
  read(length: number): LuaMultiReturn<[string | undefined, string | undefined]>;
  write(data: string): LuaMultiReturn<[LuaFile | undefined, string | undefined]>;
  seek(whence: "set" | "cur" | "end", offset: number): LuaMultiReturn<[number | undefined, string | undefined]>;
  flush(): LuaFile | undefined;
  close(): LuaMultiReturn<[boolean | undefined, string | undefined]>;
}

/** @noSelf */
declare namespace io {
  function open(path: string, mode: string): LuaMultiReturn<[LuaFile | undefined, string | undefined]>;
}

interface SdCard {
  mount(path: string): boolean;
}

/** @noSelf */
declare namespace sdmmc {
  function init(slot: number, pins: { sck_pin: number; mosi_pin: number; miso_pin: number; cs_pin: number }): SdCard;
}

/** @noSelf */
declare namespace wifi {
  const STATION: number;
  function mode(mode: number): void;
  function start(): void;
}

/** @noSelf */
declare namespace wifi.sta {
  function config(options: { ssid: string; pwd: string; auto: boolean }, save: boolean): void;
  function connect(): void;
}

/** @noSelf */
declare namespace uart {
  /** Every byte from the host (`count` 0); `runInput` 1 keeps feeding the Lua prompt too. */
  function on(event: "data", id: number, count: number, callback: (this: void, data: string) => void, runInput: number): void;
  function write(id: number, data: string): void;
}

/** @noSelf */
declare namespace node {
  function heap(): number;
  function restart(): void;
}

/** @noSelf */
declare namespace node.task {
  /** Runs `callback` from the event loop, after the current callback returns. */
  function post(callback: (this: void) => void): void;
}

/** @noSelf */
declare namespace math {
  function random(m: number, n: number): number;
}

declare function print(this: void, line: string): void;
