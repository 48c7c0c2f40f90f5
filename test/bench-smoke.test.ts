/**
 * The bench harness's own parts, fast and without Postfix: the POP3
 * retrieval loop against a scripted server that splits its answers badly,
 * the multi-line end finder, smtp-source's rejection warnings, medians,
 * the Postfix/Dovecot configuration, the BENCHMARKS.md section writer,
 * the bench message, the stepped memory drivers (node runtime, 1 KB: SMTP
 * and POP3, and the web page's HTTP sessions) and the web memory verdicts.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { rejectedMessages, smtpSourceArgs } from "../bench/load";
import { fetchAll, MultilineEnd } from "../bench/pop3-fetch";
import { dovecotConf, postfixMainCf } from "../bench/reference";
import { benchMessage } from "../bench/bench-message";
import { flatness, webMemoryNotes, writeResults } from "../bench/report";
import { measureMemory, MemoryRow } from "../bench/memory";
import { BENCH_DOMAIN, BENCH_USERS } from "../bench/setup";
import { median } from "../bench/throughput";
import { measureWebMemory, WebMemory } from "../bench/web-memory";
import { tempDir } from "./helpers/fixtures";

test("MultilineEnd finds CRLF.CRLF wherever the chunks split it and counts the body", () => {
  const body = "line one\r\n..dot-stuffed\r\n\r\nlast\r\n";
  const wire = Buffer.from(body + ".\r\nNEXT");
  for (let cut = 0; cut <= wire.length; cut++) {
    for (let cut2 = cut; cut2 <= wire.length; cut2 += 3) {
      const end = new MultilineEnd();
      const parts = [wire.subarray(0, cut), wire.subarray(cut, cut2), wire.subarray(cut2)];
      let offset = 0;
      let found = -1;
      for (const part of parts) {
        const used = end.feed(part);
        if (used >= 0) {
          found = offset + used;
          break;
        }
        offset += part.length;
      }
      assert.equal(found, body.length + 3, `cuts at ${cut}/${cut2}`);
      assert.equal(end.bodyBytes, body.length);
    }
  }
});

test("MultilineEnd: an empty body is just the terminator", () => {
  const end = new MultilineEnd();
  assert.equal(end.feed(Buffer.from(".\r\n+OK next")), 3);
  assert.equal(end.bodyBytes, 0);
});

/** A scripted POP3 server writing its answers one byte at a time. */
function scriptedPop3(messages: string[], log: string[]): Promise<net.Server> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      const write = (text: string) => {
        for (const ch of text) socket.write(ch);
      };
      write("+OK ready\r\n");
      let pending = "";
      socket.on("data", (d) => {
        pending += d.toString("latin1");
        let nl: number;
        while ((nl = pending.indexOf("\r\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 2);
          log.push(line);
          const [verb, arg] = line.split(" ");
          if (verb === "PASS" && arg !== "secret") write("-ERR [AUTH] no\r\n");
          else if (verb === "STAT") write(`+OK ${messages.length} 999\r\n`);
          else if (verb === "RETR") write(`+OK\r\n${messages[Number(arg) - 1]}.\r\n`);
          else if (verb === "QUIT") (write("+OK bye\r\n"), socket.end());
          else write("+OK\r\n");
        }
      });
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

test("fetchAll logs in, retrieves and deletes every message and counts their octets", async () => {
  const messages = ["Subject: a\r\n\r\nhello\r\n", "Subject: b\r\n\r\n..\r\nx\r\n", ""];
  const log: string[] = [];
  const server = await scriptedPop3(messages, log);
  try {
    const port = (server.address() as net.AddressInfo).port;
    const result = await fetchAll(port, "alice", "secret", true);
    assert.equal(result.messages, 3);
    assert.equal(result.bytes, messages.join("").length);
    assert.ok(result.endedAt >= result.startedAt);
    assert.deepEqual(log, ["USER alice", "PASS secret", "STAT", "RETR 1", "DELE 1", "RETR 2", "DELE 2", "RETR 3", "DELE 3", "QUIT"]);
    await assert.rejects(fetchAll(port, "alice", "wrong", false), /-ERR \[AUTH\] no/);
  } finally {
    server.close();
  }
});

test("smtp-source: rejections are counted, temporary ones only; -A keeps the session going", () => {
  const stderr = [
    "smtp-source: warning: data rejected: 451 4.3.2 Busy receiving other mail, try again shortly",
    "smtp-source: warning: something else",
    "smtp-source: warning: data rejected: 452 4.3.1 Insufficient storage, try again later",
  ].join("\n");
  assert.equal(rejectedMessages(stderr).count, 2);
  assert.equal(rejectedMessages("").count, 0);
  assert.throws(() => rejectedMessages("smtp-source: warning: recipient rejected: 550 5.1.1 no such user"), /for good/);
  const args = smtpSourceArgs(2525, "user1", 7, 1024);
  assert.ok(args.includes("-A"));
  assert.equal(args[args.indexOf("-m") + 1], "7");
  assert.equal(args[args.length - 1], "127.0.0.1:2525");
});

test("median of odd and even counts", () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]));
});

test("the reference configuration stays private: loopback, its own port and directories", () => {
  const options = { dir: "/tmp/bench-x", domain: BENCH_DOMAIN, users: BENCH_USERS, smtpPort: 40025, pop3Port: 40110, maxMessageBytes: 1000 };
  const main = postfixMainCf(options);
  assert.match(main, /^inet_interfaces = 127\.0\.0\.1$/m);
  assert.match(main, /^queue_directory = \/tmp\/bench-x\//m);
  assert.match(main, new RegExp(`user4@${BENCH_DOMAIN.replace(".", "\\.")}=user4/`));
  const dovecot = dovecotConf(options);
  assert.match(dovecot, /port = 40110/);
  assert.match(dovecot, /^base_dir = \/tmp\/bench-x\//m);
  assert.doesNotMatch(dovecot + main, /\b(25|110)\b(?!\d)/);
});

test("flatness flags memory that grows with the message size", () => {
  const row = (bytes: number, smtpPeak: number): MemoryRow => ({
    runtime: "node",
    unit: "bytes",
    bytes,
    sessions: 1,
    smtp: { idle: 1000, peak: 1000 + smtpPeak, samples: 5, checkpoints: 2, marks: [] },
    pop3: { idle: 1000, peak: 2000, samples: 5, checkpoints: 3, marks: [] },
  });
  const flat = flatness([row(1024, 100000), row(10 << 20, 120000)]);
  assert.match(flat[0], /: flat$/);
  const grows = flatness([row(1024, 100000), row(10 << 20, 10 << 20)]);
  assert.match(grows[0], /GROWS/);
  assert.match(grows[1], /: flat$/);
  // Checkpoint readings decide even without timer samples; timer samples alone, too few of them, do not.
  const few = row(1024, 100000);
  few.smtp.samples = 0;
  assert.match(flatness([few, row(10 << 20, 10 << 20)])[0], /GROWS/);
  few.smtp.samples = 2;
  few.smtp.checkpoints = 0;
  assert.match(flatness([few, row(10 << 20, 10 << 20)])[0], /inconclusive/);
  // A step between the small sizes, flat from the middle one on, is told apart from growth.
  const step = flatness([row(1024, 100000), row(1 << 20, 400000), row(10 << 20, 420000)]);
  assert.match(step[0], /a step from 1 KB to 1 MB .*then flat$/);
  assert.match(flatness([row(1024, 100000), row(1 << 20, 1 << 20), row(10 << 20, 10 << 20)])[0], /GROWS/);
});

test("the bench message: exact size, CRLF lines of at most 998 octets, halves that stuff and unstuff to it", () => {
  for (const octets of [1024, 1 << 20, 1024 + 81, 1024 + 79]) {
    const m = benchMessage(octets);
    const unstuff = (b: Buffer) => b.toString("latin1").replace(/(^|\r\n)\./g, "$1");
    const text = unstuff(m.firstHalf) + unstuff(m.rest);
    assert.equal(text.length, octets);
    assert.equal(unstuff(m.firstHalf).length, m.firstHalfOctets);
    assert.ok(m.firstHalfOctets >= octets / 2 && m.firstHalfOctets < octets / 2 + 100);
    assert.ok(text.endsWith("\r\n") && text.includes("\r\n\r\n"));
    for (const line of text.slice(0, -2).split("\r\n")) assert.ok(line.length <= 998 && !/[\r\n]/.test(line), JSON.stringify(line));
    assert.match(m.firstHalf.toString("latin1") + m.rest.toString("latin1"), /\r\n\.\./); // some lines are dot-stuffed
  }
});

test("the stepped memory driver reads every checkpoint with all sessions held (node runtime, 1 KB)", async () => {
  const scratch = tempDir("bench-memory");
  try {
    const rows = await measureMemory("node", [1024], [1, 4], scratch, () => {});
    assert.deepEqual(rows.map((r) => r.sessions), [1, 4]);
    for (const r of rows) {
      assert.deepEqual(r.smtp.marks.map((m) => m.checkpoint), ["mid-DATA", "after 250"]);
      assert.deepEqual(r.pop3.marks.map((m) => m.checkpoint), ["logged in", "mid-RETR", "after DELE"]);
      assert.equal(r.smtp.checkpoints, 2);
      assert.equal(r.pop3.checkpoints, 3);
      for (const phase of [r.smtp, r.pop3]) assert.ok(phase.marks.every((m) => m.value > 0 && m.value <= phase.peak));
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

test("the web memory driver reads every checkpoint with all sessions held (node runtime, 1 KB)", async () => {
  const scratch = tempDir("bench-web-memory");
  try {
    const memory = await measureWebMemory("node", [1024], [1, 4], scratch, () => {});
    assert.deepEqual(memory.rows.map((r) => r.sessions), [1, 4]);
    assert.ok(memory.boot > 0 && memory.filled > 0);
    for (const r of memory.rows) {
      assert.deepEqual(r.marks.map((m) => m.checkpoint), ["logged in", "mid-list", "mid-message"]);
      assert.ok(r.marks.every((m) => m.value > 0 && m.value <= r.peak));
      assert.ok(r.filesOpen <= 1 * r.sessions);
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

test("web memory notes: per-session costs, and mid-message flat or growing with the message size", () => {
  const row = (bytes: number, sessions: number, mid: number) => ({
    runtime: "lua" as const,
    unit: "bytes" as const,
    bytes,
    sessions,
    idle: 1000,
    peak: 1000 + mid,
    samples: 3,
    filesOpen: 1,
    marks: [
      { checkpoint: "logged in", value: 1000 + 1500 * sessions },
      { checkpoint: "mid-list", value: 1000 + 1600 * sessions },
      { checkpoint: "mid-message", value: 1000 + mid },
    ],
  });
  const memory = (large: number): WebMemory => ({
    runtime: "lua",
    unit: "bytes",
    boot: 30000,
    filled: 40000,
    rows: [row(1024, 1, 2000), row(1024, 4, 8000), row(10 << 20, 1, large), row(10 << 20, 4, 4 * large)],
  });
  const flat = webMemoryNotes([memory(2600)]);
  assert.match(flat[0], /idle after boot 29\.3 KB/);
  assert.match(flat[1], /logged in 1\.5 KB, mid-list 1\.6 KB, mid-message 2\.5 KB/);
  assert.match(flat[2], /x1 mid-message: .*: flat$/);
  assert.match(flat[3], /x4 mid-message: .*: flat$/);
  const grows = webMemoryNotes([memory(100000)]);
  assert.match(grows[2], /GROWS/);
  // 1 KB sent whole, 1 MB and 10 MB held alike: a step, then flat; unless 10 MB takes more than 1 MB.
  const step = memory(8000);
  step.rows.push(row(1 << 20, 1, 7900));
  assert.match(webMemoryNotes([step])[2], /x1 mid-message: .*a step from 1 KB to 1 MB .*then flat$/);
  step.rows[step.rows.length - 1] = row(1 << 20, 1, 1000);
  assert.match(webMemoryNotes([step])[2], /GROWS/);
});

test("writeResults replaces only the generated section of BENCHMARKS.md", () => {
  const dir = tempDir("bench-md");
  const file = path.join(dir, "BENCHMARKS.md");
  writeResults(file, "first");
  fs.appendFileSync(file, "\nhand-written notes\n");
  writeResults(file, "second");
  writeResults(file, "web one", "web");
  writeResults(file, "web two", "web");
  const text = fs.readFileSync(file, "utf8");
  assert.doesNotMatch(text, /first|web one/);
  assert.match(text, /second/);
  assert.match(text, /web two/);
  assert.match(text, /hand-written notes/);
  fs.rmSync(dir, { recursive: true, force: true });
});
