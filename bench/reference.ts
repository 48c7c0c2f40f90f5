/**
 * The reference mail system: private Postfix and Dovecot instances on
 * loopback, each with its own configuration, queue and state under one
 * scratch directory. Postfix receives for the bench domain into Maildirs
 * (virtual delivery); Dovecot serves those Maildirs over POP3. Nothing
 * system-wide is started, and stop() leaves no daemon running.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BenchUser } from "./setup";
import { privateDovecotConf } from "../test/helpers/dovecot";

/** The uid/gid the delivered mail belongs to (virtual delivery and Dovecot both act as it). */
const MAIL_UID = 65534;
const MAIL_GID = 65534;

export interface ReferenceOptions {
  /** Scratch directory (created); everything the instances write stays in it. */
  dir: string;
  domain: string;
  users: BenchUser[];
  smtpPort: number;
  pop3Port: number;
  maxMessageBytes: number;
}

export interface ReferenceSystem {
  smtpPort: number;
  pop3Port: number;
  /** Messages delivered into the user's Maildir and not yet retrieved-and-deleted. */
  delivered(user: string): number;
  stop(): void;
}

/** Installs Postfix and Dovecot's POP3 server from Debian when missing, without starting the system's daemons. */
export function installReference(log: (line: string) => void): void {
  const missing = ["postfix", "dovecot-pop3d"].filter(
    (p) => spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" }).stdout.indexOf("install ok installed") < 0,
  );
  if (missing.length === 0) return;
  log(`installing ${missing.join(", ")} from Debian`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: "inherit", env });
  // Packages may start the system-wide daemons; the bench wants none of them.
  spawnSync("postfix", ["stop"], { stdio: "ignore" });
  spawnSync("doveadm", ["stop"], { stdio: "ignore" });
}

export function postfixMainCf(o: ReferenceOptions): string {
  const maildirs = o.users.map((u) => `${u.name}@${o.domain}=${u.name}/`).join(", ");
  return `# Private Postfix instance for make bench (bench/reference.ts).
compatibility_level = 3.6
queue_directory = ${path.join(o.dir, "postfix-queue")}
data_directory = ${path.join(o.dir, "postfix-data")}
maillog_file_prefixes = ${o.dir}
maillog_file = ${path.join(o.dir, "postfix.log")}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = reference.${o.domain}
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = no
biff = no
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
message_size_limit = ${o.maxMessageBytes + 65536}
# Let smtpd take mail as fast as it comes: the bench waits for delivery anyway.
in_flow_delay = 0s
virtual_mailbox_domains = ${o.domain}
virtual_mailbox_base = ${path.join(o.dir, "mail")}
virtual_mailbox_maps = inline:{ ${maildirs} }
virtual_uid_maps = static:${MAIL_UID}
virtual_gid_maps = static:${MAIL_GID}
virtual_mailbox_limit = 0
`;
}

export function postfixMasterCf(o: ReferenceOptions): string {
  // Debian's stock services, none chrooted (the scratch directory holds no chroot files).
  return `# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:${o.smtpPort} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

export function dovecotConf(o: ReferenceOptions): string {
  return privateDovecotConf({
    purpose: "Private Dovecot instance for make bench (bench/reference.ts).",
    dir: o.dir,
    prefix: "dovecot-",
    protocols: "pop3",
    mechanisms: "plain",
    layout: "",
    users: path.join(o.dir, "dovecot-users"),
    ports: { imap: 0, pop3: o.pop3Port },
  });
}

/** Counts files in a Maildir's new/ and cur/ (Dovecot moves them from new/ to cur/). */
function maildirCount(maildir: string): number {
  let n = 0;
  for (const sub of ["new", "cur"]) {
    try {
      n += fs.readdirSync(path.join(maildir, sub)).length;
    } catch {
      // not created until the first delivery
    }
  }
  return n;
}

/**
 * Runs a daemon's start command. Its output goes to a file, not a pipe: the
 * daemons it leaves behind would hold a pipe open for ever.
 */
function startDaemon(command: string, args: string[], outputFile: string): void {
  const out = fs.openSync(outputFile, "a");
  let result;
  try {
    result = spawnSync(command, args, { stdio: ["ignore", out, out] });
  } finally {
    fs.closeSync(out);
  }
  if (result.status === 0) return;
  let why = fs.readFileSync(outputFile, "utf8");
  if (command === "postfix") {
    // Without a terminal or syslog, postfix says why only when given a pseudo-terminal.
    why += spawnSync("script", ["-qec", `postfix -c ${args[1]} check`, "/dev/null"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).stdout;
  }
  throw new Error(`${command} ${args.join(" ")} failed:\n${why}`);
}

/** The uid of the postfix user (mail_owner). */
function postfixUser(): number {
  const line = fs.readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postfix:"));
  if (!line) throw new Error("no postfix user in /etc/passwd (is postfix installed?)");
  return Number(line.split(":")[2]);
}

export function startReference(o: ReferenceOptions): ReferenceSystem {
  fs.mkdirSync(o.dir, { recursive: true });
  // Daemons dropping privileges (postfix, nobody, dovenull) must reach their directories.
  fs.chmodSync(o.dir, 0o755);
  const conf = path.join(o.dir, "postfix-conf");
  fs.mkdirSync(conf, { recursive: true });
  fs.writeFileSync(path.join(conf, "main.cf"), postfixMainCf(o));
  fs.writeFileSync(path.join(conf, "master.cf"), postfixMasterCf(o));
  fs.mkdirSync(path.join(o.dir, "postfix-queue"), { mode: 0o755 }); // owned by root, as postfix wants
  const data = path.join(o.dir, "postfix-data");
  fs.mkdirSync(data);
  fs.chownSync(data, postfixUser(), 0);
  const mail = path.join(o.dir, "mail");
  fs.mkdirSync(mail, { recursive: true });
  fs.chownSync(mail, MAIL_UID, MAIL_GID);
  fs.writeFileSync(path.join(o.dir, "dovecot-users"), o.users.map((u) => `${u.name}:{PLAIN}${u.password}\n`).join(""));
  const dovecotFile = path.join(o.dir, "dovecot.conf");
  fs.writeFileSync(dovecotFile, dovecotConf(o));

  startDaemon("postfix", ["-c", conf, "start"], path.join(o.dir, "postfix-start.out"));
  let dovecotStarted = false;
  const stop = () => {
    spawnSync("postfix", ["-c", conf, "stop"], { stdio: "ignore" });
    if (dovecotStarted) spawnSync("doveadm", ["-c", dovecotFile, "stop"], { stdio: "ignore" });
  };
  try {
    startDaemon("dovecot", ["-c", dovecotFile], path.join(o.dir, "dovecot-start.out"));
    dovecotStarted = true;
  } catch (e) {
    stop();
    throw e;
  }
  return {
    smtpPort: o.smtpPort,
    pop3Port: o.pop3Port,
    delivered: (user) => maildirCount(path.join(mail, user)),
    stop,
  };
}
