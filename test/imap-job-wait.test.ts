/**
 * An IMAP job (FETCH, SEARCH) that waits for a message file or a structure
 * gives up after FILE_WAIT_SECONDS, as POP3's RETR does (firmware/imap.ts
 * runJob): with a tagged NO [UNAVAILABLE] when nothing of its answer was
 * sent, the session going on; else the session ends. In process, on a
 * manual clock, with jobs that wait as the real ones do (blocked, retried by
 * the once-a-second sweep). Over TCP, a FETCH whose literal waits for a
 * file: test/file-wait.test.ts.
 */
import { after, it } from "node:test";
import * as assert from "node:assert/strict";
import { IMAP_PORT, startLetterbox } from "../firmware/main";
import type { FetchSource } from "../firmware/imapfetch";
import { FILE_WAIT_SECONDS } from "../firmware/sessions";
import { testConfig } from "./helpers/fixtures";
import { testHal } from "./helpers/test-hal";

const hal = testHal({ clock: 1000000 });
const box = startLetterbox(hal, testConfig());
after(() => {
  box.stop();
  hal.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A job that sends `first` (if any), then waits for ever (blocked), as a FETCH whose file never frees. */
function waitingJob(first: string): FetchSource & { released: boolean } {
  let calls = 0;
  const job = {
    blocked: false,
    released: false,
    onCardError: undefined,
    next(): string | undefined {
      calls++;
      job.blocked = calls > 1 || first.length === 0;
      return calls === 1 ? first : "";
    },
    release() {
      job.released = true;
    },
  };
  return job;
}

/** A logged-in session with INBOX selected; what the box sends it, as one string. */
async function selected() {
  const client = hal.client(IMAP_PORT, {});
  client.say("a1 LOGIN alice wonderland\r\na2 SELECT INBOX\r\n");
  for (let i = 0; i < 50 && !client.received.includes("a2 OK"); i++) await sleep(10);
  assert.match(client.received, /a2 OK \[READ-WRITE\] SELECT completed\r\n$/);
  const all = box.imap.sessions.items;
  return { client, session: all[all.length - 1] };
}

it(`a job that sent nothing gives up after ${FILE_WAIT_SECONDS} s with a tagged NO [UNAVAILABLE]; the session goes on`, async () => {
  const { client, session } = await selected();
  const job = waitingJob("");
  const before = client.received.length;
  session.runJob(job, undefined, false, "w1");
  client.say("w2 NOOP\r\n");
  hal.clock.seconds += FILE_WAIT_SECONDS - 1;
  await sleep(1300); // a sweep or two: still waiting
  assert.equal(client.received.length, before, "nothing while the job waits, and NOOP waits behind it");
  hal.clock.seconds += 2;
  for (let i = 0; i < 300 && !client.received.includes("w2 OK"); i++) await sleep(10);
  assert.equal(client.received.slice(before), "w1 NO [UNAVAILABLE] The message cannot be read now, try again later\r\nw2 OK NOOP completed\r\n");
  assert.ok(job.released, "the job was released (its file, had it one)");
  assert.ok(!client.closed);
  assert.ok(hal.logged.some((l) => l.includes("imap: gave up waiting")), hal.logged.join("\n"));
  client.say("w3 LOGOUT\r\n");
});

it(`a job that sent part of its answer and waits ${FILE_WAIT_SECONDS} s ends the session (half an answer cannot be finished)`, async () => {
  const { client, session } = await selected();
  const job = waitingJob("* 1 FETCH (BODY[] {100}\r\nhalf of it");
  const before = client.received.length;
  session.runJob(job, undefined, false, "x1");
  await sleep(50);
  assert.equal(client.received.slice(before), "* 1 FETCH (BODY[] {100}\r\nhalf of it");
  hal.clock.seconds += FILE_WAIT_SECONDS + 1;
  for (let i = 0; i < 300 && !client.closed; i++) await sleep(10);
  assert.ok(client.closed, "the session ended");
  assert.equal(client.received.slice(before), "* 1 FETCH (BODY[] {100}\r\nhalf of it", "and nothing more was said");
  assert.ok(job.released);
});
