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
import { Wire } from "./wire";

export { MultilineEnd } from "./wire";

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

/** One POP3 client connection: status lines checked, -ERR thrown. */
export class Pop3Client {
  private constructor(private wire: Wire) {}

  static async connect(port: number, host = "127.0.0.1"): Promise<Pop3Client> {
    return new Pop3Client(await Wire.connect(port, host));
  }

  /** The next status line; throws on -ERR. */
  async status(): Promise<string> {
    const line = await this.wire.line();
    if (!line.startsWith("+OK")) throw new Pop3Error(line);
    return line;
  }

  /** Sends a command and returns its status line. */
  async command(line: string): Promise<string> {
    this.wire.send(line + "\r\n");
    return this.status();
  }

  /** Sends a command with a multi-line answer; returns the body's size in octets. */
  async multiline(line: string): Promise<number> {
    await this.command(line);
    return this.wire.multiline();
  }

  async quit(): Promise<void> {
    await this.command("QUIT");
    this.wire.end();
  }

  /** Drops the connection (after a failure). */
  destroy(): void {
    this.wire.destroy();
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
