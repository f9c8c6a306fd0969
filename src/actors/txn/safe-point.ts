// The visibility check of transactional reads (client-go tikv/kv.go CheckVisibility with the
// safe-point polling of tikv/safepoint.go): a read older than the txn safe point may see data GC
// already removed, so it fails; the safe point is refreshed from PD's GC state at most every
// 10 s, and a cache older than 90 s that cannot be refreshed fails reads too.

import { PdServerTimeoutError } from "../../errors/server.js";
import { TxnAbortedByGcError } from "../../errors/txn.js";

/** client-go: the safe point is polled every 10 s. */
export const SAFE_POINT_POLL_MS = 10_000;
/** client-go GcSafePointCacheInterval + slack: older than this, the cached safe point is unusable. */
export const SAFE_POINT_MAX_AGE_MS = 90_000;

/** Loads the txn safe point (PD GetGCState of the client's keyspace). */
export type SafePointLoader = () => Promise<bigint>;

/** Checks read timestamps against the txn safe point. */
export class SafePointChecker {
  private safePoint = 0n;
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly load: SafePointLoader,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached txn safe point (0 before the first load). */
  get cached(): bigint {
    return this.safePoint;
  }

  /**
   * Resolves when `startTs` may be read; rejects with TxnAbortedByGcError below the safe point,
   * PdServerTimeoutError when the safe point is too old and PD cannot be asked.
   */
  async check(startTs: bigint): Promise<void> {
    if (this.now() - this.loadedAt >= SAFE_POINT_POLL_MS) {
      try {
        await this.refresh();
      } catch (e) {
        if (this.now() - this.loadedAt >= SAFE_POINT_MAX_AGE_MS) {
          throw new PdServerTimeoutError(`start timestamp may fall behind safe point: ${String(e)}`, {
            cause: e,
          });
        }
      }
    }
    if (startTs < this.safePoint) throw new TxnAbortedByGcError(startTs, this.safePoint);
  }

  /** Loads the safe point now (concurrent callers share one load). */
  refresh(): Promise<void> {
    this.loading ??= this.load()
      .then((sp) => {
        if (sp > this.safePoint) this.safePoint = sp;
        this.loadedAt = this.now();
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }
}
