import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster, EmbeddedClusterError } from "../../src/cluster/embedded-cluster.js";
import { RegionErrors } from "../../src/cluster/tikv/region-errors.js";
import type { RegionInfo } from "../../src/cluster/topology/types.js";
import { encodeBytes } from "../../src/kv/memcomparable.js";
import * as kv from "../../src/proto/kvrpcpb.js";
import {
  GetMembersRequest,
  GetRegionRequest,
  type GetRegionResponse,
  PDClient,
} from "../../src/proto/pdpb.js";
import { BatchCommandsRequest, type BatchCommandsResponse, type TikvClient } from "../../src/proto/tikvpb.js";
import { b, call, newClient } from "./tikv/helpers.js";

let cluster: EmbeddedCluster;
const clients = new Map<bigint, TikvClient>();

function client(storeId: bigint): TikvClient {
  let c = clients.get(storeId);
  if (!c) {
    c = newClient(cluster.store(storeId).address);
    clients.set(storeId, c);
  }
  return c;
}

/** Context for `key`'s region, addressed to its leader (or to `storeId`). */
function route(key: string, storeId?: bigint): { ctx: kv.Context; region: RegionInfo; store: bigint } {
  const region = cluster.topology.locateKey(b(key));
  if (!region) throw new Error("no region");
  const peer = storeId === undefined ? region.leader : region.region.peers.find((p) => p.storeId === storeId);
  if (!peer) throw new Error("no peer");
  const ctx = kv.Context.fromPartial({ regionId: region.id, regionEpoch: region.region.regionEpoch, peer });
  return { ctx, region, store: peer.storeId };
}

beforeAll(async () => {
  cluster = await EmbeddedCluster.start({ stores: 3, splitKeys: ["m"] });
});
afterAll(async () => {
  for (const c of clients.values()) c.close();
  await cluster.close();
});
afterEach(() => cluster.faults.clear());

describe("EmbeddedCluster", () => {
  it("starts the stores on loopback with their addresses in the topology", () => {
    expect(cluster.stores).toHaveLength(3);
    for (const s of cluster.stores) {
      expect(s.running).toBe(true);
      expect(s.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(cluster.topology.store(s.storeId)?.address).toBe(s.address);
    }
    expect(cluster.topology.regions().map((r) => r.endKey.toString())).toEqual(["m", ""]);
  });

  it("runs a transaction through the leaders and reads it back from any store's engine", async () => {
    const a = route("a");
    const n = route("n");
    const pw = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
      client(a.store),
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({
        context: a.ctx,
        mutations: [{ op: kv.Op.Put, key: b("a"), value: b("1") }],
        primaryLock: b("a"),
        startVersion: 10n,
        lockTtl: 3000n,
      }),
    );
    expect(pw.regionError).toBeUndefined();
    expect(pw.errors).toEqual([]);
    const pw2 = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
      client(n.store),
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({
        context: n.ctx,
        mutations: [{ op: kv.Op.Put, key: b("n"), value: b("2") }],
        primaryLock: b("a"),
        startVersion: 10n,
        lockTtl: 3000n,
      }),
    );
    expect(pw2.errors).toEqual([]);
    // a read at a later ts meets the lock
    const locked = await call<kv.GetRequest, kv.GetResponse>(
      client(a.store),
      "kvGet",
      kv.GetRequest.fromPartial({ context: a.ctx, key: b("a"), version: 20n }),
    );
    expect(locked.error?.locked?.primaryLock).toEqual(b("a"));
    for (const r of [a, n]) {
      const key = r === a ? "a" : "n";
      const cm = await call<kv.CommitRequest, kv.CommitResponse>(
        client(r.store),
        "kvCommit",
        kv.CommitRequest.fromPartial({
          context: r.ctx,
          keys: [b(key)],
          startVersion: 10n,
          commitVersion: 11n,
        }),
      );
      expect(cm.error).toBeUndefined();
      expect(cm.regionError).toBeUndefined();
    }
    const got = await call<kv.GetRequest, kv.GetResponse>(
      client(n.store),
      "kvGet",
      kv.GetRequest.fromPartial({ context: n.ctx, key: b("n"), version: 20n }),
    );
    expect(got.value).toEqual(b("2"));
  });

  it("reports NotLeader with the new leader after a leader transfer", async () => {
    const before = route("a");
    const other = before.region.peers.find((p) => p.storeId !== before.store);
    if (!other) throw new Error("setup");
    cluster.topology.transferLeader(before.region.id, other.storeId);
    try {
      const r = await call<kv.RawGetRequest, kv.RawGetResponse>(
        client(before.store),
        "rawGet",
        kv.RawGetRequest.fromPartial({ context: before.ctx, key: b("a") }),
      );
      expect(r.regionError?.notLeader?.leader?.storeId).toBe(other.storeId);
      const after = route("a");
      const ok = await call<kv.RawGetRequest, kv.RawGetResponse>(
        client(after.store),
        "rawGet",
        kv.RawGetRequest.fromPartial({ context: after.ctx, key: b("a") }),
      );
      expect(ok.regionError).toBeUndefined();
    } finally {
      cluster.topology.transferLeader(before.region.id, before.store);
    }
  });

  it("SplitRegion splits the shared topology; the old epoch then gets EpochNotMatch", async () => {
    const r = route("s");
    const resp = await call<kv.SplitRegionRequest, kv.SplitRegionResponse>(
      client(r.store),
      "splitRegion",
      kv.SplitRegionRequest.fromPartial({ context: r.ctx, splitKey: b("t"), isRawKv: true }),
    );
    expect(resp.regionError).toBeUndefined();
    expect(resp.left?.endKey).toEqual(b("t"));
    expect(cluster.topology.locateKey(b("t"))?.startKey).toEqual(b("t"));
    const stale = await call<kv.RawGetRequest, kv.RawGetResponse>(
      client(r.store),
      "rawGet",
      kv.RawGetRequest.fromPartial({ context: r.ctx, key: b("u") }),
    );
    expect(stale.regionError?.epochNotMatch?.currentRegions.map((x) => x.id)).toEqual([
      r.region.id,
      resp.left?.id,
    ]);
  });

  it("stopStore refuses connections; startStore serves again on the same address", async () => {
    const r = route("a");
    const addr = cluster.store(r.store).address;
    await cluster.stopStore(r.store);
    expect(cluster.topology.isStoreRunning(r.store)).toBe(false);
    const c = newClient(addr);
    const req = kv.RawGetRequest.fromPartial({ context: r.ctx, key: b("a") });
    await expect(call(c, "rawGet", req)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    c.close();
    await cluster.startStore(r.store);
    expect(cluster.topology.isStoreRunning(r.store)).toBe(true);
    expect(cluster.store(r.store).address).toBe(addr);
    const c2 = newClient(addr);
    const ok = await call<kv.RawGetRequest, kv.RawGetResponse>(c2, "rawGet", req);
    c2.close();
    expect(ok.regionError).toBeUndefined();
  });

  it("stopStore with failover moves leadership to a running voter; without quorum none leads", async () => {
    const c = await EmbeddedCluster.start({ stores: 3 });
    try {
      const region = c.topology.regions()[0];
      const first = region?.leader?.storeId as bigint;
      await c.stopStore(first, { failover: true });
      const second = c.topology.regionById(region?.id as bigint)?.leader?.storeId as bigint;
      expect(second).not.toBe(first);
      expect(c.topology.isStoreRunning(second)).toBe(true);
      await c.stopStore(second, { failover: true });
      expect(c.topology.regionById(region?.id as bigint)?.leader).toBeUndefined();
      await c.startStore(first);
      expect(c.electLeaders()).toEqual([region?.id]);
      expect(c.topology.regionById(region?.id as bigint)?.leader?.storeId).toBe(first);
    } finally {
      await c.close();
    }
  });

  it("stopping a store through the topology stops its server too", async () => {
    const id = cluster.stores[2]?.storeId as bigint;
    cluster.topology.stopStore(id);
    await expect.poll(() => cluster.store(id).running).toBe(false);
    cluster.topology.startStore(id);
    await expect.poll(() => cluster.store(id).running).toBe(true);
  });

  it("faults are shared by all stores and scoped as asked", async () => {
    const a = route("a");
    const n = route("n");
    cluster.faults.failNext({
      rpc: "RawGet",
      storeId: a.store,
      regionId: a.region.id,
      count: 2,
      error: { regionError: RegionErrors.serverIsBusy() },
    });
    const get = (r: typeof a, key: string) =>
      call<kv.RawGetRequest, kv.RawGetResponse>(
        client(r.store),
        "rawGet",
        kv.RawGetRequest.fromPartial({ context: r.ctx, key: b(key) }),
      );
    const seen = [await get(a, "a"), await get(n, "n"), await get(a, "a"), await get(a, "a")].map((r) =>
      Boolean(r.regionError?.serverIsBusy),
    );
    expect(seen).toEqual([true, a.store === n.store && a.region.id === n.region.id, true, false]);
    expect(cluster.faults.calls({ rpc: "RawGet" })).toBe(4);
  });

  it("async-commit prewrites fail while a region's max_ts is not synced", async () => {
    const a = route("a");
    cluster.markMaxTsNotSynced(a.region.id);
    const req = kv.PrewriteRequest.fromPartial({
      context: a.ctx,
      mutations: [{ op: kv.Op.Put, key: b("ac"), value: b("1") }],
      primaryLock: b("ac"),
      startVersion: 30n,
      lockTtl: 3000n,
      useAsyncCommit: true,
      secondaries: [],
    });
    const r = await call<kv.PrewriteRequest, kv.PrewriteResponse>(client(a.store), "kvPrewrite", req);
    expect(r.regionError?.maxTimestampNotSynced).toBeDefined();
    cluster.markMaxTsNotSynced(a.region.id, false);
    const ok = await call<kv.PrewriteRequest, kv.PrewriteResponse>(client(a.store), "kvPrewrite", req);
    expect(ok.regionError).toBeUndefined();
  });

  it("disk usage: almost-full leaders take only writes that allow it, full ones none (client-go TestCommitOnTiKVDiskFullOpt)", async () => {
    const a = route("a");
    const put = (opt: kv.DiskFullOpt) =>
      call<kv.RawPutRequest, kv.RawPutResponse>(
        client(a.store),
        "rawPut",
        kv.RawPutRequest.fromPartial({
          context: { ...a.ctx, diskFullOpt: opt },
          key: b("df"),
          value: b("v"),
        }),
      );
    cluster.setDiskUsage(a.store, "almostFull");
    try {
      const refused = await put(kv.DiskFullOpt.NotAllowedOnFull);
      expect(refused.regionError?.diskFull).toEqual({
        storeId: [a.store],
        reason:
          "propose failed: tikv disk full, cmd diskFullOpt=NotAllowedOnFull, leader diskUsage=AlmostFull",
      });
      expect((await put(kv.DiskFullOpt.AllowedOnAlmostFull)).regionError).toBeUndefined();
      cluster.setDiskUsage(a.store, "alreadyFull");
      expect((await put(kv.DiskFullOpt.AllowedOnAlmostFull)).regionError?.diskFull?.storeId).toEqual([
        a.store,
      ]);
      // reads on the leader are not affected
      const g = await call<kv.RawGetRequest, kv.RawGetResponse>(
        client(a.store),
        "rawGet",
        kv.RawGetRequest.fromPartial({ context: a.ctx, key: b("df") }),
      );
      expect(g.value).toEqual(b("v"));
      cluster.setDiskUsage(a.store, "normal");
      // a majority of full followers blocks writes
      const followers = a.region.peers.filter((p) => p.storeId !== a.store);
      for (const f of followers) cluster.setDiskUsage(f.storeId, "alreadyFull");
      const blocked = await put(kv.DiskFullOpt.AllowedOnAlmostFull);
      expect(blocked.regionError?.diskFull?.storeId.sort()).toEqual(followers.map((f) => f.storeId).sort());
      // and a full follower refuses replica reads
      const f = followers[0]?.storeId as bigint;
      const fr = route("a", f);
      fr.ctx.replicaRead = true;
      const rr = await call<kv.RawGetRequest, kv.RawGetResponse>(
        client(f),
        "rawGet",
        kv.RawGetRequest.fromPartial({ context: fr.ctx, key: b("df") }),
      );
      expect(rr.regionError?.diskFull?.reason).toBe("reject follower read request when self disk is full");
    } finally {
      for (const s of cluster.stores) cluster.setDiskUsage(s.storeId, "normal");
    }
  });

  it("GetLockWaitInfo lists a pessimistic lock waiter until the holder rolls back", async () => {
    const a = route("a");
    const lock = (startTs: bigint, waitTimeout: bigint) =>
      call<kv.PessimisticLockRequest, kv.PessimisticLockResponse>(
        client(a.store),
        "kvPessimisticLock",
        kv.PessimisticLockRequest.fromPartial({
          context: a.ctx,
          mutations: [{ op: kv.Op.PessimisticLock, key: b("bl") }],
          primaryLock: b("bl"),
          startVersion: startTs,
          forUpdateTs: startTs,
          lockTtl: 20_000n,
          waitTimeout,
        }),
      );
    const first = await lock(100n, 0n);
    expect(first.regionError).toBeUndefined();
    expect(first.errors).toEqual([]);
    const waiting = lock(200n, 5_000n);
    const info = async () =>
      (
        await call<kv.GetLockWaitInfoRequest, kv.GetLockWaitInfoResponse>(
          client(a.store),
          "getLockWaitInfo",
          kv.GetLockWaitInfoRequest.fromPartial({}),
        )
      ).entries;
    await expect
      .poll(async () => (await info()).map((e) => [e.txn, e.waitForTxn]), { timeout: 5000, interval: 20 })
      .toEqual([[200n, 100n]]);
    await call(
      client(a.store),
      "kvPessimisticRollback",
      kv.PessimisticRollbackRequest.fromPartial({
        context: a.ctx,
        keys: [b("bl")],
        startVersion: 100n,
        forUpdateTs: 100n,
      }),
    );
    // a legacy (WakeUpModeNormal) waiter is woken with a retryable write conflict
    const woken = await waiting;
    expect(woken.errors[0]?.conflict?.conflictTs).toBe(100n);
    expect(await info()).toEqual([]);
    await call(
      client(a.store),
      "kvPessimisticRollback",
      kv.PessimisticRollbackRequest.fromPartial({
        context: a.ctx,
        keys: [b("bl")],
        startVersion: 200n,
        forUpdateTs: 200n,
      }),
    );
  });

  it("serves BatchCommands against the real engines", async () => {
    const a = route("a");
    const stream = client(a.store).batchCommands();
    const got = await new Promise<BatchCommandsResponse>((resolve, reject) => {
      stream.on("data", (m: BatchCommandsResponse) => {
        stream.end();
        resolve(m);
      });
      stream.on("error", reject);
      stream.write(
        BatchCommandsRequest.fromPartial({
          requestIds: [1n, 2n],
          requests: [
            {
              cmd: {
                $case: "Get",
                Get: kv.GetRequest.fromPartial({ context: a.ctx, key: b("a"), version: 20n }),
              },
            },
            {
              cmd: {
                $case: "RawBatchGet",
                RawBatchGet: kv.RawBatchGetRequest.fromPartial({ context: a.ctx, keys: [b("zz")] }),
              },
            },
          ],
        }),
      );
    });
    expect(got.requestIds).toHaveLength(2);
    const g = got.responses[got.requestIds.indexOf(1n)]?.cmd;
    expect(g?.$case === "Get" && g.Get.value).toEqual(b("1"));
  });

  it("rejects bad options with a typed error", async () => {
    await expect(EmbeddedCluster.start({ stores: 0 })).rejects.toBeInstanceOf(EmbeddedClusterError);
    await expect(EmbeddedCluster.start({ apiVersion: "v9" as never })).rejects.toBeInstanceOf(
      EmbeddedClusterError,
    );
  });
});

function pdGetRegion(endpoint: string, key: Buffer, clusterId: bigint): Promise<GetRegionResponse> {
  const pd = new PDClient(endpoint, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    pd.getRegion(GetRegionRequest.fromPartial({ header: { clusterId }, regionKey: key }), (e, r) => {
      pd.close();
      if (e) reject(e);
      else resolve(r);
    }),
  );
}

describe("EmbeddedCluster with PD", () => {
  it("serves PD on pdEndpoints with the stores' topology (raw boundaries under v1 by default)", async () => {
    expect(cluster.pdEndpoints).toHaveLength(1);
    expect(cluster.regionKeyEncoding).toBe("raw");
    const r = await pdGetRegion(cluster.pdEndpoints[0] as string, b("a"), cluster.clusterId);
    const want = cluster.topology.locateKey(b("a"));
    expect(r.region?.id).toBe(want?.id);
    expect(r.region?.endKey).toEqual(b("m"));
    expect(r.leader?.storeId).toBe(want?.leader?.storeId);
  });

  it("v2 / memcomparable clusters encode boundaries in PD answers and in region errors alike", async () => {
    const c = await EmbeddedCluster.start({
      stores: 1,
      splitKeys: ["x\0\0\0m"],
      apiVersion: "v2",
      pdMembers: 2,
    });
    const tc = newClient(c.stores[0]?.address as string);
    try {
      expect(c.pdEndpoints).toHaveLength(2);
      expect(c.regionKeyEncoding).toBe("memcomparable");
      const split = b("x\0\0\0m");
      const pdAnswer = await pdGetRegion(c.pdEndpoints[0] as string, encodeBytes(b("x\0\0\0a")), c.clusterId);
      expect(pdAnswer.region?.endKey).toEqual(encodeBytes(split));
      const left = c.topology.locateKey(b("x\0\0\0a"));
      if (!left?.leader) throw new Error("setup");
      const ctx = kv.Context.fromPartial({
        regionId: left.id,
        regionEpoch: left.region.regionEpoch,
        peer: left.leader,
        apiVersion: kv.APIVersion.V2,
      });
      const r = await call<kv.GetRequest, kv.GetResponse>(
        tc,
        "kvGet",
        kv.GetRequest.fromPartial({ context: ctx, key: b("x\0\0\0z"), version: 5n }),
      );
      expect(r.regionError?.keyNotInRegion?.endKey).toEqual(encodeBytes(split));
      expect(r.regionError?.keyNotInRegion?.key).toEqual(encodeBytes(b("x\0\0\0z")));
      ctx.regionEpoch = { confVer: 1n, version: 1n };
      const stale = await call<kv.GetRequest, kv.GetResponse>(
        tc,
        "kvGet",
        kv.GetRequest.fromPartial({ context: ctx, key: b("x\0\0\0a"), version: 5n }),
      );
      expect(stale.regionError?.epochNotMatch?.currentRegions[0]?.endKey).toEqual(encodeBytes(split));
      // a v1 request on v2 storage must use TiDB keys
      ctx.regionEpoch = left.region.regionEpoch;
      ctx.apiVersion = kv.APIVersion.V1;
      const v1 = await call<kv.GetRequest, kv.GetResponse>(
        tc,
        "kvGet",
        kv.GetRequest.fromPartial({ context: ctx, key: b("x\0\0\0a"), version: 5n }),
      );
      expect(v1.error?.abort).toBe(
        'Error(InvalidKeyMode { cmd: get, storage_api_version: V2, key: "7800000061" })',
      );
    } finally {
      tc.close();
      await c.close();
    }
  });

  it("stops PD with the cluster", async () => {
    const c = await EmbeddedCluster.start({ stores: 1 });
    const ep = c.pdEndpoints[0] as string;
    await c.close();
    const pd = new PDClient(ep, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      pd.getMembers(GetMembersRequest.fromPartial({}), (e) => resolve(e)),
    );
    pd.close();
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe("max_ts sync after a leader change", () => {
  it("async-commit prewrites fail with MaxTimestampNotSynced until the delay has passed", async () => {
    const c = await EmbeddedCluster.start({ stores: 2, maxTsSyncDelayMs: 150 });
    const region = c.topology.regions()[0];
    const other = region?.peers.find((p) => p.storeId !== region.leader?.storeId);
    if (!region || !other) throw new Error("setup");
    const tc = newClient(c.store(other.storeId).address);
    try {
      const r = c.topology.transferLeader(region.id, other.storeId);
      const prewrite = () =>
        call<kv.PrewriteRequest, kv.PrewriteResponse>(
          tc,
          "kvPrewrite",
          kv.PrewriteRequest.fromPartial({
            context: { regionId: r.id, regionEpoch: r.region.regionEpoch, peer: r.leader },
            mutations: [{ op: kv.Op.Put, key: b("k"), value: b("v") }],
            primaryLock: b("k"),
            startVersion: 5n,
            lockTtl: 3000n,
            useAsyncCommit: true,
          }),
        );
      expect((await prewrite()).regionError?.maxTimestampNotSynced).toBeDefined();
      await expect
        .poll(async () => (await prewrite()).regionError, { timeout: 5000, interval: 50 })
        .toBeUndefined();
    } finally {
      tc.close();
      await c.close();
    }
  });
});

describe("EmbeddedCluster options", () => {
  it("cuts `regions` evenly, applies labels, and checks txn api versions", async () => {
    const c = await EmbeddedCluster.start({
      stores: 2,
      regions: 4,
      labels: [{ zone: "z1" }, { zone: "z2" }],
      apiVersion: "v1ttl",
    });
    try {
      expect(c.topology.regions()).toHaveLength(4);
      expect(c.topology.stores().map((s) => s.labels)).toEqual([
        [{ key: "zone", value: "z1" }],
        [{ key: "zone", value: "z2" }],
      ]);
      const region = c.topology.locateKey(b("a"));
      if (!region?.leader) throw new Error("setup");
      const cl = newClient(c.store(region.leader.storeId).address);
      try {
        const ctx = kv.Context.fromPartial({
          regionId: region.id,
          regionEpoch: region.region.regionEpoch,
          peer: region.leader,
        });
        const g = await call<kv.GetRequest, kv.GetResponse>(
          cl,
          "kvGet",
          kv.GetRequest.fromPartial({ context: ctx, key: b("a"), version: 5n }),
        );
        // V1TTL storage serves raw requests only
        expect(g.error?.abort).toBe(
          "Error(ApiVersionNotMatched { cmd: get, storage_api_version: V1ttl, req_api_version: V1 })",
        );
        const p = await call<kv.RawPutRequest, kv.RawPutResponse>(
          cl,
          "rawPut",
          kv.RawPutRequest.fromPartial({ context: ctx, key: b("a"), value: b("v"), ttl: 60n }),
        );
        expect(p.error).toBe("");
      } finally {
        cl.close();
      }
    } finally {
      await c.close();
    }
  });
});
