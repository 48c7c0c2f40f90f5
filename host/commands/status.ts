/** `letterbox status` and `letterbox reboot`. */
import { Command } from "commander";
import { action, connect, PortOptions, withPortOptions } from "./common";
import type { Mailbox } from "./mailboxes";
import { plural } from "../words";

function kib(n: unknown): string {
  const v = Number(n);
  return v >= 1048576 ? `${(v / 1048576).toFixed(1)} GiB` : v >= 1024 ? `${(v / 1024).toFixed(1)} MiB` : `${v} KiB`;
}

/** One service's open sessions as the status op reports them (firmware/console.ts ConsoleTarget.sessions). */
interface ServiceSessions {
  service: string;
  open: number;
  max: number;
}

/** "smtp 0 of 3, pop3 1 of 3, ..., imap 2 of 4": every service that is on, its open sessions against its cap. */
export function sessionsLine(services: ServiceSessions[]): string {
  return services.map((s) => `${s.service} ${s.open} of ${s.max}`).join(", ");
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${d ? `${d}d ` : ""}${h}h ${m}m ${seconds % 60}s`;
}

export function registerStatus(program: Command): void {
  withPortOptions(program.command("status").description("Show firmware, uptime, memory, card space, open sessions, mailboxes and recent errors."))
    .option("--json", "print the board's answer as JSON")
    .action(
      action(async (opts: PortOptions & { json?: boolean }) => {
        const client = await connect(opts);
        try {
          const { map: s } = await client.request("status");
          delete s.id;
          delete s.ok;
          if (opts.json) {
            console.log(JSON.stringify(s, null, 2));
            return;
          }
          console.log(`firmware   letterbox ${s.firmware} (protocol ${client.hello.protocol})`);
          console.log(`runtime    ${s.runtime}`);
          console.log(`host       ${s.hostname}  domains ${(s.domains as string[]).join(", ")}`);
          console.log(`settings   ${s.provisioned ? "provisioned (internal flash)" : "defaults (not provisioned yet)"}`);
          console.log(`uptime     ${duration(Number(s.uptime))}`);
          if (s.freeMemory !== undefined) console.log(`memory     ${s.freeMemory} ${s.memoryUnit || "bytes"} free`);
          else console.log("memory     not reported by this board");
          if (s.cardTotalKiB !== undefined) console.log(`card       ${kib(s.cardFreeKiB)} free of ${kib(s.cardTotalKiB)}`);
          else if (s.cardError !== undefined) console.log(`card       ${s.cardError}`);
          else console.log("card       capacity not reported by this board");
          // Firmware before the sessions were reported has no such field.
          if (Array.isArray(s.sessions)) {
            console.log(`sessions   ${sessionsLine(s.sessions as unknown as ServiceSessions[])}`);
            console.log(`sockets    ${s.sockets} of ${s.socketLimit} in use (listeners and sessions; one is kept free to refuse with)`);
          }
          for (const m of s.mailboxes as Mailbox[]) {
            const orphaned = m.orphaned ? "  (not a user any more: letterbox backup saves it, users remove --delete-mail deletes it)" : "";
            console.log(`mailbox    ${m.user}: ${plural(m.messages, "message")}, ${plural(m.bytes, "byte")}${orphaned}`);
          }
          const errors = s.errors as string[];
          console.log(errors.length ? `errors     ${errors.join("\n           ")}` : "errors     none");
        } finally {
          await client.close();
        }
      }),
    );

  withPortOptions(program.command("reboot").description("Restart the board (it keeps its settings and mail)."))
    .action(
      action(async (opts: PortOptions) => {
        const client = await connect(opts);
        try {
          await client.request("reboot");
          console.log("rebooting");
        } finally {
          await client.close();
        }
      }),
    );
}
