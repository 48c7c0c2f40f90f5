/** The log-in form. The page is plain HTTP on the LAN, and says so. */
import * as api from "./api";
import { el, replace } from "./dom";

export function showLogin(view: HTMLElement, message: string, done: (s: api.Session) => void): void {
  const user = el("input", { attrs: { name: "user", autocomplete: "username", required: "", autocapitalize: "none", spellcheck: "false" } });
  const password = el("input", { attrs: { name: "password", type: "password", autocomplete: "current-password", required: "" } });
  const submit = el("button", { attrs: { type: "submit" } }, "Log in");
  const said = el("p", { class: "error", attrs: { role: "alert" } }, message);
  const form = el(
    "form",
    "login",
    el("h1", "", "letterbox"),
    el("label", "", "User", user),
    el("label", "", "Password", password),
    submit,
    said,
    el(
      "p",
      "warning",
      "This page is plain HTTP: your password and your mail cross the local network unencrypted. Log in only on a network you trust.",
    ),
  );
  let timer = 0;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    said.textContent = "";
    try {
      done(await api.login(user.value.trim(), password.value));
      return;
    } catch (err) {
      const failure = err as api.ApiError;
      said.textContent = failure.status === 401 ? "Wrong user or password." : failure.message;
      if (failure.status === 429 && failure.retry > 0) {
        // The board refuses every attempt until then: count down and keep the button off.
        let left = failure.retry;
        window.clearInterval(timer);
        timer = window.setInterval(() => {
          left--;
          said.textContent = left > 0 ? "Too many failed log-ins. Wait " + api.waitText(left) + " and try again." : "";
          if (left <= 0) {
            window.clearInterval(timer);
            submit.disabled = false;
          }
        }, 1000);
        return;
      }
    }
    submit.disabled = false;
  });
  replace(view, form);
  user.focus();
}
