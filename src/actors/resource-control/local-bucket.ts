// The client's local token bucket of one resource group, after PD's client limiter
// (client/resource_group/controller/limiter.go): tokens granted by PD, spent by requests, filled
// at a rate only while PD's grant trickles in. A reservation may take the bucket into debt when
// the debt is repaid within the wait allowed; otherwise it is refused and takes nothing.
// A negative burst means unlimited: nothing is ever waited for.

/** The outcome of a reservation. */
export type Reservation =
  /** Reserved: the request may go after `waitMs` (0 = at once). */
  | { ok: true; waitMs: number }
  /** Refused: the request would wait `waitMs` (Infinity: no refill in sight). */
  | { ok: false; waitMs: number; fillRate: number; remaining: number };

/** New settings from a grant (PD tokenBucketReconfigureArgs). */
export interface BucketSettings {
  tokens: number;
  /** RU per second (0: no refill until the next grant). */
  fillRate: number;
  /** < 0: unlimited; 0: no cap; > 0: the most tokens kept. */
  burst: number;
  /** Below this many tokens the bucket asks for more (PD notifyThreshold). */
  notifyThreshold: number;
}

export class LocalBucket {
  private tokens: number;
  fillRate: number;
  burst: number;
  notifyThreshold: number;
  private last: number;

  constructor(nowMs: number, s: BucketSettings) {
    this.tokens = s.tokens;
    this.fillRate = s.fillRate;
    this.burst = s.burst;
    this.notifyThreshold = s.notifyThreshold;
    this.last = nowMs;
  }

  /** Tokens now (may be negative: a debt). */
  available(nowMs: number): number {
    this.advance(nowMs);
    return this.tokens;
  }

  /** True when the bucket should ask PD for more (PD IsLowTokens). */
  isLow(nowMs: number): boolean {
    return this.burst >= 0 && this.available(nowMs) < this.notifyThreshold;
  }

  /** Takes `n` tokens or refuses (PD reserveN with maxFutureReserve = `maxWaitMs`). */
  reserve(nowMs: number, n: number, maxWaitMs: number): Reservation {
    if (this.burst < 0) return { ok: true, waitMs: 0 };
    this.advance(nowMs);
    const left = this.tokens - n;
    let waitMs = 0;
    if (left < 0) waitMs = this.fillRate > 0 ? (-left / this.fillRate) * 1000 : Number.POSITIVE_INFINITY;
    if (waitMs > maxWaitMs) return { ok: false, waitMs, fillRate: this.fillRate, remaining: left };
    this.tokens = left;
    return { ok: true, waitMs };
  }

  /** Takes `n` tokens, into debt if need be (PD RemoveTokens: costs known only after a response). */
  remove(nowMs: number, n: number): void {
    if (this.burst < 0) return;
    this.advance(nowMs);
    this.tokens -= n;
  }

  /** Applies a grant: the tokens are added to what is left (PD Reconfigure). */
  reconfigure(nowMs: number, s: BucketSettings): void {
    this.advance(nowMs);
    this.tokens += s.tokens;
    this.fillRate = s.fillRate;
    this.burst = s.burst;
    this.notifyThreshold = s.notifyThreshold;
  }

  private advance(nowMs: number): void {
    const dt = nowMs - this.last;
    if (dt <= 0) return;
    this.last = nowMs;
    if (this.fillRate <= 0) return;
    this.tokens += (this.fillRate * dt) / 1000;
    if (this.burst > 0 && this.tokens > this.burst) this.tokens = this.burst;
  }
}
