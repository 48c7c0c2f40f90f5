/**
 * The provisioned settings in the board's internal flash: the core's Config
 * plus what only the board adapter uses (Wi-Fi, SNTP, time zone). Secrets
 * live here and never on the removable card.
 *
 * Two slots, each "LBC1" + sequence (8 hex) + Adler-32 (8 hex) + MessagePack.
 * A save writes the slot NOT holding the current settings, so a power cut
 * mid-write leaves the old settings in force: a provisioning applies
 * completely or not at all.
 */
import { Config, defaultLimits, Limits, UserConfig } from "./config";
import { adler32 } from "./frame";
import type { InternalFlash } from "./hal";
import { decode, encode, MsgMap, MsgValue } from "./msgpack";
import { hex } from "./num";

export interface WifiSettings {
  ssid: string;
  password: string;
}

export interface Settings {
  config: Config;
  wifi?: WifiSettings;
  sntpServer?: string;
  timezone?: string;
}

export const SLOT_NAMES = ["lbcfg.0", "lbcfg.1"];
const MAGIC = "LBC1";
const HEADER = MAGIC.length + 16;
/** Largest settings record accepted from the host. */
export const MAX_SETTINGS_BYTES = 8192;

export interface StoredSettings {
  settings: Settings;
  seq: number;
  slot: number;
}

function isInt(v: MsgValue, min: number, max: number): boolean {
  return typeof v === "number" && Math.floor(v) === v && v >= min && v <= max;
}

function isText(v: MsgValue, maxLength: number): boolean {
  return typeof v === "string" && v.length > 0 && v.length <= maxLength;
}

const LIMIT_KEYS = ["maxMessageBytes", "mailboxQuotaBytes", "maxRecipients", "smtpSessions", "pop3Sessions", "smtpIdleSeconds", "pop3IdleSeconds"];

/**
 * Checks the shape of settings received or read back (the host validated
 * the meaning already); returns an error message naming the field, or the
 * settings.
 */
export function parseSettings(value: MsgValue): Settings | string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "settings: not a map";
  const m = value as MsgMap;
  if (!isText(m.hostname, 253)) return "hostname: missing";
  const domains = m.domains;
  if (!Array.isArray(domains) || domains.length === 0) return "domains: need at least one";
  const domainList: string[] = [];
  for (let i = 0; i < domains.length; i++) {
    if (!isText(domains[i], 253)) return "domains: not a list of names";
    domainList.push(domains[i] as string);
  }
  const users = m.users;
  if (!Array.isArray(users) || users.length === 0) return "users: need at least one";
  const userList: UserConfig[] = [];
  for (let i = 0; i < users.length; i++) {
    const u = users[i];
    if (u === null || typeof u !== "object" || Array.isArray(u)) return "users: not a list of users";
    const user = u as MsgMap;
    if (!isText(user.name, 32) || !isText(user.password, 128)) return "users: each needs a name and a password";
    for (let k = 0; k < userList.length; k++) {
      if (userList[k].name === user.name) return "users: " + (user.name as string) + " appears twice";
    }
    userList.push({ name: user.name as string, password: user.password as string });
  }
  const smtpPort = m.smtpPort === undefined || m.smtpPort === null ? 25 : m.smtpPort;
  const pop3Port = m.pop3Port === undefined || m.pop3Port === null ? 110 : m.pop3Port;
  if (!isInt(smtpPort, 1, 65535) || !isInt(pop3Port, 1, 65535)) return "ports: not port numbers";
  const limits: Limits = defaultLimits();
  if (m.limits !== undefined && m.limits !== null) {
    if (typeof m.limits !== "object" || Array.isArray(m.limits)) return "limits: not a map";
    const given = m.limits as MsgMap;
    for (let i = 0; i < LIMIT_KEYS.length; i++) {
      const v = given[LIMIT_KEYS[i]];
      if (v === undefined || v === null) continue;
      if (!isInt(v, 1, 2147483647)) return "limits." + LIMIT_KEYS[i] + ": not a positive integer";
      (limits as unknown as MsgMap)[LIMIT_KEYS[i]] = v;
    }
  }
  const settings: Settings = {
    config: {
      hostname: m.hostname as string,
      domains: domainList,
      users: userList,
      smtpPort: smtpPort as number,
      pop3Port: pop3Port as number,
      limits: limits,
    },
  };
  if (m.wifi !== undefined && m.wifi !== null) {
    const w = m.wifi as MsgMap;
    if (typeof w !== "object" || !isText(w.ssid, 32)) return "wifi.ssid: missing";
    const password = w.password === undefined || w.password === null ? "" : w.password;
    if (typeof password !== "string" || password.length > 64) return "wifi.password: not a string of at most 64 bytes";
    settings.wifi = { ssid: w.ssid as string, password: password };
  }
  if (m.sntpServer !== undefined && m.sntpServer !== null) {
    if (!isText(m.sntpServer, 253)) return "sntpServer: not a name";
    settings.sntpServer = m.sntpServer as string;
  }
  if (m.timezone !== undefined && m.timezone !== null) {
    if (!isText(m.timezone, 64)) return "timezone: not a name";
    settings.timezone = m.timezone as string;
  }
  return settings;
}

/** The wire and flash form: the same flat map as the host's config file. */
export function settingsToMap(s: Settings): MsgMap {
  const users: MsgValue[] = [];
  for (let i = 0; i < s.config.users.length; i++) {
    users.push({ name: s.config.users[i].name, password: s.config.users[i].password });
  }
  const limits: MsgMap = {};
  for (let i = 0; i < LIMIT_KEYS.length; i++) limits[LIMIT_KEYS[i]] = (s.config.limits as unknown as MsgMap)[LIMIT_KEYS[i]];
  const map: MsgMap = {
    hostname: s.config.hostname,
    domains: s.config.domains.slice(0),
    users: users,
    smtpPort: s.config.smtpPort,
    pop3Port: s.config.pop3Port,
    limits: limits,
  };
  if (s.wifi) map.wifi = { ssid: s.wifi.ssid, password: s.wifi.password };
  if (s.sntpServer !== undefined) map.sntpServer = s.sntpServer;
  if (s.timezone !== undefined) map.timezone = s.timezone;
  return map;
}

function readSlot(flash: InternalFlash, slot: number): StoredSettings | undefined {
  const data = flash.read(SLOT_NAMES[slot]);
  if (data === undefined || data.length < HEADER || data.substring(0, MAGIC.length) !== MAGIC) return undefined;
  const body = data.substring(HEADER);
  if (adler32(body) !== data.substring(MAGIC.length + 8, HEADER)) return undefined;
  let seq = 0;
  for (let i = MAGIC.length; i < MAGIC.length + 8; i++) {
    const d = "0123456789abcdef".indexOf(data.charAt(i));
    if (d < 0) return undefined;
    seq = seq * 16 + d;
  }
  const decoded = decode(body, 0);
  if (decoded.end !== body.length) return undefined;
  const settings = parseSettings(decoded.value);
  if (typeof settings === "string") return undefined;
  return { settings: settings, seq: seq, slot: slot };
}

/** The newest intact settings in flash, or undefined when never provisioned. */
export function loadSettings(flash: InternalFlash): StoredSettings | undefined {
  const a = readSlot(flash, 0);
  const b = readSlot(flash, 1);
  if (a && b) return a.seq > b.seq ? a : b;
  return a || b;
}

/** Writes settings to the slot not in use; throws when the flash fails. The old slot stays until this returns. */
export function saveSettings(flash: InternalFlash, settings: Settings, current: StoredSettings | undefined): StoredSettings {
  const slot = current ? 1 - current.slot : 0;
  const seq = current ? (current.seq + 1) % 2147483647 : 1;
  const body = encode(settingsToMap(settings));
  flash.write(SLOT_NAMES[slot], MAGIC + hex(seq, 8) + adler32(body) + body);
  const check = readSlot(flash, slot);
  if (!check || check.seq !== seq) throw new Error("flash: settings did not read back");
  return check;
}
