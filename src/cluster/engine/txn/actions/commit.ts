// Semantics follow tikv src/storage/txn/actions/commit.rs.
import { CommitRole } from "../../../../proto/kvrpcpb.js";
import { MvccError } from "../../mvcc/errors.js";
import { mvccInfoOf } from "../../mvcc/mvcc-info.js";
import { loadLockWithPending, type MvccReader } from "../../mvcc/reader.js";
import type { MvccTxn } from "../../mvcc/txn.js";
import {
  isPessimisticTxn,
  isSharedLocks,
  type Lock,
  newWrite,
  type SharedLocks,
  sharedLockOf,
  type Write,
  withoutSharedLock,
  writeTypeFromLockType,
} from "../../mvcc/types.js";

/**
 * Commits the txn (txn.startTs) on key at commitTs. Idempotent when the key is already
 * committed by this txn; TxnLockNotFound when the lock is gone and the txn was rolled back
 * or left no record; CommitTsExpired below the lock's min_commit_ts. A leftover pessimistic
 * lock is removed rather than committed. On shared locks only the txn's own sub-lock is
 * committed; the key stays locked while other holders remain.
 */
export function commit(
  txn: MvccTxn,
  reader: MvccReader,
  key: Buffer,
  commitTs: bigint,
  role: CommitRole = CommitRole.Unknown,
): void {
  const record = loadLockWithPending(txn, reader, key);
  let lock: Lock | undefined;
  let rest: SharedLocks | undefined;
  if (record && isSharedLocks(record)) {
    lock = sharedLockOf(record, txn.startTs);
    if (lock) rest = withoutSharedLock(record, txn.startTs);
  } else if (record && record.startTs === txn.startTs) {
    lock = record;
  }
  if (!lock) {
    const found = reader.getTxnCommitRecord(key, txn.startTs);
    if (found.kind === "single" && found.write.writeType !== "Rollback") return;
    // A secondary must still be locked when committed: attach the key's MVCC state for debugging.
    const mvccInfo = role === CommitRole.Secondary ? mvccInfoOf(reader, key, false) : undefined;
    throw new MvccError({ kind: "TxnLockNotFound", startTs: txn.startTs, commitTs, key, mvccInfo });
  }
  if (commitTs < lock.minCommitTs) {
    throw new MvccError({
      kind: "CommitTsExpired",
      startTs: txn.startTs,
      commitTs,
      key,
      minCommitTs: lock.minCommitTs,
      // Only the primary's min_commit_ts may legitimately be pushed past the commit ts.
      mvccInfo: key.equals(lock.primary) ? undefined : mvccInfoOf(reader, key, false),
    });
  }
  const writeType = writeTypeFromLockType(lock.lockType);
  if (writeType === undefined) {
    releaseLock(txn, key, lock, rest, 0n);
    return;
  }
  let write: Write = { ...newWrite(writeType, txn.startTs, lock.shortValue), txnSource: lock.txnSource };
  if (lock.rollbackTs.includes(commitTs))
    write = { ...write, hasOverlappedRollback: true, gcFence: undefined };
  txn.putWrite(key, commitTs, write);
  releaseLock(txn, key, lock, rest, commitTs);
}

/**
 * Removes the txn's lock: an exclusive lock goes; a sub-lock leaves the other holders in place
 * and the key counts as released (waking waiters) only when the last holder leaves.
 */
function releaseLock(
  txn: MvccTxn,
  key: Buffer,
  lock: Lock,
  rest: SharedLocks | undefined,
  commitTs: bigint,
): void {
  if (rest === undefined) txn.unlockKey(key, isPessimisticTxn(lock), commitTs);
  else if (rest.locks.length === 0) txn.unlockKey(key, true, commitTs);
  else txn.putSharedLocks(key, rest, false);
}
