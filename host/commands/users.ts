/** `letterbox users list|add|passwd|remove`: each change is committed to the board's flash at once. */
import { Command } from "commander";
import { action, connect, PortOptions, readPassword, UsageError, withPortOptions } from "./common";
import { checkInheritance, checkOrphans, deleteMail, mailboxes, REMOVED_MAIL_DIR } from "./mailboxes";
import { DeviceError } from "../serial/client";

const NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
const PASSWORD = /^[\x21-\x7e]{4,128}$/;

function checkName(name: string): void {
  if (!NAME.test(name)) throw new UsageError(`user name "${name}": use 1-32 lower-case letters, digits, . _ - (starting with a letter or digit)`);
}

async function newPassword(): Promise<string> {
  const password = await readPassword("new password");
  if (!PASSWORD.test(password)) throw new UsageError("password: 4 to 128 printable ASCII characters, no spaces");
  return password;
}

export function registerUsers(program: Command): void {
  const users = program
    .command("users")
    .description("List and change the box's users (POP3 logins and mailboxes).")
    .addHelpText("after", "\nPasswords are read from standard input (or asked for on a terminal), never from the command line, and never shown.");

  withPortOptions(users.command("list").description("List the users.")).action(
    action(async (opts: PortOptions) => {
      const client = await connect(opts);
      try {
        const { map } = await client.request("users.list");
        for (const name of map.users as string[]) console.log(name);
        for (const name of (map.orphans as string[] | undefined) || []) console.log(`(${name}: not a user, but mail is on the card; see letterbox status)`);
      } finally {
        await client.close();
      }
    }),
  );

  const change = (op: "add" | "passwd", what: string) => {
    const cmd = withPortOptions(users.command(`${op} <name>`).description(what));
    if (op === "add") cmd.option("--keep-old-mail", "give mail left on the card by a removed user of this name to the new user");
    cmd.action(
      action(async (name: string, opts: PortOptions & { keepOldMail?: boolean }) => {
        checkName(name);
        const password = await newPassword();
        const client = await connect(opts);
        try {
          if (op === "add") checkInheritance(await mailboxes(client), (u) => u === name, `Adding ${name}`, "--keep-old-mail", opts.keepOldMail === true);
          await client.request(`users.${op}`, { name, password });
          console.log(`${op === "add" ? "added" : "changed the password of"} ${name}`);
        } finally {
          await client.close();
        }
      }),
    );
  };
  change("add", "Add a user (reads the password from stdin). Refused when a removed user of that name left mail, unless --keep-old-mail.");
  change("passwd", "Set a user's password (reads it from stdin).");

  withPortOptions(
    users
      .command("remove <name>")
      .description("Remove a user. Refused while the user has mail on the board, unless --delete-mail.")
      .option("--delete-mail", "also delete the user's mail, after saving it (see --save-removed-mail); also for mail left by a removed user")
      .option("--save-removed-mail <dir>", "where that mail is saved first, as Maildirs", REMOVED_MAIL_DIR),
  ).action(
    action(async (name: string, opts: PortOptions & { deleteMail?: boolean; saveRemovedMail: string }) => {
      checkName(name);
      const client = await connect(opts);
      try {
        const losing = checkOrphans(await mailboxes(client), (u) => u !== name, `Removing ${name}`, "--delete-mail", opts.deleteMail === true);
        try {
          await client.request("users.remove", { name });
          console.log(`removed ${name}`);
        } catch (e) {
          // Not a user (any more) but mail left on the card: --delete-mail deletes just that.
          if (!(e instanceof DeviceError && e.codeName === "not found" && losing.length > 0)) throw e;
        }
        await deleteMail(client, losing, opts.saveRemovedMail);
      } finally {
        await client.close();
      }
    }),
  );
}
