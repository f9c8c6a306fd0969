// The in-memory storage under the txn engine: TiKV's three column families.
// Physically, write and default records are grouped per user key (newest first), which is
// the same order TiKV gets from encoding (key, !ts) in one RocksDB CF.
import { BTree, type BTreeMap } from "./btree.js";
import { rawKey, type StoreKey, storeKey } from "./key.js";
import { MaxTsTracker } from "./max-ts.js";
import type { MvccTxn } from "./txn.js";
import type { LockRecord, ReleasedLock, ValueVersion, Write, WriteVersion } from "./types.js";

/** Called after a batch of locks was removed by commit / rollback / resolve. */
export type LocksReleasedListener = (released: readonly ReleasedLock[]) => void;

/** Index of the first entry whose ts is <= ts in a list sorted by ts descending. */
export function firstAtOrBelow<T>(list: readonly T[], ts: bigint, tsOf: (e: T) => bigint): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tsOf(list[mid] as T) > ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const commitTsOf = (w: WriteVersion): bigint => w.commitTs;
const startTsOf = (v: ValueVersion): bigint => v.startTs;

function upsert<T>(list: T[], ts: bigint, entry: T, tsOf: (e: T) => bigint): void {
  const i = firstAtOrBelow(list, ts, tsOf);
  if (i < list.length && tsOf(list[i] as T) === ts) list[i] = entry;
  else list.splice(i, 0, entry);
}

function remove<T>(list: T[], ts: bigint, tsOf: (e: T) => bigint): void {
  const i = firstAtOrBelow(list, ts, tsOf);
  if (i < list.length && tsOf(list[i] as T) === ts) list.splice(i, 1);
}

/** The MVCC column families plus the engine-wide max_ts and lock-release hooks. */
export class MvccStore {
  /** lock CF: key -> an exclusive Lock or SharedLocks. */
  readonly lockCf: BTreeMap<StoreKey, LockRecord> = new BTree<StoreKey, LockRecord>();
  /** write CF: key -> versions sorted by commit_ts descending. */
  readonly writeCf: BTreeMap<StoreKey, WriteVersion[]> = new BTree<StoreKey, WriteVersion[]>();
  /** default CF: key -> values sorted by start_ts descending. */
  readonly defaultCf: BTreeMap<StoreKey, ValueVersion[]> = new BTree<StoreKey, ValueVersion[]>();
  /** max_ts of the concurrency manager (see MaxTsTracker). */
  readonly maxTs = new MaxTsTracker();
  private readonly releasedListeners: LocksReleasedListener[] = [];

  /** Registers a listener woken whenever locks are released; returns an unsubscribe function. */
  onLocksReleased(listener: LocksReleasedListener): () => void {
    this.releasedListeners.push(listener);
    return () => {
      const i = this.releasedListeners.indexOf(listener);
      if (i >= 0) this.releasedListeners.splice(i, 1);
    };
  }

  /** Applies a transaction's buffered writes atomically and notifies lock-release listeners. */
  write(txn: MvccTxn): void {
    for (const m of txn.modifies) {
      switch (m.cf) {
        case "lock":
          if (m.lock) this.lockCf.set(m.key, m.lock);
          else this.lockCf.delete(m.key);
          break;
        case "write":
          if (m.write) this.putWrite(m.key, m.ts, m.write);
          else this.deleteWrite(m.key, m.ts);
          break;
        case "default":
          if (m.value) this.putValue(m.key, m.ts, m.value);
          else this.deleteValue(m.key, m.ts);
          break;
      }
    }
    const released = txn.released;
    if (released.length > 0) this.emitReleased(released);
  }

  /** Notifies listeners that locks were released (also used by direct deletions). */
  emitReleased(released: readonly ReleasedLock[]): void {
    for (const l of [...this.releasedListeners]) {
      try {
        l(released);
      } catch {
        // A faulty waiter must not break the write path.
      }
    }
  }

  /** Writes a write-CF record at commitTs. */
  putWrite(key: StoreKey, commitTs: bigint, write: Write): void {
    let list = this.writeCf.get(key);
    if (!list) {
      list = [];
      this.writeCf.set(key, list);
    }
    upsert(list, commitTs, { commitTs, write }, commitTsOf);
  }

  /** Deletes the write-CF record at commitTs. */
  deleteWrite(key: StoreKey, commitTs: bigint): void {
    const list = this.writeCf.get(key);
    if (!list) return;
    remove(list, commitTs, commitTsOf);
    if (list.length === 0) this.writeCf.delete(key);
  }

  /** Writes a default-CF value at startTs. */
  putValue(key: StoreKey, startTs: bigint, value: Buffer): void {
    let list = this.defaultCf.get(key);
    if (!list) {
      list = [];
      this.defaultCf.set(key, list);
    }
    upsert(list, startTs, { startTs, value }, startTsOf);
  }

  /** Deletes the default-CF value at startTs. */
  deleteValue(key: StoreKey, startTs: bigint): void {
    const list = this.defaultCf.get(key);
    if (!list) return;
    remove(list, startTs, startTsOf);
    if (list.length === 0) this.defaultCf.delete(key);
  }

  /**
   * Physically removes every record of every CF in [start, end) (end empty = +inf), as
   * TiKV's delete_range / unsafe_destroy_range do. No lock-release notification.
   */
  destroyRange(start: Uint8Array, end: Uint8Array): void {
    const lo = storeKey(start);
    const hi = end.length === 0 ? undefined : storeKey(end);
    for (const cf of [this.lockCf, this.writeCf, this.defaultCf] as BTreeMap<StoreKey, unknown>[]) {
      if (hi === undefined) {
        const max = cf.maxKey();
        if (max !== undefined) cf.deleteRange(lo, max, true);
      } else if (lo < hi) {
        cf.deleteRange(lo, hi, false);
      }
    }
  }

  /** All user keys having any record in [start, end), ascending (for tests and debugging). */
  keysInRange(start: Uint8Array, end: Uint8Array): Buffer[] {
    const lo = storeKey(start);
    const hi = end.length === 0 ? undefined : storeKey(end);
    const set = new Set<StoreKey>();
    for (const cf of [this.lockCf, this.writeCf, this.defaultCf] as BTreeMap<StoreKey, unknown>[]) {
      for (const k of cf.keys(lo)) {
        if (hi !== undefined && k >= hi) break;
        set.add(k);
      }
    }
    return [...set].sort().map(rawKey);
  }
}
