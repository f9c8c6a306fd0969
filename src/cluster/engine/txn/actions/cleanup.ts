// Semantics follow tikv src/storage/txn/actions/cleanup.rs.
import { MvccError } from "../../mvcc/errors.js";
import { loadLockWithPending, type MvccReader } from "../../mvcc/reader.js";
import type { MvccTxn } from "../../mvcc/txn.js";
import {
  isPessimisticTxn,
  isSharedLocks,
  lockToLockInfo,
  sharedLockOf,
  sharedLocksToLockInfo,
} from "../../mvcc/types.js";
import { checkTxnStatusMissingLock, rollbackLock, rollbackSharedLock } from "./rollback.js";
import { lockExpired } from "./ts.js";

/**
 * Rolls back the txn (txn.startTs) on key. With a non-zero currentTs, a lock whose TTL has
 * not expired is reported as KeyIsLocked instead. A committed txn fails with Committed;
 * an already rolled-back or missing one succeeds (writing a rollback record if needed).
 * On shared locks only the txn's own sub-lock is rolled back (its KeyIsLocked reports the
 * whole shared-lock set).
 */
export function cleanup(
  txn: MvccTxn,
  reader: MvccReader,
  key: Buffer,
  currentTs: bigint,
  protectRollback: boolean,
): void {
  const record = loadLockWithPending(txn, reader, key);
  if (record && !isSharedLocks(record) && record.startTs === txn.startTs) {
    if (currentTs !== 0n && !lockExpired(record.startTs, record.ttl, currentTs)) {
      throw new MvccError({ kind: "KeyIsLocked", lockInfo: lockToLockInfo(record, key) });
    }
    rollbackLock(txn, reader, key, record, isPessimisticTxn(record), !protectRollback);
    return;
  }
  if (record && isSharedLocks(record)) {
    const own = sharedLockOf(record, txn.startTs);
    if (own) {
      if (currentTs !== 0n && !lockExpired(own.startTs, own.ttl, currentTs)) {
        throw new MvccError({ kind: "KeyIsLocked", lockInfo: sharedLocksToLockInfo(record, key) });
      }
      rollbackSharedLock(txn, reader, key, record, !protectRollback);
      return;
    }
  }
  const status = checkTxnStatusMissingLock(
    txn,
    reader,
    key,
    record && !isSharedLocks(record) ? record : undefined,
    protectRollback ? "ProtectedRollback" : "Rollback",
    false,
  );
  if (status.kind === "Committed") {
    throw new MvccError({ kind: "Committed", startTs: txn.startTs, commitTs: status.commitTs, key });
  }
}
