// tikv-ts: a TiKV client for Node.js. Main entry point.

export type { ClientMetricsSnapshot } from "./actors/runtime/metrics.js";
export type { LockResolver, LockResolverStats, ResolveLocksResult } from "./actors/txn/lock-resolver.js";
export {
  chainRpcInterceptors,
  type RpcInterceptor,
  RpcInterceptorChain,
  type RpcInvoker,
  RpcRejectedError,
  type RpcRequest,
  rpcInterceptor,
} from "./api/interceptor.js";
export type { AggressiveLockedKey } from "./api/internal/aggressive-locking.js";
export { MAX_RAW_KV_SCAN_LIMIT } from "./api/internal/batch.js";
export type { LogFn, Logger } from "./api/logger.js";
export {
  DEFAULT_METRICS_PREFIX,
  type MetricsOptions,
  type PrometheusRegistry,
} from "./api/metrics-options.js";
export type {
  ApiVersionName,
  CallOptions,
  ConnectOptions,
  RawCallOptions,
  RawClientOptions,
  RawScanOptions,
  TxnLocalLatchesOptions,
} from "./api/options.js";
export {
  type PipelinedOptions,
  PipelinedTransaction,
  PipelinedUnsupportedError,
} from "./api/pipelined-transaction.js";
export {
  type CasResult,
  type KvPair,
  type RawBatchPutOptions,
  type RawChecksum,
  RawClient,
  type RawIterateOptions,
  type RawPutOptions,
} from "./api/raw-client.js";
export {
  type IsolationLevelName,
  type PriorityName,
  Snapshot,
  type SnapshotReadOptions,
  type TxnScanOptions,
} from "./api/snapshot.js";
export { TikvClient } from "./api/tikv-client.js";
export {
  type AssertionLevelName,
  type CommitInfo,
  type CommitProtocolOptions,
  type CommitReport,
  type LockOptions,
  Transaction,
  type TransactionState,
  type TxnSizeLimits,
  type WriteOptions,
} from "./api/transaction.js";
export { type BeginOptions, isRetryable, type RunTransactionOptions, TxnClient } from "./api/txn-client.js";
export { AggressiveLockingError, type AggressiveLockingMisuse } from "./errors/aggressive-locking.js";
export * from "./errors/index.js";
export { type SharedLockMisuse, SharedLockMisuseError } from "./errors/shared-lock.js";
export {
  compareKeys,
  type KeyInput,
  type KeyRange,
  keyRange,
  nextKey,
  prefixNext,
  toKey,
} from "./kv/key.js";
export type { TxnStatus } from "./machines/lock-policy.js";
export type { TlsOptions } from "./rpc/channel.js";
