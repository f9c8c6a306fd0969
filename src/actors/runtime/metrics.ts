// Counters the client keeps about its routing work, for tests and operators. Plain integer
// increments: cheap enough to stay on (no strings built on the hot path except error kinds).
// An exporter (prom-client, opt-in) hangs off it as a sink; with none attached each hook is one
// undefined check and no clock read.

import type {
  CommitProtocol,
  LockResolverAction,
  MetricsSink,
  RegionCacheOp,
  StaleReadEvent,
  TxnCmd,
} from "./metrics-sink.js";

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
  /** Stale reads, by {@link StaleReadEvent} (zeros while no stale read was made). */
  staleReads: Record<StaleReadEvent, number>;
}

const noStaleReads = (): Record<StaleReadEvent, number> => ({
  attempt: 0,
  data_not_ready: 0,
  leader_fallback: 0,
  hit: 0,
  miss: 0,
});

/** Mutable counters shared by the client's runtime. */
export class ClientMetrics {
  pdRegionLookups = 0;
  pdStoreLookups = 0;
  sendFailures = 0;
  retries = 0;
  private commits = { twoPC: 0, asyncCommit: 0, onePC: 0 };
  private staleReads = noStaleReads();
  private readonly sends = new Map<bigint, number>();
  private readonly regionErrors = new Map<string, number>();
  private readonly backoffs = new Map<string, number>();
  /** The exporter every event is mirrored to (undefined: metrics export off). */
  sink: MetricsSink | undefined = undefined;

  /** A start time for a later observe*() call: 0 (no clock read) while no sink is attached. */
  now(): number {
    return this.sink ? performance.now() : 0;
  }

  /** Observes one TiKV request of `cmd` to `storeId` started at `t0` (from {@link now}). */
  observeRequest(cmd: string, storeId: bigint, t0: number, ok: boolean): void {
    const sink = this.sink;
    if (!sink) return;
    sink.request(cmd, storeId, (performance.now() - t0) / 1000);
    if (!ok) sink.rpcError(cmd, storeId);
  }

  /** Observes one PD lookup of the region cache (a cache miss or a store lookup). */
  countRegionCacheOp(op: RegionCacheOp, ok: boolean): void {
    this.sink?.regionCacheOp(op, ok);
  }

  /** Observes one TSO wait started at `t0` (from {@link now}). */
  observeTso(t0: number): void {
    this.sink?.tsoWait((performance.now() - t0) / 1000);
  }

  /** Observes one transaction command started at `t0` (from {@link now}). */
  observeTxnCmd(cmd: TxnCmd, t0: number): void {
    this.sink?.txnCmd(cmd, (performance.now() - t0) / 1000);
  }

  /** Observes the size of one committed transaction's writes. */
  observeTxnWrite(keys: number, bytes: number): void {
    this.sink?.txnWrite(keys, bytes);
  }

  /** Observes one BatchCommands message to `target` (requests in it, requests queued that turn). */
  observeBatch(target: string, requests: number, queued: number): void {
    this.sink?.batch(target, requests, queued);
  }

  /** Counts one lock resolver action. */
  countLockResolver(action: LockResolverAction): void {
    this.sink?.lockResolver(action);
  }

  /** Counts one send to `storeId`. */
  countSend(storeId: bigint): void {
    this.sends.set(storeId, (this.sends.get(storeId) ?? 0) + 1);
  }

  /** Counts one region error of kind `kind` (from `storeId` when known). */
  countRegionError(kind: string, storeId?: bigint): void {
    this.regionErrors.set(kind, (this.regionErrors.get(kind) ?? 0) + 1);
    this.sink?.regionError(kind, storeId);
  }

  /** Counts one backoff of kind `kind` sleeping `sleepMs`. */
  countBackoff(kind: string, sleepMs = 0): void {
    this.backoffs.set(kind, (this.backoffs.get(kind) ?? 0) + 1);
    this.sink?.backoff(kind, sleepMs / 1000);
  }

  /** Counts one committed transaction by its protocol. */
  countCommit(mode: CommitProtocol): void {
    if (mode === "2pc") this.commits.twoPC++;
    else this.commits[mode]++;
    this.sink?.txnCommit(mode);
  }

  /** Counts one stale-read event (the request sender reports them; normal reads never call it). */
  countStaleRead(event: StaleReadEvent): void {
    this.staleReads[event]++;
    this.sink?.staleRead(event);
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
      staleReads: { ...this.staleReads },
    };
  }

  /** Zeroes every counter. */
  reset(): void {
    this.pdRegionLookups = 0;
    this.pdStoreLookups = 0;
    this.sendFailures = 0;
    this.retries = 0;
    this.commits = { twoPC: 0, asyncCommit: 0, onePC: 0 };
    this.staleReads = noStaleReads();
    this.sends.clear();
    this.regionErrors.clear();
    this.backoffs.clear();
  }
}
