// A bound on how many tasks run at once (client-go's rate-limit channels around flush batches,
// range-task workers and broadcasts).

/** Runs at most `limit` of the functions given to it at a time, the others in arrival order. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  /** Runs `fn` once a slot is free; settles as `fn` does. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      // the slot passes straight to the next waiter (active stays counted)
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
