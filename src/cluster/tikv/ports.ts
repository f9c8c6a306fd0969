// What a mock TiKV store needs from the rest of the embedded cluster. The store codes against
// these narrow interfaces so it can be tested alone; EmbeddedCluster adapts the real
// ClusterTopology / TxnEngine / RawEngine to them.

import type * as kv from "../../proto/kvrpcpb.js";
import type { Peer, Region } from "../../proto/metapb.js";

/** A region as one store sees it. */
export interface RegionState {
  /** id, startKey, endKey, regionEpoch, peers; boundaries as user (txn) keys. */
  region: Region;
  /** The same with boundaries in stored form (TiKV's data keys); absent = same as `region`. */
  storedRegion?: Region | undefined;
  /** The current leader peer, when the region has one. */
  leader?: Peer | undefined;
  /** Resolved ("safe") ts of the region: stale reads at or below it are served. */
  safeTs: bigint;
  /** The region's buckets (user keys), when it has any. */
  buckets?: { version: bigint; keys: readonly Buffer[] } | undefined;
}

/** Topology operations and lookups a store uses. */
export interface TopologyPort {
  /** The region with this id, or undefined when it does not exist (any more). */
  regionState(regionId: bigint): RegionState | undefined;
  /** Regions with a peer on `storeId`, sorted by start key. */
  regionsOnStore(storeId: bigint): Region[];
  /** The same with boundaries in stored form (absent: `regionsOnStore` has them). */
  storedRegionsOnStore?(storeId: bigint): Region[];
  /**
   * Split region `regionId` at `splitKeys` (stored form; sorted, deduplicated, strictly inside
   * the region). Returns every resulting region, boundaries in stored form, sorted by start
   * key. Throws on failure.
   */
  split(regionId: bigint, splitKeys: Buffer[]): Region[];
}

/** A region key range (user keys; empty end = unbounded). */
export interface KeyRangeArg {
  start: Buffer;
  end: Buffer;
}

type MaybeAsync<T> = T | Promise<T>;

/** The transactional engine, per the TEAM.md contract (src/cluster/engine/txn/txn-engine.ts). */
export interface TxnEnginePort {
  get(req: kv.GetRequest): MaybeAsync<kv.GetResponse>;
  batchGet(req: kv.BatchGetRequest): MaybeAsync<kv.BatchGetResponse>;
  scan(req: kv.ScanRequest, range?: KeyRangeArg): MaybeAsync<kv.ScanResponse>;
  bufferBatchGet(req: kv.BufferBatchGetRequest): MaybeAsync<kv.BufferBatchGetResponse>;
  prewrite(req: kv.PrewriteRequest): MaybeAsync<kv.PrewriteResponse>;
  commit(req: kv.CommitRequest): MaybeAsync<kv.CommitResponse>;
  batchRollback(req: kv.BatchRollbackRequest): MaybeAsync<kv.BatchRollbackResponse>;
  pessimisticLock(req: kv.PessimisticLockRequest): MaybeAsync<kv.PessimisticLockResponse>;
  pessimisticRollback(
    req: kv.PessimisticRollbackRequest,
    range?: KeyRangeArg,
  ): MaybeAsync<kv.PessimisticRollbackResponse>;
  txnHeartBeat(req: kv.TxnHeartBeatRequest): MaybeAsync<kv.TxnHeartBeatResponse>;
  checkTxnStatus(req: kv.CheckTxnStatusRequest): MaybeAsync<kv.CheckTxnStatusResponse>;
  /** KvCleanup (legacy single-key rollback-or-report-commit). */
  cleanup(req: kv.CleanupRequest): MaybeAsync<kv.CleanupResponse>;
  checkSecondaryLocks(req: kv.CheckSecondaryLocksRequest): MaybeAsync<kv.CheckSecondaryLocksResponse>;
  resolveLock(req: kv.ResolveLockRequest, range?: KeyRangeArg): MaybeAsync<kv.ResolveLockResponse>;
  scanLock(req: kv.ScanLockRequest, range?: KeyRangeArg): MaybeAsync<kv.ScanLockResponse>;
  flush(req: kv.FlushRequest): MaybeAsync<kv.FlushResponse>;
  broadcastTxnStatus(req: kv.BroadcastTxnStatusRequest): MaybeAsync<kv.BroadcastTxnStatusResponse>;
  deleteRange(req: kv.DeleteRangeRequest, range?: KeyRangeArg): MaybeAsync<kv.DeleteRangeResponse>;
  mvccGetByKey(req: kv.MvccGetByKeyRequest): MaybeAsync<kv.MvccGetByKeyResponse>;
  mvccGetByStartTs(req: kv.MvccGetByStartTsRequest): MaybeAsync<kv.MvccGetByStartTsResponse>;
  unsafeDestroyRange(start: Buffer, end: Buffer): unknown;
}

/** The raw engine, per the TEAM.md contract (src/cluster/engine/raw/raw-engine.ts). */
export interface RawEnginePort {
  rawGet(req: kv.RawGetRequest): kv.RawGetResponse;
  rawBatchGet(req: kv.RawBatchGetRequest): kv.RawBatchGetResponse;
  rawPut(req: kv.RawPutRequest): kv.RawPutResponse;
  rawBatchPut(req: kv.RawBatchPutRequest): kv.RawBatchPutResponse;
  rawDelete(req: kv.RawDeleteRequest): kv.RawDeleteResponse;
  rawBatchDelete(req: kv.RawBatchDeleteRequest): kv.RawBatchDeleteResponse;
  rawDeleteRange(req: kv.RawDeleteRangeRequest): kv.RawDeleteRangeResponse;
  /** Storage-layer checks of a RawDeleteRange: the error text, or "" when it may proceed. */
  validateRawDeleteRange(req: kv.RawDeleteRangeRequest): string;
  rawScan(req: kv.RawScanRequest, range?: KeyRangeArg): kv.RawScanResponse;
  rawBatchScan(req: kv.RawBatchScanRequest, range?: KeyRangeArg): kv.RawBatchScanResponse;
  rawGetKeyTTL(req: kv.RawGetKeyTTLRequest): kv.RawGetKeyTTLResponse;
  rawCompareAndSwap(req: kv.RawCASRequest): kv.RawCASResponse;
  rawChecksum(req: kv.RawChecksumRequest, range?: KeyRangeArg): kv.RawChecksumResponse;
  unsafeDestroyRange(start: Buffer, end: Buffer): unknown;
}
