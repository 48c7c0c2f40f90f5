/**
 * The core's entry point: startLetterbox(hal, config) opens the store on the
 * card, starts the SMTP and POP3 servers and the serial console. Boards and
 * the simulator call it.
 */
import type { Config } from "./config";
import { applyConfigInPlace, bootConsole, MessageInfo } from "./console";
import type { Hal, Listener, Timer } from "./hal";
import { Pop3Server } from "./pop3";
import { SmtpServer } from "./smtp";
import { MailStore } from "./store";

export interface Letterbox {
  /** Stops listening and closes every session. */
  stop(): void;
  store: MailStore;
  smtp: SmtpServer;
  pop3: Pop3Server;
}

/** Ports the core listens on, as on the device; the simulator maps them to host ports. */
export const SMTP_PORT = 25;
export const POP3_PORT = 110;

/** How often idle sessions are looked for, in milliseconds. */
const SWEEP_MS = 1000;

export function startLetterbox(hal: Hal, fallbackConfig: Config): Letterbox {
  // Provisioned settings in internal flash win over the board's defaults.
  const booted = bootConsole(hal, fallbackConfig);
  const config = booted.config;
  const store = new MailStore(hal.storage, hal.log, hal.random);
  if (!store.open()) hal.log("letterbox: the card is not usable yet; sessions will be refused until it is");
  // Both servers read users, domains and limits from `config` on every use,
  // so a provisioned configuration takes effect at once.
  const smtp = new SmtpServer(hal, config, store);
  const pop3 = new Pop3Server(hal, config, store);
  const listeners: Listener[] = [
    hal.listen({ port: config.smtpPort, onConnection: function (conn) { return smtp.accept(conn); } }),
    hal.listen({ port: config.pop3Port, onConnection: function (conn) { return pop3.accept(conn); } }),
  ];
  // One timer for every session's idle check: boards have few timers to spare.
  let sweeper: Timer | undefined = undefined;
  let stopped = false;
  const sweep = function () {
    if (stopped) return;
    const now = hal.now();
    smtp.sweep(now);
    pop3.sweep(now);
    sweeper = hal.setTimer(SWEEP_MS, sweep);
  };
  sweeper = hal.setTimer(SWEEP_MS, sweep);
  // A message file closed: sessions waiting for a handle (DATA, RETR) try
  // again, on a timer of their own so that the closer finishes first. The
  // sweep retries them too, and gives up on them after a while.
  let retryPending = false;
  store.onFileFreed = function () {
    if (retryPending || stopped) return;
    retryPending = true;
    hal.setTimer(0, function () {
      retryPending = false;
      if (stopped) return;
      smtp.retryWaiting(hal.now());
      pop3.retryWaiting();
    });
  };
  const serialConsole = booted.attach({
    applyConfig: function (next: Config) {
      applyConfigInPlace(config, next);
    },
    listMessages: function (user: string): MessageInfo[] {
      const drop = store.maildrop(user);
      const out: MessageInfo[] = [];
      for (let i = 0; i < drop.count; i++) out.push({ id: drop.uid(i), size: drop.size(i) });
      return out;
    },
    owners: function (): string[] {
      return store.owners();
    },
    deleteMail: function (user: string): boolean {
      if (!store.lock(user)) return false;
      try {
        const drop = store.maildrop(user);
        const seqs: number[] = [];
        for (let i = 0; i < drop.count; i++) seqs.push(drop.seq(i));
        store.deleteMessages(user, seqs);
      } finally {
        store.unlock(user);
      }
      return true;
    },
    readMessage: function (user: string, id: string, offset: number, length: number): string | undefined {
      const drop = store.maildrop(user);
      for (let i = 0; i < drop.count; i++) {
        if (drop.uid(i) !== id) continue;
        const file = store.openMessage(drop.seq(i));
        if (file === undefined) return undefined;
        try {
          file.seek(offset);
          return file.read(length);
        } finally {
          file.close();
        }
      }
      return undefined;
    },
  });
  hal.log("letterbox: " + hal.implementation + " serving " + config.hostname);
  return {
    store: store,
    smtp: smtp,
    pop3: pop3,
    stop: function () {
      stopped = true;
      if (sweeper !== undefined) sweeper.cancel();
      if (serialConsole) serialConsole.stop();
      for (let i = 0; i < listeners.length; i++) listeners[i].close();
      smtp.sessions.closeAll();
      pop3.sessions.closeAll();
    },
  };
}
