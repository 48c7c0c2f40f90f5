/**
 * Finding the board's serial port: by USB vendor/product id from the board
 * definitions (boards/*.json `build.hwids`), with a hint that says exactly
 * what to do when there is no board or more than one.
 */
import { SerialPort } from "serialport";
import type { Board } from "../boards";

/** What `SerialPort.list()` reports for one port (the fields we use). */
export interface PortInfo {
  path: string;
  manufacturer?: string;
  vendorId?: string;
  productId?: string;
}

/** The port cannot be chosen or opened: exit code 3. */
export class PortError extends Error {}

function sameId(a: string | undefined, b: string): boolean {
  return a !== undefined && parseInt(a, 16) === parseInt(b, 16);
}

/** Ports whose USB ids belong to a known board, with the boards each could be. */
export function matchBoardPorts(ports: PortInfo[], boards: Board[]): { port: PortInfo; boards: Board[] }[] {
  const found: { port: PortInfo; boards: Board[] }[] = [];
  for (const port of ports) {
    const matching = boards.filter((b) => b.build.hwids.some(([vid, pid]) => sameId(port.vendorId, vid) && sameId(port.productId, pid)));
    if (matching.length) found.push({ port, boards: matching });
  }
  return found;
}

function describe(p: PortInfo): string {
  const ids = p.vendorId ? ` [${p.vendorId}:${p.productId}]` : "";
  return `${p.path}${p.manufacturer ? ` (${p.manufacturer})` : ""}${ids}`;
}

/** Picks the one board port, or explains what to do. */
export function choosePort(ports: PortInfo[], boards: Board[]): string {
  const found = matchBoardPorts(ports, boards);
  if (found.length === 1) return found[0].port.path;
  if (found.length > 1) {
    const list = found.map((f) => `  ${describe(f.port)}: ${f.boards.map((b) => b.id).join(" or ")}`).join("\n");
    throw new PortError(`several letterbox boards are connected:\n${list}\nChoose one with --port PATH (or unplug the others).`);
  }
  const others = ports.length
    ? `Serial ports seen, none with a known board's USB id:\n${ports.map((p) => `  ${describe(p)}`).join("\n")}\n`
    : "No serial ports at all.\n";
  throw new PortError(
    "no letterbox board found on USB.\n" +
      others +
      "Connect the board with a data USB cable (some cables only charge), check that it appears as /dev/ttyUSB* or /dev/ttyACM*\n" +
      "and that you may open it (Linux: add yourself to the group dialout), then run this again;\n" +
      "or name the port with --port PATH (for the simulator: the path `letterbox sim --serial` printed).\n" +
      "`letterbox boards` lists the USB ids that are recognised.",
  );
}

/** SerialPort.list(), with a clear message when Linux's udevadm is missing. */
export async function listPorts(): Promise<PortInfo[]> {
  try {
    return await SerialPort.list();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ENOENT") {
      throw new PortError(
        "cannot look for boards: listing serial ports needs udevadm, which is missing.\n" +
          "Install it (Debian/Ubuntu: apt-get install udev), or name the port with --port PATH.",
      );
    }
    throw new PortError(`cannot list serial ports: ${err.message}. Name the port with --port PATH.`);
  }
}
