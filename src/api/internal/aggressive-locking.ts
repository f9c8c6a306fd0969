// The state of one aggressive (fair) locking session of a pessimistic transaction (client-go
// txn.go aggressiveLockingContext / tempLockBufferEntry): the keys locked by the current attempt
// of a statement, those of the previous attempt (kept until the next attempt shows whether they
// are still needed), the primary chosen by each attempt and the largest locked-with-conflict ts.
// Pure bookkeeping: Transaction does the locking and tells the committer what to do.

import { PESSIMISTIC_LOCK_TTL_MS } from "../../actors/txn/pessimistic-lock.js";
import { AggressiveLockingError } from "../../errors/aggressive-locking.js";
import { FlagsOp } from "../../kv/memdb/key-flags.js";

/** The primary and TTL manager of a pessimistic transaction's committer, as aggressive locking drives them. */
export interface LockSessionControl {
  /** The primary (undefined before the first lock, or once given up). */
  readonly primary: Buffer | undefined;
  /** Whether the TTL manager heartbeats the primary. */
  readonly ttlRunning: boolean;
  /** Makes `key` the primary unless one is chosen. */
  assignPrimary(key: Buffer): void;
  /** Forgets the primary; `keepTtl` keeps heartbeating the old one until a new one is locked. */
  resetPrimary(keepTtl: boolean): void;
  /** Stops the TTL manager (the next primary lock restarts it). */
  stopTtl(): void;
  /** PessimisticRollback of `keys` at `forUpdateTs`, in the background (awaited by whenIdle). */
  releaseInBackground(keys: Buffer[], forUpdateTs: bigint): Promise<void>;
}

/** What a lock of the current attempt learned about its key (client-go tempLockBufferEntry). */
export interface AttemptLock {
  readonly key: Buffer;
  /** The lock returned the value (`value` is then the latest committed one). */
  hasReturnValue: boolean;
  /** The lock checked existence (`exists` is then a fact). */
  hasCheckExistence: boolean;
  value: Buffer | undefined;
  exists: boolean;
  /** Non-zero: locked although a version was committed at this ts after the lock's for_update_ts. */
  lockedWithConflictTs: bigint;
  /** The for_update_ts the lock holds on TiKV (the conflict's commit ts when there was one). */
  actualForUpdateTs: bigint;
}

/** A key locked in the current aggressive-locking attempt, as {@link Transaction.aggressiveLockedKeys} reports it. */
export interface AggressiveLockedKey {
  key: Buffer;
  /** The for_update_ts of the lock on TiKV: above the requested one when locked with a conflict. */
  actualForUpdateTs: bigint;
  /** Non-zero when the key was locked although a newer version existed: that version's commit ts. */
  lockedWithConflictTs: bigint;
  /** Whether the key exists, when the lock learned it (return values, check existence, a conflict). */
  exists: boolean | undefined;
  /** The key's latest value, when the lock read it (return values or a conflict). */
  value: Buffer | undefined;
}

// whether the entry's value / existence are facts rather than defaults
function valueLoaded(e: AttemptLock): boolean {
  return e.hasReturnValue || e.lockedWithConflictTs !== 0n;
}
function existenceKnown(e: AttemptLock): boolean {
  return e.hasReturnValue || e.hasCheckExistence || e.lockedWithConflictTs !== 0n;
}

/**
 * Whether a lock of the previous attempt can stand for a lock of this one without an RPC, fixing
 * up the entry if so (client-go trySkipLockingOnRetry): a lock taken with a conflict becomes an
 * ordinary lock (the retry runs at a for_update_ts past the conflict, and the lock read the
 * value); otherwise it must already have learned what this call asks for.
 */
export function trySkipLockingOnRetry(
  e: AttemptLock,
  returnValues: boolean,
  checkExistence: boolean,
): boolean {
  if (e.lockedWithConflictTs !== 0n) {
    e.hasReturnValue = true;
    e.hasCheckExistence = true;
    e.lockedWithConflictTs = 0n;
  } else {
    if (!e.hasReturnValue && returnValues) return false;
    if (!returnValues && !e.hasCheckExistence && checkExistence) return false;
  }
  if (!returnValues) {
    e.hasReturnValue = false;
    e.value = undefined;
  }
  if (!checkExistence && !returnValues) {
    e.hasCheckExistence = false;
    e.exists = true;
  }
  return true;
}

/**
 * The memdb flag operations of a key once locked (client-go SetKeyLocked, DelNeedCheckExists and
 * the value's existence): existence only when the lock learned it (ours: a fact, not a default).
 */
export function lockedKeyOps(existence: boolean | undefined): FlagsOp[] {
  const ops: FlagsOp[] = [FlagsOp.setKeyLocked, FlagsOp.delNeedCheckExists];
  if (existence !== undefined) {
    ops.push(existence ? FlagsOp.setKeyLockedValueExists : FlagsOp.setKeyLockedValueNotExists);
  }
  return ops;
}

const latin1 = (k: Buffer) => k.toString("latin1");

/** One aggressive-locking session (from startAggressiveLocking to done or cancel). */
export class AggressiveLockingSession {
  /** Keys locked by the current attempt (latin1 key). */
  current = new Map<string, AttemptLock>();
  /** Keys locked by the previous attempt and not (yet) locked again by this one. */
  last = new Map<string, AttemptLock>();
  /** The primary this attempt chose (undefined when it chose none). */
  primary: Buffer | undefined;
  /** This attempt chose the primary. */
  assignedPrimary = false;
  lastPrimary: Buffer | undefined;
  /** An earlier attempt chose a primary (sticky, as client-go). */
  lastAssignedPrimary = false;
  private attemptStartMs = Date.now();
  private lastAttemptStartMs = 0;
  /** The largest lockedWithConflictTs seen in the session. */
  maxLockedWithConflictTs = 0n;

  /** Whether `key` is locked by this session: in the current attempt, or in the previous one. */
  lockedIn(key: Buffer): { inLast: boolean; existence: boolean | undefined } | undefined {
    const k = latin1(key);
    const cur = this.current.get(k);
    if (cur) return { inLast: false, existence: existenceKnown(cur) ? cur.exists : undefined };
    const prev = this.last.get(k);
    if (prev) return { inLast: true, existence: existenceKnown(prev) ? prev.exists : undefined };
    return undefined;
  }

  /** The value the current attempt's lock of `key` read, if it read one (`found` false otherwise). */
  valueOf(key: Buffer): { found: boolean; value: Buffer | undefined } {
    const e = this.current.get(latin1(key));
    if (!e || !valueLoaded(e)) return { found: false, value: undefined };
    return { found: true, value: e.exists ? e.value : undefined };
  }

  /** Chooses the primary among sorted `keys`: the previous attempt's primary if among them (client-go). */
  choosePrimary(keys: readonly Buffer[]): Buffer {
    const last = this.lastPrimary;
    const chosen = (last && keys.find((k) => k.equals(last))) || (keys[0] as Buffer);
    this.primary = chosen;
    this.assignedPrimary = true;
    return chosen;
  }

  /**
   * The keys that still need a lock RPC (client-go filterAggressiveLockedKeys): a key locked by
   * the previous attempt is taken over without one when the primary did not change, its lock
   * learned what is asked now, and the previous attempt is recent enough that its locks cannot
   * have expired. Taken-over keys join the current attempt.
   */
  filter(
    keys: readonly Buffer[],
    returnValues: boolean,
    checkExistence: boolean,
  ): { toLock: Buffer[]; fromLast: Buffer[] } {
    const samePrimary =
      !this.assignedPrimary ||
      (this.lastPrimary !== undefined && this.primary !== undefined && this.lastPrimary.equals(this.primary));
    const expired = Date.now() - this.lastAttemptStartMs >= PESSIMISTIC_LOCK_TTL_MS;
    const toLock: Buffer[] = [];
    const fromLast: Buffer[] = [];
    for (const key of keys) {
      const k = latin1(key);
      const prev = this.last.get(k);
      if (prev) {
        this.last.delete(k);
        if (samePrimary && trySkipLockingOnRetry(prev, returnValues, checkExistence) && !expired) {
          this.current.set(k, prev);
          continue;
        }
        fromLast.push(key);
      }
      toLock.push(key);
    }
    return { toLock, fromLast };
  }

  /**
   * Refuses to lock at a for_update_ts below a conflict the previous attempt met on one of
   * `keys` (its lock holds that ts; client-go: unreachable in TiDB, which retries at a fresh ts).
   */
  checkRetryTs(startTs: bigint, keys: readonly Buffer[], forUpdateTs: bigint): void {
    for (const key of keys) {
      const prev = this.last.get(latin1(key));
      if (prev && forUpdateTs < prev.lockedWithConflictTs) {
        throw new AggressiveLockingError(
          "staleForUpdateTs",
          `txn ${startTs}: retrying aggressive locking with for_update_ts ${forUpdateTs} below the previous attempt's locked-with-conflict ts ${prev.lockedWithConflictTs}`,
        );
      }
    }
  }

  /** Records a lock of the current attempt; `lockedWithConflictTs` 0 when there was no conflict. */
  record(
    key: Buffer,
    learned: { value: Buffer | undefined; exists: boolean; lockedWithConflictTs?: bigint } | undefined,
    forUpdateTs: bigint,
    asked: { returnValues: boolean; checkExistence: boolean },
  ): void {
    const conflictTs = learned?.lockedWithConflictTs ?? 0n;
    if (conflictTs !== 0n && conflictTs <= forUpdateTs) {
      // TiKV reports a conflict only with a version newer than the lock's for_update_ts
      throw new AggressiveLockingError(
        "staleForUpdateTs",
        `lock of ${key.toString("hex")} returned locked-with-conflict ts ${conflictTs} not above for_update_ts ${forUpdateTs}`,
      );
    }
    if (conflictTs > this.maxLockedWithConflictTs) this.maxLockedWithConflictTs = conflictTs;
    this.current.set(latin1(key), {
      key,
      hasReturnValue: asked.returnValues,
      hasCheckExistence: asked.checkExistence,
      value: learned?.value,
      exists: learned?.exists ?? true,
      lockedWithConflictTs: conflictTs,
      actualForUpdateTs: conflictTs > forUpdateTs ? conflictTs : forUpdateTs,
    });
  }

  /** Starts the next attempt (client-go RetryAggressiveLocking); returns the locks no longer needed. */
  nextAttempt(): Buffer[] {
    const unneeded = this.takeLast();
    if (this.assignedPrimary) {
      this.assignedPrimary = false;
      this.lastAssignedPrimary = true;
    }
    this.lastPrimary = this.primary;
    this.primary = undefined;
    this.lastAttemptStartMs = this.attemptStartMs;
    this.attemptStartMs = Date.now();
    this.last = this.current;
    this.current = new Map();
    return unneeded;
  }

  /** The previous attempt's locks that this one did not take over (they are to be released). */
  takeLast(): Buffer[] {
    const keys = [...this.last.values()].map((e) => e.key);
    this.last = new Map();
    return keys;
  }

  /** The current attempt's locks, for reporting. */
  lockedKeys(): AggressiveLockedKey[] {
    return [...this.current.values()].map((e) => ({
      key: e.key,
      actualForUpdateTs: e.actualForUpdateTs,
      lockedWithConflictTs: e.lockedWithConflictTs,
      exists: existenceKnown(e) ? e.exists : undefined,
      value: valueLoaded(e) && e.exists ? e.value : undefined,
    }));
  }

  /** What the memdb learns of each current lock when the session is done. */
  doneEntries(): Array<{ key: Buffer; existence: boolean | undefined; actualForUpdateTs: bigint }> {
    return [...this.current.values()].map((e) => ({
      key: e.key,
      existence: existenceKnown(e) ? e.exists : undefined,
      actualForUpdateTs: e.actualForUpdateTs,
    }));
  }
}

/**
 * PessimisticRollbacks sent in the background, by key: a new lock of a key waits for its release
 * to finish, so the late rollback cannot remove the new lock (both may use one for_update_ts).
 */
export class BackgroundReleases {
  private readonly pending = new Map<string, Promise<void>>();

  /** Starts releasing `keys` through `ctl`. */
  release(ctl: LockSessionControl, keys: Buffer[], forUpdateTs: bigint): void {
    if (keys.length === 0) return;
    const p = ctl.releaseInBackground(keys, forUpdateTs);
    for (const k of keys) this.pending.set(latin1(k), p);
    void p.finally(() => {
      for (const k of keys) if (this.pending.get(latin1(k)) === p) this.pending.delete(latin1(k));
    });
  }

  /** Resolves once no release of `keys` is in flight. */
  async settled(keys: readonly Buffer[]): Promise<void> {
    if (this.pending.size === 0) return;
    const waits = keys.map((k) => this.pending.get(latin1(k))).filter((p) => p !== undefined);
    if (waits.length > 0) await Promise.all(waits);
  }
}
