// The control block of one unit of work (a user call, or a background task such as committing
// secondaries): retry budget, deadline and cancellation, the context.Context of client-go.

import type { RpcInterceptor } from "../request/interceptor.js";
import { CountingBackoffer } from "./counting-backoffer.js";
import type { DetailsSink } from "./exec-details.js";
import type { ClientMetrics } from "./metrics.js";
import type { RequestControl } from "./raw-sender.js";

/** What a control block is made of. */
export interface ControlSpec {
  /** Backoff budget in ms (client-go's per-operation MaxBackoff). */
  maxBackoffMs: number;
  /** Whole-operation timeout in ms; 0 = none. */
  timeoutMs: number;
  /** Cancels the operation. */
  signal?: AbortSignal | undefined;
  /**
   * Cuts backoff sleeps short without cancelling requests in flight (a sibling batch failed:
   * stop waiting, but let sent requests finish so their outcome is known). Default: `signal`. A
   * function is called when the backoff budget is first needed (most calls never need one).
   */
  backoffSignal?: AbortSignal | (() => AbortSignal) | undefined;
  /** Where backoffs are counted. */
  metrics: ClientMetrics;
  /** RPC interceptors of the work's transaction or snapshot. */
  interceptor?: RpcInterceptor | undefined;
  /** Where the work's execution details go (unset = not collected). */
  details?: DetailsSink | undefined;
}

/**
 * A control block. No timer is armed: each RPC gets the remaining time as its own deadline and
 * backoffs refuse to sleep past it; the backoff budget is created only when first needed.
 */
export function makeControl(spec: ControlSpec): RequestControl {
  const deadline = spec.timeoutMs > 0 ? Date.now() + spec.timeoutMs : 0;
  const ctl = new Control(
    spec.maxBackoffMs,
    spec.metrics,
    deadline,
    spec.timeoutMs,
    spec.signal,
    spec.backoffSignal ?? spec.signal,
  );
  ctl.interceptor = spec.interceptor;
  ctl.details = spec.details;
  return ctl;
}

// The backoff budget is created on first use: a call that needs no retry (the common case)
// never pays for one.
class Control implements RequestControl {
  private budget: CountingBackoffer | undefined;
  sent = false;
  interceptor: RpcInterceptor | undefined = undefined;
  details: DetailsSink | undefined = undefined;

  constructor(
    private readonly maxBackoffMs: number,
    private readonly metrics: ClientMetrics,
    readonly deadline: number,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    private readonly backoffSignal: AbortSignal | (() => AbortSignal) | undefined,
  ) {}

  get bo(): CountingBackoffer {
    const s = this.backoffSignal;
    this.budget ??= new CountingBackoffer(
      { maxSleepMs: this.maxBackoffMs, signal: typeof s === "function" ? s() : s },
      this.metrics,
      this,
    );
    return this.budget;
  }
}
