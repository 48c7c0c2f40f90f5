/** Failed-login bookkeeping: bounded memory, and guessing other names cannot lift a lockout. */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { failDelay, Mailbox } from "../firmware/mailbox";
import { tempDir, testConfig } from "./helpers/fixtures";
import { testHal } from "./helpers/test-hal";

describe("POP3 failed logins", () => {
  it("keeps one record per user and a bounded few for names that are no user's", () => {
    const hal = testHal({ clock: 1000000, card: tempDir("failures"), log: "drop" });
    const server = new Mailbox(hal, testConfig());
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) counts.push(server.recordFailure("alice", true));
    assert.deepEqual(counts, [1, 2, 3, 4, 5], "each failure of alice counts once");
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(failDelay), [500, 1000, 2000, 4000, 8000, 8000], "the delay doubles up to its cap");
    assert.equal(server.lockedOut("alice"), 301, "locked for the 300 s the failures are remembered");
    for (let i = 0; i < 100; i++) server.recordFailure(`guess${i}`, false);
    assert.ok(server.lockedOut("alice") > 0, "guessing at other names does not push alice's record out");
    assert.equal(server.lockedOut("bob"), 0, "other users are not locked out");
    assert.equal(server.lockedOut("guess99"), 0, "one failure of an unknown name locks nothing");
    assert.ok(server.failures.length <= 1 + 8, `${server.failures.length} records`);
    for (let i = 0; i < 5; i++) server.recordFailure("dave@example.org", false);
    assert.ok(server.lockedOut("dave@example.org") > 0, "an unknown name is counted as typed");
    assert.equal(server.lockedOut("dave"), 0, "another spelling of an unknown name is another name");
    for (let i = 0; i < 5; i++) server.recordFailure("x".repeat(500 + i), false);
    assert.ok(server.lockedOut("x".repeat(600)) > 0, "long unknown names are kept by their first 64 octets");
    assert.ok(server.failures.every((r) => r.name.length <= 64));
    hal.clock.seconds += 100;
    assert.equal(server.lockedOut("alice"), 201);
    hal.clock.seconds += 201;
    assert.equal(server.lockedOut("alice"), 0, "failures are forgotten after 300 s");
  });
});
