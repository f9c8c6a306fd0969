// KvBroadcastTxnStatus. Semantics follow tikv src/storage/mod.rs (update_txn_status_cache).
import { type BroadcastTxnStatusRequest, BroadcastTxnStatusResponse } from "../../../../proto/kvrpcpb.js";
import type { EngineContext } from "../context.js";

/** Records the broadcast states (committed / rolled back / ongoing with min_commit_ts) in the cache. */
export function broadcastTxnStatus(
  ec: EngineContext,
  req: BroadcastTxnStatusRequest,
): BroadcastTxnStatusResponse {
  for (const s of req.txnStatus) {
    if (s.commitTs !== 0n) ec.committed.upsert(s.startTs, { kind: "committed", commitTs: s.commitTs });
    else if (s.rolledBack) ec.committed.upsert(s.startTs, { kind: "rolledBack" });
    else ec.committed.upsert(s.startTs, { kind: "ongoing", minCommitTs: s.minCommitTs });
  }
  return BroadcastTxnStatusResponse.fromPartial({});
}
