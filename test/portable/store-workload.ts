/**
 * A workload for the codec and the store written in the portable subset, so
 * that it runs unchanged on Node and, compiled by TypeScriptToLua, in a Lua
 * 5.3 VM (test/lua-store.test.ts). Both runs must print the same transcript
 * and leave byte-identical cards.
 */
import type { Storage } from "../../firmware/hal";
import { fletcher31 } from "../../firmware/checksum";
import { decode, encode, sortBytewise, type MsgValue } from "../../firmware/msgpack";
import { decimal, hex } from "../../firmware/num";
import { MailStore, type IncomingMessage } from "../../firmware/store";
import { JOURNALS } from "../../firmware/journal";

function hexBytes(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) out += hex(s.charCodeAt(i), 2);
  return out;
}

/** Encodings of values at every width boundary, and what decoding them gives back. */
export function msgpackWorkload(): string {
  const values: MsgValue[] = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 16777217, 2147483647,
    -1, -32, -33, -128, -129, -32768, -32769, -16777217, -2147483647 - 1,
    "", "hello", String.fromCharCode(0, 255, 128) + " 8-bit", true, false,
    [1, [2, [3]], "x"], { zeta: 1, alpha: [true, -5], mid: { b: "2", a: "1" } },
  ];
  let long = "";
  for (let i = 0; i < 300; i++) long += String.fromCharCode(i & 0xff);
  values.push(long);
  let out = "";
  for (let i = 0; i < values.length; i++) {
    const bytes = encode(values[i]);
    const back = decode(bytes, 0);
    out += hexBytes(bytes) + " end " + decimal(back.end) + " again " + (encode(back.value) === bytes ? "same" : "DIFFERENT") + "\n";
  }
  // nil cannot sit in a Lua array: on its own.
  out += hexBytes(encode(null)) + " " + (decode(encode(null), 0).value === null ? "nil" : "not nil") + "\n";
  return out;
}

/** Header lines for the cache to pick from: folded, 8-bit, encoded words, a bare LF, a line longer than a read. */
function awkward(n: number): string {
  let long = "X-Long: ";
  for (let i = 0; i < 300 * n; i++) long += String.fromCharCode(33 + ((i * 7) % 90));
  return (
    "Received: by x\r\nFrom: =?GB2312?B?xOO6ww==?= <a@b.example>\r\nTo: one@example.org,\r\n\ttwo@example.org\r\n" + long + "\r\n" +
    "Cc: caf" + String.fromCharCode(233, 0, 255) + "\nContent-Type: text/plain;\r\n charset=utf-8\r\n"
  );
}

function message(n: number): string {
  let s = (n % 4 === 1 ? awkward(n) : "") + "Subject: " + decimal(n) + "\r\n\r\n..dot\r\n";
  for (let i = 0; i < n * 97; i++) s += String.fromCharCode((i * 31 + n) & 0xff);
  return s;
}

/** Maildrops listed: the users' INBOXes and one IMAP folder. */
const USERS = ["alice", "bob", "carol", "alice/1"];

function listing(store: MailStore): string {
  let out = "";
  for (let u = 0; u < USERS.length; u++) {
    const drop = store.maildrop(USERS[u]);
    out += USERS[u] + " " + decimal(drop.count) + " " + decimal(drop.totalBytes) + " usage " + decimal(store.usage(USERS[u])) + "\n";
    for (let i = 0; i < drop.count; i++) {
      const file = store.openMessage(drop.seq(i));
      let content = "";
      if (file !== undefined) {
        for (let chunk = file.read(333); chunk !== undefined; chunk = file.read(333)) content += chunk;
        file.close();
      }
      // The header cache, built and written on first use, then read back.
      const header = store.header(drop.seq(i), -1);
      out += "  header " + hexBytes(header.substring(0, 7)) + " " + decimal(header.length) + " sum " + decimal(fletcher31(header, 0, header.length)) + "\n";
      out += "  " + drop.uid(i) + " " + decimal(drop.size(i)) + " flags " + decimal(store.index.flags(USERS[u], drop.seq(i))) + " read " + decimal(content.length) + " sum " + decimal(fletcher31(content, 0, content.length)) + "\n";
    }
  }
  return out;
}

/** The folders the index knows (sorted: the runtimes enumerate keys in different orders), and every owner's UIDNEXT. */
function folders(store: MailStore): string {
  const keys: string[] = [];
  for (const key in store.index.next) keys.push(key);
  sortBytewise(keys);
  let out = "";
  for (let i = 0; i < keys.length; i++) out += "folder " + keys[i] + " " + (store.index.folders[keys[i]] || "(none)") + " next " + decimal(store.index.next[keys[i]]) + "\n";
  return out;
}

/** Deliveries, an abort, stored flags, IMAP folders, deletions (enough to compact), a restart; returns the transcript. */
export function storeWorkload(storage: Storage): string {
  let out = "";
  const log = function (line: string): void {
    out += "log " + line + "\n";
  };
  const epoch = function (): number {
    return 0x2468ace;
  };
  let store = new MailStore(storage, log, epoch);
  store.compactAfterDeletions = 3;
  if (!store.open()) return out + "open failed\n";
  const seqs: number[] = [];
  for (let n = 1; n <= 9; n++) {
    const incoming = store.beginMessage() as IncomingMessage;
    const data = message(n);
    for (let i = 0; i < data.length; i += 200) incoming.write(data.substring(i, i + 200));
    const recipients = n % 3 === 0 ? ["alice", "bob", "carol"] : n % 2 === 0 ? ["bob"] : ["alice", "bob"];
    incoming.commit(recipients, 1700000000 + n);
    seqs.push(incoming.seq);
    if (n === 4) {
      const dropped = store.beginMessage() as IncomingMessage;
      dropped.write("a client that went away");
      dropped.abort();
    }
  }
  out += listing(store);
  // Stored flags: per user, every value, set again, on a message later deleted by one holder.
  store.storeFlags("alice", seqs[0], 1);
  store.storeFlags("bob", seqs[2], 15);
  store.storeFlags("carol", seqs[2], 8);
  store.storeFlags("alice", seqs[3], 2);
  store.storeFlags("alice", seqs[3], 6);
  store.storeFlags("bob", seqs[8], 9);
  out += listing(store);
  // IMAP's folders (format 3): M and X records, owner keys, an APPEND with flags, two commits out of order.
  store.folder("alice/1", "Work", false);
  store.folder("alice/2", "&AOQ-rger", true);
  const early = store.beginMessage() as IncomingMessage;
  const late = store.beginMessage() as IncomingMessage;
  const received = early.seq;
  early.write(message(10));
  late.write(message(11));
  late.commit(["alice/1"], 1600000011, 16);
  early.commit(["alice/1", "carol"], 1600000010, 5);
  out += "uids " + decimal(late.seq) + " " + decimal(early.seq) + " file " + decimal(store.index.file(early.seq)) + " was " + decimal(received) + "\n";
  const appended = store.beginMessage() as IncomingMessage;
  appended.write(message(12));
  appended.commit(["alice/2"], 1600000012, 31);
  store.folder("alice/1", "Jobs", true);
  store.folder("alice", "INBOX", false);
  store.storeFlags("alice/1", late.seq, 17);
  store.folder("alice/2", "", false);
  out += folders(store);
  out += listing(store);
  store.deleteMessages("alice", [seqs[0], seqs[2]]);
  store.deleteMessages("bob", [seqs[0], seqs[1], seqs[2]]);
  store.deleteMessages("carol", [seqs[2]]);
  store.deleteMessages("bob", [seqs[5]]);
  out += "generation " + decimal(store.journal.generation) + " " + JOURNALS[store.journal.active] + "\n";
  out += listing(store);
  store = new MailStore(storage, log, epoch);
  out += "reopen " + (store.open() ? "ok" : "failed") + " generation " + decimal(store.journal.generation) + "\n";
  out += folders(store);
  out += listing(store);
  return out;
}
