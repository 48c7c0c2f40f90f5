/**
 * `letterbox flash --runtime espruino`: sends the Espruino bundle to a board
 * with EspruinoTools (the `espruino` package) and saves it to flash as boot
 * code (Storage file .bootcde, run at every power-up with its function
 * bodies left in flash), then checks it by CRC and starts it with load().
 *
 * The port is a serial device (the ESP32's USB serial adapter, 115200 baud)
 * or tcp://HOST:PORT (Espruino's Telnet console). Over serial EspruinoTools
 * pauses after each 1 KB Storage write so the UART does not overrun; TCP has
 * flow control, so those pauses are skipped there. The check waits until the
 * board has run the whole upload (drained(), below).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { buildEspruino, ESPRUINO_BUNDLE, espruinoBundleStale } from "./espruino/build";

export interface FlashEspruinoOptions {
  /** Serial device (/dev/ttyUSB0) or tcp://HOST:PORT. */
  port: string;
  /** The code to send (default: dist/espruino/letterbox.js, rebuilt when stale). */
  file?: string;
  baud?: number;
  /** Progress: bytes sent of total. */
  onProgress?: (sent: number, total: number) => void;
  /** Status lines for the user. */
  log?: (line: string) => void;
  /** EspruinoTools' own chatter, for --verbose. */
  debug?: (line: string) => void;
  /** Gives up when the board does not answer for this long (default 60 s plus the transfer). */
  timeoutMs?: number;
}

export interface FlashResult {
  bytes: number;
  board: string;
  version: string;
  crc: number;
}

export class FlashError extends Error {}

/** EspruinoTools keeps its state in globals of this process. */
interface EspruinoGlobal {
  Config: { [key: string]: unknown };
  Core: {
    Serial: {
      open(port: string, connected: (status: unknown) => void, disconnected: () => void): void;
      close(): void;
      isConnected(): boolean;
      write(data: string, showStatus: boolean, done: () => void): void;
      /** Sets the receiver of the board's output (an ArrayBuffer at a time); returns the one before. */
      startListening(reader: ((data: ArrayBuffer) => void) | undefined): ((data: ArrayBuffer) => void) | undefined;
    };
    Status: unknown;
    Env: { getData(): { [key: string]: unknown } };
    CodeWriter: { writeToEspruino(code: string, done: () => void): void };
    Utils: { executeExpression(expr: string, done: (result: string | undefined) => void): void };
  };
  callProcessor(name: string, data: unknown, done: (result: unknown) => void): void;
}

const CONSOLE_METHODS = ["log", "warn", "error", "info"] as const;
type ConsoleMethods = Pick<Console, (typeof CONSOLE_METHODS)[number]>;
const realConsole: ConsoleMethods = { log: console.log, warn: console.warn, error: console.error, info: console.info };

function swapConsole(to: ConsoleMethods): ConsoleMethods {
  const before: ConsoleMethods = { log: console.log, warn: console.warn, error: console.error, info: console.info };
  Object.assign(console, to);
  return before;
}

/** Runs `work` with console output redirected to `debug`: EspruinoTools logs freely to it. */
async function quietly<T>(debug: (line: string) => void, work: () => Promise<T>): Promise<T> {
  const sink = (...args: unknown[]) => debug(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
  const before = swapConsole({ log: sink, warn: sink, error: sink, info: sink });
  try {
    return await work();
  } finally {
    swapConsole(before);
  }
}

/** Wraps a caller's callback so it runs with the real console. */
function outside<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    const before = swapConsole(realConsole);
    try {
      fn(...args);
    } finally {
      swapConsole(before);
    }
  };
}

let initialised: Promise<EspruinoGlobal> | undefined;

function initEspruinoTools(): Promise<EspruinoGlobal> {
  if (!initialised) {
    initialised = new Promise((resolve) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require("espruino").init(() => resolve((globalThis as unknown as { Espruino: EspruinoGlobal }).Espruino));
    });
  }
  return initialised;
}

/**
 * EspruinoTools only opens serial ports that the serialport package lists,
 * and pseudo-terminals are not listed: add the requested device when it
 * exists but is missing from the list.
 */
/** Devices to add to the serial port list (see listRequestedPort). */
const requestedPorts = new Set<string>();

function listRequestedPort(port: string): void {
  if (port.startsWith("tcp://") || !fs.existsSync(port)) return;
  requestedPorts.add(port);
  // The serialport package EspruinoTools itself resolves (it may bundle its own version).
  const espruinoDir = path.dirname(require.resolve("espruino"));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SerialPort } = require(require.resolve("serialport", { paths: [espruinoDir] }));
  if (SerialPort.__letterboxListed) return;
  const list = SerialPort.list.bind(SerialPort);
  SerialPort.list = async () => {
    let ports: { path: string }[] = [];
    try {
      ports = await list();
    } catch {
      // no udev here: only the requested ports are known
    }
    for (const wanted of requestedPorts) if (!ports.some((p) => p.path === wanted)) ports.push({ path: wanted });
    return ports;
  };
  SerialPort.__letterboxListed = true;
}

/** The modules the code asks the interpreter for: `require("name")` with a literal name. */
export function requiredModules(code: string): string[] {
  const names = new Set<string>();
  for (const m of code.matchAll(/\brequire\(\s*"([^"]+)"\s*\)/g)) names.add(m[1]);
  return [...names].sort();
}

/**
 * Resolves once the board has run everything sent before: it prints a
 * marker only after the statements ahead of it ran (the console takes its
 * input in order). Over TCP the upload goes out unpaced, and an interpreter
 * that is slow to run it (the 32-bit one under qemu; a busy board) was still
 * writing the last pieces to Storage when EspruinoTools' prompt wait before
 * the check (500 ms, then Ctrl-C: core/utils.js getEspruinoPrompt) broke off
 * the write that was running: its bytes stayed erased and the check failed.
 * The DLE (\x10) keeps the line from being echoed, so only the print shows
 * the marker.
 */
function drained(serial: EspruinoGlobal["Core"]["Serial"], ms: number): Promise<void> {
  const marker = "LB_DRAINED";
  return new Promise((resolve, reject) => {
    let seen = "";
    const before = serial.startListening((data: ArrayBuffer) => {
      seen = (seen + Buffer.from(data).toString("latin1")).slice(-64);
      if (!seen.includes(marker)) return;
      clearTimeout(timer);
      serial.startListening(before);
      resolve();
    });
    const timer = setTimeout(() => {
      serial.startListening(before);
      reject(new FlashError(`the board did not finish writing the code within ${Math.round(ms / 1000)} s`));
    }, ms);
    serial.write(`\x10print("LB_"+"DRAINED")\n`, false, () => undefined);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new FlashError(`${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

export async function flashEspruino(options: FlashEspruinoOptions): Promise<FlashResult> {
  // The caller's callbacks may print: they run with the real console even while EspruinoTools' chatter is redirected.
  const log = outside((line: string) => options.log && options.log(line));
  const debug = outside((line: string) => options.debug && options.debug(line));
  const onProgress = outside((sent: number, total: number) => options.onProgress && options.onProgress(sent, total));
  let file = options.file;
  if (!file) {
    if (espruinoBundleStale()) {
      log("building the Espruino bundle");
      await buildEspruino();
    }
    file = ESPRUINO_BUNDLE;
  }
  const code = fs.readFileSync(file, "latin1");
  const crc = zlib.crc32(Buffer.from(code, "latin1"));
  const isTcp = options.port.startsWith("tcp://");
  // About 10 bits a byte on the wire, plus EspruinoTools' pauses between 1 KB writes over serial.
  const transferMs = (code.length * 10 * 1000) / (options.baud || 115200) + (isTcp ? 0 : (code.length / 1024) * 300);
  const timeoutMs = options.timeoutMs || 60000 + 3 * transferMs;

  return quietly(debug, async () => {
    const Espruino = await initEspruinoTools();
    Object.assign(Espruino.Config, {
      BAUD_RATE: options.baud || 115200,
      SAVE_ON_SEND: 1, // "Direct to flash (execute code at boot)": Storage .bootcde
      LOAD_STORAGE_FILE: 0, // load() only once the CRC matches (below)
      RESET_BEFORE_SEND: true,
      MINIFICATION_LEVEL: "", // already minified, and the online minifier is out of reach
      MODULE_MINIFICATION_LEVEL: "",
      SET_TIME_ON_WRITE: false,
      ENV_ON_CONNECT: true,
      BOARD_JSON_URL: "", // no download of board files: everything needed comes from process.env
      STORAGE_UPLOAD_METHOD: isTcp ? 1 : 0,
      SERIAL_TCPIP: isTcp ? [options.port] : [],
      // No Bluetooth: scanning needs D-Bus and finds no letterbox anyway.
      BLUETOOTH_LOW_ENERGY: false,
      BLUETOOTH_LOW_ENERGY_DBUS: false,
      WEB_BLUETOOTH: false,
    });
    listRequestedPort(options.port);
    let total = 0;
    let sent = 0;
    Espruino.Core.Status = {
      setStatus: (text: string, length?: number) => {
        debug(`status: ${text}`);
        if (length && length > 1000) {
          total = length;
          sent = 0;
          onProgress(0, total);
        }
      },
      hasProgress: () => total > 0,
      incrementProgress: (amount: number) => {
        sent = Math.min(total, sent + amount);
        onProgress(sent, total);
      },
      showStatusWindow: () => undefined,
      hideStatusWindow: () => undefined,
    };
    const serial = Espruino.Core.Serial;
    log(`connecting to ${options.port}`);
    let disconnected = false;
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        serial.open(
          options.port,
          (status) => (status === undefined ? reject(new FlashError(`cannot open ${options.port}`)) : resolve()),
          () => {
            disconnected = true;
            reject(new FlashError(`${options.port} closed`));
          },
        );
      }),
      20000,
      `opening ${options.port}`,
    );
    try {
      // The port opens only after the "connected" processors asked the board for process.env.
      const env = Espruino.Core.Env.getData();
      if (!env || !env.VERSION) throw new FlashError(`no Espruino answered on ${options.port}`);
      log(`found ${String(env.BOARD)}, Espruino ${String(env.VERSION)}; sending ${code.length} bytes to flash`);
      // EspruinoTools fetches every required module the board does not list
      // and puts what it found, plus a newline, in front of the code (so the
      // board would hold "\n" + bundle). The bundle needs no module code:
      // those it asks for and the board lacks (Wifi on the Linux build) are
      // optional, so they are listed as present and the board holds the bundle.
      const missing = requiredModules(code).filter((m) => !String(env.MODULES || "").split(",").includes(m));
      if (missing.length > 0) {
        log(`the board has no ${missing.join(", ")} module (the code goes on without it)`);
        env.MODULES = [String(env.MODULES || ""), ...missing].filter((m) => m.length > 0).join(",");
      }
      const wrapped = await new Promise<string>((resolve) => Espruino.callProcessor("transformForEspruino", code, (c) => resolve(c as string)));
      await withTimeout(
        new Promise<void>((resolve) => Espruino.Core.CodeWriter.writeToEspruino(wrapped, resolve)),
        timeoutMs,
        "sending the code",
      );
      onProgress(total || code.length, total || code.length);
      await drained(serial, timeoutMs);
      // What the board holds: its length and CRC32, read back from the Storage file.
      const answer = await withTimeout(
        new Promise<string | undefined>((resolve) =>
          Espruino.Core.Utils.executeExpression('(function(f){return f===undefined?"none":f.length+" "+E.CRC32(f);})(require("Storage").read(".bootcde"))', resolve),
        ),
        20000,
        "checking the saved code",
      );
      const held = String(answer === undefined ? "" : answer).replace(/"/g, "").trim().split(/\s+/);
      const heldLength = Number(held[0]);
      const heldCrc = Number(held[1]) >>> 0;
      if (held.length !== 2 || heldLength !== code.length || heldCrc !== crc) {
        throw new FlashError(
          held[0] === "none" || answer === undefined
            ? "the board holds no boot code (.bootcde) after the upload"
            : `the code in flash does not match what was sent (${heldLength} bytes with CRC32 ${heldCrc} on the board, ${code.length} bytes with CRC32 ${crc} sent)`,
        );
      }
      log(`saved to flash as boot code (.bootcde, CRC32 ${crc.toString(16)}); the board runs it at every power-up`);
      // load() restarts the interpreter, which then runs the boot code: letterbox starts now.
      // (EspruinoTools calls back only for writes that show status: wait for it to go out instead.)
      serial.write("\x10load()\n", false, () => undefined);
      await new Promise((r) => setTimeout(r, 600));
      if (disconnected) throw new FlashError(`${options.port} closed before load()`);
      return { bytes: code.length, board: String(env.BOARD), version: String(env.VERSION), crc };
    } finally {
      serial.close();
    }
  });
}
