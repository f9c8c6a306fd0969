// Per-call retry budget, deadline and cancellation (the context.Context of client-go calls).

import { CountingBackoffer } from "../../actors/runtime/counting-backoffer.js";
import type { ClientMetrics } from "../../actors/runtime/metrics.js";
import type { RequestControl } from "../../actors/runtime/raw-sender.js";
import { InvalidArgumentError } from "../errors/base.js";
import { AbortedError } from "../errors/server.js";
import type { CallOptions } from "../options.js";

/**
 * Builds the control block of one call. No timer is armed: each RPC gets the remaining time as
 * its own deadline and backoffs refuse to sleep past it, so a call costs no extra timer; the
 * backoff budget is created only when a call first needs it.
 */
export function newControl(
  opts: CallOptions | undefined,
  defaultTimeoutMs: number,
  maxBackoffMs: number,
  metrics: ClientMetrics,
): RequestControl {
  let timeoutMs = defaultTimeoutMs;
  let signal: AbortSignal | undefined;
  if (opts !== undefined) {
    if (opts === null || typeof opts !== "object")
      throw new InvalidArgumentError("must be an object", "options");
    if (opts.timeoutMs !== undefined) {
      if (typeof opts.timeoutMs !== "number" || !Number.isFinite(opts.timeoutMs) || opts.timeoutMs < 0) {
        throw new InvalidArgumentError(
          `must be a non-negative number, got ${String(opts.timeoutMs)}`,
          "timeoutMs",
        );
      }
      timeoutMs = opts.timeoutMs;
    }
    signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError("must be an AbortSignal", "signal");
    }
    if (signal?.aborted) throw new AbortedError(signal.reason);
  }
  return new Control(maxBackoffMs, metrics, timeoutMs > 0 ? Date.now() + timeoutMs : 0, timeoutMs, signal);
}

// The backoff budget is created on first use: a call that needs no retry (the common case)
// never pays for one.
class Control implements RequestControl {
  private budget: CountingBackoffer | undefined;

  constructor(
    private readonly maxBackoffMs: number,
    private readonly metrics: ClientMetrics,
    readonly deadline: number,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
  ) {}

  get bo(): CountingBackoffer {
    this.budget ??= new CountingBackoffer(
      { maxSleepMs: this.maxBackoffMs, signal: this.signal },
      this.metrics,
    );
    return this.budget;
  }
}
