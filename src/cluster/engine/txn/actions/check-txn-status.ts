// Semantics follow tikv src/storage/txn/actions/check_txn_status.rs
// (check_txn_status_lock_exists, check_txn_status_from_pessimistic_primary_lock).
import { MvccError } from "../../mvcc/errors.js";
import type { MvccReader } from "../../mvcc/reader.js";
import type { MvccTxn } from "../../mvcc/txn.js";
import { isPessimisticLock, type Lock, lockToLockInfo } from "../../mvcc/types.js";
import {
  checkDeterminedTxnStatus,
  checkTxnStatusMissingLock,
  missingLockActionFor,
  rollbackLock,
} from "./rollback.js";
import { isMaxTs, lockExpired } from "./ts.js";
import type { TxnStatus } from "./txn-status.js";

/** Parameters of a CheckTxnStatus on a primary whose lock (of this txn) exists. */
export interface CheckLockExistsParams {
  readonly currentTs: bigint;
  readonly callerStartTs: bigint;
  readonly forceSyncCommit: boolean;
  readonly resolvingPessimisticLock: boolean;
  readonly verifyIsPrimary: boolean;
  readonly rollbackIfNotExist: boolean;
}

/** Status decided by a primary pessimistic lock, or undefined when the lock is still valid. */
function fromPessimisticPrimaryLock(
  txn: MvccTxn,
  reader: MvccReader,
  primaryKey: Buffer,
  lock: Lock,
  currentTs: bigint,
  resolvingPessimisticLock: boolean,
): TxnStatus | undefined {
  // A lock acquired in force-lock mode may be stale: the write CF decides first.
  if (lock.isLockedWithConflict) {
    const determined = checkDeterminedTxnStatus(reader, primaryKey, txn.startTs);
    if (determined) {
      txn.unlockKey(primaryKey, true, 0n);
      return determined;
    }
  }
  if (lockExpired(lock.startTs, lock.ttl, currentTs)) {
    if (resolvingPessimisticLock) {
      txn.unlockKey(primaryKey, true, 0n);
      return { kind: "PessimisticRollBack" };
    }
    rollbackLock(txn, reader, primaryKey, lock, true, true);
    return { kind: "TtlExpire" };
  }
  return undefined;
}

/** CheckTxnStatus when the primary key holds this txn's lock. */
export function checkTxnStatusLockExists(
  txn: MvccTxn,
  reader: MvccReader,
  primaryKey: Buffer,
  lockIn: Lock,
  p: CheckLockExistsParams,
): TxnStatus {
  let lock = lockIn;
  if (p.verifyIsPrimary && !primaryKey.equals(lock.primary)) {
    if (!p.resolvingPessimisticLock && isPessimisticLock(lock)) {
      // A stale pessimistic lock on a key that is not the txn's primary any more.
      const status = checkTxnStatusMissingLock(
        txn,
        reader,
        primaryKey,
        undefined,
        missingLockActionFor(p.rollbackIfNotExist),
        p.resolvingPessimisticLock,
      );
      txn.unlockKey(primaryKey, true, 0n);
      return status;
    }
    throw new MvccError({ kind: "PrimaryMismatch", lockInfo: lockToLockInfo(lock, primaryKey) });
  }

  // Async-commit locks are resolved by ResolveLock, never rolled back or pushed here.
  if (lock.useAsyncCommit && !p.forceSyncCommit) {
    return { kind: "Uncommitted", lock, minCommitTsPushed: false };
  }

  const isPessimisticTxn = lock.forUpdateTs !== 0n;
  if (isPessimisticLock(lock)) {
    const decided = fromPessimisticPrimaryLock(
      txn,
      reader,
      primaryKey,
      lock,
      p.currentTs,
      p.resolvingPessimisticLock,
    );
    if (decided) return decided;
  } else if (lockExpired(lock.startTs, lock.ttl, p.currentTs)) {
    rollbackLock(txn, reader, primaryKey, lock, isPessimisticTxn, true);
    return { kind: "TtlExpire" };
  }

  // Push min_commit_ts past the caller so its read is not blocked; min_commit_ts == 0 means
  // an old-style txn whose commit_ts must not be constrained.
  if (lock.minCommitTs !== 0n && !isMaxTs(p.callerStartTs) && p.callerStartTs >= lock.minCommitTs) {
    let minCommitTs = p.callerStartTs + 1n;
    if (minCommitTs < p.currentTs) minCommitTs = p.currentTs;
    lock = { ...lock, minCommitTs };
    txn.putLock(primaryKey, lock, false);
  }

  const minCommitTsPushed =
    (p.callerStartTs !== 0n && lock.minCommitTs > p.callerStartTs) || isMaxTs(p.callerStartTs);
  return { kind: "Uncommitted", lock, minCommitTsPushed };
}
