// The local latch scheduler (client-go internal/latch LatchesScheduler): the asynchronous face of
// the latch table. `lock` resolves once the transaction holds all its keys or is known to be
// stale; `unlock` releases them with the commit ts and lets the woken waiters go on. JavaScript
// runs one turn at a time, so the table needs no mutex and the hand-off happens inside `unlock`
// (client-go sends it to a goroutine). Old entries are recycled by an unref'd timer, which never
// keeps the process alive.

import { ShuttingDownError } from "../../../errors/server.js";
import { LOGICAL_BITS, MAX_TS } from "../../../kv/timestamp.js";
import { type LatchLock, LatchTable } from "./latch-table.js";

/** client-go: entries whose last commit is 2 minutes old are recycled... */
export const LATCH_EXPIRE_MS = 2 * 60_000;
/** ...checked about once a minute. */
export const LATCH_RECYCLE_INTERVAL_MS = 60_000;

/** Tuning of a {@link LatchScheduler} (defaults: client-go's). */
export interface LatchSchedulerOptions {
  /** Age of the last commit on a free key after which its entry is dropped (ms, default 2 min). */
  expireMs?: number;
  /** How often the recycling runs (ms, default 1 min; 0 = never by timer). */
  recycleIntervalMs?: number;
}

interface Waiter {
  resolve(lock: LatchLock): void;
  reject(e: Error): void;
}

/** Serializes one client's optimistic commits on shared keys, before any RPC is sent. */
export class LatchScheduler {
  /** The table (exposed for tests and diagnostics). */
  readonly table: LatchTable;
  private readonly waiters = new Map<LatchLock, Waiter>();
  private readonly expireMs: number;
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  // the newest ts seen and the wall clock then: "now" in TSO terms between transactions
  private lastTs = 0n;
  private lastTsAtMs = 0;
  private closed = false;

  constructor(capacity: number, options: LatchSchedulerOptions = {}) {
    this.table = new LatchTable(capacity);
    this.expireMs = options.expireMs ?? LATCH_EXPIRE_MS;
    const every = options.recycleIntervalMs ?? LATCH_RECYCLE_INTERVAL_MS;
    if (every > 0) {
      this.timer = setInterval(() => this.recycle(), every);
      this.timer.unref();
    }
  }

  /**
   * Takes the latches of `keys` for a transaction that started at `startTs`. Resolves when it
   * holds them all, or when it is stale (`lock.isStale`: a key was committed after `startTs`, so
   * the commit must fail with a write conflict). Either way the caller must {@link unlock} it.
   * Rejects with ShuttingDownError once the scheduler is closed.
   */
  lock(startTs: bigint, keys: readonly Uint8Array[]): Promise<LatchLock> {
    if (this.closed) return Promise.reject(new ShuttingDownError("latch scheduler is closed"));
    this.see(startTs);
    const lock = this.table.newLock(startTs, keys);
    if (this.table.acquire(lock) !== "waiting") return Promise.resolve(lock);
    return new Promise((resolve, reject) => this.waiters.set(lock, { resolve, reject }));
  }

  /**
   * Releases the latches of `lock`, recording `commitTs` on its keys when it committed (0 when
   * it did not), and wakes the transactions waiting for them.
   */
  unlock(lock: LatchLock, commitTs = 0n): void {
    if (this.closed) return;
    if (commitTs > 0n) this.see(commitTs);
    this.waiters.delete(lock);
    for (const next of this.table.release(lock, commitTs)) {
      if (this.table.acquire(next) === "waiting") continue;
      const w = this.waiters.get(next);
      this.waiters.delete(next);
      w?.resolve(next);
    }
  }

  /**
   * Drops the entries of free keys last committed at least `expireMs` before `nowTs` (default:
   * the newest ts seen, moved on by the wall-clock time since). Returns how many were dropped.
   */
  recycle(nowTs: bigint = this.currentTs()): number {
    if (this.closed || nowTs === 0n) return 0;
    return this.table.recycle(nowTs, this.expireMs);
  }

  /** Number of transactions waiting for a latch. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Stops the recycling timer and rejects every waiting lock with ShuttingDownError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const pending = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of pending) w.reject(new ShuttingDownError("latch scheduler is closed"));
  }

  private see(ts: bigint): void {
    if (ts > this.lastTs) {
      this.lastTs = ts;
      this.lastTsAtMs = Date.now();
    }
  }

  private currentTs(): bigint {
    if (this.lastTs === 0n) return 0n;
    const elapsed = BigInt(Math.max(0, Math.floor(Date.now() - this.lastTsAtMs)));
    const ts = this.lastTs + (elapsed << BigInt(LOGICAL_BITS));
    return ts > MAX_TS ? MAX_TS : ts; // clamped: the timer must never throw
  }
}
