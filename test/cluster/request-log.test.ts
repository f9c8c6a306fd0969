// The embedded cluster's request log: every request a store serves (unary and BatchCommands
// sub-requests alike) is recorded with its store, peer, leadership, read flags and outcome.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TikvClient as Client } from "../../src/api/tikv-client.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { RequestLog } from "../../src/cluster/tikv/request-log.js";
import * as kv from "../../src/proto/kvrpcpb.js";
import type { Peer, Region } from "../../src/proto/metapb.js";
import type { TikvClient } from "../../src/proto/tikvpb.js";
import type { ServedRequest } from "../../src/testing.js";
import { call, newClient } from "./tikv/helpers.js";

let cluster: EmbeddedCluster;
let region: Region;
let leader: Peer;
let follower: Peer;
const stubs = new Map<bigint, TikvClient>();

beforeAll(async () => {
  // Safe ts is moved by hand here: the stale-read cases need it frozen.
  cluster = await EmbeddedCluster.start({ stores: 3, resolvedTsIntervalMs: 0 });
  const info = cluster.topology.regions()[0]!;
  region = info.region;
  leader = info.leader!;
  follower = region.peers.find((p) => p.id !== leader.id)!;
  cluster.topology.advanceSafeTs(region.id, 100n);
  for (const s of cluster.stores) stubs.set(s.storeId, newClient(s.address));
});
afterAll(async () => {
  for (const c of stubs.values()) c.close();
  await cluster.close();
});

function ctxFor(peer: Peer, extra: Partial<kv.Context> = {}): kv.Context {
  return kv.Context.fromPartial({
    regionId: region.id,
    peer,
    regionEpoch: region.regionEpoch,
    ...extra,
  });
}

function kvGet(peer: Peer, version: bigint, extra: Partial<kv.Context> = {}): Promise<kv.GetResponse> {
  const stub = stubs.get(peer.storeId)!;
  return call(
    stub,
    "kvGet",
    kv.GetRequest.fromPartial({ context: ctxFor(peer, extra), key: Buffer.from("k"), version }),
  );
}

describe("recordRequests", () => {
  it("records leader, replica and stale reads and region errors with their fields", async () => {
    const rec = cluster.recordRequests();
    const before = Date.now();
    await kvGet(leader, 50n);
    await kvGet(follower, 50n, { replicaRead: true });
    await kvGet(follower, 90n, { staleRead: true });
    const notLeader = await kvGet(follower, 50n);
    expect(notLeader.regionError?.notLeader).toBeDefined();
    const notReady = await kvGet(follower, 200n, { staleRead: true });
    expect(notReady.regionError?.dataIsNotReady).toBeDefined();
    rec.stop();

    const base = {
      rpc: "KvGet",
      regionId: region.id,
      resourceGroupName: "",
      overridePriority: 0n,
      requestSource: "",
      resourceGroupTag: "",
    };
    expect(rec.entries).toEqual<ServedRequest[]>([
      {
        ...base,
        storeId: leader.storeId,
        peerId: leader.id,
        isLeader: true,
        replicaRead: false,
        staleRead: false,
        outcome: "ok",
        atMs: expect.any(Number),
      },
      {
        ...base,
        storeId: follower.storeId,
        peerId: follower.id,
        isLeader: false,
        replicaRead: true,
        staleRead: false,
        outcome: "ok",
        atMs: expect.any(Number),
      },
      {
        ...base,
        storeId: follower.storeId,
        peerId: follower.id,
        isLeader: false,
        replicaRead: false,
        staleRead: true,
        outcome: "ok",
        atMs: expect.any(Number),
      },
      {
        ...base,
        storeId: follower.storeId,
        peerId: follower.id,
        isLeader: false,
        replicaRead: false,
        staleRead: false,
        outcome: "regionError",
        regionError: "notLeader",
        atMs: expect.any(Number),
      },
      {
        ...base,
        storeId: follower.storeId,
        peerId: follower.id,
        isLeader: false,
        replicaRead: false,
        staleRead: true,
        outcome: "regionError",
        regionError: "dataIsNotReady",
        atMs: expect.any(Number),
      },
    ]);
    for (const e of rec.entries) {
      expect(e.atMs).toBeGreaterThanOrEqual(before);
      expect(e.atMs).toBeLessThanOrEqual(Date.now());
    }
  });

  it("records a key error and injected region errors", async () => {
    const stub = stubs.get(leader.storeId)!;
    const rec = cluster.recordRequests();
    const pre = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
      stub,
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({
        context: ctxFor(leader),
        mutations: [{ op: kv.Op.Put, key: Buffer.from("locked"), value: Buffer.from("v") }],
        primaryLock: Buffer.from("locked"),
        startVersion: 10n,
        lockTtl: 60_000n,
      }),
    );
    expect(pre.errors).toEqual([]);
    const got = await call<kv.GetRequest, kv.GetResponse>(
      stub,
      "kvGet",
      kv.GetRequest.fromPartial({ context: ctxFor(leader), key: Buffer.from("locked"), version: 20n }),
    );
    expect(got.error?.locked).toBeDefined();
    cluster.faults.failNext({
      rpc: "KvGet",
      error: { regionError: { serverIsBusy: { reason: "injected" } } },
    });
    await kvGet(leader, 5n);
    rec.stop();
    expect(rec.entries.map((e) => [e.rpc, e.outcome, e.regionError])).toEqual([
      ["KvPrewrite", "ok", undefined],
      ["KvGet", "keyError", undefined],
      ["KvGet", "regionError", "serverIsBusy"],
    ]);
    await call(
      stub,
      "kvBatchRollback",
      kv.BatchRollbackRequest.fromPartial({
        context: ctxFor(leader),
        keys: [Buffer.from("locked")],
        startVersion: 10n,
      }),
    );
  });

  it("filters by rpc name, stops, clears, and keeps recorders independent", async () => {
    const gets = cluster.recordRequests({ rpcs: ["KvGet"] });
    const all = cluster.recordRequests();
    await kvGet(leader, 50n);
    await call(
      stubs.get(leader.storeId)!,
      "kvScan",
      kv.ScanRequest.fromPartial({
        context: ctxFor(leader),
        startKey: Buffer.from("a"),
        limit: 10,
        version: 50n,
      }),
    );
    expect(gets.entries.map((e) => e.rpc)).toEqual(["KvGet"]);
    expect(all.entries.map((e) => e.rpc)).toEqual(["KvGet", "KvScan"]);

    gets.stop();
    await kvGet(leader, 50n);
    expect(gets.entries).toHaveLength(1);
    expect(all.entries.map((e) => e.rpc)).toEqual(["KvGet", "KvScan", "KvGet"]);

    all.clear();
    expect(all.entries).toEqual([]);
    await kvGet(leader, 50n);
    expect(all.entries).toHaveLength(1);
    all.stop();
    await kvGet(leader, 50n);
    expect(all.entries).toHaveLength(1);
    expect(gets.entries).toHaveLength(1);
  });

  it("is not consulted past its one flag check while no recorder runs", async () => {
    const begin = vi.spyOn(RequestLog.prototype, "begin");
    try {
      await kvGet(leader, 50n);
      expect(begin).not.toHaveBeenCalled();
      const rec = cluster.recordRequests();
      await kvGet(leader, 50n);
      rec.stop();
      expect(begin).toHaveBeenCalledTimes(1);
      await kvGet(leader, 50n);
      expect(begin).toHaveBeenCalledTimes(1);
    } finally {
      begin.mockRestore();
    }
  });

  it("records BatchCommands sub-requests under their unary name", async () => {
    const client = await Client.connect({ pdEndpoints: cluster.pdEndpoints });
    try {
      const raw = client.raw();
      await raw.put("bk", "v");
      const rec = cluster.recordRequests({ rpcs: ["RawGet", "RawPut"] });
      expect((await raw.get("bk"))?.toString()).toBe("v");
      await raw.put("bk2", "w");
      rec.stop();
      expect(rec.entries.map((e) => [e.rpc, e.storeId, e.isLeader, e.outcome])).toEqual([
        ["RawGet", leader.storeId, true, "ok"],
        ["RawPut", leader.storeId, true, "ok"],
      ]);
      expect(rec.entries[0]?.regionId).toBe(region.id);
      expect(rec.entries[0]?.peerId).toBe(leader.id);
    } finally {
      await client.close();
    }
  });
});
