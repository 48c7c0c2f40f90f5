/**
 * CPU of the bundle's SMTP DATA and POP3 RETR on a REAL Espruino interpreter
 * against the floor scripts of issue 13 (`make espruino-cpu ESPRUINO=/path`;
 * not part of `make test` or `make bench`: it needs an interpreter built for
 * Linux, docs/ESPRUINO.md).
 *
 * Each row runs the interpreter under `valgrind --tool=callgrind` twice, for
 * a 128 KiB and a 1 MiB message (80-octet CRLF lines, every 50th starting
 * with a dot), and reports the marginal instructions per byte between the
 * two: start-up, boot and the TCP handshake cancel out, and instruction
 * counts do not depend on what else the machine is doing. The RETR row runs
 * DATA then RETR; DATA's own marginal is subtracted.
 *
 * Use a 64-bit build with code in RAM (the bundle is run from a file): the
 * Linux build reads code saved to flash with an fopen/fread per access,
 * which the ESP32's memory-mapped flash does not.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { encode } from "../firmware/msgpack";
import { settingsToMap } from "../firmware/settings";
import { testConfig } from "../test/helpers/fixtures";
import { freePort } from "../sim/net";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BUNDLE = path.join(__dirname, "..", "..", "dist", "espruino", "letterbox.js");

/** The floor scripts: one per row, `$FILE`, `$BYTES` and `$PORT` filled in. */
const FLOORS: { [name: string]: string } = {
  // Receive each chunk and append it to a file (issue 13's DATA floor).
  "data floor": `require("net").createServer(function(c){var n=0;var f=E.openFile("$FILE","w");c.on("data",function(d){f.write(d);n+=d.length;if(n>=$BYTES)c.write("DONE\\r\\n");});c.on("close",function(){f.close();});}).listen($PORT);`,
  // The same, plus the one native search any DATA reader needs (line-start dots, the end marker).
  "data floor + indexOf": `require("net").createServer(function(c){var n=0;var f=E.openFile("$FILE","w");c.on("data",function(d){if(d.indexOf("\\n.")<0)f.write(d);else f.write(d);n+=d.length;if(n>=$BYTES)c.write("DONE\\r\\n");});c.on("close",function(){f.close();});}).listen($PORT);`,
  // Plus the search for bare LFs (RFC 5321 2.3.8: normalized to CRLF).
  "data floor + indexOf + RegExp": `var R=/[^\\r]\\n/;require("net").createServer(function(c){var n=0;var f=E.openFile("$FILE","w");c.on("data",function(d){if(!R.test(d)&&d.indexOf("\\n.")<0)f.write(d);else f.write(d);n+=d.length;if(n>=$BYTES)c.write("DONE\\r\\n");});c.on("close",function(){f.close();});}).listen($PORT);`,
  // Read a file in 1 KiB chunks, send each on drain (issue 13's RETR floor).
  "retr floor": `$MAKEFILE require("net").createServer(function(c){var f=E.openFile("$FILE","r");function more(){var d=f.read(1024);if(d===undefined){f.close();c.end("\\r\\n.\\r\\n");return;}c.write(d);}c.on("drain",more);more();}).listen($PORT);`,
  // Plus the one search dot-stuffing needs.
  "retr floor + indexOf": `$MAKEFILE require("net").createServer(function(c){var f=E.openFile("$FILE","r");function more(){var d=f.read(1024);if(d===undefined){f.close();c.end("\\r\\n.\\r\\n");return;}if(d.indexOf("\\n.")<0)c.write(d);else c.write(d);}c.on("drain",more);more();}).listen($PORT);`,
};

/** The message: 80-octet CRLF lines, every 50th starting with a dot (stuffed on the wire). */
function message(bytes: number): { wire: Buffer; plain: Buffer } {
  const line = "The quick brown fox jumps over the lazy dog, again and again and again and.\r\n";
  const wire: string[] = ["Subject: cpu\r\n\r\n"];
  const plain: string[] = ["Subject: cpu\r\n\r\n"];
  for (let i = 0, n = 16; n < bytes; i++) {
    const l = i % 50 === 49 ? "." + line.slice(1) : line;
    plain.push(l);
    wire.push(l.startsWith(".") ? "." + l : l);
    n += l.length;
  }
  return { wire: Buffer.from(wire.join(""), "latin1"), plain: Buffer.from(plain.join(""), "latin1") };
}

interface Client {
  socket: net.Socket;
  expect(re: RegExp): Promise<string>;
}

function client(port: number): Client {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => undefined);
  let buf = "";
  const waiters: { re: RegExp; resolve: (s: string) => void }[] = [];
  const pump = () => {
    while (waiters.length > 0) {
      const m = waiters[0].re.exec(buf);
      if (!m) return;
      buf = buf.slice(m.index + m[0].length);
      waiters.shift()!.resolve(m[0]);
    }
  };
  socket.on("data", (d) => {
    buf += d.toString("latin1");
    pump();
  });
  return { socket, expect: (re) => new Promise((resolve) => (waiters.push({ re, resolve }), pump())) };
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Runs one script on the interpreter under callgrind; `drive` talks to it. Returns the instructions executed. */
async function instructions(espruino: string, script: string, drive: () => Promise<void>): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-cpu-"));
  fs.writeFileSync(path.join(dir, "boot.js"), script, "latin1");
  const child: ChildProcess = spawn("valgrind", ["--tool=callgrind", "--callgrind-out-file=/dev/null", espruino, "boot.js"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d.toString("latin1")));
  child.stderr!.on("data", (d) => (out += d.toString("latin1")));
  const exited = new Promise((r) => child.once("exit", r));
  try {
    await drive();
    await sleep(300);
    child.stdin!.write("\x10quit()\n"); // Espruino's Linux build exits cleanly, so callgrind prints its total
    await Promise.race([exited, sleep(120000)]);
  } finally {
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const m = /Collected : (\d+)/.exec(out);
  if (!m) throw new Error("no callgrind total in the interpreter's output:\n" + out.slice(-2000));
  return Number(m[1]);
}

async function runFloor(espruino: string, name: string, bytes: number): Promise<number> {
  const port = await freePort();
  const { wire } = message(bytes);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "letterbox-floor-"));
  const file = path.join(dir, "m.bin");
  // The RETR floors read a file of the message's size, made before the timed part.
  const makeFile = `var L="";for(var i=0;i<1022;i++)L+="x";L+="\\r\\n";var w=E.openFile("${file}","w");for(var i=0;i<${Math.ceil(bytes / 1024)};i++)w.write(L);w.close();`;
  const script = FLOORS[name].replace(/\$MAKEFILE/g, makeFile).replace(/\$FILE/g, file).replace(/\$BYTES/g, String(wire.length)).replace(/\$PORT/g, String(port));
  try {
    return await instructions(espruino, script, async () => {
      await waitForPort(port);
      const c = client(port);
      if (name.startsWith("retr")) await c.expect(/\r\n\.\r\n/);
      else {
        c.socket.write(wire);
        await c.expect(/DONE/);
      }
      c.socket.destroy();
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The bundle: one DATA of the message, then (with `retr`) one RETR of it. */
async function runBundle(espruino: string, bytes: number, retr: boolean): Promise<number> {
  const config = testConfig({ maxMessageBytes: 30 * 1024 * 1024 });
  config.smtpPort = await freePort();
  config.pop3Port = await freePort();
  const blob = Buffer.from(encode(settingsToMap({ config })), "latin1").toString("base64");
  const script = `require("Storage").write("lbdefault.cfg", atob("${blob}"));\n` + fs.readFileSync(BUNDLE, "latin1");
  const { wire } = message(bytes);
  return instructions(espruino, script, async () => {
    await waitForPort(config.smtpPort);
    const c = client(config.smtpPort);
    await c.expect(/220 [^\n]*\n/);
    c.socket.write("EHLO cpu.example\r\nMAIL FROM:<a@cpu.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
    await c.expect(/354 [^\n]*\n/);
    c.socket.write(wire);
    c.socket.write(".\r\nQUIT\r\n");
    const reply = await c.expect(/(^|\n)(250|4\d\d|5\d\d) [^\n]*\n/);
    if (!/250/.test(reply)) throw new Error("DATA answered " + reply);
    await c.expect(/221/);
    c.socket.destroy();
    if (!retr) return;
    const p = client(config.pop3Port);
    await p.expect(/\+OK[^\n]*\n/);
    p.socket.write("USER alice\r\nPASS wonderland\r\n");
    await p.expect(/\+OK[^\n]*\n\+OK[^\n]*\n/);
    p.socket.write("RETR 1\r\n");
    await p.expect(/\r\n\.\r\n/);
    p.socket.destroy();
  });
}

const SMALL = 128 * 1024;
const LARGE = 1024 * 1024;

async function marginal(run: (bytes: number) => Promise<number>): Promise<number> {
  const a = await run(SMALL);
  const b = await run(LARGE);
  return (b - a) / (LARGE - SMALL);
}

async function main(): Promise<void> {
  const espruino = process.env.ESPRUINO;
  if (!espruino || !fs.existsSync(espruino)) {
    console.error("usage: make espruino-cpu ESPRUINO=/path/to/espruino (a 64-bit Linux build; docs/ESPRUINO.md); needs valgrind");
    process.exit(2);
  }
  const rows: [string, number][] = [];
  const show = (name: string, perByte: number) => {
    rows.push([name, perByte]);
    console.log(`${name}: ${Math.round(perByte)} instructions per byte`);
  };
  for (const name of ["data floor", "data floor + indexOf", "data floor + indexOf + RegExp"]) show(name, await marginal((n) => runFloor(espruino, name, n)));
  const data = await marginal((n) => runBundle(espruino, n, false));
  show("SMTP DATA (letterbox)", data);
  for (const name of ["retr floor", "retr floor + indexOf"]) show(name, await marginal((n) => runFloor(espruino, name, n)));
  show("POP3 RETR (letterbox)", (await marginal((n) => runBundle(espruino, n, true))) - data);
  const floor = (name: string) => rows.find((r) => r[0] === name)![1];
  console.log("");
  console.log("| path | instructions per byte | vs its floor |");
  console.log("|---|---:|---:|");
  for (const [name, v] of rows) {
    const base = name.startsWith("data") || name.startsWith("SMTP") ? floor("data floor") : floor("retr floor");
    console.log(`| ${name} | ${Math.round(v).toLocaleString("en-US")} | ${(v / base).toFixed(2)}x |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
