/**
 * Power-cut injection for the simulator: a card whose power fails just
 * before its k-th changing operation (open, write, close, remove, mkdir).
 * Operations 1..k-1 happened (an append's bytes are synced when its write
 * returns), operation k and everything after it never reach the card, and
 * `onCut` runs at that instant so the caller can drop the process state
 * (sockets, the runtime) before the core sees the failure.
 */
import { CardError, CardOperation, SimCard } from "./card";

export interface CardEvent {
  op: CardOperation;
  path: string;
  /** The bytes of a write. */
  data?: string;
}

export interface PowerCutOptions {
  dir: string;
  /** Cut before this operation (1-based); never when undefined. */
  cutBefore?: number;
  onCut?: () => void;
  capacityBytes?: number;
}

export class PowerCutCard extends SimCard {
  /** Every changing operation that reached the card, in order. */
  readonly events: CardEvent[] = [];
  /** Set once the power has been cut. */
  cut = false;

  constructor(options: PowerCutOptions) {
    let self: PowerCutCard | undefined = undefined;
    super({
      dir: options.dir,
      capacityBytes: options.capacityBytes,
      beforeOperation: (op, cardPath, data) => {
        const card = self as PowerCutCard;
        if (options.cutBefore !== undefined && card.events.length + 1 >= options.cutBefore) {
          card.cut = true;
          card.powerOff();
          if (options.onCut) options.onCut();
          throw new CardError("power cut");
        }
        card.events.push({ op, path: cardPath, data });
      },
    });
    self = this;
  }

  /** Changing operations so far. */
  get operations(): number {
    return this.events.length;
  }
}
