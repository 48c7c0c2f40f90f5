/**
 * The configuration file (JSON), validated with a JSON Schema (ajv) before
 * anything uses it. Every problem is reported in words: the field as a person
 * would name it (users by name) and what is allowed there.
 */
import * as fs from "node:fs";
import Ajv, { ErrorObject } from "ajv";
import { Config, Limits, ServiceConfig } from "../firmware/config";
import { parseSettings, settingsToMap } from "../firmware/settings";

const USER_NAME = "^[a-z0-9][a-z0-9._-]{0,31}$";
const DOMAIN = "^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$";
const INT31 = { type: "integer", minimum: 1, maximum: 2147483647 };

/** One service's switch and limits (firmware/config.ts ServiceConfig). */
const SERVICE = {
  type: "object",
  additionalProperties: false,
  allowed: "an object with some of enabled, port, sessions, reserve, perClient, perUser, idleSeconds",
  properties: {
    enabled: { type: "boolean", allowed: "true (the service listens) or false (it does not)" },
    port: { type: "integer", minimum: 1, maximum: 65535, allowed: "a port number from 1 to 65535" },
    sessions: { type: "integer", minimum: 1, maximum: 16, allowed: "a whole number from 1 to 16" },
    reserve: { type: "integer", minimum: 0, maximum: 16, allowed: "a whole number of sockets from 0 to 16" },
    perClient: { type: "integer", minimum: 0, maximum: 16, allowed: "a whole number from 0 (no cap) to 16" },
    perUser: { type: "integer", minimum: 0, maximum: 16, allowed: "a whole number from 0 (no cap) to 16 (IMAP: sessions logged in as one user)" },
    idleSeconds: { type: "integer", minimum: 1, maximum: 3600, allowed: "a whole number of seconds from 1 to 3600" },
  },
};

/**
 * The schema. `allowed` (our own keyword, ignored by ajv) is what a person
 * is told when a value breaks a rule, instead of ajv's pattern or limits.
 */
export const configSchema = {
  type: "object",
  additionalProperties: false,
  required: ["hostname", "domains", "users"],
  properties: {
    $schema: { type: "string" },
    hostname: {
      type: "string",
      pattern: DOMAIN.replace(")+$", ")*$"),
      allowed: "a host name such as mail.home.arpa: lower-case letters, digits and hyphens, in labels separated by dots",
    },
    domains: {
      type: "array",
      minItems: 1,
      uniqueItems: true,
      items: { type: "string", pattern: DOMAIN, allowed: "a domain such as home.arpa: lower-case letters, digits and hyphens, at least two labels separated by dots" },
      allowed: "a list of at least one domain the box receives mail for, each once",
    },
    users: {
      type: "array",
      minItems: 1,
      allowed: "a list of at least one user",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "password"],
        allowed: 'an object with "name" and "password"',
        properties: {
          name: { type: "string", pattern: USER_NAME, allowed: "1 to 32 lower-case letters, digits, dots, underscores or hyphens, starting with a letter or digit" },
          password: { type: "string", minLength: 4, maxLength: 128, pattern: "^[\\x21-\\x7e]+$", allowed: "4 to 128 printable ASCII characters, no spaces" },
        },
      },
    },
    services: {
      type: "object",
      additionalProperties: false,
      allowed: "an object with smtp, pop3, http and imap, each with some of enabled, port, sessions, reserve, perClient, perUser, idleSeconds",
      properties: { smtp: SERVICE, pop3: SERVICE, http: SERVICE, imap: SERVICE },
    },
    // The settings from before services were a list: services.smtp.port and services.pop3.port.
    smtpPort: { type: "integer", minimum: 1, maximum: 65535, allowed: "a port number from 1 to 65535" },
    pop3Port: { type: "integer", minimum: 1, maximum: 65535, allowed: "a port number from 1 to 65535" },
    limits: {
      type: "object",
      additionalProperties: false,
      allowed: "an object with some of maxMessageBytes, mailboxQuotaBytes, maxRecipients, sockets (and, as before, smtpSessions, pop3Sessions, smtpIdleSeconds, pop3IdleSeconds)",
      properties: {
        maxMessageBytes: { ...INT31, allowed: "a whole number of bytes from 1 to 2147483647" },
        mailboxQuotaBytes: { ...INT31, allowed: "a whole number of bytes from 1 to 2147483647" },
        maxRecipients: { type: "integer", minimum: 1, maximum: 1000, allowed: "a whole number from 1 to 1000" },
        sockets: { type: "integer", minimum: 3, maximum: 16, allowed: "a whole number of sockets from 3 to 16 (lwIP's is 10 on the ESP32 boards)" },
        // As before services were a list: services.smtp/pop3.sessions and idleSeconds.
        smtpSessions: { type: "integer", minimum: 1, maximum: 8, allowed: "a whole number from 1 to 8" },
        pop3Sessions: { type: "integer", minimum: 1, maximum: 8, allowed: "a whole number from 1 to 8" },
        smtpIdleSeconds: { type: "integer", minimum: 1, maximum: 3600, allowed: "a whole number of seconds from 1 to 3600" },
        pop3IdleSeconds: { type: "integer", minimum: 1, maximum: 3600, allowed: "a whole number of seconds from 1 to 3600" },
      },
    },
    wifi: {
      type: "object",
      additionalProperties: false,
      required: ["ssid"],
      allowed: 'an object with "ssid" and "password"',
      properties: {
        ssid: { type: "string", minLength: 1, maxLength: 32, allowed: "the network name, 1 to 32 characters" },
        password: { type: "string", maxLength: 64, allowed: "the network password, at most 64 characters" },
      },
    },
    sntpServer: { type: "string", minLength: 1, allowed: "a time server's host name, such as pool.ntp.org" },
    timezone: { type: "string", minLength: 1, allowed: "an IANA time zone name such as Europe/Berlin or UTC" },
  },
} as const;

const TYPES: { [type: string]: string } = {
  string: "text in double quotes",
  integer: "a whole number",
  number: "a number",
  array: "a list in [ ]",
  object: "an object in { }",
  boolean: "true or false",
};

export class ConfigError extends Error {
  constructor(public problems: string[]) {
    super(problems.join("\n"));
  }
}

/**
 * A JSON pointer as a person would write it: users are named by their name
 * (else counted from 1), other list entries counted from 1.
 */
function fieldName(pointer: string, root: unknown): string {
  if (pointer === "") return "(top level)";
  const parts = pointer.slice(1).split("/");
  let out = "";
  let value: unknown = root;
  for (const part of parts) {
    if (Array.isArray(value)) {
      const entry = value[Number(part)];
      const name = entry && typeof entry === "object" && typeof (entry as { name?: unknown }).name === "string" ? (entry as { name: string }).name : "";
      out += name && out === "users" ? ` "${name}"` : ` #${Number(part) + 1}`;
      value = entry;
    } else {
      out += (out ? "." : "") + part;
      value = value && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
    }
  }
  return out;
}

function describe(e: ErrorObject, root: unknown): string {
  const schema = (e.parentSchema || {}) as { allowed?: string; type?: string };
  const field = fieldName(e.instancePath, root);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return `${e.instancePath ? field + "." : ""}${params.missingProperty}: is missing (add it)`;
    case "additionalProperties":
      return `${e.instancePath ? field + "." : ""}${params.additionalProperty}: is not a known field (remove it or check its spelling)`;
    case "type":
      return `${field}: should be ${TYPES[String(params.type)] || params.type}${schema.allowed ? `: ${schema.allowed}` : ""}`;
    case "uniqueItems":
      return `${field}: entries #${Number(params.j) + 1} and #${Number(params.i) + 1} are the same (list each once)`;
    case "minItems":
      return `${field}: is empty (${schema.allowed || `needs at least ${params.limit}`})`;
    default:
      return `${field}: not allowed (${schema.allowed || e.message})`;
  }
}

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validate = ajv.compile(configSchema);

/** True for a time zone name in the IANA database Node carries (Intl), aliases such as UTC included. */
export function knownTimeZone(name: string): boolean {
  if (Intl.supportedValuesOf("timeZone").includes(name)) return true;
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The file's JSON as it is, plus the extra fields only the host and provisioning use. */
export interface ConfigFile {
  hostname: string;
  domains: string[];
  users: { name: string; password: string }[];
  services?: { smtp?: Partial<ServiceConfig>; pop3?: Partial<ServiceConfig>; http?: Partial<ServiceConfig>; imap?: Partial<ServiceConfig> };
  smtpPort?: number;
  pop3Port?: number;
  limits?: Partial<Limits> & { smtpSessions?: number; pop3Sessions?: number; smtpIdleSeconds?: number; pop3IdleSeconds?: number };
  wifi?: { ssid: string; password?: string };
  sntpServer?: string;
  timezone?: string;
}

/** Validates a parsed config; throws ConfigError listing every problem. */
export function validateConfig(value: unknown): ConfigFile {
  const problems: string[] = validate(value) ? [] : (validate.errors || []).map((e) => describe(e, value));
  const file = value as unknown as ConfigFile;
  // Beyond the schema, and reported with its problems: every mistake at once.
  const seen = new Set<string>();
  (Array.isArray(file?.users) ? file.users : []).forEach((u, i) => {
    if (!u || typeof u.name !== "string") return;
    if (seen.has(u.name)) problems.push(`users #${i + 1}: the name "${u.name}" appears twice (each user once)`);
    seen.add(u.name);
  });
  if (!problems.length) {
    // Every listener and every reserve is a socket, and one stays free to refuse with (firmware/sessions.ts): leave at least one for the sessions of any service.
    const config = toCoreConfig(file);
    let taken = 0;
    const names = Object.keys(config.services).filter((n) => config.services[n].enabled);
    for (const n of names) taken += 1 + config.services[n].reserve;
    if (taken + 1 >= config.limits.sockets) {
      problems.push(`services: ${names.length} listeners and reserves of ${taken - names.length} take ${taken} of the ${config.limits.sockets} sockets (limits.sockets), and one is kept free to refuse with: leave at least one for the sessions`);
    }
  }
  if (typeof file?.timezone === "string" && file.timezone !== "" && !knownTimeZone(file.timezone)) {
    problems.push(`timezone: "${file.timezone}" is not a time zone Node knows (an IANA name such as Europe/Berlin or UTC)`);
  }
  // One line per problem: a value breaking two rules with the same wording (a short password with a space) is told once.
  if (problems.length) throw new ConfigError(problems.filter((p, i) => problems.indexOf(p) === i));
  return file;
}

/**
 * A JSON syntax error in words: line and column (from 1), the line itself
 * and a caret under the spot. Node 20 reports only "at position N".
 */
export function jsonProblem(path: string, text: string, e: Error): string {
  const what = e.message.replace(/ in JSON at position \d+.*$/, "").replace(/^Unexpected end of JSON input$/, "the file ends too early");
  const at = /at position (\d+)/.exec(e.message);
  const pos = at ? Number(at[1]) : text.length;
  const before = text.slice(0, pos).split("\n");
  const line = before.length;
  const column = before[before.length - 1].length + 1;
  const shown = text.split("\n")[line - 1].replace(/\r$/, "").replace(/\t/g, " ");
  return `${path}: not valid JSON at line ${line}, column ${column}: ${what}\n  ${line} | ${shown}\n  ${" ".repeat(String(line).length)} | ${" ".repeat(column - 1)}^`;
}

/** Why a file could not be read, in words (the errno code only when it is none of the usual ones). */
function readProblem(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ENOENT":
      return "there is no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory, not a file";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    default:
      return e.message;
  }
}

/** Reads and validates a config file; throws ConfigError naming the field. */
export function loadConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError([`${path}: cannot read it: ${readProblem(e as NodeJS.ErrnoException)}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([jsonProblem(path, text, e as Error)]);
  }
  return validateConfig(value);
}

/** The core's view of a validated config file, read as the board reads settings (firmware/settings.ts; old keys included). */
export function toCoreConfig(file: ConfigFile): Config {
  const parsed = parseSettings({
    ...(file as unknown as Record<string, never>),
    hostname: file.hostname.toLowerCase(),
    domains: file.domains.map((d) => d.toLowerCase()),
  });
  if (typeof parsed === "string") throw new ConfigError([parsed]);
  return parsed.config;
}

/**
 * What `letterbox provision` sends: the map the device keeps in internal
 * flash (firmware/settings.ts), defaults filled in, every field by the
 * firmware's schema.
 */
export function toSettingsMap(file: ConfigFile): Record<string, unknown> {
  return {
    ...settingsToMap({ config: toCoreConfig(file) }),
    wifi: file.wifi ? { ssid: file.wifi.ssid, password: file.wifi.password || "" } : undefined,
    sntpServer: file.sntpServer,
    timezone: file.timezone,
  };
}
