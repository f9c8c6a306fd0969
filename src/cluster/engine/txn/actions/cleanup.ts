// Semantics follow tikv src/storage/txn/actions/cleanup.rs.
import { MvccError } from "../../mvcc/errors.js";
import { loadLockWithPending, type MvccReader } from "../../mvcc/reader.js";
import type { MvccTxn } from "../../mvcc/txn.js";
import { isPessimisticTxn, lockToLockInfo } from "../../mvcc/types.js";
import { checkTxnStatusMissingLock, rollbackLock } from "./rollback.js";
import { lockExpired } from "./ts.js";

/**
 * Rolls back the txn (txn.startTs) on key. With a non-zero currentTs, a lock whose TTL has
 * not expired is reported as KeyIsLocked instead. A committed txn fails with Committed;
 * an already rolled-back or missing one succeeds (writing a rollback record if needed).
 */
export function cleanup(
  txn: MvccTxn,
  reader: MvccReader,
  key: Buffer,
  currentTs: bigint,
  protectRollback: boolean,
): void {
  const lock = loadLockWithPending(txn, reader, key);
  if (lock && lock.startTs === txn.startTs) {
    if (currentTs !== 0n && !lockExpired(lock.startTs, lock.ttl, currentTs)) {
      throw new MvccError({ kind: "KeyIsLocked", lockInfo: lockToLockInfo(lock, key) });
    }
    rollbackLock(txn, reader, key, lock, isPessimisticTxn(lock), !protectRollback);
    return;
  }
  const status = checkTxnStatusMissingLock(
    txn,
    reader,
    key,
    lock,
    protectRollback ? "ProtectedRollback" : "Rollback",
    false,
  );
  if (status.kind === "Committed") {
    throw new MvccError({ kind: "Committed", startTs: txn.startTs, commitTs: status.commitTs, key });
  }
}
