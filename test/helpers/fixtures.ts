/** The configuration and scratch directories tests share. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Config } from "../../firmware/config";
import { defaultLimits } from "../../firmware/config";

export const ROOT = path.join(__dirname, "../../..");
export const DIALOGUES = path.join(ROOT, "test/dialogues");

/** alice/wonderland and bob/builder99 at example.org and example.net; small limits so tests can reach them. */
export function testConfig(overrides?: Partial<Config["limits"]>): Config {
  const limits = defaultLimits();
  limits.maxMessageBytes = 20000;
  limits.maxRecipients = 5;
  limits.smtpSessions = 3;
  limits.pop3Sessions = 3;
  Object.assign(limits, overrides || {});
  return {
    hostname: "mx.test.example",
    domains: ["example.org", "example.net"],
    users: [
      { name: "alice", password: "wonderland" },
      { name: "bob", password: "builder99" },
      { name: "carol", password: "c4rol-pass" },
    ],
    smtpPort: 25,
    pop3Port: 110,
    limits,
  };
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `letterbox-${label}-`));
}
