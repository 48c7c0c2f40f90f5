/**
 * The configuration file (JSON), validated with a JSON Schema (ajv) before
 * anything uses it. Every problem is reported with its field path and a hint.
 */
import * as fs from "node:fs";
import Ajv, { ErrorObject } from "ajv";
import { Config, defaultLimits, Limits } from "../firmware/config";

const USER_NAME = "^[a-z0-9][a-z0-9._-]{0,31}$";
const DOMAIN = "^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$";
const INT31 = { type: "integer", minimum: 1, maximum: 2147483647 };

export const configSchema = {
  type: "object",
  additionalProperties: false,
  required: ["hostname", "domains", "users"],
  properties: {
    $schema: { type: "string" },
    hostname: { type: "string", pattern: DOMAIN.replace(")+$", ")*$"), description: "the box's own name, e.g. mail.home.arpa" },
    domains: {
      type: "array",
      minItems: 1,
      uniqueItems: true,
      items: { type: "string", pattern: DOMAIN },
      description: "domains the box receives mail for, lower case",
    },
    users: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "password"],
        properties: {
          name: { type: "string", pattern: USER_NAME, description: "lower-case login and local part" },
          password: { type: "string", minLength: 4, maxLength: 128, pattern: "^[\\x21-\\x7e]+$" },
        },
      },
    },
    smtpPort: { type: "integer", minimum: 1, maximum: 65535 },
    pop3Port: { type: "integer", minimum: 1, maximum: 65535 },
    limits: {
      type: "object",
      additionalProperties: false,
      properties: {
        maxMessageBytes: INT31,
        mailboxQuotaBytes: INT31,
        maxRecipients: { type: "integer", minimum: 1, maximum: 1000 },
        smtpSessions: { type: "integer", minimum: 1, maximum: 8 },
        pop3Sessions: { type: "integer", minimum: 1, maximum: 8 },
        smtpIdleSeconds: { type: "integer", minimum: 1, maximum: 3600 },
        pop3IdleSeconds: { type: "integer", minimum: 1, maximum: 3600 },
      },
    },
    wifi: {
      type: "object",
      additionalProperties: false,
      required: ["ssid"],
      properties: { ssid: { type: "string", minLength: 1, maxLength: 32 }, password: { type: "string", maxLength: 64 } },
    },
    sntpServer: { type: "string", minLength: 1 },
    timezone: { type: "string", minLength: 1 },
  },
} as const;

const HINTS: { [keyword: string]: string } = {
  pattern: "check the spelling and allowed characters",
  required: "add the missing field",
  additionalProperties: "remove it or check its spelling",
  type: "use the right JSON type",
  minItems: "add at least one entry",
  uniqueItems: "remove the duplicate",
  minimum: "use a larger number",
  maximum: "use a smaller number",
  minLength: "make it longer",
  maxLength: "make it shorter",
};

export class ConfigError extends Error {
  constructor(public problems: string[]) {
    super(problems.join("\n"));
  }
}

function describe(e: ErrorObject): string {
  let field = e.instancePath === "" ? "(top level)" : e.instancePath.slice(1).replace(/\//g, ".");
  if (e.keyword === "required") field = (e.instancePath ? field + "." : "") + (e.params as { missingProperty: string }).missingProperty;
  if (e.keyword === "additionalProperties")
    field = (e.instancePath ? field + "." : "") + (e.params as { additionalProperty: string }).additionalProperty;
  const what = e.keyword === "additionalProperties" ? "is not a known field" : e.keyword === "required" ? "is missing" : e.message;
  const hint = HINTS[e.keyword];
  return `${field}: ${what}${hint ? ` (${hint})` : ""}`;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(configSchema);

/** The file's JSON as it is, plus the extra fields only the host and provisioning use. */
export interface ConfigFile {
  hostname: string;
  domains: string[];
  users: { name: string; password: string }[];
  smtpPort?: number;
  pop3Port?: number;
  limits?: Partial<Limits>;
  wifi?: { ssid: string; password?: string };
  sntpServer?: string;
  timezone?: string;
}

/** Validates a parsed config; throws ConfigError listing every problem. */
export function validateConfig(value: unknown): ConfigFile {
  if (!validate(value)) throw new ConfigError((validate.errors || []).map(describe));
  const file = value as unknown as ConfigFile;
  const seen = new Set<string>();
  const problems: string[] = [];
  file.users.forEach((u, i) => {
    if (seen.has(u.name)) problems.push(`users.${i}.name: "${u.name}" appears twice (each user once)`);
    seen.add(u.name);
  });
  if (problems.length) throw new ConfigError(problems);
  return file;
}

/** Reads and validates a config file; throws ConfigError naming the field. */
export function loadConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError([`${path}: cannot read (${(e as NodeJS.ErrnoException).code || (e as Error).message})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`${path}: not valid JSON (${(e as Error).message})`]);
  }
  return validateConfig(value);
}

/** The core's view of a validated config file. */
export function toCoreConfig(file: ConfigFile): Config {
  const limits = defaultLimits();
  const given = file.limits || {};
  for (const key of Object.keys(given) as (keyof Limits)[]) {
    const v = given[key];
    if (v !== undefined) limits[key] = v;
  }
  return {
    hostname: file.hostname.toLowerCase(),
    domains: file.domains.map((d) => d.toLowerCase()),
    users: file.users.map((u) => ({ name: u.name, password: u.password })),
    smtpPort: file.smtpPort || 25,
    pop3Port: file.pop3Port || 110,
    limits,
  };
}

/**
 * What `letterbox provision` sends: the flat map the device keeps in internal
 * flash (firmware/settings.ts), defaults filled in.
 */
export function toSettingsMap(file: ConfigFile): Record<string, unknown> {
  const config = toCoreConfig(file);
  return {
    hostname: config.hostname,
    domains: config.domains,
    users: config.users,
    smtpPort: config.smtpPort,
    pop3Port: config.pop3Port,
    limits: config.limits,
    wifi: file.wifi ? { ssid: file.wifi.ssid, password: file.wifi.password || "" } : undefined,
    sntpServer: file.sntpServer,
    timezone: file.timezone,
  };
}
