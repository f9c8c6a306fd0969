// Property of the latch scheduler: whatever order transactions ask for latches and finish in
// (committing or failing), no two holders of a shared key are ever in at once, a grant or a stale
// verdict agrees with the commits recorded so far, and nobody starves: once the holders finish,
// every waiter has been let in (or failed as stale), in the order they asked for a key.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LatchLock } from "../../../src/actors/txn/latches/latch-table.js";
import { LatchScheduler } from "../../../src/actors/txn/latches/scheduler.js";

const KEYS = ["a", "b", "c", "d", "e"];
const turn = () => new Promise<void>((r) => setImmediate(r));

interface Txn {
  keys: string[];
  state: "new" | "asking" | "holding" | "done";
  waited?: boolean;
  asked?: number;
  lock?: LatchLock;
  startTs?: bigint;
}

type Step = { kind: "start" } | { kind: "finish"; pick: number; commit: boolean; back: number };

// one step: start the next transaction, or finish the n-th holder (committed or failed)
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant({ kind: "start" as const }),
  // `back`: how long before now the holder got its commit ts (waiters started after it are not stale)
  fc.record({ kind: fc.constant("finish" as const), pick: fc.nat(), commit: fc.boolean(), back: fc.nat() }),
);

const txnKeys = fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4 });

const stats = { grantsAfterWaiting: 0, stale: 0 };

async function run(capacity: number, keySets: string[][], steps: Step[]): Promise<void> {
  const sched = new LatchScheduler(capacity, { recycleIntervalMs: 0 });
  const txns: Txn[] = keySets.map((keys) => ({ keys, state: "new" }));
  const holderOf = new Map<string, Txn>();
  const maxCommit = new Map<string, bigint>(); // the model: newest commit per key
  // start ts are even; a commit ts is odd, between the holder's start ts and now
  let clock = 2n;
  let started = 0;
  let asked = 0;
  // a check failing inside a promise callback is kept and thrown at the next turn
  let failure: unknown;
  const settle = async () => {
    await turn();
    if (failure !== undefined) throw failure;
  };
  const ask = (t: Txn) => {
    t.state = "asking";
    t.asked = asked++;
    t.startTs = clock;
    clock += 2n;
    const before = sched.waiting;
    void sched
      .lock(
        t.startTs,
        t.keys.map((k) => Buffer.from(k)),
      )
      .then((l) => onLock(t, l))
      .catch((e: unknown) => {
        failure ??= e;
      });
    t.waited = sched.waiting > before;
  };

  const onLock = (t: Txn, lock: LatchLock) => {
    t.lock = lock;
    const start = t.startTs as bigint;
    const newer = t.keys.some((k) => (maxCommit.get(k) ?? 0n) > start);
    if (lock.isStale) {
      // stale only when one of its keys was committed after it started
      expect(newer, `txn@${start} stale without a newer commit`).toBe(true);
      t.state = "done";
      stats.stale++;
      sched.unlock(lock);
      return;
    }
    expect(newer, `txn@${start} let in past a newer commit`).toBe(false);
    for (const k of t.keys) {
      const other = holderOf.get(k);
      expect(other, `key ${k} held by txn@${other?.startTs} and txn@${start} at once`).toBeUndefined();
      holderOf.set(k, t);
    }
    // FIFO: one that asked earlier for the same first key is not still waiting
    const first = [...t.keys].sort()[0];
    const overtaken = txns.find(
      (e) =>
        e.state === "asking" && (e.asked as number) < (t.asked as number) && [...e.keys].sort()[0] === first,
    );
    expect(overtaken, `txn@${start} overtook txn@${overtaken?.startTs} on key ${first}`).toBeUndefined();
    t.state = "holding";
    if (t.waited) stats.grantsAfterWaiting++;
  };

  const finish = (t: Txn, commit: boolean, back = 0) => {
    const start = t.startTs as bigint;
    const span = (clock - start) / 2n; // odd values in (start, clock)
    const commitTs = commit ? start + 1n + 2n * (BigInt(back) % span) : 0n;
    for (const k of t.keys) {
      holderOf.delete(k);
      if (commitTs > (maxCommit.get(k) ?? 0n)) maxCommit.set(k, commitTs);
    }
    t.state = "done";
    sched.unlock(t.lock as LatchLock, commitTs);
  };

  for (const s of steps) {
    if (s.kind === "start") {
      const t = txns[started];
      if (!t) continue;
      started++;
      ask(t);
    } else {
      const holding = txns.filter((t) => t.state === "holding");
      const t = holding[s.pick % Math.max(1, holding.length)];
      if (t) finish(t, s.commit, s.back);
    }
    await settle();
  }
  // drain: start whoever is left, then let the holders finish one by one
  for (const t of txns.slice(started)) ask(t);
  await settle();
  for (;;) {
    const t = txns.find((x) => x.state === "holding");
    if (!t) break;
    finish(t, true);
    await settle();
  }
  const stuck = txns.filter((t) => t.state !== "done");
  expect(
    stuck.map((t) => `txn@${t.startTs} ${t.keys.join("")}`),
    "waiters never let in",
  ).toEqual([]);
  expect(sched.waiting).toBe(0);
  sched.close();
}

describe("latch scheduler: property", () => {
  it("never lets two holders of a key in at once, never misjudges staleness, never starves", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 4, 256),
        fc.array(txnKeys, { minLength: 2, maxLength: 8 }),
        fc.array(step, { minLength: 1, maxLength: 40 }),
        (capacity, keySets, steps) => run(capacity, keySets, steps),
      ),
      { numRuns: 300 },
    );
    // the runs did exercise the hand-off paths, not only free keys
    expect(stats.grantsAfterWaiting).toBeGreaterThan(200);
    expect(stats.stale).toBeGreaterThan(50);
  });
});
