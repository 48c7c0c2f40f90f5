/**
 * The wiring behind waiting for a message file: when a file closes, a
 * session waiting for one is retried at once (MailStore.onFileFreed ->
 * main.ts), not only by the once-a-second sweep. Timers here run only when
 * the test says so, and the sweep never does, so nothing but that wiring can
 * answer the waiting DATA and RETR.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { POP3_PORT, SMTP_PORT, startLetterbox } from "../firmware/main";
import { testConfig } from "./helpers/fixtures";
import { FakeClient, testHal } from "./helpers/test-hal";

function manualBox() {
  const completions: (() => void)[] = [];
  const hal = testHal({ implementation: "letterbox-test (manual timers)", clock: 1000000, timers: "manual", random: 7, log: "drop" });
  const box = startLetterbox(hal, testConfig({ smtpSessions: 4 }));
  /** Completes the sends and runs the zero-delay timers (and what they start); never the sweep's. */
  const settle = () => {
    for (let busy = true; busy; ) {
      busy = false;
      while (completions.length > 0) (completions.shift() as () => void)(), (busy = true);
      if (hal.timers.runZeroDelay()) busy = true;
    }
  };
  const connect = (port: number): FakeClient => {
    // Sends complete later, as on the boards: at the next settle, in the order they were made.
    const client: FakeClient = hal.client(port, { completion: "manual", onSend: () => completions.push(() => client.completeSend()) });
    settle();
    return client;
  };
  const say = (client: FakeClient, text: string) => {
    client.say(text);
    settle();
  };
  return { box, connect, say };
}

const START = "HELO a\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n";

test("a RETR and a DATA waiting for a message file are answered as soon as one closes, without the sweep", () => {
  const { box, connect, say } = manualBox();
  const smtp = [connect(SMTP_PORT), connect(SMTP_PORT), connect(SMTP_PORT)];
  say(smtp[0], "HELO a\r\nMAIL FROM:<x@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: one\r\n\r\n.\r\n");
  assert.match(smtp[0].received, /250 2\.0\.0 Ok: queued/);
  for (const s of smtp) say(s, START);
  for (const s of smtp) assert.match(s.received, /354 [^]*$/);
  assert.equal(box.store.files.open, 3);

  const pop = connect(POP3_PORT);
  say(pop, "USER bob\r\nPASS builder99\r\nRETR 1\r\n");
  assert.doesNotMatch(pop.received, /\+OK \d+ octets/, "RETR waits: every message file is in use");
  say(smtp[0], "Subject: two\r\n\r\n.\r\n");
  assert.match(pop.received, /\+OK \d+ octets\r\n[^]*Subject: one\r\n\r\n\.\r\n$/, "answered once a file closed");

  say(smtp[0], "MAIL FROM:<x@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
  assert.equal(box.store.files.open, 3);
  const fourth = connect(SMTP_PORT);
  say(fourth, START);
  assert.doesNotMatch(fourth.received, /354 /, "DATA waits: every message file is in use");
  say(smtp[1], "Subject: three\r\n\r\n.\r\n");
  assert.match(fourth.received, /354 [^]*$/, "the waiting DATA got its 354 once a file closed");
  say(fourth, "Subject: four\r\n\r\n.\r\n");
  assert.match(fourth.received, /250 2\.0\.0 Ok: queued/);
  box.stop();
});
