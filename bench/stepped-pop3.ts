/**
 * The POP3 half of the stepped memory driver: N sessions, each retrieving
 * and deleting the one message in its own mailbox, held at checkpoints:
 *   logged in   USER, PASS and STAT done;
 *   mid-RETR    every session whose RETR was answered has read the status
 *               line and the start of the body and stopped reading, so the
 *               server is held mid-message (a small message has arrived
 *               whole by then); the others are waiting for a message file;
 *   after DELE  every message read to its end and marked deleted.
 * Then QUIT, and the phase ends once the data files are gone from the card.
 * A RETR answered "-ERR [SYS/TEMP]" (an older core: no file free) is sent
 * again after a pause; one answered late (the core waits for a file) is read
 * straight to its end.
 */
import { BENCH_USERS, sleep } from "./setup";
import { expectOk, MESSAGE_HANDLES, messageCardPath, messageFileSizes, SessionGroup, SteppedOptions } from "./stepped";
import { Wire } from "./wire";

type Pop3State =
  | "connecting"
  | "logged-in"
  | "retr-sent" // RETR sent, no answer yet: it may wait for a message file
  | "busy" // RETR answered -ERR [SYS/TEMP]: sent again after a pause
  | "mid-retr" // reading stopped mid-message
  | "reading"
  | "deleted"
  | "closed";

interface Pop3Session {
  user: string;
  password: string;
  state: Pop3State;
  wire?: Wire;
  /** The card path of the message's data file, from its UIDL. */
  file?: string;
}

const BUSY_PAUSE_MS = 10;
const MAX_RETRIES = 1000;

/** Connects and reads the greeting; a busy answer (the previous phase's sessions not yet gone) is tried again. */
async function connect(port: number): Promise<Wire> {
  for (let attempt = 1; ; attempt++) {
    const wire = await Wire.connect(port);
    const greeting = await wire.line();
    if (greeting.startsWith("+OK")) return wire;
    wire.destroy();
    if (!greeting.startsWith("-ERR [SYS/TEMP]") || attempt >= MAX_RETRIES) throw new Error(`POP3 greeting: ${greeting}`);
    await sleep(BUSY_PAUSE_MS);
  }
}

/** Runs the sessions; `minOctets` is the stored message's size without the server's trace headers. */
export async function steppedPop3(options: SteppedOptions, minOctets: number): Promise<void> {
  const sessions: Pop3Session[] = BENCH_USERS.slice(0, options.sessions).map((u) => ({ user: u.name, password: u.password, state: "connecting" }));
  const group = new SessionGroup(sessions, () => sessions.forEach((s) => s.wire?.destroy()));

  group.start(async (s) => {
    const wire = (s.wire = await connect(options.port));
    expectOk("USER", await wire.pop3(`USER ${s.user}`));
    expectOk("PASS", await wire.pop3(`PASS ${s.password}`));
    const count = Number(expectOk("STAT", await wire.pop3("STAT")).split(" ")[1]);
    if (count !== 1) throw new Error(`${s.user}: expected one message, STAT says ${count}`);
    s.file = messageCardPath(expectOk("UIDL", await wire.pop3("UIDL 1")).split(" ")[2] || "");
    s.state = "logged-in";
    await group.gates.passed("logged in");
    for (let attempt = 1; ; attempt++) {
      s.state = "retr-sent";
      const status = await wire.pop3("RETR 1");
      if (status.startsWith("+OK")) break;
      if (!status.startsWith("-ERR [SYS/TEMP]") || attempt >= MAX_RETRIES) throw new Error(`RETR: ${status}`);
      s.state = "busy";
      await sleep(BUSY_PAUSE_MS);
    }
    if (!group.gates.isOpen("mid-RETR")) {
      await wire.someInput();
      wire.pause();
      s.state = "mid-retr";
      await group.gates.passed("mid-RETR");
      wire.resume();
    }
    s.state = "reading";
    const octets = await wire.multiline();
    if (octets < minOctets) throw new Error(`${s.user}: RETR gave ${octets} octets, the message has ${minOctets} and more`);
    expectOk("DELE", await wire.pop3("DELE 1"));
    s.state = "deleted";
    await group.gates.passed("after DELE");
    expectOk("QUIT", await wire.pop3("QUIT"));
    await wire.closed;
    s.state = "closed";
  });

  await group.checkpoint("logged in", options.probe, () => sessions.every((s) => s.state === "logged-in"));
  await group.checkpoint("mid-RETR", options.probe, async () => {
    if (!sessions.every((s) => s.state === "mid-retr" || s.state === "retr-sent" || s.state === "busy")) return false;
    const unanswered = sessions.filter((s) => s.state !== "mid-retr");
    if (unanswered.length === 0) return true;
    // A RETR without its answer is waiting for a file only when every file is taken, none of them its own.
    const open = await options.probe.openFiles();
    return open.length >= MESSAGE_HANDLES && unanswered.every((s) => !open.includes(s.file || ""));
  });
  await group.checkpoint("after DELE", options.probe, () => sessions.every((s) => s.state === "deleted"));
  await group.finished();
  // The deletions apply at QUIT; the next row starts from an empty card.
  await group.until("message files removed", () => messageFileSizes(options.cardDir).length === 0);
}
