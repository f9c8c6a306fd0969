import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RawEngine } from "../../../src/cluster/engine/raw/raw-engine.js";
import { FaultRegistry } from "../../../src/cluster/faults/index.js";
import { MockTikvStore } from "../../../src/cluster/tikv/mock-tikv-store.js";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import * as kv from "../../../src/proto/kvrpcpb.js";
import type { TikvClient } from "../../../src/proto/tikvpb.js";
import { b, call, ctx, type EngineCall, FakeTopology, newClient, recordingTxnEngine } from "./helpers.js";

const topology = new FakeTopology()
  .add({
    id: 1,
    end: "m",
    peers: [
      [11, 1],
      [12, 2],
    ],
    leader: 11,
  })
  .add({
    id: 2,
    start: "m",
    peers: [
      [21, 1],
      [22, 2],
    ],
    leader: 22,
  });
const calls: EngineCall[] = [];
const faults = new FaultRegistry();
const raw = new RawEngine();
const txn = recordingTxnEngine(calls);
const s1 = new MockTikvStore({ storeId: 1, topology, txn, raw, faults });
const s2 = new MockTikvStore({ storeId: 2, topology, txn, raw, faults });
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

const get = (client: TikvClient, context: kv.Context, key = "a") =>
  call<kv.GetRequest, kv.GetResponse>(
    client,
    "kvGet",
    kv.GetRequest.fromPartial({ context, key: b(key), version: 5n }),
  );

describe("faults through a store", () => {
  it("a region-error fault fires exactly count times and skips the engine", async () => {
    faults.failNext({ rpc: "KvGet", count: 2, error: { regionError: RegionErrors.serverIsBusy() } });
    const rs = [];
    for (let i = 0; i < 3; i++) rs.push(await get(c1, ctx(1, 11, 1)));
    expect(rs.map((r) => r.regionError?.serverIsBusy?.reason)).toEqual([
      "scheduler is busy",
      "scheduler is busy",
      undefined,
    ]);
    expect(calls.length).toBe(1);
    expect(faults.calls({ rpc: "KvGet", storeId: 1 })).toBe(3);
  });

  it("every errorpb kind can be injected as-is", async () => {
    const kinds = [
      RegionErrors.staleCommand(),
      RegionErrors.raftEntryTooLarge(1, 1024),
      RegionErrors.maxTimestampNotSynced(),
      RegionErrors.readIndexNotReady(1),
      RegionErrors.proposalInMergingMode(1),
      RegionErrors.regionNotInitialized(1),
      RegionErrors.diskFull([1], "disk full"),
      RegionErrors.recoveryInProgress(1),
      RegionErrors.flashbackInProgress(1, 9),
      RegionErrors.flashbackNotPrepared(1),
      RegionErrors.isWitness(1),
      RegionErrors.mismatchPeerId(3, 4),
      RegionErrors.bucketVersionNotMatch(2),
      RegionErrors.undeterminedResult("undetermined"),
    ];
    for (const e of kinds) faults.failNext({ rpc: "RawPut", error: { regionError: e } });
    for (const e of kinds) {
      const r = await call<kv.RawPutRequest, kv.RawPutResponse>(
        c1,
        "rawPut",
        kv.RawPutRequest.fromPartial({ context: ctx(1, 11, 1), key: b("a") }),
      );
      expect(r.regionError).toEqual(e);
    }
    expect(RegionErrors.diskFull([1, 2], "x").message).toBe("store ids [1, 2], errmsg x");
    expect(RegionErrors.flashbackInProgress(1, 9).message).toBe(
      "region 1 is in the flashback progress with start_ts 9",
    );
  });

  it("scopes by store, region and key", async () => {
    faults.failNext({
      rpc: "KvGet",
      storeId: 2,
      count: 5,
      error: { regionError: RegionErrors.staleCommand() },
    });
    faults.failNext({
      rpc: "KvGet",
      regionId: 1,
      key: "k",
      count: 5,
      error: { regionError: RegionErrors.isWitness(1) },
    });
    expect((await get(c1, ctx(1, 11, 1))).regionError).toBeUndefined();
    expect((await get(c1, ctx(1, 11, 1), "k")).regionError?.isWitness).toEqual({ regionId: 1n });
    expect((await get(c2, ctx(2, 22, 2), "n")).regionError?.staleCommand).toEqual({});
    expect((await get(c1, ctx(2, 21, 1), "n")).regionError?.notLeader?.leader?.storeId).toBe(2n);
  });

  it("key errors land where each response type keeps them", async () => {
    const keyError = { abort: "injected" };
    faults.failNext({
      rpc: ["KvGet", "KvPrewrite", "RawGet", "RawBatchGet", "KvDeleteRange"],
      count: 5,
      error: { keyError },
    });
    expect((await get(c1, ctx(1, 11, 1))).error?.abort).toBe("injected");
    const p = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
      c1,
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({ context: ctx(1, 11, 1), mutations: [{ key: b("a") }] }),
    );
    expect(p.errors.map((e) => e.abort)).toEqual(["injected"]);
    const rg = await call<kv.RawGetRequest, kv.RawGetResponse>(
      c1,
      "rawGet",
      kv.RawGetRequest.fromPartial({ context: ctx(1, 11, 1), key: b("a") }),
    );
    expect(rg.error).toBe("injected");
    const rb = await call<kv.RawBatchGetRequest, kv.RawBatchGetResponse>(
      c1,
      "rawBatchGet",
      kv.RawBatchGetRequest.fromPartial({ context: ctx(1, 11, 1), keys: [b("a")] }),
    );
    expect(rb.pairs[0]?.error?.abort).toBe("injected");
    const dr = await call<kv.DeleteRangeRequest, kv.DeleteRangeResponse>(
      c1,
      "kvDeleteRange",
      kv.DeleteRangeRequest.fromPartial({ context: ctx(1, 11, 1), startKey: b("a"), endKey: b("b") }),
    );
    expect(dr.error).toBe("injected");
    expect(calls).toEqual([]);
  });

  it("a gRPC status fault fails the unary call", async () => {
    faults.failNext({
      rpc: "KvCommit",
      error: { grpcStatus: grpc.status.DEADLINE_EXCEEDED, message: "slow disk" },
    });
    await expect(
      call(c1, "kvCommit", kv.CommitRequest.fromPartial({ context: ctx(1, 11, 1), keys: [b("a")] })),
    ).rejects.toMatchObject({
      code: grpc.status.DEADLINE_EXCEEDED,
      details: "slow disk",
    });
    expect(calls).toEqual([]);
  });

  it("a delayed call completes after a later one", async () => {
    faults.delay({ rpc: "KvGet", key: "slow", ms: 60, count: 1 });
    const order: string[] = [];
    const slow = get(c1, ctx(1, 11, 1), "slow").then(() => order.push("slow"));
    await new Promise((r) => setTimeout(r, 5));
    const fast = get(c1, ctx(1, 11, 1), "fast").then(() => order.push("fast"));
    await Promise.all([slow, fast]);
    expect(order).toEqual(["fast", "slow"]);
  });

  it("apply-then-drop: the write is applied but the caller sees the failure", async () => {
    faults.dropReply({ rpc: "RawPut", outcome: { grpcStatus: grpc.status.UNAVAILABLE } });
    await expect(
      call(
        c1,
        "rawPut",
        kv.RawPutRequest.fromPartial({ context: ctx(1, 11, 1), key: b("dk"), value: b("dv") }),
      ),
    ).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    const r = await call<kv.RawGetRequest, kv.RawGetResponse>(
      c1,
      "rawGet",
      kv.RawGetRequest.fromPartial({ context: ctx(1, 11, 1), key: b("dk") }),
    );
    expect(r.value).toEqual(b("dv"));
  });

  it("apply-then-drop 'hang' leaves the call to its deadline", async () => {
    faults.dropReply({ rpc: "RawPut" });
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      c1.rawPut(
        kv.RawPutRequest.fromPartial({ context: ctx(1, 11, 1), key: b("hk"), value: b("hv") }),
        new grpc.Metadata(),
        { deadline: Date.now() + 200 },
        (e) => resolve(e as grpc.ServiceError),
      );
    });
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const r = await call<kv.RawGetRequest, kv.RawGetResponse>(
      c1,
      "rawGet",
      kv.RawGetRequest.fromPartial({ context: ctx(1, 11, 1), key: b("hk") }),
    );
    expect(r.value).toEqual(b("hv"));
  });

  it("a hook sees each request with its store, region and keys", async () => {
    const seen: string[] = [];
    faults.onRequest((c) => {
      seen.push(
        `${c.rpc}@${c.storeId}/${c.regionId}:${c.keys?.map((k) => Buffer.from(k).toString()).join(",")}`,
      );
    });
    await get(c1, ctx(1, 11, 1), "a");
    await call(
      c2,
      "kvBatchGet",
      kv.BatchGetRequest.fromPartial({ context: ctx(2, 22, 2), keys: [b("n"), b("o")] }),
    );
    expect(seen).toEqual(["KvGet@1/1:a", "KvBatchGet@2/2:n,o"]);
  });
});
