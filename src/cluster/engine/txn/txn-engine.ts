// The transactional engine of the embedded cluster: one method per TiKV txn command, taking
// and returning the kvrpcpb types. One engine is shared by all mock stores of a cluster.
import type {
  BatchGetRequest,
  BatchGetResponse,
  BatchRollbackRequest,
  BatchRollbackResponse,
  BroadcastTxnStatusRequest,
  BroadcastTxnStatusResponse,
  BufferBatchGetRequest,
  BufferBatchGetResponse,
  CheckSecondaryLocksRequest,
  CheckSecondaryLocksResponse,
  CheckTxnStatusRequest,
  CheckTxnStatusResponse,
  CleanupRequest,
  CleanupResponse,
  CommitRequest,
  CommitResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  FlushRequest,
  FlushResponse,
  GetRequest,
  GetResponse,
  MvccGetByKeyRequest,
  MvccGetByKeyResponse,
  MvccGetByStartTsRequest,
  MvccGetByStartTsResponse,
  PessimisticLockRequest,
  PessimisticLockResponse,
  PessimisticRollbackRequest,
  PessimisticRollbackResponse,
  PrewriteRequest,
  PrewriteResponse,
  ResolveLockRequest,
  ResolveLockResponse,
  ScanLockRequest,
  ScanLockResponse,
  ScanRequest,
  ScanResponse,
  TxnHeartBeatRequest,
  TxnHeartBeatResponse,
} from "../../../proto/kvrpcpb.js";
import { MvccStore } from "../mvcc/store.js";
import { broadcastTxnStatus } from "./commands/broadcast.js";
import { checkSecondaryLocks } from "./commands/check-secondary-locks.js";
import { checkTxnStatus } from "./commands/check-txn-status.js";
import { commit } from "./commands/commit.js";
import { flush } from "./commands/flush.js";
import { deleteRange, gc, unsafeDestroyRange } from "./commands/gc.js";
import { mvccGetByKey, mvccGetByStartTs } from "./commands/mvcc-debug.js";
import { prewrite } from "./commands/prewrite.js";
import { batchGet, bufferBatchGet, get, scan } from "./commands/read.js";
import { resolveLock } from "./commands/resolve-lock.js";
import { batchRollback, cleanupKey } from "./commands/rollback.js";
import { scanLock } from "./commands/scan-lock.js";
import { txnHeartBeat } from "./commands/txn-heart-beat.js";
import {
  type EngineContext,
  type EngineTestingSwitches,
  engineContext,
  type KeyRangeLimit,
} from "./context.js";
import { PessimisticEngine, type PessimisticEngineOptions } from "./pessimistic/index.js";
import { TxnStatusCache } from "./txn-status-cache.js";

/** Options of {@link TxnEngine}. */
export interface TxnEngineOptions {
  /** Wall clock in ms (defaults to Date.now). */
  now?: () => number;
  /** Storage to run on (a fresh one by default). */
  store?: MvccStore;
  /** Lock-wait settings of the pessimistic part (timers, monotonic clock, timeouts). */
  pessimistic?: PessimisticEngineOptions;
}

/**
 * TiKV's MVCC / Percolator transaction commands over an in-memory store. Region checks are
 * the caller's job; where TiKV bounds work by the region, pass its range as `range`.
 * max_ts (for async commit / 1PC) is tracked per engine, see MaxTsTracker.
 */
export class TxnEngine {
  /** The storage: three CFs, max_ts and the lock-release hook (`store.onLocksReleased`). */
  readonly store: MvccStore;
  /** Pessimistic locking with lock waiting and deadlock detection. */
  readonly pessimistic: PessimisticEngine;
  /** Recently known txn states (commits, BroadcastTxnStatus). */
  readonly txnStatusCache = new TxnStatusCache();
  private readonly ctx: EngineContext;

  constructor(opts: TxnEngineOptions = {}) {
    this.store = opts.store ?? new MvccStore();
    this.ctx = engineContext(this.store, opts.now ?? Date.now, this.txnStatusCache);
    // Lock waiting keeps its own clock and timers (see PessimisticEngineOptions), so fake
    // timers in tests reach it even when `now` was captured earlier.
    this.pessimistic = new PessimisticEngine(this.store, opts.pessimistic ?? {});
    this.ctx.onNewLocks = (locks) => this.pessimistic.onLocksAcquired(locks);
  }

  /**
   * Test-only switches that break the engine on purpose (e.g. to show a checker catches lost
   * updates); all off by default.
   *
   * @example
   * ```ts
   * cluster.txnEngine.testing.skipWriteConflictCheck = true; // optimistic txns may now lose updates
   * ```
   */
  get testing(): EngineTestingSwitches {
    return this.ctx.testing;
  }

  /** KvGet. */
  get(req: GetRequest): GetResponse {
    return get(this.ctx, req);
  }

  /** KvBatchGet. */
  batchGet(req: BatchGetRequest): BatchGetResponse {
    return batchGet(this.ctx, req);
  }

  /** KvScan (forward or reverse), bounded by the region range. */
  scan(req: ScanRequest, range?: KeyRangeLimit): ScanResponse {
    return scan(this.ctx, req, range);
  }

  /** KvPrewrite (optimistic, pessimistic, async commit, 1PC). */
  prewrite(req: PrewriteRequest): PrewriteResponse {
    return prewrite(this.ctx, req);
  }

  /** KvCommit. */
  commit(req: CommitRequest): CommitResponse {
    return commit(this.ctx, req);
  }

  /** KvBatchRollback. */
  batchRollback(req: BatchRollbackRequest): BatchRollbackResponse {
    return batchRollback(this.ctx, req);
  }

  /** KvCleanup (legacy single-key cleanup). */
  cleanup(req: CleanupRequest): CleanupResponse {
    return cleanupKey(this.ctx, req);
  }

  /** KvCheckTxnStatus. */
  checkTxnStatus(req: CheckTxnStatusRequest): CheckTxnStatusResponse {
    return checkTxnStatus(this.ctx, req);
  }

  /** KvCheckSecondaryLocks. */
  checkSecondaryLocks(req: CheckSecondaryLocksRequest): CheckSecondaryLocksResponse {
    return checkSecondaryLocks(this.ctx, req);
  }

  /** KvResolveLock; without keys it scans the region range. */
  resolveLock(req: ResolveLockRequest, range?: KeyRangeLimit): ResolveLockResponse {
    return resolveLock(this.ctx, req, range);
  }

  /** KvTxnHeartBeat. */
  txnHeartBeat(req: TxnHeartBeatRequest): TxnHeartBeatResponse {
    return txnHeartBeat(this.ctx, req);
  }

  /** KvScanLock, bounded by the region range. */
  scanLock(req: ScanLockRequest, range?: KeyRangeLimit): ScanLockResponse {
    return scanLock(this.ctx, req, range);
  }

  /** KvDeleteRange, bounded by the region range. */
  deleteRange(req: DeleteRangeRequest, range?: KeyRangeLimit): DeleteRangeResponse {
    return deleteRange(this.ctx, req, range);
  }

  /** MvccGetByKey (debug). */
  mvccGetByKey(req: MvccGetByKeyRequest): MvccGetByKeyResponse {
    return mvccGetByKey(this.ctx, req);
  }

  /** MvccGetByStartTs (debug). */
  mvccGetByStartTs(req: MvccGetByStartTsRequest): MvccGetByStartTsResponse {
    return mvccGetByStartTs(this.ctx, req);
  }

  /** KvFlush (pipelined DML). */
  flush(req: FlushRequest): FlushResponse {
    return flush(this.ctx, req);
  }

  /** KvBufferBatchGet (pipelined DML). */
  bufferBatchGet(req: BufferBatchGetRequest): BufferBatchGetResponse {
    return bufferBatchGet(this.ctx, req);
  }

  /** KvBroadcastTxnStatus: records the states in the txn status cache. */
  broadcastTxnStatus(req: BroadcastTxnStatusRequest): BroadcastTxnStatusResponse {
    return broadcastTxnStatus(this.ctx, req);
  }

  /** MVCC GC below safePoint over all keys (or a range); returns the number of versions removed. */
  gc(safePoint: bigint, range?: KeyRangeLimit): number {
    return gc(this.ctx, safePoint, range);
  }

  /** Drops every record in [start, end) (end empty = +inf). */
  unsafeDestroyRange(start: Buffer, end: Buffer): void {
    unsafeDestroyRange(this.ctx, start, end);
  }

  /** KvPessimisticLock; may wait in the lock-wait queue. */
  pessimisticLock(req: PessimisticLockRequest): Promise<PessimisticLockResponse> {
    return this.pessimistic.pessimisticLock(req);
  }

  /** KvPessimisticRollback; without keys, rolls back the txn's pessimistic locks in range. */
  pessimisticRollback(req: PessimisticRollbackRequest, range?: KeyRangeLimit): PessimisticRollbackResponse {
    return this.pessimistic.pessimisticRollback(req, range);
  }

  /** Ends lock waits and timers. */
  close(): void {
    this.pessimistic.close();
  }
}
