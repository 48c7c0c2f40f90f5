/**
 * The board's API (ISSUE18-PLAN.md): MessagePack bodies both ways (msgpackr,
 * without records, so it never needs `new Function`, which the CSP forbids),
 * POSTs with the session's CSRF token, and the error statuses turned into
 * ApiError for the views to show.
 */
import { pack } from "msgpackr/pack";
import { unpack } from "msgpackr/unpack";

/** What log-in and /api/session answer. `idle`: seconds of inactivity before the board forgets the session. */
export interface Session {
  user: string;
  csrf: string;
  owner: boolean;
  idle: number;
}

/** One row of /api/list: [id (UIDL), size (octets), flags (1 Seen, 2 Answered, 4 Flagged, 8 Draft), arrival (seconds), header lines (bin, raw, CRLF)]. */
export type ListRow = [string, number, number, number, Uint8Array];

export interface ListPage {
  total: number;
  unseen: number;
  messages: ListRow[];
}

export interface Status {
  firmware: string;
  implementation: string;
  uptime: number;
  memory: number;
  memoryUnit: string;
  cardTotalKiB: number;
  cardFreeKiB: number;
  mailboxes: [string, number, number][];
}

export const SEEN = 1;

/** An answer other than 200. `retry`: seconds to wait (429), when the board said. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly retry = 0) {
    super(message);
  }
}

let csrf = "";
/** Called on every 401 (the session ended or never was): the page goes back to the log-in form. */
let onUnauthorized: (message: string) => void = () => undefined;

export function setUnauthorizedHandler(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

/** 503 (the board is busy, over its connection cap): tries again this many times, a little later each time. */
const BUSY_RETRIES = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function request(method: "GET" | "POST", path: string, body?: unknown): Promise<Response> {
  const init: RequestInit = { method, credentials: "same-origin", cache: "no-store", headers: {} };
  if (method === "POST") {
    init.headers = { "Content-Type": "application/msgpack", "X-CSRF-Token": csrf };
    init.body = pack(body ?? {});
  }
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(path, init);
    } catch {
      throw new ApiError(0, "The box does not answer (network error). Is it on, and is this the right address?");
    }
    if (res.ok) return res;
    if (res.status === 503 && attempt < BUSY_RETRIES) {
      const after = Number(res.headers.get("Retry-After")) || attempt + 1;
      await sleep(Math.min(after, 5) * 1000);
      continue;
    }
    throw await errorOf(res);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let said: { error?: unknown; retry?: unknown } = {};
  try {
    if ((res.headers.get("Content-Type") || "").indexOf("msgpack") >= 0) said = unpack(new Uint8Array(await res.arrayBuffer())) || {};
  } catch {
    said = {};
  }
  const text = typeof said.error === "string" ? said.error : "";
  switch (res.status) {
    case 401: {
      const e = new ApiError(401, text || "Please log in.");
      onUnauthorized(e.message);
      return e;
    }
    case 403:
      return new ApiError(403, "Not allowed" + (text ? ": " + text : "") + ". Reload the page if this keeps happening.");
    case 404:
      return new ApiError(404, "Not found: the message may have been deleted.");
    case 429: {
      const retry = typeof said.retry === "number" ? said.retry : Number(res.headers.get("Retry-After")) || 0;
      return new ApiError(429, "Too many failed log-ins. " + (retry ? "Wait " + waitText(retry) + " and try again." : "Wait a while and try again."), retry);
    }
    case 503:
      return new ApiError(503, text ? "The box cannot answer: " + text : "The box is busy. Try again in a moment.");
    default:
      return new ApiError(res.status, "The box answered " + res.status + (text ? ": " + text : ""));
  }
}

/** "45 seconds" / "3 minutes" for a wait of `s` seconds. */
export function waitText(s: number): string {
  if (s < 90) return s + (s === 1 ? " second" : " seconds");
  return Math.ceil(s / 60) + " minutes";
}

async function decoded<T>(res: Response): Promise<T> {
  return unpack(new Uint8Array(await res.arrayBuffer())) as T;
}

function keep(s: Session): Session {
  csrf = s.csrf;
  return s;
}

export async function login(user: string, password: string): Promise<Session> {
  return keep(await decoded<Session>(await request("POST", "/api/login", { user, password })));
}

/** The current session (a reload keeps the log-in), or undefined when there is none. */
export async function session(): Promise<Session | undefined> {
  const res = await fetch("/api/session", { credentials: "same-origin", cache: "no-store" });
  if (res.status === 401) return undefined;
  if (!res.ok) throw await errorOf(res);
  return keep(await decoded<Session>(res));
}

export async function logout(): Promise<void> {
  try {
    await request("POST", "/api/logout", {});
  } finally {
    csrf = "";
  }
}

/** Rows `start` .. `start + count - 1`, newest first. */
export async function list(start: number, count: number): Promise<ListPage> {
  return decoded<ListPage>(await request("GET", "/api/list?start=" + start + "&count=" + count));
}

/** The stored message, octet for octet. */
export async function message(id: string): Promise<Uint8Array> {
  return new Uint8Array(await (await request("GET", "/api/message/" + encodeURIComponent(id))).arrayBuffer());
}

export async function setSeen(ids: string[], seen: boolean): Promise<number> {
  return (await decoded<{ changed: number }>(await request("POST", "/api/seen", { ids, seen }))).changed;
}

export async function remove(ids: string[]): Promise<number> {
  return (await decoded<{ deleted: number }>(await request("POST", "/api/delete", { ids }))).deleted;
}

export async function status(): Promise<Status> {
  return decoded<Status>(await request("GET", "/api/status"));
}
