/**
 * The SMTP half of the stepped memory driver: N sessions, each delivering
 * one message to its own mailbox, held at two checkpoints:
 *   mid-DATA   every session that got its 354 has sent the first half of the
 *              message and the server has written it to the card; the
 *              others are waiting for a message file (the store has three)
 *              or were answered 4xx and try again later;
 *   after 250  every session has its 250 after DATA, connections still open.
 * A DATA answered 4xx (an older core: "451 Busy") is tried again, after
 * RSET, once no other session is mid-message; a DATA whose 354 comes late
 * (the core waits for a file) sends the whole message at once.
 */
import type { SplitMessage } from "./bench-message";
import { BENCH_DOMAIN, BENCH_USERS, SENDER, sleep } from "./setup";
import { expectReply, MESSAGE_HANDLES, messageFileSizes, SessionGroup, SteppedOptions } from "./stepped";
import { Wire } from "./wire";

type SmtpState =
  | "connecting"
  | "dialogue" // EHLO, MAIL, RCPT
  | "data-sent" // DATA sent, no answer yet: the 354 may wait for a message file
  | "deferred" // DATA answered 4xx: tries again once the others are through
  | "sending"
  | "half-sent"
  | "accepted" // 250 after DATA
  | "closed";

interface SmtpSession {
  user: string;
  state: SmtpState;
  wire?: Wire;
}

const END_OF_DATA = Buffer.from("\r\n.\r\n");
const BUSY_PAUSE_MS = 20;
const MAX_RETRIES = 100;

/** Connects and reads the banner; a 421 (the previous row's sessions not yet gone on the server's side) is tried again. */
async function connect(port: number): Promise<Wire> {
  for (let attempt = 1; ; attempt++) {
    const wire = await Wire.connect(port);
    const banner = await wire.reply();
    if (banner.code === 220) return wire;
    wire.destroy();
    if (banner.code !== 421 || attempt >= MAX_RETRIES) throw new Error(`SMTP banner: ${banner.text}`);
    await sleep(BUSY_PAUSE_MS);
  }
}

export async function steppedSmtp(options: SteppedOptions, message: SplitMessage): Promise<void> {
  const sessions: SmtpSession[] = BENCH_USERS.slice(0, options.sessions).map((u) => ({ user: u.name, state: "connecting" }));
  const group = new SessionGroup(sessions, () => sessions.forEach((s) => s.wire?.destroy()));
  const othersThrough = (me: SmtpSession) => sessions.every((s) => s === me || s.state === "accepted" || s.state === "deferred");

  group.start(async (s) => {
    const wire = (s.wire = await connect(options.port));
    s.state = "dialogue";
    expectReply("EHLO", await wire.smtp("EHLO client.example"), 250);
    for (let attempt = 1; ; attempt++) {
      expectReply("MAIL", await wire.smtp(`MAIL FROM:<${SENDER}>`), 250);
      expectReply("RCPT", await wire.smtp(`RCPT TO:<${s.user}@${BENCH_DOMAIN}>`), 250);
      s.state = "data-sent";
      const answer = await wire.smtp("DATA");
      if (answer.code === 354) break;
      if (answer.code < 400 || answer.code >= 500 || attempt >= MAX_RETRIES) throw new Error(`DATA: ${answer.text}`);
      s.state = "deferred";
      await group.gates.passed("mid-DATA");
      await group.until(`${s.user}'s turn to try DATA again`, () => othersThrough(s));
      await sleep(BUSY_PAUSE_MS);
      s.state = "dialogue";
      expectReply("RSET", await wire.smtp("RSET"), 250);
    }
    s.state = "sending";
    if (group.gates.isOpen("mid-DATA")) {
      await wire.write(Buffer.concat([message.firstHalf, message.rest, END_OF_DATA]));
    } else {
      await wire.write(message.firstHalf);
      s.state = "half-sent";
      await group.gates.passed("mid-DATA");
      s.state = "sending";
      await wire.write(Buffer.concat([message.rest, END_OF_DATA]));
    }
    expectReply("end of DATA", await wire.reply(), 250);
    s.state = "accepted";
    await group.gates.passed("after 250");
    expectReply("QUIT", await wire.smtp("QUIT"), 221);
    await wire.closed;
    s.state = "closed";
  });

  await group.checkpoint("mid-DATA", options.probe, () => {
    if (!sessions.every((s) => s.state === "half-sent" || s.state === "data-sent" || s.state === "deferred")) return false;
    const halves = sessions.filter((s) => s.state === "half-sent").length;
    if (messageFileSizes(options.cardDir).filter((size) => size >= message.firstHalfOctets).length < halves) return false;
    // A DATA without an answer is waiting for a file only when the sessions held mid-message (one open file each) take them all.
    return !sessions.some((s) => s.state === "data-sent") || halves >= MESSAGE_HANDLES;
  });
  await group.checkpoint("after 250", options.probe, () => sessions.every((s) => s.state === "accepted"));
  await group.finished();
}
