/** Transports for dialogues: real TCP to a simulator, or a fake socket in-process. */
import * as net from "node:net";
import type { Config } from "../../firmware/config";
import { HTTP_PORT, IMAP_PORT, Letterbox, POP3_PORT, SMTP_PORT, startLetterbox } from "../../firmware/main";
import { SimCard } from "../../sim/card";
import { LineCollector, Pipe, Protocol, Transport } from "./dialogue";
import { TestHal, testHal } from "./test-hal";

/** Connects over TCP to the simulator's host ports; `log` collects the simulator's log lines, when given. */
export function tcpTransport(ports: { smtp: number; pop3: number; http?: number; imap?: number }, log?: LineCollector): Transport {
  return {
    log,
    connect(protocol: Protocol): Promise<Pipe> {
      if (ports[protocol] === undefined) throw new Error(`this transport has no ${protocol} port`);
      return tcpPipe(ports[protocol] as number);
    },
  };
}

export function tcpPipe(port: number): Promise<Pipe> {
  return new Promise((resolve, reject) => {
    const collector = new LineCollector();
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.off("error", reject);
      socket.on("error", () => collector.close());
      resolve({
        write: (data) => void socket.write(Buffer.from(data, "latin1")),
        readLine: (t) => collector.readLine(t),
        unread: () => collector.unread,
        closed: (t) => collector.closed(t),
        drop: () => socket.destroy(),
      });
    });
    socket.once("error", reject);
    socket.on("data", (b) => collector.push(b.toString("latin1")));
    socket.on("close", () => collector.close());
  });
}

export interface FakeBox {
  transport: Transport;
  box: Letterbox;
  /** The HAL the core runs on (for a test handler's timers and log). */
  hal: TestHal;
  card: SimCard;
  stop(): void;
}

/**
 * Runs the core in-process with a fake socket layer: client bytes go in as
 * chunks of `chunkSize` (to exercise framing at odd boundaries); every send
 * completes asynchronously, as on the boards.
 */
export function fakeBox(config: Config, dataDir: string, chunkSize: number): FakeBox {
  const log = new LineCollector();
  const hal = testHal({ implementation: "letterbox-test (fake sockets)", card: dataDir, log: (line) => log.push(line + "\r\n") });
  const box = startLetterbox(hal, config);
  const transport: Transport = {
    log,
    async connect(protocol: Protocol): Promise<Pipe> {
      const collector = new LineCollector();
      const port = protocol === "smtp" ? SMTP_PORT : protocol === "pop3" ? POP3_PORT : protocol === "imap" ? IMAP_PORT : HTTP_PORT;
      const client = hal.client(port, {
        keep: false,
        onSend: (data) => collector.push(data),
        onServerClose: () => collector.close(),
      });
      return {
        write(data: string) {
          for (let i = 0; i < data.length && !client.gone; i += chunkSize) {
            const piece = data.slice(i, i + chunkSize);
            setImmediate(() => client.say(piece));
          }
        },
        readLine: (t) => collector.readLine(t),
        unread: () => collector.unread,
        closed: (t) => collector.closed(t),
        drop() {
          if (client.gone) return;
          collector.close();
          client.drop();
        },
      };
    },
  };
  return {
    transport,
    box,
    hal,
    card: hal.card as SimCard,
    stop() {
      box.stop();
      hal.stop();
    },
  };
}
