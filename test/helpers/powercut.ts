/**
 * The power-cut harness over real TCP: runs a mail workload against a
 * simulator whose card loses power before its k-th changing operation,
 * boots a fresh simulator on the same card (recovery), and checks what the
 * clients were told against what the box serves now.
 *
 * At the cut every connection the box accepted is destroyed on the box's
 * side: what it sent before reaches the client, nothing after does, and the
 * workload stops. The window between a commit record and its reply: the
 * store answers 250 (or +OK to QUIT) only after the append of its A (or D)
 * record returned, and a cut is always *before* an operation, so a reply
 * sent before the commit would be seen and caught here, while the reply
 * after it is never sent. A cut just before the `close` that follows such an
 * append leaves a commit record on the card that the client never heard
 * about. The harness does not loosen anything for that window: it decodes
 * every journal write that reached the card (with msgpackr, independently
 * of the firmware's codec) and expects the in-flight message (or deletion)
 * to exist exactly when its record was written, and to be absent otherwise.
 * The same holds for the web page's read marks (F records) and deletions;
 * and every message's header lines and arrival time, as the web API lists
 * them from the header cache written after each 250, must be right after
 * any cut (a cache file cut short is built again).
 *
 * IMAP sessions (ImapStep) APPEND to a folder, STORE flags, COPY, MOVE and
 * EXPUNGE, one message per command; the folders they fill are read back
 * over IMAP after the reboot: every message acknowledged (APPENDUID,
 * COPYUID) there once, byte for byte, with its flags and UID, the one in
 * flight exactly when its A record reached the card. A MOVE is a copy (A)
 * and then an expunge of the original (D): a cut between the two leaves the
 * message in both folders, never in neither (RFC 6851 3.3: MUST NOT lose,
 * SHOULD NOT duplicate); the harness reports that state as a note, and
 * only for the MOVE in flight.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { unpackMultiple } from "msgpackr";
import type { Config } from "../../firmware/config";
import { dropAllConnections } from "../../sim/net";
import { PowerCutCard } from "../../sim/powercut";
import type { RuntimeName } from "../../sim/runtime";
import { startSimulator, Simulator } from "../../sim/simulator";
import { connect, stuff, withoutTraceHeaders } from "./clients";
import { ImapClient } from "./imap-client";
import { WebClient } from "./web-client";
import { tempDir } from "./fixtures";

export interface MailStep {
  kind: "smtp";
  /** Messages sent in one SMTP session, one transaction each. */
  messages: { id: string; to: string[]; body: Buffer }[];
}

export interface Pop3Step {
  kind: "pop3";
  user: string;
  /** RETR every message, then DELE these (by message id, when present). */
  dele: string[];
  /** QUIT (deletions apply) or drop the connection without it. */
  quit: boolean;
}

export interface WebStep {
  kind: "web";
  user: string;
  /** Log in, list (which reads every header cache), then mark these read (by message id)... */
  seen: string[];
  /** ...and delete these at once (the web page's delete: a shared maildrop's commit). */
  dele: string[];
}

/** An IMAP session of `user` with INBOX selected; each message by its Message-ID, one command each, in this order. */
export interface ImapStep {
  kind: "imap";
  user: string;
  /** APPEND to Archive with \Flagged (LITERAL+). */
  append?: { id: string; body: Buffer };
  /** UID STORE +FLAGS.SILENT (\Flagged) on these INBOX messages. */
  flag?: string[];
  /** UID COPY to Archive. */
  copy?: string[];
  /** UID MOVE to Trash. */
  move?: string[];
  /** UID STORE +FLAGS.SILENT (\Deleted), then UID EXPUNGE of that UID. */
  expunge?: string[];
}

export type Step = MailStep | Pop3Step | WebStep | ImapStep;

/** Stored flag bits (docs/STORE.md, F records) by IMAP name. */
const FLAG_BITS: { [name: string]: number } = { "\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Draft": 8, "\\Deleted": 16 };

const PASSWORDS: { [user: string]: string } = {};

type Conv = Awaited<ReturnType<typeof connect>>;
/** A client connection the harness destroys at the end (POP3/SMTP conversations, IMAP clients). */
type Open = { socket: { destroy(): void } };

interface SentMessage {
  id: string;
  users: string[];
  body: Buffer;
  state: "acked" | "pending";
  seq?: number;
}

interface Deletion {
  user: string;
  ids: string[];
  state: "confirmed" | "pending";
  /** The expunge of a MOVE's original (its copy is `copy`). */
  move?: FolderMessage;
}

/** A message an IMAP command put into a folder other than INBOX (APPEND, COPY, MOVE). */
interface FolderMessage {
  user: string;
  folder: string;
  id: string;
  /** What APPEND sent, or the original as SMTP's DATA carried it (COPY, MOVE: compared without the trace headers). */
  body: Buffer;
  copied: boolean;
  /** Stored flag bits it must have. */
  flags: number;
  state: "acked" | "pending";
  /** Its UID there (APPENDUID, COPYUID), = its sequence number. */
  uid?: number;
}

/** What the clients were told while the workload ran. */
class Record {
  messages: SentMessage[] = [];
  deletions: Deletion[] = [];
  /** The store epoch (first part of a UIDL) the clients saw, if any. */
  epoch: string | undefined;
  /** "user id" -> UIDL seen during the workload. */
  uidls = new Map<string, string>();
  /** Flags set on INBOX messages, in order: the web page's read marks (1), IMAP STOREs; each confirmed (200, OK) or in flight at the cut. */
  seen: { user: string; ids: string[]; state: "confirmed" | "pending"; bits: number }[] = [];
  /** Messages IMAP put into other folders. */
  folder: FolderMessage[] = [];

  /** The flags an INBOX message has by the confirmed requests so far. */
  bitsOf(user: string, id: string): number {
    let bits = 0;
    for (const r of this.seen) if (r.user === user && r.state === "confirmed" && r.ids.includes(id)) bits |= r.bits;
    return bits;
  }

  /** Whether `id` is in `user`'s INBOX as far as the clients were told. */
  inInbox(user: string, id: string): boolean {
    const m = this.messages.find((x) => x.id === id && x.state === "acked" && x.users.includes(user));
    return m !== undefined && !this.deletions.some((d) => d.user === user && d.state === "confirmed" && d.ids.includes(id));
  }
}

function userOf(address: string): string {
  return address.slice(0, address.indexOf("@")).toLowerCase();
}

function messageId(stored: Buffer): string {
  const m = /\r\nMessage-ID: <([^>]+)>\r\n/i.exec(stored.toString("latin1"));
  if (!m) throw new Error("stored message without a Message-ID");
  return m[1];
}

async function expectLine(c: Conv, prefix: string, smtp: boolean): Promise<string> {
  const line = smtp ? await c.smtpReply() : await c.line();
  if (!line.startsWith(prefix)) throw new Error(`expected ${prefix}, got ${JSON.stringify(line)}`);
  return line;
}

/** Runs the workload; stops at the first failure (the power cut, or a real error). */
async function runWorkload(sim: Simulator, steps: Step[], record: Record, open: Set<Open>, cutHappened: () => boolean): Promise<void> {
  const dial = async (port: number) => {
    if (cutHappened()) throw new Error("power cut");
    const c = await connect(port);
    open.add(c);
    return c;
  };
  for (const step of steps) {
    if (step.kind === "smtp") {
      const c = await dial(sim.smtpPort);
      await expectLine(c, "220", true);
      c.send("EHLO tester.example\r\n");
      await expectLine(c, "250", true);
      for (const m of step.messages) {
        c.send("MAIL FROM:<sender@remote.example>\r\n");
        await expectLine(c, "250", true);
        for (const to of m.to) {
          c.send(`RCPT TO:<${to}>\r\n`);
          await expectLine(c, "250", true);
        }
        c.send("DATA\r\n");
        await expectLine(c, "354", true);
        const sent: SentMessage = { id: m.id, users: [...new Set(m.to.map(userOf))], body: m.body, state: "pending" };
        record.messages.push(sent);
        c.send(stuff(m.body).toString("latin1") + ".\r\n");
        const reply = await expectLine(c, "250", true);
        const queued = /queued as ([0-9A-Fa-f]{8})/.exec(reply);
        if (!queued) throw new Error(`250 without a queue id: ${reply}`);
        sent.seq = parseInt(queued[1], 16);
        sent.state = "acked";
      }
      c.send("QUIT\r\n");
      await expectLine(c, "221", true);
      c.close();
      open.delete(c);
    } else if (step.kind === "web") {
      if (cutHappened()) throw new Error("power cut");
      const web = new WebClient(sim.httpPort);
      const login = await web.login(step.user, PASSWORDS[step.user]);
      if (login.status !== 200) throw new Error(`web log-in: ${login.status}`);
      const list = await web.get("/api/list?start=0&count=100");
      if (list.status !== 200) throw new Error(`web list: ${list.status}`);
      const idOf = new Map<string, string>();
      for (const row of list.value.messages as unknown[][]) {
        const m = /Message-ID: <([^>]+)>/.exec(Buffer.from(row[4] as Uint8Array).toString("latin1"));
        if (m) idOf.set(m[1], row[0] as string);
      }
      const pick = (ids: string[]) => ids.filter((id) => idOf.has(id));
      const marks = { user: step.user, ids: pick(step.seen), state: "pending" as "confirmed" | "pending", bits: 1 };
      if (marks.ids.length > 0) {
        record.seen.push(marks);
        const a = await web.post("/api/seen", { ids: marks.ids.map((id) => idOf.get(id)), seen: true });
        if (a.status !== 200) throw new Error(`web seen: ${a.status}`);
        marks.state = "confirmed";
      }
      const deletion: Deletion = { user: step.user, ids: pick(step.dele), state: "pending" };
      if (deletion.ids.length > 0) {
        record.deletions.push(deletion);
        const a = await web.post("/api/delete", { ids: deletion.ids.map((id) => idOf.get(id)) });
        if (a.status !== 200) throw new Error(`web delete: ${a.status}`);
        deletion.state = "confirmed";
      }
    } else if (step.kind === "imap") {
      await imapStep(sim, step, record, open, cutHappened);
    } else {
      const c = await dial(sim.pop3Port);
      await expectLine(c, "+OK", false);
      c.send(`USER ${step.user}\r\nPASS ${PASSWORDS[step.user]}\r\n`);
      await expectLine(c, "+OK", false);
      await expectLine(c, "+OK", false);
      c.send("UIDL\r\n");
      await expectLine(c, "+OK", false);
      const uidls = (await c.multiline()).toString("latin1").split("\r\n").filter((l) => l).map((l) => l.split(" ")[1]);
      const numberOf = new Map<string, number>();
      for (let n = 1; n <= uidls.length; n++) {
        c.send(`RETR ${n}\r\n`);
        await expectLine(c, "+OK", false);
        const id = messageId(await c.multiline());
        numberOf.set(id, n);
        record.uidls.set(`${step.user} ${id}`, uidls[n - 1]);
        record.epoch = uidls[n - 1].split("-")[0];
      }
      const doomed = step.dele.filter((id) => numberOf.has(id));
      for (const id of doomed) {
        c.send(`DELE ${numberOf.get(id)}\r\n`);
        await expectLine(c, "+OK", false);
      }
      if (step.quit) {
        const deletion: Deletion = { user: step.user, ids: doomed, state: "pending" };
        if (doomed.length > 0) record.deletions.push(deletion);
        c.send("QUIT\r\n");
        await expectLine(c, "+OK", false);
        deletion.state = "confirmed";
      }
      c.close();
      open.delete(c);
    }
  }
}

async function imapOk(c: ImapClient, command: string, literals: Buffer[] = []): Promise<{ lines: string[]; status: string }> {
  const r = await c.command(command, literals);
  if (!r.status.startsWith("OK")) throw new Error(`${command.split(" ")[0]}: ${r.status}`);
  return r;
}

/** The UID an APPENDUID or COPYUID code gives (one message: the last number). */
function uidIn(text: string, code: string): number {
  const m = new RegExp(`\\[${code} \\d+ (?:\\d+ )?(\\d+)\\]`).exec(text);
  if (!m) throw new Error(`no ${code} in ${JSON.stringify(text)}`);
  return Number(m[1]);
}

async function imapStep(sim: Simulator, step: ImapStep, record: Record, open: Set<Open>, cutHappened: () => boolean): Promise<void> {
  if (cutHappened()) throw new Error("power cut");
  const user = step.user;
  const c = await ImapClient.connect(sim.imapPort);
  open.add(c);
  await imapOk(c, `LOGIN ${user} ${PASSWORDS[user]}`); // makes Archive, Trash... at the first log-in
  await imapOk(c, "SELECT INBOX");
  // In INBOX the UID is the sequence number SMTP's 250 gave.
  const uidOf = (id: string) => (record.messages.find((m) => m.id === id) as SentMessage).seq as number;
  const present = (ids: string[] | undefined) => (ids || []).filter((id) => record.inInbox(user, id));
  if (step.append) {
    const m: FolderMessage = { user, folder: "Archive", id: step.append.id, body: step.append.body, copied: false, flags: 4, state: "pending" };
    record.folder.push(m);
    const r = await imapOk(c, "APPEND Archive (\\Flagged) {+}", [step.append.body]);
    m.uid = uidIn(r.status, "APPENDUID");
    m.state = "acked";
  }
  for (const id of present(step.flag)) {
    const marks = { user, ids: [id], state: "pending" as "confirmed" | "pending", bits: 4 };
    record.seen.push(marks);
    await imapOk(c, `UID STORE ${uidOf(id)} +FLAGS.SILENT (\\Flagged)`);
    marks.state = "confirmed";
  }
  const original = (id: string) => (record.messages.find((m) => m.id === id) as SentMessage).body;
  for (const id of present(step.copy)) {
    const m: FolderMessage = { user, folder: "Archive", id, body: original(id), copied: true, flags: record.bitsOf(user, id), state: "pending" };
    record.folder.push(m);
    const r = await imapOk(c, `UID COPY ${uidOf(id)} Archive`);
    m.uid = uidIn(r.status, "COPYUID");
    m.state = "acked";
  }
  for (const id of present(step.move)) {
    const m: FolderMessage = { user, folder: "Trash", id, body: original(id), copied: true, flags: record.bitsOf(user, id), state: "pending" };
    record.folder.push(m);
    const deletion: Deletion = { user, ids: [id], state: "pending", move: m };
    record.deletions.push(deletion);
    const r = await imapOk(c, `UID MOVE ${uidOf(id)} Trash`);
    m.uid = uidIn(r.lines.join("\n"), "COPYUID");
    m.state = "acked";
    deletion.state = "confirmed";
  }
  for (const id of present(step.expunge)) {
    const marks = { user, ids: [id], state: "pending" as "confirmed" | "pending", bits: 16 };
    record.seen.push(marks);
    await imapOk(c, `UID STORE ${uidOf(id)} +FLAGS.SILENT (\\Deleted)`);
    marks.state = "confirmed";
    const deletion: Deletion = { user, ids: [id], state: "pending" };
    record.deletions.push(deletion);
    await imapOk(c, `UID EXPUNGE ${uidOf(id)}`);
    deletion.state = "confirmed";
  }
  await imapOk(c, "LOGOUT");
  c.socket.destroy();
  open.delete(c);
}

/**
 * A and D records in the journal writes that reached the card, decoded with
 * msgpackr; the flags each (user, seq) had by the last record that said
 * (F; an A says 0, or its flags field), keyed "user seq"; and the data file's
 * number of each message committed under another (an A's seventh field).
 */
function journalCommits(card: PowerCutCard): {
  added: Set<number>;
  owners: Map<number, string[]>;
  deleted: { user: string; seqs: number[] }[];
  flags: Map<string, number>;
  files: Map<number, number>;
} {
  const files = new Map<number, number>();
  const owners = new Map<number, string[]>();
  const added = new Set<number>();
  const deleted: { user: string; seqs: number[] }[] = [];
  const flags = new Map<string, number>();
  for (const e of card.events) {
    if (e.op !== "write" || !/^\/LB\/JRNL\.[AB]$/.test(e.path) || e.data === undefined) continue;
    const values = unpackMultiple(Buffer.from(e.data, "latin1")) as unknown[];
    for (let i = 0; i < values.length; i += 2) {
      const r = values[i] as unknown[];
      if (r[0] === "A") added.add(r[1] as number);
      if (r[0] === "A") owners.set(r[1] as number, r[3] as string[]);
      if (r[0] === "D") deleted.push({ user: r[1] as string, seqs: r[2] as number[] });
      if (r[0] === "A") (r[3] as string[]).forEach((u, k) => flags.set(`${u} ${r[1]}`, r.length >= 6 ? (r[5] as number[])[k] : 0));
      if (r[0] === "A" && r.length > 6) files.set(r[1] as number, r[6] as number);
      if (r[0] === "F") flags.set(`${r[1]} ${r[2]}`, r[3] as number);
    }
  }
  return { added, owners, deleted, flags, files };
}

interface Served {
  uidl: string;
  body: Buffer;
  size: number;
  /** As the web API lists it: stored flags, arrival time (seconds), header lines. */
  flags?: number;
  time?: number;
  headers?: string;
}

/** A folder's messages as IMAP serves them: UID, stored flag bits, octets. */
interface FolderServed {
  uid: number;
  flags: number;
  body: Buffer;
}

/** `user`'s folders other than INBOX that IMAP steps fill, read with EXAMINE (nothing changes). */
async function serveFolders(sim: Simulator, user: string, folders: string[]): Promise<Map<string, FolderServed[]>> {
  const out = new Map<string, FolderServed[]>();
  const c = await ImapClient.connect(sim.imapPort);
  try {
    await imapOk(c, `LOGIN ${user} ${PASSWORDS[user]}`);
    for (const folder of folders) {
      await imapOk(c, `EXAMINE ${folder}`);
      const r = await imapOk(c, "UID FETCH 1:* (UID FLAGS BODY.PEEK[])");
      const list: FolderServed[] = [];
      for (const line of r.lines) {
        const uid = /[( ]UID (\d+)/.exec(line);
        const flags = /FLAGS \(([^)]*)\)/.exec(line);
        const literal = /BODY\[\] \{(\d+)\}\r\n/.exec(line);
        if (!uid || !flags || !literal) throw new Error(`FETCH answer ${JSON.stringify(line.slice(0, 200))}`);
        const start = literal.index + literal[0].length;
        let bits = 0;
        for (const f of flags[1].split(" ")) bits |= FLAG_BITS[f] || 0;
        list.push({ uid: Number(uid[1]), flags: bits, body: Buffer.from(line.slice(start, start + Number(literal[1])), "latin1") });
      }
      out.set(folder, list);
    }
    await imapOk(c, "LOGOUT");
  } finally {
    c.socket.destroy();
  }
  return out;
}

/** Every user's maildrop as the box serves it (RETR of everything), without changing anything. */
async function serve(sim: Simulator, users: string[]): Promise<Map<string, Served[]>> {
  const out = new Map<string, Served[]>();
  for (const user of users) {
    const c = await connect(sim.pop3Port);
    try {
      await expectLine(c, "+OK", false);
      c.send(`USER ${user}\r\nPASS ${PASSWORDS[user]}\r\n`);
      await expectLine(c, "+OK", false);
      await expectLine(c, "+OK", false);
      c.send("UIDL\r\n");
      await expectLine(c, "+OK", false);
      const uidls = (await c.multiline()).toString("latin1").split("\r\n").filter((l) => l).map((l) => l.split(" ")[1]);
      const list: Served[] = [];
      for (let n = 1; n <= uidls.length; n++) {
        c.send(`RETR ${n}\r\n`);
        const size = Number((await expectLine(c, "+OK", false)).split(" ")[1]);
        list.push({ uidl: uidls[n - 1], body: await c.multiline(), size });
      }
      c.send("QUIT\r\n");
      await expectLine(c, "+OK", false);
      out.set(user, list);
    } finally {
      c.close();
    }
    const web = new WebClient(sim.httpPort);
    if ((await web.login(user, PASSWORDS[user])).status !== 200) throw new Error("web log-in after the reboot");
    const rows = (await web.get("/api/list?start=0&count=100")).value.messages as unknown[][];
    for (const s of out.get(user) as Served[]) {
      const row = rows.find((r) => r[0] === s.uidl);
      if (!row) continue; // reported by verify
      s.flags = row[2] as number;
      s.time = row[3] as number;
      s.headers = Buffer.from(row[4] as Uint8Array).toString("latin1");
    }
  }
  return out;
}

/** Checks the rebooted box against the record; returns the problems found. */
function verify(record: Record, card: PowerCutCard, served: Map<string, Served[]>, folders: Map<string, Map<string, FolderServed[]>>, dir: string): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const commits = journalCommits(card);
  const ackedSeqs = new Set(record.messages.filter((m) => m.state === "acked").map((m) => m.seq as number));
  for (const f of record.folder) if (f.state === "acked") ackedSeqs.add(f.uid as number);
  const unheard = [...commits.added].filter((s) => !ackedSeqs.has(s));
  const pending = record.messages.filter((m) => m.state === "pending");
  const pendingCopy = record.folder.filter((f) => f.state === "pending");
  if (pending.length + pendingCopy.length > 1) problems.push(`${pending.length + pendingCopy.length} messages in flight at once`);
  if (unheard.length > 1 || (unheard.length === 1 && pending.length + pendingCopy.length === 0)) problems.push(`commit records nobody was answered for: ${unheard}`);
  // The in-flight message (delivered, or put into a folder by IMAP) is committed exactly when its A record reached the card.
  if (pending.length === 1 && unheard.length === 1) {
    pending[0].state = "acked";
    pending[0].seq = unheard[0];
  }
  if (pendingCopy.length === 1 && unheard.length === 1) {
    const owners = commits.owners.get(unheard[0]) || [];
    if (owners.length !== 1 || !owners[0].startsWith(`${pendingCopy[0].user}/`)) problems.push(`the A record of ${pendingCopy[0].id} in flight names ${owners}`);
    pendingCopy[0].state = "acked";
    pendingCopy[0].uid = unheard[0];
  }
  const seqById = new Map(record.messages.filter((m) => m.state === "acked").map((m) => [m.id, m.seq as number]));
  // Deletions: confirmed ones, and the one in flight exactly when its D record reached the card.
  const gone = new Set<string>();
  for (const d of record.deletions) {
    const seqs = d.ids.map((id) => seqById.get(id)).sort();
    const written = commits.deleted.some((w) => w.user === d.user && [...w.seqs].sort().join() === seqs.join());
    if (d.state === "pending" && !written) {
      if (d.move && d.move.state === "acked") notes.push(`a cut between MOVE's copy and its expunge: ${d.ids} in INBOX and ${d.move.folder}`);
      continue;
    }
    if (d.state === "confirmed" && !written) problems.push(`deletion confirmed to ${d.user} without a D record`);
    for (const id of d.ids) gone.add(`${d.user} ${id}`);
  }
  const users = [...served.keys()];
  let epoch = record.epoch;
  for (const user of users) {
    const expected = record.messages.filter((m) => m.state === "acked" && m.users.includes(user) && !gone.has(`${user} ${m.id}`));
    const got = served.get(user) as Served[];
    const seen = new Set<string>();
    for (const s of got) {
      let id: string;
      try {
        id = messageId(s.body);
      } catch {
        problems.push(`${user}: a message without Message-ID (${s.uidl})`);
        continue;
      }
      if (seen.has(id)) problems.push(`${user}: ${id} served twice`);
      seen.add(id);
      const m = expected.find((e) => e.id === id);
      if (!m) {
        problems.push(`${user}: ${id} served but never acknowledged (or deleted)`);
        continue;
      }
      if (s.body.length !== s.size) problems.push(`${user}: ${id} RETR size ${s.size} but ${s.body.length} octets`);
      let original: Buffer | undefined;
      try {
        original = withoutTraceHeaders(s.body);
      } catch {
        problems.push(`${user}: ${id} lost its trace headers`);
      }
      if (original && !original.equals(stuffedEnd(m.body))) problems.push(`${user}: ${id} not byte-exact`);
      const [uidEpoch, uidSeq] = s.uidl.split("-");
      if (epoch === undefined) epoch = uidEpoch;
      if (uidEpoch !== epoch) problems.push(`${user}: UIDL epoch changed to ${uidEpoch} from ${epoch}`);
      if (parseInt(uidSeq, 16) !== m.seq) problems.push(`${user}: ${id} has UIDL ${s.uidl}, queued as ${m.seq}`);
      const before = record.uidls.get(`${user} ${id}`);
      if (before !== undefined && before !== s.uidl) problems.push(`${user}: UIDL of ${id} changed from ${before} to ${s.uidl}`);
      // The web API's listing: read marks as confirmed (the one in flight: as its F record says), the header cache.
      // The flags asked for and confirmed, or those and the request in flight.
      const confirmed = record.bitsOf(user, id);
      let inFlight = confirmed;
      for (const r of record.seen) if (r.user === user && r.state === "pending" && r.ids.includes(id)) inFlight |= r.bits;
      const written = commits.flags.get(`${user} ${m.seq}`) ?? 0;
      if (s.flags === undefined) problems.push(`${user}: ${id} not in the web API's listing`);
      else if (s.flags !== written) problems.push(`${user}: ${id} flags ${s.flags}, the journal says ${written}`);
      else if (s.flags !== confirmed && s.flags !== inFlight) problems.push(`${user}: ${id} has flags ${s.flags}, asked for ${confirmed} (${inFlight} with the request in flight)`);
      const head = m.body.toString("latin1");
      const expectedHeaders = head.slice(0, head.indexOf("\r\n\r\n") + 2); // From, To, Subject, Message-ID: all listed
      if (s.headers !== undefined && s.headers !== expectedHeaders) problems.push(`${user}: ${id} header cache ${JSON.stringify(s.headers)}`);
      if (s.time !== undefined && Math.abs(s.time - Date.now() / 1000) > 3600) problems.push(`${user}: ${id} arrival time ${s.time}`);
    }
    for (const m of expected) if (!seen.has(m.id)) problems.push(`${user}: acknowledged ${m.id} lost`);
    // The folders IMAP filled: each message it was told of (or the one in flight, committed) once, exact, with its flags and UID.
    for (const [folder, list] of folders.get(user) || new Map<string, FolderServed[]>()) {
      const wanted = record.folder.filter((f) => f.user === user && f.folder === folder && f.state === "acked");
      const found = new Set<number>();
      for (const s of list) {
        const f = wanted.find((w) => w.uid === s.uid);
        if (!f) {
          problems.push(`${user}: UID ${s.uid} in ${folder}, never acknowledged`);
          continue;
        }
        found.add(s.uid);
        let body: Buffer | undefined = s.body;
        try {
          if (f.copied) body = withoutTraceHeaders(s.body);
        } catch {
          body = undefined;
        }
        if (!body || !body.equals(stuffedEnd(f.body))) problems.push(`${user}: ${f.id} in ${folder} not byte-exact`);
        if (s.flags !== f.flags) problems.push(`${user}: ${f.id} in ${folder} has flags ${s.flags}, not ${f.flags}`);
      }
      for (const f of wanted) if (!found.has(f.uid as number)) problems.push(`${user}: ${f.id} in ${folder} (UID ${f.uid}) lost`);
    }
  }
  // Nothing left behind: every data file on the card is a message someone can still read.
  const live = new Set<number>();
  for (const list of served.values()) {
    for (const s of list) {
      const seq = parseInt(s.uidl.split("-")[1], 16);
      live.add(commits.files.get(seq) ?? seq);
    }
  }
  for (const byFolder of folders.values()) for (const list of byFolder.values()) for (const s of list) live.add(commits.files.get(s.uid) ?? s.uid);
  const msgDir = path.join(dir, "LB", "MSG");
  const files = fs.existsSync(msgDir) ? fs.readdirSync(msgDir) : [];
  for (const f of files) if (!live.has(parseInt(f.slice(0, 8), 16))) problems.push(`data file ${f} belongs to no live message`);
  return { problems, notes };
}

/** The message as stored: what DATA carried, ending in CRLF. */
function stuffedEnd(body: Buffer): Buffer {
  return body.toString("latin1").endsWith("\r\n") ? body : Buffer.concat([body, Buffer.from("\r\n")]);
}

export interface CutResult {
  /** Changing card operations the workload made before the cut (all of them when not cut). */
  operations: number;
  cut: boolean;
  /** Changing card operations of the boot that checked the card (its recovery). */
  recoveryOperations: number;
  problems: string[];
  /** States the harness accepts but reports (a MOVE cut between its copy and its expunge). */
  notes: string[];
}

/**
 * One run: the workload with the power cut before operation `cutBefore`
 * (never when undefined), a reboot, and the checks. With `recoveryCut`, the
 * first reboot loses its power too, before that operation of its recovery,
 * and a third boot is checked.
 */
export async function runCut(runtime: RuntimeName, config: Config, steps: Step[], cutBefore: number | undefined, recoveryCut?: number): Promise<CutResult> {
  for (const u of config.users) PASSWORDS[u.name] = u.password;
  const dir = tempDir("powercut");
  const open = new Set<Open>();
  const card = new PowerCutCard({
    dir,
    cutBefore,
    onCut: dropAllConnections,
  });
  const record = new Record();
  try {
    const sim = await startSimulator({ runtime, config, dataDir: dir, card, smtpPort: 0, pop3Port: 0 });
    try {
      await runWorkload(sim, steps, record, open, () => card.cut);
    } catch (e) {
      if (!card.cut) throw e;
    } finally {
      for (const c of open) c.socket.destroy();
      await sim.stop();
    }
    if (!card.cut) card.powerOff(); // the end of the workload is a cut too: no goodbye to the card
    if (recoveryCut !== undefined) {
      const recovering = new PowerCutCard({ dir, cutBefore: recoveryCut, onCut: dropAllConnections });
      const interrupted = await startSimulator({ runtime, config, dataDir: dir, card: recovering, smtpPort: 0, pop3Port: 0 });
      recovering.powerOff();
      await interrupted.stop();
    }
    const checking = new PowerCutCard({ dir });
    const rebooted = await startSimulator({ runtime, config, dataDir: dir, card: checking, smtpPort: 0, pop3Port: 0 });
    const recoveryOperations = checking.operations;
    let served: Map<string, Served[]>;
    const folders = new Map<string, Map<string, FolderServed[]>>();
    try {
      served = await serve(rebooted, config.users.map((u) => u.name));
      for (const user of new Set(steps.filter((s) => s.kind === "imap").map((s) => s.user))) folders.set(user, await serveFolders(rebooted, user, ["Archive", "Trash"]));
    } finally {
      await rebooted.stop();
    }
    return { operations: card.operations, cut: card.cut, recoveryOperations, ...verify(record, card, served, folders, dir) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A message with a Message-ID, some dot-led lines and 8-bit bytes, about `bytes` long. */
export function workloadMessage(id: string, to: string[], bytes: number): { id: string; to: string[]; body: Buffer } {
  let text = `From: sender@remote.example\r\nTo: ${to.join(", ")}\r\nSubject: ${id}\r\nMessage-ID: <${id}>\r\n\r\n`;
  for (let i = 0; text.length < bytes; i++) {
    text += (i % 5 === 0 ? "." : "") + `line ${i} of ${id} \xe9\xfc` + "x".repeat(i % 40) + "\r\n";
  }
  return { id, to, body: Buffer.from(text, "latin1") };
}
