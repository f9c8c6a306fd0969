// GC barriers hold the txn safe point back; deleting them releases it (PD GC barrier API, as
// client-go's GC handles a blocked txn safe point). Also the legacy service safe point call and
// keyspace-level GC on an API v2 keyspace. Ports client-go safepoint_test by meaning.

import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../src/errors/base.js";
import { GcStateError } from "../../../src/errors/gc.js";
import { TxnAbortedByGcError } from "../../../src/errors/txn.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { prewriteAbandoned, runtimeOf, scanAllLocks } from "./gc-support.js";

describe.skipIf(skipOnRealCluster("v1"))("gc: barriers and service safe points", () => {
  const env = useCluster({ stores: 1, splitKeys: ["m"], regionKeyEncoding: "memcomparable" });

  it("a barrier holds the txn safe point at its ts; deleting it releases the next round", async () => {
    const client = await env.connect();
    const t = client.txn();
    const id = uniquePrefix("barrier");
    const barrierTs = await t.currentTimestamp();
    const set = await client.setGCBarrier(id, barrierTs, 600);
    expect(set).toMatchObject({ id, barrierTs });
    expect(set.ttlSeconds).toBeGreaterThan(590n);
    expect((await client.getGCState()).barriers.map((x) => x.id)).toContain(id);

    // a lock between the barrier and the requested safe point is not GC's business yet
    const rt = runtimeOf(client);
    const p = uniquePrefix("held");
    const between = await t.currentTimestamp();
    await prewriteAbandoned(rt, between, [`a${p}`]);

    const target = await t.currentTimestamp();
    const r = await client.gc(target);
    expect(r.txnSafePoint).toBe(barrierTs);
    expect(r.gcSafePoint).toBe(barrierTs);
    expect(r.blocker).toContain(id);
    expect((await scanAllLocks(rt, between)).some((l) => l.lockVersion === between)).toBe(true);
    // reads between the barrier and the target still work
    expect(await (await t.snapshot(barrierTs + 1n)).get(`a${p}x`)).toBeUndefined();

    // a barrier behind the txn safe point protects nothing: PD refuses it
    const e = await client.setGCBarrier(`${id}-late`, barrierTs - 1n, 600).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(GcStateError);
    expect((e as GcStateError).reason).toBe("barrierBehindTxnSafePoint");

    const deleted = await client.deleteGCBarrier(id);
    expect(deleted?.id).toBe(id);
    expect(await client.deleteGCBarrier(id)).toBeUndefined();
    const r2 = await client.gc(target);
    expect(r2.txnSafePoint).toBe(target);
    expect(r2.blocker).toBe("");
    expect(await scanAllLocks(rt, target)).toEqual([]);
    const e2 = await (await t.snapshot(barrierTs + 1n)).get(`a${p}`).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(TxnAbortedByGcError);
  });

  it('"forever" barriers never expire; bad barrier arguments are InvalidArgumentError', async () => {
    const client = await env.connect();
    const ts = await client.txn().currentTimestamp();
    const id = uniquePrefix("forever");
    const forever = await client.setGCBarrier(id, ts, "forever");
    expect(forever.ttlSeconds).toBe((1n << 63n) - 1n);
    await client.deleteGCBarrier(id);
    await expect(client.setGCBarrier("", ts, 10)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.setGCBarrier("x", ts, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.setGCBarrier("x", ts, -1n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.setGCBarrier("x", 1 as unknown as bigint, 10)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(client.deleteGCBarrier("")).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  itFault("a global barrier holds every keyspace's txn safe point; deleting it releases them", async () => {
    // global barriers are a newer PD API (UNIMPLEMENTED on older PDs): embedded cluster only
    const client = await env.connect();
    const t = client.txn();
    const id = uniquePrefix("global");
    const ts = await t.currentTimestamp();
    const set = await client.setGlobalGCBarrier(id, ts, 600);
    expect(set).toMatchObject({ id, barrierTs: ts });
    const st = await client.getGCState();
    expect(st.globalBarriers.map((x) => x.id)).toContain(id);
    expect(st.barriers.map((x) => x.id)).not.toContain(id);
    const target = await t.currentTimestamp();
    const r = await client.gc(target);
    expect(r.txnSafePoint).toBe(ts);
    expect(r.blocker).toContain("GlobalGCBarrier");
    // behind the txn safe point of some keyspace: refused, typed
    const e = await client.setGlobalGCBarrier(`${id}-late`, ts - 1n, 600).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(GcStateError);
    expect((e as GcStateError).reason).toBe("globalBarrierBehindTxnSafePoint");
    expect((await client.deleteGlobalGCBarrier(id))?.id).toBe(id);
    expect(await client.deleteGlobalGCBarrier(id)).toBeUndefined();
    expect((await client.getGCState()).globalBarriers).toEqual([]);
    expect((await client.gc(target)).txnSafePoint).toBe(target);
    await expect(client.setGlobalGCBarrier("", ts, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("the legacy service safe point call answers the minimum service safe point", async () => {
    const client = await env.connect();
    const state = await client.getGCState();
    const ts = (await client.txn().currentTimestamp()) + 0n;
    const id = uniquePrefix("svc");
    const r = await client.updateServiceGCSafePoint(id, 600, ts);
    // the minimum is at most ours (gc_worker's, or an older service's, may be lower)
    expect(r.minSafePoint).toBeLessThanOrEqual(ts);
    expect(r.minSafePoint).toBeGreaterThanOrEqual(state.txnSafePoint);
    // TTL 0 removes the service again
    await client.updateServiceGCSafePoint(id, 0, ts);
    await expect(client.updateServiceGCSafePoint("", 10, ts)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.updateServiceGCSafePoint("s", -1, ts)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe.skipIf(skipOnRealCluster("v2"))("gc: keyspace-level GC on API v2", () => {
  const env = useCluster({ stores: 1, apiVersion: "v2" });

  itFault(
    "a keyspace with keyspace-level GC moves its own safe points and resolves its own locks",
    async () => {
      const ks = env.cluster.pd.state.keyspaces;
      ks.add({ name: "gc_own", id: 21, config: { gc_management_type: "keyspace_level" } });
      ks.add({ name: "gc_unified", id: 22 });
      const own = await env.connect({ keyspace: "gc_own" });
      const unified = await env.connect({ keyspace: "gc_unified" });
      const ownRt = runtimeOf(own);
      const uniRt = runtimeOf(unified);

      const ownLock = await own.txn().currentTimestamp();
      await prewriteAbandoned(ownRt, ownLock, ["k1", "k2"]);
      const uniLock = await unified.txn().currentTimestamp();
      await prewriteAbandoned(uniRt, uniLock, ["k1"]);

      const sp = await own.txn().currentTimestamp();
      const r = await own.gc(sp);
      expect(r.keyspaceId).toBe(21);
      expect(r.locksResolved).toBe(2);
      expect(await scanAllLocks(ownRt, sp)).toEqual([]);
      // the other keyspace's lock is untouched, and its (null-keyspace) safe point did not move
      expect((await scanAllLocks(uniRt, sp)).map((l) => l.lockVersion)).toEqual([uniLock]);
      const ownState = await own.getGCState();
      expect(ownState).toMatchObject({
        keyspaceId: 21,
        keyspaceLevelGc: true,
        txnSafePoint: sp,
        gcSafePoint: sp,
      });
      const uniState = await unified.getGCState();
      expect(uniState.keyspaceLevelGc).toBe(false);
      expect(uniState.keyspaceId).toBeUndefined();
      expect(uniState.txnSafePoint).toBeLessThan(sp);
      const e = await (await own.txn().snapshot(sp - 1n)).get("k1").catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TxnAbortedByGcError);

      // a unified-GC keyspace moves the null keyspace's safe points
      const sp2 = await unified.txn().currentTimestamp();
      const r2 = await unified.gc(sp2);
      expect(r2.keyspaceId).toBeUndefined();
      expect(r2.txnSafePoint).toBe(sp2);
      expect(await scanAllLocks(uniRt, sp2)).toEqual([]);
      expect((await unified.getGCState()).txnSafePoint).toBe(sp2);
      // the keyspace-level one keeps its own
      expect((await own.getGCState()).txnSafePoint).toBe(sp);
    },
  );

  itFault("deleteRange and unsafeDestroyRange stay inside the client's keyspace", async () => {
    const ks = env.cluster.pd.state.keyspaces;
    ks.add({ name: "dr_a", id: 31 });
    ks.add({ name: "dr_b", id: 32 });
    const a = await env.connect({ keyspace: "dr_a" });
    const bb = await env.connect({ keyspace: "dr_b" });
    for (const c of [a, bb]) {
      const txn = await c.txn().begin();
      for (const k of ["k1", "k2", "z9"]) txn.set(k, `v-${k}`);
      await txn.commit();
    }
    const left = async (c: typeof a) => {
      const snap = await c.txn().snapshot();
      return (await snap.scan("", "\xff", 10)).map((p) => p.key.toString());
    };
    await a.unsafeDestroyRange("k1", "k2");
    expect(await left(a)).toEqual(["k2", "z9"]);
    // a keyspace has a real end: deleteRange may leave `end` open
    expect((await a.txn().deleteRange("", undefined)).completedRegions).toBeGreaterThanOrEqual(1);
    expect(await left(a)).toEqual([]);
    expect(await left(bb)).toEqual(["k1", "k2", "z9"]);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("gc: PD without the GC state API (legacy round)", () => {
  const env = useCluster({ stores: 1, regionKeyEncoding: "memcomparable" });

  itFault("falls back to the gc_worker service safe point and UpdateGCSafePoint", async () => {
    const client = await env.connect();
    const t = client.txn();
    const rt = runtimeOf(client);
    const lockTs = await t.currentTimestamp();
    await prewriteAbandoned(rt, lockTs, ["legacy-a"]);
    // another service holds the safe point below the target
    const held = await t.currentTimestamp();
    await client.updateServiceGCSafePoint("br", 600, held);
    const target = await t.currentTimestamp();
    const pdFaults = env.cluster.pd.faults;
    pdFaults.failNext("AdvanceTxnSafePoint", 1, { kind: "status", code: 12, details: "unknown method" });
    const before = {
      svc: pdFaults.calls("UpdateServiceGCSafePoint"),
      upd: pdFaults.calls("UpdateGCSafePoint"),
    };
    const r = await client.gc(target);
    expect(r.legacy).toBe(true);
    expect(r.txnSafePoint).toBe(held);
    expect(r.blocker).toContain("br");
    expect(r.gcSafePoint).toBe(held);
    expect(r.locksResolved).toBe(1);
    expect(pdFaults.calls("UpdateServiceGCSafePoint") - before.svc).toBe(1);
    expect(pdFaults.calls("UpdateGCSafePoint") - before.upd).toBe(1);
    expect(await scanAllLocks(rt, held)).toEqual([]);
    await client.updateServiceGCSafePoint("br", 0, held);
  });
});
