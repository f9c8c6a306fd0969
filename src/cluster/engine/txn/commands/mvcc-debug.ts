// KvMvccGetByKey / KvMvccGetByStartTs. Semantics follow tikv src/storage/txn/actions/mvcc.rs
// (find_mvcc_infos_by_key), src/storage/types.rs (MvccInfo::into_proto) and
// src/storage/txn/commands/mvcc_by_start_ts.rs.
import {
  type MvccGetByKeyRequest,
  MvccGetByKeyResponse,
  type MvccGetByStartTsRequest,
  MvccGetByStartTsResponse,
  MvccInfo,
  Op,
} from "../../../../proto/kvrpcpb.js";
import { rawKey } from "../../mvcc/key.js";
import type { MvccReader } from "../../mvcc/reader.js";
import { lockTypeToOp, type WriteType } from "../../mvcc/types.js";
import type { EngineContext } from "../context.js";

const WRITE_OP: Record<WriteType, Op> = { Put: Op.Put, Delete: Op.Del, Lock: Op.Lock, Rollback: Op.Rollback };

/** Everything stored for key, newest first, in TiKV's MvccInfo shape (lock: type, start_ts, primary, short_value). */
export function mvccInfoOf(reader: MvccReader, key: Buffer): MvccInfo {
  const lock = reader.loadLock(key);
  return MvccInfo.fromPartial({
    lock: lock
      ? {
          type: lockTypeToOp(lock.lockType),
          startTs: lock.startTs,
          primary: lock.primary,
          shortValue: lock.shortValue ?? Buffer.alloc(0),
        }
      : undefined,
    writes: reader.writesOf(key).map(({ commitTs, write }) => ({
      type: WRITE_OP[write.writeType],
      startTs: write.startTs,
      commitTs,
      shortValue: write.shortValue ?? Buffer.alloc(0),
      hasOverlappedRollback: write.hasOverlappedRollback,
      hasGcFence: write.gcFence !== undefined,
      gcFence: write.gcFence ?? 0n,
    })),
    values: reader.valuesOf(key).map(({ startTs, value }) => ({ startTs, value })),
  });
}

/** KvMvccGetByKey. */
export function mvccGetByKey(ec: EngineContext, req: MvccGetByKeyRequest): MvccGetByKeyResponse {
  return MvccGetByKeyResponse.fromPartial({ info: mvccInfoOf(ec.reader, req.key) });
}

/** KvMvccGetByStartTs: the first key (in key order) having a write record of that start_ts. */
export function mvccGetByStartTs(ec: EngineContext, req: MvccGetByStartTsRequest): MvccGetByStartTsResponse {
  for (const [sk, versions] of ec.store.writeCf.entries()) {
    if (versions.some((v) => v.write.startTs === req.startTs)) {
      const key = rawKey(sk);
      return MvccGetByStartTsResponse.fromPartial({ key, info: mvccInfoOf(ec.reader, key) });
    }
  }
  return MvccGetByStartTsResponse.fromPartial({ info: MvccInfo.fromPartial({}) });
}
