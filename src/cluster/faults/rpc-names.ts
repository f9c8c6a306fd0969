/**
 * Names of the RPCs the embedded cluster serves, as spelled in the .proto service definitions
 * (the method name without package/service). Requests carried inside a TiKV BatchCommands
 * stream are reported under the name of their unary equivalent (a batched `Get` is `KvGet`).
 */
export const TIKV_RPCS = [
  "KvGet",
  "KvBatchGet",
  "KvScan",
  "KvBufferBatchGet",
  "KvPrewrite",
  "KvCommit",
  "KvBatchRollback",
  "KvPessimisticLock",
  "KVPessimisticRollback",
  "KvTxnHeartBeat",
  "KvCheckTxnStatus",
  "KvCleanup",
  "KvCheckSecondaryLocks",
  "KvResolveLock",
  "KvScanLock",
  "KvFlush",
  "BroadcastTxnStatus",
  "KvDeleteRange",
  "UnsafeDestroyRange",
  "SplitRegion",
  "GetStoreSafeTS",
  "GetHealthFeedback",
  "RawGet",
  "RawBatchGet",
  "RawPut",
  "RawBatchPut",
  "RawDelete",
  "RawBatchDelete",
  "RawDeleteRange",
  "RawScan",
  "RawBatchScan",
  "RawGetKeyTTL",
  "RawCompareAndSwap",
  "RawChecksum",
  "MvccGetByKey",
  "MvccGetByStartTs",
  "GetLockWaitInfo",
  "BatchCommands",
] as const;

/** PD (and keyspace) RPC names, for faults consulted by the mock PD. */
export const PD_RPCS = [
  "GetMembers",
  "GetClusterInfo",
  "Tso",
  "GetMinTS",
  "GetRegion",
  "GetPrevRegion",
  "GetRegionByID",
  "ScanRegions",
  "BatchScanRegions",
  "GetStore",
  "GetAllStores",
  "ScatterRegion",
  "GetOperator",
  "SplitRegions",
  "SplitAndScatterRegions",
  "GetGCState",
  "AdvanceTxnSafePoint",
  "AdvanceGCSafePoint",
  "UpdateGCSafePoint",
  "UpdateServiceGCSafePoint",
  "GetExternalTimestamp",
  "SetExternalTimestamp",
  "AllocID",
  "GetGCSafePoint",
  "SetGCBarrier",
  "DeleteGCBarrier",
  "GetAllKeyspacesGCStates",
  "LoadKeyspace",
] as const;

/** A TiKV RPC name. */
export type TikvRpcName = (typeof TIKV_RPCS)[number];
/** A PD or keyspace RPC name. */
export type PdRpcName = (typeof PD_RPCS)[number];
/** Any RPC a fault can target. */
export type RpcName = TikvRpcName | PdRpcName;

const ALL = new Set<string>([...TIKV_RPCS, ...PD_RPCS]);

/** True when `name` is an RPC the embedded cluster serves. */
export function isRpcName(name: string): name is RpcName {
  return ALL.has(name);
}
