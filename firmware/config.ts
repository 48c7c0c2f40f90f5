/** The box's configuration, as the core sees it (already validated). */

export interface UserConfig {
  /** POP3 login and the local part that receives mail at every domain. */
  name: string;
  password: string;
}

/**
 * One service's switch and limits (config.services[name]). Its sessions
 * come out of the one socket budget (Limits.sockets) that every service
 * shares.
 */
export interface ServiceConfig {
  /**
   * false: the service does not listen, and takes no socket. Not `on`: every
   * Espruino object answers `on` (Object.prototype.on, jswrap_object.c:809),
   * so a map without the field would read as switched on there.
   */
  enabled: boolean;
  port: number;
  /** Sessions this service may hold at once (its own cap under the shared budget). */
  sessions: number;
  /**
   * Sockets kept for this service alone: another service is refused rather
   * than take them (SMTP's keep long-lived sessions of other services from
   * locking incoming mail out). 0: none.
   */
  reserve: number;
  /** Sessions one client address may hold at once; 0: no cap. Counted only where the board reports the address (Connection.remoteAddress). */
  perClient: number;
  /**
   * Sessions logged in as one user at once, counted at LOGIN/AUTHENTICATE
   * (IMAP: a household's user has several devices, each holding one or two
   * connections, and leaves the rest to the others); 0: no cap. Beyond it,
   * `NO [LIMIT]` (RFC 5530) and the session stays not authenticated.
   */
  perUser: number;
  /** Idle time before a session is dropped, in seconds. */
  idleSeconds: number;
}

/** Every service's settings, by the service's name. */
export interface Services {
  smtp: ServiceConfig;
  pop3: ServiceConfig;
  http: ServiceConfig;
  imap: ServiceConfig;
  [name: string]: ServiceConfig;
}

export interface Limits {
  /** Largest message accepted, in bytes (advertised as SIZE). */
  maxMessageBytes: number;
  /** Per-mailbox quota in bytes (below 2^31). */
  mailboxQuotaBytes: number;
  maxRecipients: number;
  /**
   * Sockets the box may use at once, listeners and sessions of every
   * service (and, later, outbound connections) together. 10 is lwIP's on
   * the ESP32 boards (README, "Services and sockets", with the sources).
   */
  sockets: number;
}

export interface Config {
  hostname: string;
  /** Domains the box receives mail for (lower case). */
  domains: string[];
  users: UserConfig[];
  services: Services;
  limits: Limits;
}

export function defaultLimits(): Limits {
  return {
    maxMessageBytes: 26214400, // 25 MiB
    mailboxQuotaBytes: 1073741824, // 1 GiB
    maxRecipients: 100,
    sockets: 10,
  };
}

export function defaultServices(): Services {
  return {
    // RFC 5321 4.5.3.2.7: 5 minutes idle
    smtp: { enabled: true, port: 25, sessions: 4, reserve: 2, perClient: 0, perUser: 0, idleSeconds: 300 },
    // RFC 1939 3: 10 minutes idle
    pop3: { enabled: true, port: 110, sessions: 3, reserve: 0, perClient: 0, perUser: 0, idleSeconds: 600 },
    // The web page (firmware/http.ts); a browser holds a connection or two between clicks
    http: { enabled: true, port: 80, sessions: 4, reserve: 0, perClient: 0, perUser: 0, idleSeconds: 60 },
    // RFC 3501 5.4: at least 30 minutes idle; each device of the household may hold two connections (INBOX + IDLE)
    imap: { enabled: true, port: 143, sessions: 4, reserve: 0, perClient: 2, perUser: 3, idleSeconds: 1800 },
  };
}
