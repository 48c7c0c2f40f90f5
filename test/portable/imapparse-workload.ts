/**
 * The IMAP command reader and its helpers run over a fixed set of inputs, in
 * the portable subset: the same code runs on Node and, compiled by
 * TypeScriptToLua, in the Lua VM with the board's numbers
 * (test/imapparse.test.ts compares the transcripts), and the Node run is
 * checked case by case there too.
 */
import { CommandReader, decodeMailboxName, inSet, matchPattern, parseSet, quote, type ImapCommand, type Token } from "../../firmware/imapparse";
import { decimal } from "../../firmware/num";

/** A token as text: strings quoted with printable() rules, lists in parentheses. */
export function show(t: Token): string {
  if (typeof t === "string") {
    let out = "'";
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c < 32 || c > 126 || c === 39 || c === 92) out += "\\" + decimal(c) + ";";
      else out += t.charAt(i);
    }
    return out + "'";
  }
  let out = "(";
  for (let i = 0; i < t.length; i++) out += (i > 0 ? " " : "") + show(t[i]);
  return out + ")";
}

/**
 * Feeds `input` to a reader in chunks of `size` octets and returns its
 * events, one a line. Literals are taken unless `refuse` (then the reader
 * skips); a command named IDLE or AUTHENTICATE asks for the next line raw.
 * With `stop`, push is told to stop after every event and fed the rest
 * again. APPEND data of one message is shown joined.
 */
export function readAll(input: string, size: number, refuse: boolean, stop: boolean): string {
  let out = "";
  let data = "";
  let stopNow = false;
  const reader: CommandReader = new CommandReader({
    onCommand: function (cmd: ImapCommand) {
      out += "C " + cmd.tag + " " + cmd.name + " " + show(cmd.args) + "\n";
      if (cmd.name === "IDLE" || cmd.name === "AUTHENTICATE") reader.expectLine();
      stopNow = true;
    },
    onBad: function (tag: string, text: string) {
      if (data.length > 0) out += "D " + show(data) + "\n";
      data = "";
      out += "B " + tag + " " + text + "\n";
      stopNow = true;
    },
    onLiteral: function (tag: string, n: number, sync: boolean): boolean {
      out += "L " + tag + " " + decimal(n) + (sync ? " sync" : " nonsync") + "\n";
      if (refuse) out += "B " + tag + " refused\n";
      return !refuse;
    },
    onAppendStart: function (cmd: ImapCommand, n: number, sync: boolean): boolean {
      out += "A " + cmd.tag + " " + show(cmd.args) + " " + decimal(n) + (sync ? " sync" : " nonsync") + "\n";
      if (refuse) out += "B " + cmd.tag + " refused\n";
      return !refuse;
    },
    onAppendData: function (chunk: string) {
      if (chunk.length === 0) out += "empty data chunk\n";
      data += chunk;
    },
    onAppendEnd: function () {
      out += "D " + show(data) + "\nE\n";
      data = "";
      stopNow = true;
    },
    onContinuation: function (line: string) {
      out += "K " + show(line) + "\n";
      stopNow = true;
    },
  });
  const shouldStop = function (): boolean {
    const s = stopNow && stop;
    stopNow = false;
    return s;
  };
  for (let p = 0; p < input.length; p += size) {
    let rest = input.substring(p, p + size);
    while (rest.length > 0) {
      const before = rest.length;
      rest = reader.push(rest, shouldStop);
      if (rest.length >= before) return out + "push consumed nothing\n";
    }
  }
  return out;
}

/** One octet (8-bit and NUL string literals would not reach Lua as single octets). */
function X(c: number): string {
  return String.fromCharCode(c);
}

function repeat(s: string, n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) out += s;
  return out;
}

/** Every grammar case and limit: [name, input]. */
export function cases(): string[][] {
  const big = repeat("x", 8000);
  return [
    ["simple", "a1 noop\r\nA2 CAPABILITY\r\nA3 login alice secret\r\n"],
    ["bare LF and spaces", "a1 NOOP\na2  LOGIN   a   b  \r\n"],
    ["uid", "A UID fetch 1:*,3 (FLAGS UID)\r\nB uid  STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)\r\nC UID\r\n"],
    ["quoted", 'a LOGIN "al ice" "p\\"a\\\\ss"\r\nb LIST "" ""\r\nc SELECT "unterminated\r\nd X "\\a"\r\n'],
    ["lists", "a STORE 1 FLAGS ()\r\nb X (a (b (c NIL)) \"\" d)\r\nc X ((a)\r\nd X a)\r\ne X (a)b\r\nf X \"a\"\"b\"\r\n"],
    ["sections", "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.100> BODY[] BODY[1.2.MIME] RFC822.SIZE)\r\n" +
      'b FETCH 1 BODY[HEADER.FIELDS ("Subject" "X Y" "a\\"b")]\r\nc FETCH 1 BODY[HEADER\r\nd FETCH 1 BODY[a[b]]\r\ne SELECT [Gmail]/Sent\r\n'],
    ["literals", "a LOGIN {5}\r\nalice {6+}\r\nsecret\r\nb X ({0}\r\n {3}\r\n(a))\r\nc X {3}\r\nabcd\r\nd X {3} x\r\ne X {x}\r\nf X {}\r\n"],
    ["literal limit", "a X {8192}\r\n" + repeat("y", 8192) + "\r\nb X {4096+}\r\n" + repeat("z", 4096) + " {4097+}\r\n" + repeat("w", 4097) + " c\r\nc NOOP\r\n"],
    ["huge literals", "a LOGIN {4294967296}\r\nb NOOP\r\nc LOGIN {999999999999999999999}\r\nd NOOP\r\n"],
    ["nul", "a NO" + X(0x00) + "OP\r\nb LOGIN {3}\r\na" + X(0x00) + "b\r\nc LOGIN \"x" + X(0x00) + "\" {2+}\r\nzz\r\nd NOOP\r\n"],
    ["cr", "a LOGIN a\rb c\r\nb NOOP\r\r\n"],
    ["tags", "+ NOOP\r\n* NOOP\r\na\"b NOOP\r\n" + repeat("t", 64) + " NOOP\r\n" + repeat("t", 65) + " NOOP\r\n" + repeat("T", 10240) + " NOOP\r\nz NOOP\r\n"],
    ["names", "a1\r\na2 \r\na3 (x)\r\na4 \"NOOP\"\r\nGET / HTTP/1.1\r\na5 NO(OP\r\n\r\n\r\na6 NOOP\r\n"],
    ["nesting", "a X " + repeat("(", 16) + repeat(")", 16) + "\r\nb X " + repeat("(", 17) + repeat(")", 17) + "\r\nc X " + repeat("(", 1000) + repeat(")", 1000) + "\r\nd NOOP\r\n"],
    ["line limit", "a X " + repeat("a", 8186) + "\r\nb X " + repeat("a", 8187) + "\r\nc X " + big + " {5+}\r\n12345 " + big + "\r\nd NOOP\r\n"],
    ["items", "a X" + repeat(" x", 1000) + "\r\nb X" + repeat(" x", 1001) + "\r\nc X" + repeat(" ()", 500) + "\r\nd X ()" + repeat(" ()", 500) + "\r\ne NOOP\r\n"],
    ["long continuation", "a X {1}\r\nq" + repeat(" b", 4100) + "\r\nb NOOP\r\n"],
    ["append", "a APPEND INBOX (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {13}\r\nHello\r\nWorld!\r\nb APPEND Sent {0+}\r\n\r\n" +
      "c APPEND {6}\r\nDrafts {3+}\r\nabc\r\nd APPEND x {2}\r\nab {2+}\r\ncd\r\ne APPEND x ({2}\r\nab)\r\n\r\nf NOOP\r\n"],
    ["append big", "a APPEND INBOX {3000+}\r\n" + repeat("0123456789", 300) + "\r\nb APPEND INBOX {4294967296}\r\nc NOOP\r\n"],
    ["continuations", "a IDLE\r\nDONE\r\nb AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nc IDLE\r\n" + repeat("D", 9000) + "\r\nDONE\r\nd NOOP\r\n"],
    ["garbage", "" + X(0x00) + "" + X(0x01) + "" + X(0x02) + "\r\n" + X(0xff) + "" + X(0xfe) + " NOOP\r\na NOOP " + X(0xe9) + "t" + X(0xe9) + "\r\nb X \x7f a\"b\r\n)(\r\nc X {2+}\r\n\r\n\r\nd NOOP\r\n"],
  ];
}

/** The reader over every case at 1-, 3- and 536-octet chunks (with and without stops), and the helpers. */
export function imapparseWorkload(): string {
  let out = "";
  const all = cases();
  const sizes = [1, 3, 536];
  for (let i = 0; i < all.length; i++) {
    const whole = readAll(all[i][1], all[i][1].length, false, false);
    out += "== " + all[i][0] + "\n" + whole;
    for (let k = 0; k < sizes.length; k++) {
      if (readAll(all[i][1], sizes[k], false, k === 1) !== whole) out += "DIFFERENT at " + decimal(sizes[k]) + "\n";
    }
    out += "-- refused\n" + readAll(all[i][1], 536, true, false);
  }
  const sets = ["1", "1:*", "1:*,999999999,5:3", "2147483646,2147483647,4294967296", "*", "3:5,7", "0", "1:0", "", "1,", ",1", "1::2", "a", "-1", "1:2:3", "$", "01:002"];
  for (let i = 0; i < sets.length; i++) {
    const set = parseSet(sets[i]);
    if (set === undefined) out += "set " + show(sets[i]) + " invalid\n";
    else {
      let line = "set " + show(sets[i]) + " =";
      for (let k = 0; k < set.length; k++) line += " " + decimal(set[k]);
      line += " holds";
      const probes = [1, 2, 3, 4, 5, 6, 7, 8, 10, 999999999, 2147483646, 2147483647];
      for (let k = 0; k < probes.length; k++) if (inSet(set, probes[k], 10)) line += " " + decimal(probes[k]);
      out += line + "\n";
    }
  }
  let many = "1";
  for (let i = 2; i <= 512; i++) many += "," + decimal(i * 2);
  out += "512 ranges " + (parseSet(many) === undefined ? "invalid" : "valid") + ", 513 " + (parseSet(many + ",9999") === undefined ? "invalid" : "valid") + "\n";
  const names = ["INBOX", "a&-b", "Entw&APw-rfe", "&Jjo-!", "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "&2D3eAA-", "", "a b",
    "&", "&U,BTFw", "&AGE-", "&AAA-", "&2D0-", "&3gA-", "&2D3YPQ-", "&APw", "&APx-", "&AP-", "a\x7fb", "caf" + X(0xe9) + "", "tab\there", "&U,B-", "&*-"];
  for (let i = 0; i < names.length; i++) out += "name " + show(names[i]) + " " + (decodeMailboxName(names[i]) === undefined ? "invalid" : "valid") + "\n";
  const folders = ["INBOX", "INBOX/Sub", "Sent", "Archive/2024", "Archive/2024/Jan", "a/b/c", "Ssst", "inboxes"];
  const patterns = ["*", "%", "INBOX", "inbox", "in*", "Inbox/%", "Archive/%", "Archive/*", "%/%", "S%t", "*/*", "a*b*c", "*%*%", "", "%%%/%%", "in%"];
  for (let i = 0; i < patterns.length; i++) {
    let line = "pattern " + show(patterns[i]) + ":";
    for (let k = 0; k < folders.length; k++) if (matchPattern(patterns[i], folders[k])) line += " " + folders[k];
    out += line + "\n";
  }
  const aaa = repeat("a", 60);
  out += "pathological " + (matchPattern(repeat("*a", 30) + "b", aaa) ? "match" : "no match") + " " + (matchPattern(repeat("%a", 30), aaa) ? "match" : "no match") + "\n";
  const quoted = ["", "plain", 'with "quotes" and \\', "caf" + X(0xe9) + "", "two\r\nlines", "nul" + X(0x00) + "", "tab\there"];
  for (let i = 0; i < quoted.length; i++) out += "quote " + show(quote(quoted[i])) + "\n";
  return out;
}
