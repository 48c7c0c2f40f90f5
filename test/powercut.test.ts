/**
 * Power cuts over real TCP, on every runtime: a workload of SMTP sessions
 * with several recipients, POP3 sessions that RETR, DELE and QUIT (one
 * drops without QUIT), web API sessions that list (the header caches),
 * mark read (stored flags) and delete, and IMAP sessions that APPEND to a
 * folder, STORE flags, COPY, MOVE and EXPUNGE runs with the card's power cut before its k-th
 * changing operation, for EVERY k; after each reboot the box must serve
 * exactly what it acknowledged (see test/helpers/powercut.ts).
 * `make test` runs a reduced workload; `make torture` (LETTERBOX_TORTURE=1)
 * the full one, and for every twentieth cut also a second cut at every
 * operation of the recovery that follows.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { testConfig } from "./helpers/fixtures";
import { runCut, Step, workloadMessage } from "./helpers/powercut";

const TORTURE = process.env.LETTERBOX_TORTURE === "1";

function reducedWorkload(): Step[] {
  return [
    { kind: "smtp", messages: [workloadMessage("m1@t", ["alice@example.org", "bob@example.net"], 300), workloadMessage("m2@t", ["alice@example.org"], 1500)] },
    { kind: "web", user: "alice", seen: ["m1@t", "m2@t"], dele: [] },
    // m1 is bob's too: its move leaves bob's copy; m2 is flagged, copied, then expunged.
    { kind: "imap", user: "alice", append: workloadMessage("a1@t", ["alice@example.org"], 700), flag: ["m2@t"], copy: ["m2@t"], move: ["m1@t"], expunge: ["m2@t"] },
    { kind: "pop3", user: "alice", dele: ["m1@t"], quit: true },
    { kind: "smtp", messages: [workloadMessage("m3@t", ["bob@example.org", "carol@example.org", "BOB@example.net"], 200)] },
    { kind: "pop3", user: "bob", dele: ["m1@t"], quit: false },
    { kind: "web", user: "carol", seen: ["m3@t"], dele: ["m3@t"] },
    { kind: "pop3", user: "bob", dele: ["m1@t", "m3@t"], quit: true },
  ];
}

function fullWorkload(): Step[] {
  const steps: Step[] = [];
  for (let round = 0; round < 3; round++) {
    const m = (n: number, to: string[], bytes: number) => workloadMessage(`r${round}m${n}@t`, to, bytes);
    steps.push({ kind: "smtp", messages: [m(1, ["alice@example.org", "bob@example.org"], 400), m(2, ["carol@example.net"], 2500), m(3, ["alice@example.org", "carol@example.org", "bob@example.net"], 900)] });
    steps.push({ kind: "web", user: "alice", seen: [`r${round}m1@t`, `r${round}m3@t`], dele: [] });
    steps.push({ kind: "imap", user: "alice", append: m(5, ["alice@example.org"], 1200), flag: [`r${round}m3@t`], copy: [`r${round}m3@t`], move: [`r${round}m1@t`] });
    steps.push({ kind: "pop3", user: "alice", dele: [`r${round}m1@t`], quit: true });
    steps.push({ kind: "smtp", messages: [m(4, ["bob@example.org"], 5000)] });
    steps.push({ kind: "pop3", user: "bob", dele: [`r${round}m1@t`, `r${round}m4@t`], quit: false });
    steps.push({ kind: "imap", user: "bob", flag: [`r${round}m4@t`], copy: [`r${round}m4@t`], expunge: [`r${round}m3@t`] });
    steps.push({ kind: "pop3", user: "bob", dele: [`r${round}m1@t`, `r${round}m3@t`], quit: true });
    steps.push({ kind: "web", user: "carol", seen: [`r${round}m2@t`], dele: [`r${round}m3@t`] });
    steps.push({ kind: "pop3", user: "carol", dele: [`r${round}m2@t`, `r${round}m3@t`], quit: true });
  }
  return steps;
}

for (const runtime of RUNTIME_NAMES) {
  describe(`power cuts at every card operation (${runtime} runtime)`, () => {
    it(`keeps every acknowledged message and deletion (${TORTURE ? "full" : "reduced"} workload)`, async () => {
      const config = testConfig();
      const steps = TORTURE ? fullWorkload() : reducedWorkload();
      const reference = await runCut(runtime, config, steps, undefined);
      assert.deepEqual(reference.problems, [], "the workload without a cut");
      assert.deepEqual(reference.notes, []);
      const total = reference.operations;
      assert.ok(total > 20, `the workload makes ${total} card operations`);
      const failures: string[] = [];
      let passed = 0;
      let notReached = 0;
      let recoveryCuts = 0;
      let recoveryPassed = 0;
      const notes: string[] = [];
      for (let k = 1; k <= total; k++) {
        const result = await runCut(runtime, config, steps, k);
        notes.push(...result.notes.map((n) => `cut before operation ${k}: ${n}`));
        if (!result.cut) notReached++;
        if (result.problems.length === 0 && result.cut) passed++;
        else failures.push(`cut before operation ${k}: ${result.cut ? result.problems.join("; ") : "the workload ended first"}`);
        if (!TORTURE || k % 20 !== 0) continue;
        for (let j = 1; j <= result.recoveryOperations; j++) {
          const twice = await runCut(runtime, config, steps, k, j);
          recoveryCuts++;
          if (twice.problems.length === 0) recoveryPassed++;
          else failures.push(`cut before operation ${k}, then before operation ${j} of the recovery: ${twice.problems.join("; ")}`);
        }
      }
      console.log(`power cuts (${runtime}): ${total} cut points tried, ${passed} passed`);
      if (TORTURE) console.log(`power cuts during recovery (${runtime}): ${recoveryCuts} tried, ${recoveryPassed} passed`);
      assert.equal(notReached, 0, "every run reaches its cut point (the workload is deterministic)");
      // A MOVE's copy and its expunge are two records: a cut between them leaves the message in both folders (test/helpers/powercut.ts).
      if (notes.length) console.log(`power cuts (${runtime}): ${notes.length} accepted: ${notes.join("; ")}`);
      assert.deepEqual(failures, []);
    });
  });
}
