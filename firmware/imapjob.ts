/**
 * What IMAP's FETCH and SEARCH jobs (imapfetch.ts, imapsearch.ts) share:
 * the view of the selected folder they work on, the source the session's
 * Sender streams, and the job's hold on the card: one message file at most,
 * opened where the job needs it, waited for while the budget of open files
 * has none free, read one piece per call (the Sender yields the loop
 * between calls), closed at the message's end and by the Sender's
 * release(). One copy of each for both jobs: fewer functions is fewer
 * variables on the Espruino board.
 */
import type { FileHandle } from "./hal";
import type { Maildrop } from "./mailbox";
import type { ChunkSource } from "./sender";

/** What a FETCH/SEARCH/STORE job sees of the selected folder (the session provides it). */
export interface SelectedView {
  /** The session's view: message i (from 0) is sequence number i + 1. */
  maildrop: Maildrop;
  /** EXAMINE: BODY[] does not set \Seen. */
  readOnly: boolean;
  recent(i: number): boolean;
  /** Octets read from the card per send (hal.sendChunk); 1024 when absent. */
  sendChunk?: number;
}

/** A fetch job's source, with the hook for a card failure inside a literal (the session closes the connection). */
export interface FetchSource extends ChunkSource {
  /**
   * True while next() returned "" because it waits for a message file (the
   * budget of open files) or for a message's structure being built: the
   * Sender pauses until retry() (the session's retryWaiting: a file freed,
   * a structure ready, the sweep).
   */
  blocked: boolean;
  /** Called when the card fails mid-answer: the answer cannot be completed honestly, end the session after this chunk. */
  onCardError: (() => void) | undefined;
}

/** The figures both jobs work by (const: inlined). */
export const enum Job {
  /** Small responses are batched up to about this many octets per send. */
  Batch = 1024,
  /** Octets read from the card per call when the view says none (hal.sendChunk). */
  Chunk = 1024,
}

/** A job's hold on the card: the message file it reads (one at most). */
export interface CardHold {
  file: FileHandle | undefined;
}

/**
 * The next `n` octets at most of message `i` for `job`: its file is opened
 * first when it is not (at octet `pos`). "" at the file's end; undefined
 * while no message file is free (the job then says blocked when it has
 * nothing to send, and the Sender waits for retry()). Throws when the
 * message is gone (another session expunged it) or the card fails; a
 * file opened stays with the job (releaseFile closes it).
 */
export function readCard(job: CardHold, m: Maildrop, i: number, pos: number, n: number): string | undefined {
  if (job.file === undefined) {
    job.file = m.open(i, pos);
    if (job.file === undefined) return undefined;
  }
  const chunk = n > 0 ? job.file.read(n) : "";
  return chunk === undefined ? "" : chunk;
}

/** Closes the job's message file if it has one: at a message's end, and as the job's release() (the Sender's, once, also on disconnect). */
export function releaseFile(this: CardHold): void {
  const file = this.file;
  this.file = undefined;
  if (file !== undefined) {
    try {
      file.close();
    } catch (e) {
      // A close that fails loses nothing: the file was only read.
    }
  }
}
