/**
 * One simulator per card and per flash: a lock file beside the directory
 * (`<dir>.lock`, so neither the card nor the flash holds anything a board
 * would not) naming the process that holds it. A lock whose process is gone
 * (a simulator killed with SIGKILL, a crash) is stale and taken over.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** The directory is in use by a running process. */
export class LockedError extends Error {
  constructor(
    readonly dir: string,
    readonly what: string,
    readonly pid: number,
  ) {
    super(`the ${what} ${dir} is in use by another simulator (process ${pid}, lock file ${dir}.lock)`);
  }
}

export interface DirectoryLock {
  /** A stale lock was taken over: the pid that had held it. */
  tookOverFrom?: number;
  release(): void;
}

/** When the process started (Linux: /proc/PID/stat field 22, in clock ticks since boot); "" where unknown. */
function startTime(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] || "";
  } catch {
    return "";
  }
}

/** The process that wrote the lock still runs: its pid is alive and (where known) started when the lock says. */
function alive(pid: number, started: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false; // EPERM: someone else's process, alive
  }
  const now = startTime(pid);
  return started === "" || now === "" || now === started; // a reused pid started later
}

/** Locks `dir` (its absolute path) for this process; throws LockedError while another live process holds it. */
export function lockDirectory(dir: string, what: string): DirectoryLock {
  const abs = path.resolve(dir);
  const file = abs + ".lock";
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let tookOverFrom: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n${abs}\n${startTime(process.pid)}\n`, { flag: "wx" });
      let released = false;
      return {
        tookOverFrom,
        release() {
          if (released) return;
          released = true;
          try {
            if (fs.readFileSync(file, "utf8").split("\n")[0] === String(process.pid)) fs.rmSync(file);
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder: string[];
    try {
      holder = fs.readFileSync(file, "utf8").split("\n");
    } catch {
      continue; // removed meanwhile: try again
    }
    const pid = Number(holder[0]);
    if (Number.isInteger(pid) && pid > 0 && alive(pid, holder[2] || "")) throw new LockedError(abs, what, pid);
    tookOverFrom = pid;
    fs.rmSync(file, { force: true }); // stale (or unreadable): its process is gone
  }
  throw new Error(`cannot lock ${abs}: ${file} keeps coming back`);
}
