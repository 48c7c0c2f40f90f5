/**
 * The POP3 retrieval loop the bench runs against both servers, as its own
 * process (so it weighs on neither): log in with USER/PASS, STAT, RETR every
 * message (optionally DELE it), QUIT. Prints one JSON line:
 * {"messages":N,"bytes":B,"startedAt":T0,"endedAt":T1}; bytes are the
 * message octets received (status lines and the terminating "." excluded),
 * times are epoch milliseconds, so that concurrent sessions can be spanned.
 *
 *   node build/bench/pop3-fetch.js --port P --user U --pass W [--delete] [--start-at T]
 *
 * --start-at T (epoch milliseconds) waits until then before connecting, so
 * that concurrent sessions start together however long each process took
 * to start (tens of milliseconds, as long as a whole run of small messages).
 */
import * as net from "node:net";

const CRLF = Buffer.from("\r\n");
const TERMINATOR = Buffer.from("\r\n.\r\n");

/**
 * Finds the end of a multi-line response body across chunks. The body
 * starts right after the status line's CRLF, so an empty body is just ".\r\n".
 */
export class MultilineEnd {
  private tail: Buffer = CRLF; // the status line's CRLF: "." on the first line ends an empty body
  private consumed = 0;
  /** Body octets, known once the end is found. */
  bodyBytes = -1;

  /** Feeds the next chunk; returns how much of it belongs to the body and terminator, or -1 if the end is not in it. */
  feed(chunk: Buffer): number {
    const joined = Buffer.concat([this.tail, chunk]);
    const at = joined.indexOf(TERMINATOR);
    if (at < 0) {
      this.consumed += chunk.length;
      this.tail = joined.subarray(Math.max(0, joined.length - (TERMINATOR.length - 1)));
      return -1;
    }
    const used = at + TERMINATOR.length - this.tail.length;
    this.consumed += used;
    this.bodyBytes = this.consumed - 3; // ".\r\n"
    return used;
  }
}

/** An -ERR answer. */
export class Pop3Error extends Error {
  constructor(readonly line: string) {
    super(`POP3 server said: ${line}`);
  }

  /** RFC 3206: a temporary condition, worth trying again. */
  get temporary(): boolean {
    return this.line.startsWith("-ERR [SYS/TEMP]");
  }
}

/** One POP3 client connection with a byte buffer for whatever arrived but was not read yet. */
export class Pop3Client {
  private pending: Buffer = Buffer.alloc(0);
  private wake?: () => void;
  private failure?: Error;

  private constructor(private socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.notify();
    });
    socket.on("error", (e) => ((this.failure = e), this.notify()));
    socket.on("close", () => ((this.failure = this.failure || new Error("connection closed by the server")), this.notify()));
  }

  static connect(port: number, host = "127.0.0.1"): Promise<Pop3Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new Pop3Client(socket));
      });
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    if (wake) wake();
  }

  private async more(): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** The next status line; throws on -ERR. */
  async status(): Promise<string> {
    for (;;) {
      const end = this.pending.indexOf(CRLF);
      if (end >= 0) {
        const line = this.pending.toString("latin1", 0, end);
        this.pending = this.pending.subarray(end + 2);
        if (!line.startsWith("+OK")) throw new Pop3Error(line);
        return line;
      }
      await this.more();
    }
  }

  /** Sends a command and returns its status line. */
  async command(line: string): Promise<string> {
    this.socket.write(line + "\r\n");
    return this.status();
  }

  /** Sends a command with a multi-line answer; returns the body's size in octets. */
  async multiline(line: string): Promise<number> {
    await this.command(line);
    const end = new MultilineEnd();
    for (;;) {
      if (this.pending.length > 0) {
        const chunk = this.pending;
        this.pending = Buffer.alloc(0);
        const used = end.feed(chunk);
        if (used >= 0) {
          this.pending = chunk.subarray(used);
          return end.bodyBytes;
        }
      }
      await this.more();
    }
  }

  async quit(): Promise<void> {
    await this.command("QUIT");
    this.socket.end();
  }

  /** Drops the connection (after a failure). */
  destroy(): void {
    this.socket.destroy();
  }
}

export interface FetchResult {
  messages: number;
  bytes: number;
  /** RETRs answered "-ERR [SYS/TEMP]" (busy) and tried again after a pause. */
  busy: number;
  startedAt: number;
  endedAt: number;
}

/** Epoch milliseconds with sub-millisecond precision. */
function wallClock(): number {
  return performance.timeOrigin + performance.now();
}

const BUSY_PAUSE_MS = 10;
const MAX_BUSY = 1000;

/**
 * Logs in, retrieves every message (deleting each if asked) and quits;
 * timed from connect to the QUIT answer. A RETR answered "-ERR [SYS/TEMP]"
 * (letterbox: no file handle free on the card) is sent again after a pause.
 */
export async function fetchAll(port: number, user: string, password: string, deleteAfter: boolean): Promise<FetchResult> {
  const startedAt = wallClock();
  const client = await Pop3Client.connect(port);
  try {
    await client.status();
    await client.command(`USER ${user}`);
    await client.command(`PASS ${password}`);
    const count = Number((await client.command("STAT")).split(" ")[1]);
    let bytes = 0;
    let busy = 0;
    for (let i = 1; i <= count; i++) {
      for (;;) {
        try {
          bytes += await client.multiline(`RETR ${i}`);
          break;
        } catch (e) {
          if (!(e instanceof Pop3Error && e.temporary) || busy >= MAX_BUSY) throw e;
          busy++;
          await new Promise((resolve) => setTimeout(resolve, BUSY_PAUSE_MS));
        }
      }
      if (deleteAfter) await client.command(`DELE ${i}`);
    }
    await client.quit();
    return { messages: count, bytes, busy, startedAt, endedAt: wallClock() };
  } catch (e) {
    client.destroy();
    throw e;
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const value = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0 || i + 1 >= args.length) throw new Error(`pop3-fetch: ${name} is required`);
    return args[i + 1];
  };
  const startAt = args.includes("--start-at") ? Number(value("--start-at")) : 0;
  const run = () => fetchAll(Number(value("--port")), value("--user"), value("--pass"), args.includes("--delete"));
  new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now()))).then(run).then(
    (result) => console.log(JSON.stringify(result)),
    (e) => {
      console.error(`pop3-fetch: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
