// The local latch table (src/actors/txn/latches/latch-table.ts): client-go internal/latch
// latch_test.go ported by meaning (TestWakeUp, TestFirstAcquireFailedWithStale, TestRecycle), plus
// the slot hash (murmur3, as client-go) and the table's own edges.

import { describe, expect, it } from "vitest";
import { LatchTable } from "../../../src/actors/txn/latches/latch-table.js";
import { murmur3 } from "../../../src/actors/txn/latches/murmur3.js";
import { composeTs } from "../../../src/kv/timestamp.js";

const b = (...ks: string[]) => ks.map((k) => Buffer.from(k));

// a monotonic fake TSO, as latch_test.go's getTso
function tso(start = 1n) {
  let ts = start;
  return () => ts++;
}

describe("latch table (client-go latch_test.go)", () => {
  it("TestWakeUp: a release wakes the waiter, which is stale when the commit is newer; a restart gets in", () => {
    const next = tso();
    const t = new LatchTable(256);
    const lockA = t.newLock(next(), b("a", "b", "c"));
    const startB = next();
    const lockB = t.newLock(startB, b("d", "e", "a", "c"));
    expect(lockB.keys.map(String)).toEqual(["a", "c", "d", "e"]); // sorted
    expect(t.acquire(lockA)).toBe("acquired");
    expect(lockA.isAcquired).toBe(true);
    expect(t.acquire(lockB)).toBe("waiting");
    expect(lockB.isAcquired).toBe(false);

    const woken = t.release(lockA, next());
    expect(woken.map((l) => l.startTs)).toEqual([startB]);
    // A committed after B started: B cannot commit without a write conflict
    expect(t.acquire(lockB)).toBe("stale");
    expect(lockB.isStale).toBe(true);
    expect(t.release(lockB, 0n)).toEqual([]);

    // B restarts with a new start ts and gets in
    const lockB2 = t.newLock(next(), b("d", "e", "a", "c"));
    expect(t.acquire(lockB2)).toBe("acquired");
  });

  it("TestFirstAcquireFailedWithStale: a commit recorded after a start ts fails the first acquire", () => {
    const next = tso();
    const t = new LatchTable(256);
    const lockA = t.newLock(next(), b("a", "b", "c"));
    const startB = next();
    const lockB = t.newLock(startB, b("a", "b", "c"));
    expect(t.acquire(lockA)).toBe("acquired");
    const commitA = next();
    expect(t.release(lockA, commitA)).toEqual([]);
    expect(commitA).toBeGreaterThan(startB);
    expect(t.acquire(lockB)).toBe("stale");
    t.release(lockB, 0n);
    // a commit ts of 0 (failed commit) records nothing: a lock at commitA is not stale
    const lockC = t.newLock(commitA, b("a"));
    expect(t.acquire(lockC)).toBe("acquired");
    t.release(lockC, 0n);
    expect(t.acquire(t.newLock(commitA, b("a", "b")))).toBe("acquired");
  });

  it("TestRecycle: entries of free keys committed 2 minutes before now are dropped", () => {
    const t = new LatchTable(8);
    const now = Date.now();
    const startTs = composeTs(now, 0);
    const lock = t.newLock(startTs, b("a", "b"));
    const lock1 = t.newLock(startTs, b("b", "c"));
    expect(t.acquire(lock)).toBe("acquired");
    expect(t.acquire(lock1)).toBe("waiting");
    // lock1 started at the same ts: lock's commit at startTs + 1 makes it stale when woken
    expect(t.release(lock, startTs + 1n)).toEqual([lock1]);
    expect(lock1.isStale).toBe(true);
    t.release(lock1, 0n);

    const lock2 = t.newLock(startTs + 3n, b("b", "c"));
    expect(t.acquire(lock2)).toBe("acquired");
    t.release(lock2, startTs + 4n);
    expect(t.entryCount).toBe(3);

    // just under 2 minutes: kept; a held key is kept whatever its age
    expect(t.recycle(composeTs(now + 120_000 - 1, 0), 120_000)).toBe(0);
    const held = t.newLock(startTs + 5n, b("c"));
    expect(t.acquire(held)).toBe("acquired");
    expect(t.recycle(composeTs(now + 120_000, 3), 120_000)).toBe(2);
    expect(t.entryCount).toBe(1);
    t.release(held, 0n);
    expect(t.recycle(composeTs(now + 120_000, 3), 120_000)).toBe(1);
    expect(t.entryCount).toBe(0);
  });
});

describe("latch table: slots, order and hand-off", () => {
  it("hashes keys with murmur3 x86_32 (client-go twmb/murmur3 Sum32), masked to a power-of-two size", () => {
    const enc = (s: string) => Buffer.from(s);
    // published MurmurHash3_x86_32 vectors (seed 0 unless given)
    expect(murmur3(enc(""))).toBe(0);
    expect(murmur3(enc(""), 1)).toBe(0x514e28b7);
    expect(murmur3(enc("test"))).toBe(0xba6bd213);
    expect(murmur3(enc("Hello, world!"))).toBe(0xc0363e43);
    expect(murmur3(enc("The quick brown fox jumps over the lazy dog"))).toBe(0x2e4ff723);
    // every tail length (1-3 bytes past a block)
    expect(["a", "ab", "abc", "abcd"].map((s) => murmur3(enc(s)).toString(16))).toEqual([
      "3c2569b2",
      "9bbfd75f",
      "b3dd93fa",
      "43ed676a",
    ]);
    expect(new LatchTable(7).size).toBe(8);
    expect(new LatchTable(1).size).toBe(1);
    expect(new LatchTable(256).size).toBe(256);
    expect(new LatchTable(257).size).toBe(512);
    const t = new LatchTable(256);
    expect(t.slotOf(enc("test"))).toBe(0xba6bd213 & 255);
    // a well-spread hash: 4096 keys over 256 slots leave no slot empty or crowded
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 4096; i++) counts[t.slotOf(enc(`key-${i}`))]++;
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts)).toBeLessThan(48);
  });

  it("rejects a capacity that is not an integer in [1, 2^31]", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31 + 1])
      expect(() => new LatchTable(bad)).toThrow(RangeError);
    expect(new LatchTable(2 ** 31).size).toBe(2 ** 31);
  });

  it("deduplicates keys, accepts plain Uint8Arrays, and an empty key set is acquired at once", () => {
    const t = new LatchTable(16);
    const l = t.newLock(5n, [Buffer.from("b"), new Uint8Array([0x61]), Buffer.from("b")]);
    expect(l.keys.map(String)).toEqual(["a", "b"]);
    expect(t.acquire(l)).toBe("acquired");
    expect(t.acquire(t.newLock(6n, []))).toBe("acquired");
  });

  it("waiters on one key get it in arrival order; waiters on other keys of the slot are not woken", () => {
    // capacity 1: every key shares the one slot and its queue
    const t = new LatchTable(1);
    const holder = t.newLock(10n, b("k"));
    const other = t.newLock(10n, b("j"));
    expect(t.acquire(holder)).toBe("acquired");
    expect(t.acquire(other)).toBe("acquired");
    const w1 = t.newLock(11n, b("k"));
    const w2 = t.newLock(12n, b("k"));
    const wj = t.newLock(13n, b("j"));
    for (const w of [w1, w2, wj]) expect(t.acquire(w)).toBe("waiting");
    expect(t.release(holder, 0n)).toEqual([w1]);
    expect(t.acquire(w1)).toBe("acquired");
    // a newcomer does not overtake w2
    expect(t.acquire(t.newLock(14n, b("k")))).toBe("waiting");
    expect(t.release(w1, 0n)).toEqual([w2]);
    expect(t.acquire(w2)).toBe("acquired");
    expect(wj.isAcquired).toBe(false);
  });

  it("a release skips stale waiters (failing them) and hands the key to the first waiter that is not", () => {
    const t = new LatchTable(4);
    const holder = t.newLock(10n, b("k"));
    expect(t.acquire(holder)).toBe("acquired");
    const old = t.newLock(11n, b("k"));
    const young = t.newLock(30n, b("k"));
    expect(t.acquire(old)).toBe("waiting");
    expect(t.acquire(young)).toBe("waiting");
    expect(t.release(holder, 20n)).toEqual([old, young]);
    expect(old.isStale).toBe(true);
    expect(t.acquire(young)).toBe("acquired");
    // the stale one holds nothing: releasing it does not free the key
    expect(t.release(old, 0n)).toEqual([]);
    expect(t.acquire(t.newLock(31n, b("k")))).toBe("waiting");
  });

  it("a lock waiting part-way keeps the keys it took, and releasing it gives them back", () => {
    const t = new LatchTable(64);
    const blocker = t.newLock(10n, b("m"));
    expect(t.acquire(blocker)).toBe("acquired");
    const l = t.newLock(11n, b("a", "m", "z"));
    expect(t.acquire(l)).toBe("waiting"); // holds "a", waits for "m"
    const onA = t.newLock(12n, b("a"));
    expect(t.acquire(onA)).toBe("waiting");
    // giving up while waiting (e.g. on close) leaves the queue and frees "a"
    expect(t.release(l, 0n)).toEqual([onA]);
    expect(t.acquire(onA)).toBe("acquired");
    expect(t.release(blocker, 0n)).toEqual([]);
    expect(() => t.release(blocker, 0n)).not.toThrow(); // holds nothing any more
  });
});
