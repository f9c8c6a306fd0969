import { TS_MAX } from "./types.js";

/**
 * The max_ts of TiKV's concurrency manager: the largest timestamp any reader (or
 * check_txn_status caller) has used. Async-commit and 1PC prewrites take
 * min_commit_ts = max(max_ts + 1, ...) so a commit can never land below a completed read.
 * TiKV keeps one per store; the embedded cluster keeps one per engine (all stores share
 * the engine), which is at least as strict.
 */
export class MaxTsTracker {
  private current = 0n;

  /** The current max_ts. */
  get value(): bigint {
    return this.current;
  }

  /** Raises max_ts to ts; TS_MAX (the "read latest" marker) is ignored, as in TiKV. */
  update(ts: bigint): void {
    if (ts !== TS_MAX && ts > this.current) this.current = ts;
  }
}
