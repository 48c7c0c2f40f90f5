/**
 * Output for one connection, honouring the boards' rule of one send
 * outstanding (NodeMCU's `sent`, Espruino's `drain`): replies queue up and go
 * out together when the previous send completes; a streamed message is pulled
 * one chunk per completed send, so it never sits in memory whole.
 */
import type { Connection } from "./hal";

/** Produces a long reply piece by piece (RETR, TOP). */
export interface ChunkSource {
  /** The next chunk, or undefined when done. Called only when the connection can take it. */
  next(): string | undefined;
  /** Releases what the source holds (its open file); called once, also on disconnect. */
  release(): void;
  /**
   * Set while next() returned "" because the source waits for something
   * (a free message file, a structure being built): the sender pauses
   * until retry(), which its session calls when that may have come (IMAP
   * FETCH, SEARCH). A "" without it means "nothing this time, go on".
   */
  blocked?: boolean;
}

/**
 * Starts a source only when its turn comes, so queued RETRs don't each hold
 * a file. Undefined means "not yet" (no file free): the sender stops there
 * until retry().
 */
export type SourceStarter = () => ChunkSource | undefined;

/** Replies that a client left unread past this many octets end the session. */
export const MAX_QUEUED_OCTETS = 16384;

export class Sender {
  /** Text waiting for the current send to complete. */
  private text = "";
  /** Sources and text queued behind the current source, in order. */
  private later: (string | SourceStarter)[] = [];
  private source: ChunkSource | undefined = undefined;
  private sending = false;
  private closing = false;
  private closed = false;
  /** The next source could not start yet; nothing goes out until retry(). */
  private waiting = false;

  /**
   * `conn`: read by sessions for its peer (log lines). `defer`: runs a
   * function soon, from the event loop (hal.setTimer(0, f)); given, a
   * source's "" yields the loop before the next call (a long search that
   * finds nothing for a while does not hold the loop), else it is called
   * again at once.
   */
  constructor(readonly conn: Connection, private defer?: (resume: () => void) => void) {}

  /** Queues a reply (with its line ending). False when the client reads too little: close it. */
  send(data: string): boolean {
    if (this.closed || this.closing) return true;
    const later = this.later;
    const last = later.length - 1;
    let queued = 0;
    if (this.source === undefined && last < 0) this.text += data;
    else if (last >= 0 && typeof later[last] === "string") {
      // Replies queued behind a stream (an IMAP APPEND's answers behind a FETCH) make one string, not one item each.
      later[last] += data;
      queued = (later[last] as string).length;
    } else later.push(data);
    this.flush();
    return this.text.length <= MAX_QUEUED_OCTETS && queued <= MAX_QUEUED_OCTETS && later.length < 64;
  }

  /** Queues a streamed reply. */
  stream(start: SourceStarter): void {
    if (this.closed || this.closing) return;
    this.later.push(start);
    this.flush();
  }

  /** Something is still being sent or waits to be (HTTP reads a pipelined request only after the answer before it is out). */
  busy(): boolean {
    return this.sending || this.text.length > 0 || this.later.length > 0 || this.source !== undefined;
  }

  /** Closes once everything queued has been sent. */
  closeWhenDone(): void {
    this.closing = true;
    this.flush();
  }

  /** The connection went away: drop everything. */
  dropped(): void {
    this.closed = true;
    this.text = "";
    this.later = [];
    if (this.source !== undefined) {
      const s = this.source;
      this.source = undefined;
      s.release();
    }
  }

  /** The previous send completed. */
  onSent(): void {
    // Mid-RETR, the common case: the source's next chunk goes straight out
    // (kept short: on Espruino every statement on this path is interpreted
    // once per chunk). Anything else takes flush(). `sending` stays set
    // while the source makes its chunk, so that a flush the source causes
    // (a reply queued, the session closed on a card error) waits for this
    // one instead of pulling the same source from inside its own next().
    const source = this.source;
    if (source !== undefined && this.text.length === 0 && !this.closed) {
      const chunk = source.next();
      if (chunk !== undefined && chunk.length > 0) {
        this.conn.send(chunk);
        return;
      }
      if (chunk === undefined) {
        this.source = undefined;
        source.release();
      }
    }
    this.sending = false;
    this.flush();
  }

  /** Tries again to start the source that could not start. */
  retry(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.flush();
  }

  private flush(): void {
    if (this.sending || this.closed || this.waiting) return;
    while (true) {
      if (this.text.length > 0) {
        const out = this.text;
        this.text = "";
        this.sending = true;
        this.conn.send(out);
        return;
      }
      if (this.source !== undefined) {
        // As in onSent: a flush caused by the source's own next() waits.
        let chunk: string | undefined = undefined;
        this.sending = true;
        try {
          chunk = this.source.next();
        } finally {
          this.sending = false;
        }
        if (chunk !== undefined) {
          if (chunk.length === 0) {
            const source = this.source;
            const defer = this.defer;
            if (source === undefined || (source.blocked !== true && defer === undefined)) continue;
            // Waiting (blocked: until retry()) or yielding the loop (defer: retried from it).
            this.waiting = true;
            const sender = this;
            if (source.blocked !== true && defer !== undefined) {
              defer(function () {
                sender.retry();
              });
            }
            return;
          }
          this.sending = true;
          this.conn.send(chunk);
          return;
        }
        const done = this.source;
        this.source = undefined;
        if (done !== undefined) done.release(); // undefined: dropped() from inside next()
      }
      if (this.later.length > 0) {
        const item = this.later.shift() as string | SourceStarter;
        if (typeof item === "string") {
          this.text = item;
          // Merge the text queued right behind it into the same send.
          while (this.later.length > 0 && typeof this.later[0] === "string") this.text += this.later.shift() as string;
        } else {
          const started = item();
          if (started === undefined) {
            this.later.unshift(item);
            this.waiting = true;
            return;
          }
          this.source = started;
        }
        continue;
      }
      if (this.closing) {
        this.closed = true;
        this.conn.close();
      }
      return;
    }
  }
}
