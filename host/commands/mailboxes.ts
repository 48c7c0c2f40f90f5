/**
 * Mail that a change of users would leave behind: a user removed while mail
 * is still on the card keeps it there, unreachable by POP3. provision and
 * `users remove` refuse such a change unless told to delete that mail
 * (after the user was offered a backup); status and backup show and save it.
 */
import * as path from "node:path";
import type { DeviceClient } from "../serial/client";
import { backup } from "./backup";
import { plural } from "../words";

export interface Mailbox {
  user: string;
  messages: number;
  bytes: number;
  /** Mail of a user no longer configured. */
  orphaned?: boolean;
}

/** Every mailbox on the board; throws when the card cannot be read, since then no one can tell whose mail is there. */
export async function mailboxes(client: DeviceClient): Promise<Mailbox[]> {
  const { map } = await client.request("status");
  const unreadable = (map.errors as string[]).some((e) => /cannot read the card/.test(e)) || map.cardError !== undefined;
  if (unreadable) {
    throw new MailWouldBeOrphaned("the board cannot read its card, so no one can tell whose mail is on it. Nothing was changed: put the card back (or fix it) and try again.");
  }
  return map.mailboxes as Mailbox[];
}

/** "alice: 3 messages (12345 bytes)" */
export function describeMailbox(m: Mailbox): string {
  return `${m.user}: ${plural(m.messages, "message")} (${plural(m.bytes, "byte")})`;
}

/** Thrown when a change would leave mail without its user: exit code 1, nothing changed. */
export class MailWouldBeOrphaned extends Error {}

/**
 * Refuses unless `allowed`: the mailboxes of users `keeps` leaves out that
 * still hold mail. Returns them (to delete once the change is committed).
 */
export function checkOrphans(all: Mailbox[], keeps: (user: string) => boolean, what: string, option: string, allowed: boolean): Mailbox[] {
  const losing = all.filter((m) => m.messages > 0 && !keeps(m.user));
  if (losing.length === 0 || allowed) return losing;
  throw new MailWouldBeOrphaned(
    [
      `${what} would leave mail on the card that no user can reach:`,
      ...losing.map((m) => `  ${describeMailbox(m)}${m.orphaned ? ", already not a user" : ""}`),
      `Nothing was changed. Either keep these users, or run again with ${option}: their mail is then saved`,
      `in ${REMOVED_MAIL_DIR}/ (Maildirs; --save-removed-mail DIR to choose) and deleted from the board, so that no one given the name later gets it.`,
    ].join("\n"),
  );
}

/**
 * Refuses unless `allowed`: new users named like a removed user whose mail
 * is still on the card would get that mail.
 */
export function checkInheritance(all: Mailbox[], added: (user: string) => boolean, what: string, option: string, allowed: boolean): void {
  const inherited = all.filter((m) => m.orphaned && m.messages > 0 && added(m.user));
  if (inherited.length === 0 || allowed) return;
  throw new MailWouldBeOrphaned(
    [
      `${what} would give the mail of an earlier user of the same name to the new one:`,
      ...inherited.map((m) => `  ${describeMailbox(m)}`),
      "Nothing was changed. If it is the same person, run again with --keep-old-mail. Otherwise save that mail",
      `(letterbox backup --out DIR) and delete it (letterbox users remove NAME --delete-mail) first.`,
    ].join("\n"),
  );
}

/** Where the mail of removed users is saved before it is deleted, unless told otherwise. */
export const REMOVED_MAIL_DIR = "letterbox-removed-mail";

/**
 * Deletes the mail of users no longer configured (msgs.delete), once the
 * change that removed them is committed: after saving it into Maildirs
 * under `saveDir` (as `letterbox backup` does, verified), so nothing is lost
 * by a slip of the option either.
 */
export async function deleteMail(client: DeviceClient, losing: Mailbox[], saveDir: string): Promise<void> {
  if (losing.length === 0) return;
  await backup(client, path.resolve(saveDir), false, losing.map((m) => m.user));
  for (const m of losing) {
    await client.request("msgs.delete", { user: m.user });
    console.log(`saved the mail of ${describeMailbox(m)} in ${path.join(saveDir, m.user)}, then deleted it from the board`);
  }
}
