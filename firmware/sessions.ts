/**
 * What the SMTP and POP3 servers share: admitting a connection (session cap,
 * usable card), the idle sweep, and the list of open sessions.
 */
import type { ConnectionEvents } from "./hal";
import type { Sender } from "./sender";
import type { Card } from "./mailbox";

/**
 * How long a command waits for a free message file (SMTP DATA, POP3 RETR)
 * before it is answered "busy": the card allows only a few open files.
 */
export const FILE_WAIT_SECONDS = 30;

/** Input a session keeps while it cannot act on it yet; more ends the session. */
export const MAX_HELD_INPUT = 1024;

/**
 * Input that arrives while a session cannot act on it yet (POP3: a failed
 * login being delayed; SMTP: a DATA waiting for a message file), kept in
 * order and handed back once the session can go on.
 */
export class HeldInput {
  private data: string | undefined = undefined;

  get active(): boolean {
    return this.data !== undefined;
  }

  start(): void {
    this.data = "";
  }

  /** Keeps `data`; false when that would pass MAX_HELD_INPUT (end the session). */
  add(data: string): boolean {
    const kept = this.data === undefined ? "" : this.data;
    if (kept.length + data.length > MAX_HELD_INPUT) return false;
    this.data = kept + data;
    return true;
  }

  /** Stops holding; returns what was kept (empty when nothing was held). */
  release(): string {
    const kept = this.data === undefined ? "" : this.data;
    this.data = undefined;
    return kept;
  }
}

/** What every protocol session offers its server. */
export interface Session {
  /**
   * Seconds (hal.now()) when the session was last seen active. Bytes in and
   * sends completed only set `active`; the once-a-second sweep turns that
   * into a time, so the hot paths (a DATA chunk, a RETR chunk) make no clock
   * call (on Espruino every call is interpreted).
   */
  lastActive: number;
  /** Bytes arrived or a send completed since the last sweep. */
  active: boolean;
  sender: Sender;
  receive(data: string): void;
  /** The connection is gone: release everything, apply nothing. */
  gone(): void;
  reply(line: string): void;
  close(): void;
}

/** The answers a server gives when it admits or refuses a connection. */
export interface Greetings {
  ready: string;
  busy: string;
  unavailable: string;
}

export class SessionList<S extends Session> {
  items: S[] = [];

  /**
   * Greets `session`, or refuses it when `cap` sessions are open or the card
   * cannot be used (the store is reopened on the way: a card put back in
   * brings the service back). Returns the connection's event handlers.
   */
  admit(session: S, cap: number, card: Card, greetings: Greetings): ConnectionEvents {
    if (this.items.length >= cap) {
      session.reply(greetings.busy);
      session.close();
    } else if (!card.available()) {
      session.reply(greetings.unavailable);
      session.close();
    } else {
      this.items.push(session);
      session.reply(greetings.ready);
    }
    const list = this;
    return {
      onData: function (data: string) {
        session.active = true;
        session.receive(data);
      },
      onSent: function () {
        session.active = true; // a reply still streaming out (a long RETR) counts as activity
        session.sender.onSent();
      },
      onClose: function () {
        session.gone();
        list.remove(session);
      },
    };
  }

  /** Says `farewell` to and closes every session idle for `limit` seconds or more (to within one sweep). */
  sweep(now: number, limit: number, farewell: string): void {
    for (let i = this.items.length - 1; i >= 0; i--) {
      const s = this.items[i];
      if (s.active) {
        s.active = false;
        s.lastActive = now;
      } else if (now - s.lastActive >= limit) {
        s.reply(farewell);
        s.close();
      }
    }
  }

  remove(session: S): void {
    for (let i = 0; i < this.items.length; i++) {
      if (this.items[i] === session) {
        this.items.splice(i, 1);
        return;
      }
    }
  }

  closeAll(): void {
    const all = this.items.slice();
    for (let i = 0; i < all.length; i++) all[i].close();
  }
}
