// The resolver's async-commit path (client-go lock_resolver.go resolveAsyncCommitLock /
// checkAllSecondaries / asyncResolveData.addKeys), driven by async-commit transactions written
// directly on the embedded engine (the client does not write async-commit transactions yet):
// the commit ts is the largest min_commit_ts of the secondaries, a committed secondary fixes it,
// a secondary that never got its lock rolls the transaction back; reads resolve such locks; the
// resolution RPCs survive region errors. Mapping: test/ported/txn-lock.md.

import { describe, expect } from "vitest";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import {
  type CheckSecondaryLocksRequest,
  GetRequest,
  Op,
  PrewriteRequest,
  type ResolveLockRequest,
} from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, control, engineOps, recordRpcs, sleep } from "./ported-lock-helpers.js";

const reqOf = <T>(c: { request?: unknown }) => c.request as T;

describe.skipIf(skipOnRealCluster("v1"))("lock resolver: async-commit transactions", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const ops = engineOps(env);

  /** A prefix whose keys `a_*` and `z_*` lie in two regions. */
  function twoRegions(name: string): { p: string; k: (s: string) => string } {
    const p = uniquePrefix(name);
    const at = b(`${p}m`);
    const r = env.cluster.topology.locateKey(at);
    if (!r) throw new Error("no region");
    env.cluster.topology.splitRegion(r.id, [at]);
    return { p, k: (s: string) => `${p}${s}` };
  }

  /** Waits out a 1 ms TTL and refreshes the client's clock. */
  async function expire(t: { currentTimestamp(): Promise<bigint> }) {
    await sleep(5);
    await t.currentTimestamp();
  }

  itFault(
    "the commit ts is the largest min_commit_ts among the secondaries, checked region by region",
    async () => {
      const t = (await env.connect()).txn();
      const { p, k } = twoRegions("fold");
      const [pk, s1, s2] = [k("a_pk"), k("a_s1"), k("z_s2")];
      const startTs = await t.currentTimestamp();
      const minA = ops.prewrite({
        startTs,
        primary: pk,
        writes: [
          [pk, "vp"],
          [s1, "v1"],
        ],
        ttlMs: 1n,
        asyncSecondaries: [s1, s2],
      });
      // a read of s2 at readTs (before its prewrite) raises TiKV's max_ts: s2's min_commit_ts
      // must land past it
      const readTs = await t.currentTimestamp();
      env.cluster.txnEngine.get(GetRequest.fromPartial({ key: b(s2), version: readTs }));
      const minB = ops.prewrite({
        startTs,
        primary: pk,
        writes: [[s2, "v2"]],
        ttlMs: 1n,
        asyncSecondaries: [],
      });
      expect(minA).toBeGreaterThan(startTs);
      expect(minB).toBeGreaterThan(readTs);
      expect(minB).toBeGreaterThan(minA);
      await expire(t);
      const rec = recordRpcs(env, ["KvCheckSecondaryLocks", "KvResolveLock"]);
      try {
        const r = await t.lockResolver.resolveLocks([ops.lockOf(s1)], { callerStartTs: 0n, ctl: control() });
        expect(r.msBeforeTxnExpired).toBe(0);
      } finally {
        rec.stop();
      }
      // one CheckSecondaryLocks per region holding secondaries
      const checks = rec.of("KvCheckSecondaryLocks");
      expect(checks.map((c) => reqOf<CheckSecondaryLocksRequest>(c).keys.map(String)).sort()).toEqual([
        [s1],
        [s2],
      ]);
      expect(new Set(checks.map((c) => c.regionId)).size).toBe(2);
      // every lock (secondaries and primary) is committed at the largest min_commit_ts
      const resolves = rec.of("KvResolveLock").map((c) => reqOf<ResolveLockRequest>(c));
      expect(new Set(resolves.map((r) => r.commitVersion))).toEqual(new Set([minB]));
      expect(resolves.flatMap((r) => r.keys.map(String)).sort()).toEqual([pk, s1, s2].sort());
      expect(ops.scanLocks(p)).toEqual([]);
      expect((await t.lockResolver.getTxnStatus(startTs, 0n, b(pk))).commitTs).toBe(minB);
      // the earlier read at readTs stays consistent: the txn is not visible there
      expect(await (await t.snapshot(readTs)).get(s2)).toBeUndefined();
      const got = await (await t.snapshot()).batchGet([pk, s1, s2]);
      expect(got.map((v) => v?.toString())).toEqual(["vp", "v1", "v2"]);
    },
  );

  itFault("a secondary already committed fixes the commit ts of the rest", async () => {
    const t = (await env.connect()).txn();
    const { p, k } = twoRegions("ccommit");
    const [pk, s1, s2] = [k("a_pk"), k("a_s1"), k("z_s2")];
    const startTs = await t.currentTimestamp();
    const minA = ops.prewrite({
      startTs,
      primary: pk,
      writes: [
        [pk, "vp"],
        [s1, "v1"],
        [s2, "v2"],
      ],
      ttlMs: 1n,
      asyncSecondaries: [s1, s2],
    });
    // the committer committed s2, then vanished
    // (the min commit ts may already be the next TSO value: the resolved-ts worker raises the
    // store's max ts to the TSO; a commit at it is valid, TiKV needs commit_ts >= min_commit_ts)
    const commitTs = await t.currentTimestamp();
    expect(commitTs).toBeGreaterThanOrEqual(minA);
    ops.commit(startTs, [s2], commitTs);
    await expire(t);
    const rec = recordRpcs(env, ["KvResolveLock"]);
    try {
      await t.lockResolver.resolveLocks([ops.lockOf(s1)], { callerStartTs: 0n, ctl: control() });
    } finally {
      rec.stop();
    }
    const resolves = rec.calls.map((c) => reqOf<ResolveLockRequest>(c));
    expect(new Set(resolves.map((r) => r.commitVersion))).toEqual(new Set([commitTs]));
    expect(resolves.flatMap((r) => r.keys.map(String)).sort()).toEqual([pk, s1].sort());
    expect(ops.scanLocks(p)).toEqual([]);
    expect((await t.lockResolver.getTxnStatus(startTs, 0n, b(pk))).commitTs).toBe(commitTs);
    const got = await (await t.snapshot()).batchGet([pk, s1, s2]);
    expect(got.map((v) => v?.toString())).toEqual(["vp", "v1", "v2"]);
  });

  itFault("a secondary that never got its lock rolls the whole txn back, for good", async () => {
    const t = (await env.connect()).txn();
    const { p, k } = twoRegions("cmiss");
    const [pk, s1, s2] = [k("a_pk"), k("a_s1"), k("z_s2")];
    const startTs = await t.currentTimestamp();
    // the committer crashed before prewriting s2
    ops.prewrite({
      startTs,
      primary: pk,
      writes: [
        [pk, "vp"],
        [s1, "v1"],
      ],
      ttlMs: 1n,
      asyncSecondaries: [s1, s2],
    });
    await expire(t);
    const rec = recordRpcs(env, ["KvResolveLock"]);
    try {
      const r = await t.lockResolver.resolveLocks([ops.lockOf(pk)], { callerStartTs: 0n, ctl: control() });
      expect(r.msBeforeTxnExpired).toBe(0);
    } finally {
      rec.stop();
    }
    const resolves = rec.calls.map((c) => reqOf<ResolveLockRequest>(c));
    expect(new Set(resolves.map((r) => r.commitVersion))).toEqual(new Set([0n]));
    expect(ops.scanLocks(p)).toEqual([]);
    expect(await t.lockResolver.getTxnStatus(startTs, 0n, b(pk))).toMatchObject({ ttl: 0n, commitTs: 0n });
    expect(await (await t.snapshot()).batchGet([pk, s1, s2])).toEqual([undefined, undefined, undefined]);
    // the late prewrite of s2 is refused: CheckSecondaryLocks left a rollback record
    const late = env.cluster.txnEngine.prewrite(
      PrewriteRequest.fromPartial({
        mutations: [{ op: Op.Put, key: b(s2), value: b("v2") }],
        primaryLock: b(pk),
        startVersion: startTs,
        lockTtl: 3000n,
        txnSize: 3n,
        minCommitTs: startTs + 1n,
        useAsyncCommit: true,
      }),
    );
    expect(late.errors.length).toBe(1);
  });

  itFault("a snapshot read resolves an expired async-commit txn and reads its values", async () => {
    const t = (await env.connect()).txn();
    const { p, k } = twoRegions("acread");
    const [pk, s1, s2] = [k("a_pk"), k("a_s1"), k("z_s2")];
    const startTs = await t.currentTimestamp();
    const minA = ops.prewrite({
      startTs,
      primary: pk,
      writes: [
        [pk, "vp"],
        [s1, "v1"],
        [s2, "v2"],
      ],
      ttlMs: 1n,
      asyncSecondaries: [s1, s2],
    });
    await expire(t);
    const snap = await t.snapshot();
    // (at or past the commit ts it will be resolved to: min_commit_ts may be the next TSO value)
    expect(snap.ts).toBeGreaterThanOrEqual(minA);
    const got = await snap.batchGet([s1, s2]);
    expect(got.map((v) => v?.toString())).toEqual(["v1", "v2"]);
    await t.whenIdle();
    expect(ops.scanLocks(p)).toEqual([]);
    expect((await t.lockResolver.getTxnStatus(startTs, 0n, b(pk))).commitTs).toBe(minA);
  });

  itFault(
    "a live async-commit lock is waited for: CheckTxnStatus neither pushes nor rolls it back",
    async () => {
      const t = (await env.connect()).txn();
      const { k } = twoRegions("aclive");
      const [pk, s1] = [k("a_pk"), k("z_s1")];
      const startTs = await t.currentTimestamp();
      const minA = ops.prewrite({
        startTs,
        primary: pk,
        writes: [
          [pk, "vp"],
          [s1, "v1"],
        ],
        ttlMs: 60_000n,
        asyncSecondaries: [s1],
      });
      const caller = await t.currentTimestamp();
      const rec = recordRpcs(env, ["KvCheckSecondaryLocks", "KvResolveLock"]);
      try {
        const r = await t.lockResolver.resolveLocks([ops.lockOf(s1)], {
          callerStartTs: caller,
          forRead: true,
          ctl: control(),
        });
        expect(r.msBeforeTxnExpired).toBeGreaterThan(0);
        expect(r.ignoreLocks).toEqual([]);
        expect(r.accessLocks).toEqual([]);
      } finally {
        rec.stop();
      }
      expect(rec.calls).toEqual([]);
      expect(ops.lockOf(pk).minCommitTs).toBe(minA);
    },
  );

  itFault("async-commit resolution survives region errors on each of its RPCs", async () => {
    const client = await env.connect();
    const t = client.txn();
    const { p, k } = twoRegions("acerr");
    const [pk, s1, s2] = [k("a_pk"), k("a_s1"), k("z_s2")];
    const startTs = await t.currentTimestamp();
    const minA = ops.prewrite({
      startTs,
      primary: pk,
      writes: [
        [pk, "vp"],
        [s1, "v1"],
        [s2, "v2"],
      ],
      ttlMs: 1n,
      asyncSecondaries: [s1, s2],
    });
    await expire(t);
    // warm the region cache so the injected errors hit the resolution's own RPCs
    await (await t.snapshot(startTs)).batchGet([pk, s2]);
    // NotLeader (a retry on another peer) keeps this quick; ServerIsBusy would back off seconds
    const notLeader = (key: string) => {
      const r = env.cluster.topology.locateKey(b(key));
      if (!r) throw new Error("no region");
      return { regionError: RegionErrors.notLeader(r.id) };
    };
    const faults = [
      env.cluster.faults.failNext({ rpc: "KvCheckTxnStatus", key: pk, error: notLeader(pk) }),
      env.cluster.faults.failNext({ rpc: "KvCheckSecondaryLocks", key: s2, error: notLeader(s2) }),
      env.cluster.faults.failNext({ rpc: "KvResolveLock", key: s1, error: notLeader(s1) }),
    ];
    client.resetMetrics();
    try {
      const r = await t.lockResolver.resolveLocks([ops.lockOf(s1)], { callerStartTs: 0n, ctl: control() });
      expect(r.msBeforeTxnExpired).toBe(0);
    } finally {
      for (const f of faults) f.cancel();
    }
    expect(faults.map((f) => f.fired)).toEqual([1, 1, 1]);
    expect(Object.values(client.metrics().regionErrors).reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(3);
    expect(ops.scanLocks(p)).toEqual([]);
    expect((await t.lockResolver.getTxnStatus(startTs, 0n, b(pk))).commitTs).toBe(minA);
  });
});
