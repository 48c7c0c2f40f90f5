/** `letterbox build`: the device firmware (make lua, make espruino) with its size against the board's budget. */
import { Command, Option } from "commander";
import { buildEspruino } from "../espruino/build";
import { buildNodemcu, overBudget, sizeReport } from "../nodemcu/build";
import { action } from "./common";

export function registerBuild(program: Command): void {
  program
    .command("build")
    .description("Build the firmware into dist/ and print its size against the board's budget (fails when over).")
    .addOption(new Option("--runtime <name>", "which firmware").choices(["nodemcu", "espruino", "all"]).default("all"))
    .action(
      action(async (opts: { runtime: string }) => {
        const problems: string[] = [];
        if (opts.runtime !== "espruino") {
          const build = buildNodemcu();
          console.log(sizeReport(build));
          const problem = overBudget(build);
          if (problem) problems.push(problem);
        }
        if (opts.runtime !== "nodemcu") {
          const build = await buildEspruino();
          for (const line of build.report) console.log(line);
          if (build.overBudget) problems.push("the Espruino bundle is over the board's budget");
        }
        if (problems.length > 0) throw new Error(problems.join("; "));
      }),
    );
}
