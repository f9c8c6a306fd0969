// Ported by meaning from client-go integration_tests/2pc_test.go and lock_test.go: resolving
// pessimistic locks left behind — a primary that is gone, a rollback at a smaller for_update_ts,
// a reader meeting a prewritten secondary of a pessimistic primary, region-wide resolution of a
// transaction with both kinds of locks, stale locks pointing to a primary that moved, and GC's
// batch resolve of stale pessimistic locks. Where client-go drives its committer phase by phase,
// the prewrite is held at the store or played on the engine. An old start ts stands in for
// client-go's short ManagedLockTTL. Mapping: test/ported/txn-2pc.md, txn-lock.md.

import { describe, expect } from "vitest";
import { lockDetailsFromLockInfo } from "../../../src/errors/txn.js";
import { WriteConflictError } from "../../../src/index.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  type CheckTxnStatusRequest,
  LockInfo,
  MvccGetByKeyRequest,
  Op,
  PessimisticRollbackRequest,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, eventually, locksOn, recordRequests, settleWithin, str } from "./ported-2pc-support.js";
import { control, engineOps, sleep } from "./ported-lock-helpers.js";
import { lockOn, locksOf, tsAt } from "./ported-pessimistic-support.js";

/** A start ts old enough that locks taken now are already past their TTL. */
const OLD = () => tsAt(-25_000);

describe.skipIf(skipOnRealCluster("v1"))("client-go: resolving pessimistic locks", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const ops = engineOps(env);
  const details = (key: string, patch: Partial<LockInfo> = {}) =>
    lockDetailsFromLockInfo(LockInfo.fromPartial({ ...lockOn(env, key), ...patch }));

  // 2pc_test TestPkNotFound
  itFault(
    "secondaries whose pessimistic primary is gone are taken without a loop, and without rollback records",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("pknf");
      const [k1, k2, k3] = [`a${p}k1`, `h${p}k2`, `q${p}k3`];
      const txn1 = await t.begin({ pessimistic: true, startTs: OLD() });
      await txn1.lockKeys([k1]);
      await txn1.lockKeys([k2, k3]);
      const k3Lock = details(k3);

      // txn2 meets k2: its primary k1 expired, is rolled back (it was only a pessimistic lock:
      // no rollback record), and k2 is taken
      const checks = recordRequests<CheckTxnStatusRequest>(env, "KvCheckTxnStatus");
      const txn2 = await t.begin({ pessimistic: true });
      const got = await settleWithin(txn2.lockKeys([k2], { waitTimeoutMs: 3_000 }), 2_000);
      checks.stop();
      expect(got.kind).toBe("resolved");
      expect(lockOn(env, k2).lockVersion).toBe(txn2.startTs);
      expect(locksOn(env, [k1])).toEqual([]);
      const mine = checks.seen.filter((s) => s.req.lockTs === txn1.startTs);
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.every((s) => s.req.primaryKey.toString() === k1 && s.req.resolvingPessimisticLock)).toBe(
        true,
      );
      const k1Info = env.cluster.txnEngine.mvccGetByKey(MvccGetByKeyRequest.fromPartial({ key: b(k1) })).info;
      expect(k1Info?.writes ?? []).toEqual([]);

      // a pessimistic rollback at a for_update_ts below the lock's does not remove it
      const r = await t.lockResolver.resolveLocks([{ ...k3Lock, lockForUpdateTs: txn1.startTs - 1n }], {
        callerStartTs: 0n,
        ctl: control(),
      });
      expect(r.msBeforeTxnExpired).toBe(0);
      expect(lockOn(env, k3).lockVersion).toBe(txn1.startTs);
      await txn1.lockKeys([k3]); // still held: nothing to do

      // txn3 takes k3 at once: its owner's primary is gone
      const txn3 = await t.begin({ pessimistic: true });
      await txn3.lockKeys([k3], { noWait: true });
      expect(lockOn(env, k3).lockVersion).toBe(txn3.startTs);
      for (const x of [txn2, txn3, txn1]) await x.rollback();
    },
  );

  // 2pc_test TestPushPessimisticLock
  itFault(
    "a reader meeting a prewritten secondary of a pessimistic primary pushes it and does not wait",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("push");
      const [k1, k2] = [`a${p}`, `h${p}`];
      const txn1 = await t.begin({ pessimistic: true });
      await txn1.lockKeys([k1, k2]);
      txn1.set(k2, "v2");
      // hold the primary's prewrite: k1 stays a pessimistic lock while k2 is prewritten
      const hold = env.cluster.faults.delay({ rpc: "KvPrewrite", key: b(k1), ms: 1_500, count: 1 });
      const committing = txn1.commit();
      const ok = await new Promise<boolean>((resolve) => {
        const until = Date.now() + 1_000;
        const tick = () => {
          const l = locksOn(env, [k2]).find((x) => x.lockVersion === txn1.startTs);
          if (l?.lockType === Op.Put) resolve(true);
          else if (Date.now() > until) resolve(false);
          else setTimeout(tick, 10);
        };
        tick();
      });
      expect(ok).toBe(true);
      expect(lockOn(env, k1).lockType).toBe(Op.PessimisticLock);
      expect(lockOn(env, k1).primaryLock.toString()).toBe(k1);
      expect(lockOn(env, k2).primaryLock.toString()).toBe(k1);
      const txn2 = await t.begin();
      const started = Date.now();
      expect(await txn2.get(k2)).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(500);
      // txn1 still commits, after the reader
      const commitTs = await committing;
      expect(hold.fired).toBe(1);
      expect(commitTs).toBeGreaterThan(txn2.startTs);
      await t.whenIdle();
      expect((await (await t.snapshot()).get(k2))?.toString()).toBe("v2");
    },
  );

  // 2pc_test TestResolveMixed
  itFault(
    "a region-wide resolve of a large rolled-back txn clears its pessimistic locks with its prewrites",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("mixed");
      const pk = `a${p}pk`;
      const optimistic = Array.from({ length: 16 }, (_, i) => `h${p}optimisticLockKey${i}`);
      const pessimisticKey = `h${p}pessimisticLockKey`;
      const txn1 = await t.begin({ pessimistic: true });
      await txn1.lockKeys([pk]);
      // the secondaries' prewrite (a large transaction: resolved region by region)
      ops.prewrite({
        startTs: txn1.startTs,
        primary: pk,
        writes: optimistic.map((k, i) => [k, `v${i}`] as const),
        ttlMs: 100n,
        txnSize: 600n,
      });
      await txn1.lockKeys([pessimisticKey]);
      expect(lockOn(env, pessimisticKey).lockType).toBe(Op.PessimisticLock);
      expect(lockOn(env, pessimisticKey).primaryLock.toString()).toBe(pk);
      expect(lockOn(env, optimistic[0] as string).lockType).toBe(Op.Put);
      // the primary's pessimistic lock goes away (the client crashed)
      const rb = env.cluster.txnEngine.pessimisticRollback(
        PessimisticRollbackRequest.fromPartial({
          startVersion: txn1.startTs,
          forUpdateTs: MAX_TS,
          keys: [b(pk)],
        }),
      );
      expect(rb.errors).toEqual([]);
      await sleep(150);
      const r = await t.lockResolver.resolveLocks([details(optimistic[0] as string)], {
        callerStartTs: 0n,
        ctl: control(),
      });
      expect(r.msBeforeTxnExpired).toBe(0);
      expect(locksOn(env, [...optimistic, pessimisticKey])).toEqual([]);
      const txn2 = await t.begin({ pessimistic: true });
      await txn2.lockKeys([pessimisticKey], { noWait: true });
      await txn2.rollback();
      await txn1.rollback();
      expect(str(await (await t.snapshot()).batchGet(optimistic.slice(0, 2)))).toEqual([
        undefined,
        undefined,
      ]);
    },
  );

  // lock_test (WithTiKV) TestCheckTxnStatusSentToSecondary: the failed call's own rollback is
  // lost (client-go skips it with a failpoint), so stale locks stay behind its given-up primary
  itFault(
    "a stale pessimistic lock pointing to a key that became a secondary is rolled back; data stays whole",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("sec");
      const [k1, k2, k3] = [`a${p}k1`, `h${p}k2`, `q${p}k3`];
      const txn = await t.begin({ pessimistic: true });
      await t.runTransaction(async (w) => w.set(k3, "v3"));
      // a write conflict on k3 fails the call; its rollback of k1 (primary) and k2 is lost
      const lost = env.cluster.faults.failNext({
        rpc: "KVPessimisticRollback",
        count: Number.POSITIVE_INFINITY,
        error: { keyError: { abort: "lost" } },
      });
      await expect(
        txn.lockKeys([k1, k2, k3], { forUpdateTs: txn.startTs, waitTimeoutMs: 200 }),
      ).rejects.toBeInstanceOf(WriteConflictError);
      await t.whenIdle();
      lost.cancel();
      expect(locksOf(env, txn.startTs, [k1, k2]).size).toBe(2);
      const forUpdateTs = await t.currentTimestamp();
      await txn.lockKeys([k3], { forUpdateTs, waitTimeoutMs: 200 }); // k3 becomes the primary
      await txn.lockKeys([k1], { forUpdateTs, waitTimeoutMs: 200 });
      expect(lockOn(env, k3).primaryLock.toString()).toBe(k3);
      txn.set(k1, "v1-1");
      txn.set(k3, "v3-1");
      // the secondary k1 is never committed by the committer
      const skip = env.cluster.faults.failNext({
        rpc: "KvCommit",
        key: b(k1),
        error: { keyError: { abort: "skip" } },
      });
      await txn.commit();
      await t.whenIdle();
      expect(skip.fired).toBe(1);
      // resolving k2 asks its primary k1, now a secondary of k3: k2 is rolled back
      const txn2 = await t.begin({ pessimistic: true });
      await txn2.lockKeys([k2], { waitTimeoutMs: 200 });
      await txn2.rollback();
      expect(str(await (await t.snapshot()).batchGet([k3, k2, k1]))).toEqual(["v3-1", undefined, "v1-1"]);
    },
  );

  // lock_test (WithTiKV) TestPessimisticRollbackWithRead (ResolveLocksOptions.pessimisticRegionResolve)
  itFault(
    "a region-wide pessimistic resolve rolls back every pessimistic lock of the txn in one request",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("prr");
      const [k1, k2, k3] = [`h${p}k1`, `h${p}k2`, `h${p}k3`];
      const txn1 = await t.begin({ pessimistic: true, startTs: OLD() });
      await txn1.lockKeys([k1, k2, k3]);
      const regionWide = (lock: ReturnType<typeof details>) =>
        t.lockResolver.resolveLocks([lock], {
          callerStartTs: txn1.startTs + 1n,
          ctl: control(),
          pessimisticRegionResolve: true,
        });
      await regionWide(details(k3));
      expect(locksOf(env, txn1.startTs, [k1, k2, k3]).size).toBe(0);

      // more locks than one resolve batch (256): half pessimistic, half prewritten
      const keys = Array.from({ length: 600 }, (_, i) => `h${p}k${String(i).padStart(4, "0")}`);
      const pessimistic = keys.filter((_, i) => i % 2 === 0);
      const prewritten = keys.filter((_, i) => i % 2 === 1);
      await txn1.lockKeys(pessimistic);
      ops.prewrite({
        startTs: txn1.startTs,
        primary: pessimistic[0] as string,
        writes: prewritten.map((k) => [k, "val"] as const),
        ttlMs: 1n,
      });
      const rollbacks = recordRequests<PessimisticRollbackRequest>(env, "KVPessimisticRollback");
      await regionWide(details(pessimistic[1] as string));
      rollbacks.stop();
      expect(locksOf(env, txn1.startTs, pessimistic).size).toBe(0);
      expect(locksOf(env, txn1.startTs, prewritten).size).toBe(prewritten.length);
      expect(rollbacks.seen.filter((s) => s.req.keys.length === 0)).toHaveLength(1);
      await txn1.rollback();
    },
  );

  // lock_test (WithTiKV) TestBatchResolveLocks (the stale pessimistic locks; its setup through a
  // failed lockKeys is the skipped test above)
  itFault(
    "GC's batch resolve clears stale pessimistic locks and a stale prewrite, committing what was committed",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("gcr");
      const [k1, k2, k3, k4] = [`a${p}k1`, `a${p}k2`, `h${p}k3`, `q${p}k4`];
      // k1: a stale pessimistic primary (its owner went away)
      const txnA = await t.begin({ pessimistic: true });
      await txnA.lockKeys([k1]);
      // k3: a stale prewrite of a committed transaction (its secondary commit was lost)
      const txn1 = await t.begin({ pessimistic: true });
      await txn1.lockKeys([k2, k3]);
      txn1.set(k2, "v2");
      txn1.set(k3, "v3");
      const skip = env.cluster.faults.failNext({
        rpc: "KvCommit",
        key: b(k3),
        error: { keyError: { abort: "skip" } },
      });
      await txn1.commit();
      // (not whenIdle: it also waits for the open transactions' committers, txnA's included)
      expect(await eventually(() => skip.fired === 1, 2_000)).toBe(true);
      // k4: another stale pessimistic primary
      const txnC = await t.begin({ pessimistic: true });
      await txnC.lockKeys([k4]);

      const all = [k1, k2, k3, k4];
      const left = locksOn(env, all).sort((x, y) => Buffer.compare(x.key, y.key));
      expect(left.map((l) => [l.key.toString(), l.lockType])).toEqual([
        [k1, Op.PessimisticLock],
        [k3, Op.Put],
        [k4, Op.PessimisticLock],
      ]);
      expect(left[2]?.primaryLock.toString()).toBe(k4);
      // the GC resolve phase: every lock, region by region, whatever its TTL
      const byRegion = new Map<bigint, LockInfo[]>();
      for (const l of left) {
        const region = env.cluster.topology.locateKey(l.key);
        if (!region) throw new Error("no region");
        byRegion.set(region.id, [...(byRegion.get(region.id) ?? []), l]);
      }
      for (const locks of byRegion.values()) {
        await t.lockResolver.batchResolveLocks(
          locks.map((l) => lockDetailsFromLockInfo(l)),
          (locks[0] as LockInfo).key,
          control(),
        );
      }
      expect(locksOn(env, all)).toEqual([]);
      expect(str(await (await t.snapshot()).batchGet([k1, k2, k3, k4]))).toEqual([
        undefined,
        "v2",
        "v3",
        undefined,
      ]);
      await txnA.rollback();
      await txnC.rollback();
    },
  );
});
