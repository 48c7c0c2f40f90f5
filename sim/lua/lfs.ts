/**
 * The emulated Lua Flash Store: the modules `node.LFS.get(name)` finds,
 * surviving restarts as flash does. On the board an LFS image is made by the
 * `luac.cross -f` of the user's own NodeMCU build, in that build's binary
 * format; the emulator cannot load those, so it loads images in the
 * simulator's own container (written by `simLfsImage`, and by the
 * test stand-in for luac.cross): "LBSIMLFS1\n", then per module a line
 * "<name> <byte count>\n" and the module's Lua source.
 */
export const SIM_LFS_MAGIC = "LBSIMLFS1\n";

export class LfsStore {
  private modules = new Map<string, Buffer>();

  get(name: string): Buffer | undefined {
    return this.modules.get(name);
  }

  names(): string[] {
    return [...this.modules.keys()];
  }

  /** Puts one module in the store (the simulator's stand-in for flashing an image). */
  set(name: string, source: Uint8Array): void {
    this.modules.set(name, Buffer.from(source));
  }

  /** Replaces the store with an image's modules; returns why it cannot (the store is then unchanged). */
  load(image: Uint8Array): string | undefined {
    const parsed = parseSimLfsImage(Buffer.from(image));
    if (typeof parsed === "string") return parsed;
    this.modules = parsed;
    return undefined;
  }
}

/** An image of the given modules (name -> Lua source) in the simulator's container. */
export function simLfsImage(modules: { name: string; source: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [Buffer.from(SIM_LFS_MAGIC, "latin1")];
  for (const m of modules) parts.push(Buffer.from(`${m.name} ${m.source.length}\n`, "latin1"), Buffer.from(m.source));
  return Buffer.concat(parts);
}

function parseSimLfsImage(image: Buffer): Map<string, Buffer> | string {
  if (!image.subarray(0, SIM_LFS_MAGIC.length).equals(Buffer.from(SIM_LFS_MAGIC, "latin1"))) {
    return "not an LFS image this emulator can load (it loads the simulator's own images; see docs/NODEMCU.md)";
  }
  const modules = new Map<string, Buffer>();
  let at = SIM_LFS_MAGIC.length;
  while (at < image.length) {
    const nl = image.indexOf(10, at);
    const m = nl < 0 ? null : /^([A-Za-z_][A-Za-z0-9_]*) (\d+)$/.exec(image.subarray(at, nl).toString("latin1"));
    if (!m) return "corrupt LFS image";
    const size = Number(m[2]);
    if (nl + 1 + size > image.length) return "truncated LFS image";
    modules.set(m[1], Buffer.from(image.subarray(nl + 1, nl + 1 + size)));
    at = nl + 1 + size;
  }
  return modules.size === 0 ? "empty LFS image" : modules;
}
