/**
 * The login throttle per client address (firmware/mailbox.ts, issue 16 item
 * 4) on the mailbox alone: CLIENT_LOCKOUT_FAILURES failures from one address,
 * whatever the names, lock the address out; other addresses, and logins with
 * no address (Espruino), are not affected; a success forgets the address's
 * failures; the table holds at most 8 addresses and pushes out the one with
 * the fewest failures. Over TCP on every runtime: test/login-throttle.tcp.test.ts.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { Mailbox, type Credentials, Throttle } from "../firmware/mailbox";
import { tempDir, testConfig } from "./helpers/fixtures";
import { testHal } from "./helpers/test-hal";
const CLIENT_LOCKOUT_FAILURES = Throttle.ClientLockoutFailures;
const LOCKOUT_FAILURES = Throttle.LockoutFailures;

function boot(): { mailbox: Mailbox; logs: string[]; clock: { seconds: number } } {
  const hal = testHal({ clock: 1700000000, card: tempDir("throttle") });
  const mailbox = new Mailbox(hal, testConfig());
  assert.equal(mailbox.card.open(), true, hal.logged.join("\n"));
  hal.logged.length = 0;
  return { mailbox, logs: hal.logged, clock: hal.clock };
}

function login(name: string, secret: string): Credentials {
  return { service: "pop3", method: "USER/PASS", name, secret, challenge: "" };
}

/** `n` failures from `client`, each with a name of its own (so no name reaches its own lockout). */
function spray(mailbox: Mailbox, client: string | undefined, n: number, prefix = "guess"): void {
  for (let i = 0; i < n; i++) {
    const r = mailbox.authenticate(login(prefix + i, "pw"), client);
    assert.equal(r.user, "");
    assert.equal(r.lockedSeconds, 0, `attempt ${i + 1} from ${client} was refused unchecked`);
  }
}

describe("login throttle per client address", () => {
  it("locks an address out after CLIENT_LOCKOUT_FAILURES failures across names, logged once; the right password is refused unchecked", () => {
    const { mailbox, logs, clock } = boot();
    assert.ok(CLIENT_LOCKOUT_FAILURES > LOCKOUT_FAILURES);
    spray(mailbox, "192.0.2.7", CLIENT_LOCKOUT_FAILURES);
    assert.deepEqual(
      logs.filter((l) => l.includes("client")),
      [`pop3: client [192.0.2.7] locked out for 300 s after ${CLIENT_LOCKOUT_FAILURES} failed logins`],
    );
    const refused = mailbox.authenticate(login("alice", "wonderland"), "192.0.2.7");
    assert.deepEqual(refused, { user: "", lockedSeconds: 301, delayMs: 0, lockedClient: true });
    const before = logs.length;
    mailbox.authenticate(login("guess-more", "pw"), "192.0.2.7");
    assert.equal(logs.length, before, "an attempt refused during the lockout adds no line");
    // Another address, and a login with no address, get in.
    assert.equal(mailbox.authenticate(login("alice", "wonderland"), "192.0.2.8").user, "alice");
    assert.equal(mailbox.authenticate(login("alice", "wonderland")).user, "alice");
    // Forgotten FAIL_MEMORY_SECONDS after the last failure.
    clock.seconds += 301;
    assert.equal(mailbox.authenticate(login("alice", "wonderland"), "192.0.2.7").user, "alice");
  });

  it("counts nothing per address when the board names none (Espruino): names alone count, as before", () => {
    const { mailbox } = boot();
    spray(mailbox, undefined, CLIENT_LOCKOUT_FAILURES + 5);
    assert.equal(mailbox.clients.length, 0);
    assert.equal(mailbox.authenticate(login("alice", "wonderland")).user, "alice");
  });

  it("a success from an address forgets its failures (as Dovecot's auth penalty)", () => {
    const { mailbox } = boot();
    spray(mailbox, "192.0.2.7", CLIENT_LOCKOUT_FAILURES - 1);
    assert.equal(mailbox.authenticate(login("bob", "builder99"), "192.0.2.7").user, "bob");
    spray(mailbox, "192.0.2.7", CLIENT_LOCKOUT_FAILURES - 1, "again");
    assert.equal(mailbox.authenticate(login("alice", "wonderland"), "192.0.2.7").user, "alice");
  });

  it("keeps at most 8 addresses, pushing out the one with the fewest failures, so a locked one outlasts a stream of new addresses", () => {
    const { mailbox, clock } = boot();
    spray(mailbox, "192.0.2.1", CLIENT_LOCKOUT_FAILURES, "a");
    for (let k = 0; k < 50; k++) {
      clock.seconds += 1;
      spray(mailbox, "198.51.100." + k, 1, "b" + k + "-");
      assert.ok(mailbox.clients.length <= 8, `${mailbox.clients.length} records`);
    }
    assert.equal(mailbox.clients.length, 8);
    assert.equal(mailbox.authenticate(login("alice", "wonderland"), "192.0.2.1").lockedClient, true);
    // Among equals the oldest goes: the last seven newcomers are kept.
    assert.deepEqual(
      mailbox.clients.map((r) => r.name).filter((n) => n !== "192.0.2.1").sort(),
      ["198.51.100.43", "198.51.100.44", "198.51.100.45", "198.51.100.46", "198.51.100.47", "198.51.100.48", "198.51.100.49"],
    );
  });
});
