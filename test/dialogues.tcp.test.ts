/** The same dialogues over real TCP against the simulator, on every runtime. */
import { after, before, describe, it } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { startSimulator, Simulator } from "../sim/simulator";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { dialogueTodo, LineCollector, runDialogue } from "./helpers/dialogue";
import { DIALOGUES, tempDir, testConfig } from "./helpers/fixtures";
import { tcpTransport } from "./helpers/transports";

const files = fs.readdirSync(DIALOGUES).filter((f) => f.endsWith(".txt")).sort();

for (const runtime of RUNTIME_NAMES) {
  describe(`dialogues over TCP (${runtime} runtime)`, () => {
    for (const file of files) {
      let sim: Simulator;
      const log = new LineCollector();
      describe(file, () => {
        before(async () => {
          // Every listener on, as on the board: hostile-connections fills the budget, and the box must still answer.
          sim = await startSimulator({
            runtime,
            config: testConfig(),
            dataDir: tempDir("tcp"),
            smtpPort: 0,
            pop3Port: 0,
            httpPort: 0,
            imapPort: 0,
            // As the serial line carries them: a line breaking in two would show as two.
            log: (line) => log.push(line + "\r\n"),
          });
        });
        after(() => sim.stop());
        it("runs as scripted", { todo: dialogueTodo(path.join(DIALOGUES, file)) }, async () => {
          await runDialogue(path.join(DIALOGUES, file), tcpTransport({ smtp: sim.smtpPort, pop3: sim.pop3Port, http: sim.httpPort, imap: sim.imapPort }, log));
        });
      });
    }
  });
}
