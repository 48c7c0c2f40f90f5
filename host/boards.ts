/**
 * Board definitions: boards/*.json, PlatformIO-style (see boards/README.md),
 * validated with a JSON Schema. The host tool uses them to list boards and to
 * find a board's serial port by its USB vendor and product id.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";

export const BOARDS_DIR = path.join(__dirname, "../../boards");

const GPIO = { type: "integer", minimum: 0, maximum: 39 };
const HEX16 = { type: "string", pattern: "^0x[0-9A-Fa-f]{4}$" };

export const boardSchema = {
  type: "object",
  required: ["name", "runtime", "build", "upload", "sd"],
  properties: {
    name: { type: "string", minLength: 1 },
    vendor: { type: "string" },
    url: { type: "string" },
    runtime: { enum: ["espruino", "nodemcu"] },
    build: {
      type: "object",
      required: ["mcu", "hwids"],
      properties: {
        mcu: { type: "string" },
        f_cpu: { type: "string" },
        hwids: { type: "array", minItems: 1, items: { type: "array", items: [HEX16, HEX16], minItems: 2, maxItems: 2 } },
      },
    },
    upload: {
      type: "object",
      required: ["flash_size", "maximum_ram_size", "speed"],
      properties: {
        flash_size: { type: "string", pattern: "^[0-9]+[KM]B$" },
        maximum_size: { type: "integer", minimum: 1 },
        maximum_ram_size: { type: "integer", minimum: 1 },
        speed: { type: "integer", minimum: 1200 },
        protocol: { type: "string" },
      },
    },
    sd: {
      type: "object",
      required: ["sck", "miso", "mosi", "cs"],
      properties: { spi: { type: "string" }, slot: { type: "string" }, sck: GPIO, miso: GPIO, mosi: GPIO, cs: GPIO },
    },
  },
} as const;

export interface Board {
  /** File name without .json, e.g. "espruino-esp32". */
  id: string;
  name: string;
  vendor?: string;
  runtime: "espruino" | "nodemcu";
  build: { mcu: string; f_cpu?: string; hwids: [string, string][] };
  upload: { flash_size: string; maximum_size?: number; maximum_ram_size: number; speed: number; protocol?: string };
  sd: { spi?: string; slot?: string; sck: number; miso: number; mosi: number; cs: number };
}

const validate = new Ajv({ allErrors: true, strict: false }).compile(boardSchema);

/** Every board definition in `dir`; throws naming the file and field of the first bad one. */
export function loadBoards(dir = BOARDS_DIR): Board[] {
  const boards: Board[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    const value = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
    if (!validate(value)) {
      const e = validate.errors![0];
      throw new Error(`boards/${file}: ${e.instancePath || "(top level)"} ${e.message}`);
    }
    boards.push({ ...(value as unknown as Board), id: file.replace(/\.json$/, "") });
  }
  return boards;
}
