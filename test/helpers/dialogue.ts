/**
 * Scripted dialogues: plain files of client and server lines, run against a
 * transport (an in-process fake socket, or real TCP to the simulator).
 *
 *   # comment
 *   @connect NAME smtp|pop3|http|imap   open a connection (the first line sent or
 *                             expected is always for the current one)
 *   @use NAME                 switch to an open connection
 *   C: text                   client sends text + CRLF
 *   R: text                   client sends raw text; escapes \r \n \t \\ \xHH
 *   S: text                   next server line equals text; `*` matches anything
 *                             (only where the text varies: ids, sizes, dates)
 *   L: text                   the next line the box logs equals text (after
 *                             its time; `*` as in S:); what it logged before
 *                             the dialogue started is skipped
 *   @closed                   the server has closed the connection
 *   @open                     the server keeps the connection open: it neither
 *                             closes it nor sends anything within QUIET_MS
 *   @drop                     the client drops the connection
 *   @wait MS                  pause
 *   @todo WHY                 the file shows a known server bug (WHY): the
 *                             tests run it as a todo until it is fixed
 *
 * Strict about the end: every server line must be read by an S: line (at
 * @closed, @open, @drop and the end of the file nothing may be left
 * unread), and every connection
 * must say how it ends: its last line is @closed, @open or @drop. Nothing may
 * be sent or read on a connection after its @closed or @drop.
 *
 * In C: lines, {apop:PASSWORD} becomes the APOP digest for the current
 * connection's greeting timestamp.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as assert from "node:assert/strict";

export type Protocol = "smtp" | "pop3" | "http" | "imap";

/** A byte pipe to one server session. */
export interface Pipe {
  write(data: string): void;
  /** Resolves with the next line (without CRLF), or undefined once closed and drained. */
  readLine(timeoutMs: number): Promise<string | undefined>;
  /** Resolves true when the server closed the connection within the timeout. */
  closed(timeoutMs: number): Promise<boolean>;
  /** Lines received and not yet read (a line without its CRLF yet included). */
  unread(): string[];
  drop(): void;
}

/** The next line from `pipe`, asserted to match `pattern`; fails when the connection closed first. */
export async function expectLine(pipe: Pipe, pattern: RegExp, timeoutMs = 5000): Promise<string> {
  const line = await pipe.readLine(timeoutMs);
  assert.ok(line !== undefined, `expected ${pattern} but the connection closed`);
  assert.match(line, pattern);
  return line;
}

export interface Transport {
  connect(protocol: Protocol): Promise<Pipe>;
  /** The box's log lines, each pushed with CRLF as on its serial line (for L: lines). */
  log?: LineCollector;
}

/** The time a log line starts with: the date once the clock is set, else seconds since boot. */
const LOG_TIME = /^(\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d|boot\+\d+s) /;

/** Collects bytes into lines for a Pipe implementation. */
export class LineCollector {
  private buffer = "";
  private lines: string[] = [];
  private waiters: (() => void)[] = [];
  isClosed = false;

  push(data: string): void {
    this.buffer += data;
    let i: number;
    while ((i = this.buffer.indexOf("\r\n")) >= 0) {
      this.lines.push(this.buffer.slice(0, i));
      this.buffer = this.buffer.slice(i + 2);
    }
    this.wake();
  }

  close(): void {
    this.isClosed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private wait(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async readLine(timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.isClosed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.wait(left))) throw new Error(`no line from the server within ${timeoutMs} ms`);
    }
    return this.lines.shift() as string;
  }

  async closed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isClosed) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.wait(left))) return false;
    }
    return true;
  }

  /** Forgets the lines not yet read. */
  skip(): void {
    this.lines = [];
  }

  /** Lines not yet read, and the start of a line still without its CRLF. */
  get unread(): string[] {
    return this.buffer === "" ? this.lines.slice() : this.lines.concat([this.buffer]);
  }
}

export function unescapeRaw(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|r|n|t|\\)/g, (_, e: string) => {
    if (e === "r") return "\r";
    if (e === "n") return "\n";
    if (e === "t") return "\t";
    if (e === "\\") return "\\";
    return String.fromCharCode(parseInt(e.slice(1), 16));
  });
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp("^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
}

const TIMEOUT_MS = 5000;
/** How long @open watches for a line or a close that should not come. */
const QUIET_MS = 150;

/** An open connection of a dialogue; `end` is how it ended, `last` the file line that last used it. */
interface Session {
  name: string;
  pipe: Pipe;
  greeting: string;
  end?: "@closed" | "@open" | "@drop";
  last: string;
}

/** Fails when the server sent lines that the dialogue did not read. */
function assertAllRead(where: string, s: Session): void {
  const left = s.pipe.unread();
  assert.ok(left.length === 0, `${where}: the server sent lines on ${s.name} that the dialogue did not read: ${JSON.stringify(left)}`);
}

/** The reason a dialogue file gives in its @todo line (a known bug it shows), or undefined. */
export function dialogueTodo(file: string): string | undefined {
  const m = /^@todo (.*)$/m.exec(fs.readFileSync(file, "latin1"));
  return m ? m[1].trim() : undefined;
}

/** Runs one dialogue file; fails with the file's line number on the first mismatch. */
export async function runDialogue(file: string, transport: Transport): Promise<void> {
  const text = fs.readFileSync(file, "latin1");
  const sessions = new Map<string, Session>();
  let current: Session | undefined;
  const lines = text.split("\n");
  if (transport.log) transport.log.skip();
  try {
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n].replace(/\r$/, "");
      const where = `${file}:${n + 1}`;
      if (line.trim() === "" || line.startsWith("#") || line.startsWith("@todo ")) continue;
      /** The current connection, still usable; `ending` is what this line does to it. */
      const need = (ending?: Session["end"]) => {
        if (!current) throw new Error(`${where}: no connection (use @connect first)`);
        if (current.end === "@closed" || current.end === "@drop") throw new Error(`${where}: ${current.name} has ended (${current.end} at ${current.last})`);
        current.end = ending;
        current.last = where;
        return current;
      };
      if (line.startsWith("@connect ")) {
        const [, name, protocol] = line.split(/\s+/);
        assert.ok(protocol === "smtp" || protocol === "pop3" || protocol === "http" || protocol === "imap", `${where}: @connect NAME smtp|pop3|http|imap`);
        assert.ok(!sessions.has(name), `${where}: a connection named ${name} exists already`);
        current = { name, pipe: await transport.connect(protocol), greeting: "", last: where };
        sessions.set(name, current);
      } else if (line.startsWith("@use ")) {
        current = sessions.get(line.slice(5).trim());
        assert.ok(current, `${where}: no connection named ${line.slice(5)}`);
      } else if (line === "@closed") {
        const c = need("@closed");
        assert.ok(await c.pipe.closed(TIMEOUT_MS), `${where}: expected the server to close ${c.name}`);
        assertAllRead(where, c);
      } else if (line === "@open") {
        const c = need("@open");
        const closed = await c.pipe.closed(QUIET_MS);
        assertAllRead(where, c);
        assert.ok(!closed, `${where}: expected ${c.name} to stay open, but the server closed it`);
      } else if (line === "@drop") {
        const c = need("@drop");
        assertAllRead(where, c);
        c.pipe.drop();
      } else if (line.startsWith("@wait ")) {
        await new Promise((r) => setTimeout(r, Number(line.slice(6))));
      } else if (line.startsWith("C: ")) {
        const c = need();
        const sent = line.slice(3).replace(/\{apop:([^}]*)\}/g, (_, password: string) => {
          const stamp = /<[^>]*>/.exec(c.greeting);
          assert.ok(stamp, `${where}: no APOP timestamp in the greeting ${JSON.stringify(c.greeting)}`);
          return crypto.createHash("md5").update(stamp[0] + password, "latin1").digest("hex");
        });
        c.pipe.write(sent + "\r\n");
      } else if (line.startsWith("R: ")) {
        need().pipe.write(unescapeRaw(line.slice(3)));
      } else if (line.startsWith("L: ")) {
        assert.ok(transport.log, `${where}: this transport does not show the box's log`);
        const want = line.slice(3);
        let got: string | undefined;
        try {
          got = await transport.log.readLine(TIMEOUT_MS);
        } catch (e) {
          throw new Error(`${where}: expected the log line ${JSON.stringify(want)}: ${(e as Error).message}`);
        }
        assert.ok(got !== undefined, `${where}: expected the log line ${JSON.stringify(want)} but the log ended`);
        assert.ok(globToRegExp(want).test(got.replace(LOG_TIME, "")), `${where}: expected the log line ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
      } else if (line.startsWith("S: ")) {
        const c = need();
        const want = line.slice(3);
        let got: string | undefined;
        try {
          got = await c.pipe.readLine(TIMEOUT_MS);
        } catch (e) {
          throw new Error(`${where}: expected ${JSON.stringify(want)}: ${(e as Error).message}`);
        }
        assert.ok(got !== undefined, `${where}: expected ${JSON.stringify(want)} but the connection was closed`);
        assert.ok(globToRegExp(want).test(got), `${where}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
        if (c.greeting === "") c.greeting = got;
      } else {
        throw new Error(`${where}: cannot read this line: ${line}`);
      }
    }
    // What came on an open connection since its @open is unread too.
    for (const s of sessions.values()) if (s.end === "@open") assertAllRead(`${s.last} (at the end)`, s);
    const unended = Array.from(sessions.values()).filter((s) => !s.end);
    assert.ok(unended.length === 0, unended.map((s) => `${s.last}: the dialogue does not say how ${s.name} ends (@closed, @open or @drop after its last line)`).join("\n"));
  } finally {
    for (const { pipe } of sessions.values()) pipe.drop();
  }
}
