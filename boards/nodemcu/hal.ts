/**
 * The core's hardware interface (firmware/hal.ts) on NodeMCU's own modules:
 * `net` sockets, `tmr` timers, `io` files on the card mounted at /SD0, the
 * `file` module for directories, `time` for the clock.
 */
import type { Connection, ConnectionEvents, FileHandle, Hal, InternalFlash, Listener, ListenOptions, SerialLine, Storage, Timer } from "../../firmware/hal";

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

/** The card as the core's Storage. */
export function cardStorage(): Storage {
  return {
    open: openFile,
    size(path: string): number {
      const st = file.stat(CARD_ROOT + path);
      return st === undefined || st.is_dir ? -1 : st.size;
    },
    remove(path: string): void {
      if (!file.exists(CARD_ROOT + path)) fail("remove", path, "no such file");
      file.remove(CARD_ROOT + path);
      if (file.exists(CARD_ROOT + path)) fail("remove", path, undefined);
    },
    mkdir(path: string): void {
      if (file.exists(CARD_ROOT + path)) return;
      if (!file.mkdir(CARD_ROOT + path)) fail("mkdir", path, undefined);
    },
    list(path: string): string[] {
      if (!file.chdir(CARD_ROOT + path)) fail("list", path, "no such directory");
      const names: string[] = [];
      for (const [name] of file.list()) names.push(name);
      file.chdir("/FLASH");
      names.sort(); // FAT directory order is not the simulator's
      return names;
    },
  };
}

/** One NodeMCU socket as the core's Connection, with at most one send outstanding. */
function adoptSocket(socket: NetSocket, onConnection: (conn: Connection) => ConnectionEvents): void {
  let sending = false;
  let closed = false;
  let closeReported = false;
  let events: ConnectionEvents | undefined = undefined;
  const reportClose = function (this: void): void {
    if (closeReported || events === undefined) return;
    closeReported = true;
    events.onClose();
  };
  const conn: Connection = {
    send(data: string): void {
      if (closed) return;
      if (sending) throw new Error("HAL violation: send() while a send is outstanding");
      sending = true;
      socket.send(data);
    },
    close(): void {
      if (closed) return;
      closed = true;
      socket.close();
      // A local close raises no "disconnection": report it from the event
      // loop, never from inside the core's own call.
      node.task.post(reportClose);
    },
    peer: socket.getpeer()[1],
  };
  socket.on("receive", (_s, data) => {
    if (!closed && events !== undefined) events.onData(data);
  });
  socket.on("sent", () => {
    sending = false;
    if (!closed && events !== undefined) events.onSent();
  });
  socket.on("disconnection", () => {
    closed = true;
    reportClose();
  });
  events = onConnection(conn);
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

function setTimer(ms: number, callback: () => void): Timer {
  const timer = tmr.create();
  // tmr rejects a zero interval; its tick is 10 ms anyway.
  timer.alarm(ms < 1 ? 1 : ms, tmr.ALARM_SINGLE, () => callback());
  return {
    cancel(): void {
      timer.unregister();
    },
  };
}

/** SPIFFS, the internal flash: settings live here, never on the card. */
const spiffs: InternalFlash = {
  read(name: string): string | undefined {
    return file.getcontents(name);
  },
  write(name: string, data: string): void {
    if (!file.putcontents(name, data)) fail("write", name, "flash full?");
  },
  erase(name: string): void {
    file.remove(name);
  },
};

/**
 * UART 0 for the host tool's console frames. Input keeps going to the Lua
 * prompt as well (runInput 1), so that `letterbox flash` can still type Lua
 * while the box runs; the prompt's replies are text the host skips.
 */
const console0: SerialLine = {
  write(data: string): void {
    uart.write(0, data);
  },
  setReceiver(receiver: (data: string) => void): void {
    uart.on("data", 0, 0, (data) => receiver(data), 1);
  },
};

export function nodemcuHal(implementation: string): Hal {
  return {
    listen,
    storage: cardStorage(),
    setTimer,
    now(): number {
      const [seconds] = time.get();
      return seconds;
    },
    random(): number {
      return math.random(0, 2147483646);
    },
    log(line: string): void {
      print(line);
    },
    implementation,
    flash: spiffs,
    serial: console0,
    reboot(): void {
      node.restart();
    },
    freeMemory(): number {
      return node.heap();
    },
  };
}
