// Acquiring one pessimistic lock (exclusive or shared) on one key.
// Semantics follow tikv src/storage/txn/actions/acquire_pessimistic_lock.rs (old values for
// CDC are not modelled) and src/storage/txn/actions/check_data_constraint.rs.
import { WriteConflict_Reason } from "../../../../proto/kvrpcpb.js";
import {
  checkGcFenceAsLatestVersion,
  isPessimisticLock,
  isSharedLocks,
  type Lock,
  lockToLockInfo,
  MvccError,
  type MvccReader,
  type MvccStore,
  type MvccTxn,
  newLock,
  newSharedLocks,
  type SharedLocks,
  sharedLockOf,
  sharedLocksToLockInfo,
  TS_MAX,
  type Write,
  withSharedLock,
} from "../../mvcc/index.js";

/** Per-request parameters of an AcquirePessimisticLock command. */
export interface AcquireParams {
  readonly primary: Buffer;
  readonly startTs: bigint;
  readonly lockTtl: bigint;
  readonly forUpdateTs: bigint;
  /** return_values: report each key's value. */
  readonly needValue: boolean;
  /** check_existence: report whether each key exists. */
  readonly needCheckExistence: boolean;
  readonly minCommitTs: bigint;
  readonly lockOnlyIfExists: boolean;
  /** WakeUpModeForceLock: lock despite newer writes (LockedWithConflict). */
  readonly allowLockWithConflict: boolean;
}

/** Outcome of locking one key (tikv PessimisticLockKeyResult, minus Waiting / Failed). */
export type KeyLockResult =
  | { readonly kind: "empty" }
  | { readonly kind: "value"; readonly value: Buffer | undefined }
  | { readonly kind: "existence"; readonly exists: boolean }
  | { readonly kind: "lockedWithConflict"; readonly value: Buffer | undefined; readonly conflictTs: bigint };

function successResult(
  p: AcquireParams,
  lockedWithConflictTs: bigint | undefined,
  value: Buffer | undefined,
): KeyLockResult {
  if (lockedWithConflictTs !== undefined)
    return { kind: "lockedWithConflict", value, conflictTs: lockedWithConflictTs };
  if (p.needValue) return { kind: "value", value };
  if (p.needCheckExistence) return { kind: "existence", exists: value !== undefined };
  return { kind: "empty" };
}

function isRollbackOf(write: Write): boolean {
  return write.writeType === "Rollback" || write.hasOverlappedRollback;
}

function writeConflict(
  p: AcquireParams,
  key: Buffer,
  conflictStartTs: bigint,
  conflictCommitTs: bigint,
): MvccError {
  return new MvccError({
    kind: "WriteConflict",
    startTs: p.startTs,
    conflictStartTs,
    conflictCommitTs,
    key,
    primary: p.primary,
    reason: WriteConflict_Reason.PessimisticRetry,
  });
}

/**
 * Throws AlreadyExist when `shouldNotExist` and `write` (the latest version, committed at
 * `commitTs`) shows the key exists (tikv check_data_constraint).
 */
export function checkDataConstraint(
  reader: MvccReader,
  shouldNotExist: boolean,
  write: Write,
  commitTs: bigint,
  key: Buffer,
  startTs: bigint,
): void {
  const fenced = write.gcFence !== undefined && write.gcFence !== 0n;
  if (!shouldNotExist || write.writeType === "Delete" || fenced) return;
  let existingStartTs: bigint | undefined;
  if (write.writeType === "Put") existingStartTs = write.startTs;
  else existingStartTs = reader.getWrite(key, commitTs - 1n, startTs)?.write.startTs;
  if (existingStartTs !== undefined) throw new MvccError({ kind: "AlreadyExist", key, existingStartTs });
}

const EMPTY = Buffer.alloc(0);

/**
 * Locks `key` for the transaction, exclusively or (`shared`) alongside other shared holders,
 * buffering the lock in `txn`. Throws MvccError: KeyIsLocked when the key is locked in a way
 * that conflicts (the caller decides whether to wait), NotInShrinkMode when an exclusive
 * request meets shared locks that still admit new holders. A txn cannot turn its shared lock
 * into an exclusive one or the reverse: it meets its own lock as a conflict.
 */
export function acquirePessimisticLock(
  store: MvccStore,
  reader: MvccReader,
  txn: MvccTxn,
  key: Buffer,
  shouldNotExist: boolean,
  p: AcquireParams,
  shared = false,
): KeyLockResult {
  if (p.lockOnlyIfExists && !p.needValue) {
    throw new MvccError({ kind: "LockIfExistsFailed", startTs: p.startTs, key });
  }
  // Anything that reads the key at for_update_ts must push max_ts (linearizability).
  if (shouldNotExist || p.needValue || p.needCheckExistence) store.maxTs.update(p.forUpdateTs);

  const current = reader.loadLock(key);
  let joining: SharedLocks | undefined;
  if (current && !isSharedLocks(current)) {
    if (!shared) return lockAgain(reader, txn, key, shouldNotExist, p, current);
    throw new MvccError({ kind: "KeyIsLocked", lockInfo: lockToLockInfo(current, key) });
  }
  if (current) {
    if (!shared) {
      if (!current.shrinkOnly) throw new MvccError({ kind: "NotInShrinkMode", sharedLocks: current });
      throw new MvccError({ kind: "KeyIsLocked", lockInfo: sharedLocksToLockInfo(current, key) });
    }
    if (sharedLockOf(current, p.startTs)) return sharedLockAgain(txn, key, p, current);
    if (current.shrinkOnly)
      throw new MvccError({ kind: "KeyIsLocked", lockInfo: sharedLocksToLockInfo(current, key) });
    joining = current;
  }

  let forUpdateTs = p.forUpdateTs;
  let needLoadValue = p.needValue;
  let conflict: { startTs: bigint; commitTs: bigint } | undefined;
  let value: Buffer | undefined;
  const latest = reader.seekWrite(key, TS_MAX);
  if (latest) {
    const { commitTs, write } = latest;
    // Pessimistic txns read at for_update_ts: a newer commit means the statement must retry.
    if (commitTs > forUpdateTs) {
      if (!p.allowLockWithConflict) throw writeConflict(p, key, write.startTs, commitTs);
      conflict = { startTs: write.startTs, commitTs };
      forUpdateTs = commitTs;
      needLoadValue = true;
    }
    if (commitTs === p.startTs && isRollbackOf(write)) {
      throw new MvccError({ kind: "PessimisticLockRolledBack", startTs: p.startTs, key });
    }
    if (commitTs > p.startTs) {
      const older = reader.seekWrite(key, p.startTs);
      if (older && older.commitTs === p.startTs && isRollbackOf(older.write)) {
        throw new MvccError({ kind: "PessimisticLockRolledBack", startTs: p.startTs, key });
      }
    }
    try {
      checkDataConstraint(reader, shouldNotExist, write, commitTs, key, p.startTs);
    } catch (e) {
      // With a conflict the existence may be stale: ask the client to retry instead.
      if (conflict && e instanceof MvccError && e.inner.kind === "AlreadyExist") {
        throw writeConflict(p, key, conflict.startTs, conflict.commitTs);
      }
      throw e;
    }
    if (p.needValue || p.needCheckExistence || conflict) {
      if (write.writeType === "Put" && checkGcFenceAsLatestVersion(write, p.startTs)) {
        value = needLoadValue ? reader.loadData(key, write) : EMPTY;
      } else if (write.writeType === "Lock" || write.writeType === "Rollback") {
        const older = reader.getWrite(key, commitTs - 1n, p.startTs);
        if (older) value = needLoadValue ? reader.loadData(key, older.write) : EMPTY;
      }
    }
  }

  const lock = newLock({
    lockType: "Pessimistic",
    primary: p.primary,
    startTs: p.startTs,
    ttl: p.lockTtl,
    forUpdateTs,
    minCommitTs: p.minCommitTs,
    isLockedWithConflict: conflict !== undefined,
  });
  if (shared) {
    // Shared locks are taken even with lock_only_if_exists (as TiKV does).
    txn.putSharedLocks(key, withSharedLock(joining ?? newSharedLocks(), lock), joining === undefined);
  } else if (!p.lockOnlyIfExists || value !== undefined) {
    txn.putLock(key, lock, true);
  } else if (conflict) {
    throw writeConflict(p, key, conflict.startTs, conflict.commitTs);
  }
  return successResult(p, conflict?.commitTs, value);
}

/**
 * The txn already holds a shared lock on key (tikv handle_existing_shared_lock): a retry only
 * raises for_update_ts; no value is read (return_values reports not-found, check_existence
 * reports absent).
 */
function sharedLockAgain(txn: MvccTxn, key: Buffer, p: AcquireParams, shared: SharedLocks): KeyLockResult {
  const own = sharedLockOf(shared, p.startTs) as Lock;
  if (p.forUpdateTs > own.forUpdateTs) {
    const lock = newLock({
      lockType: "Pessimistic",
      primary: p.primary,
      startTs: p.startTs,
      ttl: p.lockTtl,
      forUpdateTs: p.forUpdateTs,
      minCommitTs: p.minCommitTs,
      isLockedWithConflict: own.isLockedWithConflict,
    });
    txn.putSharedLocks(key, withSharedLock(shared, lock), false);
  }
  return successResult(p, undefined, undefined);
}

/** The key is already locked: by another txn (KeyIsLocked) or by this one (idempotent retry). */
function lockAgain(
  reader: MvccReader,
  txn: MvccTxn,
  key: Buffer,
  shouldNotExist: boolean,
  p: AcquireParams,
  lock: Lock,
): KeyLockResult {
  if (lock.startTs !== p.startTs)
    throw new MvccError({ kind: "KeyIsLocked", lockInfo: lockToLockInfo(lock, key) });
  if (!isPessimisticLock(lock)) {
    throw new MvccError({ kind: "LockTypeNotMatch", startTs: p.startTs, key, pessimistic: false });
  }
  let forUpdateTs = p.forUpdateTs;
  let needLoadValue = p.needValue;
  let lockedWithConflictTs: bigint | undefined;
  if (p.allowLockWithConflict && forUpdateTs < lock.forUpdateTs) {
    needLoadValue = true;
    forUpdateTs = lock.forUpdateTs;
    lockedWithConflictTs = lock.forUpdateTs;
  }
  let value: Buffer | undefined;
  if (needLoadValue || p.needCheckExistence || shouldNotExist) {
    const found = reader.getWrite(key, forUpdateTs, p.startTs);
    if (found) {
      try {
        checkDataConstraint(reader, shouldNotExist, found.write, found.commitTs, key, p.startTs);
      } catch (e) {
        if (e instanceof MvccError && e.inner.kind === "AlreadyExist" && found.commitTs > p.forUpdateTs) {
          throw writeConflict(p, key, found.write.startTs, found.commitTs);
        }
        throw e;
      }
      if (needLoadValue) value = reader.loadData(key, found.write);
      else if (p.needCheckExistence) value = EMPTY;
    }
  }
  if (forUpdateTs > lock.forUpdateTs) {
    txn.putLock(
      key,
      { ...lock, primary: p.primary, ttl: p.lockTtl, forUpdateTs, minCommitTs: p.minCommitTs },
      false,
    );
  }
  return successResult(p, lockedWithConflictTs, value);
}
