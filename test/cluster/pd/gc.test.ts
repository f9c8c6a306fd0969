import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  GC_MANAGEMENT_TYPE,
  GcStateManager,
  KEYSPACE_LEVEL_GC,
  KeyspaceRegistry,
  NULL_KEYSPACE_ID,
  TTL_FOREVER,
} from "../../../src/cluster/pd/index.js";
import { ErrorType } from "../../../src/proto/pdpb.js";
import { call, callError, type PdFixture, startPd } from "./helpers.js";

let fx: PdFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe("GC state through the PD API", () => {
  it("GetGCState starts at zero for the null keyspace", async () => {
    fx = await startPd();
    const r = await call(fx.clients[0]!, "getGcState", { header: fx.header });
    expect(r.gcState).toMatchObject({
      txnSafePoint: 0n,
      gcSafePoint: 0n,
      isKeyspaceLevelGc: false,
      gcBarriers: [],
    });
    expect(r.gcState.keyspaceScope.keyspace).toEqual({ $case: "keyspaceId", keyspaceId: NULL_KEYSPACE_ID });
  });

  it("txn safe point advances, refuses to go back; GC safe point is bounded by it", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    const h = fx.header;
    const a = await call(c, "advanceTxnSafePoint", { header: h, target: 10n });
    expect(a).toMatchObject({ oldTxnSafePoint: 0n, newTxnSafePoint: 10n, blockerDescription: "" });
    const back = await call(c, "advanceTxnSafePoint", { header: h, target: 9n });
    expect(back.header.error).toEqual({
      type: ErrorType.UNKNOWN,
      message:
        "[PD:gc:ErrDecreasingTxnSafePoint]trying to update txn safe point to a smaller value, current value: 10, given: 9",
    });
    const tooFar = await call(c, "advanceGcSafePoint", { header: h, target: 11n });
    expect(tooFar.header.error.message).toBe(
      "[PD:gc:ErrGCSafePointExceedsTxnSafePoint]trying to update GC safe point to a too large value that exceeds the txn safe point, current value: 0, given: 11, current txn safe point: 10",
    );
    const g = await call(c, "advanceGcSafePoint", { header: h, target: 5n });
    expect(g).toMatchObject({ oldGcSafePoint: 0n, newGcSafePoint: 5n });
    const gBack = await call(c, "advanceGcSafePoint", { header: h, target: 4n });
    expect(gBack.header.error.message).toBe(
      "[PD:gc:ErrDecreasingGCSafePoint]trying to update GC safe point to a smaller value, current value: 5, given: 4",
    );
    const st = await call(c, "getGcState", { header: h });
    expect(st.gcState).toMatchObject({ txnSafePoint: 10n, gcSafePoint: 5n });
    expect((await call(c, "getGcSafePoint", { header: h })).safePoint).toBe(5n);
  });

  it("GC barriers block the txn safe point and are reported with their TTL", async () => {
    let now = 1_000_000;
    fx = await startPd({ now: () => now });
    const c = fx.clients[0]!;
    const h = fx.header;
    const set = await call(c, "setGcBarrier", {
      header: h,
      barrierId: "br",
      barrierTs: 20n,
      ttlSeconds: 60n,
    });
    expect(set.newBarrierInfo).toEqual({ barrierId: "br", barrierTs: 20n, ttlSeconds: 60n });
    const adv = await call(c, "advanceTxnSafePoint", { header: h, target: 30n });
    expect(adv.newTxnSafePoint).toBe(20n);
    expect(adv.blockerDescription).toContain('BarrierID: "br"');
    const st = await call(c, "getGcState", { header: h });
    expect(st.gcState.gcBarriers).toEqual([{ barrierId: "br", barrierTs: 20n, ttlSeconds: 60n }]);
    // Behind the txn safe point: rejected.
    const behind = await call(c, "setGcBarrier", {
      header: h,
      barrierId: "old",
      barrierTs: 10n,
      ttlSeconds: 60n,
    });
    expect(behind.header.error.message).toBe(
      "[PD:gc:ErrGCBarrierTSBehindTxnSafePoint]trying to set a GC barrier on ts 10 which is already behind the txn safe point 20",
    );
    // Expired barriers stop blocking.
    now += 61_000;
    const adv2 = await call(c, "advanceTxnSafePoint", { header: h, target: 30n });
    expect(adv2.newTxnSafePoint).toBe(30n);
    expect((await call(c, "getGcState", { header: h })).gcState.gcBarriers).toEqual([]);
  });

  it("barrier validation: reserved id, empty id, non-positive ttl; delete returns the barrier", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    const h = fx.header;
    const reserved = await call(c, "setGcBarrier", {
      header: h,
      barrierId: "gc_worker",
      barrierTs: 1n,
      ttlSeconds: 10n,
    });
    expect(reserved.header.error.message).toBe(
      "[PD:gc:ErrReservedGCBarrierID]trying to set a GC barrier with a barrier ID that is reserved: gc_worker",
    );
    const empty = await call(c, "setGcBarrier", { header: h, barrierId: "", barrierTs: 1n, ttlSeconds: 10n });
    expect(empty.header.error.message).toBe("[PD:common:ErrInvalidArgument]invalid argument for barrierID: ");
    const ttl = await call(c, "setGcBarrier", { header: h, barrierId: "x", barrierTs: 1n, ttlSeconds: 0n });
    expect(ttl.header.error.message).toBe("[PD:common:ErrInvalidArgument]invalid argument for ttl: 0s");
    await call(c, "setGcBarrier", { header: h, barrierId: "x", barrierTs: 5n, ttlSeconds: TTL_FOREVER });
    const del = await call(c, "deleteGcBarrier", { header: h, barrierId: "x" });
    expect(del.deletedBarrierInfo).toEqual({ barrierId: "x", barrierTs: 5n, ttlSeconds: TTL_FOREVER });
    const none = await call(c, "deleteGcBarrier", { header: h, barrierId: "x" });
    expect(none.header.error).toBeUndefined();
    expect(none.deletedBarrierInfo).toBeUndefined();
  });

  it("legacy UpdateGCSafePoint ignores decreases; its errors are gRPC statuses", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    const h = fx.header;
    const e = await callError(c, "updateGcSafePoint", { header: h, safePoint: 10n });
    expect(e.code).toBe(status.UNKNOWN);
    expect(e.details).toContain("ErrGCSafePointExceedsTxnSafePoint");
    await call(c, "advanceTxnSafePoint", { header: h, target: 10n });
    expect((await call(c, "updateGcSafePoint", { header: h, safePoint: 8n })).newSafePoint).toBe(8n);
    expect((await call(c, "updateGcSafePoint", { header: h, safePoint: 3n })).newSafePoint).toBe(8n);
  });

  it("legacy UpdateServiceGCSafePoint: services become barriers, gc_worker advances the txn safe point", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    const h = fx.header;
    const svc = await call(c, "updateServiceGcSafePoint", {
      header: h,
      serviceId: Buffer.from("br"),
      TTL: 100n,
      safePoint: 50n,
    });
    expect(svc.serviceId.toString()).toBe("gc_worker");
    expect(svc.minSafePoint).toBe(0n);
    const st = await call(c, "getGcState", { header: h });
    expect(st.gcState.gcBarriers.map((b) => b.barrierId)).toEqual(["br"]);
    const badTtl = await callError(c, "updateServiceGcSafePoint", {
      header: h,
      serviceId: Buffer.from("gc_worker"),
      TTL: 10n,
      safePoint: 60n,
    });
    expect(badTtl.details).toBe("TTL of gc_worker's service safe point must be infinity");
    const gw = await call(c, "updateServiceGcSafePoint", {
      header: h,
      serviceId: Buffer.from("gc_worker"),
      TTL: TTL_FOREVER,
      safePoint: 60n,
    });
    // Blocked by "br" at 50: the blocker is reported as the minimum.
    expect(gw.serviceId.toString()).toBe("br");
    expect(gw.minSafePoint).toBe(50n);
    // TTL <= 0 deletes the service's barrier.
    await call(c, "updateServiceGcSafePoint", {
      header: h,
      serviceId: Buffer.from("br"),
      TTL: 0n,
      safePoint: 0n,
    });
    const gw2 = await call(c, "updateServiceGcSafePoint", {
      header: h,
      serviceId: Buffer.from("gc_worker"),
      TTL: TTL_FOREVER,
      safePoint: 60n,
    });
    expect(gw2.serviceId.toString()).toBe("gc_worker");
    expect(gw2.minSafePoint).toBe(60n);
  });

  it("keyspace-level GC: separate state per keyspace; unified keyspaces share the null keyspace's", async () => {
    fx = await startPd();
    fx.pd.state.keyspaces.add({ name: "ks1", id: 1, config: { [GC_MANAGEMENT_TYPE]: KEYSPACE_LEVEL_GC } });
    fx.pd.state.keyspaces.add({ name: "ks2", id: 2 });
    const c = fx.clients[0]!;
    const h = fx.header;
    const scope = (id: number) => ({ keyspace: { $case: "keyspaceId" as const, keyspaceId: id } });
    await call(c, "advanceTxnSafePoint", { header: h, keyspaceScope: scope(1), target: 7n });
    const unified = await call(c, "advanceTxnSafePoint", { header: h, keyspaceScope: scope(2), target: 3n });
    expect(unified.header.error.message).toBe(
      "[PD:gc:ErrGCOnInvalidKeyspace]trying to manage GC in keyspace ks2 (id: 2) where keyspace level GC is not enabled",
    );
    const missing = await call(c, "advanceTxnSafePoint", { header: h, keyspaceScope: scope(99), target: 3n });
    expect(missing.header.error.message).toBe("[PD:keyspace:ErrKeyspaceNotFound]keyspace does not exist");
    const ks2 = await call(c, "getGcState", { header: h, keyspaceScope: scope(2) });
    expect(ks2.gcState.keyspaceScope.keyspace).toEqual({ $case: "keyspaceId", keyspaceId: NULL_KEYSPACE_ID });
    const all = await call(c, "getAllKeyspacesGcStates", { header: h });
    expect(all.gcStates.map((s) => [s.keyspaceScope.keyspace, s.txnSafePoint])).toEqual([
      [{ $case: "keyspaceId", keyspaceId: NULL_KEYSPACE_ID }, 0n],
      [{ $case: "keyspaceId", keyspaceId: 1 }, 7n],
    ]);
  });
});

describe("GcStateManager (ported from pd pkg/gc/gc_state_manager_test.go)", () => {
  it("TestCompatibleServiceGCSafePointRoundingTTL: 9223372036s expires, one more never does", () => {
    const now = Date.now();
    const ks = new KeyspaceRegistry(() => now);
    const m = new GcStateManager(
      (id) => ks.gcInfo(id),
      () => now,
    );
    m.updateServiceSafePoint(NULL_KEYSPACE_ID, "svc1", 10n, 9223372036n);
    let b = m.getState(NULL_KEYSPACE_ID, false).barriers[0]!;
    expect(b.expiresAtMs).toBeGreaterThan(now + 10 * 365 * 24 * 3600 * 1000);
    m.updateServiceSafePoint(NULL_KEYSPACE_ID, "svc1", 10n, 9223372037n);
    b = m.getState(NULL_KEYSPACE_ID, false).barriers[0]!;
    expect(b.expiresAtMs).toBeUndefined();
  });

  it("barrier expiration is rounded up to whole seconds", () => {
    const now = 1_000_250;
    const ks = new KeyspaceRegistry(() => now);
    const m = new GcStateManager(
      (id) => ks.gcInfo(id),
      () => now,
    );
    expect(m.setBarrier(NULL_KEYSPACE_ID, "b", 1n, 2n).expiresAtMs).toBe(1_003_000);
  });
});
