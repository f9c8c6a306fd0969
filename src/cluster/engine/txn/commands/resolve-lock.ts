// KvResolveLock. Semantics follow tikv src/storage/txn/commands/{resolve_lock.rs,
// resolve_lock_readphase.rs, resolve_lock_lite.rs} and the request mapping in commands/mod.rs.
import { KeyError, type ResolveLockRequest, ResolveLockResponse } from "../../../../proto/kvrpcpb.js";
import { MvccError, toKeyError } from "../../mvcc/errors.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { isSharedLocks } from "../../mvcc/types.js";
import { cleanup } from "../actions/cleanup.js";
import { commit } from "../actions/commit.js";
import { applyTxn, type EngineContext, type KeyRangeLimit } from "../context.js";

/** Locks resolved per write batch when scanning (tikv RESOLVE_LOCK_BATCH_SIZE). */
export const RESOLVE_LOCK_BATCH_SIZE = 256;

function invalidTso(startTs: bigint, commitTs: bigint): ResolveLockResponse {
  return ResolveLockResponse.fromPartial({
    error: KeyError.fromPartial({
      abort: `Error(Txn(Error(InvalidTxnTso { start_ts: TimeStamp(${startTs}), commit_ts: TimeStamp(${commitTs}) })))`,
    }),
  });
}

/**
 * KvResolveLock. With keys: commit (commit_version > 0) or roll back those keys of
 * start_version ("lite"). Without keys: scan the region range for locks of every txn in
 * {start_version: commit_version} or txn_infos, committing or rolling each back, in batches
 * that are applied one by one (an error stops the remaining batches).
 */
export function resolveLock(
  ec: EngineContext,
  req: ResolveLockRequest,
  range?: KeyRangeLimit,
): ResolveLockResponse {
  if (req.keys.length > 0) {
    const txn = new MvccTxn(req.startVersion);
    try {
      for (const key of req.keys) {
        if (req.commitVersion !== 0n) commit(txn, ec.reader, key, req.commitVersion);
        else cleanup(txn, ec.reader, key, 0n, false);
      }
    } catch (e) {
      return ResolveLockResponse.fromPartial({ error: toKeyError(e) });
    }
    applyTxn(
      ec,
      txn,
      req.commitVersion !== 0n ? { startTs: req.startVersion, commitTs: req.commitVersion } : undefined,
    );
    return ResolveLockResponse.fromPartial({});
  }

  const statuses = new Map<bigint, bigint>();
  if (req.startVersion > 0n) statuses.set(req.startVersion, req.commitVersion);
  else for (const info of req.txnInfos) statuses.set(info.txn, info.status);

  let scanFrom = range?.start;
  for (;;) {
    const { locks, hasMore } = ec.reader.scanLocks(
      scanFrom,
      range?.end,
      (_k, l) => statuses.has(l.startTs),
      RESOLVE_LOCK_BATCH_SIZE,
    );
    if (locks.length === 0) break;
    // Each holder of shared locks is resolved on its own (tikv resolve_lock_readphase).
    const keyLocks = locks.flatMap(({ key, lock }) =>
      isSharedLocks(lock) ? lock.locks.map((l) => ({ key, lock: l })) : [{ key, lock }],
    );
    // One buffer per batch, switched from txn to txn, so that the holders of one key's shared
    // locks see each other's pending changes (TiKV sets txn.start_ts per lock).
    const txn = new MvccTxn(0n);
    const committed: { startTs: bigint; commitTs: bigint }[] = [];
    try {
      for (const { key, lock } of keyLocks) {
        const commitTs = statuses.get(lock.startTs) ?? 0n;
        txn.startTs = lock.startTs;
        if (commitTs === 0n) {
          cleanup(txn, ec.reader, key, 0n, false);
        } else if (commitTs > lock.startTs) {
          try {
            commit(txn, ec.reader, key, commitTs);
            committed.push({ startTs: lock.startTs, commitTs });
          } catch (e) {
            // A pessimistic lock left behind by a committed txn is simply dropped.
            if (
              !(
                e instanceof MvccError &&
                e.inner.kind === "TxnLockNotFound" &&
                lock.lockType === "Pessimistic"
              )
            )
              throw e;
          }
        } else {
          return invalidTso(lock.startTs, commitTs);
        }
      }
    } catch (e) {
      return ResolveLockResponse.fromPartial({ error: toKeyError(e) });
    }
    applyTxn(ec, txn);
    for (const c of committed) ec.committed.insert(c.startTs, c.commitTs);
    if (!hasMore) break;
    const last = locks[locks.length - 1];
    if (!last) break;
    // TiKV resumes at the last key itself: a shared-lock set cut by the batch limit keeps
    // unresolved holders there (resolved locks are gone, so nothing is visited twice).
    scanFrom = last.key;
  }
  return ResolveLockResponse.fromPartial({});
}
