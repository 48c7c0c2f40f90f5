/**
 * The HTTP service's answers (firmware/http.ts) with a handler of the
 * test's own (test/helpers/http-handler.ts): the dialogues in
 * test/dialogues/http-handler/ over a fake socket in 1-, 3- and 536-octet
 * chunks. The framing of requests is tested on every runtime by the
 * http-*.txt dialogues with the web page's handler (dialogues.tcp.test.ts).
 */
import { after, describe, it } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { runDialogue } from "./helpers/dialogue";
import { DIALOGUES, tempDir, testConfig } from "./helpers/fixtures";
import { fakeBox, FakeBox } from "./helpers/transports";
import { testHandler } from "./helpers/http-handler";

const DIR = path.join(DIALOGUES, "http-handler");
const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".txt")).sort();

describe("HTTP answers with a test handler, over a fake socket", () => {
  const boxes: FakeBox[] = [];
  after(() => boxes.forEach((b) => b.stop()));
  for (const chunkSize of [1, 3, 536]) {
    for (const file of files) {
      it(`${file} in ${chunkSize}-byte chunks`, async () => {
        const box = fakeBox(testConfig(), tempDir("http-handler"), chunkSize);
        boxes.push(box);
        box.box.http.handler = testHandler(box.hal);
        await runDialogue(path.join(DIR, file), box.transport);
      });
    }
  }
});
