/** The mailbox list: newest first, a page at a time; From, Subject and Date decoded from each row's cached header lines. */
import * as api from "./api";
import { button, el, formatDate, formatSize, replace } from "./dom";
import { addressText, dateOf, parseHeaders } from "./mime";

export const PAGE_SIZE = 50;

export interface ListContext {
  open(id: string, seen: boolean): void;
  page(n: number): void;
}

export async function showList(view: HTMLElement, page: number, ctx: ListContext): Promise<void> {
  const start = page * PAGE_SIZE;
  const answer = await api.list(start, PAGE_SIZE);
  const rows = await Promise.all(
    answer.messages.map(async ([id, size, flags, time, headers]) => ({ id, size, seen: (flags & api.SEEN) !== 0, time, email: await parseHeaders(headers) })),
  );

  const last = Math.min(start + rows.length, answer.total);
  const pager = el(
    "div",
    "toolbar",
    button("Refresh", () => ctx.page(page)),
    el("span", "count", answer.total ? start + 1 + "–" + last + " of " + answer.total : "", answer.unseen ? " (" + answer.unseen + " unread)" : ""),
    page > 0 && button("‹ Newer", () => ctx.page(page - 1)),
    last < answer.total && button("Older ›", () => ctx.page(page + 1)),
  );

  const body = el("tbody");
  for (const r of rows) {
    const date = dateOf(r.email, r.time);
    const tr = el(
      "tr",
      r.seen ? "" : "unread",
      el("td", "from", addressText(r.email.from, true) || "(unknown sender)"),
      el("td", "subject", r.email.subject || "(no subject)"),
      el("td", { class: "date", attrs: { title: isNaN(date.getTime()) ? "" : date.toLocaleString() } }, formatDate(date)),
      el("td", "size", formatSize(r.size)),
    );
    tr.dataset.id = r.id;
    tr.tabIndex = 0;
    const open = () => ctx.open(r.id, r.seen);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (e) => {
      if (e.key === "Enter") open();
    });
    body.append(tr);
  }
  const table = el(
    "table",
    "list",
    el("thead", "", el("tr", "", el("th", "from", "From"), el("th", "subject", "Subject"), el("th", "date", "Date"), el("th", "size", "Size"))),
    body,
  );
  replace(view, pager, rows.length ? table : el("p", "muted", page ? "No more messages." : "The mailbox is empty."));
}
