/**
 * Memory stays flat with message size: a 25 MB message goes to the card in
 * pieces no bigger than the chunks it arrived in, and comes back by RETR one
 * card read per completed send. Checked structurally (sizes of every write
 * and send, and that only one send is ever outstanding), which is what keeps
 * the boards' heap flat, whatever the runtime's garbage collector does.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import type { FileHandle } from "../firmware/hal";
import { POP3_PORT, SMTP_PORT, startLetterbox } from "../firmware/main";
import { SimCard } from "../sim/card";
import { tempDir, testConfig } from "./helpers/fixtures";
import { TestHal, testHal } from "./helpers/test-hal";

const MESSAGE_BYTES = 25 * 1024 * 1024;
const CHUNK = 536; // Espruino's largest data event

class ObservedCard extends SimCard {
  largestWrite = 0;
  open(path: string, mode: string): FileHandle {
    const file = super.open(path, mode);
    const card = this;
    return {
      read: (n) => file.read(n),
      seek: (o) => file.seek(o),
      close: () => file.close(),
      write(data: string) {
        card.largestWrite = Math.max(card.largestWrite, data.length);
        file.write(data);
      },
    };
  }
}

/** A client connection whose sends complete on the next turn; it keeps counts, not bytes. */
function connectTo(hal: TestHal, port: number) {
  const stats = { largestSend: 0, received: 0, tail: "" };
  let waiting: ((line: string) => void) | undefined;
  let pattern = "";
  const client = hal.client(port, {
    keep: false,
    onSend(data) {
      stats.largestSend = Math.max(stats.largestSend, data.length);
      stats.received += data.length;
      stats.tail = (stats.tail + data).slice(-64);
      // On the next turn, before the send completes: the test may start waiting after the reply went out.
      setImmediate(() => {
        if (waiting && stats.tail.includes(pattern)) {
          const w = waiting;
          waiting = undefined;
          w(stats.tail);
        }
      });
    },
  });
  return {
    stats,
    send: (data: string) => client.say(data),
    until: (p: string) =>
      new Promise<string>((resolve) => {
        pattern = p;
        waiting = resolve;
      }),
  };
}

describe("memory stays flat with message size", () => {
  it("streams a 25 MB message in and out in bounded pieces", async () => {
    const card = new ObservedCard({ dir: tempDir("memory") });
    const hal = testHal({ implementation: "memory test", card, random: 7, log: "drop" });
    const box = startLetterbox(hal, testConfig({ maxMessageBytes: 30 * 1024 * 1024 }));
    try {
      const smtp = connectTo(hal, SMTP_PORT);
      smtp.send("EHLO m.example\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
      await smtp.until("354 ");
      const line = "x".repeat(78) + "\r\n";
      let chunk = "";
      for (let sent = 0; sent < MESSAGE_BYTES; sent += line.length) {
        chunk += line;
        if (chunk.length >= CHUNK) {
          smtp.send(chunk.slice(0, CHUNK));
          chunk = chunk.slice(CHUNK);
        }
      }
      smtp.send(chunk + ".\r\n");
      assert.match(await smtp.until("\r\n"), /250 2\.0\.0 /);
      assert.ok(card.largestWrite <= CHUNK + 512, `largest card write ${card.largestWrite} bytes`);

      const pop3 = connectTo(hal, POP3_PORT);
      pop3.send("USER alice\r\nPASS wonderland\r\nRETR 1\r\n");
      await pop3.until("\r\n.\r\n");
      assert.ok(pop3.stats.received > MESSAGE_BYTES, "the whole message was sent");
      assert.ok(pop3.stats.largestSend <= 2048, `largest send ${pop3.stats.largestSend} bytes`);
    } finally {
      box.stop();
      hal.stop();
    }
  });
});
