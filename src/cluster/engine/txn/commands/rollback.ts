// KvBatchRollback and KvCleanup. Semantics follow tikv src/storage/txn/commands/rollback.rs,
// src/storage/txn/commands/cleanup.rs and src/server/service/kv.rs (future_cleanup).
import {
  type BatchRollbackRequest,
  BatchRollbackResponse,
  type CleanupRequest,
  CleanupResponse,
} from "../../../../proto/kvrpcpb.js";
import { MvccError, toKeyError } from "../../mvcc/errors.js";
import { MvccTxn } from "../../mvcc/txn.js";
import { cleanup } from "../actions/cleanup.js";
import { applyTxn, type EngineContext } from "../context.js";

/**
 * KvBatchRollback: rolls the txn back on every key (unprotected rollback records: the txn is
 * known to fail). Fails with `abort` ("txn already committed") if any key is committed.
 */
export function batchRollback(ec: EngineContext, req: BatchRollbackRequest): BatchRollbackResponse {
  const txn = new MvccTxn(req.startVersion);
  try {
    for (const key of req.keys) cleanup(txn, ec.reader, key, 0n, false);
  } catch (e) {
    return BatchRollbackResponse.fromPartial({ error: toKeyError(e) });
  }
  applyTxn(ec, txn);
  return BatchRollbackResponse.fromPartial({});
}

/**
 * KvCleanup (legacy): rolls back one key if its lock expired at current_ts (0 = always), with a
 * protected rollback record; a committed txn answers with commit_version instead of an error.
 */
export function cleanupKey(ec: EngineContext, req: CleanupRequest): CleanupResponse {
  // A commit must never overwrite the protected rollback written here.
  ec.store.maxTs.update(req.startVersion);
  const txn = new MvccTxn(req.startVersion);
  try {
    cleanup(txn, ec.reader, req.key, req.currentTs, true);
  } catch (e) {
    if (e instanceof MvccError && e.inner.kind === "Committed") {
      return CleanupResponse.fromPartial({ commitVersion: e.inner.commitTs });
    }
    return CleanupResponse.fromPartial({ error: toKeyError(e) });
  }
  applyTxn(ec, txn);
  return CleanupResponse.fromPartial({});
}
