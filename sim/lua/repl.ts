/**
 * An emulated NodeMCU board on a serial line with nothing running: its Lua
 * prompt (echo, "> ", ">> " while a statement is incomplete, lines of at
 * most 256 characters; sim/lua/nodemcu.ts consoleInput) on the C Lua VM with
 * the dev-esp32 modules, SPIFFS and LFS. For testing `letterbox flash`
 * through a real serial port (a socat pseudo-terminal). node.restart() and
 * node.LFS.reload() restart it: a fresh VM on the same SPIFFS and LFS,
 * which runs init.lua when there is one, as the board does.
 */
import type { SerialLine } from "../../firmware/hal";
import { HTTP_PORT, IMAP_PORT, POP3_PORT, SMTP_PORT } from "../../firmware/main";
import type { SimCard } from "../card";
import { LfsStore } from "./lfs";
import { NodeMcu } from "./nodemcu";
import { Spiffs } from "./spiffs";
import { LuaVm } from "./vm";

/** LUA_MAXINPUT of NodeMCU's console: longer lines are cut. */
export const MAX_LINE = 256;

export class NodeMcuRepl {
  vm!: LuaVm;
  nodemcu!: NodeMcu;
  readonly lfs: LfsStore;
  restarts = 0;
  private stopped = false;

  constructor(
    private serial: SerialLine,
    readonly spiffs: Spiffs,
    private card?: SimCard,
    options: { lfs?: LfsStore; runInit?: boolean } = {},
  ) {
    this.lfs = options.lfs ?? new LfsStore();
    this.boot(options.runInit ?? false);
  }

  private boot(runInit: boolean): void {
    this.vm = new LuaVm({ write: (text) => this.serial.write(text), onError: (message) => this.serial.write(message + "\n") });
    this.nodemcu = new NodeMcu({
      vm: this.vm,
      spiffs: this.spiffs,
      card: this.card,
      lfs: this.lfs,
      // A box started from LFS listens on ephemeral ports: every service's (one left out would bind the real port).
      portMap: { [SMTP_PORT]: 0, [POP3_PORT]: 0, [HTTP_PORT]: 0, [IMAP_PORT]: 0 },
      bindHost: "127.0.0.1",
      clock: () => Math.floor(Date.now() / 1000),
      serial: this.serial,
      onRestart: () => void this.restart(),
    });
    if (runInit && this.spiffs.read("init.lua") !== undefined) {
      try {
        this.vm.run('dofile("init.lua")', "=init");
      } catch (e) {
        this.serial.write(`${(e as Error).message}\n`);
      }
    }
    this.serial.write("> ");
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    this.restarts++;
    await this.nodemcu.stop();
    if (!this.stopped) this.boot(true);
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.nodemcu.stop();
  }
}

if (require.main === module) {
  // A board on a pseudo-terminal: `node build/sim/lua/repl.js`, then letterbox flash --port <printed path>.
  void (async () => {
    const { PtySerialLine } = await import("../serial");
    const line = await PtySerialLine.open();
    const spiffs = new Spiffs();
    new NodeMcuRepl(line, spiffs);
    console.log(`emulated NodeMCU prompt on ${line.path} (Ctrl-C to stop)`);
    process.on("SIGINT", () => {
      for (const [name, size] of spiffs.list()) console.log(`SPIFFS ${name} ${size} bytes`);
      line.close();
      process.exit(0);
    });
  })();
}
