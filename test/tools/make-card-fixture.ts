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
 * From version 3 on: IMAP's folders (the special-use ones made at log-in,
 * others created, renamed, deleted with mail in them, (un)subscribed),
 * APPEND with flags and a date, COPY, MOVE, \Deleted and EXPUNGE (seen by
 * POP3 too), and two deliveries committed out of order (the later-begun
 * first: an A record naming its data file). From version 4 on: IMAP
 * keywords (K records, F records with keyword bits, an APPEND and a COPY
 * with keywords: A records with them, a keyword no message keeps).
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
import { ImapClient } from "../helpers/imap-client";
import { imapFolders, type FolderView } from "../helpers/imap-folders";
import { Format } from "../../firmware/journal";
import * as net from "node:net";
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

/** Sends a tagged IMAP command and insists on OK. */
async function ok(c: ImapClient, command: string, literals: string[] = []): Promise<string[]> {
  const r = await c.command(command, literals);
  if (!r.status.startsWith("OK")) throw new Error(`${command}: ${r.status}`);
  return r.lines;
}

/** An SMTP session up to its DATA's 354, so that two can be in flight at once. */
async function openData(port: number, n: number, to: string): Promise<(text: string) => Promise<string>> {
  const socket = net.connect(port, "127.0.0.1");
  let received = "";
  socket.on("data", (b) => (received += b.toString("latin1")));
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 500 && !re.test(received); i++) await new Promise((r) => setTimeout(r, 10));
    if (!re.test(received)) throw new Error("SMTP: " + received);
  };
  await waitFor(/^220 /m);
  socket.write(`HELO fixture\r\nMAIL FROM:<sender${n}@outside.example>\r\nRCPT TO:<${to}@fixture.example>\r\nDATA\r\n`);
  await waitFor(/^354 /m);
  return async (text: string) => {
    received = "";
    socket.write(text.replace(/\r\n\./g, "\r\n..") + "\r\n.\r\n");
    await waitFor(/^250 |^[45]\d\d /m);
    socket.end("QUIT\r\n");
    return received;
  };
}

/** Version 3: IMAP's folders, flags, copies, moves and expunges on the card (see the header comment). */
async function imapWork(smtpPort: number, imapPort: number): Promise<void> {
  const pw = (user: string) => fixtureConfig().users.find((u) => u.name === user)!.password;
  const dave = await ImapClient.login(imapPort, "dave", pw("dave")); // Sent, Drafts, Trash, Junk, Archive
  await ok(dave, "CREATE Work");
  await ok(dave, "CREATE Work/2026");
  await ok(dave, 'CREATE "&AMQ-rger"');
  await ok(dave, 'APPEND Work (\\Seen \\Flagged) "02-Jan-2026 10:00:00 +0000" {}', [body(30, 6).toString("latin1")]);
  await ok(dave, "APPEND &AMQ-rger (\\Answered) {}", [body(31, 2).toString("latin1")]);
  await ok(dave, "SELECT INBOX");
  await ok(dave, "COPY 1:2 Work");
  await ok(dave, "STORE 3 +FLAGS (\\Flagged)");
  await ok(dave, "MOVE 3 Archive"); // its flags go with it; POP3 no longer lists it
  await ok(dave, "STORE 1 +FLAGS (\\Deleted \\Answered)");
  await ok(dave, "EXPUNGE");
  await ok(dave, "SELECT Work");
  await ok(dave, "STORE 1 +FLAGS (\\Deleted)"); // stays marked, not expunged
  await ok(dave, "RENAME Work/2026 Work/Old");
  await ok(dave, 'DELETE "&AMQ-rger"'); // with its message
  await ok(dave, "UNSUBSCRIBE Junk");
  await ok(dave, "SUBSCRIBE Work");
  await dave.logout();
  const erin = await ImapClient.login(imapPort, "erin", pw("erin"));
  await ok(erin, 'APPEND Drafts (\\Draft) "03-Jan-2026 11:30:00 +0100" {}', [body(32, 3).toString("latin1")]);
  await erin.logout();
  // Two deliveries at once, the later-begun committed first: the other gets a new sequence number.
  const first = await openData(smtpPort, 33, "frank");
  const second = await openData(smtpPort, 34, "frank");
  for (const [finish, n] of [[second, 34], [first, 33]] as const) {
    const reply = await finish(body(n, 4).toString("latin1"));
    if (!/^250 /m.test(reply)) throw new Error("not accepted: " + reply);
  }
}

/** Version 4: keywords on the card (see the header comment). */
async function keywordWork(imapPort: number): Promise<void> {
  const pw = (user: string) => fixtureConfig().users.find((u) => u.name === user)!.password;
  const dave = await ImapClient.login(imapPort, "dave", pw("dave"));
  await ok(dave, "SELECT INBOX");
  await ok(dave, "STORE 1 +FLAGS ($Forwarded Project-X)");
  await ok(dave, "STORE 2 +FLAGS (project-x \\Seen)"); // the same keyword, spelt as first stored
  await ok(dave, "STORE 3 +FLAGS (Gone)");
  await ok(dave, "STORE 3 -FLAGS (Gone)"); // a name no message keeps: its K record stays until a compaction
  await ok(dave, "COPY 1 Work"); // A with keyword bits
  await ok(dave, 'APPEND Archive (\\Seen $Junk) "04-Jan-2026 09:00:00 +0000" {}', [body(35, 3).toString("latin1")]);
  await dave.logout();
  const frank = await ImapClient.login(imapPort, "frank", pw("frank"));
  await ok(frank, "SELECT INBOX");
  await ok(frank, "STORE 1:2 +FLAGS ($Label1)"); // another user's table
  await frank.logout();
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
  const boot = () => startSimulator({ runtime: "node", config: testConfig(), dataDir: cardDir, flashDir, smtpPort: 0, pop3Port: 0, imapPort: 0, clock: () => clock++ });
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
  if ((Format.Version as number) >= 3) await imapWork(sim.smtpPort, sim.imapPort);
  if ((Format.Version as number) >= 4) await keywordWork(sim.imapPort);
  // What each user's maildrop holds, as POP3 shows it, and its read marks as the web API lists them.
  const expected: { [user: string]: { uidl: string; size: number; sha256: string; bytes: number; flags?: number }[] } = {};
  const imap: { [user: string]: { [folder: string]: FolderView } } = {};
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
    if ((Format.Version as number) >= 3) imap[u.name] = await imapFolders(sim.imapPort, u.name, u.password);
  }
  await sim.stop();
  fs.rmSync(path.join(cardDir, "LB", "SPARE"), { force: true });
  fs.writeFileSync(path.join(out, "expected.json"), JSON.stringify(expected, null, 1) + "\n");
  if ((Format.Version as number) >= 3) fs.writeFileSync(path.join(out, "imap.json"), JSON.stringify(imap, null, 1) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
