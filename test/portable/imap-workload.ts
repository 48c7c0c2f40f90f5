/**
 * IMAP FETCH and SEARCH jobs (firmware/imapfetch.ts, imapsearch.ts) over a
 * real MailStore, written in the portable subset so that it runs unchanged
 * on Node and, compiled by TypeScriptToLua, in the Lua 5.3 VM with the
 * board's numbers (test/imapfetch.test.ts): both must print the same
 * transcript.
 */
import type { Config } from "../../firmware/config";
import type { Hal, Storage } from "../../firmware/hal";
import { Access, Mailbox, type Maildrop } from "../../firmware/mailbox";
import { decimal } from "../../firmware/num";
import { fetchJob, parseFetchItems, type FetchItem, type MessageStructure, type PartRange, type SelectedView, type Token } from "../../firmware/imapfetch";
import { find } from "../../firmware/text";

/** Arrival times of the messages: 2025-12-01 10:00:00 UTC and an hour apart. */
export const ARRIVAL = 1764583200;

/** The messages the workload delivers to alice, in order. */
export function workloadMessages(): string[] {
  let received = "";
  for (let n = 0; n < 80; n++) received += "Received: from relay" + decimal(n) + ".example by mx.example with SMTP id " + decimal(n * 7919) + "\r\n";
  let body = "";
  for (let n = 0; n < 200; n++) body += "body line " + decimal(n) + " of the long message\r\n";
  return [
    "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Hello there\r\nDate: Tue, 1 Dec 2026 09:59:00 +0100\r\n" +
      "X-Folded: one\r\n two\r\nsubject : spaced name\r\n\r\nBody line one\r\nBody line two\r\n",
    "Subject: bare\nFrom: x@example.net\n\nbare LF body\n",
    received + "Subject: many hops\r\nFrom: far@example.net\r\n\r\n" + body,
    "Subject: no body\r\nFrom: h@example.org\r\n",
  ];
}

/** Until H-mime's Maildrop.structure lands: the top level's ranges only, found by a search for the blank line. */
export function naiveStructure(drop: Maildrop): void {
  const s = drop as unknown as { structure: (i: number) => MessageStructure | undefined };
  s.structure = function (i: number): MessageStructure | undefined {
    const file = drop.open(i, 0);
    let text = "";
    if (file !== undefined) {
      for (let chunk = file.read(4096); chunk !== undefined; chunk = file.read(4096)) text += chunk;
      file.close();
    }
    let body = find(text, "\r\n\r\n", 0);
    if (body >= 0) body += 4;
    else {
      body = find(text, "\n\n", 0);
      body = body < 0 ? text.length : body + 2;
    }
    return {
      envelope: "(ENVELOPE " + decimal(i) + ")",
      bodystructure: "(BODYSTRUCTURE " + decimal(i) + ")",
      body: "(BODY " + decimal(i) + ")",
      part: function (path: string): PartRange | undefined {
        if (path === "") return { header: 0, body: body, end: text.length, inner: -1 };
        if (path === "1") return { header: body, body: body, end: text.length, inner: -1 };
        return undefined;
      },
    };
  };
}

/** Every chunk of a job until it ends; "<blocked>" where it waited (at most 5 times in a row). */
export function drain(source: { next(): string | undefined; release(): void; blocked?: boolean }): string {
  let out = "";
  let waits = 0;
  for (let chunk = source.next(); chunk !== undefined; chunk = source.next()) {
    if (chunk.length === 0 && source.blocked === true) {
      out += "<blocked>";
      if (++waits > 5) break;
    }
    out += chunk;
  }
  source.release();
  return out;
}

function view(drop: Maildrop, readOnly: boolean): SelectedView {
  return {
    maildrop: drop,
    readOnly: readOnly,
    recent: function (i: number): boolean {
      return i === 0;
    },
    sendChunk: 700,
  };
}

/** A FETCH: its items as tokens, the set as [lo, hi, ...] pairs. */
function fetch(drop: Maildrop, readOnly: boolean, set: number[], byUid: boolean, args: Token[]): string {
  const items = parseFetchItems(args);
  if (typeof items === "string") return "BAD " + items + "\n";
  return drain(fetchJob(view(drop, readOnly), "a1", set, byUid, items as FetchItem[]));
}

/** A box with alice's messages on `storage`; `hal` pieces the Mailbox uses. */
export function workloadBox(storage: Storage): Mailbox {
  const timers: (() => void)[] = [];
  const hal = {
    storage: storage,
    log: function (): void {},
    random: function (): number {
      return 0x2468ace;
    },
    setTimer: function (ms: number, f: () => void) {
      timers.push(f);
      return { cancel: function (): void {} };
    },
    now: function (): number {
      return ARRIVAL;
    },
  } as unknown as Hal;
  const box = new Mailbox(hal, {} as unknown as Config);
  box.card.open();
  const messages = workloadMessages();
  for (let n = 0; n < messages.length; n++) {
    const d = box.card.beginMessage();
    if (d === undefined) continue;
    for (let p = 0; p < messages[n].length; p += 500) d.write(messages[n].substring(p, p + 500));
    d.commit(["alice"], ARRIVAL + n * 3600);
  }
  while (timers.length > 0) (timers.shift() as () => void)();
  return box;
}

/** The FETCH transcript: every item, partials at their edges, \Seen, UID sets, an expunged message, bad item lists. */
export function fetchWorkload(storage: Storage): string {
  const box = workloadBox(storage);
  const drop = box.openMaildrop("alice", Access.Shared) as Maildrop;
  naiveStructure(drop);
  let out = "";
  const all = [1, -1];
  out += fetch(drop, false, all, false, [["FLAGS", "UID", "RFC822.SIZE", "INTERNALDATE"]]);
  out += fetch(drop, false, all, true, ["FLAGS"]);
  out += fetch(drop, false, [2, 3], true, ["FAST"]);
  out += fetch(drop, false, [-1, 3], true, ["ALL"]);
  out += fetch(drop, false, [1, 1, 4, 4], false, ["FULL"]);
  out += fetch(drop, false, [1, 1], false, [["BODYSTRUCTURE", "BODY", "ENVELOPE"]]);
  out += fetch(drop, false, [1, 1], false, ["BODY.PEEK[]"]);
  out += fetch(drop, false, [1, 2], false, [["BODY.PEEK[]<0.10>", "BODY.PEEK[]<5.0>", "BODY.PEEK[]<1000.10>", "BODY.PEEK[]<10.100000>", "BODY.PEEK[]<0.4294967296>"]]);
  out += fetch(drop, false, [1, 4], false, [["BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]", "RFC822.HEADER"]]);
  out += fetch(drop, false, [1, 4], false, [["BODY.PEEK[1]", "BODY.PEEK[2]", "BODY.PEEK[1.MIME]"]]);
  out += fetch(drop, false, [1, 2], false, [["BODY.PEEK[HEADER.FIELDS (Subject From)]", "BODY.PEEK[HEADER.FIELDS.NOT (Subject \"From\" x-folded)]"]]);
  out += fetch(drop, false, [1, 1], false, [["BODY.PEEK[HEADER.FIELDS (SUBJECT)]<3.9>", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]<500.9>", "BODY.PEEK[HEADER.FIELDS (nothing)]"]]);
  out += fetch(drop, false, [3, 3], false, [["BODY.PEEK[HEADER.FIELDS (Received)]", "BODY.PEEK[HEADER.FIELDS (received)]<1000.200>", "BODY.PEEK[HEADER.FIELDS (received)]<6000.200>", "BODY.PEEK[HEADER.FIELDS.NOT (received)]"]]);
  out += fetch(drop, true, [1, 1], false, ["BODY[TEXT]"]);
  out += fetch(drop, false, [1, 1], false, [["FLAGS", "BODY[TEXT]"]]);
  out += fetch(drop, false, [2, 2], false, ["RFC822.TEXT"]);
  out += fetch(drop, false, [3, 3], true, ["RFC822"]);
  out += fetch(drop, false, [1, 2], false, ["BODY[]<0.20>"]);
  out += fetch(drop, false, all, false, ["FLAGS"]);
  // Deleted by another opener since this listing: no response, NO [EXPUNGEISSUED].
  box.store.deleteMessages("alice", [drop.list.seq(1)]);
  out += fetch(drop, false, all, false, [["UID", "FLAGS"]]);
  out += fetch(drop, false, [2, 2], false, ["BODY.PEEK[]"]);
  const bad: Token[][] = [
    [], ["FLAGS", "UID"], [[]], ["ALL2"], [["ALL"]], [["FLAGS", ["UID"]]], ["BODY[0]"], ["BODY[1.]"], ["BODY[MIME]"], ["BODY[HEADER.FIELDS]"],
    ["BODY[HEADER.FIELDS ()]"], ["BODY[TEXT]<1>"], ["BODY[TEXT]<a.1>"], ["BODY.PEEK[TEXT"], ["BODY[X]"], ["BODY[HEADER.FIELDS (a:b)]"], ["BINARY[]"],
    ["BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17]"],
  ];
  for (let n = 0; n < bad.length; n++) {
    const parsed = parseFetchItems(bad[n]);
    out += typeof parsed === "string" ? "BAD " + parsed + "\n" : "parsed " + decimal(parsed.length) + "\n";
  }
  const names = parseFetchItems([["body.peek[1.2.header.fields (a b)]<7.8>", "Rfc822.Size", "BODY[2.MIME]", "body[3.text]", "BODY[4.HEADER]"]]) as FetchItem[];
  for (let n = 0; n < names.length; n++) out += names[n].name + " " + decimal(names[n].kind) + " " + names[n].path + (names[n].seen ? " seen" : "") + "\n";
  drop.close();
  return out;
}
