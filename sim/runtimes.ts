/**
 * The simulator's runtimes by name. Every TCP-level test runs against each
 * runtime listed in RUNTIME_NAMES.
 */
import type { Runtime, RuntimeName } from "./runtime";

const loaders: { [name: string]: () => Runtime } = {
  node: () => require("./node-runtime").nodeRuntime as Runtime,
  lua: () => require("./lua-runtime").luaRuntime as Runtime,
  espruino: () => require("./espruino-runtime").espruinoRuntime as Runtime,
};

/** Runtimes the simulator supports, in the order tests run them. */
export const RUNTIME_NAMES: RuntimeName[] = ["node", "lua", "espruino"];

export function getRuntime(name: string): Runtime {
  const load = loaders[name];
  if (!load) throw new Error(`unknown runtime "${name}" (choose one of: ${RUNTIME_NAMES.join(", ")})`);
  return load();
}
