// Reading a PessimisticLock response sent in WakeUpModeForceLock (client-go pessimistic.go
// handlePessimisticLockResponseForceLockMode): one key, whose outcome is in `results` —
// Normal, LockedWithConflict (locked although a newer version exists: the value and the
// conflicting commit ts come back) or Failed (the KeyError says why; meeting shared locks
// counts as failed). Pure: the RPC loop (pessimistic-lock.ts) resolves the locks it returns.

import { extractKeyError } from "../../errors/extract.js";
import { BodyMissingError } from "../../errors/server.js";
import { type LockDetails, lockDetailsFromLockInfo } from "../../errors/txn.js";
import { PessimisticLockKeyResultType, type PessimisticLockResponse } from "../../proto/kvrpcpb.js";

/** What a ForceLock lock learned about its key. */
export interface ForceLockValue {
  value: Buffer | undefined;
  exists: boolean;
  /** Non-zero when the key was locked with a conflict: the newer version's commit ts. */
  lockedWithConflictTs: bigint;
}

/** The outcome of one ForceLock response. */
export type ForceLockOutcome =
  /** Locked; `learned` is set when values / existence were asked for, or on a conflict. */
  | { kind: "locked"; learned: ForceLockValue | undefined }
  /** Not locked: resolve `locks` (possibly none: ask again) and retry. */
  | { kind: "blocked"; locks: LockDetails[] };

/**
 * Classifies a ForceLock response. Throws the typed error of a KeyError that is not a lock
 * (deadlock, key exists, write conflict...), and BodyMissingError for a response TiKV would not
 * send (several results, locks reported beside a success, no result at all).
 */
export function forceLockOutcome(
  resp: PessimisticLockResponse,
  want: { returnValues: boolean; checkExistence: boolean },
): ForceLockOutcome {
  if (resp.results.length > 1) {
    throw new BodyMissingError("pessimistic lock response corrupted: several results in ForceLock mode");
  }
  const locks: LockDetails[] = [];
  // shared locks on the key fail the request, whatever the result says
  let failed = false;
  for (const ke of resp.errors) {
    if (!ke.locked) throw extractKeyError(ke);
    if (ke.locked.sharedLockInfos.length > 0) failed = true;
    locks.push(lockDetailsFromLockInfo(ke.locked));
  }
  const res = resp.results[0];
  let learned: ForceLockValue | undefined;
  if (res) {
    const value = res.existence ? res.value : undefined;
    switch (res.type) {
      case PessimisticLockKeyResultType.LockResultNormal:
        if (want.returnValues) learned = { value, exists: res.existence, lockedWithConflictTs: 0n };
        else if (want.checkExistence)
          learned = { value: undefined, exists: res.existence, lockedWithConflictTs: 0n };
        break;
      case PessimisticLockKeyResultType.LockResultLockedWithConflict:
        learned = { value, exists: res.existence, lockedWithConflictTs: res.lockedWithConflictTs };
        break;
      default:
        failed = true;
    }
  }
  if (failed) return { kind: "blocked", locks };
  if (locks.length > 0) {
    throw new BodyMissingError("pessimistic lock response corrupted: locks reported beside a success");
  }
  if (!res) throw new BodyMissingError("pessimistic lock response corrupted: no result in ForceLock mode");
  return { kind: "locked", learned };
}
