// KvCheckTxnStatus. Semantics follow tikv src/storage/txn/commands/check_txn_status.rs and
// the response mapping in src/server/service/kv.rs (future_check_txn_status).
import { Action, type CheckTxnStatusRequest, CheckTxnStatusResponse } from "../../../../proto/kvrpcpb.js";
import { MvccError, toKeyError } from "../../mvcc/errors.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { isSharedLocks, lockToLockInfo, sharedLocksToLockInfo } from "../../mvcc/types.js";
import { checkTxnStatusLockExists } from "../actions/check-txn-status.js";
import { checkTxnStatusMissingLock, missingLockActionFor } from "../actions/rollback.js";
import { isMaxTs } from "../actions/ts.js";
import type { TxnStatus } from "../actions/txn-status.js";
import { applyTxn, type EngineContext } from "../context.js";

/** The response TiKV sends for a txn status. */
export function txnStatusResponse(status: TxnStatus): CheckTxnStatusResponse {
  switch (status.kind) {
    case "RolledBack":
      return CheckTxnStatusResponse.fromPartial({ action: Action.NoAction });
    case "TtlExpire":
      return CheckTxnStatusResponse.fromPartial({ action: Action.TTLExpireRollback });
    case "LockNotExist":
      return CheckTxnStatusResponse.fromPartial({ action: Action.LockNotExistRollback });
    case "Committed":
      return CheckTxnStatusResponse.fromPartial({ commitVersion: status.commitTs });
    case "Uncommitted":
      return CheckTxnStatusResponse.fromPartial({
        action: status.minCommitTsPushed ? Action.MinCommitTSPushed : Action.NoAction,
        lockTtl: status.lock.ttl,
        lockInfo: lockToLockInfo(status.lock, status.lock.primary),
      });
    case "PessimisticRollBack":
      return CheckTxnStatusResponse.fromPartial({ action: Action.TTLExpirePessimisticRollback });
    case "LockNotExistDoNothing":
      return CheckTxnStatusResponse.fromPartial({ action: Action.LockNotExistDoNothing });
  }
}

/**
 * KvCheckTxnStatus on the primary key: reports committed / rolled back / alive (pushing
 * min_commit_ts for the caller), rolls back an expired lock, and with rollback_if_not_exist
 * writes a protected rollback when there is no trace of the txn (else TxnNotFound). Shared
 * locks on the key answer PrimaryMismatch.
 */
export function checkTxnStatus(ec: EngineContext, req: CheckTxnStatusRequest): CheckTxnStatusResponse {
  let newMaxTs = req.lockTs;
  if (!isMaxTs(req.currentTs) && req.currentTs > newMaxTs) newMaxTs = req.currentTs;
  if (!isMaxTs(req.callerStartTs) && req.callerStartTs > newMaxTs) newMaxTs = req.callerStartTs;
  ec.store.maxTs.update(newMaxTs);

  const txn = new MvccTxn(req.lockTs);
  let status: TxnStatus;
  try {
    const lock = ec.reader.loadLock(req.primaryKey);
    // A shared-locked key is never a txn's primary: refuse, whatever txn is asked about.
    if (lock && isSharedLocks(lock)) {
      throw new MvccError({ kind: "PrimaryMismatch", lockInfo: sharedLocksToLockInfo(lock, req.primaryKey) });
    }
    status =
      lock && lock.startTs === req.lockTs
        ? checkTxnStatusLockExists(txn, ec.reader, req.primaryKey, lock, {
            currentTs: req.currentTs,
            callerStartTs: req.callerStartTs,
            forceSyncCommit: req.forceSyncCommit,
            resolvingPessimisticLock: req.resolvingPessimisticLock,
            verifyIsPrimary: req.verifyIsPrimary,
            rollbackIfNotExist: req.rollbackIfNotExist,
          })
        : checkTxnStatusMissingLock(
            txn,
            ec.reader,
            req.primaryKey,
            lock,
            missingLockActionFor(req.rollbackIfNotExist),
            req.resolvingPessimisticLock,
          );
  } catch (e) {
    return CheckTxnStatusResponse.fromPartial({ error: toKeyError(e) });
  }
  applyTxn(
    ec,
    txn,
    status.kind === "Committed" ? { startTs: req.lockTs, commitTs: status.commitTs } : undefined,
  );
  return txnStatusResponse(status);
}
