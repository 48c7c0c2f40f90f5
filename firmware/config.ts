/** The box's configuration, as the core sees it (already validated). */

export interface UserConfig {
  /** POP3 login and the local part that receives mail at every domain. */
  name: string;
  password: string;
}

export interface Limits {
  /** Largest message accepted, in bytes (advertised as SIZE). */
  maxMessageBytes: number;
  /** Per-mailbox quota in bytes (below 2^31). */
  mailboxQuotaBytes: number;
  maxRecipients: number;
  smtpSessions: number;
  pop3Sessions: number;
  /** Idle time before a session is dropped, in seconds. */
  smtpIdleSeconds: number;
  pop3IdleSeconds: number;
}

export interface Config {
  hostname: string;
  /** Domains the box receives mail for (lower case). */
  domains: string[];
  users: UserConfig[];
  smtpPort: number;
  pop3Port: number;
  limits: Limits;
}

export function defaultLimits(): Limits {
  return {
    maxMessageBytes: 26214400, // 25 MiB
    mailboxQuotaBytes: 1073741824, // 1 GiB
    maxRecipients: 100,
    smtpSessions: 4,
    pop3Sessions: 3,
    smtpIdleSeconds: 300, // RFC 5321 4.5.3.2.7
    pop3IdleSeconds: 600, // RFC 1939 section 3
  };
}
