// Snapshot reads with lock checks, following tikv components/txn_types/src/lock.rs
// (check_ts_conflict), src/storage/mvcc/reader/point_getter.rs and scanner/{forward,backward}.rs.
import { IsolationLevel, WriteConflict_Reason } from "../../../../proto/kvrpcpb.js";
import { MvccError } from "../../mvcc/errors.js";
import { rawKey, type StoreKey, storeKey } from "../../mvcc/key.js";
import type { MvccReader } from "../../mvcc/reader.js";
import {
  isPessimisticLock,
  isSharedLocks,
  type Lock,
  type LockRecord,
  lockToLockInfo,
  TS_MAX,
} from "../../mvcc/types.js";

/** How a read treats locks. */
export interface ReadOptions {
  readonly ts: bigint;
  readonly isolation: IsolationLevel;
  /** context.resolved_locks: locks of these txns are known rolled back / pushed; ignore them. */
  readonly bypassLocks: ReadonlySet<bigint>;
  /** context.committed_locks: these txns are known committed; read through their locks. */
  readonly accessLocks: ReadonlySet<bigint>;
  readonly keyOnly?: boolean;
  /** Follower / replica read: a read at ts = max may not skip the primary lock. */
  readonly replicaRead?: boolean;
}

/** A value read, with its commit ts when known (0n when read through a committed lock). */
export interface ReadValue {
  readonly value: Buffer;
  readonly commitTs: bigint;
}

/** SI and RCCheckTS check locks; plain RC ignores them. */
export function needCheckLocks(iso: IsolationLevel): boolean {
  return iso === IsolationLevel.SI || iso === IsolationLevel.RCCheckTS;
}

/**
 * Throws when the lock blocks a read at ts. SI: Put/Delete locks with start_ts <= ts whose
 * min_commit_ts <= ts block, unless bypassed; at ts == max the primary of a non-async,
 * non-1PC txn is ignored. RCCheckTS: any Put/Delete lock is a RcCheckTs write conflict.
 * Shared locks never block reads (their holders only lock, never write).
 */
export function checkTsConflict(
  lock: LockRecord,
  key: Buffer,
  ts: bigint,
  bypass: ReadonlySet<bigint>,
  iso: IsolationLevel,
  replicaRead = false,
): void {
  if (isSharedLocks(lock)) return;
  if (iso === IsolationLevel.SI) {
    if (lock.startTs > ts || lock.lockType === "Lock" || isPessimisticLock(lock)) return;
    if (lock.minCommitTs > ts) return;
    if (bypass.has(lock.startTs)) return;
    // Autocommit point gets read the latest version at ts = max and may skip a 2PC primary,
    // but not on a replica (linearizability, tidb#43583).
    if (ts === TS_MAX && !replicaRead && key.equals(lock.primary) && !lock.useAsyncCommit && !lock.useOnePc)
      return;
    throw new MvccError({ kind: "KeyIsLocked", lockInfo: lockToLockInfo(lock, key) });
  }
  if (iso === IsolationLevel.RCCheckTS) {
    if (lock.lockType === "Lock" || isPessimisticLock(lock)) return;
    if (bypass.has(lock.startTs)) return;
    throw new MvccError({
      kind: "WriteConflict",
      startTs: ts,
      conflictStartTs: lock.startTs,
      conflictCommitTs: 0n,
      key,
      primary: lock.primary,
      reason: WriteConflict_Reason.RcCheckTs,
    });
  }
}

/** Value written by a lock of a txn known to be committed (Put) or undefined (Delete). */
function readThroughLock(
  reader: MvccReader,
  key: Buffer,
  lock: Lock,
  keyOnly: boolean,
): ReadValue | undefined {
  if (lock.lockType === "Delete") return undefined;
  if (keyOnly) return { value: Buffer.alloc(0), commitTs: 0n };
  if (lock.shortValue !== undefined) return { value: lock.shortValue, commitTs: 0n };
  const value = reader.getValue(key, lock.startTs);
  if (value === undefined) throw new MvccError({ kind: "DefaultNotFound", key });
  return { value, commitTs: 0n };
}

/**
 * Reads key at opts.ts: lock check first (per isolation), then the newest visible Put.
 * With loadCommitTs, committed_locks are not read through (the commit ts would be unknown).
 */
export function pointGet(
  reader: MvccReader,
  key: Buffer,
  opts: ReadOptions,
  loadCommitTs: boolean,
): ReadValue | undefined {
  return readKey(reader, storeKey(key), key, opts, !loadCommitTs);
}

function loadVisible(
  reader: MvccReader,
  sk: StoreKey,
  key: Buffer,
  opts: ReadOptions,
): ReadValue | undefined {
  if (opts.isolation === IsolationLevel.RCCheckTS) {
    const newest = reader.writesOf(sk)[0];
    if (newest && newest.commitTs > opts.ts) {
      throw new MvccError({
        kind: "WriteConflict",
        startTs: opts.ts,
        conflictStartTs: 0n,
        conflictCommitTs: newest.commitTs,
        key,
        primary: Buffer.alloc(0),
        reason: WriteConflict_Reason.RcCheckTs,
      });
    }
  }
  const found = reader.getWrite(sk, opts.ts, opts.ts);
  if (!found) return undefined;
  if (opts.keyOnly) return { value: Buffer.alloc(0), commitTs: found.commitTs };
  return { value: reader.loadData(sk, found.write), commitTs: found.commitTs };
}

/** One scan result: a pair, or the error for a key whose lock blocks the read. */
export type ScanEntry = { key: Buffer; value: Buffer; commitTs: bigint } | { key: Buffer; error: MvccError };

/**
 * Scans user keys in [lower, upper) (upper empty = +inf), ascending or descending, returning at
 * most `limit` entries (locked keys count, as in TiKV). sampleStep > 0 keeps one key in N.
 */
export function scanRange(
  reader: MvccReader,
  lower: Buffer,
  upper: Buffer,
  desc: boolean,
  limit: number,
  sampleStep: number,
  opts: ReadOptions,
): ScanEntry[] {
  const out: ScanEntry[] = [];
  if (limit <= 0) return out;
  const lo = storeKey(lower);
  const hi = upper.length === 0 ? undefined : storeKey(upper);
  if (hi !== undefined && lo >= hi) return out;
  const checkLocks = needCheckLocks(opts.isolation);
  let rows = 0;
  for (const sk of userKeys(reader, lo, hi, desc, checkLocks)) {
    const key = rawKey(sk);
    let entry: ReadValue | undefined;
    try {
      entry = readKey(reader, sk, key, opts, true);
    } catch (e) {
      if (e instanceof MvccError && e.inner.kind === "KeyIsLocked") {
        out.push({ key, error: e });
        if (out.length >= limit) break;
        continue;
      }
      throw e;
    }
    if (!entry) continue;
    if (sampleStep > 0) {
      rows++;
      if ((rows - 1) % sampleStep !== 0) continue;
    }
    out.push({ key, value: entry.value, commitTs: entry.commitTs });
    if (out.length >= limit) break;
  }
  return out;
}

function readKey(
  reader: MvccReader,
  sk: StoreKey,
  key: Buffer,
  opts: ReadOptions,
  readThroughCommitted: boolean,
): ReadValue | undefined {
  if (needCheckLocks(opts.isolation)) {
    const lock = reader.store.lockCf.get(sk);
    if (lock && !isSharedLocks(lock)) {
      try {
        checkTsConflict(lock, key, opts.ts, opts.bypassLocks, opts.isolation, opts.replicaRead);
      } catch (e) {
        if (readThroughCommitted && opts.accessLocks.has(lock.startTs)) {
          return readThroughLock(reader, key, lock, opts.keyOnly ?? false);
        }
        throw e;
      }
    }
  }
  return loadVisible(reader, sk, key, opts);
}

/** Distinct user keys having a write record (or a lock, when locks matter) in [lo, hi). */
function* userKeys(
  reader: MvccReader,
  lo: StoreKey,
  hi: StoreKey | undefined,
  desc: boolean,
  withLocks: boolean,
): Generator<StoreKey> {
  const writes = desc ? descKeys(reader.store.writeCf, lo, hi) : ascKeys(reader.store.writeCf, lo, hi);
  if (!withLocks) {
    yield* writes;
    return;
  }
  const locks = desc ? descKeys(reader.store.lockCf, lo, hi) : ascKeys(reader.store.lockCf, lo, hi);
  let a = writes.next();
  let b = locks.next();
  while (!a.done || !b.done) {
    if (b.done || (!a.done && (desc ? a.value > b.value : a.value < b.value))) {
      yield a.value as StoreKey;
      a = writes.next();
    } else if (a.done || a.value !== b.value) {
      yield b.value;
      b = locks.next();
    } else {
      yield a.value;
      a = writes.next();
      b = locks.next();
    }
  }
}

interface KeyedTree {
  keys(from?: StoreKey): IterableIterator<StoreKey>;
  entriesReversed(
    highest?: StoreKey,
    reuse?: undefined,
    skipHighest?: boolean,
  ): IterableIterator<[StoreKey, unknown]>;
}

function* ascKeys(tree: KeyedTree, lo: StoreKey, hi: StoreKey | undefined): Generator<StoreKey> {
  for (const k of tree.keys(lo)) {
    if (hi !== undefined && k >= hi) return;
    yield k;
  }
}

function* descKeys(tree: KeyedTree, lo: StoreKey, hi: StoreKey | undefined): Generator<StoreKey> {
  const it = hi === undefined ? tree.entriesReversed() : tree.entriesReversed(hi, undefined, true);
  for (const [k] of it) {
    if (hi !== undefined && k >= hi) continue;
    if (k < lo) return;
    yield k;
  }
}
