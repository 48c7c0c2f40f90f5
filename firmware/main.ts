/**
 * The core's entry point: startLetterbox(hal, config) opens the mailboxes
 * (mailbox.ts, over the store on the card), starts every service of the list
 * that is on (config.services) under one socket budget, and the serial
 * console. Boards and the simulator call it.
 */
import type { Config } from "./config";
import { applyConfigInPlace, bootConsole, MessageInfo } from "./console";
import type { FileHandle, Hal, Listener, Timer } from "./hal";
import { HttpService } from "./http";
import { ImapServer } from "./imap";
import { Pop3Server } from "./pop3";
import { Service, SocketBudget } from "./sessions";
import { SmtpServer } from "./smtp";
import { Access, Flag, Mailbox, type Maildrop } from "./mailbox";
import { webHandler } from "./webapp";
import type { MsgMap, MsgValue } from "./msgpack";

export interface Letterbox {
  /** Stops listening and closes every session. */
  stop(): void;
  /** The card's store (mailbox.store), for tests and status. */
  store: Mailbox["store"];
  smtp: SmtpServer;
  pop3: Pop3Server;
  http: HttpService;
  imap: ImapServer;
}

/** Ports the core listens on, as on the device; the simulator maps them to host ports. */
export const SMTP_PORT = 25;
export const POP3_PORT = 110;
export const HTTP_PORT = 80;
export const IMAP_PORT = 143;

/** How often idle sessions are looked for, in milliseconds. */
const SWEEP_MS = 1000;

export function startLetterbox(hal: Hal, fallbackConfig: Config): Letterbox {
  // Provisioned settings in internal flash win over the board's defaults.
  const booted = bootConsole(hal, fallbackConfig);
  const config = booted.config;
  const mailbox = new Mailbox(hal, config);
  if (!mailbox.card.open()) hal.log("letterbox: the card is not usable yet; sessions will be refused until it is");
  // The services read users, domains and limits from `config` on every use,
  // so a provisioned configuration takes effect at once (ports and the
  // on/off switches at the next start).
  const budget: SocketBudget = { config: config, listeners: 0, lists: [] };
  const smtp = new SmtpServer(hal, config, mailbox, budget);
  const pop3 = new Pop3Server(hal, config, mailbox, budget);
  const http = new HttpService(hal, config, webHandler(hal, config, mailbox), budget);
  // A new service goes into this list (and config.services): nothing else here names one.
  const imap = new ImapServer(hal, config, mailbox, budget);
  const services: Service[] = [smtp, pop3, http, imap];
  const listeners: Listener[] = [];
  for (let i = 0; i < services.length; i++) {
    // Ports are read here, at start: a new port takes effect at the next start.
    const own = config.services[services[i].sessions.name];
    if (!own.enabled) continue;
    listeners.push(hal.listen({ port: own.port, onConnection: services[i].accept }));
    budget.listeners++;
  }
  // One timer for every session's idle check: boards have few timers to spare.
  let sweeper: Timer | undefined = undefined;
  let stopped = false;
  const sweep = function () {
    if (stopped) return;
    const now = hal.now();
    for (let i = 0; i < services.length; i++) services[i].sweep(now);
    sweeper = hal.setTimer(SWEEP_MS, sweep);
  };
  sweeper = hal.setTimer(SWEEP_MS, sweep);
  // A message file closed: sessions waiting for a handle (DATA, RETR) try
  // again, on a timer of their own so that the closer finishes first. The
  // sweep retries them too, and gives up on them after a while.
  let retryPending = false;
  mailbox.card.onFileFreed = function () {
    if (retryPending || stopped) return;
    retryPending = true;
    hal.setTimer(0, function () {
      retryPending = false;
      if (stopped) return;
      const now = hal.now();
      for (let i = 0; i < services.length; i++) services[i].retryWaiting(now);
    });
  };
  const serialConsole = booted.attach({
    applyConfig: function (next: Config) {
      applyConfigInPlace(config, next);
    },
    listMessages: function (user: string): MessageInfo[] {
      const drop = mailbox.openMaildrop(user, Access.Shared) as Maildrop;
      const out: MessageInfo[] = [];
      const list = drop.list;
      for (let i = 0; i < list.count; i++) out.push({ id: list.uid(i), size: list.size(i) });
      drop.close();
      return out;
    },
    owners: function (): string[] {
      return mailbox.card.owners();
    },
    sessions: function (): MsgMap {
      const out: MsgValue[] = [];
      let used = budget.listeners;
      for (let i = 0; i < services.length; i++) {
        const list = services[i].sessions;
        const own = config.services[list.name];
        used += list.items.length;
        if (!own.enabled && list.items.length === 0) continue; // off (a switch takes effect at the next start)
        out.push({ service: list.name, open: list.items.length, max: own.sessions });
      }
      return { services: out, sockets: used, socketLimit: config.limits.sockets };
    },
    deleteMail: function (user: string): boolean {
      const drop = mailbox.openMaildrop(user, Access.Exclusive);
      if (drop === undefined) return false;
      try {
        for (let i = 0; i < drop.list.count; i++) drop.setFlags(i, Flag.Deleted);
        drop.commit();
      } finally {
        drop.close();
      }
      return true;
    },
    readMessage: function (user: string, id: string, offset: number, length: number): string | undefined {
      const drop = mailbox.openMaildrop(user, Access.Shared) as Maildrop;
      let file: FileHandle | undefined = undefined;
      try {
        for (let i = 0; i < drop.list.count; i++) if (drop.list.uid(i) === id) file = drop.open(i, offset);
        return file === undefined ? undefined : file.read(length);
      } finally {
        if (file !== undefined) file.close();
        drop.close();
      }
    },
  });
  hal.log("letterbox: " + hal.implementation + " serving " + config.hostname);
  return {
    store: mailbox.store,
    smtp: smtp,
    pop3: pop3,
    http: http,
    imap: imap,
    stop: function () {
      stopped = true;
      if (sweeper !== undefined) sweeper.cancel();
      if (serialConsole) serialConsole.stop();
      for (let i = 0; i < listeners.length; i++) listeners[i].close();
      for (let i = 0; i < services.length; i++) services[i].sessions.closeAll();
    },
  };
}
