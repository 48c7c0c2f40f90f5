/**
 * The box's settings as kept in the board's internal flash: the Storage file
 * `letterbox.cfg` holds one MessagePack map (firmware/msgpack.ts), written by
 * `letterbox provision` or the simulator:
 *
 *   { hostname, domains, users: [{ name, password }], smtpPort?, pop3Port?,
 *     limits?: { ...partial Limits }, wifi?: { ssid, password? },
 *     sntpServer?, sd?: { sck, miso, mosi, cs } (GPIO numbers), dataDir? }
 *
 * Only the shape is checked here: the host validated the values before
 * writing them.
 */
import { Config, defaultLimits, Limits, UserConfig } from "../../firmware/config";
import { decode, MsgMap, MsgValue } from "../../firmware/msgpack";

/** Storage file names are at most 28 characters. */
export const SETTINGS_FILE = "letterbox.cfg";

export interface SdPins {
  sck: number;
  miso: number;
  mosi: number;
  cs: number;
}

export interface DeviceSettings {
  config: Config;
  wifi?: { ssid: string; password?: string };
  sntpServer?: string;
  sd: SdPins;
  /** Directory used instead of the card where none can be mounted (Espruino's Linux build). */
  dataDir: string;
}

/** The SD wiring of boards/espruino-esp32.json (the usual ESP32 VSPI pins). */
export const DEFAULT_SD_PINS: SdPins = { sck: 18, miso: 19, mosi: 23, cs: 5 };
export const DEFAULT_DATA_DIR = "letterbox-data";

function fail(what: string): never {
  throw new Error("letterbox.cfg: " + what);
}

function str(map: MsgMap, key: string): string {
  const v = map[key];
  if (typeof v !== "string") return fail(key + " must be a string");
  return v;
}

function optionalInt(map: MsgMap, key: string, fallback: number): number {
  const v = map[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number") return fail(key + " must be a number");
  return v;
}

function asMap(v: MsgValue, key: string): MsgMap {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return fail(key + " must be a map");
  return v as MsgMap;
}

function asList(v: MsgValue, key: string): MsgValue[] {
  if (!Array.isArray(v)) return fail(key + " must be a list");
  return v;
}

function limits(v: MsgValue): Limits {
  const out = defaultLimits();
  if (v === undefined || v === null) return out;
  const map = asMap(v, "limits");
  out.maxMessageBytes = optionalInt(map, "maxMessageBytes", out.maxMessageBytes);
  out.mailboxQuotaBytes = optionalInt(map, "mailboxQuotaBytes", out.mailboxQuotaBytes);
  out.maxRecipients = optionalInt(map, "maxRecipients", out.maxRecipients);
  out.smtpSessions = optionalInt(map, "smtpSessions", out.smtpSessions);
  out.pop3Sessions = optionalInt(map, "pop3Sessions", out.pop3Sessions);
  out.smtpIdleSeconds = optionalInt(map, "smtpIdleSeconds", out.smtpIdleSeconds);
  out.pop3IdleSeconds = optionalInt(map, "pop3IdleSeconds", out.pop3IdleSeconds);
  return out;
}

export function parseSettings(blob: string): DeviceSettings {
  const decoded = decode(blob, 0);
  if (decoded.end < 0) fail("not a MessagePack value");
  const map = asMap(decoded.value, "the file");
  const domainValues = asList(map.domains, "domains");
  const domains: string[] = [];
  for (let i = 0; i < domainValues.length; i++) {
    if (typeof domainValues[i] !== "string") fail("domains must be strings");
    domains.push(domainValues[i] as string);
  }
  const userValues = asList(map.users, "users");
  const users: UserConfig[] = [];
  for (let i = 0; i < userValues.length; i++) {
    const u = asMap(userValues[i], "users");
    users.push({ name: str(u, "name"), password: str(u, "password") });
  }
  const settings: DeviceSettings = {
    config: {
      hostname: str(map, "hostname"),
      domains: domains,
      users: users,
      smtpPort: optionalInt(map, "smtpPort", 25),
      pop3Port: optionalInt(map, "pop3Port", 110),
      limits: limits(map.limits),
    },
    sd: DEFAULT_SD_PINS,
    dataDir: typeof map.dataDir === "string" ? map.dataDir : DEFAULT_DATA_DIR,
  };
  if (map.wifi !== undefined && map.wifi !== null) {
    const wifi = asMap(map.wifi, "wifi");
    settings.wifi = { ssid: str(wifi, "ssid") };
    if (typeof wifi.password === "string") settings.wifi.password = wifi.password;
  }
  if (typeof map.sntpServer === "string") settings.sntpServer = map.sntpServer;
  if (map.sd !== undefined && map.sd !== null) {
    const sd = asMap(map.sd, "sd");
    settings.sd = {
      sck: optionalInt(sd, "sck", DEFAULT_SD_PINS.sck),
      miso: optionalInt(sd, "miso", DEFAULT_SD_PINS.miso),
      mosi: optionalInt(sd, "mosi", DEFAULT_SD_PINS.mosi),
      cs: optionalInt(sd, "cs", DEFAULT_SD_PINS.cs),
    };
  }
  return settings;
}
