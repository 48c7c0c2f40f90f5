/**
 * Building DOM without markup strings: text always goes in as textContent,
 * so a subject, a name or a file name can never become markup.
 */

export type Child = Node | string | null | undefined | false;

/** An element with a class (optional), attributes and children; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; attrs?: Record<string, string> } | string = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const p = typeof props === "string" ? { class: props } : props;
  if (p.class) node.className = p.class;
  if (p.attrs) for (const name of Object.keys(p.attrs)) node.setAttribute(name, p.attrs[name]);
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
}

/** A button that calls `onClick` (no inline handlers: CSP forbids them). */
export function button(label: string, onClick: () => void, cls = ""): HTMLButtonElement {
  const b = el("button", { class: cls, attrs: { type: "button" } }, label);
  b.addEventListener("click", onClick);
  return b;
}

/** Replaces every child of `parent`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** "1.2 KB"-style size of `bytes` (octets). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return bytes + " B";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(bytes < 10240 ? 1 : 0) + " KB";
  if (bytes < 1024 * 1048576) return (bytes / 1048576).toFixed(1) + " MB";
  return (bytes / 1073741824).toFixed(1) + " GB";
}

/** A date for the list: the time today, else the day (and the year when not this one). */
export function formatDate(d: Date): string {
  if (isNaN(d.getTime())) return "";
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const opts: Intl.DateTimeFormatOptions = { day: "numeric", month: "short" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return d.toLocaleDateString(undefined, opts);
}
