// Ports of tikv src/storage/lock_manager/lock_waiting_queue.rs tests.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type DelayedNotify,
  LockWaitQueues,
  type QueuedRequest,
} from "../../../../../src/cluster/engine/txn/pessimistic/lock-wait-queue.js";
import { globalTimers } from "../../../../../src/cluster/engine/txn/pessimistic/timers.js";

let nextToken = 1;
function entry(key: string, startTs: number, resumable = false): QueuedRequest {
  return {
    token: nextToken++,
    key: Buffer.from(key),
    startTs: BigInt(startTs),
    allowLockWithConflict: resumable,
  };
}

function makeQueues(delayMs = 50) {
  const notified: DelayedNotify<QueuedRequest>[] = [];
  const q = new LockWaitQueues<QueuedRequest>({
    timers: globalTimers,
    now: () => Date.now(),
    wakeUpDelayMs: delayMs,
    onDelayedNotify: (n) => notified.push(n),
  });
  return { q, notified };
}

const k1 = Buffer.from("k1");
/** start_ts of an entry, or of the single entry popped (NaN when none or several were popped). */
const startTsOf = (e: QueuedRequest | readonly QueuedRequest[] | undefined): number => {
  if (Array.isArray(e)) return e.length === 1 ? Number(e[0]?.startTs) : Number.NaN;
  return Number((e as QueuedRequest | undefined)?.startTs);
};

describe("LockWaitQueues", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("pushes and pops per key (tikv test_simple_push_pop)", () => {
    const { q } = makeQueues();
    expect(q.entryCount).toBe(0);
    expect(q.isEmpty).toBe(true);
    q.push(entry("k1", 10));
    q.push(entry("k2", 11));
    expect(q.entryCount).toBe(2);
    const e = q.popForWakingUp(k1, 5n, 6n);
    expect(e.map((x) => x.key.toString())).toEqual(["k1"]);
    expect(startTsOf(e)).toBe(10);
    expect(q.popForWakingUp(k1, 5n, 6n)).toEqual([]);
    expect(q.entriesOf(k1)).toHaveLength(0);
    expect(q.entryCount).toBe(1);
    expect(startTsOf(q.popForWakingUp(Buffer.from("k2"), 5n, 6n))).toBe(11);
    expect(q.isEmpty).toBe(true);
  });

  it("pops the smallest start_ts first, duplicates included (tikv test_popping_priority)", () => {
    const { q } = makeQueues();
    for (const ts of [10, 20, 12, 13, 12]) q.push(entry("k1", ts));
    expect(q.entryCount).toBe(5);
    const popped: number[] = [];
    for (let i = 0; i < 5; i++) popped.push(startTsOf(q.popForWakingUp(k1, 5n, 6n)));
    expect(popped).toEqual([10, 12, 12, 13, 20]);
    expect(q.entryCount).toBe(0);
  });

  it("removes entries by token (tikv test_removing_by_token / test_dropping_cancelled_entries)", () => {
    const { q } = makeQueues();
    const es = [10, 11, 12, 13, 14].map((ts) => entry("k1", ts));
    for (const e of es) q.push(e);
    expect(startTsOf(q.removeByToken(k1, es[1]?.token ?? 0))).toBe(11);
    expect(startTsOf(q.removeByToken(k1, es[3]?.token ?? 0))).toBe(13);
    expect(q.entriesOf(k1)).toHaveLength(3);
    expect(q.removeByToken(k1, es[1]?.token ?? 0)).toBeUndefined();
    expect(q.removeByToken(Buffer.from("k2"), es[1]?.token ?? 0)).toBeUndefined();
    expect(q.entryCount).toBe(3);
    const popped = [0, 1, 2].map(() => startTsOf(q.popForWakingUp(k1, 5n, 6n)));
    expect(popped).toEqual([10, 12, 14]);
    expect(q.entryCount).toBe(0);
  });

  it("wakes the entries queued before a legacy wake-up after the delay (tikv test_delayed_notify_all)", () => {
    const { q, notified } = makeQueues(50);
    q.push(entry("k1", 8));
    for (const ts of [11, 12, 13]) q.push(entry("k1", ts));
    expect(startTsOf(q.popForWakingUp(k1, 5n, 6n))).toBe(8);
    expect(q.entryCount).toBe(3);
    q.push(entry("k1", 14));
    q.push(entry("k1", 15, true));
    q.push(entry("k1", 16));
    expect(q.entryCount).toBe(6);
    vi.advanceTimersByTime(49);
    expect(notified).toHaveLength(0);
    vi.advanceTimersByTime(1);
    // 11..13 are failed with the conflict of the release; 14.. were queued later.
    expect(notified).toHaveLength(1);
    expect(notified[0]?.legacy.map((e) => startTsOf(e))).toEqual([11, 12, 13]);
    expect(notified[0]?.resumable).toBeUndefined();
    expect([notified[0]?.conflictStartTs, notified[0]?.conflictCommitTs]).toEqual([5n, 6n]);
    expect(q.entryCount).toBe(3);

    q.push(entry("k1", 9));
    expect(startTsOf(q.popForWakingUp(k1, 7n, 8n))).toBe(9);
    q.push(entry("k1", 17));
    q.push(entry("k1", 18));
    expect(q.entryCount).toBe(5);
    vi.advanceTimersByTime(50);
    // Wakes 14 and stops at the resumable 15, which is handed back for resuming.
    expect(notified).toHaveLength(2);
    expect(notified[1]?.legacy.map((e) => startTsOf(e))).toEqual([14]);
    expect(startTsOf(notified[1]?.resumable)).toBe(15);
    expect([notified[1]?.conflictStartTs, notified[1]?.conflictCommitTs]).toEqual([7n, 8n]);
    expect(q.entriesOf(k1).map((e) => startTsOf(e))).toEqual([16, 17, 18]);

    // A second wake-up while a delayed notify is pending only extends it.
    expect(startTsOf(q.popForWakingUp(k1, 7n, 8n))).toBe(16);
    vi.advanceTimersByTime(30);
    expect(startTsOf(q.popForWakingUp(k1, 9n, 10n))).toBe(17);
    q.push(entry("k1", 19));
    vi.advanceTimersByTime(49);
    expect(notified).toHaveLength(2);
    vi.advanceTimersByTime(1);
    // 18 is failed with the ts of the latest wake-up; 19 came later and stays.
    expect(notified).toHaveLength(3);
    expect(notified[2]?.legacy.map((e) => startTsOf(e))).toEqual([18]);
    expect([notified[2]?.conflictStartTs, notified[2]?.conflictCommitTs]).toEqual([9n, 10n]);
    expect(q.entriesOf(k1).map((e) => startTsOf(e))).toEqual([19]);

    // Emptying the queue cancels any pending notify and drops the key.
    expect(startTsOf(q.popForWakingUp(k1, 9n, 10n))).toBe(19);
    expect(q.entryCount).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(notified).toHaveLength(3);
  });

  it("resumable wake-ups schedule no delayed notify", () => {
    const { q, notified } = makeQueues(20);
    q.push(entry("k1", 10, true));
    q.push(entry("k1", 11));
    expect(startTsOf(q.popForWakingUp(k1, 1n, 0n))).toBe(10);
    vi.advanceTimersByTime(100);
    expect(notified).toHaveLength(0);
    expect(q.entriesOf(k1).map((e) => startTsOf(e))).toEqual([11]);
  });

  it("pops a shared-lock head with the shared-lock entries right behind it (tikv test_pop_shared_group)", () => {
    const { q, notified } = makeQueues(50);
    for (const ts of [10, 11, 12]) q.push({ ...entry("k1", ts), isSharedLock: true });
    q.push(entry("k1", 20));
    expect(q.entryCount).toBe(4);
    const group = q.popForWakingUp(k1, 5n, 6n);
    expect(group.map((e) => [startTsOf(e), e.isSharedLock])).toEqual([
      [10, true],
      [11, true],
      [12, true],
    ]);
    // Legacy entries were woken: the rest is notified after the delay.
    vi.advanceTimersByTime(50);
    expect(notified.map((n) => n.legacy.map((e) => startTsOf(e)))).toEqual([[20]]);
    expect(q.entryCount).toBe(0);

    // An exclusive head is popped alone, even with shared entries behind it.
    q.push(entry("k1", 30));
    q.push({ ...entry("k1", 31), isSharedLock: true });
    expect(startTsOf(q.popForWakingUp(k1, 7n, 8n))).toBe(30);
    expect(q.entriesOf(k1).map((e) => startTsOf(e))).toEqual([31]);
  });

  it("tracks the lock blocking a key and reports waiters to update", () => {
    const { q } = makeQueues();
    const e = entry("k1", 10);
    q.push(e, { key: k1, lockVersion: 5n } as never);
    expect(q.currentLock(k1)?.lockVersion).toBe(5n);
    const ups = q.updateLockWait([
      { key: k1, lockVersion: 7n } as never,
      { key: Buffer.from("zz"), lockVersion: 1n } as never,
    ]);
    expect(ups.map((u) => [u.entry.token, u.lock.lockVersion])).toEqual([[e.token, 7n]]);
    expect(q.currentLock(k1)?.lockVersion).toBe(7n);
    expect(q.drain()).toEqual([e]);
    expect(q.isEmpty).toBe(true);
  });
});
