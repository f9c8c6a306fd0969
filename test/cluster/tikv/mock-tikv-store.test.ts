import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RawEngine } from "../../../src/cluster/engine/raw/raw-engine.js";
import { FaultRegistry } from "../../../src/cluster/faults/index.js";
import { MockTikvStore } from "../../../src/cluster/tikv/mock-tikv-store.js";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { encodeBytes } from "../../../src/kv/memcomparable.js";
import * as kv from "../../../src/proto/kvrpcpb.js";
import type { TikvClient } from "../../../src/proto/tikvpb.js";
import { b, call, ctx, type EngineCall, FakeTopology, newClient, recordingTxnEngine } from "./helpers.js";

const topology = new FakeTopology()
  // region 1 ["", "m"), leader on store 1, learner on store 3
  .add({
    id: 1,
    end: "m",
    version: 2,
    peers: [
      [11, 1],
      [12, 2],
      [13, 3, true],
    ],
    leader: 11,
    safeTs: 100n,
  })
  // region 2 ["m", "x"), leader on store 1, follower on store 2
  .add({
    id: 2,
    start: "m",
    end: "x",
    version: 2,
    peers: [
      [21, 1],
      [22, 2],
    ],
    leader: 21,
    safeTs: 100n,
  })
  // region 4 ["x", ""), no leader
  .add({
    id: 4,
    start: "x",
    version: 1,
    peers: [
      [41, 1],
      [42, 2],
    ],
  });

const calls: EngineCall[] = [];
const faults = new FaultRegistry();
const raw = new RawEngine();
const txn = recordingTxnEngine(calls);
const lockWaitInfo = () => {
  calls.push({ method: "lockWaitInfo", req: undefined, range: undefined });
  return [
    { txn: 1n, waitForTxn: 2n, keyHash: 3n, key: b("w"), resourceGroupTag: Buffer.alloc(0), waitTime: 0n },
  ];
};
const s1 = new MockTikvStore({ storeId: 1, topology, txn, raw, faults, clusterId: 77n, lockWaitInfo });
const s2 = new MockTikvStore({ storeId: 2, topology, txn, raw, faults, clusterId: 77n });
let c1: TikvClient;
let c2: TikvClient;

beforeAll(async () => {
  await s1.start();
  await s2.start();
  c1 = newClient(s1.address);
  c2 = newClient(s2.address);
});
afterAll(async () => {
  c1.close();
  c2.close();
  await s1.stop();
  await s2.stop();
});
afterEach(() => {
  faults.clear();
  calls.length = 0;
});

const r1 = () => ctx(1, 11, 1, 2);
const r2 = () => ctx(2, 21, 1, 2);

describe("routing to the engines", () => {
  // biome-ignore lint/suspicious/noExplicitAny: each case checks its own response type.
  const cases: [keyof TikvClient, unknown, string, (resp: any) => void][] = [
    [
      "kvGet",
      kv.GetRequest.fromPartial({ context: r1(), key: b("a"), version: 5n }),
      "get",
      (r) => expect(r.value).toEqual(b("txn:a")),
    ],
    [
      "kvBatchGet",
      kv.BatchGetRequest.fromPartial({ context: r1(), keys: [b("a"), b("b")], version: 5n }),
      "batchGet",
      (r) => expect(r.pairs).toHaveLength(2),
    ],
    [
      "kvScan",
      kv.ScanRequest.fromPartial({ context: r1(), startKey: b("a"), limit: 10, version: 5n }),
      "scan",
      (r) => expect(r.pairs[0].key).toEqual(b("s")),
    ],
    [
      "kvBufferBatchGet",
      kv.BufferBatchGetRequest.fromPartial({ context: r1(), keys: [b("a")], version: 5n }),
      "bufferBatchGet",
      (r) => expect(r.regionError).toBeUndefined(),
    ],
    [
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({
        context: r1(),
        mutations: [{ key: b("a"), value: b("1") }],
        primaryLock: b("a"),
        startVersion: 5n,
      }),
      "prewrite",
      (r) => expect(r.minCommitTs).toBe(7n),
    ],
    [
      "kvCommit",
      kv.CommitRequest.fromPartial({ context: r1(), keys: [b("a")], startVersion: 5n, commitVersion: 6n }),
      "commit",
      (r) => expect(r.commitVersion).toBe(6n),
    ],
    [
      "kvBatchRollback",
      kv.BatchRollbackRequest.fromPartial({ context: r1(), keys: [b("a")], startVersion: 5n }),
      "batchRollback",
      (r) => expect(r.error).toBeUndefined(),
    ],
    [
      "kvPessimisticLock",
      kv.PessimisticLockRequest.fromPartial({
        context: r1(),
        mutations: [{ key: b("a") }],
        primaryLock: b("a"),
        startVersion: 5n,
        forUpdateTs: 5n,
      }),
      "pessimisticLock",
      (r) => expect(r.values).toEqual([b("locked")]),
    ],
    [
      "kvPessimisticRollback",
      kv.PessimisticRollbackRequest.fromPartial({
        context: r1(),
        keys: [b("a")],
        startVersion: 5n,
        forUpdateTs: 5n,
      }),
      "pessimisticRollback",
      (r) => expect(r.errors).toEqual([]),
    ],
    [
      "kvTxnHeartBeat",
      kv.TxnHeartBeatRequest.fromPartial({ context: r1(), primaryLock: b("a"), startVersion: 5n }),
      "txnHeartBeat",
      (r) => expect(r.lockTtl).toBe(3000n),
    ],
    [
      "kvCheckTxnStatus",
      kv.CheckTxnStatusRequest.fromPartial({ context: r1(), primaryKey: b("a"), lockTs: 5n }),
      "checkTxnStatus",
      (r) => expect(r.commitVersion).toBe(9n),
    ],
    [
      "kvCheckSecondaryLocks",
      kv.CheckSecondaryLocksRequest.fromPartial({ context: r1(), keys: [b("a")], startVersion: 5n }),
      "checkSecondaryLocks",
      (r) => expect(r.commitTs).toBe(11n),
    ],
    [
      "kvResolveLock",
      kv.ResolveLockRequest.fromPartial({ context: r1(), startVersion: 5n }),
      "resolveLock",
      (r) => expect(r.error).toBeUndefined(),
    ],
    [
      "kvScanLock",
      kv.ScanLockRequest.fromPartial({ context: r1(), startKey: b("a"), maxVersion: 5n }),
      "scanLock",
      (r) => expect(r.locks[0].key).toEqual(b("l")),
    ],
    [
      "kvFlush",
      kv.FlushRequest.fromPartial({
        context: r1(),
        mutations: [{ key: b("a") }],
        primaryKey: b("a"),
        startTs: 5n,
      }),
      "flush",
      (r) => expect(r.errors).toEqual([]),
    ],
    [
      "broadcastTxnStatus",
      kv.BroadcastTxnStatusRequest.fromPartial({ context: r1() }),
      "broadcastTxnStatus",
      (r) => expect(r).toEqual({}),
    ],
    [
      "kvDeleteRange",
      kv.DeleteRangeRequest.fromPartial({ context: r1(), startKey: b("a"), endKey: b("c") }),
      "deleteRange",
      (r) => expect(r.error).toBe(""),
    ],
    [
      "mvccGetByKey",
      kv.MvccGetByKeyRequest.fromPartial({ context: r1(), key: b("a") }),
      "mvccGetByKey",
      (r) => expect(r.info).toBeDefined(),
    ],
    [
      "mvccGetByStartTs",
      kv.MvccGetByStartTsRequest.fromPartial({ context: r1(), startTs: 5n }),
      "mvccGetByStartTs",
      (r) => expect(r.key).toEqual(b("m")),
    ],
    [
      "getLockWaitInfo",
      kv.GetLockWaitInfoRequest.fromPartial({ context: r1() }),
      "lockWaitInfo",
      (r) => expect(r.entries[0].key).toEqual(b("w")),
    ],
    [
      "unsafeDestroyRange",
      kv.UnsafeDestroyRangeRequest.fromPartial({ context: r1(), startKey: b("a"), endKey: b("b") }),
      "unsafeDestroyRange",
      (r) => expect(r.error).toBe(""),
    ],
  ];
  for (const [method, req, engineMethod, check] of cases) {
    it(`${String(method)} runs TxnEngine.${engineMethod}`, async () => {
      const resp = await call(c1, method, req);
      expect(calls.map((c) => c.method)).toEqual([engineMethod]);
      check(resp);
    });
  }

  it("passes the region range to range-limited commands only", async () => {
    await call(
      c1,
      "kvScan",
      kv.ScanRequest.fromPartial({ context: r2(), startKey: b("n"), limit: 1, version: 5n }),
    );
    await call(c1, "kvResolveLock", kv.ResolveLockRequest.fromPartial({ context: r2(), startVersion: 5n }));
    await call(
      c1,
      "kvResolveLock",
      kv.ResolveLockRequest.fromPartial({ context: r2(), startVersion: 5n, keys: [b("n")] }),
    );
    await call(c1, "kvGet", kv.GetRequest.fromPartial({ context: r2(), key: b("n"), version: 5n }));
    expect(calls.map((c) => c.range)).toEqual([
      { start: b("m"), end: b("x") },
      { start: b("m"), end: b("x") },
      undefined,
      undefined,
    ]);
  });

  it("serves raw commands from the RawEngine", async () => {
    const put = await call<kv.RawPutRequest, kv.RawPutResponse>(
      c1,
      "rawPut",
      kv.RawPutRequest.fromPartial({ context: r1(), key: b("ak"), value: b("rv") }),
    );
    expect(put.error).toBe("");
    const get = await call<kv.RawGetRequest, kv.RawGetResponse>(
      c1,
      "rawGet",
      kv.RawGetRequest.fromPartial({ context: r1(), key: b("ak") }),
    );
    expect(get.value).toEqual(b("rv"));
    const scan = await call<kv.RawScanRequest, kv.RawScanResponse>(
      c1,
      "rawScan",
      kv.RawScanRequest.fromPartial({ context: r1(), startKey: b("a"), limit: 10 }),
    );
    expect(scan.kvs.map((p) => p.key.toString())).toEqual(["ak"]);
    const cas = await call<kv.RawCASRequest, kv.RawCASResponse>(
      c1,
      "rawCompareAndSwap",
      kv.RawCASRequest.fromPartial({ context: r1(), key: b("ak"), previousValue: b("rv"), value: b("rv2") }),
    );
    expect(cas.succeed).toBe(true);
    const ttl = await call<kv.RawGetKeyTTLRequest, kv.RawGetKeyTTLResponse>(
      c1,
      "rawGetKeyTtl",
      kv.RawGetKeyTTLRequest.fromPartial({ context: r1(), key: b("ak") }),
    );
    expect(ttl.notFound).toBe(false);
    const del = await call<kv.RawDeleteRequest, kv.RawDeleteResponse>(
      c1,
      "rawDelete",
      kv.RawDeleteRequest.fromPartial({ context: r1(), key: b("ak") }),
    );
    expect(del.error).toBe("");
    const gone = await call<kv.RawGetRequest, kv.RawGetResponse>(
      c1,
      "rawGet",
      kv.RawGetRequest.fromPartial({ context: r1(), key: b("ak") }),
    );
    expect(gone.notFound).toBe(true);
    expect(calls).toEqual([]);
  });
});

describe("raw batch and range RPCs", () => {
  it("route to the RawEngine, limited to the region range where TiKV limits them", async () => {
    const c = r2(); // region ["m", "x")
    raw.rawPut(kv.RawPutRequest.fromPartial({ key: b("y1"), value: b("beyond the region") }));
    const bp = await call<kv.RawBatchPutRequest, kv.RawBatchPutResponse>(
      c1,
      "rawBatchPut",
      kv.RawBatchPutRequest.fromPartial({
        context: c,
        pairs: ["n1", "n2", "n3"].map((k) => ({ key: b(k), value: b(`v-${k}`) })),
      }),
    );
    expect(bp.error).toBe("");
    const bg = await call<kv.RawBatchGetRequest, kv.RawBatchGetResponse>(
      c1,
      "rawBatchGet",
      kv.RawBatchGetRequest.fromPartial({ context: c, keys: [b("n1"), b("n3")] }),
    );
    expect(bg.pairs.map((p) => p.value.toString())).toEqual(["v-n1", "v-n3"]);
    const bs = await call<kv.RawBatchScanRequest, kv.RawBatchScanResponse>(
      c1,
      "rawBatchScan",
      kv.RawBatchScanRequest.fromPartial({
        context: c,
        ranges: [{ startKey: b("n"), endKey: b("") }],
        eachLimit: 10,
      }),
    );
    // the unbounded range stops at the region end
    expect(bs.kvs.map((p) => p.key.toString())).toEqual(["n1", "n2", "n3"]);
    const cs = await call<kv.RawChecksumRequest, kv.RawChecksumResponse>(
      c1,
      "rawChecksum",
      kv.RawChecksumRequest.fromPartial({ context: c, ranges: [{ startKey: b("m"), endKey: b("x") }] }),
    );
    expect(cs.totalKvs).toBe(3n);
    const unbounded = await call<kv.RawChecksumRequest, kv.RawChecksumResponse>(
      c1,
      "rawChecksum",
      kv.RawChecksumRequest.fromPartial({ context: c, ranges: [{ startKey: b("m"), endKey: b("") }] }),
    );
    expect(unbounded.totalKvs).toBe(3n);
    const bd = await call<kv.RawBatchDeleteRequest, kv.RawBatchDeleteResponse>(
      c1,
      "rawBatchDelete",
      kv.RawBatchDeleteRequest.fromPartial({ context: c, keys: [b("n1")] }),
    );
    expect(bd.error).toBe("");
    const dr = await call<kv.RawDeleteRangeRequest, kv.RawDeleteRangeResponse>(
      c1,
      "rawDeleteRange",
      kv.RawDeleteRangeRequest.fromPartial({ context: c, startKey: b("n2"), endKey: b("n3") }),
    );
    expect(dr.error).toBe("");
    const left = await call<kv.RawScanRequest, kv.RawScanResponse>(
      c1,
      "rawScan",
      kv.RawScanRequest.fromPartial({ context: c, startKey: b("m"), limit: 10 }),
    );
    expect(left.kvs.map((p) => p.key.toString())).toEqual(["n3"]);
  });
});

describe("region checks", () => {
  const get = (client: TikvClient, context: kv.Context, key = "a", version = 50n) =>
    call<kv.GetRequest, kv.GetResponse>(
      client,
      "kvGet",
      kv.GetRequest.fromPartial({ context, key: b(key), version }),
    );
  const put = (client: TikvClient, context: kv.Context, key = "a") =>
    call<kv.RawPutRequest, kv.RawPutResponse>(
      client,
      "rawPut",
      kv.RawPutRequest.fromPartial({ context, key: b(key), value: b("v") }),
    );

  it("StoreNotMatch when context.peer.store_id is another store", async () => {
    const r = await get(c1, ctx(1, 12, 2, 2));
    expect(r.regionError).toEqual(RegionErrors.storeNotMatch(2, 1));
    expect(r.regionError?.message).toBe("to store id 2, mine 1");
    expect(calls).toEqual([]);
  });

  it("RegionNotFound for an unknown region, with the read and write path messages", async () => {
    const r = await get(c1, ctx(99, 11, 1, 2));
    expect(r.regionError?.regionNotFound?.regionId).toBe(99n);
    expect(r.regionError?.message).toBe("region 99 is missing");
    const w = await put(c1, ctx(99, 11, 1, 2));
    expect(w.regionError?.message).toBe("region 99 not found");
  });

  it("RegionNotFound when the region has no peer on this store", async () => {
    const s3Ctx = ctx(2, 23, 3, 2);
    const s3 = new MockTikvStore({ storeId: 3, topology, txn, raw, faults });
    await s3.start();
    const c3 = newClient(s3.address);
    try {
      const r = await get(c3, s3Ctx, "n");
      expect(r.regionError?.regionNotFound?.regionId).toBe(2n);
    } finally {
      c3.close();
      await s3.stop();
    }
  });

  it("MismatchPeerId when the peer id is not this store's peer", async () => {
    const r = await get(c1, ctx(1, 99, 1, 2));
    expect(r.regionError).toEqual(RegionErrors.mismatchPeerId(99, 11));
    expect(r.regionError?.message).toBe("mismatch peer id 99 != 11");
  });

  it("NotLeader with the leader hint on a follower", async () => {
    const r = await get(c2, ctx(1, 12, 2, 2));
    expect(r.regionError?.notLeader).toEqual({
      regionId: 1n,
      leader: { id: 11n, storeId: 1n, role: 0, isWitness: false },
    });
    expect(r.regionError?.message).toBe(
      "peer is not leader for region 1, leader may Some(id: 11 store_id: 1)",
    );
    const w = await put(c2, ctx(1, 12, 2, 2));
    expect(w.regionError?.notLeader?.leader?.id).toBe(11n);
  });

  it("NotLeader without a hint when the region has no leader", async () => {
    const r = await get(c1, ctx(4, 41, 1, 1), "y");
    expect(r.regionError?.notLeader).toEqual({ regionId: 4n, leader: undefined });
    expect(r.regionError?.message).toBe("peer is not leader for region 4, leader may None");
  });

  it("replica read is served by a follower (read index) when a leader exists", async () => {
    const r = await get(c2, ctx(1, 12, 2, 2, { replicaRead: true }));
    expect(r.regionError).toBeUndefined();
    expect(r.value).toEqual(b("txn:a"));
  });

  it("replica read fails with NotLeader (no hint) when the region has no leader", async () => {
    const r = await get(c2, ctx(4, 42, 2, 1, { replicaRead: true }), "y");
    expect(r.regionError?.notLeader).toEqual({ regionId: 4n, leader: undefined });
  });

  it("replica read does not allow writes on a follower", async () => {
    const w = await put(c2, ctx(1, 12, 2, 2, { replicaRead: true }));
    expect(w.regionError?.notLeader?.leader?.id).toBe(11n);
  });

  it("stale read is checked against the region safe ts: DataIsNotReady above it", async () => {
    const ok = await get(c2, ctx(1, 12, 2, 2, { staleRead: true }), "a", 100n);
    expect(ok.regionError).toBeUndefined();
    const r = await get(c2, ctx(1, 12, 2, 2, { staleRead: true }), "a", 101n);
    expect(r.regionError).toEqual(RegionErrors.dataIsNotReady(1, 12, 100n));
    expect(r.regionError?.message).toBe("peer 12 is not ready, safe_ts 100, region 1");
    // a valid leader serves the lagging stale read as a normal read (raftstore read.rs fallback)
    const l = await get(c1, ctx(1, 11, 1, 2, { staleRead: true }), "a", 101n);
    expect(l.regionError).toBeUndefined();
  });

  it("EpochNotMatch carries the region and its left siblings up to the version gap", async () => {
    const r = await get(c1, ctx(2, 21, 1, 1), "n");
    const e = r.regionError;
    expect(e?.epochNotMatch?.currentRegions.map((x) => x.id)).toEqual([2n, 1n]);
    expect(e?.message).toBe(
      "EpochNotMatch current epoch of region 2 is conf_ver: 1 version: 2, but you sent conf_ver: 1 version: 1",
    );
    // a newer epoch than the store's: only the region itself
    const newer = await get(c1, ctx(2, 21, 1, 5), "n");
    expect(newer.regionError?.epochNotMatch?.currentRegions.map((x) => x.id)).toEqual([2n]);
  });

  it("conf_ver is not checked for ordinary requests", async () => {
    const c = ctx(1, 11, 1, 2);
    c.regionEpoch = { confVer: 99n, version: 2n };
    const r = await get(c1, c);
    expect(r.regionError).toBeUndefined();
  });

  it("missing epoch is a region error with TiKV's message", async () => {
    const c = ctx(1, 11, 1, 2);
    c.regionEpoch = undefined;
    const r = await get(c1, c);
    expect(r.regionError?.message).toBe("missing epoch!");
  });

  it("KeyNotInRegion for a key outside the region, with the region bounds", async () => {
    const r = await get(c1, r1(), "z");
    expect(r.regionError?.keyNotInRegion).toEqual({
      key: b("z"),
      regionId: 1n,
      startKey: b(""),
      endKey: b("m"),
    });
    expect(r.regionError?.message).toBe("Key 7A is out of [region 1] [, 6D)");
    const w = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
      c1,
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({
        context: r2(),
        mutations: [{ key: b("n") }, { key: b("a") }],
        startVersion: 1n,
      }),
    );
    expect(w.regionError?.message).toBe("key 61 is not in region key range [6D, 78) for region 2");
    expect(calls).toEqual([]);
  });

  it("scan start keys are checked; a reverse scan may start at the region end", async () => {
    const bad = await call<kv.ScanRequest, kv.ScanResponse>(
      c1,
      "kvScan",
      kv.ScanRequest.fromPartial({ context: r2(), startKey: b("a"), limit: 1, version: 5n }),
    );
    expect(bad.regionError?.keyNotInRegion?.key).toEqual(b("a"));
    const rev = await call<kv.ScanRequest, kv.ScanResponse>(
      c1,
      "kvScan",
      kv.ScanRequest.fromPartial({
        context: r2(),
        startKey: b("x"),
        endKey: b("m"),
        reverse: true,
        limit: 1,
        version: 5n,
      }),
    );
    expect(rev.regionError).toBeUndefined();
  });

  it("a request with another cluster id fails with INVALID_ARGUMENT", async () => {
    await expect(get(c1, ctx(1, 11, 1, 2, { clusterId: 5n }))).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: "the cluster id of the request does not match the TiKV cluster",
    });
    const same = await get(c1, ctx(1, 11, 1, 2, { clusterId: 77n }));
    expect(same.regionError).toBeUndefined();
  });

  it("rejects txn requests whose api version does not match the storage", async () => {
    const r = await get(c1, ctx(1, 11, 1, 2, { apiVersion: kv.APIVersion.V2 }));
    expect(r.error?.abort).toBe(
      "Error(ApiVersionNotMatched { cmd: get, storage_api_version: V1, req_api_version: V2 })",
    );
    const p = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
      c1,
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({
        context: ctx(1, 11, 1, 2, { apiVersion: kv.APIVersion.V2 }),
        mutations: [{ key: b("a") }],
      }),
    );
    expect(p.errors[0]?.abort).toContain("cmd: prewrite");
    const bg = await call<kv.BatchGetRequest, kv.BatchGetResponse>(
      c1,
      "kvBatchGet",
      kv.BatchGetRequest.fromPartial({
        context: ctx(1, 11, 1, 2, { apiVersion: kv.APIVersion.V2 }),
        keys: [b("a")],
      }),
    );
    expect(bg.error?.abort).toContain("cmd: batch_get");
    expect(bg.pairs[0]?.error?.abort).toBe(bg.error?.abort);
    expect(calls).toEqual([]);
  });
});

describe("SplitRegion", () => {
  it("splits through the topology and answers the regions in TiKV's stored key form", async () => {
    const t = new FakeTopology().add({ id: 1, peers: [[11, 1]], leader: 11 });
    const s = new MockTikvStore({ storeId: 1, topology: t, txn, raw });
    await s.start();
    const c = newClient(s.address);
    try {
      const resp = await call<kv.SplitRegionRequest, kv.SplitRegionResponse>(
        c,
        "splitRegion",
        kv.SplitRegionRequest.fromPartial({ context: ctx(1, 11, 1, 1), splitKeys: [b("k2"), b("k1")] }),
      );
      expect(resp.regionError).toBeUndefined();
      expect(resp.regions.map((r) => [r.startKey, r.endKey])).toEqual([
        [b(""), encodeBytes(b("k1"))],
        [encodeBytes(b("k1")), encodeBytes(b("k2"))],
        [encodeBytes(b("k2")), b("")],
      ]);
      // right-derived: the original id keeps the rightmost part
      expect(resp.regions[2]?.id).toBe(1n);
      expect(resp.regions.every((r) => r.regionEpoch?.version === 3n)).toBe(true);
      expect(resp.left).toBeUndefined();

      const stale = await call<kv.SplitRegionRequest, kv.SplitRegionResponse>(
        c,
        "splitRegion",
        kv.SplitRegionRequest.fromPartial({ context: ctx(1, 11, 1, 1), splitKey: b("z") }),
      );
      expect(stale.regionError?.epochNotMatch).toBeDefined();

      const rawSplit = await call<kv.SplitRegionRequest, kv.SplitRegionResponse>(
        c,
        "splitRegion",
        kv.SplitRegionRequest.fromPartial({ context: ctx(1, 11, 1, 3), splitKey: b("z"), isRawKv: true }),
      );
      expect(rawSplit.left?.endKey).toEqual(b("z"));
      expect(rawSplit.right?.startKey).toEqual(b("z"));
      expect(rawSplit.regions).toHaveLength(2);
    } finally {
      c.close();
      await s.stop();
    }
  });

  it("refuses a split key outside the region", async () => {
    const resp = await call<kv.SplitRegionRequest, kv.SplitRegionResponse>(
      c1,
      "splitRegion",
      kv.SplitRegionRequest.fromPartial({ context: r2(), splitKey: b("a") }),
    );
    expect(resp.regionError?.keyNotInRegion?.key).toEqual(b("a"));
  });
});

describe("read pool busy threshold", () => {
  it("reads with a busy threshold below the estimated wait get ServerIsBusy with the estimate", async () => {
    s1.estimatedWaitMs = 80;
    try {
      const get = (busyThresholdMs: number) =>
        call<kv.GetRequest, kv.GetResponse>(
          c1,
          "kvGet",
          kv.GetRequest.fromPartial({
            context: ctx(1, 11, 1, 2, { busyThresholdMs }),
            key: b("a"),
            version: 5n,
          }),
        );
      const busy = await get(50);
      expect(busy.regionError).toEqual(RegionErrors.readPoolBusy(80));
      expect(busy.regionError?.serverIsBusy?.reason).toBe("estimated wait time exceeds threshold");
      expect(busy.regionError?.serverIsBusy?.estimatedWaitMs).toBe(80);
      expect((await get(100)).regionError).toBeUndefined();
      expect((await get(0)).regionError).toBeUndefined();
      // writes are not subject to the read pool check
      const w = await call<kv.RawPutRequest, kv.RawPutResponse>(
        c1,
        "rawPut",
        kv.RawPutRequest.fromPartial({
          context: ctx(1, 11, 1, 2, { busyThresholdMs: 1 }),
          key: b("a"),
          value: b("v"),
        }),
      );
      expect(w.regionError).toBeUndefined();
    } finally {
      s1.estimatedWaitMs = 0;
    }
  });
});

describe("MaxTimestampNotSynced", () => {
  it("async-commit and 1PC prewrites fail on a region whose max_ts is not synced; plain 2PC passes", async () => {
    const notSynced = new Set<bigint>([1n]);
    const s = new MockTikvStore({ storeId: 1, topology, txn, raw, maxTsNotSynced: notSynced });
    await s.start();
    const c = newClient(s.address);
    const prewrite = (extra: Partial<kv.PrewriteRequest>) =>
      call<kv.PrewriteRequest, kv.PrewriteResponse>(
        c,
        "kvPrewrite",
        kv.PrewriteRequest.fromPartial({
          context: r1(),
          mutations: [{ key: b("a") }],
          startVersion: 5n,
          ...extra,
        }),
      );
    try {
      expect((await prewrite({ useAsyncCommit: true })).regionError).toEqual(
        RegionErrors.maxTimestampNotSynced(),
      );
      expect((await prewrite({ tryOnePc: true })).regionError?.maxTimestampNotSynced).toEqual({});
      expect((await prewrite({})).regionError).toBeUndefined();
      notSynced.delete(1n);
      expect((await prewrite({ useAsyncCommit: true })).regionError).toBeUndefined();
    } finally {
      c.close();
      await s.stop();
    }
  });
});

describe("RawKvMaxTimestampNotSynced", () => {
  it("API V2 raw writes fail on a region whose max_ts is not synced; reads and V1 writes pass", async () => {
    const t = new FakeTopology().add({ id: 1, peers: [[11, 1]], leader: 11 });
    const v2 = new MockTikvStore({
      storeId: 1,
      topology: t,
      txn,
      raw: new RawEngine({ apiVersion: kv.APIVersion.V2 }),
      apiVersion: kv.APIVersion.V2,
      maxTsNotSynced: new Set([1n]),
    });
    await v2.start();
    const c = newClient(v2.address);
    const context = ctx(1, 11, 1, 1, { apiVersion: kv.APIVersion.V2 });
    try {
      const p = await call<kv.RawPutRequest, kv.RawPutResponse>(
        c,
        "rawPut",
        kv.RawPutRequest.fromPartial({ context, key: b("r\0\0\0a"), value: b("v") }),
      );
      expect(p.regionError).toEqual(RegionErrors.rawKvMaxTimestampNotSynced(1));
      expect(p.regionError?.message).toBe(
        "RawKV write fails due to potentially stale max timestamp, region_id: 1",
      );
      const g = await call<kv.RawGetRequest, kv.RawGetResponse>(
        c,
        "rawGet",
        kv.RawGetRequest.fromPartial({ context, key: b("r\0\0\0a") }),
      );
      expect(g.regionError).toBeUndefined();
    } finally {
      c.close();
      await v2.stop();
    }
  });
});

describe("store-level RPCs", () => {
  it("GetStoreSafeTS is the minimum safe ts of this store's regions in the range", async () => {
    const all = await call<kv.StoreSafeTSRequest, kv.StoreSafeTSResponse>(
      c1,
      "getStoreSafeTs",
      kv.StoreSafeTSRequest.fromPartial({ keyRange: {} }),
    );
    expect(all.safeTs).toBe(0n); // region 4 has safe ts 0
    const some = await call<kv.StoreSafeTSRequest, kv.StoreSafeTSResponse>(
      c1,
      "getStoreSafeTs",
      kv.StoreSafeTSRequest.fromPartial({ keyRange: { startKey: b("a"), endKey: b("p") } }),
    );
    expect(some.safeTs).toBe(100n);
  });

  it("GetHealthFeedback reports the store id, an increasing sequence and the slow score", async () => {
    const a = await call<kv.GetHealthFeedbackRequest, kv.GetHealthFeedbackResponse>(
      c1,
      "getHealthFeedback",
      kv.GetHealthFeedbackRequest.fromPartial({}),
    );
    s1.health.slowScore = 40;
    const bb = await call<kv.GetHealthFeedbackRequest, kv.GetHealthFeedbackResponse>(
      c1,
      "getHealthFeedback",
      kv.GetHealthFeedbackRequest.fromPartial({}),
    );
    s1.health.slowScore = 1;
    expect(a.healthFeedback?.storeId).toBe(1n);
    expect(a.healthFeedback?.slowScore).toBe(1);
    expect(bb.healthFeedback?.slowScore).toBe(40);
    expect((bb.healthFeedback?.feedbackSeqNo ?? 0n) > (a.healthFeedback?.feedbackSeqNo ?? 0n)).toBe(true);
  });

  it("methods outside the served set answer UNIMPLEMENTED", async () => {
    await expect(call(c1, "kvGc", kv.GCRequest.fromPartial({}))).rejects.toMatchObject({
      code: grpc.status.UNIMPLEMENTED,
    });
  });
});

describe("stop and start", () => {
  it("stopping with calls in flight cuts them; late results are dropped quietly", async () => {
    const s = new MockTikvStore({ storeId: 1, topology, txn, raw });
    s.faults.delay({ rpc: "RawGet", ms: 100 });
    await s.start();
    const c = newClient(s.address);
    try {
      const pending = call(c, "rawGet", kv.RawGetRequest.fromPartial({ context: r1(), key: b("a") }));
      await expect.poll(() => s.faults.calls({ rpc: "RawGet" }), { interval: 5 }).toBe(1);
      await s.stop();
      await expect(pending).rejects.toMatchObject({ code: expect.any(Number) });
      // the delayed request completes after the stop, into a closed call
      await new Promise((r) => setTimeout(r, 150));
    } finally {
      c.close();
    }
  });

  it("a stopped store refuses connections and serves again on the same port after start", async () => {
    const s = new MockTikvStore({ storeId: 1, topology, txn, raw });
    await s.start();
    const addr = s.address;
    const c = newClient(addr);
    const req = kv.RawGetRequest.fromPartial({ context: r1(), key: b("a") });
    try {
      await call(c, "rawGet", req);
      await s.stop();
      expect(s.running).toBe(false);
      await expect(call(c, "rawGet", req)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      await s.start();
      expect(s.address).toBe(addr);
      // a fresh channel: the old one is backing off after the refused connection
      const c2 = newClient(addr);
      const again = await call<kv.RawGetRequest, kv.RawGetResponse>(c2, "rawGet", req);
      c2.close();
      expect(again.regionError).toBeUndefined();
    } finally {
      c.close();
      await s.stop();
    }
  });
});
