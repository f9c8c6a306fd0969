// client.gc(): the txn safe point moves, every lock at or below it is resolved in every region
// (committed, rolled back, orphaned, async-commit and pessimistic locks), the GC safe point
// follows, and reads below the txn safe point fail with TxnAbortedByGcError. Ports client-go
// gc_test / lock_test TestBatchResolveLocks (GC path) by meaning. Runs on a real cluster too
// (TIKV_PD_ENDPOINTS): keys carry a unique prefix, and safe points only move forward.

import { describe, expect, it } from "vitest";
import { makeControl } from "../../../src/actors/runtime/control.js";
import { resolveLocksInRange } from "../../../src/actors/txn/gc/resolve-locks.js";
import type { GcProgress } from "../../../src/actors/txn/gc/run-gc.js";
import { InvalidArgumentError } from "../../../src/errors/base.js";
import { GcStateError } from "../../../src/errors/gc.js";
import { AbortedError } from "../../../src/errors/server.js";
import { TxnAbortedByGcError } from "../../../src/errors/txn.js";
import {
  isRealCluster,
  itFault,
  skipOnRealCluster,
  uniquePrefix,
  useCluster,
} from "../../support/cluster.js";
import {
  b,
  commitPrimary,
  pessimisticLockAbandoned,
  prewriteAbandoned,
  rollbackPrimary,
  runtimeOf,
  scanAllLocks,
} from "./gc-support.js";

describe.skipIf(skipOnRealCluster("v1"))("gc: safe points and lock resolution", () => {
  // keys start with a letter after the prefix so they spread over the regions
  const env = useCluster({ stores: 3, splitKeys: ["c", "k", "s"], regionKeyEncoding: "memcomparable" });

  it("resolves committed, rolled-back, orphaned, async-commit and pessimistic locks; reads below fail", async () => {
    const client = await env.connect();
    const t = client.txn();
    const rt = runtimeOf(client);
    const p = uniquePrefix("gc");
    const k = (s: string) => `${s}${p}`;

    // primary committed, secondary left locked: GC commits the secondary
    const committed = await t.currentTimestamp();
    await prewriteAbandoned(rt, committed, [k("a1"), k("m1")]);
    await commitPrimary(rt, committed, k("a1"), await t.currentTimestamp());
    // primary rolled back, secondary locked: GC rolls the secondary back
    const rolledBack = await t.currentTimestamp();
    await prewriteAbandoned(rt, rolledBack, [k("d2"), k("t2")]);
    await rollbackPrimary(rt, rolledBack, k("d2"));
    // a committer that vanished after prewrite (TTL of an hour: GC ignores TTL)
    const orphan = await t.currentTimestamp();
    await prewriteAbandoned(rt, orphan, [k("e3"), k("n3"), k("x3")]);
    // async commit with every lock present: committed at its min commit ts
    const asyncTs = await t.currentTimestamp();
    await prewriteAbandoned(rt, asyncTs, [k("f4"), k("u4")], { async: true });
    // a pessimistic lock whose owner vanished
    const pess = await t.currentTimestamp();
    await pessimisticLockAbandoned(rt, pess, k("g5"));

    const safePoint = await t.currentTimestamp();
    // a lock after the safe point stays
    const later = await t.currentTimestamp();
    await prewriteAbandoned(rt, later, [k("h6")]);

    const before = await scanAllLocks(rt, safePoint);
    expect(before.length).toBeGreaterThanOrEqual(8);

    const r = await client.gc(safePoint, { concurrency: 2 });
    expect(r.txnSafePoint).toBe(safePoint);
    expect(r.gcSafePoint).toBe(safePoint);
    expect(r.legacy).toBe(false);
    expect(r.keyspaceId).toBeUndefined();
    expect(r.locksResolved).toBeGreaterThanOrEqual(8);
    if (!isRealCluster) {
      expect(r.regionsResolved).toBe(4);
      expect(r.locksResolved).toBe(before.length);
    }

    // no lock at or below the safe point is left anywhere; the later one is
    expect(await scanAllLocks(rt, safePoint)).toEqual([]);
    const left = await scanAllLocks(rt);
    expect(left.some((l) => l.key.equals(b(k("h6"))) && l.lockVersion === later)).toBe(true);

    // outcomes: committed / rolled back as their primaries say
    const snap = await t.snapshot();
    const got = async (key: string) => (await snap.get(key))?.toString();
    expect(await got(k("a1"))).toBe(`v-${k("a1")}`);
    expect(await got(k("m1"))).toBe(`v-${k("m1")}`);
    expect(await got(k("d2"))).toBeUndefined();
    expect(await got(k("t2"))).toBeUndefined();
    for (const key of ["e3", "n3", "x3"]) expect(await got(k(key))).toBeUndefined();
    expect(await got(k("f4"))).toBe(`v-${k("f4")}`);
    expect(await got(k("u4"))).toBe(`v-${k("u4")}`);

    // PD has the new state; reads below the txn safe point fail typed
    const st = await client.getGCState();
    expect(st.txnSafePoint).toBe(safePoint);
    expect(st.gcSafePoint).toBe(safePoint);
    const old = await t.snapshot(safePoint - 1n);
    const e = await old.get(k("a1")).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TxnAbortedByGcError);
    expect((e as TxnAbortedByGcError).txnSafePoint).toBe(safePoint);
    // client-go safepoint_test: get, scan and batch get all refuse
    await expect(old.scan(k("a"), k("z"), 10)).rejects.toBeInstanceOf(TxnAbortedByGcError);
    await expect(old.batchGet([k("a1"), k("m1")])).rejects.toBeInstanceOf(TxnAbortedByGcError);
    // a transaction begun below it cannot read either
    const txnOld = await t.begin({ startTs: safePoint - 1n });
    await expect(txnOld.get(k("a1"))).rejects.toBeInstanceOf(TxnAbortedByGcError);
    // at the safe point reads work
    expect((await (await t.snapshot(safePoint)).get(k("a1")))?.toString()).toBe(`v-${k("a1")}`);

    // clean the later lock up so later tests' GC rounds do not meet it with a live TTL
    await rollbackPrimary(rt, later, k("h6"));
  });

  it("another client's reads below the safe point fail once it polls PD", async () => {
    const a = await env.connect();
    const c = await env.connect();
    const sp = await a.txn().currentTimestamp();
    await a.gc(sp);
    // a fresh client loads the safe point on its first read
    const e = await (await c.txn().snapshot(sp - 1n)).get("x").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TxnAbortedByGcError);
  });

  it("refuses a safe point ahead of the TSO, below the current one, or not a timestamp", async () => {
    const client = await env.connect();
    const now = await client.txn().currentTimestamp();
    await client.gc(now);
    const ahead = (await client.txn().currentTimestamp()) + (3_600_000n << 18n);
    const e1 = await client.gc(ahead).catch((x: unknown) => x);
    expect(e1).toBeInstanceOf(GcStateError);
    expect((e1 as GcStateError).reason).toBe("aheadOfTso");
    // what PD says, typed
    const e2 = await client.gc(now - 1n).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(GcStateError);
    expect((e2 as GcStateError).reason).toBe("decreasingTxnSafePoint");
    expect((e2 as GcStateError).pdMessage).toContain("ErrDecreasingTxnSafePoint");
    await expect(client.gc(0n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.gc(-5n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.gc(5 as unknown as bigint)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.gc(now, { concurrency: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.gc(now, { concurrency: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    // the same safe point again is fine (PD keeps it)
    const again = await client.gc(now);
    expect(again.txnSafePoint).toBe(now);
  });

  it("reports progress monotonically through every phase, ending complete", async () => {
    const client = await env.connect();
    const seen: GcProgress[] = [];
    const sp = await client.txn().currentTimestamp();
    const r = await client.gc(sp, { concurrency: 3, onProgress: (p) => seen.push(p) });
    const phases = [...new Set(seen.map((p) => p.phase))];
    expect(phases).toEqual(["advanceTxnSafePoint", "resolveLocks", "advanceGcSafePoint", "done"]);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.completedRegions).toBeGreaterThanOrEqual(seen[i - 1]!.completedRegions);
      expect(seen[i]!.locksResolved).toBeGreaterThanOrEqual(seen[i - 1]!.locksResolved);
    }
    const last = seen[seen.length - 1]!;
    expect(last.done).toBe(true);
    expect(last.located).toBe(true);
    expect(last.completedRegions).toBe(r.regionsResolved);
    expect(last.totalRegions).toBe(r.regionsResolved);
    expect(last.txnSafePoint).toBe(sp);
    // a throwing listener does not break the round
    const r2 = await client.gc(await client.txn().currentTimestamp(), {
      onProgress: () => {
        throw new Error("listener bug");
      },
    });
    expect(r2.regionsResolved).toBe(r.regionsResolved);
  });

  it("stops with AbortedError when the signal aborts, before or during the round", async () => {
    const client = await env.connect();
    const pre = new AbortController();
    pre.abort();
    await expect(
      client.gc(await client.txn().currentTimestamp(), { signal: pre.signal }),
    ).rejects.toBeInstanceOf(AbortedError);
    const ac = new AbortController();
    const phases: string[] = [];
    const e = await client
      .gc(await client.txn().currentTimestamp(), {
        concurrency: 1,
        signal: ac.signal,
        onProgress: (p) => {
          phases.push(p.phase);
          if (p.phase === "resolveLocks") ac.abort(new Error("stop"));
        },
      })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortedError);
    // it never got to the GC safe point
    expect(phases).not.toContain("advanceGcSafePoint");
  });
});

describe.skipIf(skipOnRealCluster("v1"))(
  "gc: lock resolution region by region (TestBatchResolveLocks, GC path)",
  () => {
    const env = useCluster({ stores: 1, splitKeys: ["m"], regionKeyEncoding: "memcomparable" });

    function countingSender(rt: ReturnType<typeof runtimeOf>) {
      const counts = { scanLock: 0 };
      const sender = new Proxy(rt.sender, {
        get(target, prop, recv) {
          if (prop === "sendOnce") {
            return (region: never, cmd: string, req: never, c: never, f?: never) => {
              if (cmd === "ScanLock") counts.scanLock++;
              return target.sendOnce(region, cmd as "ScanLock", req, c, f);
            };
          }
          const v = Reflect.get(target, prop, recv);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      return { sender, counts };
    }

    it("scans again while a region holds more locks than one scan returns", async () => {
      const client = await env.connect();
      const t = client.txn();
      const rt = runtimeOf(client);
      const p = uniquePrefix("lim");
      const keys = ["a1", "a2", "a3", "a4", "a5"].map((x) => `${p}${x}`);
      // five transactions, one lock each, all in region [, m) ("lim-..." < "m")
      for (const key of keys) await prewriteAbandoned(rt, await t.currentTimestamp(), [key]);
      const sp = await t.currentTimestamp();
      const { sender, counts } = countingSender(rt);
      const stat = await resolveLocksInRange(
        {
          sender,
          resolver: rt.resolver,
          control: () => makeControl({ maxBackoffMs: 20_000, timeoutMs: 0, metrics: rt.deps.metrics }),
        },
        sp,
        { start: b(p), end: b(`${p}~`) },
        new AbortController().signal,
        2,
      );
      expect(stat).toEqual({ completedRegions: 1, failedRegions: 0, locksResolved: 5 });
      // 2 + 2 + 1 locks: three scans, the last one short
      expect(counts.scanLock).toBe(3);
      expect(await scanAllLocks(rt, sp, p, `${p}~`)).toEqual([]);
    });

    itFault("a region split between scan and resolve is scanned again, no lock skipped", async () => {
      const client = await env.connect();
      const t = client.txn();
      const rt = runtimeOf(client);
      const p = uniquePrefix("split");
      const keys = ["c1", "c9"].map((x) => `${x}${p}`);
      const ts = await t.currentTimestamp();
      await prewriteAbandoned(rt, ts, keys);
      const sp = await t.currentTimestamp();
      let split = false;
      const stopHook = env.cluster.faults.onRequest((c) => {
        if (c.rpc === "KvResolveLock" && !split) {
          split = true;
          env.cluster.topology.splitAt([b(`c5${p}`)]);
        }
      });
      try {
        const r = await client.gc(sp, { concurrency: 1 });
        expect(split).toBe(true);
        expect(r.locksResolved).toBeGreaterThanOrEqual(2);
      } finally {
        stopHook();
      }
      expect(await scanAllLocks(rt, sp)).toEqual([]);
    });
  },
);
