/**
 * A user's folders as IMAP shows them, as plain data (for the card
 * fixtures: test/tools/make-card-fixture.ts records it, and
 * test/card-fixture.tcp.test.ts compares): per folder its subscription,
 * UIDNEXT and messages (UID, stored flags sorted without the session's
 * \Recent, size, SHA-256 of the octets), read with EXAMINE and BODY.PEEK.
 */
import * as crypto from "node:crypto";
import { ImapClient } from "./imap-client";

export interface FolderView {
  subscribed: boolean;
  uidnext: number;
  messages: [number, string, number, string][];
}

function unquote(s: string): string {
  return s.startsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, "$1") : s;
}

export async function imapFolders(port: number, user: string, password: string): Promise<{ [name: string]: FolderView }> {
  const c = await ImapClient.login(port, user, password);
  try {
    const names = (await c.command('LIST "" "*"')).lines.map((l) => unquote(/^\* LIST \([^)]*\) (?:"\/"|NIL) (.*)$/.exec(l)![1]));
    const subscribed = new Set((await c.command('LSUB "" "*"')).lines.map((l) => unquote(/^\* LSUB \([^)]*\) (?:"\/"|NIL) (.*)$/.exec(l)![1])));
    const out: { [name: string]: FolderView } = {};
    for (const name of names.sort()) {
      const quoted = '"' + name.replace(/(["\\])/g, "\\$1") + '"';
      const status = (await c.command(`STATUS ${quoted} (UIDNEXT)`)).lines.join("\n");
      const uidnext = Number(/UIDNEXT (\d+)/.exec(status)![1]);
      const examined = await c.command(`EXAMINE ${quoted}`);
      if (!examined.status.startsWith("OK")) throw new Error(`EXAMINE ${name}: ${examined.status}`);
      const messages: [number, string, number, string][] = [];
      if (/\* [1-9]\d* EXISTS/.test(examined.lines.join("\n"))) {
        const fetched = await c.command("UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[])");
        for (const line of fetched.lines) {
          const at = line.indexOf("BODY[] {");
          const head = line.slice(0, at);
          const length = Number(/^\{(\d+)\}/.exec(line.slice(at + 7))![1]);
          const start = line.indexOf("}\r\n", at) + 3;
          const octets = Buffer.from(line.slice(start, start + length), "latin1");
          const flags = /FLAGS \(([^)]*)\)/.exec(head)![1].split(" ").filter((f) => f !== "" && f !== "\\Recent").sort().join(" ");
          messages.push([Number(/UID (\d+)/.exec(head)![1]), flags, Number(/RFC822\.SIZE (\d+)/.exec(head)![1]), crypto.createHash("sha256").update(octets).digest("hex")]);
        }
      }
      out[name] = { subscribed: subscribed.has(name), uidnext, messages };
    }
    return out;
  } finally {
    await c.logout();
  }
}
