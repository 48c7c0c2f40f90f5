/**
 * Host-side TCP listening shared by every runtime: maps the device's ports
 * (25, 110, 80) to host ports and reports what was bound.
 */
import * as net from "node:net";

/** Every accepted connection still open, of every runtime in this process. */
const accepted = new Set<net.Socket>();

/**
 * A power cut: destroys every accepted connection at once. What the box
 * handed to the network before stays delivered; nothing it sends afterwards
 * leaves the host.
 */
export function dropAllConnections(): void {
  for (const socket of accepted) socket.destroy();
  accepted.clear();
}

export interface BoundListener {
  server: net.Server;
  hostPort: number;
}

/** Binds the host port that `devicePort` maps to; resolves once listening. */
export function bindDevicePort(
  devicePort: number,
  portMap: { [devicePort: number]: number },
  bindHost: string,
  onSocket: (socket: net.Socket) => void,
): Promise<BoundListener> {
  const wanted = portMap[devicePort] !== undefined ? portMap[devicePort] : devicePort;
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true }, (socket) => {
      accepted.add(socket);
      socket.once("close", () => accepted.delete(socket));
      onSocket(socket);
    });
    server.once("error", reject);
    server.listen(wanted, bindHost, () => {
      server.off("error", reject);
      const addr = server.address() as net.AddressInfo;
      resolve({ server, hostPort: addr.port });
    });
  });
}

/** A port free on 127.0.0.1 right now (for a daemon that must be told its port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
