// One timer for many requests: armed at the earliest deadline, the owner sweeps expired
// requests when it fires. A timer per request would cost more than a batched request itself.

/** Re-armable single timer keyed on the earliest pending deadline (ms since epoch). */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = Number.POSITIVE_INFINITY;

  /** `sweep(now)` must fail expired requests and return the next deadline (or +Infinity). */
  constructor(private readonly sweep: (now: number) => number) {}

  /** Makes sure the timer fires no later than `deadline`. Cheap when it is already earlier. */
  ensure(deadline: number): void {
    if (deadline < this.at) this.arm(deadline);
  }

  /** Cancels the timer. */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Number.POSITIVE_INFINITY;
  }

  private arm(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.at = deadline;
    this.timer = setTimeout(this.fire, Math.max(0, deadline - Date.now()));
    this.timer.unref?.();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.at = Number.POSITIVE_INFINITY;
    const next = this.sweep(Date.now());
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  };
}
