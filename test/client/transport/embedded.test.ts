// PD actor and store actors against the project's mock PD and mock TiKV stores.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PdActor } from "../../../src/actors/pd/pd-actor.js";
import type { PdRegion } from "../../../src/actors/pd/region-types.js";
import { StorePool } from "../../../src/actors/store/store-pool.js";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { MockPd } from "../../../src/cluster/pd/mock-pd.js";
import { Context, RawGetRequest, RawPutRequest } from "../../../src/proto/kvrpcpb.js";

let cluster: EmbeddedCluster;
let mockPd: MockPd;
let pd: PdActor;
let pool: StorePool;

beforeAll(async () => {
  cluster = await EmbeddedCluster.start({ stores: 3, splitKeys: ["m"] });
  mockPd = await MockPd.start({
    topology: cluster.topology,
    members: 3,
    clusterId: cluster.clusterId,
    regionKeyEncoding: "raw",
  });
  pd = await PdActor.connect({
    endpoints: mockPd.endpoints.map((e) => `http://${e}`),
    discoveryBackoff: { baseMs: 10, capMs: 100 },
    retryBackoff: { baseMs: 10, capMs: 100 },
  });
  pool = new StorePool({ backoff: { baseMs: 20, capMs: 200 } });
});

afterAll(async () => {
  pool?.close();
  pd?.close();
  await mockPd?.stop();
  await cluster?.close();
});

function ctx(r: PdRegion): Context {
  return Context.fromPartial({ regionId: r.meta.id, regionEpoch: r.meta.regionEpoch, peer: r.leader });
}

async function leaderStore(r: PdRegion) {
  const s = await pd.getStore(Number(r.leader?.storeId));
  return pool.get(Number(s?.id), s?.address as string);
}

describe("transport on the embedded cluster", () => {
  it("PD: cluster id, stores, regions and timestamps", async () => {
    expect(pd.clusterId).toBe(cluster.clusterId);
    const stores = await pd.getAllStores();
    expect(stores.map((s) => s.address).sort()).toEqual(cluster.stores.map((s) => s.address).sort());
    const a = await pd.getRegion(Buffer.from("a"));
    const z = await pd.getRegion(Buffer.from("z"));
    expect(a?.meta.endKey.toString()).toBe("m");
    expect(z?.meta.startKey.toString()).toBe("m");
    expect(a?.leader).toBeDefined();
    const ts = await Promise.all([pd.getTimestamp(), pd.getTimestamp(), pd.getTimestamp()]);
    expect(ts[1]).toBe((ts[0] as bigint) + 1n);
    expect(ts[2]).toBe((ts[0] as bigint) + 2n);
  });

  it("PD: prev region, scan, batch scan, region by id, min ts", async () => {
    const z = (await pd.getRegion(Buffer.from("z"))) as PdRegion;
    expect((await pd.getPrevRegion(Buffer.from("z")))?.meta.endKey.toString()).toBe("m");
    expect((await pd.getRegionById(z.meta.id))?.meta.startKey.toString()).toBe("m");
    const all = await pd.scanRegions(Buffer.alloc(0), Buffer.alloc(0), 10);
    expect(all.map((r) => r.meta.startKey.toString())).toEqual(["", "m"]);
    const batch = await pd.batchScanRegions(
      [
        { start: Buffer.from("a"), end: Buffer.from("b") },
        { start: Buffer.from("x"), end: Buffer.from("y") },
      ],
      10,
    );
    expect(batch.map((r) => r.meta.startKey.toString())).toEqual(["", "m"]);
    expect(await pd.getMinTs()).toBeGreaterThan(0n);
  });

  it("PD: GC safe points, service safe points and barriers", async () => {
    const before = await pd.getGCState();
    expect(before.gcState?.txnSafePoint).toBeDefined();
    // PD answers with the service holding the minimum safe point (here "gc_worker" at 0)
    const r = await pd.updateServiceGCSafePoint("transport-test", 60, 0n);
    expect(r.serviceId.length).toBeGreaterThan(0);
    expect(r.minSafePoint).toBe(0n);
    const ts = await pd.getTimestamp();
    await pd.setGCBarrier("transport-barrier", ts, 60);
    const withBarrier = await pd.getGCState();
    expect(withBarrier.gcState?.gcBarriers.map((b) => b.barrierId)).toContain("transport-barrier");
    await pd.deleteGCBarrier("transport-barrier");
    expect((await pd.getGCState()).gcState?.gcBarriers.map((b) => b.barrierId)).not.toContain(
      "transport-barrier",
    );
    expect(await pd.getGCSafePoint()).toBeGreaterThanOrEqual(0n);
  });

  it("store actors carry raw put/get to the region leader over BatchCommands", async () => {
    const r = (await pd.getRegion(Buffer.from("k1"))) as PdRegion;
    const store = await leaderStore(r);
    const put = await store.send(
      "RawPut",
      RawPutRequest.fromPartial({ context: ctx(r), key: Buffer.from("k1"), value: Buffer.from("v1") }),
    );
    expect(put.regionError).toBeUndefined();
    expect(put.error).toBe("");
    const got = await store.send(
      "RawGet",
      RawGetRequest.fromPartial({ context: ctx(r), key: Buffer.from("k1") }),
    );
    expect(got.value.toString()).toBe("v1");
    expect(store.state).toBe("ready");
  });

  it("PD leader transfer: timestamps and region lookups keep working", async () => {
    const before = await pd.getTimestamp();
    mockPd.transferLeader(((mockPd.leaderIndex ?? 0) + 1) % 3);
    const after = await pd.getTimestamp({ timeoutMs: 10_000 });
    expect(after).toBeGreaterThan(before);
    expect((await pd.getRegion(Buffer.from("zz"), { timeoutMs: 10_000 }))?.meta.startKey.toString()).toBe(
      "m",
    );
    expect(pd.leader).toBe(mockPd.endpoints[mockPd.leaderIndex as number]);
  });

  it("PD election: calls made while PD has no leader succeed once a leader is elected", async () => {
    mockPd.clearLeader();
    const pending = pd.getRegion(Buffer.from("election"), { timeoutMs: 10_000 });
    const ts = pd.getTimestamp({ timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    mockPd.transferLeader(0);
    expect((await pending)?.meta.startKey.toString()).toBe("");
    expect(await ts).toBeGreaterThan(0n);
    expect(pd.leader).toBe(mockPd.endpoints[0]);
  });

  it("a stopped store becomes unreachable and recovers after it restarts", async () => {
    const r = (await pd.getRegion(Buffer.from("b"))) as PdRegion;
    const store = await leaderStore(r);
    await store.whenReady();
    await cluster.stopStore(store.storeId);
    for (let i = 0; i < 200 && store.state === "ready"; i++) await new Promise((res) => setTimeout(res, 10));
    expect(store.health.reachability).toBe("unreachable");
    await cluster.startStore(store.storeId);
    await store.whenReady();
    const got = await store.send(
      "RawGet",
      RawGetRequest.fromPartial({ context: ctx(r), key: Buffer.from("nothing") }),
    );
    // the transport works again; the region may have moved its leader meanwhile (routing's job)
    expect(got.regionError !== undefined || got.notFound).toBe(true);
  });
});
