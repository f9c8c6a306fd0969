// Everything stored for one key in TiKV's MvccInfo shape (tikv src/storage/txn/actions/mvcc.rs
// find_mvcc_infos_by_key and src/storage/types.rs MvccInfo::into_proto).
import { MvccInfo, Op } from "../../../proto/kvrpcpb.js";
import type { MvccReader } from "./reader.js";
import { isSharedLocks, lockTypeToOp, type WriteType } from "./types.js";

const WRITE_OP: Record<WriteType, Op> = { Put: Op.Put, Delete: Op.Del, Lock: Op.Lock, Rollback: Op.Rollback };

/**
 * Lock (type, start_ts, primary, short_value — the fields TiKV fills), writes and values of
 * key, newest first. `withValues` false leaves out default-CF values (as in KeyError debug info).
 */
export function mvccInfoOf(reader: MvccReader, key: Buffer, withValues = true): MvccInfo {
  const record = reader.loadLock(key);
  // Shared locks show one holder's sub-lock (TiKV takes the first; we take the oldest).
  const lock = record && isSharedLocks(record) ? record.locks[0] : record;
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
    values: withValues ? reader.valuesOf(key).map(({ startTs, value }) => ({ startTs, value })) : [],
  });
}
