/** `letterbox logs [--follow]`: the board's log ring buffer. */
import { Command } from "commander";
import { action, connect, PortOptions, positive, withPortOptions } from "./common";
import { plural } from "../words";

export function registerLogs(program: Command): void {
  withPortOptions(program.command("logs").description("Print the board's recent log lines."))
    .option("-f, --follow", "keep printing new lines until Ctrl-C")
    .option("--interval <ms>", "how often to ask for new lines with --follow", positive, 500)
    .action(
      action(async (opts: PortOptions & { follow?: boolean; interval: number }) => {
        // The ring holds what the console printed too: don't show those lines twice.
        const client = await connect(opts, () => {});
        let stopped = false;
        const stop = () => (stopped = true);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        try {
          let since = 0;
          for (;;) {
            const { map } = await client.request("logs", { since });
            if (Number(map.skipped) > 0) console.log(`... ${plural(Number(map.skipped), "older line")} dropped by the board`);
            for (const line of map.lines as string[]) console.log(line);
            const fullPage = Number(map.next) > since && (map.lines as string[]).length > 0;
            since = Number(map.next);
            if (fullPage) continue; // more may be waiting
            if (!opts.follow || stopped) break;
            await new Promise((r) => setTimeout(r, opts.interval));
            if (stopped) break;
          }
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          await client.close();
        }
      }),
    );
}
