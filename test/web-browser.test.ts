/**
 * The web page in a real browser (Debian's chromium, puppeteer-core) against
 * the simulator over real HTTP, with mail delivered by SMTP (issue 18's
 * scenario). On the node runtime, the whole scenario: log in, the list,
 * a plain message, multipart/alternative, an inline cid: image and a PDF
 * attachment downloaded byte for byte, GB2312, GBK, Big5 and UTF-8 mail with
 * encoded-word subjects, an HTML mail that tries to run script and fetch
 * remote things (nothing runs, nothing reaches the trap server), mark read
 * and unread, delete (POP3 sees it), the owner's status page, log out, and a
 * second user who cannot open the first one's message by id. On lua and
 * espruino: log in, list, open one message. Throughout, no CSP violation and
 * no page error. Writes docs/screenshot-{list,message,status}.png.
 */
import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import type { Page } from "puppeteer-core";
import { buildWeb } from "../host/web/build";
import { RUNTIME_NAMES } from "../sim/runtimes";
import { startSimulator, Simulator } from "../sim/simulator";
import { downloaded, launchBrowser, recordedPage, RecordedPage, TestBrowser } from "./helpers/browser";
import { pop3Session, sendMail } from "./helpers/clients";
import { ROOT, tempDir, testConfig } from "./helpers/fixtures";
import { pdf, PDF_NAME, TestMail, webMails } from "./helpers/web-mail";

const ALICE = "alice@example.org";
const BOB = "bob@example.org";

/** A server standing for the rest of the internet: it only counts what reaches it. */
async function trapServer(): Promise<{ origin: string; hits: string[]; close(): void }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url || "");
    res.writeHead(200, { "Content-Type": "image/gif" });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, close: () => server.close() };
}

/** Console lines that are expected: the 401 of the session probe before log-in, the 404 of a message not one's own. */
const EXPECTED = /Failed to load resource: the server responded with a status of (401|404)/;
/**
 * What Chromium reports while the hostile mail is parsed (DOMParser, inside
 * DOMPurify): the page's policy refusing the mail's own onerror= and <base>.
 * Reported, refused, and removed by DOMPurify anyway.
 */
const HOSTILE_PARSE = /Executing inline event handler violates|Setting the document's base URI to '[^']*' violates the following Content Security Policy directive: "base-uri 'none'"/;

function unexpected(errors: string[], allow = EXPECTED): string[] {
  return errors.filter((e) => !allow.test(e));
}

async function login(page: Page, user: string, password: string): Promise<void> {
  await page.waitForSelector("form.login");
  await page.$eval("input[name=user]", (e: any) => (e.value = ""));
  await page.type("input[name=user]", user);
  await page.type("input[name=password]", password);
  await page.click("form.login button[type=submit]");
  await page.waitForSelector("table.list, main p.muted");
}

interface Row {
  id: string;
  from: string;
  subject: string;
  unread: boolean;
}

function rows(page: Page): Promise<Row[]> {
  return page.$$eval("table.list tbody tr", (trs) =>
    trs.map((tr) => ({
      id: (tr as any).dataset.id || "",
      from: tr.querySelector("td.from")!.textContent || "",
      subject: tr.querySelector("td.subject")!.textContent || "",
      unread: tr.classList.contains("unread"),
    })),
  );
}

async function showList(page: Page): Promise<Row[]> {
  await page.click("header a.brand");
  await page.waitForSelector("table.list tbody tr");
  return rows(page);
}

/** Opens the row with this subject and waits for the message to be shown. */
async function open(page: Page, subject: string): Promise<void> {
  const all = await rows(page);
  const i = all.findIndex((r) => r.subject === subject);
  assert.ok(i >= 0, `a row with subject ${subject} in ${JSON.stringify(all.map((r) => r.subject))}`);
  await (await page.$$("table.list tbody tr"))[i].click();
  await page.waitForFunction(`document.querySelector("h2.subject")?.textContent === ${JSON.stringify(subject)}`);
  await page.waitForSelector(".body");
}

/** The sandboxed frame's document, once loaded. */
async function mailFrame(page: Page) {
  const handle = await page.waitForSelector("iframe.html");
  const frame = await handle!.contentFrame();
  await frame.waitForSelector("body");
  return frame;
}

const text = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent || "");

async function deliver(sim: Simulator, to: string, mails: TestMail[]): Promise<void> {
  for (const m of mails) assert.match(await sendMail(sim.smtpPort, "sender@remote.example", [to], m.raw), /^250 /, m.key);
}

/** The page built from the current sources (as `make web` does), for the simulator to put on its card. */
let built: Promise<string> | undefined;
function webDir(): Promise<string> {
  built ??= buildWeb(tempDir("web-page")).then((b) => b.dir);
  return built;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ROOT, "docs", `screenshot-${name}.png`) as `${string}.png` });

describe("the web page in chromium (node runtime, the whole scenario)", () => {
  let sim: Simulator;
  let b: TestBrowser;
  let r: RecordedPage;
  let page: Page;
  let base: string;
  let trap: Awaited<ReturnType<typeof trapServer>>;
  let mails: TestMail[];
  const dialogs: string[] = [];
  /** The page's Content-Security-Policy, as served. */
  let policy = "";
  /** Requests made once the reader asked for the hostile mail's remote content. */
  let remoteLoads: string[] = [];
  const mail = (key: string) => mails.find((m) => m.key === key)!;

  before(async () => {
    trap = await trapServer();
    mails = webMails(ALICE, trap.origin);
    sim = await startSimulator({ runtime: "node", config: testConfig({ maxMessageBytes: 100000 }), dataDir: tempDir("web-browser"), smtpPort: 0, pop3Port: 0, httpPort: 0, webDir: await webDir() });
    base = `http://127.0.0.1:${sim.httpPort}`;
    await deliver(sim, ALICE, mails);
    await deliver(sim, BOB, [mail("plain")]);
    b = await launchBrowser();
    r = await recordedPage(b);
    page = r.page;
    page.on("dialog", (d) => {
      dialogs.push(d.type() + ": " + d.message());
      void (d.type() === "confirm" ? d.accept() : d.dismiss());
    });
  });
  after(async () => {
    await b?.close();
    await sim?.stop();
    trap?.close();
  });

  it("logs in (the form says the password crosses the LAN unencrypted) and lists the mail newest first, every header decoded", async () => {
    const answer = await page.goto(base + "/");
    assert.equal(answer!.status(), 200);
    policy = answer!.headers()["content-security-policy"] || "";
    assert.match(policy, /script-src 'self'/);
    await page.waitForSelector("form.login");
    assert.match(await text(page, "form.login .warning"), /password .* unencrypted/);
    await login(page, ALICE, "wonderland");
    const list = await rows(page);
    assert.deepEqual(
      list.map((row) => [row.from, row.subject]),
      mails.map((m) => [m.from, m.subject]).reverse(),
    );
    assert.ok(list.every((row) => row.unread));
    assert.match(await text(page, ".toolbar .count"), /^1–8 of 8 \(8 unread\)$/);
    // The hostile subject and sender are text: no element came of them.
    assert.equal(await page.$$eval("main img, main script", (e) => e.length), 0);
    assert.deepEqual(unexpected(r.errors), []);
  });

  it("shows a plain message as text (markup in it stays text) and marks it read", async () => {
    await open(page, "Plain hello");
    // postal-mime gives lines ending LF.
    assert.equal(await text(page, "pre.text"), mail("plain").shows.replace(/\r\n/g, "\n") + "\n");
    assert.equal(await page.$$eval("pre.text *", (e) => e.length), 0);
    assert.equal(await page.$("iframe"), null);
    assert.match(await text(page, "dl.headers"), /FromBob <bob@test\.example>To/);
    const list = await showList(page);
    assert.equal(list.find((row) => row.subject === "Plain hello")!.unread, false);
    assert.match(await text(page, ".toolbar .count"), /\(7 unread\)/);
  });

  it("mark unread and read again", async () => {
    await open(page, "Plain hello");
    await page.click("xpath/.//button[text()='Mark unread']");
    await page.waitForSelector("xpath/.//button[text()='Mark read']");
    let list = await showList(page);
    assert.equal(list.find((row) => row.subject === "Plain hello")!.unread, true);
    await open(page, "Plain hello");
    list = await showList(page);
    assert.equal(list.find((row) => row.subject === "Plain hello")!.unread, false);
  });

  it("shows multipart/alternative as styled HTML in a sandboxed frame, with the text part one click away", async () => {
    await showList(page);
    await open(page, "Alternative parts");
    const sandbox = await page.$eval("iframe.html", (f) => f.getAttribute("sandbox") || "");
    assert.ok(!/allow-scripts|allow-same-origin/.test(sandbox), sandbox);
    const frame = await mailFrame(page);
    assert.equal(await frame.$eval("h1", (e) => e.textContent), "The rich version");
    // The mail's own styles apply (the page's policy lets the frame's inline styles through).
    assert.equal(await frame.$eval("h1", (e) => (globalThis as any).getComputedStyle(e).color), "rgb(42, 111, 219)");
    await page.click("xpath/.//div[@class='tabs']/button[text()='Text']");
    assert.equal((await text(page, "pre.text")).trim(), "The plain version.");
  });

  it("shows an inline cid: image and downloads the PDF attachment byte for byte under its RFC 2231 name", async () => {
    await showList(page);
    await shot(page, "list");
    await open(page, "Invoice with logo");
    const frame = await mailFrame(page);
    await frame.waitForFunction('document.querySelector("img").complete');
    assert.equal(await frame.$eval("img", (i: any) => i.naturalWidth), 48);
    const names = await page.$$eval("ul.attachments a", (a) => a.map((e) => [e.textContent, e.getAttribute("download")]));
    assert.deepEqual(names, [["logo.png", "logo.png"], [PDF_NAME, PDF_NAME]]);
    await shot(page, "message");
    await page.click(`xpath/.//ul[@class='attachments']//a[text()='${PDF_NAME}']`);
    assert.deepEqual(await downloaded(b.downloads, PDF_NAME), pdf());
  });

  for (const key of ["gb2312", "gbk", "big5", "utf8"]) {
    it(`decodes ${key} mail: the encoded-word subject and sender, and the body`, async () => {
      const m = mail(key);
      await showList(page);
      await open(page, m.subject);
      assert.ok((await text(page, "dl.headers")).startsWith("From" + m.from + " <"));
      assert.equal((await text(page, "pre.text")).trim(), m.shows);
    });
  }

  it("an HTML mail that tries to run script and fetch remote things: nothing runs, nothing leaves the page until asked", async () => {
    const m = mail("hostile");
    await showList(page);
    const before = r.errors.length;
    await open(page, m.subject);
    const frame = await mailFrame(page);
    assert.equal(await frame.$eval("p", (e) => e.textContent), "Nothing to see here.");
    assert.match(await text(page, ".notice"), /Remote content blocked \(\d+ items\)/);
    await new Promise((done) => setTimeout(done, 1000));
    assert.deepEqual([...trap.hits], [], "no request reached the trap");
    assert.deepEqual(r.foreignRequests(base), [], "the browser tried no other origin");
    assert.equal(await page.title(), "letterbox");
    assert.deepEqual(dialogs, []);
    assert.equal(await frame.$$eval("script, [onerror], iframe, object, form, base, meta[http-equiv=refresh]", (e) => e.length), 0);
    assert.deepEqual(unexpected(r.errors.slice(before), new RegExp(EXPECTED.source + "|" + HOSTILE_PARSE.source)), []);

    // The reader asks: remote images may load if the page's policy lets them (img-src http:), never anything else.
    const asked = r.requests.length;
    await page.click("xpath/.//div[@class='notice']/button");
    await new Promise((done) => setTimeout(done, 1000));
    remoteLoads = r.requests.slice(asked).filter((req) => req.includes(trap.origin + "/"));
    const remoteImages = /img-src[^;]*\bhttp:/.test(policy);
    assert.equal(trap.hits.includes("/pixel.gif"), remoteImages, `remote images after asking, as the policy allows: ${policy}`);
    const never = ["/script", "/onerror", "/iframe", "/object", "/form", "/js-link", "/ping", "/refresh", "/tracked-link"];
    assert.deepEqual(trap.hits.filter((h) => never.includes(h) || h.startsWith("/base")), []);
    assert.equal(await page.title(), "letterbox");
    assert.deepEqual(dialogs, []);
  });

  it("deletes a message: gone from the list and from POP3", async () => {
    const victim = (await showList(page)).find((row) => row.subject === "Alternative parts")!;
    await open(page, "Alternative parts");
    await page.click("xpath/.//button[text()='Delete']");
    // Nothing may be asked of the page while its confirm() is open: wait until the handler has answered it.
    while (dialogs.length === 0) await new Promise((done) => setTimeout(done, 20));
    await new Promise((done) => setTimeout(done, 200));
    await page.waitForSelector("table.list tbody tr");
    assert.equal(await text(page, ".say"), "Message deleted.");
    assert.deepEqual(dialogs, ["confirm: Delete this message from the box? This cannot be undone."]);
    dialogs.length = 0;
    const list = await rows(page);
    assert.equal(list.length, 7);
    assert.ok(!list.some((row) => row.id === victim.id));
    const uidls = await pop3Session(sim.pop3Port, "alice", "wonderland", async (c) => (await c.list()).uidls);
    assert.equal(uidls.length, 7);
    assert.ok(!uidls.includes(victim.id));
  });

  it("the owner's status page", async () => {
    await showList(page);
    await page.click("xpath/.//header/a[text()='Status']");
    await page.waitForSelector("table.status");
    const boxes = await page.$$eval("table.status tbody tr", (trs) => trs.map((tr) => Array.from(tr.children, (td: any) => td.textContent)));
    assert.deepEqual(
      boxes.map((row) => row.slice(0, 2)),
      [
        ["alice", "7"],
        ["bob", "1"],
        ["carol", "0"],
      ],
    );
    assert.match(await text(page, "dl.headers"), /Firmware.+Runs on.+Up for.+Free memory.+Card.+free of/);
    await shot(page, "status");
  });

  it("logs out: the board forgets the session, a reload shows the log-in form", async () => {
    const aliceId = (await showList(page))[0].id;
    await page.click("xpath/.//header/button[text()='Log out']");
    await page.waitForSelector("form.login");
    assert.match(await text(page, "form.login .error"), /logged out/);
    assert.equal(await page.evaluate(() => fetch("/api/list").then((res) => res.status)), 401);
    await page.reload();
    await page.waitForSelector("form.login");

    // Bob cannot open Alice's message by its id, and sees no Status link.
    await login(page, BOB, "builder99");
    assert.deepEqual((await rows(page)).map((row) => row.subject), ["Plain hello"]);
    assert.equal(await page.$("xpath/.//header/a[text()='Status']"), null);
    await page.goto(`${base}/#/m/${encodeURIComponent(aliceId)}`);
    await page.waitForSelector(".say.error");
    assert.match(await text(page, ".say"), /Not found/);
    assert.equal(await page.$("h2.subject"), null);
    assert.equal(await page.evaluate((id) => fetch("/api/message/" + id).then((res) => res.status), aliceId), 404);
    assert.equal(await page.evaluate(() => fetch("/api/status").then((res) => res.status)), 403);
  });

  it("made no request anywhere but the box (but what the reader asked for), and broke no rule of the page's policy", () => {
    assert.deepEqual(
      r.foreignRequests(base).filter((req) => !remoteLoads.includes(req)),
      [],
    );
    // What the hostile mail asked for after "Load remote content" (its stylesheets are refused by the page's style-src).
    const remote = new RegExp(EXPECTED.source + "|" + HOSTILE_PARSE.source + "|status of 403|" + trap.origin.replace(/[.:/]/g, "\\$&"));
    assert.deepEqual(unexpected(r.errors, remote), []);
    assert.deepEqual(dialogs, []);
  });
});

for (const runtime of RUNTIME_NAMES.filter((name) => name !== "node")) {
  describe(`the web page in chromium (${runtime} runtime: log in, list, open one message)`, () => {
    let sim: Simulator;
    let b: TestBrowser;

    before(async () => {
      sim = await startSimulator({ runtime, config: testConfig(), dataDir: tempDir("web-browser"), smtpPort: 0, pop3Port: 0, httpPort: 0, webDir: await webDir() });
      const all = webMails(ALICE, "http://127.0.0.1:9");
      await deliver(sim, ALICE, all.filter((m) => m.key === "plain" || m.key === "gb2312"));
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await sim?.stop();
    });

    it("logs in, lists and shows a GB2312 message", async () => {
      const r = await recordedPage(b);
      const page = r.page;
      const base = `http://127.0.0.1:${sim.httpPort}`;
      await page.goto(base + "/");
      await login(page, ALICE, "wonderland");
      const gb = webMails(ALICE, "http://127.0.0.1:9").find((m) => m.key === "gb2312")!;
      assert.deepEqual((await rows(page)).map((row) => row.subject), [gb.subject, "Plain hello"]);
      await open(page, gb.subject);
      assert.equal((await text(page, "pre.text")).trim(), gb.shows);
      assert.deepEqual(r.foreignRequests(base), []);
      assert.deepEqual(unexpected(r.errors), []);
    });
  });
}
