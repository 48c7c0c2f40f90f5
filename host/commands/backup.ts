/**
 * `letterbox backup --out DIR`: every mailbox into a Maildir on this computer
 * (DIR/<user>/{tmp,new,cur}), each message checked against the board's size
 * and Adler-32 before it is moved into cur/. Messages already there are kept.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import type { DeviceClient } from "../serial/client";
import { adlerHex } from "./provision";
import { action, connect, PortOptions, withPortOptions } from "./common";
import { plural } from "../words";

interface MessageInfo {
  id: string;
  size: number;
}

/** Bytes asked for per read (the board sends at most 768). */
const READ_LENGTH = 768;

export class VerifyError extends Error {}

async function listMessages(client: DeviceClient, user: string): Promise<MessageInfo[]> {
  const all: MessageInfo[] = [];
  for (let start = 0; start >= 0; ) {
    const { map } = await client.request("msgs.list", { user, start });
    all.push(...(map.messages as MessageInfo[]));
    start = Number(map.next);
  }
  return all;
}

/** A Maildir file name for a message: its id (made safe) and size. */
export function maildirName(msg: MessageInfo): string {
  return `${msg.id.replace(/[^A-Za-z0-9._-]/g, "_")},S=${msg.size}:2,`;
}

async function download(client: DeviceClient, user: string, msg: MessageInfo, onBytes: (n: number) => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < msg.size) {
    const { data } = await client.request("msgs.read", { user, msg: msg.id, offset, length: READ_LENGTH });
    if (!data || data.length === 0) throw new VerifyError(`${user}/${msg.id}: the board sent no data at byte ${offset}`);
    parts.push(data);
    offset += data.length;
    onBytes(data.length);
  }
  return Buffer.concat(parts);
}

export interface BackupResult {
  mailboxes: number;
  downloaded: number;
  kept: number;
  bytes: number;
}

/** Saves every mailbox (or the mailboxes of `only`) into Maildirs under `out`, each message verified. */
export async function backup(client: DeviceClient, out: string, showProgress: boolean, only?: string[]): Promise<BackupResult> {
  const { map } = await client.request("users.list");
  // Mail left on the card by users no longer configured is saved too.
  const users = [...(map.users as string[]), ...((map.orphans as string[] | undefined) || [])].filter((u) => !only || only.includes(u));
  const plan: { user: string; msg: MessageInfo }[] = [];
  for (const user of users) for (const msg of await listMessages(client, user)) plan.push({ user, msg });
  const total = plan.reduce((n, p) => n + p.msg.size, 0);
  const bar = new SingleBar({ format: "backup [{bar}] {percentage}% | {value}/{total} bytes | {file}", stream: process.stderr }, Presets.shades_classic);
  if (showProgress) bar.start(total, 0, { file: "" });
  const result: BackupResult = { mailboxes: users.length, downloaded: 0, kept: 0, bytes: 0 };
  try {
    for (const user of users) for (const sub of ["tmp", "new", "cur"]) fs.mkdirSync(path.join(out, user, sub), { recursive: true });
    for (const { user, msg } of plan) {
      if (showProgress) bar.update({ file: `${user}/${msg.id}` });
      const { map: sum } = await client.request("msgs.sum", { user, msg: msg.id });
      const final = path.join(out, user, "cur", maildirName(msg));
      if (fs.existsSync(final)) {
        const have = fs.readFileSync(final);
        if (have.length === sum.size && adlerHex(have) === sum.adler32) {
          result.kept++;
          if (showProgress) bar.increment(msg.size);
          continue;
        }
      }
      const data = await download(client, user, msg, (n) => showProgress && bar.increment(n));
      if (data.length !== sum.size || data.length !== msg.size) {
        throw new VerifyError(`${user}/${msg.id}: got ${data.length} bytes, the board has ${sum.size}`);
      }
      if (adlerHex(data) !== sum.adler32) throw new VerifyError(`${user}/${msg.id}: checksum differs from the board's`);
      const tmp = path.join(out, user, "tmp", maildirName(msg));
      fs.writeFileSync(tmp, data);
      fs.renameSync(tmp, final);
      result.downloaded++;
      result.bytes += data.length;
    }
  } finally {
    if (showProgress) bar.stop();
  }
  return result;
}

export function registerBackup(program: Command): void {
  withPortOptions(program.command("backup").description("Download every mailbox into Maildirs on this computer, verified by size and checksum."))
    .requiredOption("-o, --out <dir>", "directory for the Maildirs (one per user)")
    .option("--no-progress", "no progress bar")
    .action(
      action(async (opts: PortOptions & { out: string; progress: boolean }) => {
        const client = await connect(opts);
        try {
          const r = await backup(client, path.resolve(opts.out), opts.progress && process.stderr.isTTY === true);
          console.log(
            `backed up ${plural(r.mailboxes, "mailbox", "mailboxes")} into ${opts.out}: ${plural(r.downloaded, "message")} downloaded (${plural(r.bytes, "byte")}), ${r.kept} already there; all verified`,
          );
        } finally {
          await client.close();
        }
      }),
    );
}
