/**
 * The hardware-abstraction interface: everything the portable core may ask of
 * a board. The simulator implements it on Node (sim/), the Espruino and
 * NodeMCU adapters on the boards' own APIs (boards/).
 *
 * Shaped after ECMA-419: small objects created from an options object that
 * carries the callbacks. Everything here stays inside PLATFORMS.md's
 * intersection: 8-bit strings as the only byte container, integers below
 * 2^31, times in whole seconds, synchronous storage, event-driven sockets
 * with no receive throttling and one send outstanding.
 */

/** One TCP connection, accepted (Hal.listen) or opened (Hal.connect). */
export interface Connection {
  /**
   * Hands bytes to the network. At most ONE send may be outstanding: call
   * again only after `onSent` has fired (NodeMCU's rule, and Espruino's
   * drain pacing). The core's Sender (firmware/sender.ts) enforces this.
   */
  send(data: string): void;
  /** Closes the connection. Only called when no send is outstanding. */
  close(): void;
  /**
   * The peer's IP address ("192.0.2.7"), for Received: headers, log lines and
   * the per-client login throttle; absent where the board cannot tell:
   * Espruino's accept discards it (libs/network/esp32/network_esp32.c:232
   * `accept(sckt,0,0)`; the Socket object holds only its number,
   * socketserver.c:811-819).
   */
  remoteAddress?: string;
}

export interface ConnectionEvents {
  /** Bytes received, in chunks of any size split at arbitrary points. */
  onData: (data: string) => void;
  /** The last send has been handed to the network stack. */
  onSent: () => void;
  /** The peer closed the connection, or it failed. Called once. */
  onClose: () => void;
}

export interface ListenOptions {
  port: number;
  /** Called for every accepted connection; returns the handlers for it. */
  onConnection: (conn: Connection) => ConnectionEvents;
}

export interface Listener {
  close(): void;
}

/** An outbound connection, ECMA-419 style: what to reach and the callbacks. */
export interface ConnectOptions {
  /** An IPv4 address or a host name (the board looks it up as Hal.resolve would). */
  host: string;
  port: number;
  /** The connection is up: returns its handlers, as ListenOptions.onConnection does. */
  onConnection: (conn: Connection) => ConnectionEvents;
  /**
   * It could not be made (unknown name, refused, no socket free). Called
   * once, from the event loop, and never after onConnection; `reason` is for
   * logs. There is no connect timeout: the caller keeps its own timer and
   * closes a connection that comes too late.
   */
  onError: (reason: string) => void;
}

/**
 * Where Hal.random comes from. "entropy": a hardware or operating-system
 * source nobody can predict (the ESP32's RNG register, the OS's CSPRNG): fit
 * for APOP timestamps, session tokens. "prng": a seeded generator, the same
 * sequence after every boot: fit for spreading retries, never for secrets.
 */
export type RandomQuality = "entropy" | "prng";

/** An open file on the card. All calls are synchronous and throw on failure. */
export interface FileHandle {
  /** Up to `length` bytes from the current position; undefined at the end. */
  read(length: number): string | undefined;
  /** Appends or overwrites at the current position; durable when it returns. */
  write(data: string): void;
  /** Moves to an absolute byte offset (files opened with "r"). */
  seek(offset: number): void;
  close(): void;
}

/**
 * The removable card. Paths are absolute ("/LB/JRNL.A"), names are FAT 8.3,
 * and no more than four files are open at once. There is no rename and no
 * truncate (Espruino has neither). Every call throws on failure (card
 * missing, card full, I/O error); the message is for logs only.
 */
export interface Storage {
  /** "r" read, "w" create or truncate, "a" append (creates). */
  open(path: string, mode: string): FileHandle;
  /** Size in bytes, or -1 when the file does not exist. */
  size(path: string): number;
  remove(path: string): void;
  /** Creates a directory; no error when it exists already. */
  mkdir(path: string): void;
  /** Names (not paths) in a directory. */
  list(path: string): string[];
}

export interface Timer {
  cancel(): void;
}

export interface Hal {
  listen(options: ListenOptions): Listener;
  storage: Storage;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimer(ms: number, callback: () => void): Timer;
  /** Seconds since 1970-01-01 UTC (fits int32 until 2038). */
  now(): number;
  /** A random integer in [0, 2^31), of the quality randomQuality states. */
  random(): number;
  /** Where random() comes from; absent means "prng". */
  randomQuality?: RandomQuality;
  /**
   * Opens an outbound TCP connection (the relay's, later); absent where the
   * board cannot. It takes one of the board's sockets (lwIP's 10 on ESP32).
   */
  connect?(options: ConnectOptions): void;
  /**
   * Looks a host name up: `callback` gets an IPv4 address, or undefined when
   * the name is unknown, always later from the event loop. "localhost" and
   * dotted addresses answer without a query (lwIP dns.c
   * dns_gethostbyname_addrtype). Absent where the board has no resolver.
   */
  resolve?(name: string, callback: (address: string | undefined) => void): void;
  /** One line of log output, without a line ending. */
  log(line: string): void;
  /** Board name and runtime, for the SMTP banner and POP3 IMPLEMENTATION. */
  implementation: string;
  /** The USB serial line to the host tool (firmware/console.ts), when the board has one. */
  serial?: SerialLine;
  /** Internal flash for configuration and secrets (never the removable card). */
  flash?: InternalFlash;
  /** Restarts the board; without it the console restarts the core in place. */
  reboot?(): void;
  /** Free memory for `letterbox status`, in `memoryUnit`. */
  freeMemory?(): number;
  /** The unit of freeMemory: "bytes" (the default: heap bytes), "KiB", or "variables" (Espruino's JsVars). */
  memoryUnit?: string;
  /**
   * A string equal to `s`, stored as compactly as the board can: the index
   * keeps its full 2 KiB chunks this way (mailindex.ts packWith). Espruino:
   * a flat string, 14 characters a variable instead of ~10. Absent: `s` as it is.
   */
  packString?(s: string): string;
  /**
   * Octets per chunk when streaming a stored message (RETR, TOP): one card
   * read and one send each. Default 1024, about one TCP segment on the
   * boards; a desktop stack takes far more per send.
   */
  sendChunk?: number;
  /**
   * Optional native search for the DATA reader (firmware/lines.ts): true when
   * `s` holds an LF not preceded by a CR at an index of 1 or more. One call
   * per received chunk lets CRLF mail skip the reader's walk over its lines.
   * Given by every board and runtime: Espruino a RegExp's test, NodeMCU
   * `string.find(s, "[^\r]\n")`, node a RegExp.
   */
  findBareLF?: (this: void, s: string) => boolean;
  /** Card capacity and free space in KiB (KiB keep big cards below 2^31). */
  cardSpace?(): { totalKiB: number; freeKiB: number };
}

/** The board's serial console line: bytes both ways, console text and protocol frames mixed. */
export interface SerialLine {
  write(data: string): void;
  /** Sets who receives the bytes the host sends (replacing any earlier receiver). */
  setReceiver(receiver: (data: string) => void): void;
}

/**
 * Files in the board's internal flash (Espruino `Storage`, NodeMCU SPIFFS):
 * names of at most 28 characters, whole-file reads and writes.
 */
export interface InternalFlash {
  /** The file's contents, or undefined when there is none. */
  read(name: string): string | undefined;
  /** Replaces the file; throws when the flash is full or fails. */
  write(name: string, data: string): void;
  erase(name: string): void;
}
