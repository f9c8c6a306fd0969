// The counters a mock store can honestly keep, named as TiKV exports them: the storage
// commands it received per type (tikv_storage_command_total, src/storage/metrics.rs
// CommandKind). Counting costs one Map update per request.
import type { TikvRpcName } from "../faults/rpc-names.js";

// tikvpb method -> TiKV's storage CommandKind label; methods TiKV does not count there are absent
const COMMAND_KIND: Partial<Record<TikvRpcName, string>> = {
  KvGet: "get",
  KvScan: "scan",
  KvBatchGet: "batch_get",
  KvBufferBatchGet: "buffer_batch_get",
  KvPrewrite: "prewrite",
  KvPessimisticLock: "acquire_pessimistic_lock",
  KvCommit: "commit",
  KvCleanup: "cleanup",
  KvBatchRollback: "rollback",
  KVPessimisticRollback: "pessimistic_rollback",
  KvTxnHeartBeat: "txn_heart_beat",
  KvCheckTxnStatus: "check_txn_status",
  KvCheckSecondaryLocks: "check_secondary_locks",
  KvScanLock: "scan_lock",
  KvResolveLock: "resolve_lock",
  KvDeleteRange: "delete_range",
  MvccGetByKey: "key_mvcc",
  MvccGetByStartTs: "start_ts_mvcc",
  KvFlush: "flush",
  RawGet: "raw_get",
  RawBatchGet: "raw_batch_get",
  RawScan: "raw_scan",
  RawBatchScan: "raw_batch_scan",
  RawPut: "raw_put",
  RawBatchPut: "raw_batch_put",
  RawDelete: "raw_delete",
  RawDeleteRange: "raw_delete_range",
  RawBatchDelete: "raw_batch_delete",
  RawGetKeyTTL: "raw_get_key_ttl",
  RawCompareAndSwap: "raw_compare_and_swap",
  RawChecksum: "raw_checksum",
};

/** One store's request counters. */
export class StoreMetrics {
  private readonly commands = new Map<string, number>();

  /** Counts one request of `rpc` (a tikvpb method name) that reached the store. */
  count(rpc: string): void {
    const kind = COMMAND_KIND[rpc as TikvRpcName];
    if (kind !== undefined) this.commands.set(kind, (this.commands.get(kind) ?? 0) + 1);
  }

  /** The number of requests counted under TiKV's CommandKind `kind` ("get", "raw_put"...). */
  commandCount(kind: string): number {
    return this.commands.get(kind) ?? 0;
  }

  /** Prometheus text exposition (version 0.0.4) of the counters. */
  render(): string {
    const lines = [
      "# HELP tikv_storage_command_total Total number of commands received.",
      "# TYPE tikv_storage_command_total counter",
    ];
    for (const [kind, n] of [...this.commands].sort(([a], [b]) => (a < b ? -1 : 1))) {
      lines.push(`tikv_storage_command_total{type="${kind}"} ${n}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
