// Lock waiting for pessimistic-lock requests: the lock-wait queues, the waiter table with
// per-waiter timeouts and the deadlock detector, wired as TiKV wires them.
// Semantics follow tikv src/server/lock_manager/{mod.rs,waiter_manager.rs,deadlock.rs},
// src/storage/lock_manager/{lock_waiting_queue.rs,lock_wait_context.rs} and the wake-up
// handling of src/storage/txn/scheduler.rs (on_wait_for_lock, on_release_locks).
import type { WaitForEntry } from "../../../../proto/deadlock.js";
import { LockInfo, Op } from "../../../../proto/kvrpcpb.js";
import { lockInfoHolders } from "../../mvcc/types.js";
import { DeadlockDetector } from "./deadlock-detector.js";
import { type DelayedNotify, LockWaitQueues, type QueuedRequest } from "./lock-wait-queue.js";
import { globalTimers, type Timers } from "./timers.js";
import {
  DEFAULT_WAIT_FOR_LOCK_TIMEOUT_MS,
  DEFAULT_WAKE_UP_DELAY_MS,
  type WaitTimeout,
  waitDurationMs,
} from "./wait-timeout.js";

/** How a wait ended, delivered once to {@link LockWaiter.onOutcome}. */
export type WaitOutcome =
  /** Legacy request woken because the lock was released: fail with WriteConflict. */
  | { readonly kind: "wokenUp"; readonly conflictStartTs: bigint; readonly conflictCommitTs: bigint }
  /** Resumable request woken: retry the lock, then call `finish` or `requeue`. */
  | { readonly kind: "resume" }
  /** Waited too long (or the engine closed): fail with KeyIsLocked on this lock. */
  | { readonly kind: "timeout"; readonly lockInfo: LockInfo }
  /** Waiting would close a cycle. */
  | {
      readonly kind: "deadlock";
      readonly lockTs: bigint;
      readonly lockKey: Buffer;
      readonly deadlockKeyHash: bigint;
      readonly waitChain: WaitForEntry[];
    };

/** A blocked request as the lock manager sees it. */
export interface LockWaiter extends QueuedRequest {
  /** farmhash of the key (TiKV LockDigest.hash). */
  readonly keyHash: bigint;
  /** The first lock a txn waits for cannot be part of a deadlock (no detection). */
  readonly isFirstLock: boolean;
  readonly resourceGroupTag: Buffer;
  /** Called exactly once per wait (again after `requeue`). */
  onOutcome(outcome: WaitOutcome): void;
}

/** A lock removed by commit / rollback / resolve (mvcc ReleasedLock). */
export interface ReleasedLockEvent {
  readonly key: Buffer;
  readonly startTs: bigint;
  readonly commitTs: bigint;
}

interface WaiterState {
  readonly waiter: LockWaiter;
  lockInfo: LockInfo;
  timer: unknown;
  lastUpdatedAt?: number | undefined;
  /** Out of the queue because it was popped for resuming. */
  resuming: boolean;
  /** Cancelled while resuming: delivered when the resumed request tries to wait again. */
  pendingCancel?: WaitOutcome | undefined;
}

/** Options of {@link LockManager}. */
export interface LockManagerOptions {
  /** Injected timers (defaults to the global ones, looked up at call time). */
  timers?: Timers;
  /** Clock in ms (defaults to Date.now, looked up at call time so fake timers apply). */
  now?: () => number;
  /** Default and maximum wait (TiKV `wait-for-lock-timeout`, 1000 ms). */
  waitForLockTimeoutMs?: number;
  /** Delay before waking the rest of a queue (TiKV `wake-up-delay-duration`, 20 ms). */
  wakeUpDelayMs?: number;
}

/** Lock waiting, wake-up, timeouts and deadlock detection of one engine. */
export class LockManager {
  readonly detector: DeadlockDetector;
  readonly queues: LockWaitQueues<LockWaiter>;
  private readonly waiters = new Map<number, WaiterState>();
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly waitCeilingMs: number;
  private nextToken = 1;
  private closed = false;

  constructor(opts: LockManagerOptions = {}) {
    this.timers = opts.timers ?? globalTimers;
    this.now = opts.now ?? (() => Date.now());
    this.waitCeilingMs = opts.waitForLockTimeoutMs ?? DEFAULT_WAIT_FOR_LOCK_TIMEOUT_MS;
    this.detector = new DeadlockDetector({ ttlMs: this.waitCeilingMs, now: this.now });
    this.queues = new LockWaitQueues<LockWaiter>({
      timers: this.timers,
      now: this.now,
      wakeUpDelayMs: opts.wakeUpDelayMs ?? DEFAULT_WAKE_UP_DELAY_MS,
      onDelayedNotify: (n) => this.onDelayedNotify(n),
    });
  }

  /** A fresh wait token. */
  allocateToken(): number {
    return this.nextToken++;
  }

  /** Number of requests currently waiting (queued or resuming). */
  get waiterCount(): number {
    return this.waiters.size;
  }

  /**
   * A read-only snapshot of every waiting request (queued or resuming), one wait-for entry
   * each, as TiKV's waiter manager lists them for GetLockWaitInfo (wait_time is left 0).
   * Follows tikv src/server/lock_manager/waiter_manager.rs to_wait_for_entries.
   */
  waitingEntries(): WaitForEntry[] {
    const out: WaitForEntry[] = [];
    for (const st of this.waiters.values()) {
      const w = st.waiter;
      out.push({
        txn: w.startTs,
        waitForTxn: st.lockInfo.lockVersion,
        keyHash: w.keyHash,
        key: w.key,
        resourceGroupTag: w.resourceGroupTag,
        waitTime: 0n,
      });
    }
    return out;
  }

  /** The lock manager's clock in ms (injectable; used to time lock waits). */
  nowMs(): number {
    return this.now();
  }

  /**
   * Makes `waiter` wait for `lockInfo` for `timeout` (must not be noWait): queue it first,
   * then start its timer, then run deadlock detection unless it is the txn's first lock.
   */
  waitFor(waiter: LockWaiter, lockInfo: LockInfo, timeout: WaitTimeout): void {
    if (this.closed) {
      waiter.onOutcome({ kind: "timeout", lockInfo });
      return;
    }
    this.queues.push(waiter, lockInfo);
    const st: WaiterState = { waiter, lockInfo, timer: undefined, resuming: false };
    this.waiters.set(waiter.token, st);
    st.timer = this.timers.setTimeout(
      () => this.onTimeout(waiter.token),
      waitDurationMs(timeout, this.waitCeilingMs),
    );
    if (!waiter.isFirstLock) this.detect(st);
  }

  /**
   * Deadlock detection for the edges waiter -> current lock holder(s): one edge per holder of
   * shared locks, stopping at the first that closes a cycle (tikv handle_detect_locally).
   */
  private detect(st: WaiterState): void {
    const w = st.waiter;
    for (const lockTs of lockInfoHolders(st.lockInfo)) {
      const found = this.detector.detect(w.startTs, lockTs, w.keyHash, w.key, w.resourceGroupTag);
      if (!found) continue;
      const chain = [
        ...found.waitChain,
        {
          txn: w.startTs,
          waitForTxn: lockTs,
          keyHash: w.keyHash,
          key: w.key,
          resourceGroupTag: w.resourceGroupTag,
          waitTime: 0n,
        },
      ];
      // Edges to the holders checked before must not linger as false deadlocks.
      if (st.lockInfo.lockType === Op.SharedLock) this.cleanUpWaitFor(w, st.lockInfo);
      this.cancel(st, {
        kind: "deadlock",
        lockTs,
        lockKey: w.key,
        deadlockKeyHash: found.deadlockKeyHash,
        waitChain: chain,
      });
      return;
    }
  }

  /** Drops the waiter's wait-for edges to every holder of `lockInfo`. */
  private cleanUpWaitFor(w: LockWaiter, lockInfo: LockInfo): void {
    for (const lockTs of lockInfoHolders(lockInfo))
      this.detector.cleanUpWaitFor(w.startTs, lockTs, w.keyHash);
  }

  /** The waiter's timer fired: KeyIsLocked with how long ago the lock info was refreshed. */
  private onTimeout(token: number): void {
    const st = this.waiters.get(token);
    if (!st) return;
    st.timer = undefined;
    const duration =
      st.lastUpdatedAt === undefined ? 0 : Math.max(1, Math.ceil(this.now() - st.lastUpdatedAt));
    this.cleanUpWaitFor(st.waiter, st.lockInfo);
    this.cancel(st, {
      kind: "timeout",
      lockInfo: LockInfo.fromPartial({ ...st.lockInfo, durationToLastUpdateMs: BigInt(duration) }),
    });
  }

  /** Ends a wait from outside the queue (timeout, deadlock), as LockWaitContext does. */
  private cancel(st: WaiterState, outcome: WaitOutcome): void {
    const w = st.waiter;
    this.clearTimer(st);
    if (st.resuming) {
      // Popped and being retried: fail it if it tries to wait again.
      st.pendingCancel = outcome;
      return;
    }
    this.waiters.delete(w.token);
    this.queues.removeByToken(w.key, w.token);
    w.onOutcome(outcome);
  }

  /** The request finished (locked or failed) after waiting: drop its waiter (remove_lock_wait). */
  finish(waiter: LockWaiter): void {
    const st = this.waiters.get(waiter.token);
    if (!st) return;
    this.waiters.delete(waiter.token);
    this.clearTimer(st);
    this.cleanUpWaitFor(waiter, st.lockInfo);
  }

  /**
   * A resumed request met a lock again: put it back in the queue keeping its token and
   * deadline, unless it was cancelled meanwhile (then that outcome is delivered now).
   */
  requeue(waiter: LockWaiter, lockInfo: LockInfo): void {
    const st = this.waiters.get(waiter.token);
    if (!st || this.closed) {
      waiter.onOutcome({ kind: "timeout", lockInfo });
      return;
    }
    st.resuming = false;
    if (st.pendingCancel) {
      this.waiters.delete(waiter.token);
      const pending = st.pendingCancel;
      waiter.onOutcome(pending.kind === "timeout" ? { kind: "timeout", lockInfo } : pending);
      return;
    }
    this.queues.push(waiter, lockInfo);
    this.updateWaiter(st, lockInfo);
  }

  /**
   * The waiter now waits for another lock: refresh it and re-detect (handle_update_wait_for).
   * Shared locks all report lock_version 0, so a shared lock replacing a shared lock always
   * counts as a change (its holders may differ).
   */
  private updateWaiter(st: WaiterState, lockInfo: LockInfo): void {
    st.lastUpdatedAt = this.now();
    const prev = st.lockInfo;
    const maybeSharedChange = prev.lockType === Op.SharedLock && lockInfo.lockType === Op.SharedLock;
    if (!maybeSharedChange && prev.lockVersion === lockInfo.lockVersion) {
      st.lockInfo = lockInfo;
      return;
    }
    st.lockInfo = lockInfo;
    if (st.waiter.isFirstLock || !st.waiter.allowLockWithConflict) return;
    this.cleanUpWaitFor(st.waiter, prev);
    this.detect(st);
  }

  /**
   * Locks were released: wake the head waiter of each key (with the shared-lock requests
   * right behind a shared-lock head). Legacy requests fail with WriteConflict (and later the
   * rest of the queue, after the wake-up delay); resumable ones are retried.
   */
  onLocksReleased(released: readonly ReleasedLockEvent[]): void {
    if (this.queues.isEmpty) return;
    for (const r of released) {
      for (const w of this.queues.popForWakingUp(r.key, r.startTs, r.commitTs))
        this.wake(w, r.startTs, r.commitTs);
    }
  }

  /** Newly written locks: waiters on those keys now wait for them (update_lock_wait). */
  onLocksAcquired(locks: readonly LockInfo[]): void {
    if (this.queues.isEmpty) return;
    for (const { entry, lock } of this.queues.updateLockWait(locks)) {
      const st = this.waiters.get(entry.token);
      if (st) this.updateWaiter(st, lock);
    }
  }

  private onDelayedNotify(n: DelayedNotify<LockWaiter>): void {
    for (const w of n.legacy) this.wake(w, n.conflictStartTs, n.conflictCommitTs);
    if (n.resumable) this.wake(n.resumable, n.conflictStartTs, n.conflictCommitTs);
  }

  private wake(w: LockWaiter, conflictStartTs: bigint, conflictCommitTs: bigint): void {
    const st = this.waiters.get(w.token);
    if (!st) return;
    if (!w.allowLockWithConflict) {
      this.finish(w);
      w.onOutcome({ kind: "wokenUp", conflictStartTs, conflictCommitTs });
      return;
    }
    st.resuming = true;
    // Run the retry after the releasing command has returned, as TiKV schedules a new command
    // (a promise job rather than queueMicrotask, which fake-timer setups may replace).
    void Promise.resolve().then(() => {
      if (this.closed) w.onOutcome({ kind: "timeout", lockInfo: st.lockInfo });
      else if (this.waiters.get(w.token) === st) w.onOutcome({ kind: "resume" });
    });
  }

  /**
   * Stops all timers and ends every wait with a KeyIsLocked outcome (as a timeout would),
   * so nothing keeps the process alive after the engine closes.
   */
  close(): void {
    this.closed = true;
    this.queues.drain();
    const all = [...this.waiters.values()];
    this.waiters.clear();
    for (const st of all) {
      this.clearTimer(st);
      // Resuming waiters learn about the close when their retry is scheduled.
      if (!st.resuming) st.waiter.onOutcome({ kind: "timeout", lockInfo: st.lockInfo });
    }
    this.detector.clear();
  }

  private clearTimer(st: WaiterState): void {
    if (st.timer !== undefined) this.timers.clearTimeout(st.timer);
    st.timer = undefined;
  }
}
