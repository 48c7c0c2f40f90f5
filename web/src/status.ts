/** The owner's status page (/api/status): firmware, runtime, uptime, memory, card, mailboxes. */
import * as api from "./api";
import { el, formatSize, replace } from "./dom";

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min";
}

export async function showStatus(view: HTMLElement): Promise<void> {
  const s = await api.status();
  const facts = el("dl", "headers");
  const fact = (name: string, value: string) => facts.append(el("dt", "", name), el("dd", "", value));
  fact("Firmware", s.firmware);
  fact("Runs on", s.implementation);
  fact("Up for", duration(s.uptime));
  fact("Free memory", s.memory.toLocaleString() + " " + s.memoryUnit);
  fact("Card", formatSize(s.cardFreeKiB * 1024) + " free of " + formatSize(s.cardTotalKiB * 1024));
  const body = el("tbody");
  for (const [user, messages, bytes] of s.mailboxes) {
    body.append(el("tr", "", el("td", "", user), el("td", "num", messages.toLocaleString()), el("td", "num", formatSize(bytes))));
  }
  const boxes = el(
    "table",
    "status",
    el("thead", "", el("tr", "", el("th", "", "Mailbox"), el("th", "num", "Messages"), el("th", "num", "Size"))),
    body,
  );
  replace(view, el("h2", "", "Status"), facts, el("h3", "", "Mailboxes"), boxes);
}
