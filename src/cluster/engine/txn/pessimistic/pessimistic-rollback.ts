// The PessimisticRollback command (KvPessimisticRollback).
// Semantics follow tikv src/storage/txn/commands/pessimistic_rollback.rs and, for a request
// without keys, pessimistic_rollback_read_phase.rs (scan the region for the txn's locks).
import { type PessimisticRollbackRequest, PessimisticRollbackResponse } from "../../../../proto/kvrpcpb.js";
import {
  isPessimisticLock,
  isSharedLocks,
  MvccReader,
  type MvccStore,
  MvccTxn,
  sharedLockOf,
  toKeyError,
  withoutSharedLock,
} from "../../mvcc/index.js";

/** Key range a request is limited to (the region), end empty = +inf. */
export interface KeyRange {
  readonly start: Buffer;
  readonly end: Buffer;
}

/**
 * Removes the txn's pessimistic locks whose for_update_ts <= the request's; other locks
 * (prewritten, other txns, newer for_update_ts) are left alone. On shared locks only the
 * txn's own pessimistic sub-lock goes; the key is released (waking waiters through the
 * store's lock-release hook) when no holder is left.
 */
export function pessimisticRollback(
  store: MvccStore,
  req: PessimisticRollbackRequest,
  range?: KeyRange,
): PessimisticRollbackResponse {
  const reader = new MvccReader(store);
  const startTs = req.startVersion;
  const forUpdateTs = req.forUpdateTs;
  try {
    let keys: Buffer[] = req.keys;
    if (keys.length === 0) {
      const { locks } = reader.scanLocks(
        range?.start,
        range?.end,
        (_key, lock) =>
          lock.startTs === startTs && isPessimisticLock(lock) && lock.forUpdateTs <= forUpdateTs,
      );
      keys = locks.map((l) => l.key);
    }
    const txn = new MvccTxn(startTs);
    for (const key of keys) {
      const lock = reader.loadLock(key);
      if (lock && isSharedLocks(lock)) {
        const own = sharedLockOf(lock, startTs);
        if (!own || !isPessimisticLock(own) || own.forUpdateTs > forUpdateTs) continue;
        const rest = withoutSharedLock(lock, startTs);
        if (rest.locks.length === 0) txn.unlockKey(key, true, 0n);
        else txn.putSharedLocks(key, rest, false);
      } else if (
        lock &&
        isPessimisticLock(lock) &&
        lock.startTs === startTs &&
        lock.forUpdateTs <= forUpdateTs
      ) {
        txn.unlockKey(key, true, 0n);
      }
    }
    if (!txn.isEmpty) store.write(txn);
    return PessimisticRollbackResponse.fromPartial({ errors: [] });
  } catch (e) {
    return PessimisticRollbackResponse.fromPartial({ errors: [toKeyError(e)] });
  }
}
