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
import { Config, defaultLimits, defaultServices, UserConfig } from "./config";
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

/**
 * The schema every field of `limits` and of each service is read, written
 * and copied by is its default (config.ts): a field is read when its
 * default has it, as a true/false where the default is one, else as a whole
 * number from 0 to 2^31 - 1 (a port to 65535).
 * So a field added to config.ts travels through flash, provisioning and the
 * console with no other change. (The host checks the meaning; no tables
 * here: on Espruino every object costs variables for as long as the box runs.)
 */
function readFields(given: MsgValue, defaults: MsgMap, into: MsgMap, where: string): string | undefined {
  if (given === undefined || given === null) return undefined;
  // (Lua cannot tell an empty map from an empty list: an empty list is taken for an empty map.)
  if (typeof given !== "object" || (Array.isArray(given) && given.length > 0)) return where + ": not a map";
  const keys: string[] = [];
  for (const key in defaults) keys.push(key);
  keys.sort(); // the first error named is the same on every runtime
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const v = (given as MsgMap)[key];
    if (v === undefined || v === null) continue;
    const d = defaults[key];
    if (typeof d === "boolean" ? typeof v !== "boolean" : !isInt(v, 0, key === "port" ? 65535 : 2147483647)) {
      return where + "." + key + (typeof d === "boolean" ? ": not true or false" : ": not a whole number in range");
    }
    into[key] = v;
  }
  return undefined;
}

/** Every field of `from` its defaults name. */
function writeFields(from: MsgMap, defaults: MsgMap): MsgMap {
  const out: MsgMap = {};
  for (const key in defaults) out[key] = from[key];
  return out;
}

/**
 * Checks the shape of settings received or read back (the host validated
 * the meaning already); returns an error message naming the field, or the
 * settings. Reads the settings of firmware before services were a list too;
 * where both are given, `services` wins.
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
    // A "/" would make the name one of another user's folders in the store (IMAP: owner keys are user/n).
    if ((user.name as string).indexOf("/") >= 0) return "users: " + (user.name as string) + " has a / (not allowed in a name)";
    for (let k = 0; k < userList.length; k++) {
      if (userList[k].name === user.name) return "users: " + (user.name as string) + " appears twice";
    }
    userList.push({ name: user.name as string, password: user.password as string });
  }
  const limits = defaultLimits();
  const services = defaultServices();
  let err = readFields(m.limits, defaultLimits() as unknown as MsgMap, limits as unknown as MsgMap, "limits");
  if (err) return err;
  if (m.services !== undefined && m.services !== null && (typeof m.services !== "object" || (Array.isArray(m.services) && m.services.length > 0))) return "services: not a map";
  const given = m.services as MsgMap | undefined;
  const old = m.limits as MsgMap | undefined;
  const names: string[] = [];
  for (const name in services) names.push(name);
  names.sort(); // the first error named is the same on every runtime
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const service = services[name] as unknown as MsgMap;
    // Settings from before services were a list (firmware 0.1.0, on boards
    // provisioned then): smtpPort, pop3Port at the top, limits.smtpSessions,
    // pop3Sessions, smtpIdleSeconds, pop3IdleSeconds become that service's
    // port, session cap and idle time (README, "Settings from before
    // services were a list"). Where `services` gives a field too, it wins.
    const before: MsgMap = { port: m[name + "Port"] };
    if (old && typeof old === "object") {
      before.sessions = old[name + "Sessions"];
      before.idleSeconds = old[name + "IdleSeconds"];
    }
    // A service's defaults are its schema.
    err = readFields(before, service, service, name + " (" + name + "Port, limits." + name + "Sessions or " + name + "IdleSeconds)");
    if (!err && given) err = readFields(given[name], service, service, "services." + name);
    if (err) return err;
  }
  const settings: Settings = {
    config: { hostname: m.hostname as string, domains: domainList, users: userList, services: services, limits: limits },
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

/** The wire and flash form: the same map as the host's config file, every field by the schema. */
export function settingsToMap(s: Settings): MsgMap {
  const users: MsgValue[] = [];
  for (let i = 0; i < s.config.users.length; i++) {
    users.push({ name: s.config.users[i].name, password: s.config.users[i].password });
  }
  const services: MsgMap = {};
  for (const name in s.config.services) services[name] = writeFields(s.config.services[name] as unknown as MsgMap, s.config.services[name] as unknown as MsgMap);
  const map: MsgMap = {
    hostname: s.config.hostname,
    domains: s.config.domains.slice(0),
    users: users,
    services: services,
    limits: writeFields(s.config.limits as unknown as MsgMap, defaultLimits() as unknown as MsgMap),
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
