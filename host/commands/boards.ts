/** `letterbox boards`: the board definitions in boards/*.json. */
import { Command } from "commander";
import { loadBoards } from "../boards";
import { action } from "./common";

export function registerBoards(program: Command): void {
  program
    .command("boards")
    .description("List the supported boards: MCU, flash, RAM, runtime, SD card wiring, USB ids.")
    .option("--json", "print the definitions as JSON")
    .action(
      action(async (opts: { json?: boolean }) => {
        const boards = loadBoards();
        if (opts.json) {
          console.log(JSON.stringify(boards, null, 2));
          return;
        }
        for (const b of boards) {
          const sd = b.sd;
          console.log(`${b.id}`);
          console.log(`  ${b.name}${b.vendor ? ` (${b.vendor})` : ""}`);
          console.log(`  runtime ${b.runtime}, MCU ${b.build.mcu}, flash ${b.upload.flash_size}, RAM for letterbox ${b.upload.maximum_ram_size} bytes`);
          console.log(`  SD card on ${sd.spi || sd.slot || "SPI"}: SCK ${sd.sck}, MISO ${sd.miso}, MOSI ${sd.mosi}, CS ${sd.cs}`);
          console.log(`  USB ids ${b.build.hwids.map(([v, p]) => `${v}:${p}`).join(", ")}`);
        }
      }),
    );
}
