/**
 * The core's hardware interface (firmware/hal.ts) on Espruino's own APIs:
 * `require("net")` sockets, `E.openFile` + `require("fs")` on the SD card
 * (or on the plain file system of Espruino's Linux build), `setTimeout`.
 */
import type { Connection, ConnectionEvents, ConnectOptions, FileHandle, Hal, InternalFlash, Listener, ListenOptions, SerialLine, Storage, Timer } from "../../firmware/hal";

/**
 * One accepted socket. Espruino's write() only appends to an unbounded RAM
 * buffer, so the HAL's one-outstanding send maps onto `drain`: the core may
 * send again only once the previous chunk has left, and the buffer never
 * holds more than one chunk.
 *
 * write() throws "This socket is closed" once the interpreter has seen the
 * peer go, which can be before our `close` handler runs (a client that left
 * before the greeting, or during a RETR): every write and end is guarded.
 * A socket the peer closed before our listeners existed gets no `close` at
 * all, so a failed write ends the session too.
 * No remoteAddress: Espruino's sockets do not carry one (firmware/hal.ts).
 */
function adoptSocket(socket: EspruinoSocket, onConnection: (conn: Connection) => ConnectionEvents): void {
  let closed = false;
  let sending = false;
  let events: ConnectionEvents | undefined;
  socket.on("data", function (data: string) {
    // Chunks go to the core as they came: no copy, no concatenation here.
    if (!closed && events) events.onData(data);
  });
  socket.on("drain", function () {
    if (!sending) return;
    sending = false;
    if (!closed && events) events.onSent();
  });
  let reported = false;
  // Once closed, the socket and its listeners let go of the session. (On
  // Espruino 2v29 a socket ended from inside a request's data/drain events
  // stays in memory; http.ts ends those from its sweep: test/real-espruino.test.ts.)
  const report = function () {
    if (reported || !events) return;
    reported = true;
    const gone = events;
    events = undefined;
    gone.onClose();
  };
  socket.on("close", function () {
    closed = true;
    report();
    socket.removeAllListeners();
  });
  socket.on("error", function () {
    // Espruino follows an error with `close`; the session ends there.
  });
  const conn: Connection = {
    send: function (data: string) {
      if (closed) return;
      try {
        socket.write(data);
        sending = true;
      } catch (e) {
        // The peer has gone. If it went before this socket's listeners were
        // added, Espruino never sends `close` (socketserver.c:585 queues only
        // the listeners present then): end the session from here, once the
        // core has finished the call that wrote.
        closed = true;
        setTimeout(report, 0);
      }
    },
    close: function () {
      if (closed) return;
      closed = true;
      try {
        socket.end();
      } catch (e) {
        // already closed by the peer
      }
    },
  };
  events = onConnection(conn);
}

/**
 * Hal.connect: net.connect resolves the name itself, blocking
 * (socketserver.c:1035, network_esp32.c:57 gethostbyname), and throws when
 * it cannot or when no socket is free (:1040, :1060): onError from the event loop.
 */
function connect(options: ConnectOptions): void {
  let socket: EspruinoSocket;
  try {
    socket = require("net").connect({ host: options.host, port: options.port });
  } catch (e) {
    setTimeout(function () {
      options.onError("" + e);
    }, 0);
    return;
  }
  // Until `connect`, an `error` or `close` (socketserver.c:742-745) is onError, once.
  let onError: ((reason: string) => void) | undefined = options.onError;
  const fail = function (reason: string) {
    const failed = onError;
    onError = undefined;
    if (failed) failed(reason);
  };
  socket.on("error", function (error) {
    fail(error.message);
  });
  socket.on("close", function () {
    fail("closed");
  });
  // Its data is pushed one idle pass after it arrives (socketserver.c:622-625), so the listeners added here see all of it.
  socket.on("connect", function () {
    if (!onError) return;
    onError = undefined;
    adoptSocket(socket, options.onConnection);
  });
}

/** Lookups waiting for Wifi.getHostByName, the first one asked (made at the first lookup: nothing kept idle). */
let lookups: { name: string; callback: (address: string | undefined) => void }[] | undefined;

/**
 * Hal.resolve on Wifi.getHostByName (ESP32 only), one lookup at a time: a
 * second one would take the first one's callback away (jswrap_wifi.c:545,
 * jswrap_esp32_network.c:1795-1797), so the later ones wait in a queue.
 */
function resolve(name: string, callback: (address: string | undefined) => void): void {
  if (!lookups) lookups = [];
  lookups.push({ name: name, callback: callback });
  if (lookups.length === 1) nextLookup();
}

function nextLookup(): void {
  const queue = lookups as { name: string; callback: (address: string | undefined) => void }[];
  const job = queue[0];
  require("Wifi").getHostByName(job.name, function (address) {
    queue.shift();
    if (queue.length > 0) nextLookup();
    job.callback(address === null ? undefined : address);
  });
}

/**
 * The ESP32's hardware random number generator, the register esp_random()
 * reads (ESP-IDF components/soc/esp32/include/soc/wdev_reg.h WDEV_RND_REG;
 * random while Wi-Fi or Bluetooth is on). E.hwRand() is not it on ESP32:
 * jshGetRandomNumber is rand() (targets/esp32/jshardware.c:722), Espruino's
 * multiply-with-carry generator with a fixed seed (src/jsutils.c:969-976).
 */
const ESP32_RNG_REGISTER = 0x60035144;

function listen(options: ListenOptions): Listener {
  const server = require("net").createServer(function (socket: EspruinoSocket) {
    adoptSocket(socket, options.onConnection);
  });
  server.listen(options.port);
  return {
    close: function () {
      server.close();
    },
  };
}

/** Wraps an Espruino File so failures throw, as the HAL promises. */
function fileHandle(file: EspruinoFile, path: string): FileHandle {
  return {
    read: function (length: number) {
      return file.read(length);
    },
    write: function (data: string) {
      const written = file.write(data);
      if (written !== data.length) throw new Error("write failed (card full?): " + path);
    },
    seek: function (offset: number) {
      file.seek(offset);
    },
    close: function () {
      file.close();
    },
  };
}

/**
 * The card through `E.openFile` and `require("fs")`. `root` is "" on the SD
 * card; on the Linux build it is a directory (no trailing slash) so that the
 * card's absolute paths do not land in the host's root directory.
 */
export function fileStorage(root: string): Storage {
  const fs = require("fs");
  return {
    open: function (path: string, mode: string) {
      const file = E.openFile(root + path, mode);
      if (!file) throw new Error("cannot open " + path);
      return fileHandle(file, path);
    },
    size: function (path: string) {
      const st = fs.statSync(root + path);
      return st && !st.dir ? st.size : -1;
    },
    remove: function (path: string) {
      if (!fs.unlinkSync(root + path)) throw new Error("cannot remove " + path);
    },
    mkdir: function (path: string) {
      const st = fs.statSync(root + path);
      if (st && st.dir) return;
      if (!fs.mkdirSync(root + path)) throw new Error("cannot mkdir " + path);
    },
    list: function (path: string) {
      const names = fs.readdirSync(root + path);
      if (!names) throw new Error("cannot list " + path);
      const out: string[] = [];
      for (let i = 0; i < names.length; i++) {
        if (names[i] !== "." && names[i] !== "..") out.push(names[i]);
      }
      return out.sort();
    },
  };
}

function setTimer(ms: number, callback: () => void): Timer {
  const id = setTimeout(callback, ms);
  return {
    cancel: function () {
      clearTimeout(id);
    },
  };
}

/** The internal flash's file system (`require("Storage")`), where the settings live. */
export function internalFlash(): InternalFlash {
  const flash = require("Storage");
  return {
    read: function (name: string) {
      return flash.read(name);
    },
    write: function (name: string, data: string) {
      if (!flash.write(name, data)) throw new Error("Storage: cannot write " + name);
    },
    erase: function (name: string) {
      flash.erase(name);
    },
  };
}

/**
 * How long the REPL keeps the serial line after boot, so that `letterbox
 * flash` (which talks to the REPL) can still reach a board running
 * letterbox: reset it, then flash within this time.
 */
export const REPL_WINDOW_MS = 5000;

/**
 * The USB serial line for the core's console (firmware/console.ts). Serial1
 * is Espruino's REPL; after REPL_WINDOW_MS the REPL moves to the loopback
 * device and the line's bytes go to the core. Writes share the line with the
 * REPL's output until then, which the host tool skips as console text.
 */
export function serialLine(): SerialLine {
  let receiver = function (data: string) {
    void data;
  };
  Serial1.on("data", function (data: string) {
    receiver(data);
  });
  setTimeout(function () {
    LoopbackA.setConsole(true);
  }, REPL_WINDOW_MS);
  return {
    write: function (data: string) {
      Serial1.write(data);
    },
    setReceiver: function (next: (data: string) => void) {
      receiver = next;
    },
  };
}

/** An LF after anything but a CR (index 1 and on, as the DATA reader asks). */
const BARE_LF = /[^\r]\n/;

export function espruinoHal(storage: Storage, flash: InternalFlash, serial: SerialLine | undefined, implementation: string): Hal {
  // The ESP32 build has the RNG register and the Wifi module's resolver; the Linux build neither.
  const esp32 = process.env.BOARD === "ESP32";
  return {
    flash: flash,
    serial: serial,
    reboot: function () {
      E.reboot();
    },
    // In Espruino's own unit: variables (JsVars of 14 bytes on ESP32), as process.memory() counts them.
    freeMemory: function () {
      return process.memory().free;
    },
    memoryUnit: "variables",
    // Two arguments: always a new string, flat when a contiguous block is free, never undefined (espruino.d.ts).
    packString: function (s: string) {
      return E.toString(s, "");
    },
    listen: listen,
    // One native regular-expression search per received chunk: on the
    // interpreter far cheaper than the DATA reader's walk over the lines.
    // Bound, not wrapped: a call to it interprets no JavaScript.
    findBareLF: BARE_LF.test.bind(BARE_LF),
    storage: storage,
    setTimer: setTimer,
    now: function () {
      return Math.floor(Date.now() / 1000);
    },
    // ESP32: the RNG register. Linux build: E.hwRand(), the seeded rand() (jsutils.c:972).
    random: esp32
      ? function () {
          return peek32(ESP32_RNG_REGISTER) & 0x7fffffff;
        }
      : function () {
          return E.hwRand() & 0x7fffffff;
        },
    randomQuality: esp32 ? "entropy" : "prng",
    connect: connect,
    resolve: esp32 ? resolve : undefined,
    log: function (line: string) {
      console.log(line);
    },
    implementation: implementation,
  };
}
