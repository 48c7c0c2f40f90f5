/**
 * The page: log-in, then the list, a message or the status page, chosen by
 * the URL's fragment (#/, #/p/<page>, #/m/<id>, #/status) so Back works.
 * The session lives in an HttpOnly cookie; this code only holds its CSRF
 * token (api.ts).
 */
import "./app.css";
import * as api from "./api";
import { showList } from "./list";
import { showLogin } from "./login";
import { showMessage } from "./message";
import { button, el, replace } from "./dom";
import { showStatus } from "./status";

const root = document.getElementById("app") as HTMLElement;
let current: api.Session | undefined;
/** Seen state of the rows the list showed, so opening one knows whether to mark it read. */
const seenOf = new Map<string, boolean>();
let lastPage = 0;
/** A line to show once the next view is up (set before leaving a view, e.g. "Message deleted."). */
let nextSay = "";

const line = el("div", { class: "say", attrs: { role: "status" } });
const view = el("main");

function say(text: string, error = false): void {
  line.textContent = text;
  line.classList.toggle("error", error);
}

function loggedIn(s: api.Session): void {
  current = s;
  const nav = el(
    "header",
    "",
    el("a", { class: "brand", attrs: { href: "#/" } }, "letterbox"),
    el("a", { attrs: { href: "#/" } }, "Inbox"),
    s.owner && el("a", { attrs: { href: "#/status" } }, "Status"),
    el("span", "user", s.user),
    button("Log out", async () => {
      try {
        await api.logout();
      } catch {
        /* the cookie is gone either way once the board forgets it; show the form */
      }
      current = undefined;
      loggedOut("You are logged out.");
    }),
  );
  replace(root, nav, line, view);
  route();
}

function loggedOut(message: string): void {
  current = undefined;
  showLogin(root, message, (s) => {
    // Back to the list after a log-in, unless the address names a message or the status page (a reload, a link).
    if (location.hash.indexOf("#/m/") !== 0 && location.hash !== "#/status") history.replaceState(null, "", "#/");
    loggedIn(s);
  });
}

async function route(): Promise<void> {
  if (!current) return;
  const hash = location.hash || "#/";
  say(nextSay);
  nextSay = "";
  try {
    if (hash.indexOf("#/m/") === 0) {
      const id = decodeURIComponent(hash.slice(4));
      await showMessage(view, id, {
        say,
        seen: seenOf.get(id),
        back: (note = "") => {
          nextSay = note;
          location.hash = lastPage ? "#/p/" + lastPage : "#/";
        },
      });
    } else if (hash === "#/status" && current.owner) {
      await showStatus(view);
    } else {
      lastPage = hash.indexOf("#/p/") === 0 ? Math.max(0, parseInt(hash.slice(4), 10) || 0) : 0;
      await showList(view, lastPage, {
        open(id, seen) {
          seenOf.set(id, seen);
          location.hash = "#/m/" + encodeURIComponent(id);
        },
        page(n) {
          const target = n ? "#/p/" + n : "#/";
          if (location.hash === target || (!location.hash && !n)) void route();
          else location.hash = target;
        },
      });
    }
  } catch (e) {
    const err = e as api.ApiError;
    if (err.status !== 401) {
      replace(view);
      say(err.message, true);
    }
  }
}

api.setUnauthorizedHandler((message) => {
  if (current) loggedOut(message === "Please log in." ? "Your session ended. Please log in again." : message);
});
window.addEventListener("hashchange", () => void route());

(async () => {
  try {
    const s = await api.session();
    if (s) loggedIn(s);
    else loggedOut("");
  } catch (e) {
    loggedOut((e as Error).message);
  }
})();
