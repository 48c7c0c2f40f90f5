/**
 * The Espruino firmware's entry point, run once at boot (the bundle is saved
 * as boot code): read the settings from internal flash, mount the card (or
 * fall back to a directory on Espruino's Linux build), start the servers,
 * then bring Wi-Fi up. The servers listen before Wi-Fi connects; lwIP accepts
 * once the interface has an address.
 */
import type { Config } from "../../firmware/config";
import { defaultLimits, defaultServices } from "../../firmware/config";
import type { Storage } from "../../firmware/hal";
import { startLetterbox } from "../../firmware/main";
import { decode } from "../../firmware/msgpack";
import { loadSettings, parseSettings, Settings } from "../../firmware/settings";
import { espruinoHal, fileStorage, internalFlash, serialLine } from "./hal";

/** SD card wiring: the ESP32's VSPI pins, as in boards/espruino-esp32.json. */
const SD_SCK = 18;
const SD_MISO = 19;
const SD_MOSI = 23;
const SD_CS = 5;
/** Where the card's files go when no card can be mounted (Espruino's Linux build). */
const DATA_DIR = "letterbox-data";
const WIFI_RETRY_MS = 10000;
/** Storage file with settings to start with until the board is provisioned (written by the simulator). */
const DEFAULTS_FILE = "lbdefault.cfg";

/** What an unprovisioned board runs with: nobody to deliver to until `letterbox provision`. */
function defaults(): Settings {
  const blob = require("Storage").read(DEFAULTS_FILE);
  if (blob !== undefined) {
    const parsed = parseSettings(decode(blob, 0).value);
    if (typeof parsed !== "string") return parsed;
    console.log("letterbox: " + DEFAULTS_FILE + ": " + parsed);
  }
  const config: Config = { hostname: "letterbox", domains: ["letterbox"], users: [], services: defaultServices(), limits: defaultLimits() };
  return { config: config };
}

function mountCard(): Storage {
  try {
    // The Linux build has no SPI: its setup would throw, and an exception at boot is not free (below).
    if (process.env.BOARD === "LINUX") throw "no SPI on Linux";
    SPI1.setup({ sck: new Pin(SD_SCK), miso: new Pin(SD_MISO), mosi: new Pin(SD_MOSI) });
    E.connectSDCard(SPI1, new Pin(SD_CS));
    return fileStorage("");
  } catch (e) {
    console.log("letterbox: no SD card (" + e + "), files under " + DATA_DIR);
    const fs = require("fs");
    if (!fs.statSync(DATA_DIR)) fs.mkdirSync(DATA_DIR);
    return fileStorage(DATA_DIR);
  }
}

function connectWifi(settings: Settings): void {
  const wifiSettings = settings.wifi;
  if (!wifiSettings) return;
  let wifi: EspruinoWifi;
  try {
    wifi = require("Wifi");
  } catch (e) {
    return; // no Wi-Fi module (Linux build): the host's network is up already
  }
  const connect = function () {
    wifi.connect(wifiSettings.ssid, { password: wifiSettings.password }, function (error: unknown) {
      if (error) {
        console.log("letterbox: Wi-Fi: " + error + ", retrying");
        setTimeout(connect, WIFI_RETRY_MS);
      } else if (settings.sntpServer) {
        wifi.setSNTP(settings.sntpServer, 0);
      }
    });
  };
  connect();
}

function boot(): void {
  const flash = internalFlash();
  const fallback = defaults();
  const implementation = "letterbox-espruino (Espruino " + process.env.VERSION + ", " + process.env.BOARD + ")";
  // The core reads provisioned settings from the flash itself; Wi-Fi is ours.
  // The Linux build's console is the terminal (or Telnet) it runs in, and its
  // Serial1 leads nowhere: no serial line to take, the console stays put.
  const serial = typeof Serial1 === "undefined" || process.env.BOARD === "LINUX" ? undefined : serialLine();
  startLetterbox(espruinoHal(mountCard(), flash, serial, implementation), fallback.config);
  const stored = loadSettings(flash);
  connectWifi(stored ? stored.settings : fallback);
}

boot();
