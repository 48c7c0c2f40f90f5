/**
 * The dialogue runner's own strictness (test/helpers/dialogue.ts): a server
 * line the dialogue did not read fails it, and so does a connection whose end
 * the dialogue does not state, or states wrongly.
 */
import { after, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { dialogueTodo, runDialogue } from "./helpers/dialogue";
import { tempDir, testConfig } from "./helpers/fixtures";
import { fakeBox, FakeBox } from "./helpers/transports";

const boxes: FakeBox[] = [];

/** Runs `script` on a fresh in-process box. */
async function run(script: string): Promise<void> {
  const dir = tempDir("runner");
  const box = fakeBox(testConfig(), dir, 536);
  boxes.push(box);
  const file = path.join(dir, "dialogue.txt");
  fs.writeFileSync(file, script, "latin1");
  await runDialogue(file, box.transport);
}

const GREETED = "@connect a smtp\nS: 220 mx.test.example ESMTP letterbox ready\n";

describe("the dialogue runner", () => {
  after(() => boxes.forEach((b) => b.stop()));

  it("passes a dialogue that reads every line and states each end", async () => {
    await run(GREETED + "C: NOOP\nS: 250 2.0.0 Ok\n@open\n@connect b smtp\nS: 220 *\nC: QUIT\nS: 221 *\n@closed\n@use a\nC: NOOP\nS: 250 2.0.0 Ok\n@drop\n");
  });

  it("fails when the server closed with a line unread", async () => {
    await assert.rejects(run(GREETED + "C: QUIT\n@closed\n"), /:4: the server sent lines on a that the dialogue did not read: \["221 2\.0\.0 mx\.test\.example closing connection"\]/);
  });

  it("fails at @open when a reply is left unread, or the server closes", async () => {
    await assert.rejects(run(GREETED + "C: NOOP\n@open\n"), /:4: the server sent lines on a that the dialogue did not read: \["250 2\.0\.0 Ok"\]/);
    await assert.rejects(run(GREETED + "C: QUIT\nS: 221 *\n@open\n"), /:5: expected a to stay open, but the server closed it/);
  });

  it("fails at @drop when a reply that came is left unread", async () => {
    await assert.rejects(run(GREETED + "C: NOOP\n@wait 50\n@drop\n"), /:5: the server sent lines on a that the dialogue did not read/);
  });

  it("fails when a line came on an open connection after its @open", async () => {
    // A failed login is answered after a delay (500 ms for the first).
    const script = "@connect a pop3\nS: +OK *\nC: USER nobody\nS: +OK Send PASS\nC: PASS x\n@open\n@wait 700\n";
    await assert.rejects(run(script), /:6 \(at the end\): the server sent lines on a that the dialogue did not read: \["-ERR \[AUTH\] /);
  });

  it("fails when the dialogue does not say how a connection ends, naming each", async () => {
    await assert.rejects(run(GREETED + "@connect b pop3\nS: +OK *\n"), (e: Error) => {
      assert.match(e.message, /:2: the dialogue does not say how a ends/);
      assert.match(e.message, /:4: the dialogue does not say how b ends/);
      return true;
    });
  });

  it("@todo: the file still runs (the line is skipped), and dialogueTodo gives its reason", async () => {
    await run("@todo a known bug\n" + GREETED + "C: NOOP\nS: 250 2.0.0 Ok\n@open\n");
    await assert.rejects(run("@todo a known bug\n" + GREETED + "C: NOOP\nS: 250 wrong\n@open\n"), /:5: expected "250 wrong"/);
    const file = path.join(tempDir("runner"), "todo.txt");
    fs.writeFileSync(file, "# x\n@todo  the reason \n@connect a smtp\n");
    assert.equal(dialogueTodo(file), "the reason");
    fs.writeFileSync(file, "# @todo not at the start of a line\n");
    assert.equal(dialogueTodo(file), undefined);
  });

  it("fails on a line for a connection after its end", async () => {
    await assert.rejects(run(GREETED + "C: QUIT\nS: 221 *\n@closed\nC: NOOP\n"), /:6: a has ended \(@closed at .*:5\)/);
  });
});
