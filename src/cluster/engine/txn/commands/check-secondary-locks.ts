// KvCheckSecondaryLocks (async-commit resolution). Semantics follow
// tikv src/storage/txn/commands/check_secondary_locks.rs.
import {
  type CheckSecondaryLocksRequest,
  CheckSecondaryLocksResponse,
  type LockInfo,
} from "../../../../proto/kvrpcpb.js";
import { toKeyError } from "../../mvcc/errors.js";
import type { MvccReader } from "../../mvcc/reader.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { isPessimisticLock, type Lock, lockToLockInfo, type Write } from "../../mvcc/types.js";
import { collapsePrevRollback, makeRollback } from "../actions/rollback.js";
import { applyTxn, type EngineContext } from "../context.js";

type SecondaryStatus =
  | { kind: "locked"; lock: Lock }
  | { kind: "committed"; commitTs: bigint }
  | { kind: "rolledBack" };

interface Checked {
  status: SecondaryStatus;
  /** A protected rollback must be written (no record of the txn on this key). */
  needRollback: boolean;
  overlapped?: { write: Write; gcFence: bigint } | undefined;
}

function determined(reader: MvccReader, key: Buffer, startTs: bigint): Checked {
  const record = reader.getTxnCommitRecord(key, startTs);
  if (record.kind === "single") {
    return {
      status:
        record.write.writeType === "Rollback"
          ? { kind: "rolledBack" }
          : { kind: "committed", commitTs: record.commitTs },
      needRollback: false,
    };
  }
  if (record.kind === "overlappedRollback") return { status: { kind: "rolledBack" }, needRollback: false };
  return { status: { kind: "rolledBack" }, needRollback: true, overlapped: record.overlappedWrite };
}

function fromLock(txn: MvccTxn, reader: MvccReader, lock: Lock, key: Buffer): Checked {
  if (!isPessimisticLock(lock)) return { status: { kind: "locked", lock }, needRollback: false };
  let overlapped: { write: Write; gcFence: bigint } | undefined;
  if (lock.isLockedWithConflict) {
    const d = determined(reader, key, txn.startTs);
    // A commit / rollback record makes the force-acquired pessimistic lock stale.
    if (!d.needRollback) {
      txn.unlockKey(key, true, 0n);
      return d;
    }
    overlapped = d.overlapped;
  } else {
    const record = reader.getTxnCommitRecord(key, txn.startTs);
    overlapped = record.kind === "none" ? record.overlappedWrite : undefined;
  }
  // A pessimistic lock means the key was never prewritten: the txn cannot have committed.
  txn.unlockKey(key, true, 0n);
  return { status: { kind: "rolledBack" }, needRollback: true, overlapped };
}

/**
 * KvCheckSecondaryLocks: the secondaries' locks while all are present; otherwise commit_ts
 * (committed) or nothing (rolled back, after writing a protected rollback so the txn can
 * never commit this key later).
 */
export function checkSecondaryLocks(
  ec: EngineContext,
  req: CheckSecondaryLocksRequest,
): CheckSecondaryLocksResponse {
  // A commit must not overwrite the protected rollback this may write.
  ec.store.maxTs.update(req.startVersion);
  const txn = new MvccTxn(req.startVersion);
  const reader = ec.reader;
  const locks: LockInfo[] = [];
  let final: SecondaryStatus | undefined;
  try {
    for (const key of req.keys) {
      const lock = reader.loadLock(key);
      let mismatch: Lock | undefined;
      let c: Checked;
      if (lock && lock.lockType === "Shared") {
        // Async-commit txns never take shared locks: only the write CF can tell.
        c = determined(reader, key, req.startVersion);
      } else if (lock && lock.startTs === req.startVersion) {
        c = fromLock(txn, reader, lock, key);
      } else {
        mismatch = lock;
        c = determined(reader, key, req.startVersion);
      }
      if (c.needRollback) {
        if (mismatch) txn.markRollbackOnMismatchingLock(key, mismatch, true);
        const write = makeRollback(req.startVersion, true, c.overlapped);
        if (write) {
          txn.putWrite(key, req.startVersion, write);
          collapsePrevRollback(txn, reader, key);
        }
      }
      if (c.status.kind === "locked") {
        locks.push(lockToLockInfo(c.status.lock, key));
      } else {
        final = c.status;
        break;
      }
    }
  } catch (e) {
    return CheckSecondaryLocksResponse.fromPartial({ error: toKeyError(e) });
  }
  applyTxn(
    ec,
    txn,
    final?.kind === "committed" ? { startTs: req.startVersion, commitTs: final.commitTs } : undefined,
  );
  if (final?.kind === "committed")
    return CheckSecondaryLocksResponse.fromPartial({ commitTs: final.commitTs });
  if (final?.kind === "rolledBack") return CheckSecondaryLocksResponse.fromPartial({});
  return CheckSecondaryLocksResponse.fromPartial({ locks });
}
