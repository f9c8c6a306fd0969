// Prewrite of one mutation. Semantics follow tikv src/storage/txn/actions/prewrite.rs
// (prewrite_with_generation, PrewriteMutation::{check_lock, check_for_newer_version,
// check_assertion, write_lock}, async_commit_timestamps, amend_pessimistic_lock) and
// src/storage/txn/actions/check_data_constraint.rs.
import {
  Assertion,
  AssertionLevel,
  type Mutation,
  Op,
  PrewriteRequest_PessimisticAction as PessimisticAction,
  WriteConflict_Reason,
} from "../../../../proto/kvrpcpb.js";
import { MvccError, type PessimisticLockNotFoundReason } from "../../mvcc/errors.js";
import type { MaxTsTracker } from "../../mvcc/max-ts.js";
import type { MvccReader } from "../../mvcc/reader.js";
import type { MvccTxn } from "../../mvcc/txn.js";
import {
  isPessimisticLock,
  isSharedLocks,
  isShortValue,
  type Lock,
  type LockType,
  lockToLockInfo,
  newLock,
  type SharedLocks,
  sharedLockOf,
  sharedLocksToLockInfo,
  TS_MAX,
  type Write,
  type WriteVersion,
  withSharedLock,
} from "../../mvcc/types.js";
import { maxTs } from "./ts.js";

/** How the txn commits: classic 2PC, async commit or 1PC (with their max_commit_ts). */
export type CommitKind =
  | { readonly type: "2pc" }
  | { readonly type: "async"; readonly maxCommitTs: bigint }
  | { readonly type: "1pc"; readonly maxCommitTs: bigint };

/** Per-request properties shared by every mutation of a prewrite (tikv TransactionProperties). */
export interface TransactionProperties {
  readonly startTs: bigint;
  /** Optimistic (with skip_constraint_check) or pessimistic (with for_update_ts). */
  readonly kind:
    | { readonly type: "optimistic"; readonly skipConstraintCheck: boolean }
    | { readonly type: "pessimistic"; readonly forUpdateTs: bigint };
  commitKind: CommitKind;
  readonly primary: Buffer;
  readonly txnSize: bigint;
  readonly lockTtl: bigint;
  readonly minCommitTs: bigint;
  readonly isRetryRequest: boolean;
  readonly assertionLevel: AssertionLevel;
  readonly txnSource: bigint;
  readonly isTxnFile: boolean;
  /** Test-only (EngineTestingSwitches): optimistic prewrites ignore newer commits. Never set in real use. */
  readonly testingSkipWriteConflictCheck?: boolean;
}

type LockStatus =
  | { readonly kind: "none" }
  /** Already prewritten by this txn; min_commit_ts of that lock (0 unless async). */
  | { readonly kind: "locked"; readonly minCommitTs: bigint }
  /** Pessimistically locked by this txn; the lock's for_update_ts. */
  | { readonly kind: "pessimistic"; readonly forUpdateTs: bigint };

const isPessimisticTxn = (p: TransactionProperties): boolean => p.kind.type === "pessimistic";
const forUpdateTsOf = (p: TransactionProperties): bigint =>
  p.kind.type === "pessimistic" ? p.kind.forUpdateTs : 0n;

/** One mutation being prewritten, with the fields the checks may adjust. */
class PrewriteMutation {
  readonly key: Buffer;
  readonly value: Buffer | undefined;
  readonly lockType: LockType | undefined;
  readonly shouldNotExist: boolean;
  readonly shouldNotWrite: boolean;
  /** Op::SharedLock: prewrites the txn's shared pessimistic lock into a shared Lock sub-lock. */
  readonly isSharedLock: boolean;
  readonly assertion: Assertion;
  lockTtl: bigint;
  minCommitTs: bigint;

  constructor(
    m: Mutation,
    readonly props: TransactionProperties,
    readonly secondaryKeys: readonly Buffer[] | undefined,
    readonly pessimisticAction: PessimisticAction,
  ) {
    this.key = m.key;
    this.assertion = m.assertion;
    this.lockTtl = props.lockTtl;
    this.minCommitTs = props.minCommitTs;
    this.isSharedLock = m.op === Op.SharedLock;
    switch (m.op) {
      case Op.Put:
        [this.lockType, this.value, this.shouldNotExist, this.shouldNotWrite] = [
          "Put",
          m.value,
          false,
          false,
        ];
        break;
      case Op.Insert:
        [this.lockType, this.value, this.shouldNotExist, this.shouldNotWrite] = ["Put", m.value, true, false];
        break;
      case Op.Del:
        [this.lockType, this.value, this.shouldNotExist, this.shouldNotWrite] = [
          "Delete",
          undefined,
          false,
          false,
        ];
        break;
      case Op.Lock:
      case Op.SharedLock:
        [this.lockType, this.value, this.shouldNotExist, this.shouldNotWrite] = [
          "Lock",
          undefined,
          false,
          false,
        ];
        break;
      case Op.CheckNotExists:
        [this.lockType, this.value, this.shouldNotExist, this.shouldNotWrite] = [
          undefined,
          undefined,
          true,
          true,
        ];
        break;
      default:
        throw new MvccError({
          kind: "Other",
          message: `mismatch Op in prewrite mutations: ${Op[m.op] ?? m.op}`,
        });
    }
  }

  /** PessimisticLockNotFound(LockMissingAmendFail) for a shared-lock prewrite without its lock. */
  lockMissing(): never {
    this.fail("LockMissingAmendFail");
  }

  private fail(reason: PessimisticLockNotFoundReason): never {
    throw new MvccError({
      kind: "PessimisticLockNotFound",
      startTs: this.props.startTs,
      key: this.key,
      reason,
    });
  }

  private writeConflict(write: Write, commitTs: bigint, reason: WriteConflict_Reason): never {
    throw new MvccError({
      kind: "WriteConflict",
      startTs: this.props.startTs,
      conflictStartTs: write.startTs,
      conflictCommitTs: commitTs,
      key: this.key,
      primary: this.props.primary,
      reason,
    });
  }

  /** Whether the write-conflict / existence check against the write CF is skipped. */
  skipConstraintCheck(): boolean {
    const k = this.props.kind;
    if (k.type === "optimistic") return k.skipConstraintCheck;
    switch (this.pessimisticAction) {
      case PessimisticAction.DO_PESSIMISTIC_CHECK:
        return true;
      case PessimisticAction.DO_CONSTRAINT_CHECK:
        return false;
      default:
        // Retried requests re-check non-locked keys to stay idempotent (tikv#11187).
        return !this.props.isRetryRequest;
    }
  }

  needMinCommitTs(): boolean {
    return this.props.commitKind.type !== "2pc";
  }

  /** Classifies an existing lock on the key. */
  checkLock(lock: Lock, expectedForUpdateTs: bigint | undefined, generation: bigint): LockStatus {
    if (lock.startTs !== this.props.startTs) {
      if (this.pessimisticAction === PessimisticAction.DO_PESSIMISTIC_CHECK) this.fail("LockTsMismatch");
      const info = lockToLockInfo(lock, this.key);
      // Other txns resolve a pessimistic txn's secondary-index locks at once.
      if (isPessimisticTxn(this.props)) info.lockTtl = 0n;
      throw new MvccError({ kind: "KeyIsLocked", lockInfo: info });
    }
    if (isPessimisticLock(lock)) {
      if (!isPessimisticTxn(this.props)) {
        throw new MvccError({
          kind: "LockTypeNotMatch",
          startTs: this.props.startTs,
          key: this.key,
          pessimistic: true,
        });
      }
      if (expectedForUpdateTs !== undefined && lock.forUpdateTs !== expectedForUpdateTs) {
        this.fail("LockForUpdateTsMismatch");
      }
      this.lockTtl = maxTs(this.lockTtl, lock.ttl);
      this.minCommitTs = maxTs(this.minCommitTs, lock.minCommitTs);
      return { kind: "pessimistic", forUpdateTs: lock.forUpdateTs };
    }
    if (generation > 0n && lock.generation >= generation) {
      throw new MvccError({ kind: "GenerationOutOfOrder", generation, key: this.key, lock });
    }
    if (lock.generation > 0n && this.shouldNotExist && lock.lockType === "Put") {
      throw new MvccError({ kind: "AlreadyExist", key: this.key, existingStartTs: lock.startTs });
    }
    return { kind: "locked", minCommitTs: lock.useAsyncCommit ? lock.minCommitTs : 0n };
  }

  /** Checks the newest write against this txn; returns it (it may be a Lock/Rollback). */
  checkForNewerVersion(reader: MvccReader): WriteVersion | undefined {
    const startTs = this.props.startTs;
    for (const v of reader.writesOf(this.key)) {
      const { commitTs, write } = v;
      if (commitTs === startTs && (write.writeType === "Rollback" || write.hasOverlappedRollback)) {
        this.writeConflict(write, commitTs, WriteConflict_Reason.SelfRolledBack);
      }
      const k = this.props.kind;
      if (k.type === "optimistic") {
        if (commitTs > startTs && !this.props.testingSkipWriteConflictCheck) {
          this.writeConflict(write, commitTs, WriteConflict_Reason.Optimistic);
        }
      } else {
        if (this.pessimisticAction === PessimisticAction.DO_CONSTRAINT_CHECK && commitTs > startTs) {
          this.writeConflict(write, commitTs, WriteConflict_Reason.LazyUniquenessCheck);
        }
        if (commitTs > k.forUpdateTs) {
          // Newer rollbacks can exist beside a valid pessimistic lock: not a conflict.
          if (write.writeType === "Rollback") continue;
          this.fail("NonLockKeyConflict");
        }
      }
      checkDataConstraint(reader, this.shouldNotExist, write, commitTs, this.key, startTs);
      return v;
    }
    return undefined;
  }

  /** Verifies the mutation's assertion (Exist / NotExist) at the configured level. */
  checkAssertion(reader: MvccReader, prev: WriteVersion | undefined, loaded: boolean): void {
    if (this.assertion === Assertion.None || this.props.assertionLevel === AssertionLevel.Off) return;
    if (this.props.assertionLevel !== AssertionLevel.Strict && !loaded) return;
    let w = prev;
    // A record carrying a GC fence found as the latest version is already deleted.
    if (loaded && w && w.write.gcFence !== undefined && w.write.gcFence !== 0n) w = undefined;
    const needReload =
      !loaded || (w !== undefined && w.write.writeType !== "Put" && w.write.writeType !== "Delete");
    if (needReload) {
      w = reader.getWrite(this.key, w ? w.commitTs : TS_MAX, this.props.startTs);
    }
    let failed: { startTs: bigint; commitTs: bigint } | undefined;
    if (this.assertion === Assertion.Exist) {
      if (w === undefined) failed = { startTs: 0n, commitTs: 0n };
      else if (w.write.writeType === "Delete") failed = { startTs: w.write.startTs, commitTs: w.commitTs };
    } else if (this.assertion === Assertion.NotExist && w !== undefined && w.write.writeType === "Put") {
      failed = { startTs: w.write.startTs, commitTs: w.commitTs };
    }
    if (!failed) return;
    // The assertion may have failed because of a rollback: a constraint check reports that first.
    if (this.skipConstraintCheck()) this.checkForNewerVersion(reader);
    throw new MvccError({
      kind: "AssertionFailed",
      startTs: this.props.startTs,
      key: this.key,
      assertion: this.assertion,
      existingStartTs: failed.startTs,
      existingCommitTs: failed.commitTs,
    });
  }

  /** Writes the lock (or keeps it aside for 1PC); returns the key's min_commit_ts for async/1PC. */
  writeLock(
    txn: MvccTxn,
    maxTsTracker: MaxTsTracker,
    status: LockStatus,
    isNewLock: boolean,
    generation: bigint,
    shared: SharedLocks | undefined,
  ): bigint {
    const props = this.props;
    let tryOnePc = props.commitKind.type === "1pc";
    const forUpdateTs =
      status.kind === "pessimistic" ? maxTs(forUpdateTsOf(props), status.forUpdateTs) : forUpdateTsOf(props);
    let shortValue: Buffer | undefined;
    if (this.value !== undefined) {
      if (isShortValue(this.value)) shortValue = this.value;
      else txn.putValue(this.key, props.startTs, this.value);
    }
    let useAsyncCommit = this.secondaryKeys !== undefined;
    let secondaries: readonly Buffer[] = this.secondaryKeys ?? [];
    let minCommitTs = this.minCommitTs;
    let result = 0n;
    let tooLarge: MvccError | undefined;
    if (useAsyncCommit || tryOnePc) {
      const maxCommitTs = props.commitKind.type === "2pc" ? 0n : props.commitKind.maxCommitTs;
      const candidate = maxTs(
        maxTs(maxTs(maxTsTracker.value, props.startTs), forUpdateTsOf(props)) + 1n,
        minCommitTs,
      );
      if (maxCommitTs !== 0n && candidate > maxCommitTs) {
        tooLarge = new MvccError({
          kind: "CommitTsTooLarge",
          startTs: props.startTs,
          minCommitTs: candidate,
          maxCommitTs,
        });
        tryOnePc = false;
        useAsyncCommit = false;
        secondaries = [];
      } else {
        minCommitTs = candidate;
        result = candidate;
      }
    }
    const lock = newLock({
      lockType: this.lockType as LockType,
      primary: props.primary,
      startTs: props.startTs,
      ttl: this.lockTtl,
      shortValue,
      forUpdateTs,
      txnSize: props.txnSize,
      minCommitTs,
      useAsyncCommit,
      useOnePc: tryOnePc,
      secondaries,
      txnSource: props.txnSource,
      generation,
      isTxnFile: props.isTxnFile,
    });
    if (shared) {
      // The prewritten sub-lock replaces the pessimistic one inside the shared locks.
      const reject = (message: string): never => {
        throw new MvccError({ kind: "Other", message });
      };
      if (generation > 0n)
        reject(`shared lock prewrite does not support non-zero generation, generation: ${generation}`);
      if (tryOnePc) reject("shared lock prewrite is incompatible with one-phase commit");
      if (useAsyncCommit) reject("shared lock prewrite cannot use async-commit, falling back to 2PC");
      txn.putSharedLocks(this.key, withSharedLock(shared, lock), false);
    } else if (tryOnePc) txn.putLockFor1pc(this.key, lock, status.kind === "pessimistic");
    else txn.putLock(this.key, lock, isNewLock);
    if (tooLarge) throw tooLarge;
    return result;
  }
}

/**
 * Existence check for Insert / CheckNotExists: AlreadyExist when the newest record (or the
 * data version under a newest Lock/Rollback) is a Put.
 */
function checkDataConstraint(
  reader: MvccReader,
  shouldNotExist: boolean,
  write: Write,
  commitTs: bigint,
  key: Buffer,
  startTs: bigint,
): void {
  const invalid = write.gcFence !== undefined && write.gcFence !== 0n;
  if (!shouldNotExist || write.writeType === "Delete" || invalid) return;
  const existing =
    write.writeType === "Put" ? write.startTs : reader.getWrite(key, commitTs - 1n, startTs)?.write.startTs;
  if (existing !== undefined) throw new MvccError({ kind: "AlreadyExist", key, existingStartTs: existing });
}

/** Inputs of a single-mutation prewrite beyond the shared properties. */
export interface PrewriteOneArgs {
  readonly mutation: Mutation;
  /** Defined for async commit: the primary's secondaries list, [] for other keys. */
  readonly secondaryKeys: readonly Buffer[] | undefined;
  readonly pessimisticAction: PessimisticAction;
  readonly expectedForUpdateTs: bigint | undefined;
  /** Pipelined-DML flush generation; 0 for ordinary prewrites. */
  readonly generation: bigint;
}

/**
 * Prewrites one mutation into txn; returns its min_commit_ts (0 when not async/1PC or when
 * an already-prewritten non-async lock was found). Throws MvccError on conflicts.
 */
export function prewriteOne(
  txn: MvccTxn,
  reader: MvccReader,
  maxTsTracker: MaxTsTracker,
  props: TransactionProperties,
  args: PrewriteOneArgs,
): bigint {
  if (isPessimisticTxn(props) && args.mutation.op === Op.CheckNotExists) {
    throw new MvccError({ kind: "Other", message: "cannot handle checkNotExists in pessimistic prewrite" });
  }
  const m = new PrewriteMutation(args.mutation, props, args.secondaryKeys, args.pessimisticAction);
  // An existence check is a read: it must push max_ts like any read at start_ts.
  if (m.shouldNotExist) maxTsTracker.update(props.startTs);

  let lockAmended = false;
  let status: LockStatus = { kind: "none" };
  let shared: SharedLocks | undefined;
  const lock = reader.loadLock(m.key);
  if (lock && isSharedLocks(lock)) {
    const own = sharedLockOf(lock, props.startTs);
    if (own) {
      if (!m.isSharedLock) {
        throw new MvccError({ kind: "Other", message: "use Op::SharedLock to prewrite on a shared lock" });
      }
      status = m.checkLock(own, args.expectedForUpdateTs, args.generation);
      shared = lock;
    } else {
      // Only the txn's own shared pessimistic lock can be prewritten as a shared lock.
      if (m.isSharedLock) m.lockMissing();
      throw new MvccError({ kind: "KeyIsLocked", lockInfo: sharedLocksToLockInfo(lock, m.key) });
    }
  } else if (lock) {
    // A shared lock is never taken over from (nor stacked on) an exclusive lock.
    if (m.isSharedLock) throw new MvccError({ kind: "KeyIsLocked", lockInfo: lockToLockInfo(lock, m.key) });
    status = m.checkLock(lock, args.expectedForUpdateTs, args.generation);
  } else if (args.pessimisticAction === PessimisticAction.DO_PESSIMISTIC_CHECK) {
    // A shared lock cannot be amended: its pessimistic lock must exist.
    if (m.isSharedLock) m.lockMissing();
    amendPessimisticLock(m, reader);
    lockAmended = true;
  }
  if (args.generation === 0n && status.kind === "locked") return status.minCommitTs;

  let prev: WriteVersion | undefined;
  let prevLoaded = false;
  if (!m.skipConstraintCheck()) {
    prev = m.checkForNewerVersion(reader);
    prevLoaded = true;
  }
  const isSubsequentFlush = args.generation > 0n && status.kind === "locked";
  if (!lockAmended && !isSubsequentFlush) m.checkAssertion(reader, prev, prevLoaded);

  if (m.shouldNotWrite) {
    maxTsTracker.update(props.startTs);
    return m.needMinCommitTs() ? maxTs(props.minCommitTs, props.startTs + 1n) : 0n;
  }
  const isNewLock = args.pessimisticAction !== PessimisticAction.DO_PESSIMISTIC_CHECK || lockAmended;
  return m.writeLock(txn, maxTsTracker, status, isNewLock, args.generation, shared);
}

/**
 * The pessimistic lock expected on the key is missing (e.g. lost pipelined locking): accept
 * the key as if optimistic when nothing was committed on it since the txn started.
 */
function amendPessimisticLock(m: PrewriteMutation, reader: MvccReader): void {
  const latest = reader.seekWrite(m.key, TS_MAX);
  if (latest && latest.commitTs >= m.props.startTs) {
    throw new MvccError({
      kind: "PessimisticLockNotFound",
      startTs: m.props.startTs,
      key: m.key,
      reason: "LockMissingAmendFail",
    });
  }
  m.checkAssertion(reader, latest, true);
}
