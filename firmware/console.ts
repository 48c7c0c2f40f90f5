/**
 * The device side of the serial protocol (docs/SERIAL.md): requests from the
 * host tool arrive as frames (firmware/frame.ts) carrying MessagePack maps
 * {id, op, ...}; every request gets one reply {id, ok, ...} or
 * {id, ok: false, error, message}. Rejected frames get an error reply with
 * id 0 and change nothing. Passwords are accepted but never sent back.
 */
import type { Config, UserConfig } from "./config";
import { Adler32, Deframer, encodeFrame, FRAME_CRC, MAX_PAYLOAD, PROTOCOL_VERSION } from "./frame";
import type { Hal, Timer } from "./hal";
import { decode, encode, MsgMap, MsgValue } from "./msgpack";
import { rfc5322Date } from "./date";
import { decimal } from "./num";
import { find, lower } from "./text";
import { userIndex } from "./mailbox";
import { loadSettings, MAX_SETTINGS_BYTES, parseSettings, saveSettings, Settings, StoredSettings } from "./settings";
import { Md5, md5Begin, md5End, md5hex, md5Update } from "./md5";
import { describe } from "./msgfiles";
import { clearDir, currentDir, lookup, manifestProblem, readManifest, switchTo, valid83, Web } from "./webfiles";

export const FIRMWARE_VERSION = "0.1.0";

/** Error codes in replies; 1-4 are the frame rejections of firmware/frame.ts. */
export const ERR_CRC = FRAME_CRC;
export const ERR_MALFORMED = 5;
export const ERR_UNKNOWN_OP = 6;
export const ERR_INVALID = 7;
export const ERR_NOT_FOUND = 8;
export const ERR_CONFLICT = 9;
export const ERR_STORAGE = 10;
export const ERR_UNSUPPORTED = 11;
export const ERR_INTERNAL = 12;

/** A frame that stops arriving for this long is dropped as truncated. */
export const FRAME_TIMEOUT_MS = 1000;
/** Bytes of message data per read reply, leaving room for the header map. */
export const READ_CHUNK = 768;
const MESSAGES_PER_PAGE = 24;
/**
 * Bytes of a web file hashed per web.check request. The check runs in the
 * console's turn of the event loop, so mail waits for it: firmware/md5.ts
 * costs about 880,000 instructions per byte on Espruino (callgrind, 2v29
 * 64-bit Linux build, 2026-12-01), 256 bytes about 37 ms there; on an ESP32
 * at 240 MHz an estimated second (not measured on a board).
 */
export const WEB_CHECK_BYTES = 256;

export interface MessageInfo {
  id: string;
  size: number;
}

/** What the console needs from the running core. */
export interface ConsoleTarget {
  /** Puts a configuration into effect at once: new users can log in right away. */
  applyConfig(config: Config): void;
  /** The messages in a user's mailbox, oldest first; throws when the card fails. */
  listMessages(user: string): MessageInfo[];
  /** Up to `length` bytes of a message from `offset`; undefined past its end or when it is gone. */
  readMessage(user: string, id: string, offset: number, length: number): string | undefined;
  /** Every user with mail on the card, configured or not. */
  owners(): string[];
  /** Deletes every message of a user; false when a POP3 session holds the maildrop. Throws when the card fails. */
  deleteMail(user: string): boolean;
  /**
   * The services that are on, in start order, with their open sessions:
   * `services` [{service ("smtp", "pop3", "http", "imap"), open, max}],
   * `sockets` in use (listeners and sessions) of `socketLimit`.
   */
  sessions(): MsgMap;
}

/** The last log lines, numbered so a follower can ask for what is new. */
export class LogRing {
  private lines: string[] = [];
  /** Sequence number of lines[0]. */
  private first = 0;

  constructor(private capacity: number) {}

  add(line: string): void {
    this.lines.push(line.length > 200 ? line.substring(0, 200) : line);
    if (this.lines.length > this.capacity) {
      this.lines.shift();
      this.first++;
    }
  }

  /** Sequence number the next line will get. */
  next(): number {
    return this.first + this.lines.length;
  }

  /** Lines from `seq` on, as many as fit in `maxBytes`; `next` says where to go on. */
  since(seq: number, maxBytes: number): { lines: string[]; next: number; skipped: number } {
    const start = seq < this.first ? this.first : seq;
    const out: string[] = [];
    let bytes = 0;
    let i = start - this.first;
    while (i < this.lines.length && bytes + this.lines[i].length + 3 <= maxBytes) {
      out.push(this.lines[i]);
      bytes += this.lines[i].length + 3;
      i++;
    }
    return { lines: out, next: this.first + i, skipped: start - (seq < 0 ? 0 : seq) };
  }

  /** The last `n` lines that report an error. */
  errors(n: number): string[] {
    const out: string[] = [];
    for (let i = this.lines.length - 1; i >= 0 && out.length < n; i--) {
      if (find(lower(this.lines[i]), "error", 0) >= 0) out.unshift(this.lines[i]);
    }
    return out;
  }
}

/** Clocks below this (2001) have not been set yet: the board counts from 0 at boot. */
const CLOCK_SET = 1000000000;

/**
 * Routes every hal.log line through the ring too (wraps hal.log in place),
 * each with its time: "1 Dec 2026 00:05:53" (UTC) once the clock is set,
 * else "boot+12s", seconds since boot.
 * Lines may quote what peers sent: a frame marker byte in them becomes "?",
 * so console output can never pose as a frame.
 */
export function captureLog(hal: Hal, ring: LogRing): void {
  const original = hal.log;
  const marker = String.fromCharCode(254);
  const boot = hal.now();
  hal.log = function (line: string) {
    const now = hal.now();
    const date = now >= CLOCK_SET ? rfc5322Date(now) : "";
    let clean = (date !== "" ? date.substring(5, date.length - 6) : "boot+" + decimal(now - boot) + "s") + " " + line;
    while (clean.indexOf(marker) >= 0) clean = clean.replace(marker, "?");
    ring.add(clean);
    original(clean);
  };
}

interface Reply {
  result?: MsgMap;
  /** Bytes sent as msgpack bin next to the map (message data). */
  raw?: string;
  error?: number;
  message?: string;
}

/** A msgpack bin 8/16 value (payloads stay below 64 KiB). */
function bin(data: string): string {
  const n = data.length;
  if (n < 256) return String.fromCharCode(0xc4, n) + data;
  return String.fromCharCode(0xc5, Math.floor(n / 256), n % 256) + data;
}

function fail(code: number, message: string): Reply {
  return { error: code, message: message };
}

/** A card call threw (no card, card full, I/O error). */
function cardFailed(e: unknown): Reply {
  return fail(ERR_STORAGE, "card: " + describe(e));
}

/** A web page being written (web.begin to web.commit). */
interface WebUpload {
  /** "A" or "B": the directory not served. */
  dir: string;
  /** Names written and checked since, each followed by a space (" INDEX.HTM MANIFEST "). */
  checked: string;
  /** The check under way: its file, sum so far and offset. */
  name: string;
  sum: Md5 | undefined;
  offset: number;
}

function ok(result: MsgMap): Reply {
  return { result: result };
}

function validUserName(name: MsgValue): boolean {
  if (typeof name !== "string" || name.length === 0 || name.length > 32) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const alnum = (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
    if (!alnum && (i === 0 || (c !== 46 && c !== 95 && c !== 45))) return false;
  }
  return true;
}

function validPassword(password: MsgValue): boolean {
  if (typeof password !== "string" || password.length < 4 || password.length > 128) return false;
  for (let i = 0; i < password.length; i++) {
    const c = password.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

export interface ConsoleOptions {
  hal: Hal;
  target: ConsoleTarget;
  /** The settings the core runs with, and where they came from in flash (undefined: never provisioned). */
  settings: Settings;
  stored: StoredSettings | undefined;
  log: LogRing;
}

/** The console: listens on hal.serial until the board stops. */
export class Console {
  private hal: Hal;
  private target: ConsoleTarget;
  private settings: Settings;
  private stored: StoredSettings | undefined;
  private log: LogRing;
  private deframer: Deframer;
  private timer: Timer | undefined;
  private bootTime: number;
  /** A provisioning in progress: expected size and checksum, bytes so far. */
  private upload: { size: number; sum: string; data: string } | undefined;
  private web: WebUpload | undefined;

  constructor(options: ConsoleOptions) {
    this.hal = options.hal;
    this.target = options.target;
    this.settings = options.settings;
    this.stored = options.stored;
    this.log = options.log;
    this.bootTime = options.hal.now();
    const self = this;
    this.deframer = new Deframer({
      onFrame: function (payload: string) {
        self.request(payload);
      },
      onText: function (text: string) {
        // A person typing (letterbox monitor): this console has no REPL, so say what it is for, once per line.
        const serial = self.hal.serial;
        if (serial && (text.indexOf("\r") >= 0 || text.indexOf("\n") >= 0)) {
          serial.write("letterbox: this console answers the letterbox tool (status, logs, users, backup, ...)\r\n");
        }
      },
      onReject: function (code: number, detail: string) {
        self.send(0, fail(code, detail));
      },
    });
    if (options.hal.serial) {
      options.hal.serial.setReceiver(function (data: string) {
        self.receive(data);
      });
    }
  }

  /** Stops listening (the core is restarting). */
  stop(): void {
    if (this.timer) this.timer.cancel();
    this.timer = undefined;
    if (this.hal.serial) this.hal.serial.setReceiver(function () {});
  }

  receive(data: string): void {
    this.deframer.push(data);
    this.watchPartialFrame();
  }

  private watchPartialFrame(): void {
    if (this.timer || !this.deframer.pending()) return;
    const self = this;
    const frame = this.deframer.started;
    this.timer = this.hal.setTimer(FRAME_TIMEOUT_MS, function () {
      self.timer = undefined;
      if (self.deframer.pending() && self.deframer.started === frame) self.deframer.expire();
      self.watchPartialFrame();
    });
  }

  private send(id: number, reply: Reply): void {
    if (!this.hal.serial) return;
    const map: MsgMap = { id: id, ok: reply.error === undefined };
    if (reply.error !== undefined) {
      map.error = reply.error;
      map.message = reply.message;
    } else if (reply.result) {
      for (const key in reply.result) map[key] = reply.result[key];
    }
    // Data replies are [map, bin]: a msgpack str must be UTF-8 to the host, message bytes need not be.
    let payload = reply.raw === undefined ? encode(map) : String.fromCharCode(0x92) + encode(map) + bin(reply.raw);
    if (payload.length > MAX_PAYLOAD) payload = encode({ id: id, ok: false, error: ERR_INTERNAL, message: "reply too large" });
    this.hal.serial.write(encodeFrame(payload));
  }

  private request(payload: string): void {
    const decoded = decode(payload, 0);
    const req = decoded.value;
    if (decoded.end !== payload.length || req === null || typeof req !== "object" || Array.isArray(req)) {
      this.send(0, fail(ERR_MALFORMED, "request is not a MessagePack map"));
      return;
    }
    const m = req as MsgMap;
    const id = m.id;
    if (typeof id !== "number" || Math.floor(id) !== id || id < 1 || typeof m.op !== "string") {
      this.send(0, fail(ERR_MALFORMED, "request needs an id and an op"));
      return;
    }
    let reply: Reply;
    try {
      reply = this.dispatch(m.op as string, m);
    } catch (e) {
      reply = fail(ERR_INTERNAL, "request failed");
    }
    this.send(id, reply);
    const hal = this.hal;
    if (m.op === "reboot" && reply.error === undefined && hal.reboot) {
      // After the reply has gone out.
      hal.setTimer(100, function () {
        if (hal.reboot) hal.reboot();
      });
    }
  }

  /**
   * The operations of docs/SERIAL.md: their names, and at the same place in
   * the list the method that answers each (given the request map). A new
   * operation is a name and its method here. Built per request, not kept: a
   * table kept for the box's life costs RAM on both boards, and requests are few.
   */
  private dispatch(op: string, m: MsgMap): Reply {
    const names =
      "hello status prov.begin prov.data prov.commit users.list users.add users.passwd users.remove logs msgs.list msgs.read msgs.sum msgs.delete reboot " +
      "web.begin web.write web.check web.commit web.info";
    const p = Console.prototype;
    const run: ((this: Console, m: MsgMap) => Reply)[] = [
      p.hello,
      p.status,
      p.provisionBegin,
      p.provisionData,
      p.provisionCommit,
      p.listUsers,
      p.changeUser,
      p.changeUser,
      p.changeUser,
      p.logLines,
      p.listMessages,
      p.readMessage,
      p.sumMessage,
      p.deleteMail,
      p.canReboot,
      p.webOp,
      p.webOp,
      p.webOp,
      p.webOp,
      p.webOp,
    ];
    const i = op.indexOf(" ") < 0 ? names.split(" ").indexOf(op) : -1;
    return i >= 0 ? run[i].call(this, m) : fail(ERR_UNKNOWN_OP, "unknown op " + op);
  }

  private hello(): Reply {
    return ok({ protocol: PROTOCOL_VERSION, firmware: FIRMWARE_VERSION, runtime: this.hal.implementation, maxPayload: MAX_PAYLOAD });
  }

  private listUsers(): Reply {
    const names = this.userNames();
    const orphans: MsgValue[] = [];
    const owners = this.target.owners();
    for (let i = 0; i < owners.length; i++) if (names.indexOf(owners[i]) < 0) orphans.push(owners[i]);
    return ok({ users: names, orphans: orphans });
  }

  private logLines(m: MsgMap): Reply {
    const since = typeof m.since === "number" ? m.since : 0;
    const part = this.log.since(since, MAX_PAYLOAD - 64);
    return ok({ lines: part.lines, next: part.next, skipped: part.skipped });
  }

  private canReboot(): Reply {
    return this.hal.reboot ? ok({}) : fail(ERR_UNSUPPORTED, "this board cannot reboot");
  }

  private status(): Reply {
    const mailboxes: MsgValue[] = [];
    const errors: MsgValue[] = this.log.errors(5);
    // The users, then the mail of users no longer configured (orphaned).
    const names = this.userNames();
    const configured = names.length;
    try {
      const owners = this.target.owners();
      for (let i = 0; i < owners.length; i++) if (names.indexOf(owners[i]) < 0) names.push(owners[i]);
    } catch (e) {
      // the loop below reports the card
    }
    for (let i = 0; i < names.length; i++) {
      try {
        const list = this.target.listMessages(names[i]);
        let bytes = 0;
        for (let k = 0; k < list.length; k++) bytes += list[k].size;
        mailboxes.push({ user: names[i], messages: list.length, bytes: bytes, orphaned: i >= configured });
      } catch (e) {
        errors.push("mailbox " + names[i] + ": cannot read the card");
      }
    }
    const result: MsgMap = {
      firmware: FIRMWARE_VERSION,
      runtime: this.hal.implementation,
      uptime: this.hal.now() - this.bootTime,
      hostname: this.settings.config.hostname,
      domains: this.settings.config.domains.slice(0),
      provisioned: this.stored !== undefined,
      mailboxes: mailboxes,
      errors: errors,
    };
    const sessions = this.target.sessions();
    result.sessions = sessions.services;
    result.sockets = sessions.sockets;
    result.socketLimit = sessions.socketLimit;
    if (this.hal.freeMemory) {
      result.freeMemory = this.hal.freeMemory();
      result.memoryUnit = this.hal.memoryUnit || "bytes";
    }
    if (this.hal.cardSpace) {
      // A pulled card must not make status fail: status is how one finds out.
      try {
        const space = this.hal.cardSpace();
        result.cardTotalKiB = space.totalKiB;
        result.cardFreeKiB = space.freeKiB;
      } catch (e) {
        result.cardError = "card not readable";
      }
    }
    return ok(result);
  }

  private provisionBegin(m: MsgMap): Reply {
    if (!this.hal.flash) return fail(ERR_UNSUPPORTED, "this board has no internal flash for settings");
    const size = m.size;
    if (typeof size !== "number" || size < 1 || size > MAX_SETTINGS_BYTES) return fail(ERR_INVALID, "settings size out of range");
    if (typeof m.sum !== "string") return fail(ERR_MALFORMED, "prov.begin needs sum");
    this.upload = { size: size, sum: m.sum as string, data: "" };
    return ok({});
  }

  private provisionData(m: MsgMap): Reply {
    const upload = this.upload;
    if (!upload) return fail(ERR_CONFLICT, "no provisioning in progress");
    if (typeof m.data !== "string" || m.offset !== upload.data.length) {
      return fail(ERR_CONFLICT, "data out of sequence");
    }
    if (upload.data.length + m.data.length > upload.size) return fail(ERR_INVALID, "more data than announced");
    upload.data += m.data;
    return ok({ received: upload.data.length });
  }

  private provisionCommit(): Reply {
    const upload = this.upload;
    this.upload = undefined;
    if (!upload) return fail(ERR_CONFLICT, "no provisioning in progress");
    if (upload.data.length !== upload.size) return fail(ERR_INVALID, "settings incomplete");
    const sum = new Adler32();
    sum.update(upload.data);
    if (sum.hex() !== upload.sum) return fail(ERR_INVALID, "settings checksum mismatch");
    const decoded = decode(upload.data, 0);
    if (decoded.end !== upload.data.length) return fail(ERR_MALFORMED, "settings are not one MessagePack value");
    const settings = parseSettings(decoded.value);
    if (typeof settings === "string") return fail(ERR_INVALID, settings);
    const err = this.commit(settings);
    if (err) return err;
    return ok({ users: settings.config.users.length });
  }

  /** Saves to flash first and only then applies, so a failed save changes nothing. */
  private commit(settings: Settings): Reply | undefined {
    if (!this.hal.flash) return fail(ERR_UNSUPPORTED, "this board has no internal flash for settings");
    try {
      this.stored = saveSettings(this.hal.flash, settings, this.stored);
    } catch (e) {
      return fail(ERR_STORAGE, "cannot write the settings to flash");
    }
    this.settings = settings;
    this.target.applyConfig(settings.config);
    const n = settings.config.users.length;
    this.hal.log("console: settings committed (" + decimal(n) + (n === 1 ? " user)" : " users)"));
    return undefined;
  }

  /** users.add, users.passwd, users.remove (m.op). */
  private changeUser(m: MsgMap): Reply {
    const op = m.op;
    if (!validUserName(m.name)) return fail(ERR_INVALID, "user name: lower-case letters, digits, . _ -");
    const name = m.name as string;
    const old = this.settings.config.users;
    const index = userIndex(this.settings.config, name);
    if (op === "users.add" && index >= 0) return fail(ERR_CONFLICT, "user " + name + " exists");
    if (op !== "users.add" && index < 0) return fail(ERR_NOT_FOUND, "no user " + name);
    if (op !== "users.remove" && !validPassword(m.password)) return fail(ERR_INVALID, "password: 4-128 printable ASCII characters");
    if (op === "users.remove" && old.length === 1) return fail(ERR_CONFLICT, "cannot remove the last user");
    const users: UserConfig[] = [];
    for (let i = 0; i < old.length; i++) {
      if (i !== index) users.push({ name: old[i].name, password: old[i].password });
      else if (op === "users.passwd") users.push({ name: name, password: m.password as string });
    }
    if (op === "users.add") users.push({ name: name, password: m.password as string });
    // Every other field as it is: copied by key, so a field added to Config or Settings is never dropped here.
    const config = {} as Config;
    applyConfigInPlace(config, this.settings.config);
    config.users = users;
    const next = {} as Settings;
    applyConfigInPlace(next as unknown as Config, this.settings as unknown as Config);
    next.config = config;
    const err = this.commit(next);
    return err ? err : ok({ users: users.length });
  }

  private userNames(): string[] {
    const names: string[] = [];
    for (let i = 0; i < this.settings.config.users.length; i++) names.push(this.settings.config.users[i].name);
    return names;
  }

  /** A configured user's mailbox, or the mail a removed user left on the card. */
  private mailboxUser(m: MsgMap): string | undefined {
    if (typeof m.user !== "string") return undefined;
    if (userIndex(this.settings.config, m.user) >= 0 || this.target.owners().indexOf(m.user) >= 0) return m.user;
    return undefined;
  }

  /** msgs.delete: the mail of a user who is no longer configured (provision and users remove, after backup). */
  private deleteMail(m: MsgMap): Reply {
    const user = this.mailboxUser(m);
    if (!user) return fail(ERR_NOT_FOUND, "no mail for " + m.user);
    if (userIndex(this.settings.config, user) >= 0) return fail(ERR_CONFLICT, user + " is still a user: remove the user first");
    if (!this.target.deleteMail(user)) return fail(ERR_CONFLICT, "the mailbox of " + user + " is in use by a POP3 session");
    this.hal.log("console: deleted the mail of removed user " + user);
    return ok({});
  }

  private listMessages(m: MsgMap): Reply {
    const user = this.mailboxUser(m);
    if (!user) return fail(ERR_NOT_FOUND, "no such mailbox");
    const start = typeof m.start === "number" && m.start > 0 ? m.start : 0;
    const all = this.target.listMessages(user);
    const page: MsgValue[] = [];
    for (let i = start; i < all.length && page.length < MESSAGES_PER_PAGE; i++) page.push({ id: all[i].id, size: all[i].size });
    const next = start + page.length;
    return ok({ messages: page, total: all.length, next: next < all.length ? next : -1 });
  }

  private findMessage(m: MsgMap): MessageInfo | undefined {
    const user = this.mailboxUser(m);
    if (!user || typeof m.msg !== "string") return undefined;
    const all = this.target.listMessages(user);
    for (let i = 0; i < all.length; i++) if (all[i].id === m.msg) return all[i];
    return undefined;
  }

  private readMessage(m: MsgMap): Reply {
    const info = this.findMessage(m);
    if (!info) return fail(ERR_NOT_FOUND, "no such message");
    const offset = m.offset;
    if (typeof offset !== "number" || offset < 0) return fail(ERR_MALFORMED, "msgs.read needs an offset");
    const length = typeof m.length === "number" && m.length > 0 && m.length < READ_CHUNK ? m.length : READ_CHUNK;
    const data = offset >= info.size ? "" : this.target.readMessage(m.user as string, info.id, offset, length);
    if (data === undefined) return fail(ERR_NOT_FOUND, "message gone");
    return { result: { size: info.size }, raw: data };
  }

  private sumMessage(m: MsgMap): Reply {
    const info = this.findMessage(m);
    if (!info) return fail(ERR_NOT_FOUND, "no such message");
    const sum = new Adler32();
    let offset = 0;
    while (offset < info.size) {
      const data = this.target.readMessage(m.user as string, info.id, offset, 512);
      if (data === undefined || data.length === 0) return fail(ERR_STORAGE, "message shorter than listed");
      sum.update(data);
      offset += data.length;
    }
    return ok({ size: offset, adler32: sum.hex() });
  }

  /**
   * The web.* operations (docs/SERIAL.md, "The web page on the card"), in
   * one method: one prototype entry instead of five (Espruino variables).
   * web.begin empties the directory not served. web.write puts `data` at
   * `offset` of file `name` (0 creates it, else it must be the size on the
   * card). web.check hashes WEB_CHECK_BYTES of it as read back from the
   * card per request against `md5` (`done` false: ask again); a mismatch
   * removes the file. web.commit switches to the new page once MANIFEST
   * and every file it names were written and checked. web.info: the page
   * served, and with `path` what lookup() answers for it.
   */
  private webOp(m: MsgMap): Reply {
    const storage = this.hal.storage;
    const op = m.op;
    const web = this.web;
    try {
      if (op === "web.info") {
        const dir = currentDir(storage);
        const manifest = dir !== "" && storage.size(Web.Dir + "/" + dir + "/" + Web.Manifest) >= 0 ? md5hex(readManifest(storage, dir)) : "";
        if (typeof m.path !== "string") return ok({ dir: dir, manifest: manifest });
        const f = lookup(storage, m.path);
        if (!f) return fail(ERR_NOT_FOUND, "the page has no file for " + m.path);
        return ok({ dir: dir, manifest: manifest, file: f.file, type: f.type, etag: f.etag, gzip: f.gzip, size: f.size });
      }
      if (op === "web.begin") {
        const dir = clearDir(storage);
        this.web = { dir: dir, checked: " ", name: "", sum: undefined, offset: 0 };
        this.hal.log("console: writing a web page into " + Web.Dir + "/" + dir);
        return ok({ dir: dir });
      }
      if (!web) return fail(ERR_CONFLICT, "no web page is being written (web.begin first)");
      if (op === "web.commit") {
        if (find(web.checked, " " + Web.Manifest + " ", 0) < 0) return fail(ERR_CONFLICT, "MANIFEST was not written and checked");
        const problem = manifestProblem(readManifest(storage, web.dir), web.checked);
        if (problem !== "") return fail(ERR_INVALID, problem);
        switchTo(storage, web.dir);
        this.web = undefined;
        this.hal.log("console: web page switched to " + Web.Dir + "/" + web.dir);
        return ok({ dir: web.dir });
      }
      const name = m.name;
      if (typeof name !== "string" || !valid83(name)) return fail(ERR_INVALID, "file name: an 8.3 name in upper case");
      const path = Web.Dir + "/" + web.dir + "/" + name;
      if (op === "web.write") {
        const data = m.data;
        const offset = m.offset;
        if (typeof data !== "string" || typeof offset !== "number") return fail(ERR_MALFORMED, "web.write needs name, offset and data");
        const size = offset === 0 ? 0 : storage.size(path);
        if (size !== offset) return fail(ERR_CONFLICT, "data out of sequence: " + name + " has " + decimal(size < 0 ? 0 : size) + " bytes");
        const file = storage.open(path, offset === 0 ? "w" : "a");
        try {
          file.write(data);
        } finally {
          file.close();
        }
        // Written again: it must be checked again.
        web.checked = web.checked.replace(" " + name + " ", " ");
        if (web.name === name) web.sum = undefined;
        return ok({ size: offset + data.length });
      }
      // web.check
      if (typeof m.md5 !== "string") return fail(ERR_MALFORMED, "web.check needs name and md5");
      if (web.name !== name || web.sum === undefined) {
        web.name = name;
        web.sum = md5Begin();
        web.offset = 0;
      }
      const size = storage.size(path);
      if (size < 0) return fail(ERR_NOT_FOUND, name + " is not on the card");
      const file = storage.open(path, "r");
      try {
        file.seek(web.offset);
        const data = web.offset < size ? file.read(WEB_CHECK_BYTES) : "";
        if (data === undefined || (data === "" && web.offset < size)) throw "file shorter than its size";
        md5Update(web.sum, data);
        web.offset += data.length;
      } finally {
        file.close();
      }
      if (web.offset < size) return ok({ checked: web.offset, size: size, done: false });
      const sum = md5End(web.sum);
      web.sum = undefined;
      if (sum !== lower(m.md5)) {
        try {
          storage.remove(path);
        } catch (e) {
          // web.commit refuses it anyway: it is not among the checked files
        }
        return fail(ERR_INVALID, name + ": MD5 on the card is " + sum + ", not " + m.md5 + " as sent; the file was removed");
      }
      web.checked += name + " ";
      return ok({ checked: size, size: size, done: true });
    } catch (e) {
      if (web) web.sum = undefined;
      return cardFailed(e);
    }
  }
}

/** What startLetterbox gets from bootConsole. */
export interface BootedConsole {
  /** The configuration to run with: the provisioned one from flash, else the board's default. */
  config: Config;
  /** Starts the console (when the board has a serial line) once the core can answer it. */
  attach(target: ConsoleTarget): Console | undefined;
}

/**
 * First thing at boot: keeps log lines for `letterbox logs` and reads the
 * provisioned settings from internal flash, which win over `fallback`.
 */
export function bootConsole(hal: Hal, fallback: Config): BootedConsole {
  const ring = new LogRing(64);
  captureLog(hal, ring);
  const stored = hal.flash ? loadSettings(hal.flash) : undefined;
  const settings: Settings = stored ? stored.settings : { config: fallback };
  if (stored) hal.log("console: provisioned settings from flash");
  return {
    config: settings.config,
    attach: function (target: ConsoleTarget) {
      if (!hal.serial) return undefined;
      return new Console({ hal: hal, target: target, settings: settings, stored: stored, log: ring });
    },
  };
}

/**
 * Puts `next` into effect in the configuration object the core already
 * holds, for cores that read users, domains and limits from it on every
 * use: every field, by key (so a field added to Config is never dropped;
 * the console copies Settings with it too). Ports and the services' on/off
 * switches take effect at the next start.
 */
export function applyConfigInPlace(live: Config, next: Config): void {
  for (const key in next) (live as unknown as MsgMap)[key] = (next as unknown as MsgMap)[key];
}
