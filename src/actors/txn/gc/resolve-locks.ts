// GC's lock resolution over a range (client-go tikv/gc.go ResolveLocksForRange,
// scanLocksInOneRegionWithRange, batchResolveLocksInOneRegion): in each region, scan up to
// GC_SCAN_LOCK_LIMIT locks with ts <= the safe point, settle their transactions whatever their
// TTL, resolve them in one ResolveLock, and scan again until the region has fewer locks than the
// limit. A region that changed between scan and resolve is scanned again from the same key, so no
// lock is skipped when a region splits under the walk.

import { extractKeyError } from "../../../errors/extract.js";
import { type LockDetails, lockDetailsFromLockInfo } from "../../../errors/txn.js";
import type { KeyRange } from "../../../kv/key.js";
import { lockHolders } from "../../../machines/lock-policy.js";
import { ScanLockRequest } from "../../../proto/kvrpcpb.js";
import type { CachedRegion } from "../../region-cache/cached-region.js";
import type { RangeTaskStat, RegionVisit } from "../../runtime/range-task.js";
import { walkRegions } from "../../runtime/range-task.js";
import type { RawRequestSender, RequestControl } from "../../runtime/raw-sender.js";
import type { LockResolver } from "../lock-resolver.js";

/** client-go GCScanLockLimit (ResolvedCacheSize / 2). */
export const GC_SCAN_LOCK_LIMIT = 1024;
/** client-go gcResolveLockMaxBackoff (ms), per region. */
export const GC_RESOLVE_LOCK_MAX_BACKOFF_MS = 100_000;

/** What resolving one range did. */
export interface ResolveRangeStat extends RangeTaskStat {
  /** Locks resolved (each holder of a shared lock counts once). */
  locksResolved: number;
}

/** What the handler needs. */
export interface ResolveRangeDeps {
  sender: RawRequestSender;
  resolver: Pick<LockResolver, "batchResolveLocks">;
  /** A fresh control block per region (the per-region backoff budget). */
  control: (signal: AbortSignal) => RequestControl;
}

/**
 * Resolves every lock with start ts <= `safePoint` in `range` (user keys). Rejects with the first
 * error that outlives the per-region backoff, AbortedError when `signal` aborts.
 */
export async function resolveLocksInRange(
  deps: ResolveRangeDeps,
  safePoint: bigint,
  range: KeyRange,
  signal: AbortSignal,
  limit = GC_SCAN_LOCK_LIMIT,
): Promise<ResolveRangeStat> {
  let locksResolved = 0;
  let ctl = deps.control(signal);
  const visit = async ({ region, range: part }: { region: CachedRegion; range: KeyRange }) => {
    const v = await resolveInRegion(deps, region, part, safePoint, limit, ctl);
    locksResolved += v.resolved;
    // a new budget per region, as client-go makes a new backoffer per step
    if (v.next === "next") ctl = deps.control(signal);
    return v.next;
  };
  const completed = await walkRegions(
    (key, c) => deps.sender.locate(key, c),
    range,
    ctl,
    (p) => visit(p),
    signal,
  );
  return { completedRegions: completed, failedRegions: 0, locksResolved };
}

async function resolveInRegion(
  deps: ResolveRangeDeps,
  region: CachedRegion,
  part: KeyRange,
  safePoint: bigint,
  limit: number,
  ctl: RequestControl,
): Promise<{ next: RegionVisit; resolved: number }> {
  const req = ScanLockRequest.fromPartial({
    maxVersion: safePoint,
    limit,
    startKey: part.start,
    endKey: part.end,
  });
  const out = await deps.sender.sendOnce(region, "ScanLock", req, ctl);
  if (!out.resp) return { next: "relocate", resolved: 0 };
  if (out.resp.error) throw extractKeyError(out.resp.error);
  const infos = out.resp.locks;
  if (infos.length === 0) return { next: "next", resolved: 0 };
  const locks: LockDetails[] = [];
  for (const info of infos) locks.push(...lockHolders(lockDetailsFromLockInfo(info)));
  await deps.resolver.batchResolveLocks(locks, part.start, ctl);
  // the resolve went to the region holding part.start now: if that is no longer the region we
  // scanned, part of what we scanned may lie in another region; scan again from the same key
  const now = deps.sender.cache.getCachedById(region.id);
  if (!now || now.version !== region.version || now.confVer !== region.confVer || !now.isValid) {
    return { next: "relocate", resolved: locks.length };
  }
  if (infos.length < limit) return { next: "next", resolved: locks.length };
  // more locks than one scan returns: go on after the last one (already resolved)
  const last = infos[infos.length - 1]?.key as Buffer;
  return { next: { from: last }, resolved: locks.length };
}
