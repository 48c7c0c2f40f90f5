/**
 * Makes test/fixtures/card-vN: a card and a flash written by the build this
 * runs on (node runtime; N is its store format version), for
 * test/card-fixture.tcp.test.ts, which opens a copy with the current code. Run it only to make a fixture for a NEW store
 * format version (in a new directory): a fixture once committed is never
 * remade, since its point is to be what an older build wrote.
 *
 *   node build/test/tools/make-card-fixture.js OUT_DIR
 *
 * What is on the card: three users' mail, a message shared by all three,
 * deletions by two users, and two journals: the older generation, and the
 * active one with a compacted snapshot (made at the second boot) followed by
 * an uncompacted tail of B, A and D records. The spare file is left out
 * (36 KiB of '-'; open() makes it again). From version 2 on: read marks
 * set through the web API (F records, and flags carried by the second
 * boot's compaction), and the header cache files beside the messages.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { startSimulator } from "../../sim/simulator";
import { SimFlash } from "../../sim/flash";
import { saveSettings } from "../../firmware/settings";
import { pop3Session, sendMail } from "../helpers/clients";
import { WebClient } from "../helpers/web-client";
import { testConfig } from "../helpers/fixtures";
import type { Config } from "../../firmware/config";

/** The provisioned users: other names than testConfig's, so a test that logs in proves the settings were read. */
export function fixtureConfig(): Config {
  const config = testConfig();
  config.hostname = "box.fixture.example";
  config.domains = ["fixture.example"];
  config.users = [
    { name: "dave", password: "dave-pw-1" },
    { name: "erin", password: "erin-pw-2" },
    { name: "frank", password: "frank-pw-3" },
  ];
  return config;
}

function body(n: number, lines: number): Buffer {
  let text = `From: sender${n}@outside.example\r\nSubject: fixture message ${n}\r\n\r\n`;
  for (let i = 0; i < lines; i++) text += (i % 7 === 3 ? "." : "") + `line ${i} of message ${n} \xe9t\xe9 0123456789\r\n`;
  return Buffer.from(text, "latin1");
}

async function web(port: number, user: string): Promise<WebClient> {
  const client = new WebClient(port);
  const login = await client.login(user, fixtureConfig().users.find((u) => u.name === user)!.password);
  if (login.status !== 200) throw new Error("web log-in: " + login.status);
  return client;
}

/** uidl -> stored flags, as /api/list gives them. */
async function listed(port: number, user: string): Promise<Map<string, number>> {
  const rows = (await (await web(port, user)).get("/api/list?start=0&count=100")).value.messages as [string, number, number][];
  return new Map(rows.map((r) => [r[0], r[2]]));
}

/** Marks these messages (0-based, oldest first) read through the web API. */
async function seen(port: number, user: string, which: number[]): Promise<void> {
  const client = await web(port, user);
  const oldestFirst = [...(await listed(port, user)).keys()].reverse();
  const answer = await client.post("/api/seen", { ids: which.map((i) => oldestFirst[i]), seen: true });
  if (answer.status !== 200) throw new Error("web seen: " + answer.status);
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error("usage: make-card-fixture.js OUT_DIR");
  const cardDir = path.join(out, "card");
  const flashDir = path.join(out, "flash");
  fs.mkdirSync(cardDir, { recursive: true });
  const flash = new SimFlash(flashDir);
  saveSettings(flash, { config: fixtureConfig(), timezone: "UTC" }, undefined);
  let clock = 1780000000;
  const boot = () => startSimulator({ runtime: "node", config: testConfig(), dataDir: cardDir, flashDir, smtpPort: 0, pop3Port: 0, clock: () => clock++ });
  const send = async (port: number, n: number, to: string[], lines: number) => {
    const reply = await sendMail(port, `sender${n}@outside.example`, to.map((u) => u + "@fixture.example"), body(n, lines));
    if (!reply.startsWith("250")) throw new Error("not accepted: " + reply);
  };
  const dele = (port: number, user: string, numbers: number[]) =>
    pop3Session(port, user, fixtureConfig().users.find((u) => u.name === user)!.password, async (p) => {
      for (const n of numbers) await p.dele(n);
    });

  // First boot: a new store (JRNL.A, generation 1); mail, then deletions.
  let sim = await boot();
  await send(sim.smtpPort, 1, ["dave"], 3);
  await send(sim.smtpPort, 2, ["dave", "erin", "frank"], 12);
  await send(sim.smtpPort, 3, ["erin"], 40); // over 512 bytes: records and reads cross chunks
  await send(sim.smtpPort, 4, ["dave", "frank"], 1);
  await send(sim.smtpPort, 5, ["frank"], 5);
  await send(sim.smtpPort, 6, ["dave"], 8);
  await dele(sim.pop3Port, "dave", [1]);
  await dele(sim.pop3Port, "frank", [1]);
  await seen(sim.httpPort, "dave", [0, 1]); // carried into the second boot's snapshot
  await seen(sim.httpPort, "erin", [1]);
  await sim.stop();

  // Second boot compacts into JRNL.B (generation 2); the tail after it stays uncompacted.
  sim = await boot();
  await send(sim.smtpPort, 7, ["erin"], 2);
  await send(sim.smtpPort, 8, ["dave", "erin"], 20);
  await send(sim.smtpPort, 9, ["frank"], 4);
  await send(sim.smtpPort, 10, ["dave"], 6);
  const names = ["dave", "erin", "frank"];
  for (let n = 11; n <= 24; n++) await send(sim.smtpPort, n, n % 4 === 0 ? names : [names[n % 3]], n % 5); // a second B block; the journal passes 512 bytes
  await dele(sim.pop3Port, "erin", [2]); // message 3
  await dele(sim.pop3Port, "dave", [2, 4]); // message 4 (frank still has it) and 8 (erin still has it)
  await dele(sim.pop3Port, "frank", [3, 5]);
  await seen(sim.httpPort, "frank", [0, 2]); // F records in the uncompacted tail
  await seen(sim.httpPort, "dave", [3]);
  // What each user's maildrop holds, as POP3 shows it, and its read marks as the web API lists them.
  const expected: { [user: string]: { uidl: string; size: number; sha256: string; bytes: number; flags?: number }[] } = {};
  for (const u of fixtureConfig().users) {
    expected[u.name] = await pop3Session(sim.pop3Port, u.name, u.password, async (p) => {
      const list = await p.list();
      const rows = [];
      for (let i = 0; i < list.count; i++) {
        const got = await p.retr(i + 1);
        rows.push({ uidl: list.uidls[i], size: list.sizes[i], bytes: got.length, sha256: crypto.createHash("sha256").update(got).digest("hex") });
      }
      return rows;
    });
    const flags = await listed(sim.httpPort, u.name);
    for (const row of expected[u.name]) row.flags = flags.get(row.uidl);
  }
  await sim.stop();
  fs.rmSync(path.join(cardDir, "LB", "SPARE"), { force: true });
  fs.writeFileSync(path.join(out, "expected.json"), JSON.stringify(expected, null, 1) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
