/**
 * Real mail clients driven from tests: swaks, msmtp, curl, Python's smtplib
 * and poplib, fetchmail, getmail6, mpop and a private Postfix instance. Every
 * helper talks to 127.0.0.1 only and works in its own scratch directory, and
 * every POP3 client logs in with the account's `login` (a full address).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../sim/net";
import { ROOT } from "../helpers/fixtures";

const run = promisify(execFile);
const SCRIPTS = path.join(ROOT, "test/interop");
const TIMEOUT_MS = 60000;

export async function command(file: string, args: string[], options: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<Buffer> {
  const child = run(file, args, { encoding: "buffer", timeout: TIMEOUT_MS, env: options.env || process.env, maxBuffer: 64 << 20 });
  if (options.input) {
    child.child.stdin!.end(options.input);
  }
  try {
    return (await child).stdout;
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${err.message}\n${err.stdout?.toString() ?? ""}${err.stderr?.toString() ?? ""}`);
  }
}

export interface Account {
  /** The user's name in the box's configuration. */
  user: string;
  /** What the client types as its user name: the full address, as mail clients fill it in. */
  login: string;
  password: string;
}

// ---- senders ----

export interface SwaksOptions {
  /** The whole message from a file (swaks --data @file); otherwise swaks writes one. */
  dataFile?: string;
  /** A file to attach (swaks builds a multipart message). */
  attach?: string;
  body?: string;
}

/**
 * Sends with swaks and returns the message exactly as swaks put it on the
 * wire (read back from its --show-raw-text hex dump, dot-unstuffed).
 */
export async function swaksSend(port: number, from: string, to: string[], options: SwaksOptions): Promise<string> {
  const args = ["--server", "127.0.0.1", "--port", String(port), "--from", from, "--to", to.join(","), "--helo", "swaks.client.example"];
  if (options.dataFile) args.push("--data", "@" + options.dataFile);
  if (options.attach) args.push("--attach", options.attach);
  if (options.body) args.push("--body", options.body);
  args.push("--show-raw-text", "--hide-receive", "--hide-informational", "--timeout", "20");
  const transcript = (await command("swaks", args)).toString("latin1");
  let wire = "";
  for (const line of transcript.split("\n")) {
    const m = /^ {2}> \d{4}: (.*)$/.exec(line);
    if (!m) continue;
    const hexPart = m[1].split(/ {3,}/)[0];
    for (const byte of hexPart.trim().split(/ +/)) wire += String.fromCharCode(parseInt(byte, 16));
  }
  const start = wire.indexOf("\r\nDATA\r\n");
  const end = wire.lastIndexOf("\r\n.\r\n");
  if (start < 0 || end < start) throw new Error(`no DATA in the swaks transcript:\n${transcript}`);
  return wire.slice(start + 8, end + 2).replace(/(^|\r\n)\./g, "$1");
}

export async function curlSend(port: number, from: string, to: string[], message: string, scratch: string): Promise<void> {
  const file = path.join(scratch, "curl-upload.eml");
  fs.writeFileSync(file, message, "latin1");
  const args = ["-sS", "--url", `smtp://127.0.0.1:${port}`, "--mail-from", from];
  for (const r of to) args.push("--mail-rcpt", r);
  args.push("--upload-file", file);
  await command("curl", args);
}

/** msmtp with its defaults for a server without TLS or AUTH; it adds a Message-ID when the message has none. */
export async function msmtpSend(port: number, from: string, to: string[], message: string): Promise<void> {
  const args = ["--host=127.0.0.1", `--port=${port}`, "--domain=msmtp.client.example", "--auth=off", "--tls=off", `--from=${from}`, "--", ...to];
  await command("msmtp", args, { input: Buffer.from(message, "latin1") });
}

export async function smtplibSend(port: number, from: string, to: string[], message: string): Promise<void> {
  await command("python3", [path.join(SCRIPTS, "smtp_send.py"), "--port", String(port), "--sender", from, ...to], {
    input: Buffer.from(message, "latin1"),
  });
}

// ---- retrievers ----

export interface PoplibResult {
  count: number;
  octets: number;
  sizes: { [n: string]: number };
  uids: { [n: string]: string };
  messages: string[];
}

export async function poplibFetch(port: number, account: Account, options: { apop?: boolean; delete?: boolean }, scratch: string): Promise<PoplibResult> {
  const out = fs.mkdtempSync(path.join(scratch, "poplib-"));
  const args = [path.join(SCRIPTS, "pop3_fetch.py"), "--port", String(port), "--user", account.login, "--password", account.password, "--outdir", out];
  if (options.apop) args.push("--apop");
  if (options.delete) args.push("--delete");
  const result = JSON.parse((await command("python3", args)).toString()) as PoplibResult;
  result.messages = [];
  for (let n = 1; n <= result.count; n++) result.messages.push(fs.readFileSync(path.join(out, `${n}.eml`), "latin1"));
  return result;
}

/** curl pop3://host/ lists "n size" lines; pop3://host/n retrieves message n. */
export async function curlPop(port: number, account: Account, message?: number): Promise<string> {
  const url = `pop3://127.0.0.1:${port}/${message === undefined ? "" : message}`;
  return (await command("curl", ["-sS", "--user", `${account.login}:${account.password}`, url])).toString("latin1");
}

/**
 * fetchmail in keep or no-keep mode, delivering each message to an MDA that
 * stores it in a file. Returns the messages in retrieval order.
 */
export async function fetchmail(port: number, account: Account, keep: boolean, scratch: string): Promise<string[]> {
  return runFetchmail(scratch, (mda) => [
    "set no syslog",
    "set no bouncemail",
    `poll 127.0.0.1 service ${port} protocol pop3 auth password timeout 20 uidl`,
    `  user "${account.login}" there with password "${account.password}" is "root" here`,
    `  ${keep ? "keep" : "nokeep"} fetchall no rewrite sslproto '' mda "${mda}"`,
  ]);
}

/**
 * fetchmail with the configuration README.md shows (its "poll" block, for
 * letterbox.home.arpa), pointed at the simulator: only the host, the port,
 * the name and password change, and an MDA is added, since fetchmail's
 * default delivery (to an SMTP server on port 25) has nowhere to go here.
 */
export async function fetchmailAsInReadme(port: number, account: Account, scratch: string): Promise<string[]> {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const block = /```\n(poll letterbox\.home\.arpa [^`]*)```/.exec(readme);
  if (!block) throw new Error("README.md shows no fetchmail configuration (a code block starting with poll letterbox.home.arpa)");
  const lines = block[1].trimEnd().split("\n");
  const rc = lines
    .map((l) =>
      l.replace("poll letterbox.home.arpa ", `poll 127.0.0.1 service ${port} `).replace('"alice@home.arpa"', `"${account.login}"`).replace('"alice-demo"', `"${account.password}"`),
    )
    .join("\n");
  if (rc === lines.join("\n") || !rc.includes(account.login) || !rc.includes(account.password)) throw new Error(`cannot adapt README's fetchmail configuration:\n${block[1]}`);
  return runFetchmail(scratch, (mda) => [rc, `  mda "${mda}"`]);
}

/** Runs fetchmail once with the rc lines `rc(mda)` gives; returns what the MDA stored, in retrieval order. */
export async function runFetchmail(scratch: string, rcLines: (mda: string) => string[]): Promise<string[]> {
  const home = fs.mkdtempSync(path.join(scratch, "fetchmail-"));
  const out = path.join(home, "out");
  fs.mkdirSync(out);
  const rc = path.join(home, "fetchmailrc");
  // A script, not a command line: fetchmail expands %s, %T and %F in its mda option ("%s%N" became
  // "root" plus the nanoseconds, so files sorted out of order whenever a second went by).
  const mda = path.join(home, "mda.sh");
  fs.writeFileSync(mda, `#!/bin/sh\ncat > ${out}/$(date +%s%N).eml\n`, { mode: 0o755 });
  fs.writeFileSync(rc, rcLines(mda).join("\n") + "\n");
  fs.chmodSync(rc, 0o600); // fetchmail refuses an rc file others can read
  await command("fetchmail", ["-f", rc, "--idfile", path.join(home, "ids"), "--pidfile", path.join(home, "pid"), "--invisible", "--nodetach"], {
    env: { ...process.env, FETCHMAILHOME: home, HOME: home },
  });
  return fs.readdirSync(out).sort().map((f) => fs.readFileSync(path.join(out, f), "latin1"));
}

/** getmail6 over POP3 into a Maildir, deleting what it read. */
export async function getmail(port: number, account: Account, scratch: string): Promise<string[]> {
  return runGetmail(scratch, ["type = SimplePOP3Retriever", "server = 127.0.0.1", `port = ${port}`, `username = ${account.login}`, `password = ${account.password}`], true);
}

/**
 * Runs getmail6 once with these [retriever] lines into a fresh Maildir,
 * delivered as user nobody (getmail will not deliver as root); deletes what
 * it read when `remove`. Returns the messages it delivered, in name order.
 */
export async function runGetmail(scratch: string, retriever: string[], remove: boolean): Promise<string[]> {
  const home = fs.mkdtempSync(path.join(scratch, "getmail-"));
  openToOthers(home, scratch);
  const maildir = path.join(home, "Maildir");
  for (const sub of ["cur", "new", "tmp"]) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
  for (const d of [maildir, ...["cur", "new", "tmp"].map((s) => path.join(maildir, s))]) fs.chownSync(d, 65534, 65534);
  fs.writeFileSync(
    path.join(home, "getmailrc"),
    [
      "[retriever]",
      ...retriever,
      "",
      "[destination]",
      "type = Maildir",
      `path = ${maildir}/`,
      "user = nobody",
      "",
      "[options]",
      "read_all = true",
      `delete = ${remove}`,
      "delivered_to = false",
      "received = false",
      "",
    ].join("\n"),
  );
  await command("getmail", ["--rcfile", "getmailrc", "--getmaildir", home, "--quiet"]);
  const dir = path.join(maildir, "new");
  return fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f), "latin1"));
}

/**
 * mpop (USER/PASS or APOP, TLS off as the box has none), delivering to an MDA
 * that stores each message in a file, with mpop's own Received header turned
 * off. mpop hands the MDA Unix line endings. Deletes what it retrieved unless
 * `keep`. Returns the messages in retrieval order.
 */
export async function mpop(port: number, account: Account, options: { apop?: boolean; keep?: boolean }, scratch: string): Promise<string[]> {
  const home = fs.mkdtempSync(path.join(scratch, "mpop-"));
  const out = path.join(home, "out");
  fs.mkdirSync(out);
  const rc = path.join(home, "mpoprc");
  fs.writeFileSync(
    rc,
    [
      "account default",
      "host 127.0.0.1",
      `port ${port}`,
      `user ${account.login}`,
      `password ${account.password}`,
      "tls off",
      `auth ${options.apop ? "apop" : "user"}`,
      "timeout 20",
      "received_header off",
      `uidls_file ${home}/uidls`,
      `delivery mda "/bin/sh -c 'cat > ${out}/$(date +%s%N).eml'"`,
      `keep ${options.keep ? "on" : "off"}`,
      "",
    ].join("\n"),
  );
  fs.chmodSync(rc, 0o600); // mpop refuses a file with a password that others can read
  await command("mpop", ["-C", rc, "--quiet", "default"], { env: { ...process.env, HOME: home } });
  return fs.readdirSync(out).sort().map((f) => fs.readFileSync(path.join(out, f), "latin1"));
}

/** Lets other users (nobody, postfix) traverse from `scratch` down to `dir` (temp dirs are 0700). */
export function openToOthers(dir: string, scratch: string): void {
  for (let d = dir; d.startsWith(scratch); d = path.dirname(d)) fs.chmodSync(d, 0o755);
}

// ---- Postfix ----


/**
 * A private Postfix instance: its own config, queue and data directories,
 * listening on 127.0.0.1:`port` only, relaying the test domains to the
 * simulator's SMTP port. The system's own Postfix (if any) is left alone.
 */
export class PrivatePostfix {
  private constructor(private configDir: string, public port: number) {}

  static async start(scratch: string, domains: string[], relayPort: number): Promise<PrivatePostfix> {
    const base = fs.mkdtempSync(path.join(scratch, "postfix-"));
    openToOthers(base, scratch); // the postfix user's daemons work in the queue below
    const configDir = path.join(base, "etc");
    const queue = path.join(base, "queue");
    const data = path.join(base, "data");
    for (const d of [configDir, queue, data]) fs.mkdirSync(d);
    fs.chownSync(data, uidOf("postfix"), 0);
    const port = await freePort();
    const routes = domains.map((d) => `${d}=smtp:[127.0.0.1]:${relayPort}`).join(", ");
    fs.writeFileSync(
      path.join(configDir, "main.cf"),
      [
        "compatibility_level = 3.6",
        `queue_directory = ${queue}`,
        `data_directory = ${data}`,
        "myhostname = relay.test.example",
        "mydomain = test.example",
        "mydestination =",
        "inet_interfaces = 127.0.0.1",
        "inet_protocols = ipv4",
        "mynetworks = 127.0.0.0/8",
        `relay_domains = ${domains.join(" ")}`,
        `transport_maps = inline:{ ${routes} }`,
        "smtp_dns_support_level = disabled",
        "smtpd_tls_security_level = none",
        "smtp_tls_security_level = none",
        "alias_maps =",
        "alias_database =",
        "local_recipient_maps =",
        "biff = no",
        "",
      ].join("\n"),
    );
    // The packaged master.cf (present whatever the package's debconf answers were).
    fs.copyFileSync("/usr/share/postfix/master.cf.dist", path.join(configDir, "master.cf"));
    const postconf = (...args: string[]) => command("postconf", ["-c", configDir, ...args]);
    // No listener on port 25: only our own port; no chroot (the queue is a temp dir).
    await postconf("-M#", "smtp/inet");
    await postconf("-Me", `127.0.0.1:${port}/inet=127.0.0.1:${port} inet n - n - - smtpd`);
    await postconf("-F", "*/*/chroot=n");
    await command("postfix", ["-c", configDir, "start"]);
    return new PrivatePostfix(configDir, port);
  }

  async stop(): Promise<void> {
    await command("postfix", ["-c", this.configDir, "stop"]);
  }
}

function uidOf(user: string): number {
  const line = fs.readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith(user + ":"));
  if (!line) throw new Error(`no ${user} user: is the postfix package installed?`);
  return Number(line.split(":")[2]);
}

// ---- comparing ----

/**
 * The message without the box's own trace headers (Return-Path, and its
 * Received header with the folded continuation lines), which must be there.
 */
export function withoutBoxTrace(message: string, lineEnding = "\r\n"): string {
  const eol = lineEnding === "\n" ? "\\n" : "\\r\\n";
  const trace = new RegExp(`^Return-Path: <[^>]*>${eol}Received: [^\\r\\n]*${eol}(?:[ \\t][^\\r\\n]*${eol})*`);
  const m = trace.exec(message);
  if (!m || !m[0].includes("by mx.test.example (letterbox)")) {
    throw new Error(`the box's trace headers are missing:\n${message.slice(0, 400)}`);
  }
  return message.slice(m[0].length);
}
