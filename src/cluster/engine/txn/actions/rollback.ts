// Rolling back a key and deciding a txn's fate from its write records, following
// tikv src/storage/txn/actions/check_txn_status.rs (rollback_lock, collapse_prev_rollback,
// make_rollback, check_txn_status_missing_lock, check_determined_txn_status).
import { MvccError } from "../../mvcc/errors.js";
import type { MvccReader } from "../../mvcc/reader.js";
import type { MvccTxn } from "../../mvcc/txn.js";
import {
  isProtectedRollback,
  type Lock,
  newRollback,
  type SharedLocks,
  sharedLockOf,
  type Write,
  withoutSharedLock,
} from "../../mvcc/types.js";
import type { TxnStatus } from "./txn-status.js";

/** What to do when the expected lock is missing (tikv MissingLockAction). */
export type MissingLockAction = "Rollback" | "ProtectedRollback" | "ReturnError";

/** ProtectedRollback when rollbackIfNotExist, else ReturnError (check_txn_status's mapping). */
export function missingLockActionFor(rollbackIfNotExist: boolean): MissingLockAction {
  return rollbackIfNotExist ? "ProtectedRollback" : "ReturnError";
}

/**
 * The write record to put for a rollback at startTs. When another txn committed at
 * commit_ts == startTs, a protected rollback is merged into that record instead
 * (has_overlapped_rollback + gc_fence); an unprotected one is simply dropped.
 */
export function makeRollback(
  startTs: bigint,
  isProtected: boolean,
  overlapped: { write: Write; gcFence: bigint } | undefined,
): Write | undefined {
  if (overlapped) {
    return isProtected
      ? { ...overlapped.write, hasOverlappedRollback: true, gcFence: overlapped.gcFence }
      : undefined;
  }
  return newRollback(startTs, isProtected);
}

/** Deletes the newest unprotected Rollback at or below the txn's start_ts, keeping the CF small. */
export function collapsePrevRollback(txn: MvccTxn, reader: MvccReader, key: Buffer): void {
  const prev = reader.seekWrite(key, txn.startTs);
  if (prev && prev.write.writeType === "Rollback" && !isProtectedRollback(prev.write)) {
    txn.deleteWrite(key, prev.commitTs);
  }
}

/**
 * What a rollback of `startTs` on key finds before writing its record: its own rollback already
 * there, or the write its record may overlap (tikv get_txn_commit_record). A commit record means
 * a committed txn still holds a lock: TiKV panics there, we throw.
 */
function priorRecord(
  reader: MvccReader,
  key: Buffer,
  startTs: bigint,
): { rolledBack: true } | { rolledBack: false; overlapped: { write: Write; gcFence: bigint } | undefined } {
  const record = reader.getTxnCommitRecord(key, startTs);
  if (record.kind === "none") return { rolledBack: false, overlapped: record.overlappedWrite };
  if (record.kind === "single" && record.write.writeType !== "Rollback") {
    throw new MvccError({
      kind: "Other",
      message: `txn record found but not expected: start_ts ${startTs} commit_ts ${record.commitTs}`,
    });
  }
  return { rolledBack: true };
}

/** Removes the txn's lock on key and leaves a rollback record (protected on primaries / pipelined locks). */
export function rollbackLock(
  txn: MvccTxn,
  reader: MvccReader,
  key: Buffer,
  lock: Lock,
  isPessimisticTxn: boolean,
  collapseRollback: boolean,
): void {
  const prior = priorRecord(reader, key, txn.startTs);
  if (prior.rolledBack) {
    txn.unlockKey(key, isPessimisticTxn, 0n);
    return;
  }
  const overlapped = prior.overlapped;
  if (lock.shortValue === undefined && lock.lockType === "Put") txn.deleteValue(key, lock.startTs);
  const isProtected = key.equals(lock.primary) || lock.generation > 0n;
  const write = makeRollback(txn.startTs, isProtected, overlapped);
  if (write) txn.putWrite(key, txn.startTs, write);
  if (collapseRollback) collapsePrevRollback(txn, reader, key);
  txn.unlockKey(key, isPessimisticTxn, 0n);
}

/**
 * Removes the txn's sub-lock from the shared locks on key and leaves an unprotected rollback
 * record (a shared-locked key is never a primary); the key is released only when no holder
 * is left (tikv rollback_shared_lock).
 */
export function rollbackSharedLock(
  txn: MvccTxn,
  reader: MvccReader,
  key: Buffer,
  shared: SharedLocks,
  collapseRollback: boolean,
): void {
  const lock = sharedLockOf(shared, txn.startTs);
  if (!lock) return;
  const rest = withoutSharedLock(shared, txn.startTs);
  const leave = (): void => {
    if (rest.locks.length === 0) txn.unlockKey(key, true, 0n);
    else txn.putSharedLocks(key, rest, false);
  };
  const prior = priorRecord(reader, key, txn.startTs);
  if (prior.rolledBack) {
    leave();
    return;
  }
  const overlapped = prior.overlapped;
  // TiKV asserts (panics) here: shared locks are never on a primary nor pipelined.
  if (key.equals(lock.primary) || lock.generation > 0n) {
    throw new MvccError({
      kind: "Other",
      message: `shared lock of start_ts ${txn.startTs} on its primary key or with a generation`,
    });
  }
  const write = makeRollback(txn.startTs, false, overlapped);
  if (write) txn.putWrite(key, txn.startTs, write);
  if (collapseRollback) collapsePrevRollback(txn, reader, key);
  leave();
}

/** The txn's status if its commit or rollback record exists on key; undefined otherwise. Read-only. */
export function checkDeterminedTxnStatus(
  reader: MvccReader,
  key: Buffer,
  startTs: bigint,
): TxnStatus | undefined {
  const record = reader.getTxnCommitRecord(key, startTs);
  switch (record.kind) {
    case "single":
      return record.write.writeType === "Rollback"
        ? { kind: "RolledBack" }
        : { kind: "Committed", commitTs: record.commitTs };
    case "overlappedRollback":
      return { kind: "RolledBack" };
    case "none":
      return undefined;
  }
}

/**
 * The txn's lock on primaryKey is gone: report its commit / rollback record, or (depending
 * on action) fail with TxnNotFound or write a rollback record so a late prewrite fails.
 * `mismatchLock` is another txn's lock found on the key.
 */
export function checkTxnStatusMissingLock(
  txn: MvccTxn,
  reader: MvccReader,
  primaryKey: Buffer,
  mismatchLock: Lock | undefined,
  action: MissingLockAction,
  resolvingPessimisticLock: boolean,
): TxnStatus {
  const record = reader.getTxnCommitRecord(primaryKey, txn.startTs);
  if (record.kind === "single") {
    return record.write.writeType === "Rollback"
      ? { kind: "RolledBack" }
      : { kind: "Committed", commitTs: record.commitTs };
  }
  if (record.kind === "overlappedRollback") return { kind: "RolledBack" };
  if (action === "ReturnError") {
    throw new MvccError({ kind: "TxnNotFound", startTs: txn.startTs, key: primaryKey });
  }
  if (resolvingPessimisticLock) return { kind: "LockNotExistDoNothing" };
  if (action === "Rollback") collapsePrevRollback(txn, reader, primaryKey);
  if (mismatchLock && record.overlappedWrite === undefined) {
    txn.markRollbackOnMismatchingLock(primaryKey, mismatchLock, action === "ProtectedRollback");
  }
  const write = makeRollback(txn.startTs, action === "ProtectedRollback", record.overlappedWrite);
  if (write) txn.putWrite(primaryKey, txn.startTs, write);
  return { kind: "LockNotExist" };
}
