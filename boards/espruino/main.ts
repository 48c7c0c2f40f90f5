/**
 * The Espruino firmware's entry point, run once at boot (the bundle is saved
 * as boot code): read the settings from internal flash, mount the card (or
 * fall back to a directory on Espruino's Linux build), start the servers,
 * then bring Wi-Fi up. The servers listen before Wi-Fi connects; lwIP accepts
 * once the interface has an address.
 */
import type { Storage } from "../../firmware/hal";
import { startLetterbox } from "../../firmware/main";
import { espruinoHal, fileStorage } from "./hal";
import { DeviceSettings, parseSettings, SETTINGS_FILE } from "./settings";

const WIFI_RETRY_MS = 10000;

function mountCard(settings: DeviceSettings): Storage {
  try {
    SPI1.setup({ sck: new Pin(settings.sd.sck), miso: new Pin(settings.sd.miso), mosi: new Pin(settings.sd.mosi) });
    E.connectSDCard(SPI1, new Pin(settings.sd.cs));
    return fileStorage("");
  } catch (e) {
    // Espruino built for Linux has no SD support: use a host directory.
    console.log("letterbox: no SD card (" + e + "), files under " + settings.dataDir);
    const fs = require("fs");
    if (!fs.statSync(settings.dataDir)) fs.mkdirSync(settings.dataDir);
    return fileStorage(settings.dataDir);
  }
}

function connectWifi(settings: DeviceSettings): void {
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
  const blob = require("Storage").read(SETTINGS_FILE);
  if (blob === undefined) {
    console.log("letterbox: no " + SETTINGS_FILE + " in Storage: run `letterbox provision` first");
    return;
  }
  const settings = parseSettings(blob);
  const storage = mountCard(settings);
  const implementation = "letterbox (Espruino " + process.env.VERSION + ", " + process.env.BOARD + ")";
  startLetterbox(espruinoHal(storage, implementation), settings.config);
  connectWifi(settings);
}

boot();
