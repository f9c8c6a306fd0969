// KvScanLock. Semantics follow tikv src/storage/mod.rs (Storage::scan_lock).
import { type ScanLockRequest, ScanLockResponse } from "../../../../proto/kvrpcpb.js";
import { lockRecordToLockInfo } from "../../mvcc/types.js";
import { clampRange, type EngineContext, type KeyRangeLimit } from "../context.js";

/**
 * KvScanLock: locks with start_ts <= max_version in [start_key, end_key) within the region,
 * at most `limit` (0 = unlimited). Pushes max_ts to max_version (GC's resolve-locks scan).
 * Shared locks list only their holders with start_ts <= max_version; the limit counts holders.
 */
export function scanLock(ec: EngineContext, req: ScanLockRequest, range?: KeyRangeLimit): ScanLockResponse {
  ec.store.maxTs.update(req.maxVersion);
  const r = clampRange(req.startKey, req.endKey, range);
  if (r.end.length > 0 && Buffer.compare(r.start, r.end) >= 0) return ScanLockResponse.fromPartial({});
  const { locks } = ec.reader.scanLocks(r.start, r.end, (_k, l) => l.startTs <= req.maxVersion, req.limit);
  return ScanLockResponse.fromPartial({
    locks: locks.map(({ key, lock }) => lockRecordToLockInfo(lock, key)),
  });
}
