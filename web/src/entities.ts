/**
 * Stands in for postal-mime's html-entities.js (a 46 KB table, a third of the
 * bundle) when esbuild bundles the page (host/web/build.ts): the browser
 * already knows every HTML entity. postal-mime only reads
 * `htmlEntities["&name;"]` (or "&name" without the semicolon, for the legacy
 * ones), to turn HTML-only mail into text; the answer here is the browser's
 * own decoding of that one entity, in an inert DOMParser document, or
 * undefined when the browser leaves it as it was (not an entity).
 */
const known = new Map<string, string | undefined>();

function decode(entity: string): string | undefined {
  if (!known.has(entity)) {
    const text = new DOMParser().parseFromString("<p>" + entity, "text/html").body.textContent || "";
    known.set(entity, text === entity ? undefined : text);
  }
  return known.get(entity);
}

export const htmlEntities: Record<string, string | undefined> = new Proxy({} as Record<string, string | undefined>, {
  get: (_target, key) => (typeof key === "string" && /^&[a-z][a-z0-9]*;?$/i.test(key) ? decode(key) : undefined),
});
