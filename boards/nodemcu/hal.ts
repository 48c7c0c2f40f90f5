/**
 * The core's hardware interface (firmware/hal.ts) on NodeMCU's own modules:
 * `net` sockets, `tmr` timers, `io` files on the card mounted at /SD0, the
 * `file` module for directories, `time` for the clock.
 */
import type { Connection, ConnectionEvents, ConnectOptions, FileHandle, Hal, InternalFlash, Listener, ListenOptions, SerialLine, Storage, Timer } from "../../firmware/hal";

/** Where boot() mounts the card. */
export const CARD_ROOT = "/SD0";

function fail(what: string, path: string, reason: string | undefined): never {
  throw new Error(what + " " + path + ": " + (reason === undefined ? "failed" : reason));
}

function openFile(path: string, mode: string): FileHandle {
  // Binary modes: newlib would otherwise be free to translate line endings.
  const ioMode = mode === "r" ? "rb" : mode === "w" ? "wb" : mode === "a" ? "ab" : fail("open", path, "bad mode " + mode);
  const [handle, reason] = io.open(CARD_ROOT + path, ioMode);
  if (handle === undefined) return fail("open", path, reason);
  const f = handle;
  return {
    read(length: number): string | undefined {
      const [data, why] = f.read(length);
      if (data === undefined && why !== undefined) fail("read", path, why);
      return data;
    },
    write(data: string): void {
      const [ok, why] = f.write(data);
      if (ok === undefined) fail("write", path, why);
      // Appends are the store's commit records: durable before the caller answers.
      if (mode === "a" && f.flush() === undefined) fail("flush", path, undefined);
    },
    seek(offset: number): void {
      const [at, why] = f.seek("set", offset);
      if (at === undefined) fail("seek", path, why);
    },
    close(): void {
      const [ok, why] = f.close();
      if (ok === undefined) fail("close", path, why);
    },
  };
}

/** The last path component and its directory ("/LB/X" -> "/LB", "X"). */
function splitPath(path: string): [string, string] {
  let slash = path.length - 1;
  while (slash > 0 && path.charAt(slash) !== "/") slash--;
  return [slash <= 0 ? "/" : path.substring(0, slash), path.substring(slash + 1)];
}

/** file.list() of a card directory (file.c:39): names and sizes, undefined when it cannot be opened. */
function listCard(dir: string): LuaTable<string, number> | undefined {
  return file.list(dir === "/" ? CARD_ROOT : CARD_ROOT + dir);
}

/** How the card is wired: the SPI host (spi and sdmmc constant name, e.g. "SPI2") and the pins. */
export interface CardWiring {
  sdSlot: string;
  sck: number;
  mosi: number;
  miso: number;
  cs: number;
}

/**
 * Mounts the card at /SD0 the way dev-esp32 wants it, or throws why not:
 * the SPI bus first (spi.master, spi_master.c:217; once), then the SD-SPI
 * device on it (sdmmc.init, sdmmc.c:96: on ESP-IDF 5 it ignores sck/mosi/miso,
 * sdmmc.c:133-139), then FAT (card:mount, sdmmc.c:348). Retried on every
 * use until it succeeds, so a card put in after boot is found.
 * The bus object is held for the board's life: its __gc frees the bus
 * (spi_master.c:339, lspi_host_free :204-209 calls spi_bus_free), after which
 * sdmmc.init fails "failed to init slot" (sdmmc.c:181, :214) for good.
 */
export function cardMounter(wiring: CardWiring): (this: void) => void {
  let bus: object | undefined = undefined;
  let mounted = false;
  const hosts = spi as unknown as { [name: string]: number };
  const slots = sdmmc as unknown as { [name: string]: number };
  return function (this: void): void {
    if (mounted) return;
    if (bus === undefined) {
      const [ok, why] = pcall(() => {
        bus = spi.master(hosts[wiring.sdSlot], { sclk: wiring.sck, mosi: wiring.mosi, miso: wiring.miso });
      }, "");
      if (!ok || bus === undefined) fail("SPI bus", wiring.sdSlot, why);
    }
    let card: SdCard | undefined = undefined;
    const [ok, why] = pcall(() => {
      card = sdmmc.init(slots[wiring.sdSlot], { cs_pin: wiring.cs });
    }, "");
    if (!ok || card === undefined) return fail("mount", CARD_ROOT, "no SD card (" + why + ")");
    if (!(card as SdCard).mount(CARD_ROOT)) fail("mount", CARD_ROOT, "no FAT file system on the card");
    mounted = true;
  };
}

/**
 * The card as the core's Storage, on dev-esp32's API: contents through `io`,
 * directories through `file` (list, exists, remove, mkdir; file.c:157-166).
 * `mount` runs first in every call (and throws when there is no card).
 */
export function cardStorage(mount: (this: void) => void): Storage {
  return {
    open(path: string, mode: string): FileHandle {
      mount();
      return openFile(path, mode);
    },
    size(path: string): number {
      mount();
      const [f] = io.open(CARD_ROOT + path, "rb");
      if (f !== undefined) {
        const [end] = f.seek("end", 0);
        f.close();
        if (end === undefined) fail("size", path, undefined);
        return end;
      }
      // No handle (missing, a directory, or all four in use): the directory listing knows.
      const [dir, name] = splitPath(path);
      const entries = listCard(dir);
      const size = entries === undefined ? undefined : entries.get(name);
      if (size === undefined || listCard(path) !== undefined) return -1;
      return size;
    },
    remove(path: string): void {
      mount();
      if (!file.exists(CARD_ROOT + path)) fail("remove", path, "no such file");
      file.remove(CARD_ROOT + path); // unlink(): no result (file.c:92)
      if (file.exists(CARD_ROOT + path)) fail("remove", path, undefined);
    },
    mkdir(path: string): void {
      mount();
      if (file.exists(CARD_ROOT + path)) return;
      // file.mkdir returns nothing and raises on failure (file.c:133).
      const [ok, why] = pcall(file.mkdir, CARD_ROOT + path);
      if (!ok) fail("mkdir", path, why);
    },
    list(path: string): string[] {
      mount();
      const entries = listCard(path);
      if (entries === undefined) return fail("list", path, "no such directory");
      const names: string[] = [];
      for (const [name] of entries) if (name !== "." && name !== "..") names.push(name);
      names.sort(); // FAT directory order is not the simulator's
      return names;
    },
  };
}

/**
 * One NodeMCU socket as the core's Connection, with at most one send
 * outstanding. net.c releases a socket's callbacks only when the socket is
 * collected (net_delete, net.c:786), and these callbacks reach the core's
 * session, which reaches the socket: so they are unregistered as the
 * connection ends, or the socket and its session would never be freed.
 * The callbacks use the socket they are given, never capture it.
 */
function adoptSocket(socket: NetSocket, onConnection: (conn: Connection) => ConnectionEvents): void {
  let sending = false;
  let closed = false;
  let closeReported = false;
  let events: ConnectionEvents | undefined = undefined;
  let sock: NetSocket | undefined = socket;
  const release = function (this: void, s: NetSocket): void {
    s.on("receive", undefined);
    s.on("sent", undefined);
    s.on("disconnection", undefined);
    sock = undefined;
  };
  const reportClose = function (this: void): void {
    if (closeReported || events === undefined) return;
    closeReported = true;
    events.onClose();
  };
  const conn: Connection = {
    send(data: string): void {
      if (closed || sock === undefined) return;
      if (sending) throw new Error("HAL violation: send() while a send is outstanding");
      sending = true;
      // net_send raises when the connection is already gone (net.c:646, lwip_lua_checkerr):
      // a peer that left just before its "disconnection" event. That is a close, not a crash.
      const s = sock;
      const [ok] = pcall((d) => s.send(d), data);
      if (!ok) {
        closed = true;
        sending = false;
        release(s);
        node.task.post(reportClose);
      }
    },
    close(): void {
      if (closed || sock === undefined) return;
      closed = true;
      const s = sock;
      release(s);
      s.close();
      // A local close raises no "disconnection" (net.c:757): report it from
      // the event loop, never from inside the core's own call.
      node.task.post(reportClose);
    },
    remoteAddress: socket.getpeer()[1],
  };
  socket.on("receive", (_s, data) => {
    if (!closed && events !== undefined) events.onData(data);
  });
  socket.on("sent", () => {
    sending = false;
    if (!closed && events !== undefined) events.onSent();
  });
  socket.on("disconnection", (s) => {
    closed = true;
    release(s);
    reportClose();
  });
  events = onConnection(conn);
}

/**
 * Hal.connect on a net client socket (net.c:386, :536): the name is looked
 * up by lwIP, then "connection" (net.c:1004) hands the socket to
 * adoptSocket; a failure before that is "disconnection" with the lwIP error
 * (lerr_cb, net.c:1085; no "reconnection" handler is set) or a raise from
 * connect itself (a bad name, net.c:449): onError, once. The socket is held
 * by its own reference while it connects (net.c:424-427); the callbacks use
 * the socket they are given.
 */
function connect(options: ConnectOptions): void {
  const socket = net.createConnection(net.TCP);
  let done = false;
  const fail = function (this: void, s: NetSocket, reason: string): void {
    if (done) return;
    done = true;
    s.on("connection", undefined);
    s.on("disconnection", undefined);
    options.onError(reason);
  };
  socket.on("connection", (s) => {
    if (done) return;
    done = true;
    s.on("connection", undefined);
    adoptSocket(s, options.onConnection);
  });
  socket.on("disconnection", (s, err) => fail(s, "connection failed (lwIP error " + (err === undefined ? "?" : err) + ")"));
  const [ok, why] = pcall((host) => socket.connect(options.port, host), options.host);
  if (!ok) node.task.post(() => fail(socket, why === undefined ? "connect failed" : why));
}

/** Hal.resolve on net.dns.resolve (net.c:886); a raise (a bad name) answers undefined from the event loop. */
function resolve(name: string, callback: (address: string | undefined) => void): void {
  const [ok] = pcall((n) => net.dns.resolve(n, (address) => callback(address)), name);
  if (!ok) node.task.post(() => callback(undefined));
}

function listen(options: ListenOptions): Listener {
  const server = net.createServer(net.TCP);
  server.listen(options.port, (socket) => adoptSocket(socket, options.onConnection));
  return {
    close(): void {
      server.close();
    },
  };
}

/** One FreeRTOS tick: tmr periods are whole ticks, and a period under one tick asserts (tmr.c:97). */
const TICK_MS = 10;

function setTimer(ms: number, callback: () => void): Timer {
  if (ms <= 0) {
    // "Run soon": a task post, never a zero-length timer.
    let cancelled = false;
    node.task.post(() => {
      if (!cancelled) callback();
    });
    return {
      cancel(): void {
        cancelled = true;
      },
    };
  }
  const timer = tmr.create();
  // Whole ticks, rounded up so that no timer fires early.
  const ticks = Math.ceil(ms / TICK_MS);
  timer.alarm(ticks * TICK_MS, tmr.ALARM_SINGLE, () => callback());
  return {
    cancel(): void {
      timer.unregister();
    },
  };
}

/** SPIFFS, the internal flash, through `io` (dev-esp32 has no file.getcontents/putcontents): settings live here, never on the card. */
const spiffs: InternalFlash = {
  read(name: string): string | undefined {
    const [f] = io.open(name, "rb");
    if (f === undefined) return undefined;
    const [data] = f.read("a");
    f.close();
    return data;
  },
  write(name: string, data: string): void {
    const [f, why] = io.open(name, "wb");
    if (f === undefined) return fail("write", name, why);
    const [ok, reason] = f.write(data);
    const [closed, closeReason] = f.close();
    if (ok === undefined) fail("write", name, reason);
    if (closed === undefined) fail("write", name, closeReason);
  },
  erase(name: string): void {
    file.remove(name);
  },
};

/**
 * UART 0 for the host tool's console frames: every byte to the core
 * (need_len 0), none to the Lua interpreter (run_input 0, uart.c:156), so a
 * frame is never executed as Lua. `letterbox flash` reaches the prompt again
 * by a console reboot and the pause of init.lua (docs/NODEMCU.md).
 */
const console0: SerialLine = {
  write(data: string): void {
    uart.write(0, data);
  },
  setReceiver(receiver: (data: string) => void): void {
    uart.on(0, "data", 0, (data) => receiver(data), 0);
  },
};

/**
 * Hal.findBareLF: one native pattern search per received chunk instead of
 * the DATA reader's walk over the lines. "[^\r]\n" is an LF after anything
 * but a CR, so at index 1 or later, as Hal.findBareLF asks.
 */
export function findBareLF(this: void, s: string): boolean {
  return string.find(s, "[^\r]\n") !== undefined;
}

export function nodemcuHal(implementation: string, mountCard: (this: void) => void): Hal {
  // The sodium module, where the firmware was built with it (docs/NODEMCU.md), gives the hardware RNG.
  const entropy = (sodium as unknown) !== undefined;
  return {
    listen,
    storage: cardStorage(mountCard),
    setTimer,
    now(): number {
      const [seconds] = time.get();
      return seconds;
    },
    // sodium.random.random (sodium.c:16): libsodium's ESP-IDF port returns
    // esp_random() (port/randombytes_esp32.c), the hardware RNG. Without the
    // module: math.random, newlib's rand() never seeded (lmathlib.c:31, :250).
    random: entropy
      ? function (): number {
          return sodium.random.random() & 0x7fffffff;
        }
      : function (): number {
          return math.random(0, 2147483646);
        },
    randomQuality: entropy ? "entropy" : "prng",
    connect,
    resolve,
    findBareLF,
    log(line: string): void {
      print(line);
    },
    implementation,
    flash: spiffs,
    serial: console0,
    reboot(): void {
      node.restart();
    },
    // After a full collection: node.heap() (esp_get_free_heap_size) counts garbage as used, and the store refuses mail below a reserve of it.
    freeMemory(): number {
      collectgarbage("collect");
      return node.heap();
    },
  };
}
