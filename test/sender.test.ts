/**
 * The Sender (firmware/sender.ts) when a streamed source closes its own
 * session from inside next() (the web API's list on a card error does): the
 * close waits for the source's call to return, the source is never pulled
 * again from inside itself, it is released once, the connection closes once.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Sender, type ChunkSource } from "../firmware/sender";

function harness() {
  const sent: string[] = [];
  let closes = 0;
  const sender = new Sender({ send: (d: string) => void sent.push(d), close: () => void closes++ });
  return { sender, sent, closes: () => closes };
}

for (const where of ["flush", "onSent"]) {
  test(`a source that closes the session from its own next() (reached through ${where})`, () => {
    const { sender, sent, closes } = harness();
    let calls = 0;
    let depth = 0;
    let releases = 0;
    const source: ChunkSource = {
      next() {
        calls++;
        depth++;
        assert.equal(depth, 1, "next() is not called from inside next()");
        try {
          if (calls === (where === "flush" ? 1 : 2)) {
            sender.send("late reply\r\n"); // queued meanwhile
            sender.closeWhenDone(); // the card failed: end the session
            return undefined;
          }
          return "chunk " + calls;
        } finally {
          depth--;
        }
      },
      release() {
        releases++;
      },
    };
    sender.stream(() => source);
    while (sent.length < 10 && closes() === 0) sender.onSent();
    assert.equal(releases, 1);
    assert.equal(closes(), 1);
    assert.equal(sent[sent.length - 1], "late reply\r\n", "what was queued went out before the close");
  });
}
