/**
 * Requests per second of the web API on one runtime of the simulator (its
 * own process, as `letterbox sim` runs): GET /api/list (a page of 50 from a
 * mailbox of LIST_MAILBOX messages) and GET /api/message/<id> of a 1 MB
 * message, by 1 and 4 concurrent clients, each a node:http Agent keeping
 * one connection alive and sending its requests one after another. There is
 * no reference server: the figures stand alone. Every answer is checked
 * (status, and the octets against Content-Length).
 */
import * as http from "node:http";
import * as path from "node:path";
import type { RuntimeName } from "../sim/runtime";
import { plainBenchMessage } from "./bench-message";
import { deliver } from "./deliver";
import { BENCH_USERS, BenchUser, sleep } from "./setup";
import { median, startLetterboxProcess } from "./throughput";
import { unpack } from "./web-wire";

export const LIST_MAILBOX = 1000;
const MB = 1024 * 1024;

export interface WebWorkload {
  label: string;
  /** Requests per run, split evenly over the clients. */
  requests: number;
  /** A run stops early after this long (then fewer requests count). */
  maxSeconds: number;
}

export interface WebThroughputRow {
  workload: string;
  sessions: number;
  /** Requests answered per run (the median run's). */
  requests: number;
  requestsPerSecond: number;
  megabytesPerSecond: number;
}

const LIST: WebWorkload = { label: `GET /api/list (50 of ${LIST_MAILBOX})`, requests: 200, maxSeconds: 10 };
const MESSAGE: WebWorkload = { label: "GET /api/message/<id> (1 MB)", requests: 40, maxSeconds: 20 };

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  octets: number;
}

/** A browser-like client: one kept-alive connection, the log-in's cookie and CSRF token. */
class Client {
  private agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private cookie = "";

  constructor(private port: number) {}

  request(method: string, target: string, body?: Buffer, keep = true): Promise<Answer> {
    const headers: http.OutgoingHttpHeaders = {};
    if (this.cookie) headers.Cookie = this.cookie;
    if (body) Object.assign(headers, { "Content-Type": "application/msgpack", Origin: `http://127.0.0.1:${this.port}` });
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: this.port, method, path: target, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let octets = 0;
        res.on("data", (c: Buffer) => {
          octets += c.length;
          if (keep) chunks.push(c);
        });
        res.on("end", () => resolve({ status: res.statusCode as number, headers: res.headers, body: Buffer.concat(chunks), octets }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  /** Logs in, tried again while the server refuses connections (503 at accept: earlier clients' connections not yet gone). */
  async login(user: BenchUser): Promise<void> {
    const { Packr } = await import("msgpackr");
    const body = new Packr({ useRecords: false }).pack({ user: user.name, password: user.password });
    for (let attempt = 1; ; attempt++) {
      const a = await this.request("POST", "/api/login", body).catch((e: Error) => ({ status: 0, error: e }) as unknown as Answer);
      if (a.status === 200) {
        this.cookie = String((a.headers["set-cookie"] || [])[0] || "").split(";")[0];
        return;
      }
      if ((a.status !== 503 && a.status !== 0) || attempt >= 500) throw new Error(`log-in as ${user.name}: HTTP ${a.status}`);
      await sleep(20);
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One run: the clients send `perClient` requests each, one after another, until done or `maxSeconds` pass. */
async function runOnce(clients: Client[], target: string, perClient: number, maxSeconds: number, check: (a: Answer) => void) {
  const started = process.hrtime.bigint();
  const deadline = Date.now() + maxSeconds * 1000;
  let requests = 0;
  let octets = 0;
  await Promise.all(
    clients.map(async (client) => {
      for (let n = 0; n < perClient && Date.now() < deadline; n++) {
        const a = await client.request("GET", target, undefined, false);
        if (a.status !== 200) throw new Error(`${target}: HTTP ${a.status}`);
        check(a);
        requests++;
        octets += a.octets;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { requests, requestsPerSecond: requests / seconds, megabytesPerSecond: octets / seconds / 1e6 };
}

export async function measureWebThroughput(runtime: RuntimeName, runs: number, scratch: string, log: (line: string) => void): Promise<WebThroughputRow[]> {
  const box = await startLetterboxProcess(runtime, path.join(scratch, "web-letterbox"));
  const port = box.httpPort as number;
  const rows: WebThroughputRow[] = [];
  try {
    const [listUser, messageUser] = BENCH_USERS;
    const small = plainBenchMessage(1024);
    await deliver(box.smtpPort, listUser.name, [...Array(LIST_MAILBOX)].map(() => small));
    await deliver(box.smtpPort, messageUser.name, [plainBenchMessage(MB)]);
    // The message's id and size, and a list page as the clients will get it.
    const probe = new Client(port);
    await probe.login(messageUser);
    const only = unpack((await probe.request("GET", "/api/list?start=0&count=50")).body).messages[0] as [string, number];
    probe.close();
    let listOctets = -1;
    const cases: [WebWorkload, BenchUser, string, (a: Answer) => void][] = [
      [LIST, listUser, "/api/list?start=0&count=50", (a) => {
        if (a.octets !== listOctets) throw new Error(`list: ${a.octets} octets, the first page had ${listOctets}`);
      }],
      [MESSAGE, messageUser, `/api/message/${only[0]}`, (a) => {
        if (a.octets !== only[1] || Number(a.headers["content-length"]) !== only[1]) throw new Error(`message: ${a.octets} octets, listed ${only[1]}`);
      }],
    ];
    for (const [work, user, target, check] of cases) {
      for (const sessions of [1, 4]) {
        const clients = [...Array(sessions)].map(() => new Client(port));
        try {
          for (const c of clients) await c.login(user);
          // The list page decoded once (the timed ones must be the same octets): what is timed is what the page gets.
          if (work === LIST) {
            const first = (await clients[0].request("GET", target)).body;
            const page = unpack(first);
            if (page.total !== LIST_MAILBOX || page.messages.length !== 50) throw new Error(`list: ${page.messages.length} rows of ${page.total}`);
            listOctets = first.length;
          }
          const results = [];
          for (let run = 0; run < runs; run++) results.push(await runOnce(clients, target, Math.round(work.requests / sessions), work.maxSeconds, check));
          const row: WebThroughputRow = {
            workload: work.label,
            sessions,
            requests: median(results.map((r) => r.requests)),
            requestsPerSecond: median(results.map((r) => r.requestsPerSecond)),
            megabytesPerSecond: median(results.map((r) => r.megabytesPerSecond)),
          };
          rows.push(row);
          log(`web ${work.label}, ${sessions} client(s): ${row.requestsPerSecond.toFixed(1)} req/s, ${row.megabytesPerSecond.toFixed(2)} MB/s`);
        } finally {
          for (const c of clients) c.close();
        }
      }
    }
  } finally {
    await box.stop();
  }
  return rows;
}
