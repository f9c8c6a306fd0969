// Counters the client keeps about its routing work, for tests and operators. Plain integer
// increments: cheap enough to stay on (no strings built on the hot path except error kinds).

/** A snapshot of {@link ClientMetrics}. */
export interface ClientMetricsSnapshot {
  /** PD region lookups issued (getRegion / getPrevRegion / getRegionById / scanRegions). */
  pdRegionLookups: number;
  /** PD store lookups issued. */
  pdStoreLookups: number;
  /** Requests sent to TiKV stores, per store id. */
  sendsByStore: Record<string, number>;
  /** Region errors received, per errorpb field name ("notLeader", "epochNotMatch", ...). */
  regionErrors: Record<string, number>;
  /** Backoffs taken, per backoff kind ("regionMiss", "tikvRPC", ...). */
  backoffs: Record<string, number>;
  /** Sends that failed at the transport level (store unreachable, stream lost). */
  sendFailures: number;
  /** Requests retried after a region error or a send failure. */
  retries: number;
  /** Transactions committed, by the protocol their commit used (client-go txn commit counter). */
  txnCommits: { twoPC: number; asyncCommit: number; onePC: number };
}

/** Mutable counters shared by the client's runtime. */
export class ClientMetrics {
  pdRegionLookups = 0;
  pdStoreLookups = 0;
  sendFailures = 0;
  retries = 0;
  private commits = { twoPC: 0, asyncCommit: 0, onePC: 0 };
  private readonly sends = new Map<bigint, number>();
  private readonly regionErrors = new Map<string, number>();
  private readonly backoffs = new Map<string, number>();

  /** Counts one send to `storeId`. */
  countSend(storeId: bigint): void {
    this.sends.set(storeId, (this.sends.get(storeId) ?? 0) + 1);
  }

  /** Counts one region error of kind `kind`. */
  countRegionError(kind: string): void {
    this.regionErrors.set(kind, (this.regionErrors.get(kind) ?? 0) + 1);
  }

  /** Counts one backoff of kind `kind`. */
  countBackoff(kind: string): void {
    this.backoffs.set(kind, (this.backoffs.get(kind) ?? 0) + 1);
  }

  /** Counts one committed transaction by its protocol. */
  countCommit(mode: "2pc" | "asyncCommit" | "onePC"): void {
    if (mode === "2pc") this.commits.twoPC++;
    else this.commits[mode]++;
  }

  /** A copy of every counter. */
  snapshot(): ClientMetricsSnapshot {
    const rec = <K>(m: Map<K, number>) => Object.fromEntries([...m].map(([k, v]) => [String(k), v]));
    return {
      pdRegionLookups: this.pdRegionLookups,
      pdStoreLookups: this.pdStoreLookups,
      sendsByStore: rec(this.sends),
      regionErrors: rec(this.regionErrors),
      backoffs: rec(this.backoffs),
      sendFailures: this.sendFailures,
      retries: this.retries,
      txnCommits: { ...this.commits },
    };
  }

  /** Zeroes every counter. */
  reset(): void {
    this.pdRegionLookups = 0;
    this.pdStoreLookups = 0;
    this.sendFailures = 0;
    this.retries = 0;
    this.commits = { twoPC: 0, asyncCommit: 0, onePC: 0 };
    this.sends.clear();
    this.regionErrors.clear();
    this.backoffs.clear();
  }
}
