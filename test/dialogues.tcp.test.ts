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
          // IMAP's listener only where a dialogue speaks IMAP: the hostile-connections dialogue fills the
          // board's 10 sockets with SMTP and POP3 sessions, and one more listener would leave none to refuse
          // the next client with (docs/IMAP.md, "Limits"; the admission rule is noted for a fix).
          const config = testConfig();
          config.services.imap.enabled = /imap/.test(fs.readFileSync(path.join(DIALOGUES, file), "latin1"));
          sim = await startSimulator({
            runtime,
            config,
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
