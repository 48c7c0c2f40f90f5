/**
 * A real browser for the web page's tests: Debian's chromium driven by
 * puppeteer-core, headless, with a fresh profile and nothing of its own on
 * the network (no background fetches, updates, sync or QUIC), downloads
 * going to a temporary directory. Each page records every request it (or
 * any of its frames) makes and every console error, page error and
 * Content-Security-Policy violation, for tests to assert on.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import puppeteer, { Browser, ConsoleMessage, Page } from "puppeteer-core";

/** Where chromium is: $CHROMIUM, else Debian's. */
export function chromiumPath(): string {
  return process.env.CHROMIUM || "/usr/bin/chromium";
}

export function haveChromium(): boolean {
  return fs.existsSync(chromiumPath());
}

export interface TestBrowser {
  browser: Browser;
  /** Where downloads land (a fresh directory). */
  downloads: string;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!haveChromium()) throw new Error(`no chromium at ${chromiumPath()}: make debian-deps installs Debian's (or set CHROMIUM)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "lb-chromium-"));
  const downloads = path.join(profile, "downloads");
  fs.mkdirSync(downloads);
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // A UTF-8 locale, as on a desktop: under C/POSIX (CI's bare environment) Chromium saves a
    // download whose name has a non-ASCII letter ("Rechnung März.pdf") as "download".
    env: { ...process.env, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" },
    // Our flags only: puppeteer's defaults would add others (and its own --user-data-dir).
    ignoreDefaultArgs: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--disable-default-apps",
      "--disable-domain-reliability",
      "--disable-client-side-phishing-detection",
      "--metrics-recording-only",
      "--password-store=basic",
      "--use-mock-keychain",
      "--disable-dev-shm-usage",
      "--hide-scrollbars",
      "--mute-audio",
      "--remote-debugging-pipe",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    pipe: true,
    defaultViewport: { width: 1100, height: 760 },
    downloadBehavior: { policy: "allow", downloadPath: downloads },
  });
  return {
    browser,
    downloads,
    async close() {
      await browser.close().catch(() => undefined);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface RecordedPage {
  page: Page;
  /** Every request of the page and its frames, in order: method and URL (data: URLs cut to 40 characters). */
  requests: string[];
  /** Console errors and warnings, uncaught page errors, failed requests; CSP violations among them ("Refused to ..."). */
  errors: string[];
  /** The errors that are Content-Security-Policy violations. */
  cspViolations(): string[];
  /** Requests to anywhere but `origin` (data: and blob: URLs excepted: they never reach the network). */
  foreignRequests(origin: string): string[];
}

export async function recordedPage(b: TestBrowser): Promise<RecordedPage> {
  const page = await b.browser.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    const url = r.url();
    requests.push(r.method() + " " + (url.startsWith("data:") ? url.slice(0, 40) : url));
  });
  page.on("requestfailed", (r) => {
    const reason = r.failure()?.errorText || "";
    // A download is handed to the download manager: the page's request ends "aborted".
    if (reason !== "net::ERR_ABORTED") errors.push(`request failed: ${r.url().slice(0, 80)} ${reason}`);
  });
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error" || m.type() === "warn") errors.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${(e as Error).message ?? String(e)}`));
  return {
    page,
    requests,
    errors,
    cspViolations: () => errors.filter((e) => /Content Security Policy|Refused to/i.test(e)),
    foreignRequests(origin: string) {
      return requests.filter((r) => {
        const url = r.slice(r.indexOf(" ") + 1);
        return !url.startsWith(origin + "/") && !/^(data|blob|about):/.test(url);
      });
    },
  };
}

/** Waits until `name` is fully downloaded into `dir` (Chromium writes a .crdownload first) and returns its bytes. */
export async function downloaded(dir: string, name: string, timeoutMs = 10000): Promise<Buffer> {
  const file = path.join(dir, name);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (fs.existsSync(file) && !fs.existsSync(file + ".crdownload")) return fs.readFileSync(file);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no download ${name} in ${dir} after ${timeoutMs} ms (have: ${fs.readdirSync(dir).join(", ")})`);
}
