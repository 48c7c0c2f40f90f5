/**
 * The MIME structure reader (firmware/mimestruct.ts) against Dovecot's IMAP
 * server (Debian's dovecot-imapd, run preauthenticated on a private Maildir:
 * no daemon, no port): for the awkward corpus and a sample of random MIME
 * trees, `FETCH n (ENVELOPE BODYSTRUCTURE BODY)` must give what ours gives,
 * octet for octet. Differences on purpose, checked as such:
 * - a bare LF line end: Dovecot counts it as CRLF in sizes (it serves such
 *   messages with CRLF); the box serves the stored octets, so its sizes are
 *   the stored ones ("bare LF");
 * - nesting: Dovecot goes 100 deep, the box 16 (a deeper part is one leaf:
 *   "deep 20"; within the cap, "deep 12", they agree);
 * - header values no parser was meant to read (random octets): not
 *   compared, see randomMessages.
 */
import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { StructureReader } from "../firmware/mimestruct";
import { CORPUS, crlf, deepMessage } from "./mimestruct-corpus";

/** Ours, as FETCH would print it. */
function ours(text: string): string {
  const r = new StructureReader();
  r.push(text);
  const ms = r.finish();
  return "(ENVELOPE " + ms.envelope + " BODYSTRUCTURE " + ms.bodystructure + " BODY " + ms.body + ")";
}

/** The end of the parenthesised IMAP value that starts at `s[i]` ("("), stepping over quoted strings and literals. */
function valueEnd(s: string, i: number): number {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      for (i++; s[i] !== '"'; i++) if (s[i] === "\\") i++;
    } else if (c === "{") {
      const close = s.indexOf("}\r\n", i);
      i = close + 2 + Number(s.substring(i + 1, close));
    } else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i + 1;
  }
  throw new Error("unterminated response");
}

/** Dovecot's `FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)` over `messages` (in order), each response's parenthesised part. */
function dovecot(messages: string[]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lb-mime-dovecot-"));
  try {
    fs.chmodSync(dir, 0o755);
    const root = process.getuid!() === 0;
    const uid = root ? 65534 : process.getuid!();
    const gid = root ? 65534 : process.getgid!();
    const mail = path.join(dir, "mail");
    for (const sub of ["cur", "new", "tmp"]) fs.mkdirSync(path.join(mail, sub), { recursive: true });
    messages.forEach((m, i) => fs.writeFileSync(path.join(mail, "cur", `${1000000 + i}.m${i}:2,`), Buffer.from(m, "latin1")));
    if (root) spawnSync("chown", ["-R", `${uid}:${gid}`, mail]);
    const conf = path.join(dir, "dovecot.conf");
    fs.writeFileSync(
      conf,
      [
        `base_dir = ${path.join(dir, "run")}`,
        `state_dir = ${path.join(dir, "state")}`,
        `log_path = ${path.join(dir, "dovecot.log")}`,
        "protocols = imap",
        "ssl = no",
        `mail_location = maildir:${mail}:INDEX=MEMORY`,
        `mail_uid = ${uid}`,
        `mail_gid = ${gid}`,
        `first_valid_uid = ${uid}`,
        `first_valid_gid = ${gid}`,
        "",
      ].join("\n"),
    );
    fs.writeFileSync(path.join(dir, "in"), "a SELECT INBOX\r\nb FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)\r\nc LOGOUT\r\n");
    // Pipes, not files: the imap process refuses a plain file as its input (epoll) and a socket (inetd). Its input
    // stays open until LOGOUT is answered: at the end of its input it drops the session, a FETCH still being written
    // (seen on a loaded machine: 122 of 181 responses).
    const input = `i=0; cat ${dir}/in; while [ $i -lt 1200 ] && ! grep -q "^c OK" ${dir}/out 2>/dev/null; do sleep 0.1; i=$((i+1)); done`;
    const run = spawnSync("/bin/sh", ["-c", `{ ${input}; } | /usr/lib/dovecot/imap -c ${conf} | cat > ${dir}/out`], {
      env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin", USER: "letterbox", HOME: dir },
    });
    const out = fs.readFileSync(path.join(dir, "out"), "latin1");
    assert.equal(run.status, 0, out + (fs.existsSync(path.join(dir, "dovecot.log")) ? fs.readFileSync(path.join(dir, "dovecot.log"), "latin1") : ""));
    const found: string[] = [];
    for (let at = out.indexOf("\r\n* 1 FETCH ("); at >= 0; ) {
      const start = out.indexOf("(", at + 4);
      const end = valueEnd(out, start);
      found.push(out.substring(start, end));
      at = out.indexOf(" FETCH (", end);
      at = at < 0 ? -1 : out.lastIndexOf("\r\n*", at);
    }
    assert.equal(found.length, messages.length, out.substring(0, 2000));
    return found;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Random multipart/message trees with header fields drawn from plausible
 * values, awkward ones included (a fixed seed: the same sample every run).
 * Not garbage: for header values no parser was meant to read (random
 * octets) the box's reading may differ from Dovecot's; the corpus holds
 * the broken forms that mail really carries. MIME_SEED and MIME_RUNS pick
 * another sample (2,400 messages over six seeds agreed when written).
 */
function randomMessages(): string[] {
  const addresses = ["a@x.test", "Joe <j@x.test>", '"Q. P." <q@x.test>, b@y.test', '"Smith, J." <s@x.test>', "Group: a@x.test, Joe <b@y.test>;", "undisclosed-recipients:;", "=?utf-8?q?J=C3=B6?= <j@x.test>", "j@x.test (Joe Q)", "<@r.test,@s.test:u@h.test>", "nodomain", "Joe <broken", "a@b.test, , c@d.test", "<>", "x@[10.0.0.1]", "Pete(nice)<p(acct)@x.test(host)>"];
  const values: { [name: string]: string[] } = {
    From: addresses, To: addresses, Cc: addresses, Bcc: addresses, Sender: addresses, "Reply-To": addresses,
    Subject: ["hi", "two  spaces", "=?utf-8?q?x?= y", "tab\there", 'quote "x"', "caf\xe9", "folded\r\n line"],
    "Message-ID": ["<1@x.test>", "<a.b@x.test>"], "In-Reply-To": ["<0@x.test>", "<0@x.test> <1@x.test>"],
    Date: ["Tue, 1 Jul 2003 10:52:37 +0200", "1 Jan 2026 00:00 -0000"],
    "Content-Description": ["a file", "x  y", "caf\xe9"], "Content-ID": ["<c1@x.test>"], "Content-Location": ["http://x.test/a"],
    "Content-Language": ["en", "en, de", "en-US (English)", "de,fr"],
    "Content-Disposition": ["inline", 'attachment; filename="a b.txt"', "attachment; filename*=UTF-8''%E2%82%AC.txt", "ATTACHMENT; SIZE=12", "inline;\r\n filename=x.txt"],
  };
  const field = fc.constantFrom(...Object.keys(values)).chain((name) => fc.constantFrom(...values[name]).map((v) => `${name}: ${v}\r\n`));
  const type = fc.constantFrom("text/plain", "text/html; charset=utf-8", "application/pdf; name=\"a b.pdf\"", "image/png", "TEXT/PLAIN; FORMAT=flowed", "message/rfc822", "multipart/mixed", "multipart/alternative", "multipart/digest");
  const body = fc.array(fc.constantFrom("x", "line\r\n", "\r\n", "-- \r\n", "--x\r\n", "é"), { maxLength: 8 }).map((a) => a.join(""));
  type Part = { head: string[]; type: string; body: string; kids: Part[] };
  const part: fc.Arbitrary<Part> = fc.letrec<{ p: Part }>((tie) => ({
    p: fc.record({ head: fc.array(field, { maxLength: 4 }), type, body, kids: fc.oneof({ maxDepth: 4, depthIdentifier: "k" }, fc.constant([] as Part[]), fc.array(tie("p"), { maxLength: 3, depthIdentifier: "k" })) }),
  })).p;
  let n = 0;
  const render = (p: Part): string => {
    const head = p.head.join("");
    if (p.type.startsWith("multipart")) {
      const b = "bd" + n++ + "_";
      const kids = p.kids.length > 0 ? p.kids : [{ head: [], type: "text/plain", body: p.body, kids: [] }];
      return `${head}Content-Type: ${p.type}; boundary="${b}"\r\n\r\npre\r\n` + kids.map((k) => `--${b}\r\n${render(k)}\r\n`).join("") + `--${b}--\r\nepi\r\n`;
    }
    if (p.type === "message/rfc822") return `${head}Content-Type: message/rfc822\r\n\r\n` + render(p.kids[0] || { head: ["Subject: in\r\n"], type: "text/plain", body: p.body, kids: [] });
    return `${head}Content-Type: ${p.type}\r\n\r\n${p.body}`;
  };
  return fc.sample(part, { seed: Number(process.env.MIME_SEED || 17), numRuns: Number(process.env.MIME_RUNS || 150) }).map(render);
}

describe("the structure reader against Dovecot", () => {
  it("gives Dovecot's ENVELOPE, BODYSTRUCTURE and BODY for the corpus and random trees, but for the differences on purpose", () => {
    const named = CORPUS.concat([
      { name: "deep 12", text: deepMessage(12) },
      { name: "deep 20", text: deepMessage(20) },
      { name: "plain text", text: crlf("Subject: hi", "", "text", "") },
    ]);
    const random = randomMessages();
    const theirs = dovecot(named.map((m) => m.text).concat(random));
    named.forEach((m, i) => {
      const mine = ours(m.text);
      if (m.name === "bare LF") {
        assert.notEqual(mine, theirs[i]);
        assert.equal(mine.split('"7bit" 11 1').join('"7bit" 12 1'), theirs[i], "only the LF-as-CRLF size differs");
      } else if (m.name === "deep 20") {
        assert.notEqual(mine, theirs[i]);
        assert.ok(mine.includes('("multipart" "mixed" ("boundary" "b16.") NIL NIL "7bit" '), "the 17th level is a leaf");
      } else assert.equal(mine, theirs[i], m.name);
    });
    random.forEach((text, i) => assert.equal(ours(text), theirs[named.length + i], `random message ${i}:\n${text}`));
  });
});
