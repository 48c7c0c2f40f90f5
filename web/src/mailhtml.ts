/**
 * HTML mail made safe to show: DOMPurify removes scripts, event handlers
 * and dangerous URLs; then every URL that would make the browser fetch
 * something (img src/srcset, background, poster, link, SVG href, CSS url()
 * and @import) is checked: `cid:` becomes the attachment's data: URL, data:
 * stays, and anything else is dropped unless the reader asked for remote
 * content (then only absolute http(s) URLs stay). The document also carries
 * its own Content-Security-Policy as a second fence, and is shown in an
 * iframe sandboxed without scripts and without same-origin.
 *
 * The frame's srcdoc document inherits the page's Content-Security-Policy
 * (measured in Chromium 156), so the page's policy must allow what mail
 * needs on top of `default-src 'self'; script-src 'self'`:
 *   style-src 'self' 'unsafe-inline'   the mail's own <style> and style=""
 *                                      (the page itself sets no inline style);
 *   img-src 'self' data: http: https:  cid: images (data: URLs here) and the
 *                                      empty icon; remote images once the reader
 *                                      asks (without http: https: they stay blocked).
 * Scripts stay 'self' only: DOMPurify and the sandbox keep mail script out anyway.
 */
import DOMPurify from "dompurify";

/** The result: the iframe's srcdoc, and how many remote references were held back. */
export interface SafeHtml {
  doc: string;
  blocked: number;
}

/** Attributes that fetch on their own (href only on elements other than links). */
const FETCHING = ["src", "srcset", "background", "poster", "lowsrc", "dynsrc", "data", "longdesc", "xlink:href", "href"];
/** Attributes never kept: form targets and link pings (would reach the network on a click the reader did not mean as one). */
const DROPPED = ["action", "formaction", "ping"];

const REMOTE = /^\s*(https?:)?\/\//i;

export function safeHtml(html: string, cids: Map<string, string>, allowRemote: boolean): SafeHtml {
  let blocked = 0;
  /** The value to use for a URL that would be fetched: "" to drop it. */
  const fetchable = (url: string): string => {
    const u = url.trim();
    if (/^cid:/i.test(u)) return cids.get(cidKey(u.slice(4))) || "";
    if (/^data:/i.test(u)) return u;
    if (REMOTE.test(u) && allowRemote) return u;
    blocked++;
    return "";
  };
  const css = (text: string): string =>
    text
      // An @import held back goes whole (a data: stylesheet in its place would be a failed load).
      .replace(/@import\s+(?:url\(\s*)?(["']?)(.*?)\1\s*\)?\s*([^;]*);?/gi, (_m, _q, url: string, media: string) => {
        const kept = fetchable(url);
        return kept ? "@import url(" + cssString(kept) + ")" + (media ? " " + media : "") + ";" : "";
      })
      .replace(/url\(\s*(["']?)(.*?)\1\s*\)/gi, (_m, _q, url: string) => "url(" + cssString(fetchable(url) || "data:,") + ")")
      // A bare string fetches too, in image-set("https://...") for one.
      .replace(/(["'])(\s*(?:https?:)?\/\/.*?)\1/gi, (_m, _q, url: string) => cssString(fetchable(url) || "data:,"));

  const clean = DOMPurify.sanitize(html, {
    WHOLE_DOCUMENT: true,
    FORBID_TAGS: ["base", "meta", "form", "input", "button", "textarea", "select"],
    ADD_TAGS: allowRemote ? ["link"] : [],
  });
  // A DOMParser document is inert: parsing it fetches nothing and runs nothing.
  const root = new DOMParser().parseFromString(clean, "text/html");

  const elements = root.querySelectorAll("*");
  for (let i = 0; i < elements.length; i++) {
    const e = elements[i];
    const tag = e.localName;
    for (const name of DROPPED) e.removeAttribute(name);
    for (const name of FETCHING) {
      if (!e.hasAttribute(name)) continue;
      if (name === "href" && (tag === "a" || tag === "area")) continue;
      const value = e.getAttribute(name) || "";
      let kept: string;
      if (name === "srcset") {
        kept = srcset(value, allowRemote);
        if (!kept) blocked++;
      } else kept = fetchable(value);
      if (kept) e.setAttribute(name, kept);
      else e.removeAttribute(name);
    }
    if (tag === "link" && !(e.getAttribute("rel") || "").toLowerCase().split(/\s+/).includes("stylesheet")) e.remove();
    const style = e.getAttribute("style");
    if (style) e.setAttribute("style", css(style));
    if (tag === "style") e.textContent = css(e.textContent || "");
    if (tag === "a") {
      // A click opens a new tab, outside the sandbox, without a referrer.
      e.setAttribute("target", "_blank");
      e.setAttribute("rel", "noopener noreferrer");
    }
  }

  const remote = allowRemote ? " http: https:" : "";
  const policy =
    "default-src 'none'; style-src 'unsafe-inline'" + remote + "; img-src data:" + remote + "; font-src data:" + remote + "; media-src data:" + remote;
  const meta = (attr: string, value: string, content: string) => {
    const m = root.createElement("meta");
    m.setAttribute(attr, value);
    m.setAttribute("content", content);
    return m;
  };
  const charset = root.createElement("meta");
  charset.setAttribute("charset", "utf-8");
  root.head.prepend(charset, meta("http-equiv", "Content-Security-Policy", policy), meta("name", "referrer", "no-referrer"));
  const doc = "<!DOCTYPE html>" + root.documentElement.outerHTML;
  return { doc, blocked };
}

/** A srcset as it is when remote content is allowed and each candidate is http(s) or data:, else "" (the attribute goes; src stays). */
function srcset(value: string, allowRemote: boolean): string {
  if (!allowRemote) return "";
  const candidates = value.split(/,\s*(?=[a-z]+:)/i);
  return candidates.every((c) => /^\s*(https?|data):/i.test(c)) ? value : "";
}

/** A CSS string literal of `s` (CSS escapes, not JSON's). */
function cssString(s: string): string {
  return '"' + s.replace(/["\\\n\r\f]/g, (c) => "\\" + c.charCodeAt(0).toString(16) + " ") + '"';
}

/** A Content-ID as a map key: without angle brackets, percent-decoded (cid: URLs are, RFC 2392), lower case. */
export function cidKey(id: string): string {
  let s = id.trim().replace(/^<|>$/g, "");
  try {
    s = decodeURIComponent(s);
  } catch {
    /* keep as written */
  }
  return s.toLowerCase();
}
