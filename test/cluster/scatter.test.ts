// PD's scatter really moves regions in the embedded cluster: a "scatter-region" operator runs
// (RUNNING, then SUCCESS) while one peer moves to an empty store and the leader to a store
// leading fewer regions, through the topology, with conf_ver bumped per conf change; PD's
// region view follows and a client keeps reading the data throughout.
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TikvClient } from "../../src/api/tikv-client.js";
import { EmbeddedCluster, EmbeddedClusterError } from "../../src/cluster/embedded-cluster.js";
import { ErrorType, OperatorStatus, PDClient } from "../../src/proto/pdpb.js";
import { call, callError } from "./pd/helpers.js";

const KEYS = ["a1", "c1", "e1", "g1", "i1"];

/** Polls `cond` until it holds, failing after `ms`. */
async function until(cond: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Puts every region of a 5-store cluster on stores 1-3, all led from store 1. */
function crowdOntoFirstStores(cluster: EmbeddedCluster): void {
  const topo = cluster.topology;
  const [s1, s2, s3] = topo.stores().map((s) => s.id);
  const wanted = [s1!, s2!, s3!];
  for (const r of topo.regions()) {
    for (const s of wanted) if (!r.peers.some((p) => p.storeId === s)) topo.addPeer(r.id, s);
    topo.transferLeader(r.id, s1!);
    for (const p of topo.regionById(r.id)!.peers) {
      if (!wanted.includes(p.storeId)) topo.removePeer(r.id, p.storeId);
    }
  }
}

function peerCounts(cluster: EmbeddedCluster): Map<bigint, number> {
  const m = new Map<bigint, number>();
  for (const r of cluster.topology.regions())
    for (const p of r.peers) m.set(p.storeId, (m.get(p.storeId) ?? 0) + 1);
  return m;
}

describe("scatter on a 5-store cluster with every region on stores 1-3", () => {
  let cluster: EmbeddedCluster;
  let pd: PDClient;
  let client: TikvClient;
  const header = () => ({ clusterId: cluster.clusterId });

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({
      stores: 5,
      replicas: 3,
      splitKeys: ["b", "d", "f", "h"],
      scatterStepMs: 40,
    });
    crowdOntoFirstStores(cluster);
    pd = new PDClient(cluster.pdEndpoints[0]!, grpc.credentials.createInsecure());
    client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints });
    const raw = client.raw();
    for (const k of KEYS) await raw.put(k, `v-${k}`);
  });
  afterAll(async () => {
    pd.close();
    await client.close();
    await cluster.close();
  });

  it("moves peers and leaders while GetOperator goes RUNNING then SUCCESS, data stays readable", async () => {
    const before = new Map(cluster.topology.regions().map((r) => [r.id, r]));
    const ids = [...before.keys()];
    expect(peerCounts(cluster).get(4n)).toBeUndefined();
    const res = await call(pd, "scatterRegion", { header: header(), regionsId: ids });
    expect(res.header.error).toBeUndefined();
    expect(res.finishedPercentage).toBe(100n);
    expect(res.failedRegionsId).toEqual([]);

    const first = await call(pd, "getOperator", { header: header(), regionId: ids[0]! });
    expect(first.status).toBe(OperatorStatus.RUNNING);
    expect(first.desc.toString()).toBe("scatter-region");
    expect(first.kind.toString()).toMatch(/^admin,region/);
    expect(first.regionId).toBe(ids[0]);

    // Read every key over and over until all operators are done.
    const raw = client.raw();
    let reads = 0;
    const deadline = Date.now() + 10_000;
    for (;;) {
      for (const k of KEYS) {
        expect((await raw.get(k))?.toString()).toBe(`v-${k}`);
        reads++;
      }
      const ops = await Promise.all(
        ids.map((regionId) => call(pd, "getOperator", { header: header(), regionId })),
      );
      if (ops.every((o) => o.status === OperatorStatus.SUCCESS)) break;
      expect(
        ops.every((o) => o.status === OperatorStatus.RUNNING || o.status === OperatorStatus.SUCCESS),
      ).toBe(true);
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(reads).toBeGreaterThan(KEYS.length);

    // Stores 4 and 5 now hold peers, store 1 no longer leads everything.
    const counts = peerCounts(cluster);
    expect(counts.get(4n) ?? 0).toBeGreaterThan(0);
    expect(counts.get(5n) ?? 0).toBeGreaterThan(0);
    const leaders = cluster.topology.regions().map((r) => r.leader?.storeId);
    expect(new Set(leaders).size).toBeGreaterThan(1);
    for (const r of cluster.topology.regions()) {
      expect(r.peers).toHaveLength(3);
      expect(r.peers.every((p) => p.role === "voter")).toBe(true);
      const old = before.get(r.id)!;
      const moved = r.peers.some((p) => !old.peers.some((q) => q.storeId === p.storeId));
      // add learner + promote + remove: three conf changes; the version is untouched.
      expect(r.epoch.confVer).toBe(old.epoch.confVer + (moved ? 3n : 0n));
      expect(r.epoch.version).toBe(old.epoch.version);
    }

    // PD's region view reports the new layout.
    const scanned = await call(pd, "scanRegions", { header: header(), startKey: Buffer.alloc(0), limit: 0 });
    for (const pr of scanned.regions) {
      const live = cluster.topology.regionById(pr.region.id)!;
      expect(pr.region.peers.map((p) => p.storeId).sort()).toEqual(live.peers.map((p) => p.storeId).sort());
      expect(pr.leader.storeId).toBe(live.leader?.storeId);
      expect(pr.region.regionEpoch.confVer).toBe(live.epoch.confVer);
    }
    for (const k of KEYS) expect((await raw.get(k))?.toString()).toBe(`v-${k}`);
  });

  it("answers PD's errors: unknown ids fail, a lone unknown id fails the call, no operator is Not Found", async () => {
    const r = cluster.topology.regions()[0]!;
    const some = await call(pd, "scatterRegion", { header: header(), regionsId: [r.id, 9999n] });
    expect(some.finishedPercentage).toBe(50n);
    expect(some.failedRegionsId).toEqual([9999n]);
    const lone = await callError(pd, "scatterRegion", { header: header(), regionsId: [9999n] });
    expect(lone.code).toBe(grpc.status.UNKNOWN);
    expect(lone.details).toBe("[PD:region:ErrRegionNotFound]region %v not found");
    const legacy = await call(pd, "scatterRegion", { header: header(), regionId: 9999n });
    expect(legacy.header.error).toEqual({ type: ErrorType.REGION_NOT_FOUND, message: "region %d not found" });
    const none = await call(pd, "getOperator", { header: header(), regionId: 9999n });
    expect(none.header.error).toEqual({ type: ErrorType.REGION_NOT_FOUND, message: "Not Found" });
    const empty = await callError(pd, "splitAndScatterRegions", {
      header: header(),
      splitKeys: [Buffer.from("b")],
    });
    expect(empty.details).toBe("[PD:scatter:ErrEmptyRegion]empty region");
  });
});

describe("scatter operators on a 3-store cluster led from store 1", () => {
  let cluster: EmbeddedCluster;
  let pd: PDClient;
  const header = () => ({ clusterId: cluster.clusterId });

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 3, splitKeys: ["h", "p"], scatterStepMs: 200 });
    for (const r of cluster.topology.regions()) cluster.topology.transferLeader(r.id, 1n);
    pd = new PDClient(cluster.pdEndpoints[0]!, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    pd.close();
    await cluster.close();
  });

  it("fails a region without a leader", async () => {
    const r = cluster.topology.regions()[0]!;
    cluster.topology.clearLeader(r.id);
    try {
      const res = await call(pd, "scatterRegion", { header: header(), regionsId: [r.id] });
      expect(res.finishedPercentage).toBe(0n);
      expect(res.failedRegionsId).toEqual([r.id]);
      const legacy = await callError(pd, "scatterRegion", { header: header(), regionId: r.id });
      expect(legacy.details).toBe(`region ${r.id} has no leader`);
    } finally {
      cluster.topology.transferLeader(r.id, 1n);
    }
  });

  it("moves only the leader when every store holds a peer; a second group is refused meanwhile", async () => {
    const r = cluster.topology.regions()[1]!;
    const a = await call(pd, "scatterRegion", { header: header(), regionsId: [r.id], group: "g1" });
    expect(a.failedRegionsId).toEqual([]);
    const op = await call(pd, "getOperator", { header: header(), regionId: r.id });
    expect(op.status).toBe(OperatorStatus.RUNNING);
    expect(op.kind.toString()).toBe("admin,leader");
    // Same group again: skipped as already running; another group: refused.
    const same = await call(pd, "scatterRegion", { header: header(), regionsId: [r.id], group: "g1" });
    expect(same.failedRegionsId).toEqual([]);
    const other = await call(pd, "scatterRegion", { header: header(), regionsId: [r.id], group: "g2" });
    expect(other.failedRegionsId).toEqual([r.id]);
    await until(
      async () =>
        (await call(pd, "getOperator", { header: header(), regionId: r.id })).status ===
        OperatorStatus.SUCCESS,
    );
    const after = cluster.topology.regionById(r.id)!;
    expect(after.leader?.storeId).not.toBe(1n);
    expect(after.epoch).toEqual(r.epoch);
  });

  it("cancels the operator when the region is changed under it", async () => {
    const r = cluster.topology.regions()[2]!;
    await call(pd, "scatterRegion", { header: header(), regionsId: [r.id] });
    expect((await call(pd, "getOperator", { header: header(), regionId: r.id })).status).toBe(
      OperatorStatus.RUNNING,
    );
    // The planned leader's peer goes away before the transfer step.
    const target = cluster.topology
      .stores()
      .map((s) => s.id)
      .filter((id) => id !== 1n);
    for (const s of target) cluster.topology.removePeer(r.id, s);
    await new Promise((res) => setTimeout(res, 300));
    expect((await call(pd, "getOperator", { header: header(), regionId: r.id })).status).toBe(
      OperatorStatus.CANCEL,
    );
  });
});

describe("scatter with nothing to move", () => {
  let cluster: EmbeddedCluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  it("succeeds at once on one store", async () => {
    cluster = await EmbeddedCluster.start({ stores: 1, splitKeys: ["m"] });
    const pd = new PDClient(cluster.pdEndpoints[0]!, grpc.credentials.createInsecure());
    try {
      const ids = cluster.topology.regions().map((r) => r.id);
      const before = cluster.topology.regions().map((r) => r.epoch);
      const res = await call(pd, "scatterRegion", {
        header: { clusterId: cluster.clusterId },
        regionsId: ids,
      });
      expect(res.finishedPercentage).toBe(100n);
      for (const regionId of ids) {
        const op = await call(pd, "getOperator", { header: { clusterId: cluster.clusterId }, regionId });
        expect(op.status).toBe(OperatorStatus.SUCCESS);
        expect(op.kind.toString()).toBe("admin");
      }
      expect(cluster.topology.regions().map((r) => r.epoch)).toEqual(before);
    } finally {
      pd.close();
    }
  });

  it("rejects a bad scatterStepMs with EmbeddedClusterError", async () => {
    await expect(EmbeddedCluster.start({ scatterStepMs: -1 })).rejects.toBeInstanceOf(EmbeddedClusterError);
  });
});
