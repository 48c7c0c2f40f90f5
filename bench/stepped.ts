/**
 * What the stepped memory drivers (stepped-smtp.ts, stepped-pop3.ts) share:
 * N sessions run concurrently, each its own script; at a checkpoint each
 * script stops at a gate, the coordinator waits until every session is held
 * there (or is provably waiting for a message file), takes one memory
 * reading and opens the gate.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { MAX_OPEN_FILES } from "../sim/card";
import { sleep } from "./setup";

/** Message files the store may hold open: the card's limit less the one kept for the journal. */
export const MESSAGE_HANDLES = MAX_OPEN_FILES - 1;

/** What the drivers need from the memory probe. */
export interface ProbeLink {
  /** Takes one reading now and folds it into the phase's peak. */
  checkpoint(name: string): Promise<void>;
  /** Card paths of the files open on the probe's card right now (the journal is opened only per append, so: message files). */
  openFiles(): Promise<string[]>;
}

export interface SteppedOptions {
  port: number;
  sessions: number;
  /** The probe's card directory on the host. */
  cardDir: string;
  probe: ProbeLink;
}

const POLL_MS = 5;
/** A checkpoint not reached in this time is a hang: the espruino 10 MB rows take about a minute per phase. */
const BARRIER_TIMEOUT_MS = 10 * 60 * 1000;

/** Gates the session scripts wait at, opened by the coordinator once the checkpoint's reading is taken. */
export class Gates {
  private opened = new Set<string>();
  private waiting = new Map<string, (() => void)[]>();

  isOpen(name: string): boolean {
    return this.opened.has(name);
  }

  passed(name: string): Promise<void> {
    if (this.opened.has(name)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(name, [...(this.waiting.get(name) || []), resolve]));
  }

  open(name: string): void {
    this.opened.add(name);
    for (const resolve of this.waiting.get(name) || []) resolve();
    this.waiting.delete(name);
  }
}

/** Runs the session scripts; the first failure ends the coordination (see `until`). */
export class SessionGroup<S extends { state: string }> {
  readonly gates = new Gates();
  private failure: Error | undefined;
  private tasks: Promise<void>[] = [];

  /** `cleanup` drops every connection after a failure, so that no session waits for ever. */
  constructor(
    readonly sessions: S[],
    private cleanup: () => void,
  ) {}

  /** Starts one script per session, all at once. */
  start(script: (session: S) => Promise<void>): void {
    this.tasks = this.sessions.map((s) => script(s).catch((e: Error) => void (this.failure = this.failure || e)));
  }

  /** Polls `reached` until it holds; throws if a session failed or it takes too long. */
  async until(what: string, reached: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + BARRIER_TIMEOUT_MS;
    for (;;) {
      if (this.failure) throw this.fail(this.failure);
      if (await reached()) return;
      if (Date.now() > deadline) throw this.fail(new Error(`${what} not reached; sessions: ${this.sessions.map((s) => s.state).join(", ")}`));
      await sleep(POLL_MS);
    }
  }

  /** Waits for the checkpoint, takes its reading and lets the sessions go on. */
  async checkpoint(name: string, probe: ProbeLink, reached: () => boolean | Promise<boolean>): Promise<void> {
    await this.until(`checkpoint "${name}"`, reached);
    await probe.checkpoint(name);
    this.gates.open(name);
  }

  /** Resolves when every script has ended; throws the first failure, or when a script hangs. */
  async finished(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`sessions not finished; states: ${this.sessions.map((s) => s.state).join(", ")}`)), BARRIER_TIMEOUT_MS);
    });
    try {
      await Promise.race([Promise.all(this.tasks), hang]);
    } catch (e) {
      throw this.fail(e as Error);
    } finally {
      clearTimeout(timer);
    }
    if (this.failure) throw this.fail(this.failure);
  }

  private fail(e: Error): Error {
    this.cleanup();
    return e;
  }
}

const MESSAGE_DIR = ["LB", "MSG"];

/** The card path of a message's data file, from its UIDL ("<epoch>-<seq>", both 8 hex digits; docs/STORE.md). */
export function messageCardPath(uidl: string): string {
  const seq = uidl.split("-")[1];
  if (!/^[0-9a-fA-F]{8}$/.test(seq || "")) throw new Error(`not a letterbox UIDL: ${uidl}`);
  return `/${MESSAGE_DIR.join("/")}/${seq.toUpperCase()}.EML`;
}

/** Sizes of the message data files on the card (names are upper case on the host). */
export function messageFileSizes(cardDir: string): number[] {
  const dir = path.join(cardDir, ...MESSAGE_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith(".EML"));
  } catch {
    return []; // no message yet: the store creates the directory with the first one
  }
  const sizes: number[] = [];
  for (const name of names) {
    try {
      sizes.push(fs.statSync(path.join(dir, name)).size);
    } catch {
      // removed since the listing
    }
  }
  return sizes;
}

export function expectReply(what: string, got: { code: number; text: string }, code: number): void {
  if (got.code !== code) throw new Error(`${what}: expected ${code}, got ${got.text}`);
}

export function expectOk(what: string, line: string): string {
  if (!line.startsWith("+OK")) throw new Error(`${what}: ${line}`);
  return line;
}
