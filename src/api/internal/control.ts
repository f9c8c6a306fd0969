// Per-call retry budget, deadline and cancellation (the context.Context of client-go calls).

import { makeControl } from "../../actors/runtime/control.js";
import { ExecDetails } from "../../actors/runtime/exec-details.js";
import type { ClientMetrics } from "../../actors/runtime/metrics.js";
import type { RequestControl } from "../../actors/runtime/raw-sender.js";
import { InvalidArgumentError } from "../../errors/base.js";
import { AbortedError } from "../../errors/server.js";
import { type CallOptions, checkTimeoutMs } from "../options.js";

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
  let details: ExecDetails | undefined;
  if (opts !== undefined) {
    if (opts === null || typeof opts !== "object")
      throw new InvalidArgumentError("must be an object", "options");
    if (opts.timeoutMs !== undefined) timeoutMs = checkTimeoutMs(opts.timeoutMs, "timeoutMs");
    signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError("must be an AbortSignal", "signal");
    }
    if (signal?.aborted) throw new AbortedError(signal.reason);
    details = opts.execDetails;
    if (details !== undefined && !(details instanceof ExecDetails)) {
      throw new InvalidArgumentError("must be an ExecDetails", "execDetails");
    }
  }
  return makeControl({ maxBackoffMs, metrics, timeoutMs, signal, details });
}
