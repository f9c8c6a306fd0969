// The PD actor against a 3-member fake PD (real grpc-js on loopback).
import { status as GrpcStatus } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { PdActor, type PdActorOptions } from "../../../src/actors/pd/pd-actor.js";
import { TSO_LOGICAL_BITS } from "../../../src/actors/pd/tso-batcher.js";
import { physicalOf } from "../../../src/kv/timestamp.js";
import { StoreState } from "../../../src/proto/metapb.js";
import { ErrorType } from "../../../src/proto/pdpb.js";
import {
  AbortedError,
  ClusterIdMismatchError,
  FutureTsReadError,
  PdError,
  ShuttingDownError,
  TimeoutError,
} from "../../../src/rpc/errors.js";
import { FakePdCluster, region, store } from "./fake-pd.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function cluster(size = 3, id = 7n): Promise<FakePdCluster> {
  const c = new FakePdCluster(id, size);
  await c.start();
  c.regions = [region(2, "", "m"), region(3, "m", "")];
  c.stores = [
    store(1, "127.0.0.1:20160"),
    store(2, "127.0.0.1:20161"),
    store(3, "127.0.0.1:20162", StoreState.Tombstone),
  ];
  cleanups.push(() => c.stop());
  return c;
}

async function connect(c: FakePdCluster, extra: Partial<PdActorOptions> = {}): Promise<PdActor> {
  const pd = await PdActor.connect({
    endpoints: c.endpoints(),
    discoveryBackoff: { baseMs: 10, capMs: 50 },
    retryBackoff: { baseMs: 10, capMs: 50 },
    rpcTimeoutMs: 1000,
    lowResolutionTsUpdateIntervalMs: 60_000, // no background TSO requests unless a test asks
    ...extra,
  });
  cleanups.unshift(() => pd.close());
  return pd;
}

describe("PdActor: members and cluster id", () => {
  it("finds the leader through any endpoint and learns the cluster id", async () => {
    const c = await cluster();
    c.leader = 2;
    const pd = await connect(c, { endpoints: [c.endpoints()[0] as string] });
    expect(pd.clusterId).toBe(7n);
    expect(pd.leader).toBe(`127.0.0.1:${c.members[2]?.port}`);
    expect(pd.state).toBe("connected");
  });

  it("refuses endpoints of two different clusters (unmatched cluster id)", async () => {
    const a = await cluster(1, 1n);
    const b = await cluster(1, 2n);
    await expect(
      PdActor.connect({ endpoints: [...a.endpoints(), ...b.endpoints()], connectTimeoutMs: 5000 }),
    ).rejects.toBeInstanceOf(ClusterIdMismatchError);
  });

  it("rejects an empty endpoint list with InvalidArgumentError", () => {
    expect(() => new PdActor({ endpoints: [] })).toThrow(/endpoint/);
  });

  it("connect() fails with a TimeoutError when no PD answers", async () => {
    const c = await cluster(1);
    const eps = c.endpoints();
    c.stop();
    await expect(
      PdActor.connect({
        endpoints: eps,
        connectTimeoutMs: 300,
        rpcTimeoutMs: 100,
        discoveryBackoff: { baseMs: 10 },
      }),
    ).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe("PdActor: TSO", () => {
  it("turns all getTimestamp() calls of one turn into one TsoRequest with consecutive timestamps", async () => {
    const c = await cluster();
    const pd = await connect(c);
    const before = c.tsoCounts.length;
    const ts = await Promise.all(Array.from({ length: 10 }, () => pd.getTimestamp()));
    expect(c.tsoCounts.slice(before)).toEqual([10]);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).toBe((ts[i - 1] as bigint) + 1n);
    // the response carries the last timestamp of the batch
    expect(ts[9]).toBe((c.physical << TSO_LOGICAL_BITS) + c.logical);
    expect(pd.getLowResolutionTimestamp()).toBe(ts[9]);
  });

  it("keeps timestamps strictly increasing across turns", async () => {
    const c = await cluster();
    const pd = await connect(c);
    const a = await Promise.all([pd.getTimestamp(), pd.getTimestamp()]);
    const b = await pd.getTimestamp();
    expect(b).toBeGreaterThan(a[1] as bigint);
    expect(c.tsoCounts.slice(-2)).toEqual([2, 1]);
  });

  it("follows a leader change: the TSO stream moves to the new leader", async () => {
    const c = await cluster();
    const pd = await connect(c);
    const t1 = await pd.getTimestamp();
    const changes: string[] = [];
    pd.on("leaderChanged", (e) => changes.push(e.leader));
    c.setLeader(1);
    const t2 = await pd.getTimestamp({ timeoutMs: 5000 });
    expect(t2).toBeGreaterThan(t1);
    expect(pd.leader).toBe(`127.0.0.1:${c.members[1]?.port}`);
    expect(changes).toEqual([`127.0.0.1:${c.members[1]?.port}`]);
  });

  it("re-sends timestamp requests in flight when the TSO stream breaks", async () => {
    const c = await cluster();
    const pd = await connect(c);
    const p = pd.getTimestamp({ timeoutMs: 5000 });
    c.breakTso();
    const ts = await p;
    expect(physicalOf(ts)).toBe(Number(c.physical));
  });

  it("tracks lastTS: low-resolution ts, lock expiry, stale ts, future read ts", async () => {
    const c = await cluster();
    const pd = await connect(c);
    const ts = await pd.getTimestamp();
    expect(pd.lastTimestamp).toBe(ts);
    const lockTs = ((c.physical - 1000n) << TSO_LOGICAL_BITS) as bigint;
    expect(pd.isExpired(lockTs, 999)).toBe(true);
    expect(pd.isExpired(lockTs, 5000)).toBe(false);
    expect(pd.untilExpired(lockTs, 5000)).toBe(4000);
    const stale = pd.getStaleTimestamp(10);
    expect(physicalOf(stale)).toBeLessThan(physicalOf(ts));
    await pd.validateReadTs(ts);
    await expect(pd.validateReadTs(ts + (1000n << TSO_LOGICAL_BITS))).rejects.toBeInstanceOf(
      FutureTsReadError,
    );
    expect(() => pd.getStaleTimestamp(-1)).toThrow(/prevSecond/);
  });

  it("lastTS is never behind a timestamp handed out, under 100 concurrent callers (TestSetLastTSAlwaysPushTS)", async () => {
    const c = await cluster();
    const pd = await connect(c);
    const all = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        if (i % 3 === 0) await new Promise((r) => setImmediate(r));
        const ts = await pd.getTimestamp();
        expect(pd.lastTimestamp as bigint).toBeGreaterThanOrEqual(ts);
        return ts;
      }),
    );
    expect(new Set(all).size).toBe(100);
  });

  it("refreshes the low-resolution ts in the background", async () => {
    const c = await cluster();
    const pd = await connect(c, { lowResolutionTsUpdateIntervalMs: 60_000 });
    pd.setLowResolutionTimestampUpdateInterval(20);
    expect(() => pd.setLowResolutionTimestampUpdateInterval(0)).toThrow(/> 0/);
    const first = pd.getLowResolutionTimestamp();
    for (let i = 0; i < 100 && pd.getLowResolutionTimestamp() === first; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(pd.getLowResolutionTimestamp()).toBeGreaterThan(first);
  });
});

describe("PdActor: regions and stores", () => {
  it("coalesces concurrent identical region lookups into one PD call", async () => {
    const c = await cluster();
    const pd = await connect(c);
    c.holdRegions = true;
    const same = Array.from({ length: 5 }, () => pd.getRegion(Buffer.from("a")));
    const other = pd.getRegion(Buffer.from("x"));
    for (let i = 0; i < 500 && c.count("getRegion") < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50)); // room for any extra (uncoalesced) call to show up
    expect(c.count("getRegion")).toBe(2);
    c.releaseRegions();
    const rs = await Promise.all(same);
    expect(new Set(rs.map((r) => r?.meta.id))).toEqual(new Set([2n]));
    expect((await other)?.meta.id).toBe(3n);
    // once settled, the next lookup goes to PD again
    c.holdRegions = false;
    await pd.getRegion(Buffer.from("a"));
    expect(c.count("getRegion")).toBe(3);
  });

  it("one caller aborting does not fail the others sharing the lookup", async () => {
    const c = await cluster();
    const pd = await connect(c);
    c.holdRegions = true;
    const ac = new AbortController();
    const a = pd.getRegionById(2, { signal: ac.signal });
    const b = pd.getRegionById(2);
    ac.abort();
    await expect(a).rejects.toBeInstanceOf(AbortedError);
    for (let i = 0; i < 200 && c.count("getRegionById") === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    c.releaseRegions();
    expect((await b)?.meta.id).toBe(2n);
    expect(c.count("getRegionById")).toBe(1);
  });

  it("GetRegion / GetPrevRegion / ScanRegions / unknown region", async () => {
    const c = await cluster();
    const pd = await connect(c);
    const r = await pd.getRegion(Buffer.from("q"));
    expect(r?.meta.id).toBe(3n);
    expect(r?.leader?.storeId).toBe(1n);
    expect((await pd.getPrevRegion(Buffer.from("q")))?.meta.id).toBe(2n);
    expect((await pd.scanRegions(Buffer.from(""), Buffer.from(""), 10)).map((x) => x.meta.id)).toEqual([
      2n,
      3n,
    ]);
    expect((await pd.scanRegions(Buffer.from("a"), Buffer.from("b"), 10)).map((x) => x.meta.id)).toEqual([
      2n,
    ]);
    expect(await pd.getRegionById(99)).toBeUndefined();
    await expect(pd.scanRegions(Buffer.from(""), Buffer.from(""), 0)).rejects.toThrow(/limit/);
  });

  it("retries region lookups across a leader change", async () => {
    const c = await cluster();
    const pd = await connect(c);
    c.leader = 2; // the old leader now answers "not leader" (no stream break)
    const r = await pd.getRegion(Buffer.from("a"), { timeoutMs: 5000 });
    expect(r?.meta.id).toBe(2n);
    expect(pd.leader).toBe(`127.0.0.1:${c.members[2]?.port}`);
  });

  it("keeps working when the leader's process dies and another member leads", async () => {
    const c = await cluster();
    const pd = await connect(c);
    c.stopMember(0);
    c.setLeader(1);
    expect((await pd.getRegion(Buffer.from("z"), { timeoutMs: 5000 }))?.meta.id).toBe(3n);
    expect(await pd.getTimestamp({ timeoutMs: 5000 })).toBeGreaterThan(0n);
  });

  it("a call waiting for a leader that never comes reports its whole budget, not the time left", async () => {
    const c = await cluster(1);
    const pd = await connect(c);
    c.stop();
    // the leader is lost on the first failure; then the call waits for a new one until its budget is spent
    const err = await pd.getAllStores({ timeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).timeoutMs).toBe(300);
    expect((err as Error).message).not.toContain("after 0ms");
  });

  it("retries an unavailable PD call, and gives up with TimeoutError when the budget is spent", async () => {
    const c = await cluster();
    const pd = await connect(c);
    c.failNext.set("getAllStores", { n: 2, code: GrpcStatus.UNAVAILABLE, details: "injected" });
    expect((await pd.getAllStores()).map((s) => s.id)).toEqual([1n, 2n]);
    c.failNext.set("getAllStores", { n: 1000, code: GrpcStatus.UNAVAILABLE, details: "injected" });
    await expect(pd.getAllStores({ timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it("does not retry a non-retryable gRPC error", async () => {
    const c = await cluster();
    const pd = await connect(c);
    c.failNext.set("getGcSafePoint", { n: 1, code: GrpcStatus.INVALID_ARGUMENT, details: "bad" });
    await expect(pd.getGCSafePoint()).rejects.toMatchObject({ grpcCode: GrpcStatus.INVALID_ARGUMENT });
  });

  it("caches stores and surfaces PD error headers as PdError", async () => {
    const c = await cluster();
    const pd = await connect(c);
    expect((await pd.getStore(1))?.address).toBe("127.0.0.1:20160");
    await pd.getStore(1);
    expect(c.count("getStore")).toBe(1);
    await pd.getStore(1, { fresh: true });
    expect(c.count("getStore")).toBe(2);
    const err = await pd.getStore(3).catch((e) => e);
    expect(err).toBeInstanceOf(PdError);
    expect((err as PdError).pdErrorType).toBe(ErrorType.STORE_TOMBSTONE);
    await pd.getAllStores();
    expect(
      pd
        .cachedStores()
        .map((s) => s.id)
        .sort(),
    ).toEqual([1n, 2n]);
  });

  it("refreshes the store list periodically", async () => {
    const c = await cluster();
    const pd = await connect(c, { storeRefreshIntervalMs: 20 });
    c.stores.push(store(4, "127.0.0.1:20163"));
    for (let i = 0; i < 200 && !pd.cachedStores().some((s) => s.id === 4n); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(pd.cachedStores().map((s) => s.id)).toContain(4n);
  });

  it("GC safe point calls", async () => {
    const c = await cluster();
    const pd = await connect(c);
    expect(await pd.updateGCSafePoint(100n)).toBe(100n);
    expect(await pd.updateGCSafePoint(50n)).toBe(100n);
    expect(await pd.getGCSafePoint()).toBe(100n);
    const r = await pd.updateServiceGCSafePoint("br", 60, 120n);
    expect(r.minSafePoint).toBe(100n);
  });

  it("after close(), calls and timestamps fail with ShuttingDownError", async () => {
    const c = await cluster();
    const pd = await connect(c);
    pd.close();
    await expect(pd.getTimestamp()).rejects.toBeInstanceOf(ShuttingDownError);
    await expect(pd.getRegion(Buffer.from("a"))).rejects.toBeInstanceOf(ShuttingDownError);
    expect(pd.state).toBe("stopped");
  });
});
