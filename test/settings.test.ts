/**
 * Settings by schema (firmware/settings.ts): the settings that boards
 * provisioned before services were a list keep in flash are read with the
 * meaning they now have, the new shape wins where both are given, and every
 * field survives flash, provisioning and the console's copies.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { defaultLimits, defaultServices } from "../firmware/config";
import type { Config } from "../firmware/config";
import { applyConfigInPlace } from "../firmware/console";
import { adler32 } from "../firmware/frame";
import { encode, MsgMap } from "../firmware/msgpack";
import { loadSettings, parseSettings, saveSettings, Settings, settingsToMap, SLOT_NAMES } from "../firmware/settings";
import { toCoreConfig, toSettingsMap, validateConfig } from "../host/config";
import { SimFlash } from "../sim/flash";
import { ROOT, testConfig } from "./helpers/fixtures";

/** What `letterbox provision` of firmware 0.1.0 sent and the board kept: ports at the top, session caps and idle times in limits. */
export const OLD_SETTINGS: MsgMap = {
  hostname: "mail.example.net",
  domains: ["example.net"],
  users: [{ name: "dora", password: "dora-pass-1" }],
  smtpPort: 2525,
  pop3Port: 1100,
  limits: { maxMessageBytes: 1048576, mailboxQuotaBytes: 8388608, maxRecipients: 7, smtpSessions: 1, pop3Sessions: 2, smtpIdleSeconds: 60, pop3IdleSeconds: 90 },
  wifi: { ssid: "HomeNet", password: "wifi-pass" },
  timezone: "Europe/Berlin",
};

/** A flash slot as firmware 0.1.0 wrote it (the record format has not changed): "LBC1", sequence, Adler-32, MessagePack. */
export function oldFlash(map: MsgMap = OLD_SETTINGS): SimFlash {
  const flash = new SimFlash();
  const body = encode(map);
  flash.write(SLOT_NAMES[0], "LBC1" + "00000001" + adler32(body) + body);
  return flash;
}

test("settings written before services were a list read as each service's port, session cap and idle time", () => {
  const stored = loadSettings(oldFlash());
  assert.ok(stored, "the old record is read");
  const c = stored.settings.config;
  assert.deepEqual(c.services.smtp, { ...defaultServices().smtp, port: 2525, sessions: 1, idleSeconds: 60 });
  assert.deepEqual(c.services.pop3, { ...defaultServices().pop3, port: 1100, sessions: 2, idleSeconds: 90 });
  assert.deepEqual(c.limits, { ...defaultLimits(), maxMessageBytes: 1048576, mailboxQuotaBytes: 8388608, maxRecipients: 7 });
  assert.equal(stored.settings.wifi!.ssid, "HomeNet");
  assert.equal(stored.settings.timezone, "Europe/Berlin");
});

test("where both shapes are given, services wins; a bad field is named", () => {
  const both = parseSettings({ ...OLD_SETTINGS, services: { smtp: { sessions: 3, enabled: true }, pop3: { enabled: false } } }) as Settings;
  assert.equal(both.config.services.smtp.sessions, 3);
  assert.equal(both.config.services.smtp.port, 2525, "a field services leaves out comes from the old settings");
  assert.equal(both.config.services.pop3.enabled, false);
  assert.equal(parseSettings({ ...OLD_SETTINGS, services: { pop3: { enabled: 1 } } }), "services.pop3.enabled: not true or false");
  assert.equal(parseSettings({ ...OLD_SETTINGS, services: { smtp: { port: 70000 } } }), "services.smtp.port: not a whole number in range");
  assert.match(parseSettings({ ...OLD_SETTINGS, smtpPort: "25" }) as string, /^smtp .*\.port: not a whole number in range$/);
  assert.equal(parseSettings({ ...OLD_SETTINGS, limits: { sockets: -1 } }), "limits.sockets: not a whole number in range");
});

test("every field goes through flash and back by the schema, a new one included", () => {
  const config = testConfig({ sockets: 9 });
  config.services.pop3.perClient = 2;
  config.services.smtp.reserve = 3;
  const flash = new SimFlash();
  saveSettings(flash, { config }, undefined);
  assert.deepEqual(loadSettings(flash)!.settings.config, config);
  // A field config.ts gains later is carried without touching settings.ts: its default is its schema.
  const grown = { ...config, services: { ...config.services, smtp: { ...config.services.smtp } } };
  (grown.services.smtp as unknown as MsgMap).maxPerMinute = 5;
  const map = settingsToMap({ config: grown });
  assert.equal(((map.services as MsgMap).smtp as MsgMap).maxPerMinute, 5, "written to flash");
});

test("the console puts every field of a new configuration into effect, not a list of them", () => {
  const live = testConfig();
  const next = testConfig({ sockets: 8, maxRecipients: 2 });
  next.services.smtp.sessions = 1;
  (next as unknown as MsgMap).someFieldAddedLater = "kept";
  applyConfigInPlace(live, next);
  assert.deepEqual(live, next);
});

test("the host tool accepts the new shape and the old one, and says when reserves leave no socket for sessions", () => {
  const base = { hostname: "mail.example.net", domains: ["example.net"], users: [{ name: "dora", password: "dora-pass-1" }] };
  const old = toCoreConfig(validateConfig({ ...base, smtpPort: 2525, limits: { smtpSessions: 2, pop3IdleSeconds: 90 } }));
  assert.equal(old.services.smtp.port, 2525);
  assert.equal(old.services.smtp.sessions, 2);
  assert.equal(old.services.pop3.idleSeconds, 90);
  const fresh: Config = toCoreConfig(
    validateConfig({ ...base, limits: { sockets: 12 }, services: { smtp: { reserve: 3, perClient: 2 }, pop3: { enabled: false, port: 995 } } }),
  );
  assert.equal(fresh.limits.sockets, 12);
  assert.deepEqual(fresh.services.pop3, { ...defaultServices().pop3, enabled: false, port: 995 });
  assert.equal(fresh.services.smtp.reserve, 3);
  // What provisioning sends reads back as the same configuration on the board.
  const sent = toSettingsMap(validateConfig({ ...base, services: { smtp: { reserve: 3 } } }));
  assert.equal((parseSettings(JSON.parse(JSON.stringify(sent))) as Settings).config.services.smtp.reserve, 3);
  assert.throws(() => validateConfig({ ...base, limits: { sockets: 4 }, services: { smtp: { reserve: 2 } } }), /leave at least one for the sessions/);
  // 4 listeners, SMTP's 2 and the one kept free to refuse with: 7 sockets leave none for the others' sessions, 8 leave one.
  assert.throws(() => validateConfig({ ...base, limits: { sockets: 7 } }), /take 6 of the 7 sockets .*kept free to refuse with/);
  assert.equal(toCoreConfig(validateConfig({ ...base, limits: { sockets: 8 } })).limits.sockets, 8);
  assert.throws(() => validateConfig({ ...base, services: { nntp: {} } }), /services/);
  // The board refuses a name with "/" too (the store's folder keys are user/n), whatever the host let through.
  assert.equal(parseSettings({ hostname: "h", domains: ["example.net"], users: [{ name: "a/1", password: "pass" }] }), "users: a/1 has a / (not allowed in a name)");
});

test("the flash of test/fixtures/card-v1 (written by 2159b3d, before services were a list) reads as that build's settings mean now", () => {
  const stored = loadSettings(new SimFlash(path.join(ROOT, "test/fixtures/card-v1/flash")));
  assert.ok(stored, "the fixture's settings are read");
  assert.deepEqual(stored.settings, {
    config: {
      hostname: "box.fixture.example",
      domains: ["fixture.example"],
      users: [
        { name: "dave", password: "dave-pw-1" },
        { name: "erin", password: "erin-pw-2" },
        { name: "frank", password: "frank-pw-3" },
      ],
      // Its smtpPort 25, pop3Port 110 and limits.smtpSessions 3, pop3Sessions 3, smtpIdleSeconds 300, pop3IdleSeconds 600:
      services: {
        smtp: { enabled: true, port: 25, sessions: 3, reserve: 2, perClient: 0, perUser: 0, idleSeconds: 300 },
        pop3: { enabled: true, port: 110, sessions: 3, reserve: 0, perClient: 0, perUser: 0, idleSeconds: 600 },
        // A service that build did not have: its defaults.
        http: { enabled: true, port: 80, sessions: 4, reserve: 0, perClient: 0, perUser: 0, idleSeconds: 60 },
        imap: { enabled: true, port: 143, sessions: 4, reserve: 0, perClient: 2, perUser: 3, idleSeconds: 1800 },
      },
      limits: { maxMessageBytes: 20000, mailboxQuotaBytes: 1073741824, maxRecipients: 5, sockets: 10 },
    },
    timezone: "UTC",
  });
});

test("README's services block is the defaults the firmware runs with", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const block = /```json\n\s*("limits": [^]*?)```/.exec(readme);
  assert.ok(block, "README shows the services block");
  const shown = JSON.parse("{" + block[1] + "}");
  assert.deepEqual(shown.services, defaultServices());
  assert.equal(shown.limits.sockets, defaultLimits().sockets);
});
