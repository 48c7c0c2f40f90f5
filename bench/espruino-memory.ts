/**
 * The Espruino build's memory, scenario by scenario (test/helpers/
 * memory-scenario.ts): the emulated board's estimate always, and beside it
 * the real interpreter's figure when `ESPRUINO=/path/to/espruino` is given
 * (`make bench ESPRUINO=...`; Espruino built for Linux, 32-bit with the
 * ESP32's variable format, Telnet console on port 2323: docs/ESPRUINO.md).
 */
import { comparisonTable, emulatedSide, MemorySide, realSide, runMemoryScenario, ScenarioRow } from "../test/helpers/memory-scenario";

async function runOn(side: MemorySide, name: string, log: (line: string) => void): Promise<ScenarioRow[]> {
  try {
    return await runMemoryScenario(side, (r) => log(`espruino memory, ${name}: ${r.state}: ${r.variables} variables, ${r.openFiles} files open`));
  } finally {
    await side.stop();
  }
}

/** The section for the results: a table, and what its columns are. */
export async function espruinoMemorySection(espruino: string | undefined, log: (line: string) => void): Promise<string> {
  let real: ScenarioRow[] | undefined;
  let failure = "";
  if (espruino) {
    try {
      real = await runOn(await realSide(espruino), "real interpreter", log);
    } catch (e) {
      failure = `The real interpreter (${espruino}) failed: ${(e as Error).message}`;
      log(failure);
    }
  }
  const estimate = await runOn(await emulatedSide(), "emulated board", log);
  const about = real
    ? `Real: \`${espruino}\`, process.memory().usage after a collection, read over its Telnet console (measured). ` +
      "Emulated: sim/espruino/memory.ts on the emulated ESP32 board (estimate), and the same with open files priced as the " +
      "Linux build keeps them (a FILE*, not FatFs's sector buffer: 38 variables fewer each), which is what compares with the real figure."
    : (failure ? failure + ". " : "No real interpreter given (`make bench ESPRUINO=/path/to/espruino` adds its figures). ") +
      "Emulated ESP32 board, sim/espruino/memory.ts (estimate).";
  return [
    "### Espruino memory: the emulated board's estimate against the real interpreter",
    "",
    "The scenario of test/helpers/memory-scenario.ts, in variables (14 bytes each). " + about,
    "",
    comparisonTable(real, estimate),
  ].join("\n");
}
