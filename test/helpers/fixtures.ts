/** The configuration and scratch directories tests share. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Config, Limits } from "../../firmware/config";
import { defaultLimits } from "../../firmware/config";
import { parseSettings, settingsToMap } from "../../firmware/settings";

export const ROOT = path.join(__dirname, "../../..");
export const DIALOGUES = path.join(ROOT, "test/dialogues");

/**
 * Limits a test may set: the Limits, and each service's session cap and idle
 * time by the names of the settings from before services were a list (read
 * as the board reads them: firmware/settings.ts).
 */
export type TestLimits = Partial<Limits> & {
  smtpSessions?: number;
  pop3Sessions?: number;
  smtpIdleSeconds?: number;
  pop3IdleSeconds?: number;
};

/** alice/wonderland and bob/builder99 at example.org and example.net; small limits so tests can reach them. */
export function testConfig(overrides?: TestLimits): Config {
  const limits: TestLimits = { ...defaultLimits(), maxMessageBytes: 20000, maxRecipients: 5, smtpSessions: 3, pop3Sessions: 3, ...overrides };
  const parsed = parseSettings({
    hostname: "mx.test.example",
    domains: ["example.org", "example.net"],
    users: [
      { name: "alice", password: "wonderland" },
      { name: "bob", password: "builder99" },
      { name: "carol", password: "c4rol-pass" },
    ],
    limits,
  });
  if (typeof parsed === "string") throw new Error("testConfig: " + parsed);
  // Once more through the flash form, so the test runs with what a board would read back.
  const again = parseSettings(settingsToMap(parsed));
  if (typeof again === "string") throw new Error("testConfig: " + again);
  return again.config;
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `letterbox-${label}-`));
}
