// MVCC errors as TiKV raises them (tikv src/storage/mvcc/mod.rs ErrorInner) and their
// conversion to kvrpcpb.KeyError (tikv src/storage/errors.rs extract_key_error).
import {
  type Assertion,
  type Deadlock,
  KeyError,
  type LockInfo,
  type MvccInfo,
  WriteConflict_Reason,
} from "../../../proto/kvrpcpb.js";
import type { Lock, SharedLocks } from "./types.js";

/** Why a pessimistic lock expected by prewrite is missing (tikv PessimisticLockNotFoundReason). */
export type PessimisticLockNotFoundReason =
  | "LockTsMismatch"
  | "LockMissingAmendFail"
  | "LockForUpdateTsMismatch"
  | "NonLockKeyConflict";

/** The MVCC error kinds TiKV can raise from transaction commands. */
export type MvccErrorInner =
  | { kind: "KeyIsLocked"; lockInfo: LockInfo }
  | { kind: "Committed"; startTs: bigint; commitTs: bigint; key: Buffer }
  | { kind: "PessimisticLockRolledBack"; startTs: bigint; key: Buffer }
  | {
      kind: "TxnLockNotFound";
      startTs: bigint;
      commitTs: bigint;
      key: Buffer;
      mvccInfo?: MvccInfo | undefined;
    }
  | { kind: "TxnNotFound"; startTs: bigint; key: Buffer }
  | { kind: "LockTypeNotMatch"; startTs: bigint; key: Buffer; pessimistic: boolean }
  | {
      kind: "WriteConflict";
      startTs: bigint;
      conflictStartTs: bigint;
      conflictCommitTs: bigint;
      key: Buffer;
      primary: Buffer;
      reason: WriteConflict_Reason;
    }
  | { kind: "Deadlock"; startTs: bigint; deadlock: Deadlock }
  | { kind: "AlreadyExist"; key: Buffer; existingStartTs: bigint }
  | { kind: "DefaultNotFound"; key: Buffer }
  | {
      kind: "CommitTsExpired";
      startTs: bigint;
      commitTs: bigint;
      key: Buffer;
      minCommitTs: bigint;
      mvccInfo?: MvccInfo | undefined;
    }
  | { kind: "PessimisticLockNotFound"; startTs: bigint; key: Buffer; reason: PessimisticLockNotFoundReason }
  | { kind: "CommitTsTooLarge"; startTs: bigint; minCommitTs: bigint; maxCommitTs: bigint }
  | {
      kind: "AssertionFailed";
      startTs: bigint;
      key: Buffer;
      assertion: Assertion;
      existingStartTs: bigint;
      existingCommitTs: bigint;
    }
  | { kind: "LockIfExistsFailed"; startTs: bigint; key: Buffer }
  | { kind: "PrimaryMismatch"; lockInfo: LockInfo }
  | { kind: "GenerationOutOfOrder"; generation: bigint; key: Buffer; lock: Lock }
  /**
   * An exclusive lock request met shared locks not yet shrink-only. The pessimistic-lock
   * command turns it into KeyIsLocked after making them shrink-only; never on the wire.
   */
  | { kind: "NotInShrinkMode"; sharedLocks: SharedLocks }
  | { kind: "Other"; message: string };

const hex = (b: Buffer): string => b.toString("hex").toUpperCase();

/** A human-readable message close to TiKV's Display text for the error. */
export function describeMvccError(e: MvccErrorInner): string {
  switch (e.kind) {
    case "KeyIsLocked":
      return `key is locked (backoff or cleanup) lock_version: ${e.lockInfo.lockVersion} key: ${hex(e.lockInfo.key)} primary_lock: ${hex(e.lockInfo.primaryLock)}`;
    case "Committed":
      return `txn already committed, start_ts: ${e.startTs}, commit_ts: ${e.commitTs}, key: ${hex(e.key)}`;
    case "PessimisticLockRolledBack":
      return `pessimistic lock already rollbacked, start_ts:${e.startTs}, key:${hex(e.key)}`;
    case "TxnLockNotFound":
      return `txn lock not found ${e.startTs}-${e.commitTs} key:${hex(e.key)}`;
    case "TxnNotFound":
      return `txn not found ${e.startTs} key: ${hex(e.key)}`;
    case "LockTypeNotMatch":
      return `lock type not match, start_ts:${e.startTs}, key:${hex(e.key)}, pessimistic:${e.pessimistic}`;
    case "WriteConflict":
      return `write conflict, start_ts:${e.startTs}, conflict_start_ts:${e.conflictStartTs}, conflict_commit_ts:${e.conflictCommitTs}, key:${hex(e.key)}, primary:${hex(e.primary)}, reason: ${WriteConflict_Reason[e.reason]}`;
    case "Deadlock":
      return `deadlock occurs between txn:${e.startTs} and txn:${e.deadlock.lockTs}, lock_key:${hex(e.deadlock.lockKey)}, deadlock_key_hash:${e.deadlock.deadlockKeyHash}`;
    case "AlreadyExist":
      return `key ${hex(e.key)} already exists with existing_start_ts=${e.existingStartTs}`;
    case "DefaultNotFound":
      return `default not found: key:${hex(e.key)}, maybe read truncated/dropped table data?`;
    case "CommitTsExpired":
      return `try to commit key ${hex(e.key)} with commit_ts ${e.commitTs} but min_commit_ts is ${e.minCommitTs}`;
    case "PessimisticLockNotFound":
      return `pessimistic lock not found, start_ts:${e.startTs}, key:${hex(e.key)}, reason: ${e.reason}`;
    case "CommitTsTooLarge":
      return `min_commit_ts ${e.minCommitTs} is larger than max_commit_ts ${e.maxCommitTs}, start_ts: ${e.startTs}`;
    case "AssertionFailed":
      return `assertion on data failed, start_ts:${e.startTs}, key:${hex(e.key)}, assertion:${e.assertion}, existing_start_ts:${e.existingStartTs}, existing_commit_ts:${e.existingCommitTs}`;
    case "LockIfExistsFailed":
      return `Lock_only_if_exists of a pessimistic lock request is set to true, but return_value is not, start_ts:${e.startTs}, key:${hex(e.key)}`;
    case "PrimaryMismatch":
      return `check_txn_status sent to secondary lock, current lock: ${hex(e.lockInfo.key)}@${e.lockInfo.lockVersion}`;
    case "GenerationOutOfOrder":
      return `generation out of order: current = ${e.generation}, key=${hex(e.key)}, lock generation = ${e.lock.generation}`;
    case "NotInShrinkMode":
      return `key is locked by shared locks without shrink-only flag: ${e.sharedLocks.locks.map((l) => l.startTs).join(",")}`;
    case "Other":
      return e.message;
  }
}

/** An MVCC-level failure of a command; converted to a KeyError at the command boundary. */
export class MvccError extends Error {
  constructor(readonly inner: MvccErrorInner) {
    super(describeMvccError(inner));
    this.name = "MvccError";
  }
}

/** Shorthand for `throw new MvccError(inner)` in expression position. */
export function mvccError(inner: MvccErrorInner): never {
  throw new MvccError(inner);
}

/** MVCC state attached to errors of unexpected cases (tikv add_debug_mvcc_for_key_error). */
function debugInfo(key: Buffer, mvcc: MvccInfo | undefined) {
  return mvcc ? { mvccInfo: [{ key, mvcc: { ...mvcc, values: [] } }] } : undefined;
}

/**
 * The KeyError TiKV puts on the wire for an error (tikv extract_key_error): typed fields for
 * the kinds the client understands, `retryable` set alongside conflict / txn_lock_not_found
 * (as TiKV does for compatibility), everything else as an `abort` string.
 */
export function toKeyError(err: unknown): KeyError {
  if (!(err instanceof MvccError)) {
    return KeyError.fromPartial({ abort: err instanceof Error ? err.message : String(err) });
  }
  const e = err.inner;
  const text = `Error(Txn(Error(Mvcc(Error(${describeMvccError(e)})))))`;
  switch (e.kind) {
    case "KeyIsLocked":
      return KeyError.fromPartial({ locked: e.lockInfo });
    case "WriteConflict":
      return KeyError.fromPartial({
        conflict: {
          startTs: e.startTs,
          conflictTs: e.conflictStartTs,
          conflictCommitTs: e.conflictCommitTs,
          key: e.key,
          primary: e.primary,
          reason: e.reason,
        },
        retryable: text,
      });
    case "AlreadyExist":
      return KeyError.fromPartial({ alreadyExist: { key: e.key } });
    case "TxnLockNotFound":
      return KeyError.fromPartial({
        retryable: text,
        txnLockNotFound: { key: e.key },
        debugInfo: debugInfo(e.key, e.mvccInfo),
      });
    case "TxnNotFound":
      return KeyError.fromPartial({ txnNotFound: { startTs: e.startTs, primaryKey: e.key } });
    case "Deadlock":
      return KeyError.fromPartial({ deadlock: e.deadlock });
    case "CommitTsExpired":
      return KeyError.fromPartial({
        commitTsExpired: {
          startTs: e.startTs,
          attemptedCommitTs: e.commitTs,
          key: e.key,
          minCommitTs: e.minCommitTs,
        },
        debugInfo: debugInfo(e.key, e.mvccInfo),
      });
    case "CommitTsTooLarge":
      return KeyError.fromPartial({ commitTsTooLarge: { commitTs: e.minCommitTs } });
    case "AssertionFailed":
      return KeyError.fromPartial({
        assertionFailed: {
          startTs: e.startTs,
          key: e.key,
          assertion: e.assertion,
          existingStartTs: e.existingStartTs,
          existingCommitTs: e.existingCommitTs,
        },
      });
    case "PrimaryMismatch":
      return KeyError.fromPartial({ primaryMismatch: { lockInfo: e.lockInfo } });
    default:
      return KeyError.fromPartial({ abort: text });
  }
}
