/**
 * A private Dovecot instance serving IMAP, POP3 and LMTP on loopback, for the
 * real-client IMAP suite (run against it with LETTERBOX_IMAP_TARGET=dovecot,
 * to tell a client's or the harness's fault from the box's) and for the IMAP
 * bench. Its own configuration, state and mail live under one directory;
 * nothing system-wide is started, and stop() leaves no daemon running.
 *
 * It is set up like the box: "/" as hierarchy delimiter (Maildir LAYOUT=fs),
 * Sent, Drafts, Trash, Junk and Archive created for every user with their
 * SPECIAL-USE flags, logins by full address (the domain is dropped), no TLS.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort } from "../../sim/net";

/** The uid/gid the mail belongs to (Dovecot acts as it). */
const MAIL_UID = 65534;
const MAIL_GID = 65534;

export const SPECIAL_FOLDERS: [string, string][] = [
  ["Sent", "\\Sent"],
  ["Drafts", "\\Drafts"],
  ["Trash", "\\Trash"],
  ["Junk", "\\Junk"],
  ["Archive", "\\Archive"],
];

export interface DovecotUser {
  name: string;
  password: string;
}

export interface Dovecot {
  imapPort: number;
  pop3Port: number;
  lmtpPort: number;
  /** Where user `name`'s Maildir tree is. */
  mailDir(name: string): string;
  /** "Dovecot 2.3.19.1 (...)" */
  version: string;
  stop(): void;
}

export function dovecotConf(dir: string, users: string, ports: { imap: number; pop3: number; lmtp: number }): string {
  const folders = SPECIAL_FOLDERS.map(([name, use]) => `  mailbox ${name} {\n    special_use = ${use}\n    auto = subscribe\n  }\n`).join("");
  return privateDovecotConf({
    purpose: "Private Dovecot instance (test/helpers/dovecot.ts).",
    dir,
    prefix: "",
    protocols: "imap pop3 lmtp",
    mechanisms: "plain login",
    layout: ":LAYOUT=fs",
    users,
    ports,
    extra: `namespace inbox {\n  inbox = yes\n  separator = /\n${folders}}\nprotocol lmtp {\n  postmaster_address = postmaster@test.example\n}\n`,
  });
}

/** What a private Dovecot's configuration varies in (privateDovecotConf). */
export interface PrivateDovecotOptions {
  /** The file's first line, a comment: whose instance it is. */
  purpose: string;
  /** Its directory: run and state directories (named `prefix` + run/state), log, mail (mail/NAME, Maildir). */
  dir: string;
  prefix: string;
  protocols: string;
  mechanisms: string;
  /** Appended to the Maildir location (":LAYOUT=fs" for "/" as hierarchy delimiter), or "". */
  layout: string;
  /** The passwd-file (NAME:{PLAIN}PASSWORD lines). */
  users: string;
  /** Loopback listeners; 0: none. LMTP always has its unix socket. */
  ports: { imap: number; pop3: number; lmtp?: number };
  /** More configuration, at the end. */
  extra?: string;
}

/**
 * A Dovecot configuration that keeps to itself: its state, log and mail
 * under `dir`, listeners on loopback only (no TLS, no submission), plain
 * passwords from a passwd-file, mail owned by MAIL_UID. The tests' instance
 * (above) and the POP3 bench's (bench/reference.ts) are both this.
 */
export function privateDovecotConf(o: PrivateDovecotOptions): string {
  const listener = (name: string, port: number) => `  inet_listener ${name} {\n${port ? `    address = 127.0.0.1\n    port = ${port}` : "    port = 0"}\n  }\n`;
  const lmtp = o.ports.lmtp ? listener("lmtp", o.ports.lmtp) : "";
  return `# ${o.purpose}
base_dir = ${path.join(o.dir, o.prefix + "run")}
state_dir = ${path.join(o.dir, o.prefix + "state")}
log_path = ${path.join(o.dir, "dovecot.log")}
protocols = ${o.protocols}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = ${o.mechanisms}
mail_location = maildir:${path.join(o.dir, "mail")}/%n${o.layout}
first_valid_uid = ${MAIL_UID}
first_valid_gid = ${MAIL_GID}
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n ${o.users}
}
userdb {
  driver = static
  args = uid=${MAIL_UID} gid=${MAIL_GID} home=${path.join(o.dir, "mail")}/%n
}
service imap-login {
${listener("imap", o.ports.imap)}${listener("imaps", 0)}}
service pop3-login {
${listener("pop3", o.ports.pop3)}${listener("pop3s", 0)}}
service submission-login {
${listener("submission", 0)}}
service lmtp {
${lmtp}  unix_listener lmtp {
    mode = 0600
  }
}
${o.extra || ""}`;
}

/**
 * Starts Dovecot with the users given (every one may log in as name or as
 * name@any-domain). `dir` is created; the directories above it are opened to
 * others so that Dovecot's unprivileged processes can reach it.
 */
export async function startDovecot(dir: string, users: DovecotUser[]): Promise<Dovecot> {
  if (!fs.existsSync("/usr/sbin/dovecot") || !fs.existsSync("/usr/lib/dovecot/imap")) {
    throw new Error("Dovecot's IMAP server is not installed (Debian: dovecot-imapd, dovecot-pop3d, dovecot-lmtpd)");
  }
  fs.mkdirSync(dir, { recursive: true });
  for (let d = dir; d !== path.dirname(d) && d.startsWith("/tmp/"); d = path.dirname(d)) fs.chmodSync(d, 0o755);
  const mail = path.join(dir, "mail");
  fs.mkdirSync(mail, { recursive: true });
  fs.chownSync(mail, MAIL_UID, MAIL_GID);
  const usersFile = path.join(dir, "users");
  fs.writeFileSync(usersFile, users.map((u) => `${u.name}:{PLAIN}${u.password}\n`).join(""));
  const ports = { imap: await freePort(), pop3: await freePort(), lmtp: await freePort() };
  const conf = path.join(dir, "dovecot.conf");
  fs.writeFileSync(conf, dovecotConf(dir, usersFile, ports));
  // Output to a file, not a pipe: the daemon it leaves behind would hold a pipe open.
  const outFile = path.join(dir, "start.out");
  const out = fs.openSync(outFile, "a");
  const started = spawnSync("/usr/sbin/dovecot", ["-c", conf], { stdio: ["ignore", out, out] });
  fs.closeSync(out);
  if (started.status !== 0) throw new Error(`dovecot failed to start:\n${fs.readFileSync(outFile, "utf8")}`);
  const version = spawnSync("/usr/sbin/dovecot", ["--version"], { encoding: "utf8" }).stdout.trim();
  await waitForListeners([ports.imap, ports.pop3, ports.lmtp]);
  return {
    imapPort: ports.imap,
    pop3Port: ports.pop3,
    lmtpPort: ports.lmtp,
    mailDir: (name) => path.join(mail, name),
    version: `Dovecot ${version}`,
    stop: () => void spawnSync("doveadm", ["-c", conf, "stop"], { stdio: "ignore" }),
  };
}

async function waitForListeners(ports: number[]): Promise<void> {
  const net = await import("node:net");
  const deadline = Date.now() + 20000;
  for (const port of ports) {
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`Dovecot: nothing listens on 127.0.0.1:${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
