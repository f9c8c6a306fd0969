// What ClientMetrics forwards to when an exporter (prom-client) is attached. ClientMetrics stays
// the one place that counts; a sink only mirrors its events into another system. Durations are
// in seconds, sizes in bytes, as Prometheus conventions want.

/** The commit protocol a transaction used. */
import type { ReadTraffic } from "../request/zone-traffic.js";

export type CommitProtocol = "2pc" | "asyncCommit" | "onePC";

/** PD lookups the region cache makes on a miss (client-go region_cache_operations types). */
export type RegionCacheOp = "get_region_when_miss" | "get_region_by_id" | "scan_regions" | "get_store";

/** Transaction commands whose duration is observed (client-go txn_cmd_duration_seconds types). */
export type TxnCmd = "commit" | "rollback" | "lock_keys";

/** Lock resolver outcomes (client-go lock_resolver_actions_total types). */
export type LockResolverAction =
  | "resolve_locks"
  | "query_txn_status"
  | "query_txn_status_committed"
  | "query_txn_status_rolled_back"
  | "not_expired"
  | "deduplicated"
  | "status_cache_hit";

/**
 * Stale-read outcomes (client-go stale_read_counter hit / miss, plus what it logs): `attempt` a
 * request sent with the stale-read flag, `data_not_ready` a replica answering DataIsNotReady,
 * `leader_fallback` a stale read retried on the leader as a normal read, `hit` / `miss` a stale
 * read answered by its first attempt or not.
 */
export type StaleReadEvent = "attempt" | "data_not_ready" | "leader_fallback" | "hit" | "miss";

/** Receiver of the client's metric events; every method must be cheap and must not throw. */
export interface MetricsSink {
  request(cmd: string, storeId: bigint, seconds: number): void;
  rpcError(cmd: string, storeId: bigint): void;
  regionError(kind: string, storeId: bigint | undefined): void;
  backoff(kind: string, seconds: number): void;
  regionCacheOp(op: RegionCacheOp, ok: boolean): void;
  tsoWait(seconds: number): void;
  txnCmd(cmd: TxnCmd, seconds: number): void;
  txnWrite(keys: number, bytes: number): void;
  txnCommit(protocol: CommitProtocol): void;
  lockResolver(action: LockResolverAction): void;
  batch(target: string, requests: number, queued: number): void;
  staleRead(event: StaleReadEvent): void;
  /** One measured read with its zone and sizes (optional: sinks written before it still work). */
  readTraffic?(t: ReadTraffic): void;
}
