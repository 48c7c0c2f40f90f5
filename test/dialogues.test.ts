/**
 * The SMTP, POP3, HTTP and IMAP state machines, driven by the scripted dialogues in
 * test/dialogues/ through a fake socket, with client bytes cut into chunks of
 * several sizes: framing must not depend on where packets end.
 */
import { after, describe, it } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { dialogueTodo, runDialogue } from "./helpers/dialogue";
import { DIALOGUES, tempDir, testConfig } from "./helpers/fixtures";
import { fakeBox, FakeBox } from "./helpers/transports";

const files = fs.readdirSync(DIALOGUES).filter((f) => f.endsWith(".txt")).sort();

describe("dialogues over a fake socket", () => {
  const boxes: FakeBox[] = [];
  after(() => boxes.forEach((b) => b.stop()));
  for (const chunkSize of [1, 3, 536]) {
    for (const file of files) {
      it(`${file} in ${chunkSize}-byte chunks`, { todo: dialogueTodo(path.join(DIALOGUES, file)) }, async () => {
        const box = fakeBox(testConfig(), tempDir("dialogue"), chunkSize);
        boxes.push(box);
        await runDialogue(path.join(DIALOGUES, file), box.transport);
      });
    }
  }
});
