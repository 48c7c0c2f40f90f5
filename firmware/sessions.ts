/**
 * What every service shares: the one socket budget, admitting a connection
 * under it, the idle sweep, and the list of open sessions.
 */
import type { Config } from "./config";
import type { Connection, ConnectionEvents } from "./hal";
import type { Sender } from "./sender";

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

  /** True while input is being held. A method, not a getter: in Lua a getter costs the class a descriptor table in RAM. */
  active(): boolean {
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

/**
 * A service as main.ts runs it: one per file (smtp.ts, pop3.ts), its
 * switch, port and limits in config.services[sessions.name]. Its name and
 * closing every session are its SessionList's (no field or forwarding
 * method of its own: each costs RAM on the board).
 */
export interface Service {
  /** Its open sessions; `sessions.name` is its key in config.services. */
  sessions: SessionList<Session>;
  /** A connection arrived on its port: greet it or refuse it. Bound to the service (hal.listen calls it as it is). */
  accept: (conn: Connection) => ConnectionEvents;
  /** About once a second: drop idle sessions, retry waits. */
  sweep(now: number): void;
  /** A message file was freed: sessions waiting for one try again. */
  retryWaiting(now: number): void;
}

/**
 * The sockets every service draws from (Limits.sockets; lwIP's 10 on the
 * ESP32 boards): the listeners of the services that are on, plus every
 * open session of every service, plus one kept free so that a client over
 * the limits can be answered "too many" rather than reset (SessionList.admit).
 */
export interface SocketBudget {
  config: Config;
  /** Sockets held by listeners. */
  listeners: number;
  /** Every service's sessions. */
  lists: SessionList<Session>[];
}

/** One service's open sessions, admitted under the shared budget. */
export class SessionList<S extends Session> {
  items: S[] = [];

  /** `name`: the service's key in config.services. */
  constructor(public name: string, public budget: SocketBudget) {
    budget.lists.push(this as unknown as SessionList<Session>);
  }

  /**
   * Adds `session` when the budget and the service's caps allow; false
   * when they do not (the caller refuses it). Neither the store nor the
   * greeting is asked: the service answers.
   */
  admit(session: S): boolean {
    const budget = this.budget;
    const services = budget.config.services;
    const own = services[this.name];
    if (this.items.length >= own.sessions) return false;
    // Per client: one address cannot take every session of the service from the others.
    const peer = session.sender.conn.remoteAddress;
    if (own.perClient > 0 && peer !== undefined) {
      let same = 0;
      for (let i = 0; i < this.items.length; i++) if (this.items[i].sender.conn.remoteAddress === peer) same++;
      if (same >= own.perClient) return false;
    }
    // `free` counts the socket this connection already holds. Once the other services' reserves (less
    // what they hold) are set aside, one more must stay free: lwIP accepts a connection only into a free
    // socket (none left: the client is reset), so refusing the next client needs one of its own.
    let free = budget.config.limits.sockets - budget.listeners;
    for (let i = 0; i < budget.lists.length; i++) {
      const other = budget.lists[i];
      free -= other.items.length;
      const held = other === (this as unknown as SessionList<Session>) ? 0 : services[other.name].reserve - other.items.length;
      if (held > 0) free -= held;
    }
    if (free <= 1) return false;
    this.items.push(session);
    return true;
  }

  /** The connection's event handlers for `session`, admitted or refused: closing removes it. */
  events(session: S): ConnectionEvents {
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
