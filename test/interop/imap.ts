/**
 * Real IMAP clients driven from tests: imapflow (in this process), Python's
 * imaplib (a script of calls), mbsync (isync), offlineimap (offlineimap3),
 * curl imap://, fetchmail and getmail6. Every helper talks to 127.0.0.1 only,
 * logs in with the account's `login` (a full address), works in its own
 * scratch directory and runs with TLS off (the box has none).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ImapFlow } from "imapflow";
import { ROOT } from "../helpers/fixtures";
import { Account, command, runFetchmail, runGetmail } from "./clients";

const SCRIPTS = path.join(ROOT, "test/interop");

// ---- imapflow ----

/**
 * A logged-in imapflow client. LETTERBOX_IMAP_DEBUG=1 prints its protocol
 * log (what was sent and received) to stderr.
 */
export async function imapflow(port: number, account: Account, options: { autoIdleDelay?: number } = {}): Promise<ImapFlow> {
  const debug = process.env.LETTERBOX_IMAP_DEBUG
    ? { debug: () => {}, info: () => {}, warn: (o: object) => console.error("imapflow", o), error: (o: object) => console.error("imapflow", o), trace: (o: object) => console.error("imapflow", o) }
    : false;
  const client = new ImapFlow({
    host: "127.0.0.1",
    port,
    secure: false,
    auth: { user: account.login, pass: account.password },
    logger: debug,
    // The greeting and each command within these, or the test fails rather than hangs.
    connectionTimeout: 20000,
    greetingTimeout: 20000,
    socketTimeout: 120000,
    // imapflow goes into IDLE on its own once it has been idle this long (its default: 15 s).
    ...options,
  });
  client.on("error", () => {}); // a dropped connection fails the awaited call; no unhandled 'error'
  await client.connect();
  return client;
}

// ---- Python's imaplib ----

export type ImaplibData = string | Buffer | null | ImaplibData[];

export interface ImaplibResult {
  capabilities: string[];
  /** Per op: imaplib's (type, data), bytes as Buffers. */
  results: [string, ImaplibData[]][];
}

/** An op: an imaplib.IMAP4 method and its arguments (Buffers are passed as bytes). */
export type ImaplibOp = [string, ...(string | boolean | Buffer | null)[]];

function decodeData(v: unknown): ImaplibData {
  if (Array.isArray(v)) return v.map(decodeData);
  if (v && typeof v === "object" && "b" in v) return Buffer.from((v as { b: string }).b, "base64");
  return v as string | null;
}

/** Logs in (LOGIN) and runs the ops with imaplib (test/interop/imap_ops.py), then logs out. */
export async function imaplib(port: number, account: Account, ops: ImaplibOp[]): Promise<ImaplibResult> {
  const all: ImaplibOp[] = [["login", account.login, account.password], ...ops, ["logout"]];
  const input = JSON.stringify({ port, ops: all.map((op) => op.map((a) => (Buffer.isBuffer(a) ? { b: a.toString("base64") } : a))) });
  const out = JSON.parse((await command("python3", [path.join(SCRIPTS, "imap_ops.py")], { input: Buffer.from(input) })).toString());
  const results = (out.results as [string, unknown][]).map(([typ, data]) => [typ, decodeData(data) as ImaplibData[]] as [string, ImaplibData[]]);
  return { capabilities: out.capabilities, results: results.slice(1, -1) };
}

// ---- Maildirs (mbsync, offlineimap, getmail) ----

export interface MaildirMessage {
  /** The file's path. */
  file: string;
  /** The Maildir flags after ":2," (e.g. "FS"). */
  flags: string;
  content: string;
}

/**
 * Every Maildir folder under `root` (a directory holding cur/, new/, tmp/),
 * by its path relative to root ("" for root itself), messages sorted by content.
 */
export function readMaildirs(root: string): { [folder: string]: MaildirMessage[] } {
  const out: { [folder: string]: MaildirMessage[] } = {};
  const walk = (dir: string) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    const names = entries.map((e) => e.name);
    if (names.includes("cur") && names.includes("new")) {
      const messages: MaildirMessage[] = [];
      for (const sub of ["new", "cur"]) {
        for (const f of fs.readdirSync(path.join(dir, sub))) {
          const file = path.join(dir, sub, f);
          const i = f.indexOf(":2,");
          messages.push({ file, flags: i >= 0 ? f.slice(i + 3) : "", content: fs.readFileSync(file, "latin1") });
        }
      }
      out[path.relative(root, dir)] = messages.sort((a, b) => (a.content < b.content ? -1 : a.content > b.content ? 1 : 0));
    }
    for (const e of entries) if (e.isDirectory() && !["cur", "new", "tmp"].includes(e.name) && !e.name.startsWith(".")) walk(path.join(dir, e.name));
  };
  walk(root);
  return out;
}

let maildirCounter = 0;

/** Writes a message into a Maildir folder (created when missing) with the Maildir flags given ("" = new/). */
export function putMaildirMessage(folderDir: string, content: string, flags: string): string {
  for (const sub of ["cur", "new", "tmp"]) fs.mkdirSync(path.join(folderDir, sub), { recursive: true });
  const base = `${Date.now()}.P${process.pid}Q${++maildirCounter}.test.example`;
  const file = flags ? path.join(folderDir, "cur", `${base}:2,${flags}`) : path.join(folderDir, "new", base);
  fs.writeFileSync(file, content, "latin1");
  return file;
}

/** Renames a Maildir message file to carry `flags` (moving it to cur/); returns the new path. */
export function setMaildirFlags(file: string, flags: string): string {
  const name = path.basename(file);
  const i = name.indexOf(":2,");
  const to = path.join(path.dirname(path.dirname(file)), "cur", (i >= 0 ? name.slice(0, i) : name) + ":2," + flags.split("").sort().join(""));
  fs.renameSync(file, to);
  return to;
}

// ---- mbsync ----

/**
 * mbsync marks every message it copies with an "X-TUID:" header line (its
 * temporary id for finding the copy again, isync's documented behaviour),
 * put at the end of the header on the way up and down: this is the message
 * without it.
 */
export function withoutTuid(message: string): string {
  return message.replace(/^((?:[^\r\n]+\r?\n)*?)X-TUID: [A-Za-z0-9+/]{12}\r?\n/, "$1");
}

/**
 * Syncs every folder of the account both ways with mbsync into the Maildir
 * tree `local` (INBOX in local/INBOX, other folders as nested directories):
 * new messages, flags, deletions (Expunge Both) and new folders (Create
 * Both). Its state (SyncState) stays in the Maildirs, so a second run syncs
 * changes. `pipelineDepth` limits the commands it has in flight (PipelineDepth).
 * Returns mbsync's output.
 */
export async function mbsync(port: number, account: Account, local: string, scratch: string, options: { pipelineDepth?: number } = {}): Promise<string> {
  const home = fs.mkdtempSync(path.join(scratch, "mbsync-"));
  fs.mkdirSync(local, { recursive: true });
  const rc = path.join(home, "mbsyncrc");
  fs.writeFileSync(
    rc,
    [
      "IMAPAccount box",
      "Host 127.0.0.1",
      `Port ${port}`,
      `User ${account.login}`,
      `Pass ${account.password}`,
      // No TLS on the box; mbsync sends LOGIN in the clear only when told it may.
      "SSLType None",
      "AuthMechs LOGIN",
      "Timeout 30",
      // mbsync's default is no limit: it sends APPENDs (with LITERAL+) and FETCHes without waiting.
      ...(options.pipelineDepth ? [`PipelineDepth ${options.pipelineDepth}`] : []),
      "",
      "IMAPStore box-far",
      "Account box",
      "",
      "MaildirStore box-near",
      `Path ${local}/`,
      `Inbox ${local}/INBOX`,
      "SubFolders Verbatim",
      "",
      "Channel box",
      "Far :box-far:",
      "Near :box-near:",
      "Patterns *",
      "Create Both",
      "Remove Both",
      "Expunge Both",
      "CopyArrivalDate yes",
      "SyncState *",
      "",
    ].join("\n"),
  );
  fs.chmodSync(rc, 0o600);
  return (await command("mbsync", ["-c", rc, "-V", "box"], { env: { ...process.env, HOME: home } })).toString();
}

// ---- offlineimap ----

/**
 * One offlineimap run (-o) syncing every folder both ways into the Maildirs
 * under `local`, one directory per folder, "." for the server's "/"
 * (offlineimap's default). Its metadata is kept in `metadata`, so that a
 * later run with the same one syncs changes. (offlineimap 8.0.0 fails a
 * first sync of a folder that has a child, e.g. Archive and Archive/2025,
 * against Dovecot too: "getfolder() asked for a nonexisting folder".)
 */
export async function offlineimap(port: number, account: Account, local: string, metadata: string): Promise<string> {
  fs.mkdirSync(local, { recursive: true });
  fs.mkdirSync(metadata, { recursive: true });
  const rc = path.join(metadata, "offlineimaprc");
  fs.writeFileSync(
    rc,
    [
      "[general]",
      "accounts = box",
      `metadata = ${metadata}`,
      "ui = basic",
      "",
      "[Account box]",
      "localrepository = near",
      "remoterepository = far",
      "",
      "[Repository near]",
      "type = Maildir",
      `localfolders = ${local}`,
      "",
      "[Repository far]",
      "type = IMAP",
      "remotehost = 127.0.0.1",
      `remoteport = ${port}`,
      `remoteuser = ${account.login}`,
      `remotepass = ${account.password}`,
      "ssl = no",
      "starttls = no",
      "auth_mechanisms = PLAIN, LOGIN",
      "maxconnections = 1",
      "",
    ].join("\n"),
  );
  fs.chmodSync(rc, 0o600);
  // offlineimap exits 0 even when a folder failed; its output says so ("ERROR").
  const out = (await command("offlineimap", ["-c", rc, "-o", "-u", "basic"], { env: { ...process.env, HOME: metadata } })).toString();
  if (/ERROR|Traceback/.test(out)) throw new Error(`offlineimap reported an error:\n${out}`);
  return out;
}

// ---- curl ----

/**
 * curl imap://127.0.0.1:port/`urlPath`: without options it fetches what the
 * URL names (a mailbox's listing, or ";UID=n" a message); `request` sends a
 * custom command (after SELECT of the URL's mailbox); `upload` APPENDs the
 * message to the URL's mailbox. Returns what curl writes.
 */
export async function curlImap(port: number, account: Account, urlPath: string, options: { request?: string; upload?: string; scratch?: string } = {}): Promise<string> {
  const args = ["-sS", "--user", `${account.login}:${account.password}`];
  if (options.request) args.push("--request", options.request);
  if (options.upload !== undefined) {
    const file = path.join(options.scratch || "/tmp", `curl-append-${process.pid}-${++maildirCounter}.eml`);
    fs.writeFileSync(file, options.upload, "latin1");
    args.push("--upload-file", file);
  }
  args.push(`imap://127.0.0.1:${port}/${urlPath}`);
  return (await command("curl", args)).toString("latin1");
}

// ---- fetchmail, getmail6 ----

/** fetchmail over IMAP (INBOX), keep or not, into an MDA that stores each message in a file. */
export async function fetchmailImap(port: number, account: Account, keep: boolean, scratch: string): Promise<string[]> {
  return runFetchmail(scratch, (mda) => [
    "set no syslog",
    "set no bouncemail",
    `poll 127.0.0.1 service ${port} protocol imap auth password timeout 20`,
    `  user "${account.login}" there with password "${account.password}" is "root" here`,
    `  ${keep ? "keep" : "nokeep"} fetchall no rewrite sslproto '' mda "${mda}"`,
  ]);
}

/**
 * getmail6's SimpleIMAPRetriever reading INBOX into a Maildir (as user
 * nobody); deletes what it read when `remove`. getmail puts "Return-Path:
 * <unknown>" on top of a message that has no Return-Path (IMAP tells it no
 * envelope sender).
 */
export async function getmailImap(port: number, account: Account, remove: boolean, scratch: string): Promise<string[]> {
  const retriever = ["type = SimpleIMAPRetriever", "server = 127.0.0.1", `port = ${port}`, `username = ${account.login}`, `password = ${account.password}`];
  return runGetmail(scratch, [...retriever, "mailboxes = ('INBOX',)", "record_mailbox = false"], remove);
}
