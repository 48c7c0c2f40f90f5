/**
 * The stepped memory driver for the web page's HTTP sessions: N keep-alive
 * connections, each logged in to the same mailbox (web reads share a
 * maildrop), held at checkpoints:
 *   logged in     POST /api/login answered; the connection open and idle;
 *   mid-list      GET /api/list (a page of 50) sent, its head and the start
 *                 of its body read, then the client stops reading (a list
 *                 page is a few KB: it may have gone out whole by then);
 *   mid-message   GET /api/message/<id> sent, head and the start of the raw
 *                 message read, client not reading: a large message is
 *                 held mid-stream with its file open; sessions without a
 *                 body yet count as waiting for a message file when the
 *                 others hold every one the store has.
 * Then each connection is dropped mid-answer (the server must let go of the
 * stream and its file) and each log-in ends by POST /api/logout on a new
 * connection; the phase ends once no file is open on the card.
 */
import { BENCH_USERS, sleep } from "./setup";
import { MESSAGE_HANDLES, SessionGroup, SteppedOptions } from "./stepped";
import { HttpHead, readBody, readHead, sendRequest, unpack, WebLogin, webLogin, webLogout } from "./web-wire";
import { Wire } from "./wire";

type WebState = "connecting" | "logged-in" | "list-sent" | "mid-list" | "listing" | "message-sent" | "mid-message" | "dropped" | "closed";

interface WebSession {
  state: WebState;
  wire?: Wire;
  login?: WebLogin;
}

export interface WebTarget {
  /** The message's id (its UIDL) and stored size in octets. */
  id: string;
  size: number;
}

/** Rows per list page, as the page asks. */
export const LIST_PAGE = 50;
const RETRY_PAUSE_MS = 20;
const MAX_RETRIES = 500;

/**
 * A new connection with a log-in on it. Tried again while the server
 * refuses (503 at accept: the previous row's connections not yet gone on
 * its side) or closes at once.
 */
export async function connectLoggedIn(port: number): Promise<{ wire: Wire; login: WebLogin }> {
  const user = BENCH_USERS[0];
  for (let attempt = 1; ; attempt++) {
    const wire = await Wire.connect(port);
    try {
      return { wire, login: await webLogin(wire, port, user.name, user.password) };
    } catch (e) {
      wire.destroy();
      if (attempt >= MAX_RETRIES || /HTTP 4/.test((e as Error).message)) throw e;
      await sleep(RETRY_PAUSE_MS);
    }
  }
}

function expectStatus(what: string, head: HttpHead, status: number): void {
  if (head.status !== status) throw new Error(`${what}: HTTP ${head.status}`);
}

/** Runs the sessions; resolves with the number of files open on the card at the mid-message checkpoint. */
export async function steppedWeb(options: SteppedOptions, target: WebTarget): Promise<number> {
  const port = options.port;
  const sessions: WebSession[] = [];
  for (let i = 0; i < options.sessions; i++) sessions.push({ state: "connecting" });
  const group = new SessionGroup(sessions, () => sessions.forEach((s) => s.wire?.destroy()));

  group.start(async (s) => {
    const { wire, login } = await connectLoggedIn(port);
    s.wire = wire;
    s.login = login;
    s.state = "logged-in";
    await group.gates.passed("logged in");

    s.state = "list-sent";
    sendRequest(wire, port, "GET", `/api/list?start=0&count=${LIST_PAGE}`, login);
    const listHead = await readHead(wire);
    expectStatus("list", listHead, 200);
    await wire.someInput();
    wire.pause();
    s.state = "mid-list";
    await group.gates.passed("mid-list");
    wire.resume();
    s.state = "listing";
    const list = unpack(await readBody(wire, listHead));
    if (list.messages.length !== Math.min(LIST_PAGE, list.total)) throw new Error(`list: ${list.messages.length} rows of ${list.total}`);

    s.state = "message-sent";
    sendRequest(wire, port, "GET", `/api/message/${target.id}`, login);
    const head = await readHead(wire);
    expectStatus("message", head, 200);
    if (Number(head.headers.get("content-length")) !== target.size) throw new Error(`message: Content-Length ${head.headers.get("content-length")}, listed ${target.size}`);
    await wire.someInput();
    wire.pause();
    s.state = "mid-message";
    await group.gates.passed("mid-message");
    wire.destroy(); // the rest is not read: the server must drop the stream
    s.state = "dropped";
    const again = await connectLoggedOut(port, login);
    again.destroy();
    s.state = "closed";
  });

  await group.checkpoint("logged in", options.probe, () => sessions.every((s) => s.state === "logged-in"));
  await group.checkpoint("mid-list", options.probe, () => sessions.every((s) => s.state === "mid-list"));
  let filesOpen = 0;
  await group.checkpoint("mid-message", options.probe, async () => {
    if (!sessions.every((s) => s.state === "mid-message" || s.state === "message-sent")) return false;
    const held = sessions.filter((s) => s.state === "mid-message").length;
    const open = await options.probe.openFiles();
    filesOpen = open.length;
    // A request without a body yet waits for a message file only while the held sessions take them all.
    return held === sessions.length || (held >= MESSAGE_HANDLES && open.length >= MESSAGE_HANDLES);
  });
  await group.finished();
  await group.until("message files closed", async () => (await options.probe.openFiles()).length === 0);
  return filesOpen;
}

/** Logs `login` out on a new connection (tried again while the server refuses it). */
async function connectLoggedOut(port: number, login: WebLogin): Promise<Wire> {
  for (let attempt = 1; ; attempt++) {
    const wire = await Wire.connect(port);
    try {
      await webLogout(wire, port, login);
      return wire;
    } catch (e) {
      wire.destroy();
      if (attempt >= MAX_RETRIES || /HTTP 4/.test((e as Error).message)) throw e;
      await sleep(RETRY_PAUSE_MS);
    }
  }
}
