// Ports of tikv src/server/lock_manager/mod.rs test_single_lock_manager and
// waiter_manager.rs test_waiter_manager_timeout / test_waiter_manager_deadlock /
// test_duration_to_last_update, plus the scheduler's wake-up rules (scheduler.rs
// on_release_locks), driven by vitest fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keyHash } from "../../../../../src/cluster/engine/txn/pessimistic/key-hash.js";
import {
  LockManager,
  type LockWaiter,
  type WaitOutcome,
} from "../../../../../src/cluster/engine/txn/pessimistic/lock-manager.js";
import { waitTimeoutFromWire } from "../../../../../src/cluster/engine/txn/pessimistic/wait-timeout.js";
import { LockInfo } from "../../../../../src/proto/kvrpcpb.js";

interface TestWaiter extends LockWaiter {
  outcomes: WaitOutcome[];
}

function makeWaiter(
  lm: LockManager,
  startTs: number,
  key: string,
  opts: { isFirstLock?: boolean; resumable?: boolean; tag?: string } = {},
): TestWaiter {
  const outcomes: WaitOutcome[] = [];
  return {
    token: lm.allocateToken(),
    key: Buffer.from(key),
    keyHash: keyHash(Buffer.from(key)),
    startTs: BigInt(startTs),
    allowLockWithConflict: opts.resumable ?? false,
    isFirstLock: opts.isFirstLock ?? false,
    resourceGroupTag: Buffer.from(opts.tag ?? ""),
    outcomes,
    onOutcome: (o) => outcomes.push(o),
  };
}

const lockOf = (key: string, ts: number) =>
  LockInfo.fromPartial({ key: Buffer.from(key), lockVersion: BigInt(ts), primaryLock: Buffer.from(key) });

const DEFAULT = waitTimeoutFromWire(0n);

describe("LockManager", () => {
  let lm: LockManager;
  beforeEach(() => {
    vi.useFakeTimers();
    lm = new LockManager({ now: () => Date.now() });
  });
  afterEach(() => {
    lm.close();
    vi.useRealTimers();
  });

  it("times out with KeyIsLocked after the default wait (tikv test_single_lock_manager: timeout)", () => {
    const w = makeWaiter(lm, 10, "k", { isFirstLock: true });
    lm.waitFor(w, lockOf("k", 20), DEFAULT);
    expect(lm.waiterCount).toBe(1);
    vi.advanceTimersByTime(999);
    expect(w.outcomes).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(w.outcomes).toEqual([
      { kind: "timeout", lockInfo: { ...lockOf("k", 20), durationToLastUpdateMs: 0n } },
    ]);
    expect(lm.waiterCount).toBe(0);
    expect(lm.queues.isEmpty).toBe(true);
  });

  it("caps a requested wait at wait-for-lock-timeout and honours shorter ones", () => {
    const long = makeWaiter(lm, 10, "a", { isFirstLock: true });
    const short = makeWaiter(lm, 11, "b", { isFirstLock: true });
    lm.waitFor(long, lockOf("a", 5), waitTimeoutFromWire(5000n));
    lm.waitFor(short, lockOf("b", 5), waitTimeoutFromWire(100n));
    vi.advanceTimersByTime(100);
    expect(short.outcomes.map((o) => o.kind)).toEqual(["timeout"]);
    expect(long.outcomes).toHaveLength(0);
    vi.advanceTimersByTime(900);
    expect(long.outcomes.map((o) => o.kind)).toEqual(["timeout"]);
  });

  it("finish removes the waiter silently (tikv test_single_lock_manager: removal)", () => {
    const w = makeWaiter(lm, 10, "k", { isFirstLock: true });
    lm.waitFor(w, lockOf("k", 20), DEFAULT);
    lm.queues.removeByToken(w.key, w.token);
    lm.finish(w);
    expect(lm.waiterCount).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(w.outcomes).toHaveLength(0);
  });

  it("reports a deadlock with TiKV's wait chain (tikv test_single_lock_manager: deadlock)", () => {
    const w1 = makeWaiter(lm, 10, "k1", { tag: "tag1" });
    lm.waitFor(w1, lockOf("k1", 20), DEFAULT);
    const w2 = makeWaiter(lm, 20, "k2", { tag: "tag2" });
    lm.waitFor(w2, lockOf("k2", 10), DEFAULT);
    expect(w2.outcomes).toHaveLength(1);
    const o = w2.outcomes[0];
    if (o?.kind !== "deadlock") throw new Error(`expected deadlock, got ${o?.kind}`);
    expect(o.lockTs).toBe(10n);
    expect(o.lockKey.toString()).toBe("k2");
    expect(o.deadlockKeyHash).toBe(keyHash(Buffer.from("k1")));
    expect(
      o.waitChain.map((e) => [
        e.txn,
        e.waitForTxn,
        e.key.toString(),
        e.resourceGroupTag.toString(),
        e.keyHash,
      ]),
    ).toEqual([
      [10n, 20n, "k1", "tag1", keyHash(Buffer.from("k1"))],
      [20n, 10n, "k2", "tag2", keyHash(Buffer.from("k2"))],
    ]);
    // The deadlocked waiter left the queue; the other one still waits.
    expect(lm.queues.entriesOf(Buffer.from("k2"))).toHaveLength(0);
    expect(lm.waiterCount).toBe(1);
    expect(w1.outcomes).toHaveLength(0);
  });

  it("skips detection for the first lock of a txn (tikv test_single_lock_manager: is_first_lock)", () => {
    const w1 = makeWaiter(lm, 40, "k1");
    lm.waitFor(w1, lockOf("k1", 30), DEFAULT);
    const first = makeWaiter(lm, 30, "k2", { isFirstLock: true });
    lm.waitFor(first, lockOf("k2", 40), DEFAULT);
    expect(first.outcomes).toHaveLength(0);
    lm.queues.removeByToken(first.key, first.token);
    lm.finish(first);
    const notFirst = makeWaiter(lm, 30, "k2");
    lm.waitFor(notFirst, lockOf("k2", 40), DEFAULT);
    expect(notFirst.outcomes.map((o) => o.kind)).toEqual(["deadlock"]);
  });

  it("a timed-out waiter leaves the wait-for graph", () => {
    const w1 = makeWaiter(lm, 10, "k1");
    lm.waitFor(w1, lockOf("k1", 20), waitTimeoutFromWire(50n));
    vi.advanceTimersByTime(50);
    expect(w1.outcomes.map((o) => o.kind)).toEqual(["timeout"]);
    const w2 = makeWaiter(lm, 20, "k2");
    lm.waitFor(w2, lockOf("k2", 10), DEFAULT);
    expect(w2.outcomes).toHaveLength(0);
  });

  it("wakes a legacy waiter with the releasing txn's timestamps and the rest after the delay", () => {
    const a = makeWaiter(lm, 10, "k");
    const b = makeWaiter(lm, 11, "k");
    lm.waitFor(b, lockOf("k", 5), DEFAULT);
    lm.waitFor(a, lockOf("k", 5), DEFAULT);
    lm.onLocksReleased([{ key: Buffer.from("k"), startTs: 5n, commitTs: 6n }]);
    expect(a.outcomes).toEqual([{ kind: "wokenUp", conflictStartTs: 5n, conflictCommitTs: 6n }]);
    expect(b.outcomes).toHaveLength(0);
    vi.advanceTimersByTime(20);
    expect(b.outcomes).toEqual([{ kind: "wokenUp", conflictStartTs: 5n, conflictCommitTs: 6n }]);
    expect(lm.waiterCount).toBe(0);
  });

  it("resumes a resumable waiter asynchronously and can requeue it keeping its deadline", async () => {
    const w = makeWaiter(lm, 10, "k", { resumable: true, isFirstLock: true });
    lm.waitFor(w, lockOf("k", 5), DEFAULT);
    vi.advanceTimersByTime(600);
    lm.onLocksReleased([{ key: Buffer.from("k"), startTs: 5n, commitTs: 0n }]);
    expect(w.outcomes).toHaveLength(0);
    await Promise.resolve();
    expect(w.outcomes).toEqual([{ kind: "resume" }]);
    // Blocked again by another lock: back in the queue with the same timer.
    lm.requeue(w, lockOf("k", 7));
    expect(lm.queues.entriesOf(Buffer.from("k"))).toHaveLength(1);
    vi.advanceTimersByTime(399);
    expect(w.outcomes).toHaveLength(1);
    vi.advanceTimersByTime(1);
    const last = w.outcomes[1];
    expect(last?.kind).toBe("timeout");
    if (last?.kind === "timeout") {
      expect(last.lockInfo.lockVersion).toBe(7n);
      // The wait info was refreshed 400ms before the timeout (tikv test_duration_to_last_update).
      expect(last.lockInfo.durationToLastUpdateMs).toBe(400n);
    }
  });

  it("a timeout while resuming is delivered when the request tries to wait again", async () => {
    const w = makeWaiter(lm, 10, "k", { resumable: true, isFirstLock: true });
    lm.waitFor(w, lockOf("k", 5), waitTimeoutFromWire(10n));
    lm.onLocksReleased([{ key: Buffer.from("k"), startTs: 5n, commitTs: 0n }]);
    vi.advanceTimersByTime(10); // fires before the resume microtask runs
    await Promise.resolve();
    expect(w.outcomes).toEqual([{ kind: "resume" }]);
    lm.requeue(w, lockOf("k", 8));
    expect(w.outcomes[1]).toMatchObject({ kind: "timeout", lockInfo: { lockVersion: 8n } });
    expect(lm.waiterCount).toBe(0);
    expect(lm.queues.isEmpty).toBe(true);
  });

  it("re-detects deadlocks when a resumable waiter's blocking lock changes", () => {
    const w1 = makeWaiter(lm, 10, "k1");
    lm.waitFor(w1, lockOf("k1", 20), DEFAULT);
    const w2 = makeWaiter(lm, 20, "k2", { resumable: true });
    lm.waitFor(w2, lockOf("k2", 30), DEFAULT);
    expect(w2.outcomes).toHaveLength(0);
    // k2 is now locked by txn 10 (e.g. after 30 released it and 10 took it).
    lm.onLocksAcquired([lockOf("k2", 10)]);
    expect(w2.outcomes.map((o) => o.kind)).toEqual(["deadlock"]);
  });

  it("close ends every wait and clears timers", () => {
    const w = makeWaiter(lm, 10, "k", { isFirstLock: true });
    lm.waitFor(w, lockOf("k", 5), DEFAULT);
    lm.close();
    expect(w.outcomes.map((o) => o.kind)).toEqual(["timeout"]);
    expect(vi.getTimerCount()).toBe(0);
    const late = makeWaiter(lm, 11, "k", { isFirstLock: true });
    lm.waitFor(late, lockOf("k", 5), DEFAULT);
    expect(late.outcomes.map((o) => o.kind)).toEqual(["timeout"]);
  });

  it("decodes wait_timeout as TiKV does", () => {
    expect(waitTimeoutFromWire(-1n)).toEqual({ kind: "noWait" });
    expect(waitTimeoutFromWire(0n)).toEqual({ kind: "default" });
    expect(waitTimeoutFromWire(250n)).toEqual({ kind: "millis", ms: 250 });
  });
});
