/** Failed-login bookkeeping: bounded memory, and guessing other names cannot lift a lockout. */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import type { Hal } from "../firmware/hal";
import { Pop3Server } from "../firmware/pop3";
import { MailStore } from "../firmware/store";
import { SimCard } from "../sim/card";
import { tempDir, testConfig } from "./helpers/fixtures";

describe("POP3 failed logins", () => {
  it("keeps one record per user plus one for all unknown names", () => {
    let now = 1000000;
    const card = new SimCard({ dir: tempDir("failures") });
    const hal = { now: () => now, log: () => {} } as unknown as Hal;
    const server = new Pop3Server(hal, testConfig(), new MailStore(card, () => {}));
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) delays.push(server.recordFailure("alice"));
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000], "the delay doubles up to its cap");
    assert.ok(server.lockedOut("alice"));
    for (let i = 0; i < 100; i++) server.recordFailure(`guess${i}`);
    assert.ok(server.lockedOut("alice"), "guessing at other names does not push alice's record out");
    assert.ok(!server.lockedOut("bob"), "other users are not locked out");
    assert.ok(server.lockedOut("someone-else"), "unknown names share one record");
    assert.equal(server.failures.length, 2);
    now += 301;
    assert.ok(!server.lockedOut("alice"), "failures are forgotten after 300 s");
  });
});
