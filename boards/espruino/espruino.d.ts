/**
 * The few Espruino globals and modules the adapter uses (Espruino 2v29,
 * https://www.espruino.com/Reference). Only what boards/espruino/ calls is
 * declared, so a typo or an API Espruino lacks is a compile error.
 */

interface EspruinoSocket {
  on(event: "data", listener: (data: string) => void): void;
  on(event: "close" | "drain" | "connect", listener: () => void): void;
  on(event: "error", listener: (error: { code: number; message: string }) => void): void;
  /** Appends to an unbounded in-RAM buffer; `drain` fires once it is sent. */
  write(data: string): boolean;
  end(): void;
  /** Every object's (jswrap_object.c): drops the listeners of every event. */
  removeAllListeners(): void;
}

interface EspruinoServer {
  listen(port: number): EspruinoServer;
  close(): void;
}

interface EspruinoNet {
  createServer(onConnection: (socket: EspruinoSocket) => void): EspruinoServer;
  /**
   * socketserver.c:1017 clientRequestConnect: resolves `host` at once
   * (blocking) and throws "Unable to locate host" / "Unable to create socket";
   * then `connect` on success, or `error` ({code, message}), `end`, `close`.
   */
  connect(options: { host: string; port: number }): EspruinoSocket;
}

interface EspruinoStat {
  size: number;
  dir: boolean;
  mtime: unknown;
}

/** `require("fs")`: synchronous, no rename, no truncate. */
interface EspruinoFs {
  readdirSync(path: string): string[] | undefined;
  statSync(path: string): EspruinoStat | undefined;
  unlinkSync(path: string): boolean;
  mkdirSync(path: string): boolean;
}

interface EspruinoFile {
  /** Up to `length` bytes, or undefined at the end of the file. */
  read(length: number): string | undefined;
  /** Returns the number of bytes written. */
  write(data: string): number;
  seek(offset: number): void;
  close(): void;
}

/** `require("Storage")`: the internal flash file system (names up to 28 characters). */
interface EspruinoStorageModule {
  read(name: string): string | undefined;
  /** False (or an exception) when the flash is full. */
  write(name: string, data: string): boolean;
  erase(name: string): void;
}

interface EspruinoWifi {
  connect(ssid: string, options: { password?: string }, callback: (error: unknown) => void): void;
  setSNTP(server: string, timezoneOffset: number): void;
  /**
   * ESP32: jswrap_esp32_network.c:1778. The callback gets a dotted IPv4
   * address or null; a second lookup before the first answered replaces the
   * first one's callback (one lookup at a time, jswrap_wifi.c:545).
   */
  getHostByName(name: string, callback: (address: string | null) => void): void;
}

interface EspruinoSpi {
  setup(options: { sck: EspruinoPin; miso: EspruinoPin; mosi: EspruinoPin }): void;
}

interface EspruinoPin {
  getInfo(): unknown;
}

interface EspruinoSerial {
  write(data: string): void;
  on(event: "data", listener: (data: string) => void): void;
  /** Makes this device the REPL console; `true` keeps it there even when USB connects. */
  setConsole(force?: boolean): void;
}

/** The UART behind the USB serial adapter (the REPL console at power-up). */
declare const Serial1: EspruinoSerial;
/** One end of Espruino's loopback device: moving the console here frees Serial1 for the program. */
declare const LoopbackA: EspruinoSerial;

declare function require(module: "net"): EspruinoNet;
declare function require(module: "fs"): EspruinoFs;
declare function require(module: "Storage"): EspruinoStorageModule;
declare function require(module: "Wifi"): EspruinoWifi;

declare const E: {
  /** Mounts a FAT card on SPI; throws where there is no SD support (the Linux build). */
  connectSDCard(spi: EspruinoSpi, csPin: EspruinoPin): void;
  openFile(path: string, mode: string): EspruinoFile;
  reboot(): void;
  /** jswrap_espruino.c:2047 -> jshGetRandomNumber: on ESP32 and Linux rand(), Espruino's own seeded generator (jsutils.c:972). */
  hwRand(): number;
  /**
   * The characters of the arguments as one new string (jswrap_espruino.c:1014
   * jswrap_espruino_toStringX): with two or more arguments always a copy,
   * made by jsvNewStringOfLength (jsvar.c:1096), a flat string (1 + length/14
   * variables, jsvar.c:963) when a contiguous block is free, else an
   * ordinary one (~10 characters a variable); no defragmentation.
   */
  toString(...args: string[]): string;
};

/** jswrap_io.c:86 / :113: the 32-bit word at `address` (above 0x10000000 read as it is on ESP32, jshardware.c:836). */
declare function peek32(address: number): number;

/** Hardware SPI peripheral 1 of the ESP32. */
declare const SPI1: EspruinoSpi;
/** `new Pin(n)`: the pin with GPIO number n. */
declare const Pin: { new (gpio: number): EspruinoPin };

declare const process: {
  memory(): { free: number; usage: number; total: number };
  env: { BOARD: string; VERSION: string };
};

declare function setTimeout(callback: () => void, ms: number): number;
declare function clearTimeout(id: number): void;

declare const console: { log(line: string): void };

