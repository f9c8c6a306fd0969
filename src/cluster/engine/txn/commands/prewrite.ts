// KvPrewrite. Semantics follow tikv src/storage/txn/commands/prewrite.rs (Prewriter::
// {process_write, prewrite, write_result}, one_pc_commit, fallback_1pc_locks) and
// src/storage/txn/actions/common.rs (check_committed_record_on_err).
import {
  type KeyError,
  PrewriteRequest_PessimisticAction as PessimisticAction,
  type PrewriteRequest,
  PrewriteResponse,
} from "../../../../proto/kvrpcpb.js";
import { MvccError, toKeyError } from "../../mvcc/errors.js";
import type { MvccReader } from "../../mvcc/reader.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { newWrite, writeTypeFromLockType } from "../../mvcc/types.js";
import { prewriteOne, type TransactionProperties } from "../actions/prewrite.js";
import { applyTxn, type EngineContext } from "../context.js";

/** Undo of 1PC for the keys already handled: turn their kept-aside locks into real locks. */
function fallback1pcLocks(txn: MvccTxn): void {
  for (const { key, lock, removePessimisticLock } of txn.locksFor1pc.splice(0)) {
    txn.putLock(key, { ...lock, useOnePc: false }, !removePessimisticLock);
  }
}

/** 1PC success: every kept-aside lock becomes a write at commitTs. */
function handle1pcLocks(txn: MvccTxn, commitTs: bigint): void {
  for (const { key, lock, removePessimisticLock } of txn.locksFor1pc.splice(0)) {
    const type = writeTypeFromLockType(lock.lockType);
    if (type === undefined) continue;
    txn.putWrite(key, commitTs, {
      ...newWrite(type, txn.startTs, lock.shortValue),
      txnSource: lock.txnSource,
    });
    if (removePessimisticLock) txn.unlockKey(key, true, commitTs);
  }
}

/**
 * After a conflict on key, a retried prewrite of an already-committed txn succeeds: returns the
 * commit ts (and drops the buffered writes) or rethrows the error.
 */
function committedOrThrow(txn: MvccTxn, reader: MvccReader, key: Buffer, err: unknown): bigint {
  const record = reader.getTxnCommitRecord(key, txn.startTs);
  if (record.kind === "single" && record.write.writeType !== "Rollback") {
    txn.clear();
    return record.commitTs;
  }
  throw err;
}

/** KvPrewrite, optimistic (for_update_ts == 0) or pessimistic. */
export function prewrite(ec: EngineContext, req: PrewriteRequest): PrewriteResponse {
  const isPessimistic = req.forUpdateTs !== 0n;
  let isRetryRequest = req.context?.isRetryRequest ?? false;
  // A pessimistic prewrite of a txn known committed is handled as a retry (constraint checks on).
  if (isPessimistic && ec.committed.getCommitted(req.startVersion) !== undefined) isRetryRequest = true;
  let secondaryKeys: Buffer[] | undefined = req.useAsyncCommit ? req.secondaries : undefined;
  let tryOnePc = req.tryOnePc;
  const props: TransactionProperties = {
    startTs: req.startVersion,
    kind: isPessimistic
      ? { type: "pessimistic", forUpdateTs: req.forUpdateTs }
      : { type: "optimistic", skipConstraintCheck: req.skipConstraintCheck },
    commitKind: tryOnePc
      ? { type: "1pc", maxCommitTs: req.maxCommitTs }
      : secondaryKeys
        ? { type: "async", maxCommitTs: req.maxCommitTs }
        : { type: "2pc" },
    primary: req.primaryLock,
    txnSize: req.txnSize,
    lockTtl: req.lockTtl,
    minCommitTs: req.minCommitTs,
    isRetryRequest,
    assertionLevel: req.assertionLevel,
    txnSource: req.context?.txnSource ?? 0n,
    isTxnFile: false,
    testingSkipWriteConflictCheck: ec.testing.skipWriteConflictCheck,
  };
  const expectedForUpdateTs = new Map<number, bigint>();
  if (isPessimistic)
    for (const c of req.forUpdateTsConstraints) expectedForUpdateTs.set(c.index, c.expectedForUpdateTs);

  const txn = new MvccTxn(req.startVersion);
  const reader = ec.reader;
  let asyncCommitPk = secondaryKeys && secondaryKeys.length > 0 ? req.primaryLock : undefined;
  let finalMinCommitTs = 0n;
  const locked: KeyError[] = [];
  let assertionFailure: MvccError | undefined;
  let committedTs: bigint | undefined;

  const fallBackTo2pc = (): void => {
    props.commitKind = { type: "2pc" };
    asyncCommitPk = undefined;
    secondaryKeys = undefined;
    tryOnePc = false;
    fallback1pcLocks(txn);
    finalMinCommitTs = 0n;
  };

  try {
    // TiKV zips pessimistic mutations with their actions: extra mutations are ignored.
    const count = isPessimistic
      ? Math.min(req.mutations.length, req.pessimisticActions.length)
      : req.mutations.length;
    for (let i = 0; i < count && committedTs === undefined; i++) {
      const mutation = req.mutations[i];
      if (!mutation) continue;
      const key = mutation.key;
      const secondaries = secondaryKeys
        ? asyncCommitPk && key.equals(asyncCommitPk)
          ? secondaryKeys
          : []
        : undefined;
      const needMinCommitTs = secondaries !== undefined || tryOnePc;
      try {
        const ts = prewriteOne(txn, reader, ec.store.maxTs, props, {
          mutation,
          secondaryKeys: secondaries,
          pessimisticAction: isPessimistic
            ? (req.pessimisticActions[i] ?? PessimisticAction.SKIP_PESSIMISTIC_CHECK)
            : PessimisticAction.SKIP_PESSIMISTIC_CHECK,
          expectedForUpdateTs: expectedForUpdateTs.get(i),
          generation: 0n,
        });
        if (needMinCommitTs && ts === 0n) {
          // The key was already prewritten without async commit / 1PC: continue as 2PC.
          fallBackTo2pc();
        } else if (needMinCommitTs && finalMinCommitTs < ts) {
          finalMinCommitTs = ts;
        }
      } catch (e) {
        if (!(e instanceof MvccError)) throw e;
        const inner = e.inner;
        if (inner.kind === "WriteConflict" && inner.conflictCommitTs > inner.startTs) {
          committedTs = committedOrThrow(txn, reader, key, e);
        } else if (inner.kind === "PessimisticLockNotFound") {
          committedTs = committedOrThrow(txn, reader, key, e);
        } else if (inner.kind === "CommitTsTooLarge") {
          try {
            committedTs = committedOrThrow(txn, reader, key, e);
          } catch {
            fallBackTo2pc();
          }
        } else if (inner.kind === "KeyIsLocked") {
          try {
            committedTs = committedOrThrow(txn, reader, key, e);
          } catch {
            locked.push(toKeyError(e));
          }
        } else if (inner.kind === "AssertionFailed") {
          assertionFailure ??= e;
        } else {
          throw e;
        }
      }
    }
    if (committedTs !== undefined) {
      locked.length = 0;
      finalMinCommitTs = committedTs;
    } else if (assertionFailure) {
      throw assertionFailure;
    }
  } catch (e) {
    return PrewriteResponse.fromPartial({ errors: [toKeyError(e)] });
  }

  const minCommitTs = secondaryKeys ? finalMinCommitTs : 0n;
  if (locked.length > 0) {
    // Nothing is written when any key is locked by another txn.
    return PrewriteResponse.fromPartial({ errors: locked, minCommitTs });
  }
  let onePcCommitTs = 0n;
  if (tryOnePc) {
    onePcCommitTs = finalMinCommitTs;
    handle1pcLocks(txn, finalMinCommitTs);
  }
  applyTxn(
    ec,
    txn,
    onePcCommitTs !== 0n ? { startTs: req.startVersion, commitTs: onePcCommitTs } : undefined,
  );
  return PrewriteResponse.fromPartial({ minCommitTs, onePcCommitTs });
}
