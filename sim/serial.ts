/**
 * The board's USB serial line as a pseudo-terminal, so the host tool's real
 * `serialport` binding talks to the simulator as to a board. Node has no pty
 * of its own: Debian's `socat` makes one and bridges it to a pipe.
 *
 * The simulator keeps the terminal's other end open itself, so a host tool
 * that closes the port does not hang the line up for the next one. Output
 * nobody reads is dropped past a small backlog, as a UART drops it.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import type { SerialLine } from "../firmware/hal";

const BACKLOG_BYTES = 64 * 1024;

export class PtySerialLine implements SerialLine {
  private receiver: (data: string) => void = () => {};
  private closed = false;

  private constructor(
    /** The terminal device to open, e.g. /dev/pts/4. */
    readonly path: string,
    private socat: ChildProcess,
    private holdFd: number,
  ) {
    socat.stdout!.on("data", (chunk: Buffer) => this.receiver(chunk.toString("latin1")));
    socat.stdin!.on("error", () => {});
  }

  /** Starts socat and resolves once the pseudo-terminal exists. */
  static open(): Promise<PtySerialLine> {
    return new Promise((resolve, reject) => {
      const socat = spawn("socat", ["-d", "-d", "PTY,raw,echo=0", "STDIO"], { stdio: ["pipe", "pipe", "pipe"] });
      let stderr = "";
      let done = false;
      socat.on("error", (e: NodeJS.ErrnoException) => {
        if (done) return;
        done = true;
        reject(
          e.code === "ENOENT"
            ? new Error("the simulated serial line needs socat: install it (Debian: apt-get install socat)")
            : e,
        );
      });
      socat.on("exit", (code) => {
        if (done) return;
        done = true;
        reject(new Error(`socat exited (${code}) before making a pseudo-terminal: ${stderr.trim()}`));
      });
      socat.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /PTY is (\S+)/.exec(stderr);
        if (!m || done) return;
        done = true;
        const holdFd = fs.openSync(m[1], fs.constants.O_RDWR | fs.constants.O_NOCTTY);
        resolve(new PtySerialLine(m[1], socat, holdFd));
      });
    });
  }

  write(data: string): void {
    if (this.closed) return;
    const stdin = this.socat.stdin!;
    if (stdin.writableLength > BACKLOG_BYTES) return;
    stdin.write(Buffer.from(data, "latin1"));
  }

  setReceiver(receiver: (data: string) => void): void {
    this.receiver = receiver;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socat.kill();
    fs.closeSync(this.holdFd);
  }
}
