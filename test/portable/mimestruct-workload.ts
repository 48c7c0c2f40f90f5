/**
 * The MIME structure reader over the awkward-message corpus, written in the
 * portable subset so that it runs unchanged on Node and, compiled by
 * TypeScriptToLua, in the Lua 5.3 VM with the board's numbers
 * (test/mimestruct-lua.test.ts): both must print the same transcript.
 */
import { parseStructure, structureRecord, StructureReader } from "../../firmware/mimestruct";
import { decimal } from "../../firmware/num";
import { CORPUS, deepMessage } from "../mimestruct-corpus";

/** `text` fed to a reader in chunks of `size` octets; its record (structureRecord). */
export function readInChunks(text: string, size: number): string {
  const reader = new StructureReader(undefined);
  for (let i = 0; i < text.length; i += size) reader.push(text.substring(i, i + size));
  return structureRecord(reader.finish());
}

/** Every corpus message (and a 20-deep one) read whole, and whether reads in 1, 3, 536 and 1460-octet chunks agree; the parts' ranges. */
export function mimeWorkload(): string {
  let out = "";
  const names: string[] = [];
  const texts: string[] = [];
  for (let i = 0; i < CORPUS.length; i++) {
    names.push(CORPUS[i].name);
    texts.push(CORPUS[i].text);
  }
  names.push("deep 20");
  texts.push(deepMessage(20));
  const sizes = [1, 3, 536, 1460];
  for (let i = 0; i < texts.length; i++) {
    const whole = readInChunks(texts[i], texts[i].length + 1);
    let same = "";
    for (let k = 0; k < sizes.length; k++) same += readInChunks(texts[i], sizes[k]) === whole ? " same" : " DIFFERENT";
    const ms = parseStructure(whole, 0);
    out += "## " + names[i] + same + "\n";
    if (ms === undefined) {
      out += "record unreadable\n";
      continue;
    }
    out += ms.envelope + "\n" + ms.bodystructure + "\n" + ms.body + "\n";
    const paths = ["", "1", "2", "1.1", "2.1", "2.2", "1.2", "3", "2.1.1"];
    for (let k = 0; k < paths.length; k++) {
      const r = ms.part(paths[k]);
      if (r !== undefined) out += "[" + paths[k] + "] " + decimal(r.header) + " " + decimal(r.body) + " " + decimal(r.end) + " " + decimal(r.inner) + "\n";
    }
  }
  return out;
}

/**
 * A message of about `total` octets (a text part, then a base64 part of
 * `total` octets) made and read 2 KiB at a time, never held whole; the
 * runtime's memory (`memory()`, in its own unit) sampled every 64 pieces.
 * Returns "<peak above the start> <BODYSTRUCTURE>".
 */
export function bigWorkload(total: number, memory: () => number): string {
  const line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
  let piece = "";
  for (let i = 0; i < 26; i++) piece += line;
  const reader = new StructureReader(undefined);
  const start = memory();
  let peak = start;
  reader.push("Subject: big\r\nContent-Type: multipart/mixed; boundary=\"==b==\"\r\n\r\n--==b==\r\nContent-Type: text/plain\r\n\r\nhello\r\n--==b==\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n");
  let k = 0;
  for (let n = 0; n < total; n += piece.length) {
    // Cut off the line grid, as card reads are: a boundary search sees pieces end anywhere.
    reader.push(piece.substring(0, 1000));
    reader.push(piece.substring(1000));
    if (++k % 64 === 0) {
      const now = memory();
      if (now > peak) peak = now;
    }
  }
  reader.push("--==b==--\r\n");
  const ms = reader.finish();
  return decimal(Math.floor(peak - start)) + " " + ms.bodystructure;
}
