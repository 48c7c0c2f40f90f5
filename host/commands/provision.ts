/** `letterbox provision`: validate a config file, then send it to the board in one transaction. */
import { Command } from "commander";
import adler32 from "adler-32";
import { loadConfigFile, toSettingsMap } from "../config";
import { packr } from "../serial/protocol";
import type { DeviceClient } from "../serial/client";
import { action, connect, PortOptions, withPortOptions } from "./common";
import { checkInheritance, checkOrphans, deleteMail, mailboxes, REMOVED_MAIL_DIR } from "./mailboxes";
import { plural } from "../words";

const DELETE_OPTION = "--delete-mail-of-removed-users";

/** Settings bytes per prov.data request (a frame holds 1024). */
const CHUNK = 512;

/** Adler-32 as the device writes it: 8 lowercase hex digits. */
export function adlerHex(data: Buffer): string {
  return (adler32.buf(data) >>> 0).toString(16).padStart(8, "0");
}

/** Uploads settings and commits them; the board keeps its old settings unless the commit succeeds. */
export async function sendSettings(client: DeviceClient, settings: Buffer): Promise<{ users: number }> {
  await client.request("prov.begin", { size: settings.length, sum: adlerHex(settings) });
  for (let offset = 0; offset < settings.length; offset += CHUNK) {
    await client.request("prov.data", { offset, data: settings.subarray(offset, offset + CHUNK) });
  }
  const { map } = await client.request("prov.commit");
  return { users: Number(map.users) };
}

export function registerProvision(program: Command): void {
  withPortOptions(
    program
      .command("provision")
      .description("Send a configuration (Wi-Fi, hostname, domains, users, limits, time) to the board's internal flash.")
      .requiredOption("-c, --config <file>", "configuration file (JSON, see examples/home.json)")
      .option(DELETE_OPTION, "delete the mail of users the file leaves out, after saving it (see --save-removed-mail)")
      .option("--save-removed-mail <dir>", "where that mail is saved first, as Maildirs", REMOVED_MAIL_DIR)
      .option("--keep-old-mail", "give mail left on the card by a removed user to the file's user of that name"),
  )
    .addHelpText(
      "after",
      "\nThe file is checked first; nothing is sent when it has problems. The board applies it completely or not at all." +
        `\nA file that leaves out a user who still has mail on the board is refused, unless ${DELETE_OPTION} is given;` +
        "\none that names a removed user whose mail is still there, unless --keep-old-mail is given.",
    )
    .action(
      action(async (opts: PortOptions & { config: string; deleteMailOfRemovedUsers?: boolean; keepOldMail?: boolean; saveRemovedMail: string }) => {
        const file = loadConfigFile(opts.config);
        const settings = packr.pack(toSettingsMap(file));
        const client = await connect(opts);
        try {
          const names = new Set(file.users.map((u) => u.name));
          const all = await mailboxes(client);
          const losing = checkOrphans(all, (u) => names.has(u), opts.config, DELETE_OPTION, opts.deleteMailOfRemovedUsers === true);
          checkInheritance(all, (u) => names.has(u), opts.config, "--keep-old-mail", opts.keepOldMail === true);
          const result = await sendSettings(client, settings);
          console.log(`provisioned ${file.hostname}: ${plural(result.users, "user")}, domains ${file.domains.join(", ")}`);
          await deleteMail(client, losing, opts.saveRemovedMail);
        } finally {
          await client.close();
        }
      }),
    );
}
