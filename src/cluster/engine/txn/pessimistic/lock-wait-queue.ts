// Per-key queues of blocked pessimistic-lock requests.
// Semantics follow tikv src/storage/lock_manager/lock_waiting_queue.rs: each key has a
// priority queue ordered by start_ts (smallest first); releasing the lock pops only the
// head (with the shared-lock requests right behind it when the head is one: they can all
// lock together); after a legacy (non-resumable) wake-up, the entries that were already
// queued are woken `wake-up-delay-duration` later ("delayed notify all"), stopping at the
// first resumable entry.
import type { LockInfo } from "../../../../proto/kvrpcpb.js";
import type { Timers } from "./timers.js";

/** What the queue needs to know about a blocked request. */
export interface QueuedRequest {
  /** Unique id of the wait (TiKV LockWaitToken). */
  readonly token: number;
  readonly key: Buffer;
  readonly startTs: bigint;
  /** Resumable (WakeUpModeForceLock) requests retry the lock instead of failing. */
  readonly allowLockWithConflict: boolean;
  /** The request asks for a shared lock (Op::SharedPessimisticLock). */
  readonly isSharedLock?: boolean | undefined;
  /** Set on first push: the key's legacy wake-up counter at that time. */
  legacyWakeUpIndex?: number | undefined;
}

/** Result of a delayed notify-all on one key. */
export interface DelayedNotify<E extends QueuedRequest> {
  readonly key: Buffer;
  /** Legacy entries to fail with WriteConflict (conflict ts of the latest release). */
  readonly legacy: E[];
  /** A resumable entry that was popped and must be resumed, if any. */
  readonly resumable?: E | undefined;
  readonly conflictStartTs: bigint;
  readonly conflictCommitTs: bigint;
}

interface KeyState<E extends QueuedRequest> {
  /** The lock currently blocking the key (latest known). */
  currentLock?: LockInfo | undefined;
  legacyWakeUpIndex: number;
  /** Sorted by start_ts ascending; equal start_ts keep arrival order. */
  queue: E[];
  lastConflictStartTs: bigint;
  lastConflictCommitTs: bigint;
  delayed?: { id: number; start: number; delayMs: number; handle: unknown } | undefined;
}

/** Options of {@link LockWaitQueues}. */
export interface LockWaitQueuesOptions<E extends QueuedRequest> {
  timers: Timers;
  now: () => number;
  wakeUpDelayMs: number;
  /** Receives the outcome of a delayed notify-all when its timer fires. */
  onDelayedNotify: (n: DelayedNotify<E>) => void;
}

const mapKey = (key: Buffer): string => key.toString("latin1");

/** The lock-wait queues of all keys. */
export class LockWaitQueues<E extends QueuedRequest> {
  private readonly keys = new Map<string, KeyState<E>>();
  private count = 0;
  private nextNotifyId = 1;

  constructor(private readonly opts: LockWaitQueuesOptions<E>) {}

  /** Number of queued entries over all keys. */
  get entryCount(): number {
    return this.count;
  }

  /** True when no request waits on any key. */
  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** Queues an entry on its key; `currentLock` (if given) becomes the key's known lock. */
  push(entry: E, currentLock?: LockInfo): void {
    const k = mapKey(entry.key);
    let st = this.keys.get(k);
    if (!st) {
      st = { legacyWakeUpIndex: 0, queue: [], lastConflictStartTs: 0n, lastConflictCommitTs: 0n };
      this.keys.set(k, st);
    }
    if (currentLock && currentLock.key.length > 0) st.currentLock = currentLock;
    if (entry.legacyWakeUpIndex === undefined) entry.legacyWakeUpIndex = st.legacyWakeUpIndex;
    let i = st.queue.length;
    while (i > 0 && (st.queue[i - 1] as E).startTs > entry.startTs) i--;
    st.queue.splice(i, 0, entry);
    this.count++;
  }

  /**
   * Pops the head of the key's queue because the lock on it was released by the txn
   * `conflictStartTs` (committed at `conflictCommitTs`, 0 if rolled back); a shared-lock head
   * comes with every shared-lock entry directly behind it. After popping a legacy entry,
   * schedules (or extends) the delayed wake-up of the remaining entries.
   */
  popForWakingUp(key: Buffer, conflictStartTs: bigint, conflictCommitTs: bigint): E[] {
    const k = mapKey(key);
    const st = this.keys.get(k);
    if (!st) return [];
    st.lastConflictStartTs = conflictStartTs;
    st.lastConflictCommitTs = conflictCommitTs;
    const head = st.queue.shift();
    if (head === undefined) {
      this.dropKey(k, st);
      return [];
    }
    const popped = [head];
    if (head.isSharedLock) {
      while (st.queue.length > 0 && (st.queue[0] as E).isSharedLock) popped.push(st.queue.shift() as E);
    }
    this.count -= popped.length;
    let legacy = false;
    for (const e of popped) {
      if (e.allowLockWithConflict) continue;
      st.legacyWakeUpIndex++;
      legacy = true;
    }
    if (legacy && st.queue.length > 0) this.scheduleDelayedNotify(k, st);
    if (st.queue.length === 0) this.dropKey(k, st);
    return popped;
  }

  private scheduleDelayedNotify(k: string, st: KeyState<E>): void {
    const now = this.opts.now();
    const d = st.delayed;
    if (d) {
      // Extend the pending wake-up to `wakeUpDelayMs` after this latest wake-up.
      d.delayMs = now - d.start + this.opts.wakeUpDelayMs;
      this.opts.timers.clearTimeout(d.handle);
      d.handle = this.opts.timers.setTimeout(
        () => this.delayedNotifyAll(k, d.id),
        Math.max(0, d.start + d.delayMs - now),
      );
      return;
    }
    const id = this.nextNotifyId++;
    const state = { id, start: now, delayMs: this.opts.wakeUpDelayMs, handle: undefined as unknown };
    state.handle = this.opts.timers.setTimeout(() => this.delayedNotifyAll(k, id), this.opts.wakeUpDelayMs);
    st.delayed = state;
  }

  private delayedNotifyAll(k: string, id: number): void {
    const st = this.keys.get(k);
    if (!st || st.delayed?.id !== id) return;
    st.delayed = undefined;
    const legacy: E[] = [];
    let resumable: E | undefined;
    while (st.queue.length > 0) {
      const front = st.queue[0] as E;
      // Entries queued after the wake-up that scheduled this notify stay.
      if (front.legacyWakeUpIndex !== undefined && front.legacyWakeUpIndex >= st.legacyWakeUpIndex) break;
      st.queue.shift();
      this.count--;
      if (front.allowLockWithConflict) {
        resumable = front;
        break;
      }
      legacy.push(front);
    }
    const key = Buffer.from(k, "latin1");
    const n: DelayedNotify<E> = {
      key,
      legacy,
      resumable,
      conflictStartTs: st.lastConflictStartTs,
      conflictCommitTs: st.lastConflictCommitTs,
    };
    if (st.queue.length === 0) this.dropKey(k, st);
    if (legacy.length > 0 || resumable) this.opts.onDelayedNotify(n);
  }

  /** Removes the entry with `token` from the key's queue, returning it if it was there. */
  removeByToken(key: Buffer, token: number): E | undefined {
    const k = mapKey(key);
    const st = this.keys.get(k);
    if (!st) return undefined;
    const i = st.queue.findIndex((e) => e.token === token);
    if (i < 0) return undefined;
    const [e] = st.queue.splice(i, 1);
    this.count--;
    if (st.queue.length === 0) this.dropKey(k, st);
    return e;
  }

  /**
   * Records newly acquired locks on keys that have waiters (tikv update_lock_wait) and
   * returns the queued entries of those keys with the lock they now wait for.
   */
  updateLockWait(locks: readonly LockInfo[]): { entry: E; lock: LockInfo }[] {
    const out: { entry: E; lock: LockInfo }[] = [];
    for (const lock of locks) {
      const st = this.keys.get(mapKey(lock.key));
      if (!st) continue;
      st.currentLock = lock;
      for (const entry of st.queue) out.push({ entry, lock });
    }
    return out;
  }

  /** The latest known lock blocking key, if the key has a queue. */
  currentLock(key: Buffer): LockInfo | undefined {
    return this.keys.get(mapKey(key))?.currentLock;
  }

  /** The queued entries of key, head first (for tests and diagnostics). */
  entriesOf(key: Buffer): readonly E[] {
    return this.keys.get(mapKey(key))?.queue ?? [];
  }

  /** Removes every queue and pending timer, returning all entries that were queued. */
  drain(): E[] {
    const all: E[] = [];
    for (const [k, st] of [...this.keys]) {
      all.push(...st.queue);
      st.queue = [];
      this.dropKey(k, st);
    }
    this.count = 0;
    return all;
  }

  private dropKey(k: string, st: KeyState<E>): void {
    if (st.delayed) this.opts.timers.clearTimeout(st.delayed.handle);
    st.delayed = undefined;
    this.keys.delete(k);
  }
}
