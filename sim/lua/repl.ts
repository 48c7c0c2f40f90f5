/**
 * An emulated NodeMCU Lua prompt on a serial line, for testing
 * `letterbox flash` through a real serial port (a socat pseudo-terminal):
 * it echoes what is typed, runs each complete line in a fengari VM with the
 * emulated NodeMCU modules (file, encoder, crypto, ... on an in-memory
 * SPIFFS) and answers with the output and the "> " prompt (">> " while a
 * statement is incomplete), as NodeMCU's console does.
 */
import { lauxlib, lua, to_luastring } from "fengari";
import type { SerialLine } from "../../firmware/hal";
import type { SimCard } from "../card";
import { NodeMcu } from "./nodemcu";
import { Spiffs } from "./spiffs";
import { LuaVm } from "./vm";

/** LUA_MAXINPUT of NodeMCU's console: longer lines are cut. */
export const MAX_LINE = 256;

export class NodeMcuRepl {
  readonly vm: LuaVm;
  readonly nodemcu: NodeMcu;
  private line = "";
  private pending = "";
  private lastWasCr = false;
  restarts = 0;

  constructor(
    private serial: SerialLine,
    readonly spiffs: Spiffs,
    card?: SimCard,
  ) {
    this.vm = new LuaVm({ write: (text) => serial.write(text), onError: (message) => serial.write(message + "\n") });
    this.nodemcu = new NodeMcu({
      vm: this.vm,
      spiffs,
      card,
      portMap: {},
      bindHost: "127.0.0.1",
      clock: () => Math.floor(Date.now() / 1000),
      onRestart: () => this.restarts++,
    });
    serial.setReceiver((data) => this.input(data));
  }

  stop(): Promise<void> {
    this.serial.setReceiver(() => {});
    return this.nodemcu.stop();
  }

  private input(data: string): void {
    this.serial.write(data); // the console echoes
    for (const ch of data) {
      if (ch === "\n" && this.lastWasCr) {
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = ch === "\r";
      if (ch === "\r" || ch === "\n") {
        const line = this.line;
        this.line = "";
        this.execute(line);
      } else if (this.line.length < MAX_LINE - 1) {
        this.line += ch;
      }
    }
  }

  /** Runs a line as lua.c does: as an expression first, else as statements; waits for more when incomplete. */
  private execute(line: string): void {
    const source = this.pending === "" ? line : this.pending + "\n" + line;
    const L = this.vm.L;
    const base = lua.lua_gettop(L);
    const asExpression = Buffer.from("return " + source, "latin1");
    let status = lauxlib.luaL_loadbuffer(L, asExpression, asExpression.length, to_luastring("=stdin"));
    if (status !== lua.LUA_OK) {
      lua.lua_settop(L, base);
      const asStatements = Buffer.from(source, "latin1");
      status = lauxlib.luaL_loadbuffer(L, asStatements, asStatements.length, to_luastring("=stdin"));
      if (status === lua.LUA_ERRSYNTAX && lua.lua_tojsstring(L, -1).endsWith("<eof>")) {
        lua.lua_settop(L, base);
        this.pending = source;
        this.serial.write(">> ");
        return;
      }
    }
    this.pending = "";
    if (status === lua.LUA_OK) status = lua.lua_pcall(L, 0, lua.LUA_MULTRET, 0);
    if (status !== lua.LUA_OK) {
      this.serial.write(Buffer.from(lauxlib.luaL_tolstring(L, -1)).toString("latin1") + "\n");
    } else if (lua.lua_gettop(L) > base) {
      const parts: string[] = [];
      for (let i = base + 1; i <= lua.lua_gettop(L); i++) parts.push(Buffer.from(lauxlib.luaL_tolstring(L, i)).toString("latin1"));
      this.serial.write(parts.join("\t") + "\n");
    }
    lua.lua_settop(L, base);
    this.serial.write("> ");
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
