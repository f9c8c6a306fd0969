// The PessimisticRollback command (KvPessimisticRollback).
// Semantics follow tikv src/storage/txn/commands/pessimistic_rollback.rs and, for a request
// without keys, pessimistic_rollback_read_phase.rs (scan the region for the txn's locks).
import { type PessimisticRollbackRequest, PessimisticRollbackResponse } from "../../../../proto/kvrpcpb.js";
import { isPessimisticLock, MvccReader, type MvccStore, MvccTxn, toKeyError } from "../../mvcc/index.js";

/** Key range a request is limited to (the region), end empty = +inf. */
export interface KeyRange {
  readonly start: Buffer;
  readonly end: Buffer;
}

/**
 * Removes the txn's pessimistic locks whose for_update_ts <= the request's; other locks
 * (prewritten, other txns, newer for_update_ts) are left alone. Released locks wake
 * waiters through the store's lock-release hook.
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
      if (lock && isPessimisticLock(lock) && lock.startTs === startTs && lock.forUpdateTs <= forUpdateTs) {
        txn.unlockKey(key, true, 0n);
      }
    }
    if (!txn.isEmpty) store.write(txn);
    return PessimisticRollbackResponse.fromPartial({ errors: [] });
  } catch (e) {
    return PessimisticRollbackResponse.fromPartial({ errors: [toKeyError(e)] });
  }
}
