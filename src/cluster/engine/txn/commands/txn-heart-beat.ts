// KvTxnHeartBeat. Semantics follow tikv src/storage/txn/commands/txn_heart_beat.rs.
import { type TxnHeartBeatRequest, TxnHeartBeatResponse } from "../../../../proto/kvrpcpb.js";
import { MvccError, toKeyError } from "../../mvcc/errors.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { isSharedLocks, sharedLockOf, sharedLocksToLockInfo } from "../../mvcc/types.js";
import { applyTxn, type EngineContext } from "../context.js";

/**
 * KvTxnHeartBeat on the primary: the TTL only grows (to advise_lock_ttl); a pipelined
 * (generation > 0), non-async txn may also raise min_commit_ts. TxnNotFound without the lock;
 * PrimaryMismatch when the txn holds a shared lock there.
 */
export function txnHeartBeat(ec: EngineContext, req: TxnHeartBeatRequest): TxnHeartBeatResponse {
  const lock = ec.reader.loadLock(req.primaryLock);
  if (lock && isSharedLocks(lock) && sharedLockOf(lock, req.startVersion)) {
    // Heartbeats go to the primary, and a shared-locked key is never one.
    const e = new MvccError({
      kind: "PrimaryMismatch",
      lockInfo: sharedLocksToLockInfo(lock, req.primaryLock),
    });
    return TxnHeartBeatResponse.fromPartial({ error: toKeyError(e) });
  }
  if (!lock || isSharedLocks(lock) || lock.startTs !== req.startVersion) {
    const e = new MvccError({ kind: "TxnNotFound", startTs: req.startVersion, key: req.primaryLock });
    return TxnHeartBeatResponse.fromPartial({ error: toKeyError(e) });
  }
  let updated = lock;
  if (lock.ttl < req.adviseLockTtl) updated = { ...updated, ttl: req.adviseLockTtl };
  if (
    !lock.useAsyncCommit &&
    lock.generation > 0n &&
    req.minCommitTs > 0n &&
    lock.minCommitTs < req.minCommitTs
  ) {
    updated = { ...updated, minCommitTs: req.minCommitTs };
  }
  if (updated !== lock) {
    const txn = new MvccTxn(req.startVersion);
    txn.putLock(req.primaryLock, updated, false);
    applyTxn(ec, txn);
  }
  return TxnHeartBeatResponse.fromPartial({ lockTtl: updated.ttl });
}
