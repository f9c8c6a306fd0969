// Semantics follow tikv src/storage/txn/actions/commit.rs.
import { CommitRole } from "../../../../proto/kvrpcpb.js";
import { MvccError } from "../../mvcc/errors.js";
import { mvccInfoOf } from "../../mvcc/mvcc-info.js";
import { loadLockWithPending, type MvccReader } from "../../mvcc/reader.js";
import type { MvccTxn } from "../../mvcc/txn.js";
import { isPessimisticTxn, newWrite, type Write, writeTypeFromLockType } from "../../mvcc/types.js";

/**
 * Commits the txn (txn.startTs) on key at commitTs. Idempotent when the key is already
 * committed by this txn; TxnLockNotFound when the lock is gone and the txn was rolled back
 * or left no record; CommitTsExpired below the lock's min_commit_ts. A leftover pessimistic
 * lock is removed rather than committed.
 */
export function commit(
  txn: MvccTxn,
  reader: MvccReader,
  key: Buffer,
  commitTs: bigint,
  role: CommitRole = CommitRole.Unknown,
): void {
  const lock = loadLockWithPending(txn, reader, key);
  if (!lock || lock.startTs !== txn.startTs) {
    const record = reader.getTxnCommitRecord(key, txn.startTs);
    if (record.kind === "single" && record.write.writeType !== "Rollback") return;
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
    txn.unlockKey(key, isPessimisticTxn(lock), 0n);
    return;
  }
  let write: Write = { ...newWrite(writeType, txn.startTs, lock.shortValue), txnSource: lock.txnSource };
  if (lock.rollbackTs.includes(commitTs))
    write = { ...write, hasOverlappedRollback: true, gcFence: undefined };
  txn.putWrite(key, commitTs, write);
  txn.unlockKey(key, isPessimisticTxn(lock), commitTs);
}
