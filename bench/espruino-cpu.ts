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
import * as os from "node:os";
import * as path from "node:path";
import { encode } from "../firmware/msgpack";
import { settingsToMap } from "../firmware/settings";
import { connect, pop3Session, sendMail } from "../test/helpers/clients";
import { testConfig } from "../test/helpers/fixtures";
import { sleep, waitForPort } from "../test/helpers/real-espruino";
import { freePort } from "../sim/net";

/** Start-up under callgrind is slow. */
const START_MS = 60000;
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
      await waitForPort(port, START_MS);
      const c = await connect(port);
      try {
        if (name.startsWith("retr")) await c.multiline(); // up to the final "."
        else {
          await c.sendBuffer(wire);
          const done = await c.line();
          if (done !== "DONE") throw new Error("the floor script answered " + done);
        }
      } finally {
        c.close();
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The bundle: one DATA of the message, then (with `retr`) one RETR of it. */
async function runBundle(espruino: string, bytes: number, retr: boolean): Promise<number> {
  const config = testConfig({ maxMessageBytes: 30 * 1024 * 1024 });
  config.services.smtp.port = await freePort();
  config.services.pop3.port = await freePort();
  config.services.http.port = await freePort();
  const blob = Buffer.from(encode(settingsToMap({ config })), "latin1").toString("base64");
  const script = `require("Storage").write("lbdefault.cfg", atob("${blob}"));\n` + fs.readFileSync(BUNDLE, "latin1");
  const { plain } = message(bytes);
  return instructions(espruino, script, async () => {
    await waitForPort(config.services.smtp.port, START_MS);
    const reply = await sendMail(config.services.smtp.port, "a@cpu.example", ["alice@example.org"], plain);
    if (!/^250/.test(reply)) throw new Error("DATA answered " + reply);
    if (retr) await pop3Session(config.services.pop3.port, "alice", "wonderland", (p) => p.retr(1));
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
