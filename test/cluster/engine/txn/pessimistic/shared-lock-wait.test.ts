// Lock waiting, wake-up and deadlock detection around shared pessimistic locks, against the
// real TxnEngine commands. Ports of tikv tests/failpoints/cases/test_storage.rs
// (test_shared_exclusive_lock_conflict, test_resolve_shared_locks,
// test_resumable_pessimistic_lock_encounters_shared_lock_returns_error) and
// tests/integrations/server/lock_manager.rs (test_shared_lock_deadlock_*).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TxnEngine } from "../../../../../src/cluster/engine/txn/txn-engine.js";
import {
  Op,
  PrewriteRequest_PessimisticAction as PA,
  PessimisticLockKeyResultType,
  type PessimisticLockResponse,
  PessimisticRollbackRequest,
  ResolveLockRequest,
} from "../../../../../src/proto/kvrpcpb.js";
import { b, mustCommit, mut, pessimisticPrewrite, sharedLocksOf } from "../helpers.js";
import { type LockOpts, lockRequest } from "./fixture.js";

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

let e: TxnEngine;
beforeEach(() => {
  vi.useFakeTimers();
  e = new TxnEngine({ pessimistic: { now: () => Date.now(), wakeUpDelayMs: 20 } });
});
afterEach(() => {
  e.close();
  vi.useRealTimers();
});

/** A pending request with a probe of its answer. */
interface Pending {
  readonly answer: () => PessimisticLockResponse | undefined;
}

/** Sends a KvPessimisticLock of one key (waiting up to 5 s by default). */
function send(key: string, startTs: number, o: LockOpts = {}): Pending {
  let answer: PessimisticLockResponse | undefined;
  void e
    .pessimisticLock(lockRequest([key], startTs, startTs, { primary: "pk", waitTimeout: 5000n, ...o }))
    .then((r) => {
      answer = r;
    });
  return { answer: () => answer };
}

async function answered(key: string, startTs: number, o: LockOpts = {}): Promise<PessimisticLockResponse> {
  const p = send(key, startTs, o);
  await flush();
  const r = p.answer();
  if (!r) throw new Error(`request of ${startTs} on ${key} is waiting`);
  return r;
}

async function mustLock(key: string, startTs: number, o: LockOpts = {}): Promise<void> {
  expect((await answered(key, startTs, o)).errors).toEqual([]);
}

async function mustWait(key: string, startTs: number, o: LockOpts = {}): Promise<Pending> {
  const p = send(key, startTs, o);
  await flush();
  expect(p.answer()).toBeUndefined();
  return p;
}

function prewrite(key: string, startTs: number, shared: boolean): void {
  const r = pessimisticPrewrite(
    e,
    [mut(shared ? Op.SharedLock : Op.Lock, key)],
    "pk",
    BigInt(startTs),
    BigInt(startTs),
    PA.DO_PESSIMISTIC_CHECK,
  );
  expect(r.errors).toEqual([]);
}

function pessimisticRollback(key: string, startTs: number): void {
  const r = e.pessimisticRollback(
    PessimisticRollbackRequest.fromPartial({
      keys: [b(key)],
      startVersion: BigInt(startTs),
      forUpdateTs: BigInt(startTs),
    }),
  );
  expect(r.errors).toEqual([]);
}

/** Makes the shared locks on key shrink-only with a no-wait exclusive request. */
async function forceShrinkOnly(key: string, startTs: number): Promise<void> {
  const r = await answered(key, startTs, { waitTimeout: 0n });
  expect(r.errors[0]?.locked?.lockType).toBe(Op.SharedLock);
  expect(sharedLocksOf(e, key)?.shrinkOnly).toBe(true);
}

describe("waiting for shared locks", () => {
  it("exclusive and shared requests wait for each other in turn (tikv test_shared_exclusive_lock_conflict)", async () => {
    await mustLock("k", 10, { shared: true });
    await mustLock("k", 20, { shared: true });
    expect(sharedLocksOf(e, "k")?.locks.map((l) => l.startTs)).toEqual([10n, 20n]);

    // The first exclusive request turns the shared locks shrink-only and fails at once.
    const first = await answered("k", 30);
    expect(first.errors[0]?.locked?.sharedLockInfos.map((l) => l.lockVersion)).toEqual([10n, 20n]);
    // Then exclusive and new shared requests wait.
    const exclusive = await mustWait("k", 30);
    const shared = await mustWait("k", 40, { shared: true });

    prewrite("k", 10, true);
    prewrite("k", 20, true);
    mustCommit(e, ["k"], 10n, 15n);
    await flush();
    expect(exclusive.answer()).toBeUndefined();
    mustCommit(e, ["k"], 20n, 25n);
    await flush();
    // Released by the last holder: the legacy exclusive waiter retries with WriteConflict.
    expect(exclusive.answer()?.errors[0]?.conflict).toMatchObject({
      startTs: 30n,
      conflictTs: 20n,
      conflictCommitTs: 25n,
    });
    // The shared waiter behind it is woken after the wake-up delay.
    expect(shared.answer()).toBeUndefined();
    vi.advanceTimersByTime(20);
    await flush();
    expect(shared.answer()?.errors[0]?.conflict).toMatchObject({ startTs: 40n, conflictTs: 20n });

    // Now an exclusive lock, which blocks shared requests.
    await mustLock("k", 40);
    const s1 = await mustWait("k", 50, { shared: true });
    const s2 = await mustWait("k", 60, { shared: true });
    prewrite("k", 40, false);
    mustCommit(e, ["k"], 40n, 70n);
    await flush();
    // Shared waiters at the head are woken together.
    for (const [s, ts] of [
      [s1, 50n],
      [s2, 60n],
    ] as const) {
      expect(s.answer()?.errors[0]?.conflict).toMatchObject({
        startTs: ts,
        conflictTs: 40n,
        conflictCommitTs: 70n,
      });
    }

    await mustLock("k", 80, { shared: true });
    await mustLock("k", 90, { shared: true });
    await mustLock("k", 100, { shared: true });
    prewrite("k", 90, true);
    mustCommit(e, ["k"], 90n, 120n);
    prewrite("k", 100, true);
    const optimistic = e.prewrite({
      context: undefined,
      mutations: [mut(Op.Lock, "k")],
      primaryLock: b("pk"),
      startVersion: 110n,
      lockTtl: 3000n,
      skipConstraintCheck: false,
      pessimisticActions: [],
      txnSize: 1n,
      forUpdateTs: 0n,
      minCommitTs: 0n,
      useAsyncCommit: false,
      secondaries: [],
      tryOnePc: false,
      maxCommitTs: 0n,
      assertionLevel: 0,
      forUpdateTsConstraints: [],
      txnFileChunks: [],
    });
    expect(optimistic.errors).toHaveLength(1);
    const info = optimistic.errors[0]?.locked;
    expect(info?.lockType).toBe(Op.SharedLock);
    expect(info?.sharedLockInfos.map((l) => [l.lockVersion, l.lockType, l.key, l.primaryLock])).toEqual([
      [80n, Op.PessimisticLock, b("k"), b("pk")],
      [100n, Op.Lock, b("k"), b("pk")],
    ]);
  });

  it("shared waiters queued behind a shared head are woken with it; an exclusive one stays (tikv test_pop_shared_group, end to end)", async () => {
    await mustLock("k", 5);
    const s10 = await mustWait("k", 10, { shared: true });
    const s11 = await mustWait("k", 11, { shared: true });
    const x20 = await mustWait("k", 20);
    pessimisticRollback("k", 5);
    await flush();
    expect(s10.answer()?.errors[0]?.conflict?.conflictTs).toBe(5n);
    expect(s11.answer()?.errors[0]?.conflict?.conflictTs).toBe(5n);
    expect(x20.answer()).toBeUndefined();
    vi.advanceTimersByTime(20);
    await flush();
    expect(x20.answer()?.errors[0]?.conflict?.conflictTs).toBe(5n);
  });

  it("resolving one holder does not wake the waiter; resolving the last does (tikv test_resolve_shared_locks)", async () => {
    await mustLock("k", 10, { shared: true });
    await mustLock("k", 20, { shared: true });
    await forceShrinkOnly("k", 30);
    const waiter = await mustWait("k", 30);
    const resolve = (startTs: bigint) =>
      expect(
        e.resolveLock(
          ResolveLockRequest.fromPartial({ startVersion: startTs, commitVersion: 0n, keys: [b("k")] }),
        ).error,
      ).toBeUndefined();
    resolve(10n);
    await flush();
    expect(sharedLocksOf(e, "k")?.locks.map((l) => l.startTs)).toEqual([20n]);
    expect(waiter.answer()).toBeUndefined();
    resolve(20n);
    await flush();
    expect(e.store.lockCf.get("k")).toBeUndefined();
    expect(waiter.answer()?.errors[0]?.conflict).toMatchObject({ conflictTs: 20n, conflictCommitTs: 0n });
  });

  it("times out with KeyIsLocked listing the holders", async () => {
    await mustLock("k", 10, { shared: true });
    await forceShrinkOnly("k", 30);
    const waiter = await mustWait("k", 30, { waitTimeout: 100n });
    vi.advanceTimersByTime(100);
    await flush();
    const locked = waiter.answer()?.errors[0]?.locked;
    expect(locked?.lockType).toBe(Op.SharedLock);
    expect(locked?.sharedLockInfos.map((l) => l.lockVersion)).toEqual([10n]);
    expect(e.pessimistic.lockManager.waiterCount).toBe(0);
  });

  it("lists a waiter for shared locks with wait_for_txn 0 (TiKV's lock digest of shared locks)", async () => {
    await mustLock("k", 10, { shared: true });
    await forceShrinkOnly("k", 30);
    await mustWait("k", 30);
    expect(e.pessimistic.lockManager.waitingEntries().map((w) => [w.txn, w.waitForTxn])).toEqual([[30n, 0n]]);
  });
});

describe("resumable requests and shared locks", () => {
  it("a resumed request meeting shared locks fails with KeyIsLocked (tikv test_resumable_pessimistic_lock_encounters_shared_lock_returns_error)", async () => {
    await mustLock("k", 1);
    const legacy = await mustWait("k", 2);
    const resumable = await mustWait("k", 3, { force: true });
    pessimisticRollback("k", 1);
    await flush();
    expect(legacy.answer()?.errors[0]?.conflict).toBeDefined();
    // Before the delayed wake-up of txn 3, txn 4 takes a shared lock.
    await mustLock("k", 4, { shared: true });
    vi.advanceTimersByTime(20);
    await flush();
    const r = resumable.answer();
    expect(r?.results.map((x) => x.type)).toEqual([PessimisticLockKeyResultType.LockResultFailed]);
    expect(r?.errors[0]?.locked?.lockType).toBe(Op.SharedLock);
    expect(r?.errors[0]?.locked?.sharedLockInfos.map((l) => l.lockVersion)).toEqual([4n]);
    // Not made shrink-only by the resumed request.
    expect(sharedLocksOf(e, "k")?.shrinkOnly).toBe(false);
    expect(e.pessimistic.lockManager.waiterCount).toBe(0);
  });

  it("a resumed shared request retries as an exclusive request (as TiKV's resumed command does)", async () => {
    await mustLock("k", 1);
    const waiter = await mustWait("k", 2, { shared: true, force: true });
    pessimisticRollback("k", 1);
    await flush();
    expect(waiter.answer()?.results.map((x) => x.type)).toEqual([
      PessimisticLockKeyResultType.LockResultNormal,
    ]);
    expect(e.store.lockCf.get("k")).toMatchObject({ lockType: "Pessimistic", startTs: 2n });
  });
});

describe("deadlocks through shared locks", () => {
  it("detects a cycle through a shared holder (tikv test_shared_lock_deadlock_basic)", async () => {
    await mustLock("k1", 10, { shared: true });
    await mustLock("k2", 20, { shared: true });
    await forceShrinkOnly("k1", 100);
    await forceShrinkOnly("k2", 101);
    const t10 = await mustWait("k2", 10, { force: true });
    const t20 = await answered("k1", 20, { force: true, waitTimeout: 1000n });
    expect(t20.results.map((x) => x.type)).toEqual([PessimisticLockKeyResultType.LockResultFailed]);
    expect(t20.errors[0]?.deadlock).toMatchObject({ lockTs: 10n, lockKey: b("k1") });
    expect(t20.errors[0]?.deadlock?.waitChain.map((w) => [w.txn, w.waitForTxn])).toEqual([
      [10n, 20n],
      [20n, 10n],
    ]);
    pessimisticRollback("k2", 20);
    await flush();
    expect(t10.answer()?.errors).toEqual([]);
    expect(t10.answer()?.results.map((x) => x.type)).toEqual([PessimisticLockKeyResultType.LockResultNormal]);
  });

  it("drops the edges to the holders checked before the one closing the cycle (tikv test_shared_lock_deadlock_cleanup_partial_edges)", async () => {
    await mustLock("a", 10, { shared: true });
    await mustLock("a", 20, { shared: true });
    await forceShrinkOnly("a", 102);
    await mustLock("b", 30);
    const t20 = await mustWait("b", 20, { force: true });
    const t30 = await answered("a", 30, { force: true, waitTimeout: 1000n });
    expect(t30.errors[0]?.deadlock?.lockTs).toBe(20n);
    // txn 10 waiting for txn 30 must not meet a stale edge 30 -> 10.
    const t10 = await mustWait("b", 10, { force: true });
    pessimisticRollback("b", 30);
    await flush();
    // The smallest start_ts is woken first and gets the lock; txn 20 keeps waiting.
    expect(t10.answer()?.results.map((x) => x.type)).toEqual([PessimisticLockKeyResultType.LockResultNormal]);
    expect(t20.answer()).toBeUndefined();
  });

  it("re-detects after a waiter's shared lock is replaced by a holder (tikv test_shared_lock_deadlock_with_update_waiter)", async () => {
    await mustLock("a", 10, { shared: true });
    await mustLock("a", 20, { shared: true });
    await forceShrinkOnly("a", 103);
    await mustLock("b", 40);
    const t30 = await mustWait("a", 30, { force: true });
    const t40 = await mustWait("a", 40, { force: true });
    pessimisticRollback("a", 10);
    await flush();
    expect(t30.answer()).toBeUndefined();
    pessimisticRollback("a", 20);
    await flush();
    expect(t30.answer()?.errors).toEqual([]);
    expect(t40.answer()).toBeUndefined();
    // txn 40 now waits for txn 30 on a: txn 30 waiting for txn 40 on b is a deadlock.
    const r = await answered("b", 30, { force: true, waitTimeout: 1000n });
    expect(r.errors[0]?.deadlock?.lockTs).toBe(40n);
    pessimisticRollback("a", 30);
    await flush();
    expect(t40.answer()?.errors).toEqual([]);
  });
});
