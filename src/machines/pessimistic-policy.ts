// Pure policy of pessimistic locking (client-go txnkv/transaction/pessimistic.go): how long TiKV
// may wait for a lock on each attempt, what a PessimisticLock answer means, and when waiting ends.

import type { LockDetails } from "../errors/txn.js";
import { lockHolders } from "./lock-policy.js";

/** Lock wait meaning "fail at once when the key is locked" (client-go LockNoWait). */
export const LOCK_NO_WAIT = -1;
/** Lock wait meaning "wait as long as it takes" (client-go LockAlwaysWait). */
export const LOCK_ALWAYS_WAIT = Number.POSITIVE_INFINITY;
/** client-go skipResolveThresholdMs: a lock updated this recently belongs to a live owner. */
export const SKIP_RESOLVE_THRESHOLD_MS = 300n;
/** TiKV's PessimisticLockRequest.wait_timeout for "wait forever" (i64::MAX; TiKV caps the wait itself). */
const WAIT_FOREVER = 0x7fffffffffffffffn;

/**
 * The wait_timeout of one attempt (client-go calculateEffectiveWaitTime): -1 for no wait (also
 * once the caller's wait is used up), the time left of it otherwise, forever as i64::MAX.
 */
export function attemptWaitTimeout(
  lockWaitMs: number,
  waitStartMs: number,
  nowMs: number,
  deadlineMs?: number,
): bigint {
  if (lockWaitMs === LOCK_NO_WAIT || lockWaitMs <= 0) return -1n;
  let wait = lockWaitMs === LOCK_ALWAYS_WAIT ? Number.POSITIVE_INFINITY : lockWaitMs - (nowMs - waitStartMs);
  if (wait <= 0) return -1n;
  // a statement deadline (client-go MaxExecutionDeadline) caps the wait too
  if (deadlineMs !== undefined) {
    const left = deadlineMs - nowMs;
    if (left <= 0) return -1n;
    if (left < wait) wait = left;
  }
  return wait === Number.POSITIVE_INFINITY ? WAIT_FOREVER : BigInt(Math.ceil(wait));
}

/** client-go MaxExecTimeExceededSignal: the signal of the interrupt when a statement deadline passed. */
export const MAX_EXEC_TIME_EXCEEDED_SIGNAL = 2;

/** True once a statement deadline (epoch ms) has passed. */
export function deadlinePassed(deadlineMs: number | undefined, nowMs: number): boolean {
  return deadlineMs !== undefined && nowMs > deadlineMs;
}

/** What to do after locks blocked a lock request and the resolver looked at them. */
export type BlockedVerdict = "noWaitFail" | "waitTimeout" | "retry";

/**
 * client-go handlePessimisticLockResponseNormalMode after ResolveLocks: a lock still alive fails
 * a no-wait request, ends a timed wait once its time is used up, and is waited for otherwise.
 */
export function afterBlocked(
  stillAlive: boolean,
  lockWaitMs: number,
  waitStartMs: number,
  nowMs: number,
): BlockedVerdict {
  if (!stillAlive) return "retry";
  if (lockWaitMs === LOCK_NO_WAIT || lockWaitMs <= 0) return "noWaitFail";
  if (lockWaitMs === LOCK_ALWAYS_WAIT) return "retry";
  return nowMs - waitStartMs >= lockWaitMs ? "waitTimeout" : "retry";
}

/** Locks worth resolving: those whose owner did not update them in the last 300 ms. */
export function locksToResolve(locks: readonly LockDetails[]): LockDetails[] {
  const out: LockDetails[] = [];
  for (const l of locks) {
    for (const h of lockHolders(l)) {
      const d = h.durationToLastUpdateMs;
      if (d > 0n && d < SKIP_RESOLVE_THRESHOLD_MS) continue;
      out.push(h);
    }
  }
  return out;
}
