// Read helpers over the store, following tikv src/storage/mvcc/reader/reader.rs
// (load_lock, seek_write, get_write, get_txn_commit_record, scan_locks).
import { MvccError } from "./errors.js";
import { rawKey, type StoreKey, storeKey } from "./key.js";
import { firstAtOrBelow, type MvccStore } from "./store.js";
import {
  checkGcFenceAsLatestVersion,
  isSharedLocks,
  type Lock,
  type LockRecord,
  TS_MAX,
  type ValueVersion,
  type Write,
  type WriteVersion,
} from "./types.js";

/** Where a transaction's outcome was found on one key (tikv TxnCommitRecord). */
export type TxnCommitRecord =
  /** Not found; `overlappedWrite` is another txn's record whose commit_ts == our start_ts. */
  | { readonly kind: "none"; readonly overlappedWrite?: { write: Write; gcFence: bigint } | undefined }
  /** The txn's own Put/Delete/Lock/Rollback record. */
  | { readonly kind: "single"; readonly commitTs: bigint; readonly write: Write }
  /** The txn's rollback is merged into another txn's record at commit_ts == start_ts. */
  | { readonly kind: "overlappedRollback"; readonly commitTs: bigint };

const commitTsOf = (w: WriteVersion): bigint => w.commitTs;

/** A key with its lock, as returned by scanLocks (shared locks keep only the accepted holders). */
export interface KeyLock {
  readonly key: Buffer;
  readonly lock: LockRecord;
}

/** Point and range reads over the MVCC store. */
export class MvccReader {
  constructor(readonly store: MvccStore) {}

  /** The lock record on key (exclusive lock or shared locks), if any. */
  loadLock(key: Buffer): LockRecord | undefined {
    return this.store.lockCf.get(storeKey(key));
  }

  /** All write records of key, newest commit_ts first (do not mutate). */
  writesOf(key: Buffer | StoreKey): readonly WriteVersion[] {
    return this.store.writeCf.get(typeof key === "string" ? key : storeKey(key)) ?? [];
  }

  /** All default-CF values of key, newest start_ts first (do not mutate). */
  valuesOf(key: Buffer | StoreKey): readonly ValueVersion[] {
    return this.store.defaultCf.get(typeof key === "string" ? key : storeKey(key)) ?? [];
  }

  /** The newest write record of key with commit_ts <= ts, of any type. */
  seekWrite(key: Buffer | StoreKey, ts: bigint): WriteVersion | undefined {
    const list = this.writesOf(key);
    return list[firstAtOrBelow(list, ts, commitTsOf)];
  }

  /**
   * The newest Put visible at ts (skipping Lock / Rollback records; a Delete hides older
   * versions). `gcFenceLimit` (normally the read ts) rejects records rewritten by an
   * overlapped rollback whose newer version was already GC-ed.
   */
  getWrite(key: Buffer | StoreKey, ts: bigint, gcFenceLimit?: bigint): WriteVersion | undefined {
    const list = this.writesOf(key);
    for (let i = firstAtOrBelow(list, ts, commitTsOf); i < list.length; i++) {
      const v = list[i] as WriteVersion;
      if (gcFenceLimit !== undefined && !checkGcFenceAsLatestVersion(v.write, gcFenceLimit)) return undefined;
      if (v.write.writeType === "Put") return v;
      if (v.write.writeType === "Delete") return undefined;
    }
    return undefined;
  }

  /** The value of a Put record: its short value or the default-CF value at its start_ts. */
  loadData(key: Buffer | StoreKey, write: Write): Buffer {
    if (write.shortValue !== undefined) return write.shortValue;
    const v = this.getValue(key, write.startTs);
    if (v === undefined) {
      throw new MvccError({ kind: "DefaultNotFound", key: typeof key === "string" ? rawKey(key) : key });
    }
    return v;
  }

  /** The default-CF value written at startTs. */
  getValue(key: Buffer | StoreKey, startTs: bigint): Buffer | undefined {
    const list = this.valuesOf(key);
    const v = list[firstAtOrBelow(list, startTs, (e) => e.startTs)];
    return v !== undefined && v.startTs === startTs ? v.value : undefined;
  }

  /** The value of key visible at ts (no lock check). */
  get(key: Buffer | StoreKey, ts: bigint, gcFenceLimit?: bigint): Buffer | undefined {
    const w = this.getWrite(key, ts, gcFenceLimit);
    return w ? this.loadData(key, w.write) : undefined;
  }

  /** Whether key has a visible value at ts. */
  keyExist(key: Buffer | StoreKey, ts: bigint): boolean {
    return this.getWrite(key, ts) !== undefined;
  }

  /**
   * Finds the commit / rollback record of the txn started at startTs on key, scanning all
   * versions down to startTs (a pessimistic txn may commit after a newer txn did).
   */
  getTxnCommitRecord(key: Buffer | StoreKey, startTs: bigint): TxnCommitRecord {
    const list = this.writesOf(key);
    let gcFence = 0n;
    for (const { commitTs, write } of list) {
      if (write.startTs === startTs) return { kind: "single", commitTs, write };
      if (commitTs === startTs) {
        if (write.hasOverlappedRollback) return { kind: "overlappedRollback", commitTs };
        return { kind: "none", overlappedWrite: { write, gcFence } };
      }
      if (write.writeType === "Put" || write.writeType === "Delete") gcFence = commitTs;
      if (commitTs < startTs) break;
    }
    return { kind: "none" };
  }

  /**
   * Locks in [start, end) (end empty/undefined = +inf) accepted by filter, at most limit
   * (0 = unlimited). `hasMore` tells whether the limit cut the scan short. The filter sees each
   * holder of shared locks, which are returned with the accepted holders only; the limit
   * counts holders, and a shared record that would pass it keeps its oldest holders (tikv
   * scan_locks_from_storage).
   */
  scanLocks(
    start: Buffer | undefined,
    end: Buffer | undefined,
    filter: (key: Buffer, lock: Lock) => boolean,
    limit = 0,
  ): { locks: KeyLock[]; hasMore: boolean } {
    const hi = end === undefined || end.length === 0 ? undefined : storeKey(end);
    const locks: KeyLock[] = [];
    let count = 0;
    for (const [k, record] of this.store.lockCf.entries(start ? storeKey(start) : undefined)) {
      if (hi !== undefined && k >= hi) break;
      const key = rawKey(k);
      if (!isSharedLocks(record)) {
        if (!filter(key, record)) continue;
        if (limit > 0 && count >= limit) return { locks, hasMore: true };
        locks.push({ key, lock: record });
        count++;
        continue;
      }
      const accepted = record.locks.filter((l) => filter(key, l));
      if (accepted.length === 0) continue;
      if (limit > 0 && count >= limit) return { locks, hasMore: true };
      const room = limit > 0 ? limit - count : accepted.length;
      locks.push({ key, lock: { ...record, locks: accepted.slice(0, room) } });
      count += Math.min(room, accepted.length);
      if (accepted.length > room) return { locks, hasMore: true };
    }
    return { locks, hasMore: false };
  }
}

export { TS_MAX };

/** The lock on key as the command sees it: its own buffered change first, then the store. */
export function loadLockWithPending(
  txn: { pendingLock(key: Buffer): LockRecord | null | undefined },
  reader: MvccReader,
  key: Buffer,
): LockRecord | undefined {
  const pending = txn.pendingLock(key);
  if (pending === null) return undefined;
  return pending ?? reader.loadLock(key);
}
