// KvFlush (pipelined DML). Semantics follow tikv src/storage/txn/commands/flush.rs:
// an optimistic prewrite of generation-bearing locks whose successful keys are written even
// when other keys report locks.
import {
  type FlushRequest,
  FlushResponse,
  type KeyError,
  PrewriteRequest_PessimisticAction as PessimisticAction,
} from "../../../../proto/kvrpcpb.js";
import { MvccError, toKeyError } from "../../mvcc/errors.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { prewriteOne, type TransactionProperties } from "../actions/prewrite.js";
import { applyTxn, type EngineContext } from "../context.js";

/** Largest u64: Flush's txn_size is unknown, so it is reported as huge (no resolve-lock-lite). */
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** KvFlush: errors per locked key; other errors fail the whole request. */
export function flush(ec: EngineContext, req: FlushRequest): FlushResponse {
  if (req.generation === 0n) {
    const e = new MvccError({
      kind: "Other",
      message: "generation should be greater than 0 for Flush requests",
    });
    return FlushResponse.fromPartial({ errors: [toKeyError(e)] });
  }
  const props: TransactionProperties = {
    startTs: req.startTs,
    kind: { type: "optimistic", skipConstraintCheck: false },
    commitKind: { type: "2pc" },
    primary: req.primaryKey,
    txnSize: U64_MAX,
    lockTtl: req.lockTtl,
    // A non-zero min_commit_ts lets readers push the pipelined txn forward.
    minCommitTs: req.startTs + 1n,
    isRetryRequest: req.context?.isRetryRequest ?? false,
    assertionLevel: req.assertionLevel,
    txnSource: req.context?.txnSource ?? 0n,
    isTxnFile: false,
  };
  const txn = new MvccTxn(req.startTs);
  const locked: KeyError[] = [];
  let assertionFailure: MvccError | undefined;
  try {
    for (const mutation of req.mutations) {
      try {
        prewriteOne(txn, ec.reader, ec.store.maxTs, props, {
          mutation,
          secondaryKeys: undefined,
          pessimisticAction: PessimisticAction.SKIP_PESSIMISTIC_CHECK,
          expectedForUpdateTs: undefined,
          generation: req.generation,
        });
      } catch (e) {
        if (!(e instanceof MvccError)) throw e;
        const inner = e.inner;
        const record = (): boolean => {
          const r = ec.reader.getTxnCommitRecord(mutation.key, req.startTs);
          return r.kind === "single" && r.write.writeType !== "Rollback";
        };
        if (inner.kind === "WriteConflict" && inner.conflictCommitTs > inner.startTs) {
          if (!record()) throw e;
          // Already committed: nothing more to flush.
          return FlushResponse.fromPartial({ errors: [] });
        } else if (inner.kind === "KeyIsLocked") {
          if (record()) return FlushResponse.fromPartial({ errors: [] });
          locked.push(toKeyError(e));
        } else if (inner.kind === "AssertionFailed") {
          assertionFailure ??= e;
        } else if (inner.kind === "GenerationOutOfOrder") {
          // A stale flush of an older generation: ignore this mutation.
        } else {
          throw e;
        }
      }
    }
    if (assertionFailure) throw assertionFailure;
  } catch (e) {
    return FlushResponse.fromPartial({ errors: [toKeyError(e)] });
  }
  applyTxn(ec, txn);
  return FlushResponse.fromPartial({ errors: locked });
}
