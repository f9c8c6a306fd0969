// KvPessimisticLock waiting for locks: wake-up on release (tikv src/storage/mod.rs
// test_wake_up, test_pessimistic_lock_resumable), timeouts (waiter_manager.rs), deadlocks
// (lock_manager/mod.rs test_single_lock_manager) and the response shapes TiKV sends.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keyHash } from "../../../../../src/cluster/engine/txn/pessimistic/key-hash.js";
import {
  PessimisticLockKeyResultType,
  type PessimisticLockResponse,
  WriteConflict_Reason,
} from "../../../../../src/proto/kvrpcpb.js";
import { b, Fixture } from "./fixture.js";

/** Tracks a pending request without awaiting it. */
function track(p: Promise<PessimisticLockResponse>) {
  const t: { done: boolean; resp?: PessimisticLockResponse } = { done: false };
  void p.then((r) => {
    t.done = true;
    t.resp = r;
  });
  return t;
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe("pessimistic lock waiting", () => {
  let f: Fixture;
  beforeEach(() => {
    vi.useFakeTimers();
    f = new Fixture(() => Date.now());
  });
  afterEach(() => {
    f.engine.close();
    vi.useRealTimers();
  });

  it("wait_timeout < 0 answers at once with the lock", async () => {
    await f.mustLock("k", 10, 10);
    const e = await f.lockErr("k", 20, 20, { waitTimeout: -1n });
    expect(e.locked?.lockVersion).toBe(10n);
    expect(f.engine.lockManager.waiterCount).toBe(0);
  });

  it("a legacy waiter is answered WriteConflict with the committer's ts (tikv test_wake_up: commit)", async () => {
    await f.mustLock("k", 10, 10);
    const t = track(f.lock(["k"], 20, 20, { waitTimeout: 5000n, primary: "p20" }));
    await flush();
    expect(t.done).toBe(false);
    expect(f.engine.lockManager.waiterCount).toBe(1);
    f.prewrite("k", "Put", 10, "v", 10); // prewrite keeps the lock
    await flush();
    expect(t.done).toBe(false);
    f.commit("k", 10, 15);
    await flush();
    expect(t.resp?.errors).toHaveLength(1);
    expect(t.resp?.errors[0]?.conflict).toEqual({
      startTs: 20n,
      conflictTs: 10n,
      conflictCommitTs: 15n,
      key: b("k"),
      primary: b("p20"),
      reason: WriteConflict_Reason.PessimisticRetry,
    });
    // The waiter did not lock: the client retries with a newer for_update_ts.
    expect(f.lockOf("k")).toBeUndefined();
    expect(f.engine.lockManager.waiterCount).toBe(0);
  });

  it("rollback and pessimistic rollback wake with commit_ts 0 (tikv test_wake_up)", async () => {
    await f.mustLock("a", 10, 10);
    await f.mustLock("b", 10, 10);
    const ta = track(f.lock(["a"], 20, 20, { waitTimeout: 0n }));
    const tb = track(f.lock(["b"], 21, 21, { waitTimeout: 0n }));
    await flush();
    f.rollback("a", 10);
    f.pessimisticRollback("b", 10, 10);
    await flush();
    expect(ta.resp?.errors[0]?.conflict).toMatchObject({
      startTs: 20n,
      conflictTs: 10n,
      conflictCommitTs: 0n,
    });
    expect(tb.resp?.errors[0]?.conflict).toMatchObject({
      startTs: 21n,
      conflictTs: 10n,
      conflictCommitTs: 0n,
    });
  });

  it("wakes the oldest waiter first and the others after wake-up-delay-duration", async () => {
    await f.mustLock("k", 10, 10);
    const t30 = track(f.lock(["k"], 30, 30, { waitTimeout: 0n }));
    const t20 = track(f.lock(["k"], 20, 20, { waitTimeout: 0n }));
    await flush();
    f.commit("k", 10, 11);
    await flush();
    expect(t20.done).toBe(true);
    expect(t30.done).toBe(false);
    vi.advanceTimersByTime(20);
    await flush();
    expect(t30.resp?.errors[0]?.conflict).toMatchObject({
      startTs: 30n,
      conflictTs: 10n,
      conflictCommitTs: 11n,
    });
  });

  it("times out with KeyError.locked after min(wait_timeout, 1000ms)", async () => {
    await f.mustLock("k", 10, 10);
    const t = track(f.lock(["k"], 20, 20, { waitTimeout: 100n }));
    const tDefault = track(f.lock(["k"], 21, 21, { waitTimeout: 0n }));
    const tLong = track(f.lock(["k"], 22, 22, { waitTimeout: 60_000n }));
    vi.advanceTimersByTime(99);
    await flush();
    expect(t.done).toBe(false);
    vi.advanceTimersByTime(1);
    await flush();
    expect(t.resp?.errors[0]?.locked).toMatchObject({ key: b("k"), lockVersion: 10n });
    vi.advanceTimersByTime(900);
    await flush();
    expect(tDefault.resp?.errors[0]?.locked?.lockVersion).toBe(10n);
    expect(tLong.resp?.errors[0]?.locked?.lockVersion).toBe(10n);
    f.mustPessimisticLocked("k", 10, 10);
  });

  it("detects a deadlock and answers KeyError.deadlock with the wait chain", async () => {
    await f.mustLock("k1", 10, 10);
    await f.mustLock("k2", 20, 20);
    const t10 = track(f.lock(["k2"], 10, 10, { waitTimeout: 0n, primary: "k1" }));
    await flush();
    expect(t10.done).toBe(false);
    const dl = await f.lock(["k1"], 20, 20, { waitTimeout: 0n, primary: "k2" });
    expect(dl.errors).toHaveLength(1);
    const d = dl.errors[0]?.deadlock;
    expect(d?.lockTs).toBe(10n);
    expect(d?.lockKey).toEqual(b("k1"));
    expect(d?.deadlockKeyHash).toBe(keyHash(b("k2")));
    expect(d?.waitChain.map((e) => [e.txn, e.waitForTxn, e.key.toString(), e.keyHash])).toEqual([
      [10n, 20n, "k2", keyHash(b("k2"))],
      [20n, 10n, "k1", keyHash(b("k1"))],
    ]);
    // The victim gives up; its rollback wakes the other waiter.
    f.pessimisticRollback("k2", 20, 20);
    await flush();
    expect(t10.resp?.errors[0]?.conflict).toMatchObject({
      startTs: 10n,
      conflictTs: 20n,
      conflictCommitTs: 0n,
    });
  });

  it("is_first_lock requests are never reported as deadlocks", async () => {
    await f.mustLock("k1", 10, 10);
    await f.mustLock("k2", 20, 20);
    const t10 = track(f.lock(["k2"], 10, 10, { waitTimeout: 50n }));
    const t20 = track(f.lock(["k1"], 20, 20, { waitTimeout: 50n, isFirstLock: true }));
    vi.advanceTimersByTime(50);
    await flush();
    expect(t10.resp?.errors[0]?.locked).toBeDefined();
    expect(t20.resp?.errors[0]?.locked).toBeDefined();
  });

  describe("WakeUpModeForceLock (tikv test_pessimistic_lock_resumable)", () => {
    it("resumes after a commit and locks with conflict", async () => {
      f.put("k", "v0", 1, 2);
      await f.mustLock("k", 10, 10);
      const t = track(f.lock(["k"], 20, 20, { waitTimeout: 0n, force: true, returnValues: true }));
      await flush();
      f.prewrite("k", "Put", 10, "v10", 10);
      f.commit("k", 10, 25);
      await flush();
      expect(t.resp?.errors).toEqual([]);
      expect(t.resp?.results).toHaveLength(1);
      expect(t.resp?.results[0]).toMatchObject({
        type: PessimisticLockKeyResultType.LockResultLockedWithConflict,
        value: b("v10"),
        existence: true,
        lockedWithConflictTs: 25n,
      });
      expect(f.mustPessimisticLocked("k", 20, 25).isLockedWithConflict).toBe(true);
      expect(f.engine.lockManager.waiterCount).toBe(0);
    });

    it("resumes after a rollback and locks normally", async () => {
      await f.mustLock("k", 10, 10);
      const t = track(f.lock(["k"], 20, 20, { waitTimeout: 0n, force: true }));
      await flush();
      f.pessimisticRollback("k", 10, 10);
      await flush();
      expect(t.resp?.errors).toEqual([]);
      expect(t.resp?.results[0]?.type).toBe(PessimisticLockKeyResultType.LockResultNormal);
      f.mustPessimisticLocked("k", 20, 20);
    });

    it("waits again when another txn takes the lock first, then times out as Failed + locked", async () => {
      await f.mustLock("k", 10, 10);
      const t = track(f.lock(["k"], 20, 20, { waitTimeout: 300n, force: true }));
      await flush();
      // Release and, before the resumed request runs, let txn 15 take the key.
      f.pessimisticRollback("k", 10, 10);
      f.prewrite("k", "Put", 15, "v15");
      await flush();
      expect(t.done).toBe(false);
      expect(f.engine.lockManager.queues.entriesOf(b("k"))).toHaveLength(1);
      vi.advanceTimersByTime(300);
      await flush();
      expect(t.resp?.results.map((r) => r.type)).toEqual([PessimisticLockKeyResultType.LockResultFailed]);
      expect(t.resp?.errors[0]?.locked?.lockVersion).toBe(15n);
    });

    it("a failed retry reports Failed with the error", async () => {
      await f.mustLock("k", 10, 10);
      const t = track(f.lock(["k"], 20, 20, { waitTimeout: 0n, force: true }));
      await flush();
      // Txn 20 was rolled back on this key meanwhile (e.g. by a resolver).
      f.pessimisticRollback("k", 10, 10);
      f.rollback("k", 20);
      await flush();
      expect(t.resp?.results.map((r) => r.type)).toEqual([PessimisticLockKeyResultType.LockResultFailed]);
      expect(t.resp?.errors[0]?.abort).toContain("rollbacked");
    });
  });

  it("a multi-key request blocked on its second key locks nothing and fails on wake-up", async () => {
    await f.mustLock("k2", 10, 10);
    const t = track(f.lock(["k1", "k2", "k3"], 20, 20, { waitTimeout: 0n }));
    await flush();
    expect(f.lockOf("k1")).toBeUndefined();
    expect(f.engine.lockManager.queues.entriesOf(b("k2"))).toHaveLength(1);
    f.pessimisticRollback("k2", 10, 10);
    await flush();
    expect(t.resp?.errors[0]?.conflict).toMatchObject({ startTs: 20n, key: b("k2"), conflictTs: 10n });
    for (const k of ["k1", "k2", "k3"]) expect(f.lockOf(k)).toBeUndefined();
  });

  it("a waiter's timeout reports the lock that replaced the one it first met (update_lock_wait)", async () => {
    await f.mustLock("k", 10, 10);
    // 20 (ForceLock) is the head of the queue, 30 (legacy) waits behind it.
    const t20 = track(f.lock(["k"], 20, 20, { waitTimeout: 0n, force: true }));
    const t = track(f.lock(["k"], 30, 30, { waitTimeout: 0n }));
    await flush();
    vi.advanceTimersByTime(300);
    // 10 goes away: 20 is resumed and takes the lock; 30 now waits for 20.
    f.pessimisticRollback("k", 10, 10);
    await flush();
    expect(t20.resp?.results[0]?.type).toBe(PessimisticLockKeyResultType.LockResultNormal);
    expect(t.done).toBe(false);
    vi.advanceTimersByTime(700);
    await flush();
    expect(t.resp?.errors[0]?.locked).toMatchObject({ lockVersion: 20n, lockForUpdateTs: 20n });
    // Refreshed when 20 took the lock, 700 ms before the timeout.
    expect(t.resp?.errors[0]?.locked?.durationToLastUpdateMs).toBe(700n);
  });

  it("close answers pending waits and leaves no timers", async () => {
    await f.mustLock("k", 10, 10);
    const t = track(f.lock(["k"], 20, 20, { waitTimeout: 0n }));
    await flush();
    f.engine.close();
    await flush();
    expect(t.resp?.errors[0]?.locked?.lockVersion).toBe(10n);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("KvPessimisticRollback (tikv test_pessimistic_rollback)", () => {
  it("removes only the txn's pessimistic locks with for_update_ts <= the request's", async () => {
    const f = new Fixture();
    await f.mustLock("k1", 1, 1);
    expect(f.pessimisticRollback("k1", 1, 1).errors).toEqual([]);
    expect(f.lockOf("k1")).toBeUndefined();
    expect(f.reader.writesOf(b("k1"))).toEqual([]);
    // Idempotent; succeeds without a lock.
    expect(f.pessimisticRollback("k1", 1, 1).errors).toEqual([]);
    expect(f.pessimisticRollback("k1", 2, 2).errors).toEqual([]);
    // Other txns' locks are untouched.
    await f.mustLock("k1", 2, 3);
    for (const [s, u] of [
      [1, 1],
      [1, 4],
      [3, 3],
      [4, 4],
    ] as const) {
      f.pessimisticRollback("k1", s, u);
    }
    f.mustPessimisticLocked("k1", 2, 3);
    // A smaller for_update_ts does nothing, a larger one removes.
    f.pessimisticRollback("k1", 2, 2);
    f.mustPessimisticLocked("k1", 2, 3);
    f.pessimisticRollback("k1", 2, 4);
    expect(f.lockOf("k1")).toBeUndefined();
    // Prewrite locks are not pessimistic locks.
    f.prewrite("k1", "Put", 3, "v");
    f.pessimisticRollback("k1", 3, 3);
    expect(f.lockOf("k1")?.lockType).toBe("Put");
    f.commit("k1", 3, 4);
    expect(f.pessimisticRollback("k1", 3, 5).errors).toEqual([]);
    expect(f.reader.writesOf(b("k1"))).toHaveLength(1);
  });

  it("without keys, scans the range for the txn's pessimistic locks (tikv test_pessimistic_rollback_with_scan_first)", async () => {
    const f = new Fixture();
    for (const k of ["a", "b", "c", "d"]) await f.mustLock(k, 10, 10);
    await f.mustLock("e", 10, 12);
    await f.mustLock("f", 11, 11);
    const resp = f.engine.pessimisticRollback(
      { context: undefined, startVersion: 10n, forUpdateTs: 11n, keys: [] },
      { start: b("b"), end: b("z") },
    );
    expect(resp.errors).toEqual([]);
    expect(f.lockOf("a")).toBeDefined();
    for (const k of ["b", "c", "d"]) expect(f.lockOf(k)).toBeUndefined();
    f.mustPessimisticLocked("e", 10, 12);
    f.mustPessimisticLocked("f", 11, 11);
  });
});
