// Transaction errors: the kinds TiKV reports in kvrpcpb.KeyError (see tikv
// src/storage/errors.rs extract_key_error) and the txn-level errors of client-go error/error.go.

import type { WaitForEntry } from "../proto/deadlock.js";
import {
  type Assertion,
  type LockInfo,
  LockUpgradeConflict_Reason,
  Op,
  WriteConflict_Reason,
} from "../proto/kvrpcpb.js";
import { hexKey, TikvError, type TikvErrorOptions } from "./base.js";
import type { TikvErrorCode } from "./codes.js";

/** A lock found on a key (client-go txnlock.Lock, built from kvrpcpb.LockInfo). */
export interface LockDetails {
  /** The locked key. */
  key: Buffer;
  /** Primary key of the transaction holding the lock. */
  primary: Buffer;
  /** Start ts of the transaction holding the lock (LockInfo.lock_version). */
  startTs: bigint;
  /** Lock TTL in milliseconds, counted from the physical part of startTs. */
  ttl: bigint;
  /** Number of keys the lock owner writes (0 when unknown). */
  txnSize: bigint;
  /** Kind of lock (Put, Del, Lock, PessimisticLock, SharedLock...). */
  lockType: Op;
  /** for_update_ts of a pessimistic lock (0 for optimistic locks). */
  lockForUpdateTs: bigint;
  /** True when the owner uses async commit (secondaries are listed on the primary). */
  useAsyncCommit: boolean;
  /** The lock owner cannot commit below this ts. */
  minCommitTs: bigint;
  /** Secondary keys (async-commit primaries only). */
  secondaries: Buffer[];
  /** Milliseconds since the lock was last updated (pessimistic lock wait), 0 when unknown. */
  durationToLastUpdateMs: bigint;
  /** True for locks written by pipelined-DML ("txn file") transactions. */
  isTxnFile: boolean;
  /** For a shared lock: the individual holders. */
  sharedLocks: LockDetails[];
}

/** Converts a kvrpcpb.LockInfo into {@link LockDetails} (client-go txnlock.NewLock). */
export function lockDetailsFromLockInfo(info: LockInfo): LockDetails {
  return {
    key: info.key,
    primary: info.primaryLock,
    startTs: info.lockVersion,
    ttl: info.lockTtl,
    txnSize: info.txnSize,
    lockType: info.lockType,
    lockForUpdateTs: info.lockForUpdateTs,
    useAsyncCommit: info.useAsyncCommit,
    minCommitTs: info.minCommitTs,
    secondaries: info.secondaries,
    durationToLastUpdateMs: info.durationToLastUpdateMs,
    isTxnFile: info.isTxnFile,
    sharedLocks: info.sharedLockInfos.map(lockDetailsFromLockInfo),
  };
}

/** The key is locked by another transaction (KeyError.locked); resolve the lock and retry. */
export class KeyLockedError extends TikvError {
  /** The lock that blocked the request. */
  readonly lock: LockDetails;

  constructor(lock: LockDetails, options?: TikvErrorOptions) {
    super(
      "KEY_LOCKED",
      `key ${hexKey(lock.key)} is locked by txn ${lock.startTs} (primary ${hexKey(lock.primary)}, ` +
        `ttl ${lock.ttl}ms, type ${Op[lock.lockType] ?? lock.lockType})`,
      options,
    );
    this.lock = lock;
  }
}

/** Data of a write conflict (kvrpcpb.WriteConflict). */
export interface WriteConflictInfo {
  /** Start ts of the transaction that got the conflict. */
  startTs: bigint;
  /** Start ts of the transaction that wrote the conflicting version (WriteConflict.conflict_ts). */
  conflictStartTs: bigint;
  /** Commit ts of the conflicting version. */
  conflictCommitTs: bigint;
  /** The conflicting key. */
  key: Buffer;
  /** Primary key of the transaction that got the conflict. */
  primary: Buffer;
  /** Why TiKV reported the conflict. */
  reason: WriteConflict_Reason;
}

/** Optimistic or pessimistic write conflict (client-go ErrWriteConflict); the txn may be retried. */
export class WriteConflictError extends TikvError implements WriteConflictInfo {
  readonly startTs: bigint;
  readonly conflictStartTs: bigint;
  readonly conflictCommitTs: bigint;
  readonly key: Buffer;
  readonly primary: Buffer;
  readonly reason: WriteConflict_Reason;

  constructor(info: WriteConflictInfo, options?: TikvErrorOptions) {
    super(
      "WRITE_CONFLICT",
      `write conflict { start_ts: ${info.startTs}, conflict_ts: ${info.conflictStartTs}, ` +
        `conflict_commit_ts: ${info.conflictCommitTs}, key: ${hexKey(info.key)}, ` +
        `primary: ${hexKey(info.primary)}, reason: ${WriteConflict_Reason[info.reason] ?? info.reason} }`,
      { ...options, retryable: true },
    );
    this.startTs = info.startTs;
    this.conflictStartTs = info.conflictStartTs;
    this.conflictCommitTs = info.conflictCommitTs;
    this.key = info.key;
    this.primary = info.primary;
    this.reason = info.reason;
  }
}

/**
 * The write conflict of a writer at `startTs` meeting `lock` of another transaction that it will
 * not resolve (client-go: an optimistic prewrite meeting a newer lock loses at once).
 */
export function conflictWithLock(startTs: bigint, lock: LockDetails): WriteConflictError {
  return new WriteConflictError({
    startTs,
    conflictStartTs: lock.startTs,
    conflictCommitTs: 0n,
    key: lock.key,
    primary: lock.primary,
    reason: WriteConflict_Reason.Optimistic,
  });
}

/** The local latch of the client saw a newer commit on a key (client-go ErrWriteConflictInLatch). */
export class WriteConflictInLatchError extends TikvError {
  constructor(
    /** Start ts of the transaction that lost. */
    readonly startTs: bigint,
    options?: TikvErrorOptions,
  ) {
    super("WRITE_CONFLICT_IN_LATCH", `write conflict in latch, startTS: ${startTs}`, {
      ...options,
      retryable: true,
    });
  }
}

/** The key to insert already exists (KeyError.already_exist, client-go ErrKeyExist). */
export class KeyAlreadyExistsError extends TikvError {
  constructor(
    /** The existing key. */
    readonly key: Buffer,
    /** The value being written when the conflict was found (pipelined DML), if known. */
    readonly value?: Buffer,
    options?: TikvErrorOptions,
  ) {
    super("KEY_ALREADY_EXISTS", `key already exists: ${hexKey(key)}`, options);
  }
}

/** One edge of a deadlock wait chain (deadlock.WaitForEntry). */
export interface WaitForEdge {
  /** The waiting transaction's start ts. */
  txn: bigint;
  /** The transaction it waits for. */
  waitForTxn: bigint;
  /** Hash of the key it waits on. */
  keyHash: bigint;
  /** The key it waits on. */
  key: Buffer;
  /** Resource group tag of the waiter. */
  resourceGroupTag: Buffer;
  /** How long it has waited, in ms. */
  waitTime: bigint;
}

/** Data of a deadlock (kvrpcpb.Deadlock). */
export interface DeadlockInfo {
  /** Start ts of the lock owner the transaction waited for. */
  lockTs: bigint;
  /** The key the transaction waited on. */
  lockKey: Buffer;
  /** Hash of the key that closes the cycle. */
  deadlockKeyHash: bigint;
  /** The key that closes the cycle (may be empty on older TiKV). */
  deadlockKey: Buffer;
  /** The cycle of waiters. */
  waitChain: WaitForEdge[];
}

/**
 * A pessimistic lock request would deadlock (client-go ErrDeadlock). `isRetryable` is set by the
 * transaction layer when the deadlock key is one of the keys of the failed statement.
 */
export class DeadlockError extends TikvError implements DeadlockInfo {
  readonly lockTs: bigint;
  readonly lockKey: Buffer;
  readonly deadlockKeyHash: bigint;
  readonly deadlockKey: Buffer;
  readonly waitChain: WaitForEdge[];

  constructor(info: DeadlockInfo, options?: TikvErrorOptions & { retryable?: boolean }) {
    super(
      "DEADLOCK",
      `deadlock { lock_ts: ${info.lockTs}, lock_key: ${hexKey(info.lockKey)}, ` +
        `deadlock_key_hash: ${info.deadlockKeyHash}, wait_chain: ${info.waitChain.length} entries }`,
      options,
    );
    this.lockTs = info.lockTs;
    this.lockKey = info.lockKey;
    this.deadlockKeyHash = info.deadlockKeyHash;
    this.deadlockKey = info.deadlockKey;
    this.waitChain = info.waitChain;
  }
}

/** Converts deadlock.WaitForEntry values into {@link WaitForEdge}s. */
export function waitChainFromProto(entries: WaitForEntry[]): WaitForEdge[] {
  return entries.map((e) => ({
    txn: e.txn,
    waitForTxn: e.waitForTxn,
    keyHash: e.keyHash,
    key: e.key,
    resourceGroupTag: e.resourceGroupTag,
    waitTime: e.waitTime,
  }));
}

/** TiKV asks to retry the transaction (KeyError.retryable, client-go ErrRetryable). */
export class RetryableError extends TikvError {
  constructor(
    /** TiKV's explanation. */
    readonly retryableMessage: string,
    options?: TikvErrorOptions,
    code: TikvErrorCode = "RETRYABLE",
  ) {
    super(code, retryableMessage, { ...options, retryable: true });
  }
}

/**
 * Commit found no lock of the transaction on the key (KeyError.txn_lock_not_found; TiKV also sets
 * `retryable`, which is how client-go classifies it, hence the subclass).
 */
export class TxnLockNotFoundError extends RetryableError {
  constructor(
    /** The key whose lock is gone. */
    readonly key: Buffer,
    retryableMessage: string,
    options?: TikvErrorOptions,
  ) {
    super(retryableMessage || `txn lock not found on key ${hexKey(key)}`, options, "TXN_LOCK_NOT_FOUND");
  }
}

/** TiKV aborted the transaction for another reason (KeyError.abort). */
export class TxnAbortedError extends TikvError {
  constructor(
    /** TiKV's explanation. */
    readonly abortMessage: string,
    options?: TikvErrorOptions,
  ) {
    super("TXN_ABORTED", `tikv aborts txn: ${abortMessage}`, options);
  }
}

/** Data of an assertion failure (kvrpcpb.AssertionFailed). */
export interface AssertionFailedInfo {
  startTs: bigint;
  key: Buffer;
  assertion: Assertion;
  existingStartTs: bigint;
  existingCommitTs: bigint;
}

/** A prewrite assertion (key exists / not exists) did not hold (client-go ErrAssertionFailed). */
export class AssertionFailedError extends TikvError implements AssertionFailedInfo {
  readonly startTs: bigint;
  readonly key: Buffer;
  readonly assertion: Assertion;
  readonly existingStartTs: bigint;
  readonly existingCommitTs: bigint;

  constructor(info: AssertionFailedInfo, options?: TikvErrorOptions) {
    super(
      "ASSERTION_FAILED",
      `assertion failed { start_ts: ${info.startTs}, key: ${hexKey(info.key)}, assertion: ${info.assertion}, ` +
        `existing_start_ts: ${info.existingStartTs}, existing_commit_ts: ${info.existingCommitTs} }`,
      options,
    );
    this.startTs = info.startTs;
    this.key = info.key;
    this.assertion = info.assertion;
    this.existingStartTs = info.existingStartTs;
    this.existingCommitTs = info.existingCommitTs;
  }
}

/** The commit ts is below the lock's min_commit_ts (KeyError.commit_ts_expired); retry with a newer ts. */
export class CommitTsExpiredError extends TikvError {
  constructor(
    readonly startTs: bigint,
    readonly attemptedCommitTs: bigint,
    readonly key: Buffer,
    readonly minCommitTs: bigint,
    options?: TikvErrorOptions,
  ) {
    super(
      "COMMIT_TS_EXPIRED",
      `commit ts ${attemptedCommitTs} of txn ${startTs} is below min_commit_ts ${minCommitTs} on key ${hexKey(key)}`,
      options,
    );
  }
}

/** The async-commit / 1PC commit ts computed by TiKV exceeded the txn's max_commit_ts (KeyError.commit_ts_too_large). */
export class CommitTsTooLargeError extends TikvError {
  constructor(
    readonly commitTs: bigint,
    options?: TikvErrorOptions,
  ) {
    super("COMMIT_TS_TOO_LARGE", `commit TS ${commitTs} is too large`, options);
  }
}

/** CheckTxnStatus found neither lock nor record of the transaction (KeyError.txn_not_found). */
export class TxnNotFoundError extends TikvError {
  constructor(
    readonly startTs: bigint,
    readonly primaryKey: Buffer,
    options?: TikvErrorOptions,
  ) {
    super("TXN_NOT_FOUND", `txn ${startTs} not found (primary ${hexKey(primaryKey)})`, options);
  }
}

/** The lock on the checked primary belongs to a transaction with another primary (KeyError.primary_mismatch). */
export class PrimaryMismatchError extends TikvError {
  constructor(
    /** The lock found on the key. */
    readonly lock: LockDetails | undefined,
    options?: TikvErrorOptions,
  ) {
    super(
      "PRIMARY_MISMATCH",
      lock
        ? `primary mismatch: lock on ${hexKey(lock.key)} has primary ${hexKey(lock.primary)}`
        : "primary mismatch",
      options,
    );
  }
}

/** Upgrading a shared lock to an exclusive one conflicted (KeyError.lock_upgrade_conflict). */
export class LockUpgradeConflictError extends TikvError {
  constructor(
    readonly key: Buffer,
    readonly startTs: bigint,
    readonly ownerStartTs: bigint,
    readonly reason: LockUpgradeConflict_Reason,
    options?: TikvErrorOptions,
  ) {
    super(
      "LOCK_UPGRADE_CONFLICT",
      `lock upgrade conflict on key ${hexKey(key)}: txn ${startTs}, owner ${ownerStartTs}, ` +
        `reason ${LockUpgradeConflict_Reason[reason] ?? reason}`,
      options,
    );
  }
}

/** A shared lock held by the transaction was lost (KeyError.shared_lock_lost). */
export class SharedLockLostError extends TikvError {
  constructor(
    readonly key: Buffer,
    readonly startTs: bigint,
    options?: TikvErrorOptions,
  ) {
    super("SHARED_LOCK_LOST", `shared lock of txn ${startTs} lost on key ${hexKey(key)}`, options);
  }
}

/** A KeyError with no field this client knows (client-go "unexpected KeyError"). */
export class UnexpectedKeyError extends TikvError {
  constructor(
    /** Short description of the raw KeyError. */
    readonly detail: string,
    options?: TikvErrorOptions,
  ) {
    super("UNEXPECTED_KEY_ERROR", `unexpected KeyError: ${detail}`, options);
  }
}

/** The transaction is too large (client-go ErrTxnTooLarge). */
export class TxnTooLargeError extends TikvError {
  constructor(
    /** Size in bytes (or entries) that exceeded the limit. */
    readonly size: number,
    options?: TikvErrorOptions,
  ) {
    super("TXN_TOO_LARGE", `txn too large, size: ${size}`, options);
  }
}

/**
 * A key is larger than allowed (client-go ErrKeyTooLarge; TiKV's "max key size exceeded", then
 * `message` is TiKV's text and `limit` its max key size).
 */
export class KeyTooLargeError extends TikvError {
  /** The largest key size allowed, when known. */
  readonly limit: number | undefined;

  constructor(
    readonly keySize: number,
    options?: TikvErrorOptions & { limit?: number; message?: string },
  ) {
    super("KEY_TOO_LARGE", options?.message ?? `key size too large, size: ${keySize}`, options);
    this.limit = options?.limit;
  }
}

/** A key-value entry is larger than allowed (client-go ErrEntryTooLarge). */
export class EntryTooLargeError extends TikvError {
  constructor(
    readonly limit: number,
    readonly size: number,
    options?: TikvErrorOptions,
  ) {
    super("ENTRY_TOO_LARGE", `entry size too large, size: ${size}, limit: ${limit}`, options);
  }
}

/** The transaction was already committed or rolled back (client-go ErrInvalidTxn). */
export class InvalidTxnError extends TikvError {
  constructor(message = "invalid transaction", options?: TikvErrorOptions) {
    super("INVALID_TXN", message, options);
  }
}

/** An empty value was given to a transactional set (client-go ErrCannotSetNilValue). */
export class CannotSetNilValueError extends TikvError {
  constructor(options?: TikvErrorOptions) {
    super("CANNOT_SET_NIL_VALUE", "can not set nil value", options);
  }
}

/** The key does not exist (client-go ErrNotExist). */
export class NotExistError extends TikvError {
  constructor(
    readonly key?: Buffer,
    options?: TikvErrorOptions,
  ) {
    super("NOT_EXIST", key ? `key not exist: ${hexKey(key)}` : "not exist", options);
  }
}

/** GC advanced past the transaction's start ts (client-go ErrTxnAbortedByGC). */
export class TxnAbortedByGcError extends TikvError {
  constructor(
    readonly txnStartTs: bigint,
    readonly txnSafePoint: bigint,
    options?: TikvErrorOptions,
  ) {
    super(
      "TXN_ABORTED_BY_GC",
      `GC life time is shorter than transaction duration, transaction start ts is ${txnStartTs}, ` +
        `txn safe point is ${txnSafePoint}`,
      options,
    );
  }
}

/** A pessimistic lock with no-wait found the key locked (client-go ErrLockAcquireFailAndNoWaitSet). */
export class LockAcquireFailAndNoWaitSetError extends TikvError {
  constructor(options?: TikvErrorOptions) {
    super("LOCK_ACQUIRE_FAIL_AND_NO_WAIT_SET", "lock acquired failed and no wait is set", options);
  }
}

/** Waiting for a pessimistic lock timed out (client-go ErrLockWaitTimeout). */
export class LockWaitTimeoutError extends TikvError {
  constructor(options?: TikvErrorOptions) {
    super("LOCK_WAIT_TIMEOUT", "lock wait timeout", options);
  }
}

/** Resolving locks took longer than the backoff budget (client-go ErrResolveLockTimeout). */
export class ResolveLockTimeoutError extends TikvError {
  constructor(options?: TikvErrorOptions) {
    super("RESOLVE_LOCK_TIMEOUT", "resolve lock timeout", options);
  }
}

/** LockOnlyIfExists was set without ReturnValues (client-go ErrLockOnlyIfExistsNoReturnValue). */
export class LockOnlyIfExistsNoReturnValueError extends TikvError {
  constructor(
    readonly startTs: bigint,
    readonly forUpdateTs: bigint,
    readonly lockKey: Buffer,
    options?: TikvErrorOptions,
  ) {
    super(
      "LOCK_ONLY_IF_EXISTS_NO_RETURN_VALUE",
      `LockOnlyIfExists is set for Lock Context, but ReturnValues is not set, StartTs is {${startTs}}, ` +
        `ForUpdateTs is {${forUpdateTs}}, one of lock keys is {${hexKey(lockKey)}}`,
      options,
    );
  }
}

/** LockOnlyIfExists was set before the primary key was chosen (client-go ErrLockOnlyIfExistsNoPrimaryKey). */
export class LockOnlyIfExistsNoPrimaryKeyError extends TikvError {
  constructor(
    readonly startTs: bigint,
    readonly forUpdateTs: bigint,
    readonly lockKey: Buffer,
    options?: TikvErrorOptions,
  ) {
    super(
      "LOCK_ONLY_IF_EXISTS_NO_PRIMARY_KEY",
      `LockOnlyIfExists is set for Lock Context, but primary key of current transaction is not set, ` +
        `StartTs is {${startTs}}, ForUpdateTs is {${forUpdateTs}}, one of lock keys is {${hexKey(lockKey)}}`,
      options,
    );
  }
}

/**
 * The outcome of a write is unknown (client-go ErrResultUndetermined): it may or may not have been
 * applied. Raised when the primary commit, or an async-commit / 1PC prewrite, failed with an RPC
 * error or an UndeterminedResult region error, and when a raw write timed out, was aborted or lost
 * its connection after at least one of its requests was sent. `cause` is the failure (e.g. the
 * TimeoutError or AbortedError). Do not retry blindly: read first.
 */
export class ResultUndeterminedError extends TikvError {
  constructor(options?: TikvErrorOptions) {
    const cause = options?.cause;
    super(
      "RESULT_UNDETERMINED",
      cause instanceof Error
        ? `execution result undetermined: ${cause.message}`
        : "execution result undetermined",
      options,
    );
  }
}

/** The commit ts fetched from PD lags behind the required one (client-go ErrCommitTSLag). */
export class CommitTsLagError extends TikvError {
  constructor(message = "commit timestamp lags behind expected", options?: TikvErrorOptions) {
    super("COMMIT_TS_LAG", message, options);
  }
}
