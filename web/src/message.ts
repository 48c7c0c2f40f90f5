/**
 * One message: fetched raw (/api/message/<id>), parsed in the browser.
 * Text is shown as text; HTML goes through mailhtml.ts into a sandboxed
 * iframe (no scripts, no same-origin); attachments are Blob URLs of the
 * exact decoded octets, named by their (RFC 2231/2047 decoded) file names.
 */
import * as api from "./api";
import { button, el, formatSize, replace } from "./dom";
import { cidKey, safeHtml } from "./mailhtml";
import { addressesText, addressText, dateOf, Email, parseMessage } from "./mime";

/** Blob URLs of the message on screen, revoked when the next one is shown. */
let urls: string[] = [];

function blobUrl(data: BlobPart, type: string): string {
  const url = URL.createObjectURL(new Blob([data], { type }));
  urls.push(url);
  return url;
}

export interface MessageContext {
  /** Shows a line in the page's status area; `error` styles it as a failure. */
  say(text: string, error?: boolean): void;
  /** Back to the list, showing `note` there. */
  back(note?: string): void;
  /** Seen state as the list knew it, when it did. */
  seen?: boolean;
}

export async function showMessage(view: HTMLElement, id: string, ctx: MessageContext): Promise<void> {
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  replace(view, el("p", "muted", "Loading…"));
  const raw = await api.message(id);
  const email = await parseMessage(raw);
  let seen = true;
  if (ctx.seen !== true) {
    await api.setSeen([id], true);
  }

  const seenButton = button("Mark unread", async () => {
    seenButton.disabled = true;
    try {
      await api.setSeen([id], !seen);
      seen = !seen;
      seenButton.textContent = seen ? "Mark unread" : "Mark read";
      ctx.say(seen ? "Marked read." : "Marked unread.");
    } catch (e) {
      ctx.say((e as Error).message, true);
    } finally {
      seenButton.disabled = false;
    }
  });
  const deleteButton = button(
    "Delete",
    async () => {
      if (!window.confirm("Delete this message from the box? This cannot be undone.")) return;
      deleteButton.disabled = true;
      try {
        await api.remove([id]);
        ctx.back("Message deleted.");
      } catch (e) {
        ctx.say((e as Error).message, true);
        deleteButton.disabled = false;
      }
    },
    "danger",
  );
  const source = el("a", { class: "button", attrs: { href: blobUrl(raw as BlobPart, "message/rfc822"), download: "message.eml" } }, "Source");

  const toolbar = el("div", "toolbar", button("← Back", () => ctx.back()), seenButton, deleteButton, source);
  const headers = el("dl", "headers");
  const row = (name: string, value: string) => value && headers.append(el("dt", "", name), el("dd", "", value));
  row("From", addressText(email.from));
  row("To", addressesText(email.to));
  row("Cc", addressesText(email.cc));
  row("Reply-To", addressesText(email.replyTo));
  const date = dateOf(email);
  row("Date", isNaN(date.getTime()) ? email.date || "" : date.toLocaleString());

  replace(view, toolbar, el("h2", "subject", email.subject || "(no subject)"), headers, attachments(email), body(email));
}

function body(email: Email): HTMLElement {
  const box = el("div", "body");
  const text = () => el("pre", "text", email.text || "");
  if (!email.html) {
    box.append(text());
    return box;
  }
  // cid: images as data: URLs (the sandboxed document has an opaque origin: the page's blob: URLs are not its own).
  const cids = new Map<string, string>();
  for (const a of email.attachments) {
    if (a.contentId && a.mimeType.toLowerCase().startsWith("image/")) cids.set(cidKey(a.contentId), dataUrl(a.mimeType, a.content as ArrayBuffer));
  }
  const frame = el("iframe", { class: "html", attrs: { sandbox: "allow-popups allow-popups-to-escape-sandbox", referrerpolicy: "no-referrer", title: "message" } });
  const notice = el("div", "notice");
  const render = (allowRemote: boolean) => {
    const safe = safeHtml(email.html || "", cids, allowRemote);
    frame.srcdoc = safe.doc;
    if (safe.blocked && !allowRemote) {
      replace(notice, "Remote content blocked (" + safe.blocked + (safe.blocked === 1 ? " item" : " items") + "), so the sender cannot see that you opened this. ", button("Load remote content", () => render(true)));
    } else replace(notice);
  };
  render(false);
  const content = el("div", "content", frame);
  const tabs = el("div", "tabs");
  const tab = (name: string, show: () => Node) => {
    const b = button(name, () => {
      for (const other of Array.from(tabs.children)) other.classList.remove("active");
      b.classList.add("active");
      replace(content, show());
    });
    return b;
  };
  if (email.text) {
    const htmlTab = tab("HTML", () => frame);
    htmlTab.classList.add("active");
    tabs.append(htmlTab, tab("Text", text));
    box.append(tabs);
  }
  box.append(notice, content);
  return box;
}

/** The attachments as download links, above the body (seen without scrolling past the frame). */
function attachments(email: Email): HTMLElement | null {
  if (!email.attachments.length) return null;
  const list = el("ul", "attachments");
  for (const a of email.attachments) {
    const name = a.filename || (a.mimeType === "message/rfc822" ? "message.eml" : "attachment");
    const bytes = a.content as ArrayBuffer;
    const link = el("a", { attrs: { href: blobUrl(bytes, a.mimeType), download: name } }, name);
    list.append(el("li", "", link, el("span", "muted", " " + a.mimeType + ", " + formatSize(bytes.byteLength) + (a.related ? ", inline" : ""))));
  }
  return list;
}

function dataUrl(type: string, bytes: ArrayBuffer): string {
  const b = new Uint8Array(bytes);
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, Array.from(b.subarray(i, i + 0x8000)));
  return "data:" + type.replace(/[^\w\/.+-]/g, "") + ";base64," + btoa(s);
}
