/**
 * One configurable HAL for in-process tests (firmware/hal.ts's Hal), in
 * place of a hand-made object literal per test. Every part is chosen by an
 * option; what a test does not choose is a plain working default.
 *
 *   clock      "real" (Date.now, the default) or a number: a manual clock
 *              at that many seconds, moved by `hal.clock`
 *   timers     "real" (setTimeout, cleared by stop(), the default) or
 *              "manual": they run only when the test says (`hal.timers`)
 *   card       a directory (a SimCard on it, the default a scratch one), any
 *              Storage, or "failing": every call throws "card removed", and
 *              so does cardSpace
 *   serial     true: a serial line; every write goes to `onWrite` when given
 *              and into `hal.serialOut`; `hal.serialIn(data)` is the host
 *   flash      true: a SimFlash in memory, or any InternalFlash
 *   sendChunk  the HAL's sendChunk (the core's default when absent)
 *   log        "keep" (the default: into `hal.logged`), "drop", or a function
 *   random     what Hal.random returns (a number, or a function)
 *
 * `hal.client(port)` opens a connection to a listening service as the board's
 * network stack would (FakeClient): it holds the HAL's rules (one send
 * outstanding, none after close) and completes sends on the next turn of the
 * event loop or when the test says.
 */
import * as assert from "node:assert/strict";
import type { Connection, ConnectionEvents, Hal, InternalFlash, Storage, Timer } from "../../firmware/hal";
import { SimCard } from "../../sim/card";
import { SimFlash } from "../../sim/flash";
import { tempDir } from "./fixtures";

export interface TestHalOptions {
  implementation?: string;
  clock?: "real" | number;
  timers?: "real" | "manual";
  card?: string | Storage | "failing";
  serial?: boolean;
  onWrite?: (data: string) => void;
  flash?: boolean | InternalFlash;
  sendChunk?: number;
  log?: "keep" | "drop" | ((line: string) => void);
  random?: number | (() => number);
}

/** A timer held until the test runs it; `due` is in milliseconds of the manual time. */
export interface ManualTimer {
  ms: number;
  due: number;
  callback: () => void;
  live: boolean;
}

/** Timers that run only when asked, in order of when they are due. */
export class ManualTimers {
  /** Milliseconds that have passed, as far as the timers know. */
  elapsedMs = 0;
  pending: ManualTimer[] = [];

  add(ms: number, callback: () => void): Timer {
    const timer = { ms, due: this.elapsedMs + ms, callback, live: true };
    this.pending.push(timer);
    return { cancel: () => void (timer.live = false) };
  }

  /** Runs the earliest live timer, moving the time to when it is due; false when none is left. */
  runNext(): boolean {
    this.pending = this.pending.filter((t) => t.live);
    if (this.pending.length === 0) return false;
    let next = this.pending[0];
    for (const t of this.pending) if (t.due < next.due) next = t;
    next.live = false;
    this.elapsedMs = Math.max(this.elapsedMs, next.due);
    next.callback();
    return true;
  }

  /** Runs the live zero-delay timers (and the ones those start), never a later one; true when any ran. */
  runZeroDelay(): boolean {
    let ran = false;
    for (let i = 0; i < this.pending.length; i++) {
      const t = this.pending[i];
      if (t.ms === 0 && t.live) {
        this.pending.splice(i--, 1);
        t.live = false;
        t.callback();
        ran = true;
      }
    }
    return ran;
  }

  /** Forgets every timer. */
  clear(): void {
    for (const t of this.pending) t.live = false;
    this.pending = [];
  }
}

export interface TestHal extends Hal {
  storage: Storage;
  /** The SimCard, when the card is one. */
  card?: SimCard;
  /** The manual clock's seconds (for clock: number); moving it moves now(). */
  clock: { seconds: number };
  /** The manual timers (for timers: "manual"). */
  timers: ManualTimers;
  /** Log lines, for log: "keep". */
  logged: string[];
  /** Everything written to the serial line. */
  serialOut: string;
  /** Hands bytes from the host to the serial line's receiver. */
  serialIn(data: string): void;
  /** The listening service on `port`: call it as the board's network stack would with a new connection. */
  acceptor(port: number): (conn: Connection) => ConnectionEvents;
  /** A new client connection to the service on `port`. */
  client(port: number, options?: ClientOptions): FakeClient;
  /** Clears the real timers still pending. */
  stop(): void;
}

/** The error every call of a failing card throws. */
function cardRemoved(): never {
  throw new Error("card removed");
}

const FAILING_CARD: Storage = { open: cardRemoved, size: cardRemoved, remove: cardRemoved, mkdir: cardRemoved, list: cardRemoved };

export function testHal(options: TestHalOptions = {}): TestHal {
  const acceptors: { [port: number]: (conn: Connection) => ConnectionEvents } = {};
  const realTimers = new Set<NodeJS.Timeout>();
  const card = options.card === "failing" ? undefined : typeof options.card === "object" ? options.card : new SimCard({ dir: options.card || tempDir("hal") });
  let receiver: ((data: string) => void) | undefined;
  const random = options.random === undefined ? 4242 : options.random;
  const log = options.log || "keep";
  const hal: TestHal = {
    implementation: options.implementation || "letterbox-test",
    storage: options.card === "failing" ? FAILING_CARD : (card as Storage),
    card: card instanceof SimCard ? card : undefined,
    clock: { seconds: typeof options.clock === "number" ? options.clock : 0 },
    timers: new ManualTimers(),
    logged: [],
    serialOut: "",
    listen(o) {
      acceptors[o.port] = o.onConnection;
      return { close: () => void delete acceptors[o.port] };
    },
    setTimer(ms, callback) {
      if (options.timers === "manual") return hal.timers.add(ms, callback);
      const t = setTimeout(() => (realTimers.delete(t), callback()), ms);
      realTimers.add(t);
      return { cancel: () => (clearTimeout(t), realTimers.delete(t)) };
    },
    now: () => (typeof options.clock === "number" ? hal.clock.seconds : Math.floor(Date.now() / 1000)),
    random: typeof random === "number" ? () => random : random,
    log: (line) => (log === "keep" ? void hal.logged.push(line) : log === "drop" ? undefined : log(line)),
    serialIn(data) {
      if (!receiver) throw new Error("no receiver on the serial line");
      receiver(data);
    },
    acceptor(port) {
      const accept = acceptors[port];
      if (!accept) throw new Error(`nothing listens on port ${port}`);
      return accept;
    },
    client: (port, o) => new FakeClient(hal.acceptor(port), o || {}),
    stop() {
      for (const t of realTimers) clearTimeout(t);
      realTimers.clear();
    },
  };
  if (options.serial) {
    hal.serial = {
      write(data) {
        hal.serialOut += data;
        if (options.onWrite) options.onWrite(data);
      },
      setReceiver: (r) => void (receiver = r),
    };
  }
  if (options.flash) hal.flash = options.flash === true ? new SimFlash() : options.flash;
  if (options.sendChunk !== undefined) hal.sendChunk = options.sendChunk;
  if (options.card === "failing") hal.cardSpace = cardRemoved;
  return hal;
}

export interface ClientOptions {
  /**
   * "next-turn" (the default): sends complete, and closes are reported, on
   * the next turn of the event loop, as on the boards. "manual": a send
   * completes at completeSend(), and onClose comes only with drop().
   */
  completion?: "next-turn" | "manual";
  /** Sees every send of the core, as it is made. */
  onSend?: (data: string) => void;
  /** Called when the core closes the connection. */
  onServerClose?: () => void;
  /** false: do not keep what the core sent in `received` (for large transfers). */
  keep?: boolean;
}

/** One client connection to the core, through the HAL's Connection; fails the test when the core breaks its rules. */
export class FakeClient {
  events: ConnectionEvents;
  /** Everything the core sent so far (unless keep: false). */
  received = "";
  /** A send of the core waits for completion. */
  sendPending = false;
  /** The core closed the connection. */
  closed = false;
  /** The connection is gone (the core closed it, or the client dropped it): later sends are lost. */
  gone = false;
  private nextTurn: boolean;
  private closeReported = false;

  constructor(accept: (conn: Connection) => ConnectionEvents, private options: ClientOptions) {
    this.nextTurn = options.completion !== "manual";
    const client = this;
    this.events = accept({
      send(data) {
        assert.ok(!client.sendPending, "a second send before the first completed");
        assert.ok(!client.closed, "a send after the core closed the connection");
        if (client.gone) return;
        client.sendPending = true;
        if (client.options.keep !== false) client.received += data;
        if (client.options.onSend) client.options.onSend(data);
        if (client.nextTurn) setImmediate(() => client.completeSend());
      },
      close() {
        assert.ok(!client.sendPending, "the core closed while a send was outstanding");
        if (client.gone) return;
        client.closed = true;
        client.gone = true;
        if (client.options.onServerClose) client.options.onServerClose();
        if (client.nextTurn) setImmediate(() => client.reportClose());
      },
    });
  }

  /** Bytes from the client, unless the connection is gone. */
  say(data: string): void {
    if (!this.gone) this.events.onData(data);
  }

  /** Completes the outstanding send (onSent, unless the connection is gone); false when there was none. */
  completeSend(): boolean {
    if (!this.sendPending) return false;
    this.sendPending = false;
    if (!this.gone) this.events.onSent();
    return true;
  }

  /** The client hangs up (the core learns of it on the next turn, or at once with manual completion); once only. */
  drop(): void {
    this.gone = true;
    if (this.nextTurn) setImmediate(() => this.reportClose());
    else this.reportClose();
  }

  private reportClose(): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.events.onClose();
  }
}
