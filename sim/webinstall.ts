/**
 * The simulated card gets the web page at start: the page built in a host
 * directory (dist/web/) goes onto the card in the layout a board's console
 * writes (firmware/webfiles.ts): into the directory not served, read back and
 * checked by MD5, then CURRENT switches to it. Nothing is written when the
 * card already serves that page.
 */
import type { Storage } from "../firmware/hal";
import { clearDir, currentDir, manifestProblem, readManifest, switchTo, Web } from "../firmware/webfiles";
import { md5, readPage } from "../host/webpage";

/** Bytes per card write, as the console receives them. */
const CHUNK = 960;

function readBack(card: Storage, file: string): Buffer {
  const handle = card.open(file, "r");
  const parts: Buffer[] = [];
  try {
    for (let data = handle.read(4096); data !== undefined; data = handle.read(4096)) parts.push(Buffer.from(data, "latin1"));
  } finally {
    handle.close();
  }
  return Buffer.concat(parts);
}

/**
 * Puts the page in `webDir` on `card` unless the card serves it already;
 * returns a line for the log saying which. Throws a PageError for a page
 * missing or damaged on the host, and card errors as they come.
 */
export function installPage(card: Storage, webDir: string): string {
  const page = readPage(webDir);
  const served = currentDir(card);
  const where = (dir: string) => `${Web.Dir}/${dir}`;
  if (served !== "") {
    const same =
      card.size(`${where(served)}/${Web.Manifest}`) === page.manifest.length &&
      readManifest(card, served) === page.manifest.toString("latin1") &&
      page.files.every((f) => card.size(`${where(served)}/${f.name}`) === f.data.length);
    if (same) return `web page: the card serves ${webDir} already (${where(served)})`;
  }
  const dir = clearDir(card);
  let checked = " ";
  for (const f of [...page.files, { name: Web.Manifest as string, data: page.manifest, md5: md5(page.manifest) }]) {
    const file = `${where(dir)}/${f.name}`;
    for (let offset = 0; offset === 0 || offset < f.data.length; offset += CHUNK) {
      const handle = card.open(file, offset === 0 ? "w" : "a");
      try {
        handle.write(f.data.subarray(offset, offset + CHUNK).toString("latin1"));
      } finally {
        handle.close();
      }
    }
    const sum = md5(readBack(card, file));
    if (sum !== f.md5) throw new Error(`web page: ${file} reads back with MD5 ${sum}, not ${f.md5}`);
    checked += f.name + " ";
  }
  const problem = manifestProblem(readManifest(card, dir), checked);
  if (problem !== "") throw new Error(`web page: ${problem}`);
  switchTo(card, dir);
  return `web page: installed ${webDir} (${page.files.length} files, ${page.bytes} bytes) into the card's ${where(dir)}`;
}
