/** What both sides of the bench share: the domain, the users, free ports, waiting for a listener. */
import * as net from "node:net";
import type { Config } from "../firmware/config";
import { defaultLimits, defaultServices } from "../firmware/config";

export interface BenchUser {
  name: string;
  password: string;
}

export const BENCH_DOMAIN = "bench.example";
export const SENDER = "sender@client.example";
/** One mailbox per concurrent session: POP3 locks a maildrop per session. */
export const BENCH_USERS: BenchUser[] = [1, 2, 3, 4].map((n) => ({ name: `user${n}`, password: `bench-pass-${n}` }));
/** Large enough for the biggest bench message plus smtp-source's headers. */
export const MAX_MESSAGE_BYTES = 12 * 1024 * 1024;

export function letterboxConfig(): Config {
  const limits = defaultLimits();
  limits.maxMessageBytes = MAX_MESSAGE_BYTES;
  // Four sessions of one service beside SMTP's reserve of 2: 4 listeners + 2 + 4 + the one kept free to refuse with (firmware/sessions.ts).
  limits.sockets = 11;
  const services = defaultServices();
  services.smtp.sessions = 4;
  services.pop3.sessions = 4;
  return {
    hostname: `letterbox.${BENCH_DOMAIN}`,
    domains: [BENCH_DOMAIN],
    users: BENCH_USERS.map((u) => ({ name: u.name, password: u.password })),
    services,
    limits,
  };
}

export { freePort } from "../sim/net";

/** Resolves once something accepts connections on the port. */
export async function waitForPort(port: number, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
