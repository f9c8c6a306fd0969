// A Backoffer that reports every backoff it accounts to the client's metrics, so tests and
// operators see which Bo* kinds the routing layer used.

import type { BackoffConfig } from "../backoff/backoff-config.js";
import { Backoffer, type BackofferOptions } from "../backoff/backoffer.js";
import type { DetailsSink } from "./exec-details.js";
import type { ClientMetrics } from "./metrics.js";

/**
 * Backoffer counting each backoff by kind into {@link ClientMetrics}, and into the execution
 * details of its call when the call asked for them (read at each backoff: a call may be given
 * its details sink after its budget was made).
 */
export class CountingBackoffer extends Backoffer {
  constructor(
    options: BackofferOptions,
    private readonly metrics: ClientMetrics,
    private readonly owner?: { readonly details?: DetailsSink | undefined },
  ) {
    super(options);
  }

  override next(cfg: BackoffConfig, err: unknown, maxSleepMs = -1): number {
    const ms = super.next(cfg, err, maxSleepMs);
    this.metrics.countBackoff(cfg.name, ms);
    this.owner?.details?.backoff(cfg.name, ms);
    return ms;
  }
}
