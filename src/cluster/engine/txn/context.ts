import { type Context, IsolationLevel, type LockInfo } from "../../../proto/kvrpcpb.js";
import { MvccReader } from "../mvcc/reader.js";
import type { MvccStore } from "../mvcc/store.js";
import type { MvccTxn } from "../mvcc/txn.js";
import { lockRecordToLockInfo } from "../mvcc/types.js";
import type { ReadOptions } from "./actions/read.js";
import type { TxnStatusCache } from "./txn-status-cache.js";

/**
 * Switches that deliberately break the engine, so tests can show the consistency checkers catch
 * a broken cluster. All off by default; reached only through `TxnEngine.testing`.
 */
export interface EngineTestingSwitches {
  /** Optimistic prewrites skip the write-conflict check (a newer commit no longer fails them). */
  skipWriteConflictCheck: boolean;
}

/** What every command needs: the store, a reader over it, the clock and the txn status cache. */
export interface EngineContext {
  readonly store: MvccStore;
  readonly reader: MvccReader;
  /** Wall clock in ms (injectable for tests). */
  readonly now: () => number;
  /** Recently committed txns (start_ts -> commit_ts), as TiKV's txn_status_cache. */
  readonly committed: TxnStatusCache;
  /** Told about locks newly created by a command (lock waiters re-target them). */
  onNewLocks?: ((locks: LockInfo[]) => void) | undefined;
  /** Test-only breakage switches. */
  readonly testing: EngineTestingSwitches;
}

/** Builds a context over a store. */
export function engineContext(store: MvccStore, now: () => number, committed: TxnStatusCache): EngineContext {
  return { store, reader: new MvccReader(store), now, committed, testing: { skipWriteConflictCheck: false } };
}

/** A key range limit (end empty = +inf). */
export interface KeyRangeLimit {
  readonly start: Buffer;
  readonly end: Buffer;
}

/** Intersection of [start, end) with the region range (empty end = +inf on either side). */
export function clampRange(
  start: Buffer,
  end: Buffer,
  range: KeyRangeLimit | undefined,
): { start: Buffer; end: Buffer } {
  if (!range) return { start, end };
  const lo = Buffer.compare(start, range.start) >= 0 ? start : range.start;
  let hi = end;
  if (range.end.length > 0 && (hi.length === 0 || Buffer.compare(hi, range.end) > 0)) hi = range.end;
  return { start: lo, end: hi };
}

/** Lock-check settings of a read request. */
export function readOptions(ctx: Context | undefined, ts: bigint, keyOnly = false): ReadOptions {
  return {
    ts,
    isolation: ctx?.isolationLevel ?? IsolationLevel.SI,
    bypassLocks: new Set(ctx?.resolvedLocks ?? []),
    accessLocks: new Set(ctx?.committedLocks ?? []),
    keyOnly,
    replicaRead: ctx?.replicaRead ?? false,
  };
}

/** Reads at ts push max_ts (stale reads do not), as TiKV's prepare_snap_ctx does. */
export function trackRead(ec: EngineContext, ctx: Context | undefined, ts: bigint): void {
  if (!ctx?.staleRead) ec.store.maxTs.update(ts);
}

/** Applies a command's buffered writes and records what they tell about committed txns. */
export function applyTxn(
  ec: EngineContext,
  txn: MvccTxn,
  committed?: { startTs: bigint; commitTs: bigint },
): void {
  ec.store.write(txn);
  if (committed) ec.committed.insert(committed.startTs, committed.commitTs);
  if (txn.newLocks.length > 0 && ec.onNewLocks) {
    ec.onNewLocks(txn.newLocks.map(({ key, lock }) => lockRecordToLockInfo(lock, key)));
  }
}
