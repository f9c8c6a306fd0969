// The local latch table (client-go internal/latch Latches): pure, synchronous bookkeeping of which
// of this client's committing transactions holds each key, who waits for it, and the newest commit
// ts recorded on it. Keys hash into a power-of-two number of slots; a slot keeps an entry per key
// and one FIFO queue of the locks waiting on any of its keys. A lock takes its keys one at a time
// in sorted order, so two locks can never wait on each other (no deadlock), and a released key
// goes straight to its first waiter, so a newcomer never overtakes the queue (no starvation).

import { physicalOf } from "../../../kv/timestamp.js";
import { murmur3 } from "./murmur3.js";

/** What {@link LatchTable.acquire} left the lock in. */
export type AcquireResult = "acquired" | "waiting" | "stale";

/** The largest latch capacity accepted (slots are numbered with 31-bit masks). */
export const MAX_LATCH_CAPACITY = 2 ** 31;

/** One transaction's claim on its keys (client-go latch.Lock). */
export class LatchLock {
  /** The keys, sorted and without duplicates. */
  readonly keys: readonly Buffer[];
  /** @internal map key of each key (latin1: one char per byte, lossless). */
  readonly ids: readonly string[];
  /** @internal slot of each key. */
  readonly slots: readonly number[];
  /** @internal how many keys, from the first, this lock holds. */
  held = 0;
  /** @internal set when a key it needs carries a commit newer than its start ts. */
  stale = false;
  /** @internal the queue the lock waits in, if any. */
  waitingIn: Slot | undefined;

  constructor(
    /** Start ts of the transaction. */
    readonly startTs: bigint,
    keys: readonly Buffer[],
    slotOf: (key: Buffer) => number,
  ) {
    this.keys = keys;
    this.ids = keys.map((k) => k.toString("latin1"));
    this.slots = keys.map(slotOf);
  }

  /**
   * True when a key was committed by another transaction after this one started: the commit
   * would meet a write conflict, so it fails without sending anything.
   */
  get isStale(): boolean {
    return this.stale;
  }

  /** True when the lock holds all its keys. */
  get isAcquired(): boolean {
    return !this.stale && this.held === this.keys.length;
  }
}

// the latch of one key
interface KeyLatch {
  holder: LatchLock | undefined;
  /** Newest commit ts released on the key (0 = none). */
  maxCommitTs: bigint;
}

/** @internal a slot: the keys that hash to it and the locks waiting for one of them. */
export interface Slot {
  readonly keys: Map<string, KeyLatch>;
  readonly waiting: LatchLock[];
}

/** The latch table of one client. */
export class LatchTable {
  /** Number of slots: the capacity rounded up to a power of two. */
  readonly size: number;
  private readonly mask: number;
  // created on first use and dropped once empty, so a large capacity costs nothing up front
  private readonly slotMap = new Map<number, Slot>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_LATCH_CAPACITY) {
      throw new RangeError(`latch capacity must be an integer in [1, 2^31], got ${capacity}`);
    }
    let size = 1;
    while (size < capacity) size *= 2;
    this.size = size;
    this.mask = size - 1;
  }

  /** The slot a key hashes to. */
  slotOf(key: Uint8Array): number {
    return murmur3(key) & this.mask;
  }

  /** A lock for `keys` (sorted and deduplicated here) at `startTs`; nothing is taken yet. */
  newLock(startTs: bigint, keys: readonly Uint8Array[]): LatchLock {
    const sorted = keys.map((k) => (Buffer.isBuffer(k) ? k : Buffer.from(k.buffer, k.byteOffset, k.length)));
    sorted.sort(Buffer.compare);
    const unique = sorted.filter((k, i) => i === 0 || !k.equals(sorted[i - 1] as Buffer));
    return new LatchLock(startTs, unique, (k) => this.slotOf(k));
  }

  /**
   * Takes the lock's remaining keys in order until one is held by another lock (the lock then
   * waits in that key's slot), or one carries a commit newer than its start ts (stale), or all
   * are taken.
   */
  acquire(lock: LatchLock): AcquireResult {
    if (lock.stale) return "stale";
    while (lock.held < lock.keys.length) {
      const i = lock.held;
      const slot = this.slot(lock.slots[i] as number);
      const id = lock.ids[i] as string;
      const latch = slot.keys.get(id);
      if (latch === undefined) {
        slot.keys.set(id, { holder: lock, maxCommitTs: 0n });
        lock.held++;
        continue;
      }
      if (latch.maxCommitTs > lock.startTs) {
        lock.stale = true;
        return "stale";
      }
      if (latch.holder === undefined) {
        latch.holder = lock;
        lock.held++;
        continue;
      }
      if (latch.holder === lock) throw new Error("latch: a lock met its own key twice");
      slot.waiting.push(lock);
      lock.waitingIn = slot;
      return "waiting";
    }
    return "acquired";
  }

  /**
   * Releases every key the lock holds, recording `commitTs` on each (0 when it did not commit),
   * and hands each key to the first lock waiting for it. Returns the locks woken: each now holds
   * one more key (to go on with {@link acquire}) or is stale (a waiter that started before
   * `commitTs` is failed rather than handed the key, and the next waiter is tried).
   */
  release(lock: LatchLock, commitTs: bigint): LatchLock[] {
    if (lock.waitingIn) this.dequeue(lock);
    const woken: LatchLock[] = [];
    for (let i = lock.held - 1; i >= 0; i--) {
      const slotId = lock.slots[i] as number;
      const slot = this.slotMap.get(slotId);
      const id = lock.ids[i] as string;
      const latch = slot?.keys.get(id);
      if (!slot || !latch || latch.holder !== lock) throw new Error("latch: released a key it does not hold");
      if (commitTs > latch.maxCommitTs) latch.maxCommitTs = commitTs;
      latch.holder = undefined;
      for (;;) {
        const idx = slot.waiting.findIndex((w) => w.ids[w.held] === id);
        if (idx < 0) break;
        const next = slot.waiting[idx] as LatchLock;
        slot.waiting.splice(idx, 1);
        next.waitingIn = undefined;
        woken.push(next);
        if (latch.maxCommitTs > next.startTs) {
          next.stale = true;
          continue;
        }
        latch.holder = next;
        next.held++;
        break;
      }
    }
    lock.held = 0;
    return woken;
  }

  /**
   * Drops the entries of keys nobody holds whose last commit is at least `expireMs` older than
   * `nowTs` (client-go recycles after 2 minutes): a transaction that old would be stopped by
   * TiKV's own conflict check anyway. Returns how many were dropped.
   */
  recycle(nowTs: bigint, expireMs: number): number {
    const now = physicalOf(nowTs);
    let dropped = 0;
    for (const [slotId, slot] of this.slotMap) {
      for (const [id, latch] of slot.keys) {
        if (latch.holder === undefined && now - physicalOf(latch.maxCommitTs) >= expireMs) {
          slot.keys.delete(id);
          dropped++;
        }
      }
      if (slot.keys.size === 0 && slot.waiting.length === 0) this.slotMap.delete(slotId);
    }
    return dropped;
  }

  /** Number of keys with an entry (for tests and diagnostics). */
  get entryCount(): number {
    let n = 0;
    for (const slot of this.slotMap.values()) n += slot.keys.size;
    return n;
  }

  /** Every lock still waiting, in no particular order (used when the table is closed). */
  waiters(): LatchLock[] {
    return [...this.slotMap.values()].flatMap((s) => s.waiting);
  }

  private slot(id: number): Slot {
    let s = this.slotMap.get(id);
    if (!s) {
      s = { keys: new Map(), waiting: [] };
      this.slotMap.set(id, s);
    }
    return s;
  }

  private dequeue(lock: LatchLock): void {
    const q = lock.waitingIn?.waiting;
    const idx = q ? q.indexOf(lock) : -1;
    if (q && idx >= 0) q.splice(idx, 1);
    lock.waitingIn = undefined;
  }
}
