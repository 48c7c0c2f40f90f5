/**
 * The server the real-client IMAP suite talks to: the simulator on one
 * runtime, or (LETTERBOX_IMAP_TARGET=dovecot) a private Dovecot, which shows
 * that the suite and the clients' configurations are right on their own.
 * Both give IMAP, POP3 and a way to deliver mail (SMTP into the box, LMTP
 * into Dovecot), and know the trace headers their delivery adds.
 */
import * as path from "node:path";
import type { Config } from "../../firmware/config";
import type { RuntimeName } from "../../sim/runtime";
import { startSimulator, SimulatorOptions } from "../../sim/simulator";
import { Account, command, smtplibSend, withoutBoxTrace } from "../interop/clients";
import { startDovecot } from "./dovecot";
import { testConfig } from "./fixtures";

/** The board's IMAP port (firmware/main.ts), which the simulator maps to a host port. */
export const DEVICE_IMAP_PORT = 143;

export interface ImapTarget {
  kind: "letterbox" | "dovecot";
  /** For test names: "node runtime", "Dovecot 2.3.19.1". */
  label: string;
  imapPort: number;
  pop3Port: number;
  /** Delivers `message` to the account's address (letterbox: SMTP; Dovecot: LMTP). */
  deliver(account: Account, from: string, message: string): Promise<void>;
  /** A delivered message without the trace headers the delivery put on top (which must be there); `eol` "\n" for Unix line endings. */
  withoutTrace(message: string, eol?: string): string;
  stop(): Promise<void>;
}

/** The address mail for the account is sent to. */
export const addressOf = (a: Account) => `${a.user}@example.org`;

/** The simulator on `runtime` with the accounts as users, IMAP on any free port. */
export async function letterboxTarget(runtime: RuntimeName, accounts: Account[], scratch: string): Promise<ImapTarget> {
  const config: Config = testConfig({ maxMessageBytes: 12000000, maxRecipients: 10, mailboxQuotaBytes: 100000000 });
  for (const a of accounts) config.users.push({ name: a.user, password: a.password });
  // Clients like mbsync and imapflow open several connections from the one test address.
  config.limits.sockets = 16; // the most settings allow
  const imap = config.services.imap;
  if (imap) Object.assign(imap, { sessions: 8, perClient: 0, perUser: 0 });
  config.services.pop3.sessions = 4;
  const sim = await startSimulator({ runtime, config, dataDir: path.join(scratch, "card"), smtpPort: 0, pop3Port: 0, imapPort: 0 } as SimulatorOptions);
  const imapPort = sim.ports[DEVICE_IMAP_PORT];
  if (!imapPort) {
    await sim.stop();
    throw new Error("the simulator has no IMAP listener (sim.ports[143])");
  }
  return {
    kind: "letterbox",
    label: `${runtime} runtime`,
    imapPort,
    pop3Port: sim.pop3Port,
    deliver: (account, from, message) => smtplibSend(sim.smtpPort, from, [addressOf(account)], message),
    withoutTrace: (message, eol) => withoutBoxTrace(message, eol),
    stop: () => sim.stop(),
  };
}

/** A private Dovecot with the accounts as users. */
export async function dovecotTarget(accounts: Account[], scratch: string): Promise<ImapTarget> {
  const dovecot = await startDovecot(path.join(scratch, "dovecot"), accounts.map((a) => ({ name: a.user, password: a.password })));
  const lmtp = [
    "import smtplib, sys",
    "s = smtplib.LMTP('127.0.0.1', int(sys.argv[1]))",
    "s.sendmail(sys.argv[2], [sys.argv[3]], sys.stdin.buffer.read())",
    "s.quit()",
  ].join("\n");
  return {
    kind: "dovecot",
    label: dovecot.version.split(" (")[0],
    imapPort: dovecot.imapPort,
    pop3Port: dovecot.pop3Port,
    deliver: async (account, from, message) => {
      await command("python3", ["-c", lmtp, String(dovecot.lmtpPort), from, addressOf(account)], { input: Buffer.from(message, "latin1") });
    },
    withoutTrace: (message, eol = "\r\n") => {
      // Dovecot's LMTP puts Return-Path, Delivered-To and a folded Received on top.
      const e = eol === "\n" ? "\\n" : "\\r\\n";
      const m = new RegExp(`^Return-Path: <[^>]*>${e}Delivered-To: [^\\r\\n]*${e}Received: [^\\r\\n]*${e}(?:[ \\t][^\\r\\n]*${e})*`).exec(message);
      if (!m || !m[0].includes("with LMTP")) throw new Error(`Dovecot's trace headers are missing:\n${message.slice(0, 400)}`);
      return message.slice(m[0].length);
    },
    stop: async () => dovecot.stop(),
  };
}
