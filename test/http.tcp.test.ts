/**
 * Hostile HTTP clients over real TCP, on every runtime, against the web
 * page's service (firmware/http.ts): heads past the limits, slow clients,
 * more connections than the cap, bodies shorter or longer than their
 * length, NULs, deep pipelines. Each case checks the answer and that the
 * server goes on serving. (Exact exchanges: test/dialogues/http-*.txt.)
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { tempDir, testConfig } from "./helpers/fixtures";
import { HttpConn, httpConnect, httpGet } from "./helpers/http-client";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GET = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const IDLE_SECONDS = 2;

/** The server still answers a plain request on a new connection. */
async function stillServes(sim: Simulator): Promise<void> {
  const r = await httpGet(sim.httpPort, "/x");
  assert.equal(r.status, 404);
}

for (const runtime of RUNTIME_NAMES) {
  describe(`hostile HTTP clients (${runtime} runtime)`, () => {
    let sim: Simulator;
    const open: HttpConn[] = [];
    before(async () => {
      const config = testConfig();
      config.services.http.idleSeconds = IDLE_SECONDS;
      // IMAP off: 10 sockets less 3 listeners, SMTP's reserve of 2 and the one kept to refuse with leave 4, so HTTP's own cap (4) is what the tests meet.
      config.services.imap.enabled = false;
      sim = await startSimulator({ runtime, config, dataDir: tempDir("http-hostile"), smtpPort: 0, pop3Port: 0, httpPort: 0 });
    });
    after(async () => {
      for (const c of open) c.close();
      await sim.stop();
    });
    const connect = async () => {
      const c = await httpConnect(sim.httpPort);
      open.push(c);
      return c;
    };

    it("answers 1,000 headers, a 100 KB request line and a 100 KB header with 431 or 414, and goes on", async () => {
      const many = await connect();
      many.send("GET /x HTTP/1.1\r\nHost: x\r\n" + "X-A: b\r\n".repeat(1000) + "\r\n");
      const r1 = await many.response();
      assert.equal(r1.status, 431);
      assert.equal(r1.headers.connection, "close");
      assert.ok(await many.closed(2000));
      const long = await connect();
      long.send("GET /" + "a".repeat(100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal((await long.response()).status, 414);
      assert.ok(await long.closed(2000));
      const header = await connect();
      header.send("GET /x HTTP/1.1\r\nHost: x\r\nCookie: " + "c".repeat(100_000));
      assert.equal((await header.response()).status, 431, "answered before the line ends");
      assert.ok(await header.closed(2000));
      await stillServes(sim);
    });

    it("closes a slow client: silently between requests, with 408 mid-head or mid-body", async () => {
      const idle = await connect();
      idle.send(GET);
      assert.equal((await idle.response()).status, 404);
      const silent = await connect();
      const midHead = await connect();
      midHead.send("GET /x HTTP/1.1\r\nHost: x\r\n");
      const midBody = await connect();
      midBody.send("POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
      // Nothing before the idle time.
      await sleep(1000);
      assert.equal(midBody.unread(), 0, "a short body waits for the rest");
      const limit = (IDLE_SECONDS + 3) * 1000;
      for (const c of [midHead, midBody]) {
        const r = await c.response(false, limit);
        assert.equal(r.status, 408);
        assert.equal(r.headers.connection, "close");
        assert.ok(await c.closed(2000));
      }
      for (const c of [idle, silent]) {
        assert.ok(await c.closed(limit), "closed when idle");
        assert.equal(c.unread(), 0, "without an answer: no request was under way");
      }
      await stillServes(sim);
    });

    it("answers 503 with Retry-After over the session cap, and serves again when a session ends", async () => {
      // The cap is 4 (services.http.sessions): four requests under way hold it.
      const busy: HttpConn[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await connect();
        c.send("GET /x HTTP/1.1\r\n");
        busy.push(c);
      }
      await sleep(200);
      assert.deepEqual(busy.map((c) => c.unread()), [0, 0, 0, 0], "all four admitted (a refused one has its 503)");
      const over = await connect();
      const r = await over.response();
      assert.equal(r.status, 503);
      assert.equal(r.headers["retry-after"], "5");
      assert.equal(r.headers.connection, "close");
      assert.ok(await over.closed(2000));
      // One of them finishes its request and leaves: its place is free again.
      busy[0].send("Host: x\r\nConnection: close\r\n\r\n");
      assert.equal((await busy[0].response()).status, 404);
      assert.ok(await busy[0].closed(2000));
      await sleep(200);
      await stillServes(sim);
      for (const c of busy) c.close();
      await sleep(300);
    });

    it("makes room for a new connection by closing one idle between requests (keep-alive)", async () => {
      const kept: HttpConn[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await connect();
        c.send(GET);
        assert.equal((await c.response()).status, 404);
        kept.push(c);
      }
      const fifth = await connect();
      fifth.send(GET);
      assert.equal((await fifth.response()).status, 404, "admitted, not 503");
      await sleep(500);
      const closed = kept.filter((c) => c.ended);
      assert.equal(closed.length, 1, "exactly one idle connection made room");
      assert.equal(closed[0].unread(), 0, "closed without an answer");
      for (const c of kept) c.close();
      fifth.close();
      await sleep(300);
    });

    it("reads a body whole, takes the bytes after it as the next request, and refuses NULs", async () => {
      const c = await connect();
      c.send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab");
      await sleep(300);
      assert.equal(c.unread(), 0, "waits for the rest of the body");
      c.send("cde" + GET);
      assert.equal((await c.response()).status, 404);
      assert.equal((await c.response()).status, 404);
      c.send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabNOT HTTP\r\n\r\n");
      assert.equal((await c.response()).status, 404);
      assert.equal((await c.response()).status, 400);
      assert.ok(await c.closed(2000));
      const nul = await connect();
      nul.send("GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal((await nul.response()).status, 400);
      assert.ok(await nul.closed(2000));
      await stillServes(sim);
    });

    it("answers 100 pipelined requests in order, and closes a client pipelining too far ahead", async () => {
      const c = await connect();
      let burst = "";
      for (let i = 0; i < 99; i++) burst += i % 2 === 0 ? GET : GET.replace("GET", "HEAD");
      c.send(burst + "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      for (let i = 0; i < 99; i++) {
        const r = await c.response(i % 2 === 1);
        assert.equal(r.status, 404, `answer ${i + 1}`);
        assert.equal(r.body.length, i % 2 === 0 ? 15 : 0, `answer ${i + 1}: GET has the body, HEAD not`);
      }
      const last = await c.response();
      assert.equal(last.headers.connection, "close");
      assert.ok(await c.closed(2000));
      assert.equal(c.unread(), 0);
      // 64 KiB of requests at once: answered in order as far as the server reads, then closed.
      const flood = await connect();
      flood.send(GET.repeat(2000));
      let answered = 0;
      while (!(await flood.closed(10)) || flood.unread() > 0) {
        const r = await flood.response();
        assert.equal(r.status, 404);
        answered++;
      }
      assert.ok(answered >= 1, "the first ones are answered");
      await stillServes(sim);
    });
  });
}
