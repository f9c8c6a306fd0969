import { describe, expect, it } from "vitest";
import type { TopologyPort } from "../../../src/cluster/tikv/ports.js";
import {
  bootstrapTopology,
  ClusterTopology,
  type TopologyChange,
  TopologyError,
} from "../../../src/cluster/topology/index.js";
import { PeerRole } from "../../../src/proto/metapb.js";

function expectTopologyError(fn: () => unknown, code: string, msg?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TopologyError);
    expect((e as TopologyError).code).toBe(code);
    if (msg) expect((e as Error).message).toMatch(msg);
    return;
  }
  throw new Error("expected a TopologyError");
}

describe("bootstrap layouts", () => {
  it("one store, one region covering everything", () => {
    const t = bootstrapTopology();
    expect(t.stores()).toHaveLength(1);
    const rs = t.regions();
    expect(rs).toHaveLength(1);
    expect(rs[0]!.startKey.length).toBe(0);
    expect(rs[0]!.endKey.length).toBe(0);
    expect(rs[0]!.epoch).toEqual({ confVer: 1n, version: 1n });
    expect(rs[0]!.leader?.storeId).toBe(t.stores()[0]!.id);
    expect(t.locateKey("anything")!.id).toBe(rs[0]!.id);
  });

  it("N stores, regions cut at keys, each replicated on every store", () => {
    const t = bootstrapTopology({ stores: 3, splitKeys: ["m", "c"] });
    const rs = t.regions();
    expect(rs.map((r) => [r.startKey.toString(), r.endKey.toString()])).toEqual([
      ["", "c"],
      ["c", "m"],
      ["m", ""],
    ]);
    for (const r of rs) {
      expect(r.peers.map((p) => p.storeId).sort()).toEqual(t.stores().map((s) => s.id));
      expect(r.epoch).toEqual({ confVer: 1n, version: 3n });
    }
    expect(t.locateKey("c")!.id).toBe(rs[1]!.id);
    expect(t.locateKey("bzz")!.id).toBe(rs[0]!.id);
    expect(t.locateKey("zzz")!.id).toBe(rs[2]!.id);
  });

  it("replicas < stores places peers round-robin", () => {
    const t = bootstrapTopology({ stores: 3, replicas: 1, splitKeys: ["b", "c"] });
    const owners = t.regions().map((r) => r.peers.map((p) => p.storeId));
    expect(owners).toEqual(t.stores().map((s) => [s.id]));
    expect(t.regionsOnStore(t.stores()[1]!.id).map((r) => r.startKey.toString())).toEqual(["b"]);
  });

  it("zones x stores get zone/host labels and replicas spread across zones", () => {
    const t = bootstrapTopology({ zones: 3, stores: 2, replicas: 3 });
    const stores = t.stores();
    expect(stores).toHaveLength(6);
    expect(stores[0]!.labels).toEqual([
      { key: "zone", value: "z1" },
      { key: "host", value: "h1" },
    ]);
    const zoneOf = new Map(stores.map((s) => [s.id, s.labels.find((l) => l.key === "zone")!.value]));
    const zones = t.regions()[0]!.peers.map((p) => zoneOf.get(p.storeId));
    expect(new Set(zones).size).toBe(3);
  });

  it("rejects impossible layouts", () => {
    expectTopologyError(() => bootstrapTopology({ stores: 2, replicas: 3 }), "INVALID_ARGUMENT");
    expectTopologyError(() => bootstrapTopology({ stores: 0 }), "INVALID_ARGUMENT");
  });
});

describe("split and merge", () => {
  it("split bumps version by the number of keys; the original id keeps the right part", () => {
    const t = bootstrapTopology({ stores: 2 });
    const orig = t.regions()[0]!;
    const events: TopologyChange[] = [];
    t.changes.on("change", (c) => events.push(c));
    const res = t.splitRegion(orig.id, ["k2", "k1"]);
    expect(res.map((r) => r.startKey.toString())).toEqual(["", "k1", "k2"]);
    expect(res[2]!.id).toBe(orig.id);
    for (const r of res) expect(r.epoch).toEqual({ confVer: 1n, version: 3n });
    // Leaders follow the parent's leader store; peer ids are fresh.
    for (const r of res) expect(r.leader!.storeId).toBe(orig.leader!.storeId);
    expect(new Set(res.flatMap((r) => r.peers.map((p) => p.id))).size).toBe(6);
    expect(events).toEqual([{ kind: "split", parentId: orig.id, regionIds: res.map((r) => r.id) }]);
    // TopologyPort shape.
    expect(t.regionState(orig.id)!.region.startKey.toString()).toBe("k2");
  });

  it("split keys outside the region or on its start are rejected", () => {
    const t = bootstrapTopology({ splitKeys: ["m"] });
    const [left, right] = t.regions();
    expectTopologyError(() => t.splitRegion(left!.id, ["x"]), "INVALID_ARGUMENT", /not in region/);
    expectTopologyError(() => t.splitRegion(right!.id, ["m"]), "INVALID_ARGUMENT");
    expectTopologyError(() => t.splitRegion(right!.id, []), "INVALID_ARGUMENT");
    expectTopologyError(() => t.splitRegion(999n, ["z"]), "REGION_NOT_FOUND");
  });

  it("splitAt groups keys per region and skips existing boundaries", () => {
    const t = bootstrapTopology({ splitKeys: ["m"] });
    const created = t.splitAt(["a", "m", "x", "y"]);
    expect(created.map((r) => r.startKey.toString())).toEqual(["", "m", "x"]);
    expect(t.regions().map((r) => r.startKey.toString())).toEqual(["", "a", "m", "x", "y"]);
  });

  it("splitEvenly cuts a prefix into equal slices", () => {
    const t = bootstrapTopology();
    t.splitEvenly(4, { prefix: "t", width: 1 });
    expect(t.regions().map((r) => r.startKey.toString("hex"))).toEqual(["", "7440", "7480", "74c0"]);
    expectTopologyError(() => t.splitEvenly(1), "INVALID_ARGUMENT");
  });

  it("merge: target grows, version = max(source+1, target)+1, source disappears", () => {
    const t = bootstrapTopology({ splitKeys: ["m"] });
    const [left, right] = t.regions();
    t.splitRegion(right!.id, ["t"]); // right part keeps id, version 3
    const mid = t.locateKey("n")!;
    expect(mid.epoch.version).toBe(3n);
    const merged = t.merge(left!.id, mid.id);
    expect(merged.id).toBe(mid.id);
    expect(merged.startKey.length).toBe(0);
    expect(merged.endKey.toString()).toBe("t");
    expect(merged.epoch.version).toBe(4n);
    expect(t.regionById(left!.id)).toBeUndefined();
    expect(t.locateKey("a")!.id).toBe(mid.id);
    expectTopologyError(() => t.merge(mid.id, mid.id), "INVALID_ARGUMENT");
  });

  it("merge rejects non-adjacent regions and different stores", () => {
    const t = bootstrapTopology({ stores: 2, replicas: 1, splitKeys: ["b", "c"] });
    const [a, , c] = t.regions();
    expectTopologyError(() => t.merge(a!.id, c!.id), "INVALID_ARGUMENT", /not adjacent/);
    const [, bb] = t.regions();
    expectTopologyError(() => t.merge(a!.id, bb!.id), "INVALID_ARGUMENT", /different stores/);
  });
});

describe("peers and leaders", () => {
  it("conf changes bump conf_ver only; learners are reported with their role", () => {
    const t = new ClusterTopology();
    const s1 = t.addStore().id;
    const s2 = t.addStore().id;
    const s3 = t.addStore().id;
    const [r] = t.bootstrapRegions(() => [s1]);
    const learner = t.addLearner(r!.id, s2);
    expect(learner.role).toBe("learner");
    let cur = t.regionById(r!.id)!;
    expect(cur.epoch).toEqual({ confVer: 2n, version: 1n });
    expect(cur.region.peers.find((p) => p.storeId === s2)!.role).toBe(PeerRole.Learner);
    t.addPeer(r!.id, s3);
    t.promoteLearner(r!.id, s2);
    cur = t.regionById(r!.id)!;
    expect(cur.epoch.confVer).toBe(4n);
    expect(cur.peers.every((p) => p.role === "voter")).toBe(true);
    t.removePeer(r!.id, s3);
    expect(t.regionById(r!.id)!.epoch).toEqual({ confVer: 5n, version: 1n });
  });

  it("impossible peer operations throw typed errors", () => {
    const t = bootstrapTopology({ stores: 2, replicas: 1 });
    const r = t.regions()[0]!;
    const [s1, s2] = t.stores().map((s) => s.id);
    expectTopologyError(() => t.transferLeader(r.id, s2!), "PEER_NOT_FOUND");
    expectTopologyError(() => t.addPeer(r.id, s1!), "INVALID_ARGUMENT", /already has a peer/);
    expectTopologyError(() => t.removePeer(r.id, s1!), "INVALID_ARGUMENT", /transfer leader first/);
    expectTopologyError(() => t.addPeer(r.id, 77n), "STORE_NOT_FOUND");
    t.addLearner(r.id, s2!);
    expectTopologyError(() => t.transferLeader(r.id, s2!), "INVALID_ARGUMENT", /learner/);
    expectTopologyError(() => t.promoteLearner(r.id, s1!), "INVALID_ARGUMENT");
  });

  it("transfer leader does not change the epoch and emits a change", () => {
    const t = bootstrapTopology({ stores: 3 });
    const r = t.regions()[0]!;
    const target = t.stores()[2]!.id;
    const seen: TopologyChange[] = [];
    t.changes.on("change", (c) => seen.push(c));
    const after = t.transferLeader(r.id, target);
    expect(after.leader!.storeId).toBe(target);
    expect(after.epoch).toEqual(r.epoch);
    expect(seen[0]).toMatchObject({ kind: "leader", regionId: r.id });
    expect(t.clearLeader(r.id).leader).toBeUndefined();
  });

  it("down and pending peers are tracked per peer", () => {
    let now = 1000;
    const t = bootstrapTopology({ stores: 2, now: () => now });
    const r = t.regions()[0]!;
    const s2 = t.stores()[1]!.id;
    now = 5000;
    const down = t.markPeerDown(r.id, s2);
    const peerId = down.peers.find((p) => p.storeId === s2)!.id;
    expect(down.downPeers).toEqual([{ peerId, sinceMs: 5000 }]);
    expect(t.markPeerPending(r.id, s2).pendingPeers).toEqual([peerId]);
    expect(t.markPeerDown(r.id, s2, false).downPeers).toEqual([]);
    expect(t.markPeerPending(r.id, s2, false).pendingPeers).toEqual([]);
  });

  it("safe ts only advances", () => {
    const t = bootstrapTopology({ splitKeys: ["m"] });
    const [a, bR] = t.regions();
    expect(t.advanceSafeTs(a!.id, 100n).safeTs).toBe(100n);
    expect(t.advanceSafeTs(a!.id, 50n).safeTs).toBe(100n);
    t.advanceAllSafeTs(70n);
    expect(t.regionById(a!.id)!.safeTs).toBe(100n);
    expect(t.regionById(bR!.id)!.safeTs).toBe(70n);
  });
});

describe("stores", () => {
  it("stop/start keep the address; labels and state change", () => {
    const t = bootstrapTopology({ stores: 2, addressOf: (i) => `127.0.0.1:${2000 + i}` });
    const s = t.stores()[0]!;
    expect(s.running).toBe(true);
    expect(t.stopStore(s.id).running).toBe(false);
    expect(t.isStoreRunning(s.id)).toBe(false);
    const again = t.startStore(s.id);
    expect(again.running).toBe(true);
    expect(again.address).toBe("127.0.0.1:2000");
    expect(t.restartStore(s.id).address).toBe("127.0.0.1:2000");
    expect(t.setStoreLabels(s.id, { zone: "z9" }).labels).toEqual([{ key: "zone", value: "z9" }]);
    expect(t.setStoreState(s.id, "offline").state).toBe("offline");
    expectTopologyError(() => t.stopStore(99n), "STORE_NOT_FOUND");
  });

  it("scanRegions honours end and limit like PD", () => {
    const t = bootstrapTopology({ splitKeys: ["b", "d", "f"] });
    expect(t.scanRegions("c", "e").map((r) => r.startKey.toString())).toEqual(["b", "d"]);
    expect(t.scanRegions("c", "", 2).map((r) => r.startKey.toString())).toEqual(["b", "d"]);
    expect(t.scanRegions("", "b").map((r) => r.startKey.toString())).toEqual([""]);
    expect(t.prevRegion("e")!.startKey.toString()).toBe("b");
    expect(t.prevRegion("a")).toBeUndefined();
  });
});

describe("store-facing port", () => {
  it("ClusterTopology satisfies the mock stores' TopologyPort", () => {
    const t = bootstrapTopology({ stores: 2 });
    const port: TopologyPort = t;
    const id = t.regions()[0]!.id;
    const parts = port.split(id, [Buffer.from("k")]);
    expect(parts.map((r) => r.startKey.toString())).toEqual(["", "k"]);
    expect(port.regionState(id)!.leader!.storeId).toBe(t.stores()[0]!.id);
    expect(port.regionsOnStore(t.stores()[1]!.id)).toHaveLength(2);
    expect(port.regionState(12345n)).toBeUndefined();
  });
});

describe("change events", () => {
  it("a throwing listener neither stops other listeners nor the operation; off and once work", () => {
    const t = bootstrapTopology({ stores: 2 });
    const r = t.regions()[0]!;
    const seen: string[] = [];
    const bad = () => {
      throw new Error("listener bug");
    };
    const good = (c: TopologyChange) => seen.push(c.kind);
    const one = (c: TopologyChange) => seen.push(`once:${c.kind}`);
    t.changes.on("change", bad);
    t.changes.on("change", good);
    t.changes.once("change", one);
    expect(t.transferLeader(r.id, t.stores()[1]!.id).leader!.storeId).toBe(t.stores()[1]!.id);
    t.changes.off("change", good);
    t.markPeerPending(r.id, t.stores()[0]!.id);
    expect(seen).toEqual(["leader", "once:leader"]);
    expect(t.changes.listenerCount("change")).toBe(1);
  });
});
