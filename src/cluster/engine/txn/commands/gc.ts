// MVCC GC, DeleteRange and UnsafeDestroyRange. GC semantics follow
// tikv src/storage/txn/actions/gc.rs; the ranges follow src/storage/mod.rs (delete_range)
// and src/server/gc_worker (unsafe_destroy_range).
import { type DeleteRangeRequest, DeleteRangeResponse } from "../../../../proto/kvrpcpb.js";
import { rawKey } from "../../mvcc/key.js";
import { MvccTxn } from "../../mvcc/txn.js";
import type { WriteVersion } from "../../mvcc/types.js";
import { applyTxn, clampRange, type EngineContext, type KeyRangeLimit } from "../context.js";

/**
 * GC of one key below safePoint: keeps every version newer than the safe point and the latest
 * Put at or below it; removes Lock/Rollback records down to that Put and everything older;
 * a latest Delete at or below the safe point is removed too. Locks are untouched.
 */
export function gcKey(
  txn: MvccTxn,
  key: Buffer,
  versions: readonly WriteVersion[],
  safePoint: bigint,
): number {
  let state: "rewind" | "removeIdempotent" | "removeAll" = "rewind";
  let latestDelete: WriteVersion | undefined;
  let deleted = 0;
  const drop = (v: WriteVersion): void => {
    txn.deleteWrite(key, v.commitTs);
    if (v.write.writeType === "Put" && v.write.shortValue === undefined)
      txn.deleteValue(key, v.write.startTs);
    deleted++;
  };
  for (const v of versions) {
    if (state === "rewind") {
      if (v.commitTs > safePoint) continue;
      state = "removeIdempotent";
    }
    if (state === "removeIdempotent") {
      if (v.write.writeType === "Put") state = "removeAll";
      else if (v.write.writeType === "Delete") {
        state = "removeAll";
        latestDelete = v;
      } else drop(v);
      continue;
    }
    drop(v);
  }
  if (latestDelete) drop(latestDelete);
  return deleted;
}

/** GC over every key (optionally limited to a range); returns the number of versions removed. */
export function gc(ec: EngineContext, safePoint: bigint, range?: KeyRangeLimit): number {
  const txn = new MvccTxn(0n);
  let deleted = 0;
  const r = clampRange(Buffer.alloc(0), Buffer.alloc(0), range);
  const hi = r.end.length === 0 ? undefined : r.end.toString("latin1");
  for (const [sk, versions] of ec.store.writeCf.entries(r.start.toString("latin1"))) {
    if (hi !== undefined && sk >= hi) break;
    deleted += gcKey(txn, rawKey(sk), versions, safePoint);
  }
  applyTxn(ec, txn);
  return deleted;
}

/** KvDeleteRange: physically deletes every CF in [start_key, end_key) ∩ region, unless notify_only. */
export function deleteRange(
  ec: EngineContext,
  req: DeleteRangeRequest,
  range?: KeyRangeLimit,
): DeleteRangeResponse {
  if (!req.notifyOnly) {
    const r = clampRange(req.startKey, req.endKey, range);
    ec.store.destroyRange(r.start, r.end);
  }
  return DeleteRangeResponse.fromPartial({});
}

/** UnsafeDestroyRange: drops all data of [start, end) (GC of dropped tables). */
export function unsafeDestroyRange(ec: EngineContext, start: Buffer, end: Buffer): void {
  ec.store.destroyRange(start, end);
}
