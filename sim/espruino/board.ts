/**
 * An emulated Espruino 2v29 board on ESP32 for the simulator: runs a program
 * (the letterbox bundle) in an isolated `node:vm` context whose globals are
 * Espruino's — `require("net" | "fs" | "Storage" | "Wifi")`, `E.openFile`,
 * `E.connectSDCard`, `SPI1`, `Pin`, `process.memory()`, timers, `console` —
 * backed by real sockets, the simulated card and the simulator's clock.
 * Inside the context String.prototype carries Espruino's indexOf/includes
 * bug, and process.memory() estimates the variables the program keeps alive.
 */
import * as crypto from "node:crypto";
import * as vm from "node:vm";
import type { InternalFlash, SerialLine } from "../../firmware/hal";
import { findHoistingDependencies, HoistingProblem } from "../../host/espruino/hoisting";
import type { SimCard } from "../card";
import { mulberry32 } from "../prng";
import { cardBackend, directoryBackend, emulateFiles, EmulatedFiles, LINUX_OPEN_FILE_VARIABLES, OPEN_FILE_VARIABLES } from "./files";
import { CONNECTION_VARIABLES, estimateVariables, stringVariables, VariableEstimate } from "./memory";
import { emulateNet, EmulatedNet, lookupLocally } from "./net";
import { emptyProfile, instrumentForProfile, PROFILE_GLOBAL, ProfileCounts, STRING_PROFILE_SCRIPT } from "./profile";
import { OBJECT_EVENTS_SCRIPT } from "./object-events";
import { STRING_QUIRK_SCRIPT } from "./string-quirk";

/** findHoistingDependencies of the last program run (parsing a bundle takes a moment). */
let lastChecked: { code: string; problems: HoistingProblem[] } | undefined;

function hoistingDependencies(code: string): HoistingProblem[] {
  if (!lastChecked || lastChecked.code !== code) lastChecked = { code, problems: findHoistingDependencies(code) };
  return lastChecked.problems;
}

export const MAX_PATH = 64;
/** Storage (internal flash) file names are at most 28 characters. */
export const MAX_STORAGE_NAME = 28;

/** jsutils.h:296: JSVAR_DATA_STRING_LEN + JSVAR_DATA_STRING_MAX_LEN (9 + 10 with 14-bit references): longer strings are made flat when they can be. */
const FLAT_STRING_BREAK_EVEN = 19;
/** Flat strings remembered for pricing (the index's live chunks are a few dozen; the rest are old versions). */
const MAX_FLAT_KEYS = 4096;

/**
 * How memory() recognises a flat string in the heap snapshot, which names a
 * string by its first 1,024 characters, NULs as spaces; beyond those the
 * estimate's length comes from V8's object size, a multiple of 8.
 */
function flatKey(length: number, text: string): string {
  return (length >= 1024 ? Math.ceil(length / 8) * 8 : length) + ":" + text.substring(0, 1024).replace(/\0/g, " ");
}
/**
 * Variables Espruino gets on the board letterbox targets: an ESP32 with PSRAM
 * (WROVER, ESP32-CAM), capped at 16,383 by the variable format
 * (targets/esp32/main.c). A plain WROOM leaves about 4,000: too few.
 */
export const DEFAULT_VARIABLES = 16383;
/**
 * The ESP32's hardware RNG register, both bus addresses (ESP-IDF
 * soc/esp32/include/soc/wdev_reg.h: 0x60035144; 0x3FF75144 on the DPORT bus).
 */
const ESP32_RNG_REGISTERS = [0x60035144, 0x3ff75144];
/** How long the emulated Wi-Fi's DNS takes to give up on a name (no DNS server on the emulated network; shortened). */
const DNS_GIVE_UP_MS = 50;

/**
 * Espruino's rand() (src/jsutils.c:969-976): multiply-with-carry, seeded
 * 0xDEADBEEF / 0xCAFEBABE and never reseeded on ESP32 or Linux (no srand()
 * call in src/ or targets/esp32), masked by RAND_MAX (0x7FFFFFFF).
 */
export function espruinoRand(): () => number {
  let w = 0xdeadbeef;
  let z = 0xcafebabe;
  return () => {
    z = (36969 * (z & 65535) + (z >>> 16)) >>> 0;
    w = (18000 * (w & 65535) + (w >>> 16)) >>> 0;
    return ((z << 16) + w) & 0x7fffffff;
  };
}

/** A socket object with its listeners, as Espruino keeps it (assumed). */
const SOCKET_VARIABLES = 12;

export interface EspruinoBoardOptions {
  /** The SD card; omit it to emulate Espruino's Linux build (no E.connectSDCard) with `workDir` as its working directory. */
  card?: SimCard;
  workDir?: string;
  /** Internal flash (`require("Storage")`). */
  flash: InternalFlash;
  /** Read-only Storage files laid over the flash (e.g. the simulator's default settings). */
  romFiles?: { [name: string]: string };
  portMap: { [devicePort: number]: number };
  bindHost: string;
  log: (line: string) => void;
  /** Seconds since the epoch. */
  clock: () => number;
  /** Seed for where received data is split (default fixed, so runs repeat). */
  seed?: number;
  /** Variables free for the program (process.memory().total). */
  variables?: number;
  /**
   * Variables the program's code keeps (host/espruino/build.ts
   * estimateCodeVariables): the base of the quick estimate process.memory()
   * gives the program. The heap-walking estimate (memory()) takes seconds in
   * a busy process, too long for a call the firmware makes while serving.
   */
  codeVariables?: number;
  /**
   * process.memory() gives the heap-walking estimate (memory()), which sees
   * the program's data (the mail index), instead of the quick one: slow (a
   * heap snapshot per call), for tests of what the firmware does when memory
   * runs low (it asks rarely: MailStore.indexFull).
   */
  walkMemory?: boolean;
  /** The line behind Serial1 (the USB serial port); without it Serial1 leads nowhere. */
  serial?: SerialLine;
  /** Count the program's interpreted and string work (sim/espruino/profile.ts); slower. */
  profile?: boolean;
  /** Called when the program calls E.reboot(). */
  onReboot?: () => void;
}

export class EspruinoBoard {
  readonly context: vm.Context;
  /** Uncaught exceptions of the program ("Uncaught Error: ..." on the console). */
  readonly errors: string[] = [];
  /** Devices the program moved the console to (setConsole), in order. */
  readonly consoleMoves: string[] = [];
  private net: EmulatedNet;
  private files: EmulatedFiles;
  private timers = new Map<number, { handle: NodeJS.Timeout; callback: unknown }>();
  private nextTimer = 1;
  private stopped = false;
  private scriptName = "espruino-program.js";
  private contextError: ErrorConstructor;
  private builtinGlobals: Set<string>;
  private counts: ProfileCounts = emptyProfile();
  /** Reads of the hardware RNG register (peek32), for tests of where randomness comes from. */
  rngReads = 0;
  /** The flat strings E.toString made (flatKey of each; the oldest forgotten beyond MAX_FLAT_KEYS): memory() prices them as flat. */
  private flat = new Set<string>();

  constructor(private options: EspruinoBoardOptions) {
    this.context = vm.createContext({});
    vm.runInContext(STRING_QUIRK_SCRIPT, this.context);
    vm.runInContext(OBJECT_EVENTS_SCRIPT, this.context)((fn: () => void) => this.setTimer(fn, 0));
    this.contextError = vm.runInContext("Error", this.context);
    const fail = (message: string): never => {
      throw new this.contextError(message);
    };
    const random = mulberry32(options.seed === undefined ? 0x1e77e8b0 : options.seed);
    this.net = emulateNet({
      portMap: options.portMap,
      bindHost: options.bindHost,
      invoke: (what, fn, ...args) => this.invoke(what, fn, ...args),
      fail,
      chunkSize: (max) => 1 + Math.floor(random() * max),
    });
    this.files = emulateFiles(options.card ? cardBackend(options.card) : directoryBackend(options.workDir || "."), MAX_PATH, fail);
    this.installGlobals(fail);
    if (options.profile) {
      (this.context as { [name: string]: unknown })[PROFILE_GLOBAL] = this.counts;
      vm.runInContext(STRING_PROFILE_SCRIPT, this.context)(this.counts);
    }
    this.builtinGlobals = new Set(Object.getOwnPropertyNames(vm.runInContext("this", this.context)));
  }

  private installGlobals(fail: (message: string) => never): void {
    const options = this.options;
    const g = this.context as { [name: string]: unknown };
    const rom = options.romFiles || {};
    const checkName = (name: unknown): string => {
      const n = String(name);
      if (n.length > MAX_STORAGE_NAME) fail(`Storage: name longer than ${MAX_STORAGE_NAME} characters: ${n}`);
      return n;
    };
    const storage = {
      read(name: string) {
        const n = checkName(name);
        return Object.prototype.hasOwnProperty.call(rom, n) ? rom[n] : options.flash.read(n);
      },
      write(name: string, data: unknown) {
        try {
          options.flash.write(checkName(name), String(data));
          return true;
        } catch {
          return false;
        }
      },
      erase: (name: string) => void options.flash.erase(checkName(name)),
    };
    const wifi = {
      connect: (_ssid: string, _opts: unknown, callback: (err: unknown) => void) =>
        this.setTimer(() => this.invoke("Wifi.connect", callback as never, null), 1),
      setSNTP: () => undefined,
      on: () => undefined,
      getHostByName: (name: unknown, callback: unknown) => this.getHostByName(name, callback, fail),
    };
    const modules: { [name: string]: unknown } = { net: this.net.module, fs: this.files.module, Storage: storage };
    if (options.card) modules.Wifi = wifi; // the Linux build has no Wi-Fi module
    g.require = (name: string) => {
      const m = modules[String(name)];
      if (m === undefined) fail(`Module ${name} not found`);
      return m;
    };
    const rand = espruinoRand();
    const E: { [name: string]: unknown } = {
      // jswrap_espruino.c:2047 -> jshGetRandomNumber = rand() on ESP32 (targets/esp32/jshardware.c:722) and Linux (:829)
      hwRand: () => rand(),
      toString: (...args: unknown[]) => this.toFlatIfLong(args, fail),
      openFile: (p: string, mode: string) => this.files.openFile(p, mode),
      reboot: () => {
        if (options.onReboot) setImmediate(options.onReboot);
        else options.log("espruino: E.reboot() (not emulated: the board keeps running)");
      },
    };
    if (options.card) {
      E.connectSDCard = (spi: unknown, cs: unknown) => {
        if (spi === undefined || cs === undefined) fail("E.connectSDCard: SPI and CS pin needed");
      };
      g.SPI1 = { setup: () => undefined };
    }
    g.E = E;
    if (!options.card) {
      // The Linux build has Serial1 too (every USART exists), but with no
      // device path behind it: using it fails with this error
      // (targets/linux/jshardware.c:721 jshUSARTSetup). Moving the console
      // to LoopbackA leaves stdin and Telnet without a console.
      const noPath = () => options.log("ERROR: No path defined for device");
      g.Serial1 = { write: noPath, on: noPath, setup: noPath, setConsole: () => this.consoleMoves.push("Serial1") };
      g.LoopbackA = { write: () => undefined, on: () => undefined, setConsole: () => this.consoleMoves.push("LoopbackA") };
    }
    if (options.card) {
      // No REPL is emulated: Serial1's bytes always reach its listeners, and
      // setConsole only records where the console went.
      const serial = options.serial;
      const consoleLog: string[] = [];
      g.Serial1 = {
        write: (data: unknown) => serial && serial.write(String(data)),
        on: (event: string, fn: (data: string) => void) => {
          if (event === "data" && serial) serial.setReceiver((data) => this.invoke("Serial1 data", fn as never, data));
        },
        setConsole: () => consoleLog.push("Serial1"),
      };
      g.LoopbackA = { write: () => undefined, on: () => undefined, setConsole: () => consoleLog.push("LoopbackA") };
    }
    // jswrap_io.c:86, :113: the word at an address. Only the ESP32's RNG
    // register is emulated; on the Linux build that address is not mapped.
    g.peek32 = (address: unknown) => {
      const a = Number(address);
      if (!options.card || !ESP32_RNG_REGISTERS.includes(a)) fail(`peek32(0x${a.toString(16)}): memory is not emulated`);
      this.rngReads++;
      return crypto.randomBytes(4).readUInt32LE(0);
    };
    g.Pin = function Pin(this: { gpio: number }, gpio: number) {
      this.gpio = Number(gpio);
    };
    g.process = {
      memory: () => {
        const total = options.variables || DEFAULT_VARIABLES;
        const usage = options.walkMemory ? this.memory().variables : this.quickMemory();
        return { free: total - usage, usage, total };
      },
      env: { BOARD: options.card ? "ESP32" : "LINUX", VERSION: "2v29" },
    };
    g.setTimeout = (callback: unknown, ms: unknown) => this.setTimer(callback, Number(ms) || 0);
    g.clearTimeout = (id: unknown) => this.clearTimer(Number(id));
    g.console = { log: (...args: unknown[]) => options.log(args.map(String).join(" ")) };
    // The program's clock is the simulator's.
    vm.runInContext("(function (now) { Date.now = now; })", this.context)(() => Math.floor(options.clock() * 1000));
  }

  private hostByNameCallback: unknown;

  /**
   * Wifi.getHostByName (libs/network/esp32/jswrap_esp32_network.c:1778):
   * one callback at a time (a new lookup drops the one waiting, :1795);
   * lwIP answers a dotted address and "localhost" at once (ERR_OK: the
   * callback is queued, :1803-1805, :1770), other names go to a DNS server
   * the emulated network lacks, and the callback gets null.
   */
  private getHostByName(name: unknown, callback: unknown, fail: (message: string) => never): void {
    if (typeof name !== "string") fail("Hostname parameter is not a string");
    if (typeof callback !== "function") fail("Callback is not a function");
    this.hostByNameCallback = callback;
    const address = lookupLocally(name);
    const answer = () => {
      if (this.hostByNameCallback !== callback) return;
      this.hostByNameCallback = undefined;
      this.invoke("Wifi.getHostByName", callback as never, address === undefined ? null : address);
    };
    setTimeout(answer, address === undefined ? DNS_GIVE_UP_MS : 0);
  }

  private setTimer(callback: unknown, ms: number): number {
    if (typeof callback !== "function") throw new this.contextError("setTimeout: callback is not a function");
    const id = this.nextTimer++;
    const handle = setTimeout(() => {
      this.timers.delete(id);
      this.invoke("timeout", callback as never);
    }, ms);
    this.timers.set(id, { handle, callback });
    return id;
  }

  private clearTimer(id: number): void {
    const t = this.timers.get(id);
    if (!t) return;
    clearTimeout(t.handle);
    this.timers.delete(id);
  }

  /** Calls a program function as Espruino's event loop does: an exception is printed and the board goes on. */
  private invoke(what: string, fn: (...args: unknown[]) => unknown, ...args: unknown[]): void {
    if (this.stopped) return;
    try {
      fn(...args);
    } catch (e) {
      const detail = e && typeof e === "object" && "stack" in e ? String((e as Error).stack) : String(e);
      const message = `Uncaught ${detail} (in ${what})`;
      this.errors.push(message);
      this.options.log(message);
    }
  }

  /**
   * Runs the program's source as Espruino runs boot code. Espruino does not
   * hoist (src/jsparse.c declares a function or var when its statement
   * runs), node:vm does: a program that depends on hoisting is refused here
   * with the ReferenceError the interpreter would throw, instead of running.
   */
  run(code: string, scriptName: string): void {
    this.scriptName = scriptName;
    const hoisted = hoistingDependencies(code);
    if (hoisted.length > 0) {
      const first = hoisted[0];
      const message = `Uncaught ReferenceError: "${first.name}" is not defined at ${scriptName}:${first.where} (in boot code; ${first.message})`;
      this.errors.push(message);
      this.options.log(message);
      return;
    }
    const script = new vm.Script(this.options.profile ? instrumentForProfile(code) : code, { filename: scriptName });
    this.invoke("boot code", () => script.runInContext(this.context));
  }

  /** Host ports the program listens on, by device port, once bound. */
  async ports(): Promise<{ [devicePort: number]: number }> {
    await this.net.bound();
    return { ...this.net.ports };
  }

  /**
   * The variables the program uses now: what its registered callbacks and
   * globals keep alive, plus open connections, their write buffers and open
   * files (kept by the interpreter itself on the device).
   */
  memory(): VariableEstimate & { bufferedBytes: number; openFiles: number; connections: number } {
    const roots: unknown[] = [...this.net.callbacks()];
    for (const t of this.timers.values()) roots.push(t.callback);
    const global = vm.runInContext("this", this.context) as { [name: string]: unknown };
    for (const name of Object.getOwnPropertyNames(global)) if (!this.builtinGlobals.has(name)) roots.push(global[name]);
    const estimate = estimateVariables(roots, this.scriptName, (length, name) => this.flat.has(flatKey(length, name)));
    const bufferedBytes = this.net.bufferedBytes();
    const openFiles = this.files.openCount();
    const connections = this.net.openConnections();
    return {
      ...estimate,
      variables:
        estimate.variables +
        connections * CONNECTION_VARIABLES +
        (bufferedBytes > 0 ? stringVariables(bufferedBytes) : 0) +
        openFiles * this.fileVariables(),
      bufferedBytes,
      openFiles,
      connections,
    };
  }

  /**
   * E.toString of strings (jswrap_espruino.c:1014 jswrap_espruino_toStringX):
   * one string argument is returned as it is (:1019); otherwise a new
   * string of every argument's characters (:1036-1037, jsvNewStringOfLength,
   * jsvar.c:1096), flat when it is longer than JSV_FLAT_STRING_BREAK_EVEN
   * (jsutils.h:296: 9 + 10 characters with the ESP32's 14-bit references,
   * :280 and :287). The emulation always finds the contiguous block
   * (fragmentation is not modelled). Arguments other than strings (numbers
   * as characters, arrays, {data, count}) are not emulated.
   */
  private toFlatIfLong(args: unknown[], fail: (message: string) => never): string {
    if (!args.every((a) => typeof a === "string")) fail("E.toString: only strings are emulated");
    if (args.length === 1) return args[0] as string;
    const s = Buffer.from((args as string[]).join(""), "latin1").toString("latin1"); // a new sequential string, as the snapshot names it
    if (s.length > FLAT_STRING_BREAK_EVEN) {
      this.flat.add(flatKey(s.length, s));
      if (this.flat.size > MAX_FLAT_KEYS) this.flat.delete(this.flat.values().next().value as string);
    }
    return s;
  }

  /** What an open file's data takes: the ESP32's FatFs buffer, or a FILE* on the Linux build (no card). */
  private fileVariables(): number {
    return this.options.card ? OPEN_FILE_VARIABLES : LINUX_OPEN_FILE_VARIABLES;
  }

  /** The work counted since the last call (profile on), then starts counting afresh. */
  takeProfile(): ProfileCounts {
    const taken = { ...this.counts };
    Object.assign(this.counts, emptyProfile());
    return taken;
  }

  /**
   * What process.memory() reports: the code's variables, plus what the
   * emulation sees the program hold (sockets, their write buffers, open
   * files). Cheap, and a lower bound of memory().
   */
  quickMemory(): number {
    const buffered = this.net.bufferedBytes();
    return (
      (this.options.codeVariables || 0) +
      this.net.openSockets() * SOCKET_VARIABLES +
      (buffered > 0 ? stringVariables(buffered) : 0) +
      this.files.openCount() * this.fileVariables()
    );
  }

  openSockets(): number {
    return this.net.openSockets();
  }

  peakSockets(): number {
    return this.net.peakSockets();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.handle);
    this.timers.clear();
    await this.net.close();
    this.files.closeAll();
  }
}
