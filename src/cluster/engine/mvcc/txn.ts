// A write buffer in the spirit of tikv src/storage/mvcc/txn.rs (MvccTxn): commands read
// the store, buffer their modifications here, and the engine applies the buffer only if
// the command as a whole succeeds (MvccStore.write).
import { type StoreKey, storeKey } from "./key.js";
import type { Lock, LockRecord, ReleasedLock, SharedLocks, Write } from "./types.js";

/** One buffered modification of a column family (undefined payload = delete). */
export type Modify =
  | { readonly cf: "lock"; readonly key: StoreKey; readonly lock: LockRecord | undefined }
  | { readonly cf: "write"; readonly key: StoreKey; readonly ts: bigint; readonly write: Write | undefined }
  | {
      readonly cf: "default";
      readonly key: StoreKey;
      readonly ts: bigint;
      readonly value: Buffer | undefined;
    };

/** A 1PC lock kept aside instead of being written (tikv locks_for_1pc). */
export interface OnePcLock {
  readonly key: Buffer;
  readonly lock: Lock;
  /** The key had a pessimistic lock that must be removed when the 1PC write lands. */
  readonly removePessimisticLock: boolean;
}

/** Buffered writes of one command on behalf of one transaction (start_ts). */
export class MvccTxn {
  readonly modifies: Modify[] = [];
  readonly released: ReleasedLock[] = [];
  readonly locksFor1pc: OnePcLock[] = [];
  /** Locks newly created by this command (not updates of existing ones). */
  readonly newLocks: { key: Buffer; lock: LockRecord }[] = [];
  /** Latest buffered lock change per key (null = deleted), for pendingLock. */
  private readonly lockChanges = new Map<StoreKey, LockRecord | null>();

  /**
   * `startTs` is the txn the buffered changes are made for; resolve-lock moves it from lock to
   * lock within one batch (as TiKV sets txn.start_ts), so several txns' sub-locks of one key
   * see each other's pending changes.
   */
  constructor(public startTs: bigint) {}

  /** True when nothing is buffered. */
  get isEmpty(): boolean {
    return this.modifies.length === 0 && this.locksFor1pc.length === 0;
  }

  /** Writes a lock; `isNew` when the key had no lock before. */
  putLock(key: Buffer, lock: Lock, isNew = false): void {
    if (isNew) this.newLocks.push({ key, lock });
    const sk = storeKey(key);
    this.modifies.push({ cf: "lock", key: sk, lock });
    this.lockChanges.set(sk, lock);
  }

  /**
   * Writes the shared locks of key; `isNew` when the key had no lock before (then they are
   * reported to lock waiters as a new lock, tikv put_shared_locks).
   */
  putSharedLocks(key: Buffer, shared: SharedLocks, isNew: boolean): void {
    if (isNew) this.newLocks.push({ key, lock: shared });
    const sk = storeKey(key);
    this.modifies.push({ cf: "lock", key: sk, lock: shared });
    this.lockChanges.set(sk, shared);
  }

  /** Keeps a 1PC lock aside; it becomes a write on commit of the 1PC prewrite. */
  putLockFor1pc(key: Buffer, lock: Lock, removePessimisticLock: boolean): void {
    this.locksFor1pc.push({ key, lock, removePessimisticLock });
  }

  /**
   * Removes the lock on key and records it as released (commitTs 0n for a rollback), so
   * waiters in the lock-wait queue can be woken.
   */
  unlockKey(key: Buffer, pessimistic: boolean, commitTs: bigint): void {
    const sk = storeKey(key);
    this.modifies.push({ cf: "lock", key: sk, lock: undefined });
    this.lockChanges.set(sk, null);
    this.released.push({ key, startTs: this.startTs, commitTs, pessimistic });
  }

  /** Writes a default-CF value at ts (a start_ts). */
  putValue(key: Buffer, ts: bigint, value: Buffer): void {
    this.modifies.push({ cf: "default", key: storeKey(key), ts, value });
  }

  /** Deletes the default-CF value at ts. */
  deleteValue(key: Buffer, ts: bigint): void {
    this.modifies.push({ cf: "default", key: storeKey(key), ts, value: undefined });
  }

  /** Writes a write-CF record at ts (a commit_ts, or the start_ts for rollbacks). */
  putWrite(key: Buffer, ts: bigint, write: Write): void {
    this.modifies.push({ cf: "write", key: storeKey(key), ts, write });
  }

  /** Deletes the write-CF record at ts. */
  deleteWrite(key: Buffer, ts: bigint): void {
    this.modifies.push({ cf: "write", key: storeKey(key), ts, write: undefined });
  }

  /**
   * When a protected rollback is written on a key locked by another async-commit txn
   * that could still commit at a ts equal to our start_ts, remember our start_ts in that
   * lock so its commit keeps the rollback (tikv MvccTxn::mark_rollback_on_mismatching_lock).
   */
  markRollbackOnMismatchingLock(key: Buffer, lock: Lock, isProtected: boolean): void {
    if (!isProtected) return;
    if (this.startTs < lock.minCommitTs) return;
    if (!lock.useAsyncCommit) return;
    this.putLock(key, { ...lock, rollbackTs: [...lock.rollbackTs, this.startTs] }, false);
  }

  /**
   * The lock this buffer will leave on key: undefined when the buffer does not touch the
   * key's lock, null when it deletes it. Lets a command that visits one key twice see its
   * own earlier change (tikv MvccTxn::get_pending_lock_bytes).
   */
  pendingLock(key: Buffer): LockRecord | null | undefined {
    return this.lockChanges.get(storeKey(key));
  }

  /** Drops everything buffered. */
  clear(): void {
    this.modifies.length = 0;
    this.released.length = 0;
    this.locksFor1pc.length = 0;
    this.newLocks.length = 0;
    this.lockChanges.clear();
  }
}
