/**
 * The web page's API (firmware/webapp.ts) over real HTTP to the simulator,
 * on every runtime: log-in, the list from the header cache, a raw message
 * byte for byte, read marks and deletion seen by POP3, log-out, and the
 * security rules (cookie, Origin, CSRF, a user's own mailbox only, the
 * owner's status page, the log-in throttle), with awkward header text.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { pop3Session, sendMail, unstuff } from "./helpers/clients";
import { ROOT, tempDir, testConfig } from "./helpers/fixtures";
import { request, WebClient } from "./helpers/web-client";

/** Raw octets: a GB2312 subject sent 8-bit (no encoded word), as careless mailers do. */
const GB2312_SUBJECT = Buffer.from([0xc4, 0xe3, 0xba, 0xc3]); // 你好

function message(n: number, extraHeaders = ""): Buffer {
  return Buffer.concat([
    Buffer.from(`From: "Sender ${n}" <s${n}@remote.example>\r\nTo: alice@example.org\r\nSubject: message ${n}\r\nDate: Tue, 1 Dec 2026 08:0${n}:00 +0000\r\nMessage-ID: <m${n}@remote.example>\r\n${extraHeaders}\r\n`, "latin1"),
    Buffer.from(`Body of message ${n}.\r\n.dot line\r\n`, "latin1"),
  ]);
}

const AWKWARD = Buffer.concat([
  Buffer.from("From: =?UTF-8?B?w4lsb2TDrWU=?= <e@remote.example>\r\nTo: alice@example.org\r\nSubject: ", "latin1"),
  GB2312_SUBJECT,
  Buffer.from(' "quoted" \\ {} [] \x01\r\n =?GB2312?Q?=C4=E3?= folded\r\nX-Other: not cached\r\n\r\nbody\r\n', "latin1"),
]);

/** The page as `make web` built it (make test builds it first). */
const WEB_DIR = path.join(ROOT, "dist/web");

for (const runtime of RUNTIME_NAMES) {
  describe(`web API (${runtime} runtime)`, () => {
    let sim: Simulator;
    let ids: string[] = [];

    before(async () => {
      // 11 sockets: 4 listeners, SMTP's reserve of 2 and the one kept free to refuse with leave the HTTP service its cap of 4 (the throttle test holds 4).
      sim = await startSimulator({ runtime, config: testConfig({ sockets: 11 }), dataDir: tempDir("webapi"), smtpPort: 0, pop3Port: 0, httpPort: 0, webDir: WEB_DIR });
      for (let n = 1; n <= 3; n++) assert.match(await sendMail(sim.smtpPort, `s${n}@remote.example`, ["alice@example.org"], message(n)), /^250 /);
      assert.match(await sendMail(sim.smtpPort, "e@remote.example", ["alice@example.org"], AWKWARD), /^250 /);
      assert.match(await sendMail(sim.smtpPort, "s@remote.example", ["bob@example.org"], message(9)), /^250 /);
      ids = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => (await c.list()).uidls);
    });
    after(async () => {
      await sim.stop();
    });

    it("lists newest first from the header cache, and serves each message byte for byte as POP3 does", async () => {
      const web = new WebClient(sim.httpPort);
      const login = await web.login("Alice@Example.org", "wonderland");
      assert.equal(login.status, 200);
      assert.deepEqual({ user: login.value.user, owner: login.value.owner, idle: login.value.idle }, { user: "alice", owner: true, idle: 1800 });
      assert.match(String(login.headers["set-cookie"]), /^lb=[0-9a-f]{35}; Path=\/; HttpOnly; SameSite=Strict$/);
      assert.match(login.value.csrf, /^[0-9a-f]{35}$/);
      assert.match(String(login.headers["content-security-policy"]), /script-src 'self'/);

      const list = await web.get("/api/list");
      assert.equal(list.status, 200);
      assert.equal(list.value.total, 4);
      assert.equal(list.value.unseen, 4);
      const rows = list.value.messages;
      assert.deepEqual(rows.map((r: unknown[]) => r[0]), [...ids].reverse(), "ids are the POP3 UIDLs, newest first");
      const sizes = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => (await c.list()).sizes);
      assert.deepEqual(rows.map((r: unknown[]) => r[1]), [...sizes].reverse());
      for (const r of rows) {
        assert.equal(r[2], 0, "no flags yet");
        assert.ok(Math.abs(r[3] - Date.now() / 1000) < 600, "arrival time in seconds");
        assert.ok(Buffer.isBuffer(r[4]) || r[4] instanceof Uint8Array, "headers are bin");
      }
      const third = Buffer.from(rows[1][4]).toString("latin1");
      assert.equal(
        third,
        'From: "Sender 3" <s3@remote.example>\r\nTo: alice@example.org\r\nSubject: message 3\r\nDate: Tue, 1 Dec 2026 08:03:00 +0000\r\nMessage-ID: <m3@remote.example>\r\n',
      );
      // Awkward header text comes back as the octets sent: 8-bit, quotes, backslashes, control bytes, folding.
      const awkward = Buffer.from(rows[0][4]);
      assert.ok(awkward.includes(Buffer.concat([Buffer.from("Subject: "), GB2312_SUBJECT, Buffer.from(' "quoted" \\ {} [] \x01\r\n =?GB2312?Q?=C4=E3?= folded\r\n')])));
      assert.ok(!awkward.includes(Buffer.from("X-Other")), "only the listing's fields are cached");

      const paged = await web.get("/api/list?start=1&count=2");
      assert.deepEqual(paged.value.messages.map((r: unknown[]) => r[0]), [ids[2], ids[1]]);
      assert.equal((await web.get("/api/list?start=9")).value.messages.length, 0);

      for (let n = 0; n < ids.length; n++) {
        const raw = await web.get(`/api/message/${ids[n]}`);
        assert.equal(raw.status, 200);
        assert.equal(raw.headers["content-type"], "message/rfc822");
        const pop = await pop3Session(sim.pop3Port, "alice", "wonderland", (c) => c.retr(n + 1));
        assert.ok(raw.body.equals(unstuff(pop)), `message ${n + 1} as POP3 gives it`);
        assert.equal(Number(raw.headers["content-length"]), raw.body.length);
      }
    });

    it("marks read and unread, deletes (POP3 sees it), logs out", async () => {
      const web = new WebClient(sim.httpPort);
      assert.equal((await web.login("alice", "wonderland")).status, 200);
      const seen = await web.post("/api/seen", { ids: [ids[0], ids[1], "no-such-id"], seen: true });
      assert.deepEqual([seen.status, seen.value], [200, { changed: 2 }]);
      let list = await web.get("/api/list");
      assert.equal(list.value.unseen, 2);
      assert.deepEqual(list.value.messages.map((r: number[]) => r[2]), [0, 0, 1, 1]);
      assert.deepEqual((await web.post("/api/seen", { ids: [ids[1]], seen: false })).value, { changed: 1 });
      list = await web.get("/api/list");
      assert.deepEqual(list.value.messages.map((r: number[]) => r[2]), [0, 0, 0, 1]);
      // Read marks survive a new log-in (they are on the card, not in the log-in).
      const other = new WebClient(sim.httpPort);
      await other.login("alice", "wonderland");
      assert.equal((await other.get("/api/list")).value.unseen, 3);

      const deleted = await web.post("/api/delete", { ids: [ids[3]] });
      assert.deepEqual([deleted.status, deleted.value], [200, { deleted: 1 }]);
      assert.equal((await web.get(`/api/message/${ids[3]}`)).status, 404);
      const left = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => (await c.list()).uidls);
      assert.deepEqual(left, ids.slice(0, 3));
      ids = left;

      assert.equal((await web.post("/api/logout", {})).status, 200);
      assert.equal((await web.get("/api/list")).status, 401, "the token is forgotten on the board");
      assert.equal((await other.get("/api/session")).status, 200, "another log-in of the same user goes on");
    });

    it("refuses what the page's rules forbid: no cookie, other Origin, no CSRF token, another user's message, status for non-owners", async () => {
      assert.equal((await request(sim.httpPort, "GET", "/api/list")).status, 401);
      const alice = new WebClient(sim.httpPort);
      await alice.login("alice", "wonderland");
      const bob = new WebClient(sim.httpPort);
      assert.equal((await bob.login("bob", "builder99")).value.owner, false);
      assert.equal((await bob.get(`/api/message/${ids[0]}`)).status, 404, "alice's id is not in bob's mailbox");
      assert.deepEqual((await bob.post("/api/delete", { ids: [ids[0]] })).value, { deleted: 0 });
      assert.equal((await bob.get("/api/status")).status, 403);
      assert.equal((await bob.get("/api/list")).value.total, 1);

      const foreign = new WebClient(sim.httpPort);
      foreign.origin = "http://evil.example";
      assert.equal((await foreign.login("alice", "wonderland")).status, 403, "log-in from another page");
      const csrf = alice.csrf;
      alice.origin = "http://evil.example";
      assert.equal((await alice.post("/api/delete", { ids: [ids[0]] })).status, 403);
      alice.origin = "";
      assert.equal((await alice.post("/api/delete", { ids: [ids[0]] })).status, 403, "no Origin at all");
      alice.origin = `http://127.0.0.1:${sim.httpPort}`;
      alice.csrf = "";
      assert.equal((await alice.post("/api/delete", { ids: [ids[0]] })).status, 403, "no CSRF token");
      alice.csrf = csrf.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
      assert.equal((await alice.post("/api/delete", { ids: [ids[0]] })).status, 403, "a wrong CSRF token");
      alice.csrf = csrf;
      const forged = new WebClient(sim.httpPort);
      forged.cookie = alice.cookie.replace(/.$/, (c) => (c === "0" ? "1" : "0"));
      assert.equal((await forged.get("/api/list")).status, 401, "a forged token");
      assert.equal((await alice.get("/api/list")).value.total, 3, "nothing was deleted");

      const status = await alice.get("/api/status");
      assert.equal(status.status, 200);
      assert.equal(status.value.firmware, "0.1.0");
      assert.ok(status.value.uptime >= 0);
      assert.deepEqual(status.value.mailboxes.map((m: unknown[]) => m.slice(0, 2)), [["alice", 3], ["bob", 1], ["carol", 0]]);
    });

    it("answers bad requests with a status and goes on", async () => {
      const web = new WebClient(sim.httpPort);
      await web.login("alice", "wonderland");
      const notMsgpack = await request(sim.httpPort, "POST", "/api/login", { Origin: web.origin, "Content-Type": "application/msgpack" }, Buffer.from("{\"user\":\"alice\"}"));
      assert.equal(notMsgpack.status, 400);
      assert.equal((await web.post("/api/delete", { ids: "all" })).status, 400);
      assert.equal((await web.post("/api/seen", { ids: [ids[0]] })).status, 400, "seen needs true or false");
      assert.equal((await web.post("/api/delete", { ids: new Array(101).fill("x") })).status, 400);
      assert.equal((await web.get("/api/nothing")).status, 404);
      assert.equal((await web.post("/api/list", {})).status, 405);
      assert.equal((await web.get("/api/message/../../LB/JRNL.A")).status, 404);
      assert.equal((await web.get("/api/list")).status, 200);
    });

    it("serves the page's files from the card as stored (gzip), with ETag, 304, HEAD, and 404 for any other path", async () => {
      const manifest = fs.readFileSync(path.join(WEB_DIR, "MANIFEST"), "latin1").trim().split("\n").map((l) => l.split(" "));
      for (const [urlPath, name, type, etag] of manifest) {
        const stored = fs.readFileSync(path.join(WEB_DIR, name));
        const a = await request(sim.httpPort, "GET", urlPath, { "Accept-Encoding": "gzip" });
        assert.equal(a.status, 200, urlPath);
        assert.ok(a.body.equals(stored), `${urlPath}: the stored octets`);
        assert.ok(zlib.gunzipSync(a.body).length > 0);
        assert.equal(a.headers["content-encoding"], "gzip");
        assert.equal(a.headers["content-type"], type);
        assert.equal(a.headers.etag, etag);
        assert.equal(a.headers["cache-control"], "no-cache");
        assert.match(String(a.headers["content-security-policy"]), /default-src 'self'/);
        const again = await request(sim.httpPort, "GET", urlPath, { "If-None-Match": etag });
        assert.deepEqual([again.status, again.body.length, again.headers.etag], [304, 0, etag]);
        const head = await request(sim.httpPort, "HEAD", urlPath);
        assert.deepEqual([head.status, head.body.length, Number(head.headers["content-length"])], [200, 0, stored.length]);
      }
      for (const p of ["/INDEX.HTM", "/LB/WEB/A/INDEX.HTM", "/../LB/JRNL.A", "/%2e%2e/LB/JRNL.A", "/app.js/", "/MANIFEST", "/CURRENT"]) {
        assert.equal((await request(sim.httpPort, "GET", p)).status, 404, p);
      }
      assert.equal((await request(sim.httpPort, "POST", "/", { Origin: `http://127.0.0.1:${sim.httpPort}`, "Content-Length": "0" })).status, 405);
    });

    it("throttles failed log-ins as POP3 does: a growing delay, then 429 with the time to wait", async () => {
      const web = new WebClient(sim.httpPort);
      // Four at once (the HTTP service's cap), then the fifth: each answer waits out its own delay (0.5 s doubling to 8 s).
      const failed = await Promise.all([1, 2, 3, 4].map(() => new WebClient(sim.httpPort).login("carol", "wrong")));
      failed.push(await web.login("carol", "wrong"));
      assert.deepEqual(failed.map((a) => a.status), [401, 401, 401, 401, 401]);
      const locked = await web.login("carol", "c4rol-pass");
      assert.equal(locked.status, 429);
      assert.ok(locked.value.retry > 0);
      assert.equal((await web.login("alice", "wonderland")).status, 200, "other users are not locked out");
    });
  });
}

describe("web page missing from the card", () => {
  it("says how to put it there (503 at /), and the API still answers", async () => {
    const sim = await startSimulator({ runtime: "node", config: testConfig(), dataDir: tempDir("webapi-nopage"), smtpPort: 0, pop3Port: 0, httpPort: 0 });
    try {
      const home = await request(sim.httpPort, "GET", "/");
      assert.equal(home.status, 503);
      assert.equal(home.body.toString(), "The web page is not on this box's card yet: run `letterbox web`.\n");
      assert.equal((await request(sim.httpPort, "GET", "/app.js")).status, 404);
      assert.equal((await new WebClient(sim.httpPort).login("alice", "wonderland")).status, 200);
    } finally {
      await sim.stop();
    }
  });
});
