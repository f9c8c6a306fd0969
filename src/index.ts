// tikv-ts: a TiKV client for Node.js. Main entry point.

export * from "./api/errors.js";
export {
  type ApiVersionName,
  type CallOptions,
  type ConnectOptions,
  type RawCallOptions,
  type RawClientOptions,
  type RawScanOptions,
} from "./api/options.js";
export {
  type CasResult,
  type KvPair,
  RawClient,
  type RawBatchPutOptions,
  type RawChecksum,
  type RawIterateOptions,
  type RawPutOptions,
} from "./api/raw-client.js";
export { TikvClient } from "./api/tikv-client.js";
export type { ClientMetricsSnapshot } from "./actors/runtime/metrics.js";
export type { TlsOptions } from "./rpc/channel.js";
export {
  compareKeys,
  type KeyInput,
  type KeyRange,
  keyRange,
  nextKey,
  prefixNext,
  toKey,
} from "./kv/key.js";
export { MAX_RAW_KV_SCAN_LIMIT } from "./api/internal/batch.js";
