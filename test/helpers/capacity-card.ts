/**
 * A card with many messages in one INBOX, written by the core's MailStore
 * directly (thousands in a second on a RAM file system; over SMTP it would
 * take minutes), for test/capacity.test.ts and bench/capacity.ts.
 */
import { MailStore } from "../../firmware/store";
import { SimCard } from "../../sim/card";

/** A listing-sized message (as test/imap-memory.test.ts's). */
export function listMessage(user: string, i: number): string {
  return `From: "Sender ${i % 50}" <s${i % 50}@remote.example>\r\nTo: ${user}@example.org\r\nSubject: message ${i}\r\nMessage-ID: <m${i}.${user}@remote.example>\r\n\r\nBody of message ${i}.\r\n`;
}

/** Commits `n` messages to `user`'s INBOX on the card in `dir`, every 7th \Seen. */
export function fillCard(dir: string, n: number, user = "alice"): void {
  const store = new MailStore(new SimCard({ dir }), () => undefined, () => 0x1a2b3c4);
  if (!store.open()) throw new Error("the store does not open");
  const compactAfter = store.compactAfterBytes;
  store.compactAfterBytes = 1 << 30; // one compaction at the end, not one per 32 KB of journal
  for (let i = 0; i < n; i++) {
    if (i === n - 1) store.compactAfterBytes = compactAfter;
    const m = store.beginMessage();
    if (m === undefined) throw new Error("no file handle free");
    m.write(listMessage(user, i));
    m.commit([user], 1790000000 + i, i % 7 === 0 ? 1 : 0);
  }
}
