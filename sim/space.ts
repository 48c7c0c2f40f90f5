/** The simulated card's capacity: the host file system holding its directory. */
import * as fs from "node:fs";

/** Size and free space in KiB, capped below 2^31 like a board would report them. */
export function cardSpace(dir: string): { totalKiB: number; freeKiB: number } {
  const st = fs.statfsSync(dir);
  const kib = (blocks: number) => Math.min(2147483647, Math.floor((blocks * st.bsize) / 1024));
  return { totalKiB: kib(st.blocks), freeKiB: kib(st.bavail) };
}
