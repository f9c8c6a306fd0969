// tikv-ts: a TiKV client for Node.js. Main entry point.

export type {
  ActorTransition,
  RpcOutcome,
  TxnBackoffEvent,
  TxnBeginEvent,
  TxnCommitEvent,
  TxnCommitStartEvent,
  TxnEvent,
  TxnKind,
  TxnLockEvent,
  TxnRollbackEvent,
  TxnRpcEvent,
  TxnStateEvent,
} from "./actors/observe/events.js";
export { type ClientEventMap, ClientEvents, type ClientObservables } from "./actors/observe/hub.js";
export {
  parseTrace,
  type TraceOutcome,
  type TxnTrace,
  traceOf,
  tracePath,
  validateTrace,
} from "./actors/observe/trace.js";
export {
  type BackoffDetail,
  type CommitDetails,
  ExecDetails,
  type ReqDetailInfo,
  type ScanDetail,
  type TimeDetail,
} from "./actors/runtime/exec-details.js";
export type { ClientMetricsSnapshot } from "./actors/runtime/metrics.js";
export type { LockResolver, LockResolverStats, ResolveLocksResult } from "./actors/txn/lock-resolver.js";
export type { ReplicaReadName, StaleReadAgo } from "./actors/txn/snapshot-reader.js";
export type {
  ScatterFailure,
  ScatterOptions,
  ScatterResult,
  SplitRegionsOptions,
  SplitRegionsResult,
  WaitScatterOptions,
} from "./api/admin/types.js";
export type {
  ClientConfig,
  TuningOptions,
  TxnBackoffBudgets,
  TxnPhase,
} from "./api/client-config.js";
export type { DeleteRangeOptions, DeleteRangeResult } from "./api/delete-range.js";
export {
  GC_TTL_FOREVER,
  type GcBarrier,
  type GcOptions,
  type GcPhase,
  type GcProgress,
  type GcResult,
  type GcState,
  type ServiceSafePointResult,
} from "./api/gc/gc.js";
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
export type {
  RequestTarget,
  SendRequestOptions,
  TikvRpcInput,
  TikvRpcName,
  TikvRpcRequest,
  TikvRpcResponse,
} from "./api/low-level-types.js";
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
export { Oracle, type ValidateReadTsOptions } from "./api/oracle.js";
export {
  type PipelinedOptions,
  PipelinedTransaction,
  PipelinedUnsupportedError,
} from "./api/pipelined-transaction.js";
export {
  type RangeTaskContext,
  type RangeTaskEvents,
  type RangeTaskFn,
  type RangeTaskProgress,
  RangeTaskRunner,
  type RangeTaskRunnerOptions,
  type RangeTaskStat,
  type RunOnRangeOptions,
} from "./api/range-task.js";
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
  buildRequestSource,
  isInternalRequestSource,
  type RequestUnitConfig,
  type ResourceCallOptions,
  type ResourceControlOptions,
  type ResourceGroupStats,
} from "./api/resource-control.js";
export {
  type IsolationLevelName,
  type PriorityName,
  type ReplicaReadAdjuster,
  type ReplicaReadAdjustment,
  type ResourceGroupTagger,
  Snapshot,
  type SnapshotReadOptions,
  type TxnScanOptions,
} from "./api/snapshot.js";
export { StaleReadTransaction } from "./api/stale-read-transaction.js";
export { TikvClient } from "./api/tikv-client.js";
export type { TracerProviderLike, TracingOptions } from "./api/tracing-options.js";
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
export {
  type BeginOptions,
  isRetryable,
  type MinSafeTsOptions,
  type RunTransactionOptions,
  TxnClient,
} from "./api/txn-client.js";
export { AggressiveLockingError, type AggressiveLockingMisuse } from "./errors/aggressive-locking.js";
export * from "./errors/index.js";
export { type SharedLockMisuse, SharedLockMisuseError } from "./errors/shared-lock.js";
export { StaleReadOnlyError } from "./errors/stale-read.js";
export { InvalidTraceError } from "./errors/trace.js";
export {
  compareKeys,
  type KeyInput,
  type KeyRange,
  keyRange,
  nextKey,
  prefixNext,
  toKey,
} from "./kv/key.js";
export {
  addMs,
  composeTs,
  dateFromTs,
  LOGICAL_BITS,
  logicalOf,
  lowerLimitStartTs,
  MAX_TS,
  physicalOf,
  subtractMs,
  tsFromDate,
  tsFromMs,
} from "./kv/timestamp.js";
export type { TxnStatus } from "./machines/lock-policy.js";
export type { TlsOptions } from "./rpc/channel.js";
