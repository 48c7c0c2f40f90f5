/**
 * What both sides of the IMAP bench (imap-bench.ts) and its memory part
 * (imap-memory.ts, memory-probe.ts) share: the users and their mailboxes,
 * the box's configuration, the messages, filling a box over SMTP.
 */
import type { Config } from "../firmware/config";
import { defaultLimits, defaultServices } from "../firmware/config";
import { dotStuff } from "./bench-message";
import { ImapWire } from "./imap-wire";
import { expectReply } from "./stepped";
import { BENCH_DOMAIN, SENDER } from "./setup";
import { Wire } from "./wire";

export const KB = 1024;
export const MB = 1024 * 1024;

/** The mailboxes the rows read: one user per folder size, one for the large messages. */
export const IMAP_USERS = {
  small: { name: "imap1k", password: "bench-imap-1k", messages: 1000 },
  large: { name: "imap10k", password: "bench-imap-10k", messages: 10000 },
  bodies: { name: "imapbody", password: "bench-imap-body", messages: 2 },
};

/** Octets of each listing message (a typical mail without attachments). */
const LIST_MESSAGE_OCTETS = 3000;
export const BODY_SIZES = [100 * KB, 10 * MB];
export const HEADER_SYNC = "UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)])";

// ---- the messages ----

const NAMES = ["Anna Berg", "Ben Okafor", "Chloé Martin", "Dmitri Ivanov", "Eva Lindqvist", "Farid Haddad", "Grace Liu", "Hugo Moreau"];

/** Listing message i: headers a real mail has, a text body, `octets` long in all (before the trace headers). */
export function listMessage(i: number, octets = LIST_MESSAGE_OCTETS): Buffer {
  const name = NAMES[i % NAMES.length];
  const head = [
    `From: "${name}" <${name.split(" ")[0].toLowerCase()}${i % 37}@example.net>`,
    `To: household@${BENCH_DOMAIN}`,
    `Subject: Message ${i} of the bench: about the garden, the bills and the weekend`,
    `Date: ${new Date(Date.UTC(2026, 0, 1) + i * 3600000).toUTCString().replace("GMT", "+0000")}`,
    `Message-ID: <bench.${i}.${octets}@example.net>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "X-Mailer: letterbox bench",
    "",
    "",
  ].join("\r\n");
  let body = "";
  for (let n = 0; head.length + body.length < octets - 80; n++) body += `Line ${n} of message ${i}: the quick brown fox jumps over the lazy dog.\r\n`.slice(0, 78);
  body += "x".repeat(Math.max(0, octets - head.length - body.length - 2)) + "\r\n";
  return Buffer.from(head + body, "latin1");
}

/** A body message: a plain message of exactly `octets` (lines of 78 + CRLF). */
export function bodyMessage(octets: number): Buffer {
  const head = `From: <${SENDER}>\r\nTo: household@${BENCH_DOMAIN}\r\nSubject: bench body of ${octets} octets\r\nMessage-ID: <body.${octets}@client.example>\r\n\r\n`;
  const out = Buffer.alloc(octets, "a");
  out.write(head, 0, "latin1");
  for (let at = head.length + 78; at + 2 <= octets; at += 80) out.write("\r\n", at, "latin1");
  out.write("\r\n", octets - 2, "latin1");
  return out;
}

// ---- filling the two sides ----

/** Delivers over SMTP, `parallel` sessions at once, one transaction per message. */
export async function deliverAll(smtpPort: number, user: string, messages: (i: number) => Buffer, count: number, parallel: number): Promise<void> {
  let next = 0;
  const session = async () => {
    const wire = await Wire.connect(smtpPort);
    try {
      expectReply("banner", await wire.reply(), 220);
      expectReply("EHLO", await wire.smtp("EHLO client.example"), 250);
      for (let i = next++; i < count; i = next++) {
        expectReply("MAIL", await wire.smtp(`MAIL FROM:<${SENDER}>`), 250);
        expectReply("RCPT", await wire.smtp(`RCPT TO:<${user}@${BENCH_DOMAIN}>`), 250);
        expectReply("DATA", await wire.smtp("DATA"), 354);
        await wire.write(Buffer.concat([dotStuff(messages(i)), Buffer.from(".\r\n")]));
        expectReply("end of DATA", await wire.reply(), 250);
      }
      expectReply("QUIT", await wire.smtp("QUIT"), 221);
    } finally {
      wire.destroy();
    }
  };
  await Promise.all(Array.from({ length: parallel }, session));
}

/** The UIDs of the body messages, by size (RFC822.SIZE within 1 KB above the size asked for). */
export async function findBodyUids(port: number): Promise<Map<number, number>> {
  const u = IMAP_USERS.bodies;
  const wire = await ImapWire.login(port, u.name, u.password);
  try {
    await wire.command("SELECT INBOX");
    const answer = await wire.command("UID FETCH 1:* (UID RFC822.SIZE)", { keepLines: true });
    const uids = new Map<number, number>();
    for (const line of answer.lines) {
      const m = /UID (\d+)/.exec(line);
      const s = /RFC822\.SIZE (\d+)/.exec(line);
      if (!m || !s) continue;
      const size = BODY_SIZES.find((b) => Number(s[1]) >= b && Number(s[1]) < b + KB);
      if (size) uids.set(size, Number(m[1]));
    }
    if (uids.size !== BODY_SIZES.length) throw new Error(`body messages not found: ${answer.lines.join(" | ")}`);
    return uids;
  } finally {
    await wire.logout();
  }
}

export function imapBenchConfig(): Config {
  const limits = defaultLimits();
  limits.maxMessageBytes = 12 * MB;
  limits.mailboxQuotaBytes = 200 * MB;
  limits.sockets = 16; // the most settings allow
  const services = defaultServices();
  services.smtp.sessions = 4;
  // Four clients on one mailbox from one address, as one user.
  services.imap = { enabled: true, port: 143, sessions: 6, reserve: 0, perClient: 0, perUser: 0, idleSeconds: 1800 };
  return {
    hostname: `letterbox.${BENCH_DOMAIN}`,
    domains: [BENCH_DOMAIN],
    users: Object.values(IMAP_USERS).map((u) => ({ name: u.name, password: u.password })),
    services,
    limits,
  };
}

