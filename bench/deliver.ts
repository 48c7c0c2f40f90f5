/**
 * Fills a mailbox over SMTP before a web bench (one session, one
 * transaction per message): the core stores and caches the headers as it
 * does for any mail. `messages` are whole RFC 5322 messages, unstuffed.
 */
import { dotStuff } from "./bench-message";
import { BENCH_DOMAIN, SENDER } from "./setup";
import { expectReply } from "./stepped";
import { Wire } from "./wire";

export async function deliver(port: number, user: string, messages: Buffer[]): Promise<void> {
  const wire = await Wire.connect(port);
  try {
    expectReply("banner", await wire.reply(), 220);
    expectReply("EHLO", await wire.smtp("EHLO client.example"), 250);
    for (const message of messages) {
      expectReply("MAIL", await wire.smtp(`MAIL FROM:<${SENDER}>`), 250);
      expectReply("RCPT", await wire.smtp(`RCPT TO:<${user}@${BENCH_DOMAIN}>`), 250);
      expectReply("DATA", await wire.smtp("DATA"), 354);
      await wire.write(Buffer.concat([dotStuff(message), Buffer.from(".\r\n")]));
      expectReply("end of DATA", await wire.reply(), 250);
    }
    expectReply("QUIT", await wire.smtp("QUIT"), 221);
  } finally {
    wire.destroy();
  }
}
