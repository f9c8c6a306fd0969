// Pure policy of lock resolution (client-go txnkv/txnlock/lock_resolver.go): what a
// transaction's status means for the locks it left, and which RPCs clean them up. The lock
// resolution statechart calls these; the actors perform the RPCs.

import type { LockDetails } from "../errors/txn.js";
import { Action, Op } from "../proto/kvrpcpb.js";

/** A transaction's status as CheckTxnStatus reports it (client-go TxnStatus). */
export interface TxnStatus {
  /** Remaining lock TTL in ms; > 0 while the primary lock is alive. */
  ttl: bigint;
  /** Commit ts; > 0 once committed. */
  commitTs: bigint;
  /** What CheckTxnStatus did (pushed min_commit_ts, rolled back an expired lock, ...). */
  action: Action;
  /** The primary lock, while it exists (async-commit primaries carry the secondaries). */
  primaryLock: LockDetails | undefined;
}

/** Locks met on TiKV under one transaction id, with the caller's view. */
export interface ResolveRequest {
  /** Start ts of the transaction reading or writing (caller_start_ts of CheckTxnStatus). */
  callerStartTs: bigint;
  /** The locks (all of one transaction when given to a resolution). */
  locks: LockDetails[];
  /** True for reads: a lock whose min_commit_ts was pushed can be ignored instead of resolved. */
  forRead: boolean;
  /** Resolve only the given keys even for large transactions (client-go lite resolve). */
  lite: boolean;
}

/** client-go ResolveLockLiteThreshold: below this txn size, locks are resolved by key. */
export const RESOLVE_LOCK_LITE_THRESHOLD = 512n;

/** True when the status is final: committed, or rolled back (client-go IsStatusDetermined). */
export function isDetermined(s: TxnStatus): boolean {
  return isCommitted(s) || isRolledBack(s);
}

/** True once committed. */
export function isCommitted(s: TxnStatus): boolean {
  return s.commitTs > 0n;
}

/** True when rolled back (client-go IsRolledBack: no ttl, no commit, and a rollback-ish action). */
export function isRolledBack(s: TxnStatus): boolean {
  return (
    s.ttl === 0n &&
    s.commitTs === 0n &&
    (s.action === Action.NoAction ||
      s.action === Action.LockNotExistRollback ||
      s.action === Action.TTLExpireRollback)
  );
}

/** Final statuses can be cached for good (client-go StatusCacheable). */
export function isCacheable(s: TxnStatus): boolean {
  return isDetermined(s);
}

/** True for pessimistic locks (not yet prewritten). */
export function isPessimisticLock(l: LockDetails): boolean {
  return l.lockType === Op.PessimisticLock || l.lockType === Op.SharedPessimisticLock;
}

/** True for shared locks, which must be split into their holders before resolution. */
export function isSharedLock(l: LockDetails): boolean {
  return l.lockType === Op.SharedLock || l.lockType === Op.SharedPessimisticLock || l.sharedLocks.length > 0;
}

/**
 * The locks `l` stands for: the holders listed in a shared lock (each a lock of its own
 * transaction; the wrapper belongs to none), else `l` itself (client-go expands
 * shared_lock_infos wherever it meets a Locked key error).
 */
export function lockHolders(l: LockDetails): readonly LockDetails[] {
  return l.sharedLocks.length > 0 ? l.sharedLocks : [l];
}

/** A shared-lock wrapper listing no holder: it names no transaction, so it cannot be resolved. */
export function isBareSharedLock(l: LockDetails): boolean {
  return l.lockType === Op.SharedLock && l.sharedLocks.length === 0;
}

/** What to do after CheckTxnStatus answered. */
export type StatusDecision =
  /** The owner is alive (or its fate is unknown yet): wait `ttl` and retry the request. */
  | { kind: "alive" }
  /** An expired async-commit primary: the status is decided by its secondaries. */
  | { kind: "asyncCommit" }
  /** Committed or rolled back (or expired and now rolled back): clean the locks up. */
  | { kind: "resolve" };

/**
 * Decides after CheckTxnStatus (client-go resolveLocks' inner `resolve`): a live lock is waited
 * for, unless it is an expired async-commit primary (whose fate its secondaries tell).
 * `ttlExpired` says whether the lock's TTL has passed by the client's clock.
 */
export function decideOnStatus(s: TxnStatus, forceSyncCommit: boolean, ttlExpired: boolean): StatusDecision {
  // a final status (e.g. from the cache) needs no more checks, async commit or not (client-go
  // resolveAsyncCommitLock skips CheckSecondaryLocks for determined statuses)
  if (isDetermined(s)) return { kind: "resolve" };
  const expiredAsyncCommit = !!s.primaryLock?.useAsyncCommit && !forceSyncCommit && ttlExpired;
  if (s.ttl !== 0n && !expiredAsyncCommit) return { kind: "alive" };
  if (expiredAsyncCommit) return { kind: "asyncCommit" };
  return { kind: "resolve" };
}

/** What to do when CheckTxnStatus found no trace of the transaction (TxnNotFound). */
export type NotFoundDecision =
  /** The lock expired: ask again, rolling the transaction back if it still does not exist. */
  | { kind: "rollbackIfNotExist" }
  /** A pessimistic lock not yet expired: treat it as alive for its TTL. */
  | { kind: "aliveWithLockTtl" }
  /** The primary may not be written yet (concurrent prewrite): back off and ask again. */
  | { kind: "backoff" };

/** client-go getTxnStatusFromLock's handling of txnNotFoundErr. */
export function decideOnTxnNotFound(lock: LockDetails, lockExpired: boolean): NotFoundDecision {
  if (lockExpired) return { kind: "rollbackIfNotExist" };
  if (isPessimisticLock(lock)) return { kind: "aliveWithLockTtl" };
  return { kind: "backoff" };
}

/** One cleanup RPC the resolution performs. */
export type CleanupTask =
  /** ResolveLock for exactly these keys (all in one transaction). */
  | { kind: "resolveKeys"; keys: Buffer[] }
  /** ResolveLock over the whole region holding `key` (large transactions). */
  | { kind: "resolveRegion"; key: Buffer }
  /**
   * PessimisticRollback of one key at `forUpdateTs`, or (`regionWide`) of every pessimistic lock
   * of the transaction in the region holding it.
   */
  | { kind: "pessimisticRollback"; key: Buffer; forUpdateTs: bigint; regionWide: boolean };

const MAX_U64 = 0xffffffffffffffffn;

/**
 * The cleanup of `locks` (one transaction) once its status is final (client-go resolveLock,
 * batchLiteResolveLocks, resolvePessimisticLock): pessimistic locks are rolled back one by one
 * (the primary needs nothing: CheckTxnStatus cleaned it); small transactions are resolved by key,
 * batched (the primary is skipped: CheckTxnStatus already resolved it); large ones region by
 * region.
 */
export function planCleanup(
  locks: readonly LockDetails[],
  lite: boolean,
  pessimisticRegion = false,
  /** Transactions with fewer keys in a region than this are resolved key by key (client-go ResolveLockLiteThreshold). */
  liteThreshold: bigint = RESOLVE_LOCK_LITE_THRESHOLD,
): CleanupTask[] {
  const tasks: CleanupTask[] = [];
  const liteKeys: Buffer[] = [];
  for (const l of locks) {
    const isPrimary = l.key.equals(l.primary);
    if (isPessimisticLock(l)) {
      if (isPrimary) continue;
      tasks.push({
        kind: "pessimisticRollback",
        key: l.key,
        forUpdateTs: l.lockForUpdateTs === 0n ? MAX_U64 : l.lockForUpdateTs,
        regionWide: pessimisticRegion,
      });
    } else if (lite || l.txnSize < liteThreshold) {
      if (!isPrimary) liteKeys.push(l.key);
    } else {
      tasks.push({ kind: "resolveRegion", key: l.key });
    }
  }
  if (liteKeys.length > 0) tasks.unshift({ kind: "resolveKeys", keys: liteKeys });
  return tasks;
}

/** How a read may treat a lock after its owner's status is known (client-go IgnoreLocks / AccessLocks). */
export type ReadVerdict = "ignore" | "access" | "wait";

/**
 * For reads: a lock whose owner was pushed past the reader, rolled back, or committed after the
 * reader started can be ignored (the reader's snapshot does not contain it); one committed at or
 * before the reader's ts can be read through (its value is the committed one); otherwise wait.
 */
export function readVerdict(s: TxnStatus, callerStartTs: bigint): ReadVerdict {
  if (
    s.action === Action.MinCommitTSPushed ||
    isRolledBack(s) ||
    (isCommitted(s) && s.commitTs > callerStartTs)
  )
    return "ignore";
  if (isCommitted(s) && s.commitTs <= callerStartTs) return "access";
  return "wait";
}

/** Folds CheckSecondaryLocks answers into the async-commit transaction's commit decision. */
export interface AsyncCommitState {
  /** Commit ts to use: the max min_commit_ts seen, or the commit ts of a committed secondary. */
  commitTs: bigint;
  /** Keys still locked that must be resolved. */
  keys: Buffer[];
  /** A secondary had no lock: the transaction was already committed (commitTs) or rolled back (0). */
  missingLock: boolean;
}

/** Thrown by {@link addSecondaryCheck} when a secondary turns out not to be an async-commit lock. */
export class NonAsyncCommitLockError extends Error {
  constructor() {
    super("CheckSecondaryLocks receives a non-async-commit lock");
    this.name = "NonAsyncCommitLockError";
  }
}

/**
 * Adds one CheckSecondaryLocks answer (`locks` for `expected` keys, `commitTs` when a key was
 * already committed) to the shared state (client-go asyncResolveData.addKeys).
 */
export function addSecondaryCheck(
  st: AsyncCommitState,
  startTs: bigint,
  locks: readonly LockDetails[],
  expected: number,
  commitTs: bigint,
): void {
  if (locks.length < expected) {
    if (!st.missingLock) {
      if (commitTs !== 0n && commitTs < st.commitTs) {
        throw new Error(
          `commit TS must be greater or equal to min commit TS: commit ts: ${commitTs}, min commit ts: ${st.commitTs}`,
        );
      }
      st.commitTs = commitTs;
    }
    st.missingLock = true;
    if (st.commitTs !== commitTs) {
      throw new Error(`commit TS mismatch in async commit recovery: ${st.commitTs} and ${commitTs}`);
    }
    return;
  }
  for (const l of locks) {
    if (l.startTs !== startTs)
      throw new Error(`unexpected timestamp, expected: ${startTs}, found: ${l.startTs}`);
    if (!l.useAsyncCommit) throw new NonAsyncCommitLockError();
    if (!st.missingLock && l.minCommitTs > st.commitTs) st.commitTs = l.minCommitTs;
    st.keys.push(l.key);
  }
}
