// KeyError -> typed error. Follows client-go error/error.go ExtractKeyErr and
// txnkv/txnlock/lock.go ExtractLockFromKeyErr, extended with the kinds client-go's callers
// pick out before calling it (already_exist, deadlock, commit_ts_expired, primary_mismatch...).

import type { KeyError } from "../proto/kvrpcpb.js";
import type { Error as PdErrorProto } from "../proto/pdpb.js";
import type { TikvError } from "./base.js";
import { PdError } from "./server.js";
import { errorFromServerMessage } from "./server-message.js";
import {
  AssertionFailedError,
  CommitTsExpiredError,
  CommitTsTooLargeError,
  DeadlockError,
  KeyAlreadyExistsError,
  KeyLockedError,
  LockUpgradeConflictError,
  lockDetailsFromLockInfo,
  PrimaryMismatchError,
  RetryableError,
  SharedLockLostError,
  TxnAbortedError,
  TxnLockNotFoundError,
  TxnNotFoundError,
  UnexpectedKeyError,
  WriteConflictError,
  waitChainFromProto,
} from "./txn.js";

/**
 * Converts a kvrpcpb.KeyError into the matching typed error.
 *
 * TiKV sets one kind per KeyError, except that it also fills `retryable` for write conflicts and
 * txn-lock-not-found (compatibility text); the order below makes the specific kind win, as in
 * client-go (conflict is checked before retryable). A KeyError with no known field becomes
 * {@link UnexpectedKeyError}.
 */
export function extractKeyError(keyErr: KeyError): TikvError {
  if (keyErr.locked) return new KeyLockedError(lockDetailsFromLockInfo(keyErr.locked));
  const c = keyErr.conflict;
  if (c) {
    return new WriteConflictError({
      startTs: c.startTs,
      conflictStartTs: c.conflictTs,
      conflictCommitTs: c.conflictCommitTs,
      key: c.key,
      primary: c.primary,
      reason: c.reason,
    });
  }
  if (keyErr.alreadyExist) return new KeyAlreadyExistsError(keyErr.alreadyExist.key);
  const d = keyErr.deadlock;
  if (d) {
    return new DeadlockError({
      lockTs: d.lockTs,
      lockKey: d.lockKey,
      deadlockKeyHash: d.deadlockKeyHash,
      deadlockKey: d.deadlockKey,
      waitChain: waitChainFromProto(d.waitChain),
    });
  }
  if (keyErr.txnLockNotFound) return new TxnLockNotFoundError(keyErr.txnLockNotFound.key, keyErr.retryable);
  if (keyErr.retryable) return new RetryableError(keyErr.retryable);
  const a = keyErr.assertionFailed;
  if (a) {
    return new AssertionFailedError({
      startTs: a.startTs,
      key: a.key,
      assertion: a.assertion,
      existingStartTs: a.existingStartTs,
      existingCommitTs: a.existingCommitTs,
    });
  }
  // the catch-all: TiKV's Debug text of the storage error; the known ones get their own type
  if (keyErr.abort) return errorFromServerMessage(keyErr.abort) ?? new TxnAbortedError(keyErr.abort);
  if (keyErr.commitTsTooLarge) return new CommitTsTooLargeError(keyErr.commitTsTooLarge.commitTs);
  const e = keyErr.commitTsExpired;
  if (e) return new CommitTsExpiredError(e.startTs, e.attemptedCommitTs, e.key, e.minCommitTs);
  if (keyErr.txnNotFound)
    return new TxnNotFoundError(keyErr.txnNotFound.startTs, keyErr.txnNotFound.primaryKey);
  if (keyErr.primaryMismatch) {
    const info = keyErr.primaryMismatch.lockInfo;
    return new PrimaryMismatchError(info ? lockDetailsFromLockInfo(info) : undefined);
  }
  const u = keyErr.lockUpgradeConflict;
  if (u) return new LockUpgradeConflictError(u.key, u.startTs, u.ownerStartTs, u.reason);
  if (keyErr.sharedLockLost) {
    return new SharedLockLostError(keyErr.sharedLockLost.key, keyErr.sharedLockLost.startTs);
  }
  return new UnexpectedKeyError(describeKeyError(keyErr));
}

/** Names of the set fields of a KeyError, for the "unexpected" message. */
function describeKeyError(keyErr: KeyError): string {
  const set = Object.entries(keyErr)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k]) => k);
  return set.length > 0 ? `{ ${set.join(", ")} }` : "{}";
}

/** Converts a pdpb.Error header into a {@link PdError}. */
export function extractPdError(err: PdErrorProto): PdError {
  return new PdError(err.type, err.message);
}
