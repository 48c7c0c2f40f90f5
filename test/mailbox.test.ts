/**
 * The mailbox boundary on its own (firmware/mailbox.ts), over the real store
 * on a simulated card: login names and secrets, routing, delivery, and a
 * maildrop's lock, flags, byte ranges and committed deletions. The services
 * that use it are tested over TCP on every runtime (test/dialogues and the
 * *.tcp tests); this pins the contract they rely on.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { Access, Flag, Mailbox, type Credentials, type Delivery, RouteKind, StoredFlag, userIndex } from "../firmware/mailbox";
import { md5hex } from "../firmware/md5";
import { tempDir, testConfig } from "./helpers/fixtures";
import { testHal, type TestHal } from "./helpers/test-hal";

function boot(): { mailbox: Mailbox; logs: string[]; clock: { seconds: number } } {
  const hal = testHal({ clock: 1700000000, card: tempDir("mailbox") });
  const mailbox = new Mailbox(hal, testConfig());
  assert.equal(mailbox.card.open(), true, hal.logged.join("\n"));
  hal.logged.length = 0;
  return { mailbox, logs: hal.logged, clock: hal.clock };
}

function deliver(mailbox: Mailbox, body: string, users: string[]): void {
  const d = mailbox.card.beginMessage() as Delivery;
  d.write(body.substring(0, 3));
  d.write(body.substring(3));
  assert.equal(d.bytes, body.length);
  d.commit(users, 1700000000);
}

function login(name: string, secret: string, challenge = ""): Credentials {
  return { service: "pop3", method: challenge ? "APOP" : "USER/PASS", name, secret, challenge };
}

describe("mailbox boundary", () => {
  it("authenticates a name or a full address in any configured domain and letter case, by password or APOP digest", () => {
    const { mailbox, logs } = boot();
    assert.equal(mailbox.authenticate(login("Alice", "wonderland")).user, "alice");
    assert.equal(mailbox.authenticate(login("ALICE@Example.NET", "wonderland")).user, "alice");
    assert.equal(mailbox.authenticate(login("bob", md5hex("<1.2@x>builder99").toUpperCase(), "<1.2@x>")).user, "bob");
    assert.deepEqual(logs, [], "successes are not logged here");
    const wrongDomain = mailbox.authenticate(login("alice@elsewhere.org", "wonderland"), "192.0.2.7");
    assert.deepEqual(wrongDomain, { user: "", lockedSeconds: 0, delayMs: 500 });
    assert.equal(logs[0], 'pop3: USER/PASS failed for "alice@elsewhere.org" (no such user, 1 of 5) [192.0.2.7]');
    const wrongDigest = mailbox.authenticate(login("bob", md5hex("<1.2@x>wrong"), "<1.2@x>"));
    assert.equal(wrongDigest.user, "");
    assert.equal(logs[1], 'pop3: APOP failed for "bob" (mailbox bob, 1 of 5)', "no address where the board cannot tell");
  });

  it("locks a user out after five failures by any spelling, even with the right password, and never counts the refused attempts", () => {
    const { mailbox, logs, clock } = boot();
    const delays: number[] = [];
    for (const name of ["alice", "ALICE", "alice@example.org", "Alice@Example.Net", "alice"]) delays.push(mailbox.authenticate(login(name, "guess")).delayMs);
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000]);
    assert.equal(logs[5], "pop3: mailbox alice locked out for 300 s after 5 failed logins");
    const locked = mailbox.authenticate(login("alice", "wonderland"));
    assert.deepEqual(locked, { user: "", lockedSeconds: 301, delayMs: 0 });
    assert.equal(logs.length, 6, "a refused attempt adds no line");
    assert.equal(mailbox.authenticate(login("bob", "builder99")).user, "bob", "other users are not locked out");
    clock.seconds += 301;
    assert.equal(mailbox.authenticate(login("alice", "wonderland")).user, "alice", "failures are forgotten after 300 s");
  });

  it("routes local users, subaddresses and postmaster; refuses other domains (no relay yet) with the SMTP reply", () => {
    const { mailbox } = boot();
    assert.deepEqual(mailbox.route("Bob+lists", "example.net."), { kind: RouteKind.Local, user: "bob", reply: "" });
    assert.deepEqual(mailbox.route("postmaster", ""), { kind: RouteKind.Local, user: "alice", reply: "" }, "postmaster without a domain goes to the first user");
    assert.deepEqual(mailbox.route("alice", "elsewhere.org"), {
      kind: RouteKind.Refuse,
      user: "",
      reply: "550 5.7.1 Relaying denied: this box only receives mail for its own domains",
    });
    assert.equal(mailbox.route("dave", "example.org").reply, "550 5.1.1 No such user here");
    assert.equal(mailbox.route("alice", "").reply, "501 5.1.3 Bad recipient address syntax");
    assert.equal(userIndex(testConfig(), "carol"), 2);
    assert.equal(userIndex(testConfig(), "Carol"), -1, "the lookup is exact: callers lower-case");
  });

  it("delivers a body stream to every recipient once; an aborted delivery leaves nothing", () => {
    const { mailbox } = boot();
    deliver(mailbox, "Subject: one\r\n\r\nhello\r\n", ["alice", "bob", "alice"]);
    const dropped = mailbox.card.beginMessage() as Delivery;
    dropped.write("half a message");
    dropped.abort();
    dropped.abort();
    assert.equal(mailbox.card.usage("alice"), 23);
    assert.equal(mailbox.card.usage("bob"), 23);
    assert.deepEqual(mailbox.card.owners().sort(), ["alice", "bob"]);
  });

  it("opens a maildrop: one exclusive opener, shared readers beside it, byte ranges, marks as flags, deletions on commit only", () => {
    const { mailbox } = boot();
    deliver(mailbox, "first message\r\n", ["alice"]);
    deliver(mailbox, "second message\r\n", ["alice", "bob"]);
    const pop = mailbox.openMaildrop("alice", Access.Exclusive)!;
    assert.equal(mailbox.openMaildrop("alice", Access.Exclusive), undefined, "a second exclusive open is refused");
    assert.ok(mailbox.openMaildrop("bob", Access.Exclusive), "another user's maildrop is not locked");
    const reader = mailbox.openMaildrop("alice", Access.Shared)!;
    assert.equal(reader.list.count, 2);
    const list = pop.list;
    assert.equal(list.count, 2);
    assert.equal(list.totalBytes, 15 + 16);
    assert.deepEqual([list.size(0), list.size(1)], [15, 16]);
    assert.match(list.uid(0), /^[0-9a-f]{8}-[0-9a-f]{8}$/);
    assert.notEqual(list.uid(0), list.uid(1));
    const range = pop.open(1, 7)!;
    assert.equal(range.read(4), "mess", "a byte range");
    assert.equal(range.read(100), "age\r\n");
    assert.equal(range.read(100), undefined, "the end");
    range.close();
    const file = pop.open(0, 0)!;
    assert.equal(file.read(100), "first message\r\n");
    file.close();
    pop.setFlags(0, Flag.Deleted);
    pop.setFlags(0, Flag.Deleted);
    assert.equal(pop.flags(0) & Flag.Deleted, Flag.Deleted);
    assert.equal(reader.flags(0), 0, "marks belong to their opener");
    assert.deepEqual([pop.markedCount, pop.markedBytes], [1, 15], "marked once");
    pop.setFlags(0, 0);
    assert.deepEqual([pop.flags(0), pop.markedCount, pop.markedBytes], [0, 0, 0]);
    pop.setFlags(1, Flag.Deleted);
    assert.equal(mailbox.openMaildrop("alice", Access.Shared)!.list.count, 2, "nothing deleted before commit");
    pop.commit();
    pop.close();
    pop.close();
    const after = mailbox.openMaildrop("alice", Access.Exclusive)!;
    assert.ok(after, "close released the lock");
    assert.equal(after.list.count, 1);
    const left = after.open(0, 0)!;
    assert.equal(left.read(100), "first message\r\n");
    left.close();
    assert.equal(mailbox.openMaildrop("bob", Access.Shared)!.list.count, 1, "bob keeps his copy");
    after.close();
    assert.equal(mailbox.store.files.open, 0, "every handle given back");
  });

  it("stores flags per user on the card: every opener sees them at once, a restart keeps them; finds a message by its UIDL", () => {
    const hal = testHal({ clock: 1700000000, card: tempDir("mailbox-flags"), random: 0xabcdef });
    let mailbox = new Mailbox(hal, testConfig());
    assert.equal(mailbox.card.open(), true);
    deliver(mailbox, "first\r\n", ["alice", "bob"]);
    deliver(mailbox, "second\r\n", ["alice"]);
    const pop = mailbox.openMaildrop("alice", Access.Exclusive)!;
    const web = mailbox.openMaildrop("alice", Access.Shared)!;
    assert.deepEqual([pop.stored(0), pop.stored(1)], [0, 0]);
    web.store(1, StoredFlag.Seen | StoredFlag.Flagged | 0x60);
    assert.equal(pop.stored(1), StoredFlag.Seen | StoredFlag.Flagged, "the other opener sees it at once; other bits are not stored");
    assert.equal(pop.flags(1), 0, "stored flags are not the opener's marks");
    pop.store(0, StoredFlag.Answered);
    assert.equal(web.stored(0), StoredFlag.Answered);
    assert.equal(mailbox.openMaildrop("bob", Access.Shared)!.stored(0), 0, "per user: bob's copy is unflagged");
    assert.equal(web.find(web.list.uid(1)), 1);
    assert.equal(web.find(web.list.uid(0)), 0);
    assert.equal(web.list.uid(0), "00abcdef-00000001");
    assert.equal(web.find("00ABCDEF-00000001"), -1, "UIDLs are exact");
    assert.equal(web.find("00000000-00000001"), -1, "another store's epoch");
    for (const bad of ["", "x", web.list.uid(0) + "0", web.list.uid(0).substring(0, 16)]) assert.equal(web.find(bad), -1, bad);
    // A deletion at once through a shared opener: the other opener's listing keeps the number, its flags say gone.
    web.setFlags(0, Flag.Deleted);
    web.commit();
    assert.equal(pop.stored(0), -1, "gone");
    pop.store(0, StoredFlag.Seen); // nothing happens
    assert.equal(pop.stored(0), -1);
    pop.close();
    mailbox = new Mailbox(hal, testConfig());
    assert.equal(mailbox.card.open(), true);
    const again = mailbox.openMaildrop("alice", Access.Shared)!;
    assert.equal(again.list.count, 1);
    assert.equal(again.stored(0), StoredFlag.Seen | StoredFlag.Flagged, "replayed after a restart");
    assert.equal(mailbox.openMaildrop("bob", Access.Shared)!.stored(0), 0);
  });

  it("IMAP folders: INBOX first, the special-use ones once, create, rename, subscribe, delete; UIDVALIDITY and UIDNEXT; each a journal record", () => {
    const hal = testHal({ clock: 1700000000, card: tempDir("mailbox-folders"), random: 0x7fffffff });
    let mailbox = new Mailbox(hal, testConfig());
    assert.equal(mailbox.card.open(), true);
    assert.deepEqual(mailbox.folders("alice"), [{ id: 0, name: "INBOX", subscribed: true }]);
    const records = () => mailbox.store.journal.end;
    const before = records();
    mailbox.ensureSpecialFolders("alice");
    const grown = records() - before;
    mailbox.ensureSpecialFolders("alice");
    assert.equal(records() - before, grown, "twice creates nothing more");
    const specials = ["Sent", "Drafts", "Trash", "Junk", "Archive"];
    assert.deepEqual(mailbox.folders("alice"), [{ id: 0, name: "INBOX", subscribed: true }, ...specials.map((name, i) => ({ id: i + 1, name, subscribed: true }))]);
    assert.deepEqual(mailbox.folders("bob"), [{ id: 0, name: "INBOX", subscribed: true }], "per user");
    const work = mailbox.createFolder("alice", "Work");
    assert.equal(work, 6);
    for (const taken of ["Work", "INBOX", "inbox", "Sent"]) assert.throws(() => mailbox.createFolder("alice", taken), /exists/, taken);
    assert.equal(mailbox.createFolder("alice", "work"), 7, "other names are case-sensitive (RFC 3501 5.1)");
    mailbox.renameFolder("alice", 7, "Work/Sub");
    assert.throws(() => mailbox.renameFolder("alice", 7, "Work"), /exists/);
    assert.throws(() => mailbox.renameFolder("alice", 0, "Old"), /no such folder/, "INBOX is not renamed");
    assert.throws(() => mailbox.renameFolder("alice", 42, "X"), /no such folder/);
    mailbox.subscribe("alice", work, true);
    mailbox.subscribe("alice", 0, false);
    mailbox.deleteFolder("alice", 4);
    assert.throws(() => mailbox.deleteFolder("alice", 4), /no such folder/);
    assert.throws(() => mailbox.deleteFolder("alice", 0), /no such folder/, "INBOX is not deleted");
    const expected = [
      { id: 0, name: "INBOX", subscribed: false },
      { id: 1, name: "Sent", subscribed: true },
      { id: 2, name: "Drafts", subscribed: true },
      { id: 3, name: "Trash", subscribed: true },
      { id: 5, name: "Archive", subscribed: true },
      { id: 6, name: "Work", subscribed: true },
      { id: 7, name: "Work/Sub", subscribed: false },
    ];
    assert.deepEqual(mailbox.folders("alice"), expected);
    assert.equal(mailbox.uidValidity(), 1, "2^31 - 1 is 0 modulo 2^31 - 1: never 0");
    assert.equal(mailbox.uidNext("alice", 0), 1, "an INBOX that never held mail");
    deliver(mailbox, "one\r\n", ["alice"]);
    assert.equal(mailbox.uidNext("alice", 0), 2);
    assert.equal(mailbox.uidNext("alice", 6), 1, "created before any message");
    mailbox = new Mailbox(hal, testConfig());
    assert.equal(mailbox.card.open(), true);
    assert.deepEqual(mailbox.folders("alice"), expected, "after a restart");
    mailbox.ensureSpecialFolders("alice");
    assert.equal(mailbox.folders("alice").find((f) => f.name === "Junk")!.id, 8, "a deleted special-use folder comes back");
    assert.equal(mailbox.openMaildrop("alice", Access.Shared, 4), undefined, "a deleted folder does not open");
    assert.equal(mailbox.openMaildrop("alice", Access.Shared, 6)!.list.count, 0);
    // A full card: no folder is made (the spare room is for deletions), a log-in's special-use ones wait; deleting goes on.
    mailbox.store.cardFull = true;
    const full = mailbox.store.journal.end;
    mailbox.ensureSpecialFolders("bob");
    assert.throws(() => mailbox.createFolder("alice", "More"), /card full/);
    assert.equal(mailbox.store.journal.end, full, "nothing written");
    mailbox.deleteFolder("alice", 7);
    assert.equal(mailbox.folders("alice").some((f) => f.id === 7), false);
  });

  it("a folder's maildrop: APPEND with flags and time, flags, expunge, refresh; onChange after each commit point; POP3's lock does not keep IMAP out", () => {
    const { mailbox } = boot();
    const changed: string[] = [];
    mailbox.onChange = (owner) => changed.push(owner);
    const work = mailbox.createFolder("alice", "Work");
    const append = mailbox.card.beginMessage() as Delivery;
    append.write("Subject: appended\r\n\r\nbody\r\n");
    append.commit(["alice/" + work], 1500000000, StoredFlag.Seen | StoredFlag.Draft);
    deliver(mailbox, "inbox one\r\n", ["alice"]);
    deliver(mailbox, "inbox two\r\n", ["alice", "bob"]);
    assert.deepEqual(changed, ["alice/1", "alice", "alice", "bob"]);
    const folder = mailbox.openMaildrop("alice", Access.Shared, work)!;
    assert.equal(folder.folder, work);
    assert.equal(folder.list.count, 1);
    assert.equal(folder.list.uidAt(0), append.seq);
    assert.equal(folder.stored(0), StoredFlag.Seen | StoredFlag.Draft);
    assert.equal(folder.time(0), 1500000000, "the arrival time APPEND gave");
    // POP3 holds INBOX; IMAP opens it beside that lock and expunges.
    const pop = mailbox.openMaildrop("alice", Access.Exclusive)!;
    const imap = mailbox.openMaildrop("alice", Access.Shared, 0)!;
    assert.deepEqual([imap.folder, imap.list.count], [0, 2]);
    assert.ok(imap.list.uidAt(0) < imap.list.uidAt(1));
    changed.length = 0;
    imap.store(0, StoredFlag.Deleted | StoredFlag.Seen);
    assert.equal(pop.stored(0), StoredFlag.Deleted | StoredFlag.Seen);
    imap.expunge([0]);
    assert.deepEqual(changed, ["alice", "alice"]);
    assert.equal(pop.stored(0), -1, "POP3 sees it gone");
    assert.throws(() => pop.open(0, 0), /was deleted/, "so its RETR answers -ERR");
    assert.equal(imap.list.count, 2, "the listing stays until adopted");
    const fresh = imap.refresh();
    assert.equal(fresh.count, 1);
    imap.list = fresh;
    assert.equal(imap.stored(0), 0);
    deliver(mailbox, "three\r\n", ["alice"]);
    assert.equal(imap.refresh().count, 2);
    pop.close();
    // A folder deleted under an opener: its messages read as gone.
    changed.length = 0;
    mailbox.deleteFolder("alice", work);
    assert.deepEqual(changed, ["alice/1"]);
    assert.equal(folder.stored(0), -1);
    assert.equal(folder.refresh().count, 0);
    assert.equal(mailbox.card.usage("alice"), 11 + 7);
  });

  it("copies messages into a folder on timers, with flags and arrival times, within the file-handle budget; a failed copy leaves nothing", () => {
    const hal: TestHal = testHal({ clock: 1700000000, card: tempDir("mailbox-copy"), timers: "manual" });
    const mailbox = new Mailbox(hal, testConfig());
    assert.equal(mailbox.card.open(), true);
    const big = "Subject: big\r\n\r\n" + "x".repeat(40000) + "\r\n";
    deliver(mailbox, big, ["alice"]);
    deliver(mailbox, "", ["alice"]);
    const later = mailbox.card.beginMessage()!;
    later.write("small\r\n");
    later.commit(["alice"], 1700000050);
    while (hal.timers.runNext()); // the header caches
    const inbox = mailbox.openMaildrop("alice", Access.Shared)!;
    inbox.store(2, StoredFlag.Flagged);
    const archive = mailbox.createFolder("alice", "Archive");
    const changed: string[] = [];
    mailbox.onChange = (owner) => changed.push(owner);
    let result: { uids: number[] | undefined; error: string } | undefined;
    inbox.copyTo([2, 0, 1], archive, (uids, error) => void (result = { uids, error }));
    assert.equal(result, undefined, "never from within copyTo");
    let ticks = 0;
    while (result === undefined && hal.timers.runNext()) ticks++;
    assert.ok(ticks >= 3, `a 40 KB message takes several ticks (${ticks})`);
    assert.equal(result!.error, "");
    const copy = mailbox.openMaildrop("alice", Access.Shared, archive)!;
    assert.deepEqual(result!.uids, [0, 1, 2].map((i) => copy.list.uidAt(i)), "COPYUID's UIDs, in order");
    assert.ok(copy.list.uidAt(0) > inbox.list.uidAt(2), "new UIDs");
    assert.deepEqual([0, 1, 2].map((i) => copy.list.size(i)), [7, big.length, 0]);
    assert.deepEqual([0, 1, 2].map((i) => copy.stored(i)), [StoredFlag.Flagged, 0, 0]);
    assert.deepEqual([0, 1, 2].map((i) => copy.time(i)), [1700000050, 1700000000, 1700000000]);
    const file = copy.open(1, 0)!;
    let data = "";
    for (let c = file.read(5000); c !== undefined; c = file.read(5000)) data += c;
    file.close();
    assert.equal(data, big);
    assert.deepEqual(changed, ["alice/1", "alice/1", "alice/1"]);
    assert.equal(mailbox.store.files.open, 0);
    assert.equal(mailbox.card.usage("alice"), 2 * (big.length + 7));
    // Handles all taken: it waits, then goes on when one is free.
    const held = [mailbox.card.beginMessage()!, mailbox.card.beginMessage()!];
    result = undefined;
    inbox.copyTo([2], 0, (uids, error) => void (result = { uids, error }));
    for (let i = 0; i < 5; i++) hal.timers.runNext();
    assert.equal(result, undefined, "waiting for a file handle");
    held[0].abort();
    while (result === undefined && hal.timers.runNext());
    assert.equal(result!.error, "");
    assert.equal(mailbox.openMaildrop("alice", Access.Shared)!.list.count, 4, "a copy into the same user's INBOX");
    // A message expunged before its turn: nothing of the copy stays.
    result = undefined;
    inbox.copyTo([1, 0], archive, (uids, error) => void (result = { uids, error }));
    hal.timers.runNext();
    inbox.expunge([0]);
    while (result === undefined && hal.timers.runNext());
    assert.deepEqual(result, { uids: undefined, error: "message expunged" });
    assert.equal(mailbox.openMaildrop("alice", Access.Shared, archive)!.list.count, 3, "the copies made are deleted again");
    // Nor to a folder deleted meanwhile; and no handle free for 30 s gives up.
    result = undefined;
    inbox.copyTo([2], archive, (uids, error) => void (result = { uids, error }));
    mailbox.deleteFolder("alice", archive);
    while (result === undefined && hal.timers.runNext());
    assert.deepEqual(result, { uids: undefined, error: "no such folder" });
    const another = mailbox.card.beginMessage()!;
    result = undefined;
    inbox.copyTo([2], 0, (uids, error) => void (result = { uids, error }));
    hal.timers.runNext();
    hal.clock.seconds += 31;
    while (result === undefined && hal.timers.runNext());
    assert.deepEqual(result, { uids: undefined, error: "no file handle free" });
    held[1].abort();
    another.abort();
    assert.equal(mailbox.store.files.open, 0);
  });

  it("two deliveries at once, committed out of order: INBOX's UIDs still ascend, and the late one reads, lists and builds its structure from the file it was received under", () => {
    const hal: TestHal = testHal({ clock: 1700000000, card: tempDir("mailbox-order"), timers: "manual" });
    const mailbox = new Mailbox(hal, testConfig());
    assert.equal(mailbox.card.open(), true);
    const slow = mailbox.card.beginMessage()!;
    const quick = mailbox.card.beginMessage()!;
    const text = "From: a@example.org\r\nSubject: slow\r\nContent-Type: text/plain\r\n\r\nslow body\r\n";
    slow.write(text);
    quick.write("Subject: quick\r\n\r\nquick\r\n");
    quick.commit(["alice"], 1700000000);
    slow.commit(["alice"], 1700000001);
    while (hal.timers.runNext());
    const drop = mailbox.openMaildrop("alice", Access.Shared)!;
    assert.deepEqual([drop.list.uidAt(0), drop.list.uidAt(1)], [quick.seq, slow.seq]);
    assert.ok(slow.seq > quick.seq);
    assert.equal(mailbox.uidNext("alice", 0), slow.seq + 1);
    const file = drop.open(1, 0)!;
    assert.equal(file.read(1000), text);
    file.close();
    assert.match(drop.headers(1), /^From: a@example.org\r\nSubject: slow\r\n/);
    assert.equal(drop.time(1), 1700000001);
    let structure = drop.structure(1);
    for (let ticks = 0; structure === undefined && ticks < 50 && hal.timers.runNext(); ticks++) structure = drop.structure(1);
    assert.ok(structure, "built");
    assert.match(structure!.bodystructure, /"text" "plain"/i);
  });
});
