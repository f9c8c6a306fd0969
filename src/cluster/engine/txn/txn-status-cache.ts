/** A txn's state as known to the cache (tikv txn_status_cache::TxnState). */
export type CachedTxnState =
  | { readonly kind: "ongoing"; readonly minCommitTs: bigint }
  | { readonly kind: "committed"; readonly commitTs: bigint }
  | { readonly kind: "rolledBack" };

/**
 * A bounded map of recently seen transaction states, like TiKV's txn_status_cache. Filled by
 * commits and by BroadcastTxnStatus; a pessimistic prewrite of a txn known committed is
 * treated as a retry, so it re-checks constraints instead of re-locking keys.
 */
export class TxnStatusCache {
  private readonly map = new Map<bigint, CachedTxnState>();

  constructor(private readonly capacity = 100_000) {}

  /** Records the state of startTs (most recent wins; oldest entries are evicted). */
  upsert(startTs: bigint, state: CachedTxnState): void {
    this.map.delete(startTs);
    this.map.set(startTs, state);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
  }

  /** Records that startTs committed at commitTs. */
  insert(startTs: bigint, commitTs: bigint): void {
    this.upsert(startTs, { kind: "committed", commitTs });
  }

  /** The cached state of startTs. */
  get(startTs: bigint): CachedTxnState | undefined {
    return this.map.get(startTs);
  }

  /** commit_ts of startTs if known committed. */
  getCommitted(startTs: bigint): bigint | undefined {
    const s = this.map.get(startTs);
    return s?.kind === "committed" ? s.commitTs : undefined;
  }
}
