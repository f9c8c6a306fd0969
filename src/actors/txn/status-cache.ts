// Final transaction statuses, kept for good (a committed or rolled-back transaction never
// changes), with the oldest entries evicted past a bound (client-go ResolvedCacheSize).

import type { TxnStatus } from "../../machines/lock-policy.js";

/** A bounded cache of final statuses by transaction start ts, evicting in insertion order. */
export class StatusCache {
  private readonly entries = new Map<bigint, TxnStatus>();

  constructor(private readonly capacity: number) {}

  get(txnId: bigint): TxnStatus | undefined {
    return this.entries.get(txnId);
  }

  /** Saves a final status; a transaction already cached keeps its first entry. */
  set(txnId: bigint, status: TxnStatus): void {
    if (this.entries.has(txnId)) return;
    this.entries.set(txnId, status);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as bigint;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
