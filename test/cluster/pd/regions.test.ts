import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { FOLLOWER_HANDLE_METADATA_KEY } from "../../../src/cluster/pd/index.js";
import { bootstrapTopology } from "../../../src/cluster/topology/index.js";
import { decodeBytes, encodeBytes } from "../../../src/kv/memcomparable.js";
import { NodeState, PeerRole, StoreState } from "../../../src/proto/metapb.js";
import { ErrorType, OperatorStatus } from "../../../src/proto/pdpb.js";
import { b, call, callError, type PdFixture, startPd } from "./helpers.js";

let fx: PdFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const enc = (s: string) => encodeBytes(b(s));
const dec = (k: Buffer) => (k.length === 0 ? "" : decodeBytes(k).key.toString());

describe("region lookups (memcomparable boundaries, txn / API v2)", () => {
  it("GetRegion takes an encoded key and answers encoded boundaries, epoch, peers and leader", async () => {
    fx = await startPd({ layout: { stores: 3, splitKeys: ["m"] } });
    const c = fx.clients[0]!;
    const r = await call(c, "getRegion", { header: fx.header, regionKey: enc("x") });
    expect(r.header.error).toBeUndefined();
    expect(r.region.startKey).toEqual(enc("m"));
    expect(r.region.endKey).toEqual(Buffer.alloc(0));
    expect(r.region.regionEpoch).toEqual({ confVer: 1n, version: 2n });
    expect(r.region.peers).toHaveLength(3);
    expect(r.leader.storeId).toBe(r.region.peers[0].storeId);
    expect(r.buckets).toBeUndefined();
    const first = await call(c, "getRegion", { header: fx.header, regionKey: Buffer.alloc(0) });
    expect(first.region.startKey).toEqual(Buffer.alloc(0));
    expect(dec(first.region.endKey)).toBe("m");
  });

  it("GetPrevRegion and GetRegionByID; unknown ids answer an OK header without a region", async () => {
    fx = await startPd({ layout: { splitKeys: ["c", "m"] } });
    const c = fx.clients[0]!;
    const prev = await call(c, "getPrevRegion", { header: fx.header, regionKey: enc("n") });
    expect(dec(prev.region.startKey)).toBe("c");
    const none = await call(c, "getPrevRegion", { header: fx.header, regionKey: enc("a") });
    expect(none.header.error).toBeUndefined();
    expect(none.region).toBeUndefined();
    const id = fx.pd.topology.locateKey("d")!.id;
    const byId = await call(c, "getRegionById", { header: fx.header, regionId: id });
    expect(byId.region.id).toBe(id);
    const missing = await call(c, "getRegionById", { header: fx.header, regionId: 9999n });
    expect(missing.header.error).toBeUndefined();
    expect(missing.region).toBeUndefined();
  });

  it("ScanRegions honours end key and limit and fills legacy fields", async () => {
    fx = await startPd({ layout: { splitKeys: ["b", "d", "f"] } });
    const c = fx.clients[0]!;
    const r = await call(c, "scanRegions", {
      header: fx.header,
      startKey: enc("c"),
      endKey: enc("e"),
      limit: 0,
    });
    expect(r.regions.map((x) => dec(x.region.startKey))).toEqual(["b", "d"]);
    expect(r.regionMetas).toHaveLength(2);
    expect(r.leaders).toHaveLength(2);
    const lim = await call(c, "scanRegions", { header: fx.header, startKey: Buffer.alloc(0), limit: 3 });
    expect(lim.regions).toHaveLength(3);
  });

  it("BatchScanRegions merges ranges, dedups shared regions, caps at limit, and rejects bad ranges", async () => {
    fx = await startPd({ layout: { splitKeys: ["b", "d", "f"] } });
    const c = fx.clients[0]!;
    const ranges = [
      { startKey: enc("a"), endKey: enc("b1") },
      { startKey: enc("b2"), endKey: enc("c") },
      { startKey: enc("g"), endKey: Buffer.alloc(0) },
    ];
    const r = await call(c, "batchScanRegions", { header: fx.header, ranges, limit: 0 });
    expect(r.regions.map((x) => dec(x.region.startKey))).toEqual(["", "b", "f"]);
    const lim = await call(c, "batchScanRegions", { header: fx.header, ranges, limit: 2 });
    expect(lim.regions).toHaveLength(2);
    const overlap = await call(c, "batchScanRegions", {
      header: fx.header,
      ranges: [
        { startKey: enc("c"), endKey: enc("e") },
        { startKey: enc("d"), endKey: enc("f") },
      ],
    });
    expect(overlap.header.error).toEqual({
      type: ErrorType.UNKNOWN,
      message: "invalid key range, ranges overlapped",
    });
    const reversed = await call(c, "batchScanRegions", {
      header: fx.header,
      ranges: [{ startKey: enc("e"), endKey: enc("c") }],
    });
    expect(reversed.header.error.message).toBe("invalid key range, start key > end key");
  });

  it("raw encoding (API v1 raw) sends plain boundaries", async () => {
    fx = await startPd({ regionKeyEncoding: "raw", layout: { splitKeys: ["m"] } });
    const r = await call(fx.clients[0]!, "getRegion", { header: fx.header, regionKey: b("z") });
    expect(r.region.startKey).toEqual(b("m"));
  });
});

describe("topology changes are visible through PD", () => {
  it("split bumps version, merge bumps it again, conf changes bump conf_ver, leader moves", async () => {
    fx = await startPd({ layout: { stores: 3 } });
    const c = fx.clients[0]!;
    const t = fx.pd.topology;
    const id = t.regions()[0]!.id;
    t.splitRegion(id, ["k"]);
    let r = await call(c, "getRegion", { header: fx.header, regionKey: enc("z") });
    expect(r.region.id).toBe(id);
    expect(r.region.regionEpoch).toEqual({ confVer: 1n, version: 2n });
    const left = t.locateKey("a")!;
    t.merge(left.id, id);
    r = await call(c, "getRegion", { header: fx.header, regionKey: enc("a") });
    expect(r.region.id).toBe(id);
    expect(r.region.regionEpoch.version).toBe(4n);
    const s3 = t.stores()[2]!.id;
    t.transferLeader(id, s3);
    t.removePeer(id, t.stores()[0]!.id);
    r = await call(c, "getRegionById", { header: fx.header, regionId: id });
    expect(r.leader.storeId).toBe(s3);
    expect(r.region.regionEpoch.confVer).toBe(2n);
    expect(r.region.peers).toHaveLength(2);
  });

  it("learners, down peers (with seconds) and pending peers are reported", async () => {
    let now = 1_000_000;
    const topology = bootstrapTopology({ stores: 3, replicas: 2, now: () => now });
    fx = await startPd({ topology, now: () => now });
    const t = fx.pd.topology;
    const r0 = t.regions()[0]!;
    const [s1, s2, s3] = t.stores().map((s) => s.id);
    t.addLearner(r0.id, s3!);
    t.markPeerDown(r0.id, s2!);
    t.markPeerPending(r0.id, s3!);
    now += 42_000;
    const r = await call(fx.clients[0]!, "getRegionById", { header: fx.header, regionId: r0.id });
    const learner = r.region.peers.find((p) => p.storeId === s3);
    expect(learner!.role).toBe(PeerRole.Learner);
    expect(r.downPeers).toHaveLength(1);
    expect(r.downPeers[0].peer.storeId).toBe(s2);
    expect(r.downPeers[0].downSeconds).toBe(42n);
    expect(r.pendingPeers.map((p) => p.storeId)).toEqual([s3]);
    expect(r.leader.storeId).toBe(s1);
    const scan = await call(fx.clients[0]!, "scanRegions", {
      header: fx.header,
      startKey: Buffer.alloc(0),
      limit: 1,
    });
    expect(scan.regions[0].downPeers).toHaveLength(1);
  });

  it("a leaderless region has no leader in GetRegion and an empty peer in scans", async () => {
    fx = await startPd();
    const id = fx.pd.topology.regions()[0]!.id;
    fx.pd.topology.clearLeader(id);
    const r = await call(fx.clients[0]!, "getRegion", { header: fx.header, regionKey: enc("a") });
    expect(r.leader).toBeUndefined();
    const s = await call(fx.clients[0]!, "scanRegions", { header: fx.header, startKey: Buffer.alloc(0) });
    expect(s.regions[0].leader).toEqual({ id: 0n, storeId: 0n, role: 0, isWitness: false });
  });
});

describe("ported: pd tests/integrations/client/client_test.go TestScanRegions", () => {
  it("BatchScanRegions with a leaderless, a down-peer and a pending-peer region, over (start, end, limit)", async () => {
    // Ten regions [i, i+1) for i in 0..9 (plus the unbounded edges), three peers each.
    const cuts = Array.from({ length: 11 }, (_, i) => Buffer.from([i]));
    const topology = bootstrapTopology({ stores: 3, splitKeys: cuts });
    fx = await startPd({ topology, regionKeyEncoding: "raw" });
    const t = fx.pd.topology;
    const at = (i: number) => t.locateKey(Buffer.from([i]))!;
    const [, s2, s3] = t.stores().map((s) => s.id);
    t.clearLeader(at(3).id);
    t.markPeerDown(at(4).id, s2!);
    t.markPeerPending(at(5).id, s2!);
    t.markPeerPending(at(5).id, s3!);
    const check = async (start: number, end: number | undefined, limit: number, want: number[]) => {
      const r = await call(fx!.clients[0]!, "batchScanRegions", {
        header: fx!.header,
        ranges: [
          {
            startKey: Buffer.from([start]),
            endKey: end === undefined ? Buffer.alloc(0) : Buffer.from([end]),
          },
        ],
        limit,
      });
      expect(r.regions.map((x) => x.region.startKey[0])).toEqual(want);
      for (const x of r.regions) {
        const i = x.region.startKey[0]!;
        if (i === 3) expect(x.leader).toEqual({ id: 0n, storeId: 0n, role: 0, isWitness: false });
        else expect(x.leader).toEqual(x.region.peers[0]);
        if (i === 4) expect(x.downPeers.map((d) => d.peer.storeId)).toEqual([s2]);
        if (i === 5) expect(x.pendingPeers.map((p) => p.storeId)).toEqual([s2, s3]);
      }
    };
    await check(0, undefined, 10, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await check(1, undefined, 5, [1, 2, 3, 4, 5]);
    await check(1, 6, 0, [1, 2, 3, 4, 5]);
    await check(1, 6, 2, [1, 2]);
  });
});

describe("stale PD view", () => {
  it("frozen regions keep answering the old map after a split and leader change, until unfrozen", async () => {
    fx = await startPd({ layout: { stores: 2, splitKeys: ["m"] } });
    const c = fx.clients[0]!;
    const t = fx.pd.topology;
    const right = t.locateKey("x")!;
    fx.pd.freezeRegions();
    t.splitRegion(right.id, ["t"]);
    const oldLeader = right.leader!.storeId;
    t.transferLeader(right.id, t.stores().find((st) => st.id !== oldLeader)!.id);
    const stale = await call(c, "getRegion", { header: fx.header, regionKey: enc("x") });
    expect(dec(stale.region.startKey)).toBe("m");
    expect(stale.region.regionEpoch.version).toBe(2n);
    expect(stale.leader.storeId).toBe(oldLeader);
    const scan = await call(c, "scanRegions", { header: fx.header, startKey: enc("n") });
    expect(scan.regions.map((r) => dec(r.region.startKey))).toEqual(["m"]);
    const prev = await call(c, "getPrevRegion", { header: fx.header, regionKey: enc("x") });
    expect(dec(prev.region.startKey)).toBe("");
    const newId = t.locateKey("n")!.id;
    expect((await call(c, "getRegionById", { header: fx.header, regionId: newId })).region).toBeUndefined();
    fx.pd.unfreezeRegions();
    const fresh = await call(c, "getRegion", { header: fx.header, regionKey: enc("x") });
    expect(dec(fresh.region.startKey)).toBe("t");
    expect(fresh.region.regionEpoch.version).toBe(3n);
  });
});

describe("follower reads", () => {
  it("followers answer region reads only with the follower-handle metadata", async () => {
    fx = await startPd({ members: 2 });
    const md = new grpc.Metadata();
    md.set(FOLLOWER_HANDLE_METADATA_KEY, "1");
    const e = await callError(fx.clients[1]!, "getRegion", { header: fx.header, regionKey: enc("a") });
    expect(e.details).toBe("not leader");
    const r = await call(fx.clients[1]!, "getRegion", { header: fx.header, regionKey: enc("a") }, md);
    expect(r.region.id).toBe(fx.pd.topology.regions()[0]!.id);
    const miss = await call(fx.clients[1]!, "getRegionById", { header: fx.header, regionId: 777n }, md);
    expect(miss.header.error).toEqual({ type: ErrorType.REGION_NOT_FOUND, message: "region not found" });
    // Store lookups are leader-only even with the metadata.
    expect(
      (await callError(fx.clients[1]!, "getStore", { header: fx.header, storeId: 1n }, md)).details,
    ).toBe("not leader");
  });
});

describe("stores", () => {
  it("GetStore/GetAllStores report address, labels, state and node state; tombstones can be excluded", async () => {
    fx = await startPd({ layout: { zones: 2, stores: 1, addressOf: (i) => `127.0.0.1:${30000 + i}` } });
    const t = fx.pd.topology;
    const [s1, s2] = t.stores();
    const r = await call(fx.clients[0]!, "getStore", { header: fx.header, storeId: s1!.id });
    expect(r.store.address).toBe("127.0.0.1:30000");
    expect(r.store.labels).toEqual([
      { key: "zone", value: "z1" },
      { key: "host", value: "h1" },
    ]);
    expect(r.store.state).toBe(StoreState.Up);
    expect(r.store.nodeState).toBe(NodeState.Serving);
    // Ported from pd client_test.go TestGetStore: offline = Offline/Removing, tombstone = Removed.
    t.setStoreState(s2!.id, "offline");
    const off = await call(fx.clients[0]!, "getStore", { header: fx.header, storeId: s2!.id });
    expect([off.store.state, off.store.nodeState]).toEqual([StoreState.Offline, NodeState.Removing]);
    t.setStoreState(s2!.id, "tombstone");
    const all = await call(fx.clients[0]!, "getAllStores", { header: fx.header });
    expect(all.stores).toHaveLength(2);
    expect(all.stores[1].state).toBe(StoreState.Tombstone);
    expect(all.stores[1].nodeState).toBe(NodeState.Removed);
    const live = await call(fx.clients[0]!, "getAllStores", {
      header: fx.header,
      excludeTombstoneStores: true,
    });
    expect(live.stores.map((s) => s.id)).toEqual([s1!.id]);
    const missing = await call(fx.clients[0]!, "getStore", { header: fx.header, storeId: 999n });
    expect(missing.header.error).toEqual({
      type: ErrorType.UNKNOWN,
      message: "invalid store ID 999, not found",
    });
    t.setStoreLabels(s1!.id, { zone: "z9" });
    const relabeled = await call(fx.clients[0]!, "getStore", { header: fx.header, storeId: s1!.id });
    expect(relabeled.store.labels).toEqual([{ key: "zone", value: "z9" }]);
  });
});

describe("split and scatter", () => {
  it("SplitRegions splits at encoded keys and returns the new region ids", async () => {
    fx = await startPd();
    const c = fx.clients[0]!;
    const r = await call(c, "splitRegions", { header: fx.header, splitKeys: [enc("g"), enc("p")] });
    expect(r.finishedPercentage).toBe(100n);
    expect(r.regionsId).toHaveLength(2);
    const starts = fx.pd.topology.regions().map((x) => x.startKey.toString());
    expect(starts).toEqual(["", "g", "p"]);
    // Keys already on a boundary are not processed.
    const again = await call(c, "splitRegions", { header: fx.header, splitKeys: [enc("g"), enc("t")] });
    expect(again.finishedPercentage).toBe(50n);
    expect(again.regionsId).toHaveLength(1);
  });

  it("ScatterRegion records a finished operator that GetOperator reports", async () => {
    fx = await startPd({ layout: { splitKeys: ["m"] } });
    const c = fx.clients[0]!;
    const [r1, r2] = fx.pd.topology.regions();
    const one = await call(c, "scatterRegion", { header: fx.header, regionId: r1!.id });
    expect(one.finishedPercentage).toBe(100n);
    const op = await call(c, "getOperator", { header: fx.header, regionId: r1!.id });
    expect(op.status).toBe(OperatorStatus.SUCCESS);
    expect(op.desc.toString()).toBe("scatter-region");
    const noOp = await call(c, "getOperator", { header: fx.header, regionId: r2!.id });
    expect(noOp.header.error).toEqual({ type: ErrorType.REGION_NOT_FOUND, message: "Not Found" });
    const many = await call(c, "scatterRegion", { header: fx.header, regionsId: [r2!.id, 4040n] });
    expect(many.finishedPercentage).toBe(50n);
    expect(many.failedRegionsId).toEqual([4040n]);
    const missing = await call(c, "scatterRegion", { header: fx.header, regionId: 4040n });
    expect(missing.header.error.type).toBe(ErrorType.REGION_NOT_FOUND);
    // With the region carried in the request PD scatters it anyway.
    const carried = await call(c, "scatterRegion", {
      header: fx.header,
      regionId: 4041n,
      region: { id: 4041n },
    });
    expect(carried.header.error).toBeUndefined();
    expect(carried.finishedPercentage).toBe(100n);
  });

  it("SplitAndScatterRegions splits then scatters the new regions", async () => {
    fx = await startPd();
    const r = await call(fx.clients[0]!, "splitAndScatterRegions", {
      header: fx.header,
      splitKeys: [enc("k")],
    });
    expect(r.splitFinishedPercentage).toBe(100n);
    expect(r.scatterFinishedPercentage).toBe(100n);
    const op = await call(fx.clients[0]!, "getOperator", { header: fx.header, regionId: r.regionsId[0] });
    expect(op.status).toBe(OperatorStatus.SUCCESS);
  });
});
