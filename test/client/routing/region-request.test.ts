// Ports of client-go internal/locate/region_request_test.go and region_request3_test.go cases
// (sender-level behaviour) against fake PD / scripted stores.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { RequestSender, type SendToRegionOptions } from "../../../src/actors/request/index.js";
import { AbortedError } from "../../../src/errors/index.js";
import type { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { Region } from "../../../src/proto/metapb.js";
import { FakePd, key, ScriptedStores } from "./fakes.js";

function world() {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id, { id: String(id) });
  pd.addRegion(1n, "", "m", [1n, 2n, 3n]);
  pd.addRegion(2n, "m", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { random: () => 0 });
  const stores = new ScriptedStores();
  const sender = new RequestSender(cache, stores, { random: () => 0 });
  return { pd, cache, stores, sender };
}

async function drive<T>(p: Promise<T>): Promise<{ value?: T; error?: Error }> {
  let settled = false;
  const wrapped = p.then(
    (value) => ({ value }),
    (error: Error) => ({ error }),
  );
  wrapped.finally(() => {
    settled = true;
  });
  for (let i = 0; i < 2000 && !settled; i++) await vi.advanceTimersByTimeAsync(100);
  return wrapped;
}

const get = (ctx: { context: unknown }) => ({ context: ctx.context, key: key("a") }) as never;
type Resp = { regionError?: RegionErrorProto; value?: Buffer };

describe("region request sender (client-go region_request*_test.go)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("TestSwitchPeerWhenNoLeaderErrorWithNewLeaderInfo: exactly 2 RPCs, region stays valid", async () => {
    const w = world();
    const region = await w.cache.locateKey(key("a"));
    w.stores.script = [{ regionError: { notLeader: { regionId: 1n, leader: region.peers[1] } } }];
    const r = await drive(
      w.sender.sendToRegion(region, "Get", get, { budget: new Backoffer({ maxSleepMs: 1000 }) }),
    );
    expect((r.value as Resp).regionError).toBeUndefined();
    expect(w.stores.accesses.length).toBe(2);
    expect(region.isValid).toBe(true);
  });

  it("TestReplicaReadFallbackToLeaderRegionError: the leader's MismatchPeerId is returned, region invalidated", async () => {
    const w = world();
    const region = await w.cache.locateKey(key("a"));
    w.stores.fallback = (a) =>
      a.addr === "store1"
        ? { regionError: { mismatchPeerId: { requestPeerId: 1n, storePeerId: 2n } } }
        : { regionError: { dataIsNotReady: {} } };
    const r = await drive(
      w.sender.sendToRegion(region, "Get", get, {
        staleRead: true,
        replicaRead: "follower",
        rpcTimeoutMs: 1000,
      }),
    );
    const err = (r.value as Resp).regionError;
    expect(err?.mismatchPeerId).toBeDefined();
    expect(err?.epochNotMatch).toBeUndefined();
    expect(region.isValid).toBe(false);
  });

  it("TestDoNotTryUnreachableLeader: a stale read goes to the label-matched reachable follower", async () => {
    const w = world();
    const region = await w.cache.locateKey(key("a"));
    w.cache.stores.setLiveness(1n, "unreachable");
    const r = await drive(
      w.sender.sendToRegion(region, "Get", get, { staleRead: true, labels: [{ key: "id", value: "2" }] }),
    );
    expect((r.value as Resp).regionError).toBeUndefined();
    expect(w.stores.accesses.map((a) => a.addr)).toEqual(["store2"]);
  });

  it("TestPreferLeader: leader, then a follower when it is unreachable, then the last one, then the pseudo error", async () => {
    const w = world();
    const region = await w.cache.locateKey(key("a"));
    const opts: SendToRegionOptions = { replicaRead: "preferLeader" };
    const send = async () => {
      w.stores.accesses = [];
      const r = await drive(w.sender.sendToRegion(region, "Get", get, opts));
      return { addrs: w.stores.accesses.map((a) => a.addr), err: (r.value as Resp).regionError };
    };
    expect(await send()).toEqual({ addrs: ["store1"], err: undefined });
    w.cache.stores.setLiveness(1n, "unreachable");
    expect(await send()).toEqual({ addrs: ["store2"], err: undefined });
    w.cache.stores.setLiveness(2n, "unreachable");
    expect(await send()).toEqual({ addrs: ["store3"], err: undefined });
    w.cache.stores.setLiveness(3n, "unreachable");
    const last = await send();
    expect(last.addrs).toEqual([]);
    expect(last.err?.epochNotMatch?.currentRegions).toEqual([]);
  });

  for (const [name, opts] of [
    ["leader", {}],
    ["follower", { replicaRead: "follower" }],
    ["mixed", { replicaRead: "mixed" }],
    ["stale", { staleRead: true }],
  ] as Array<[string, SendToRegionOptions]>) {
    it(`TestSendReqFirstTimeout / TestKVReadTimeoutWithDisableBatchClient (${name}): each replica once, no backoff, pseudo error`, async () => {
      const w = world();
      const region = await w.cache.locateKey(key("a"));
      w.stores.fallback = () => ({ error: "timeout" });
      const bo = new Backoffer({ maxSleepMs: 20_000 });
      const r = await drive(
        w.sender.sendToRegion(region, "Get", get, { ...opts, rpcTimeoutMs: 100, budget: bo }),
      );
      expect(w.stores.accesses.length).toBe(3);
      expect(new Set(w.stores.accesses.map((a) => a.addr)).size).toBe(3);
      expect((r.value as Resp).regionError?.epochNotMatch?.currentRegions).toEqual([]);
      expect(bo.totalBackoffTimes()).toBe(0);
      // timeouts explain the failures: the region is kept
      expect(region.isValid).toBe(true);
    });
  }

  it("TestStaleReadTryFollowerAfterTimeout: the label-matched leader times out, a follower answers", async () => {
    const w = world();
    const region = await w.cache.locateKey(key("a"));
    w.stores.script = [{ error: "timeout" }];
    const bo = new Backoffer({ maxSleepMs: 20_000 });
    const r = await drive(
      w.sender.sendToRegion(region, "Get", get, {
        staleRead: true,
        labels: [{ key: "id", value: "1" }],
        rpcTimeoutMs: 1000,
        budget: bo,
      }),
    );
    expect((r.value as Resp).regionError).toBeUndefined();
    expect(w.stores.path()).toEqual([
      "{addr: store1, replica-read: false, stale-read: true}",
      "{addr: store2, replica-read: false, stale-read: true}",
    ]);
    expect(bo.totalBackoffTimes()).toBe(0);
  });

  it("TestSendFailInvalidateRegionsInSameStore: a store failure makes other regions on it avoid that store and reload", async () => {
    const w = world();
    const a = await w.cache.locateKey(key("a"));
    const x = await w.cache.locateKey(key("x"));
    w.stores.script = [{ error: "unavailable" }];
    await drive(w.sender.sendToRegion(a, "RawPut", get));
    w.stores.accesses = [];
    const r = await drive(w.sender.sendToRegion(x, "RawPut", get));
    expect((r.value as Resp).regionError).toBeUndefined();
    expect(w.stores.accesses.map((z) => z.addr)).toEqual(["store2"]);
    expect(w.cache.tryLocateKey(key("x"))).toBeUndefined(); // reloads on next access
  });

  it("TestNoReloadRegionWhenCtxCanceled: a cancelled request leaves the region valid", async () => {
    const w = world();
    const region = await w.cache.locateKey(key("a"));
    const ac = new AbortController();
    ac.abort();
    const r = await drive(w.sender.sendToRegion(region, "Get", get, { signal: ac.signal }));
    expect(r.error).toBeInstanceOf(AbortedError);
    expect(region.isValid).toBe(true);
    expect(w.stores.accesses.length).toBe(0);
  });

  it("TestGetRegionByIDFromCache: EpochNotMatch without regions expires the entry; newer versions of the id win", async () => {
    const w = world();
    const r = await w.cache.locateRegionById(1n);
    await w.cache.onEpochNotMatch(r, [], 1n);
    expect(w.cache.getCachedById(1n)?.isValid).toBe(false);
    const again = await w.cache.locateRegionById(1n);
    expect(again.isValid).toBe(true);
    const newerConf = await w.cache.buildRegion({
      meta: Region.fromPartial({
        ...again.meta,
        regionEpoch: { confVer: again.confVer + 1n, version: again.version },
      }),
    });
    expect(w.cache.insertRegion(newerConf)).toBe(true);
    expect((await w.cache.locateRegionById(1n)).confVer).toBe(again.confVer + 1n);
    const newerVer = await w.cache.buildRegion({
      meta: Region.fromPartial({
        ...again.meta,
        regionEpoch: { confVer: again.confVer + 1n, version: again.version + 1n },
      }),
    });
    expect(w.cache.insertRegion(newerVer)).toBe(true);
    expect((await w.cache.locateRegionById(1n)).version).toBe(again.version + 1n);
  });

  it("TestCloseConnectionOnStoreNotMatch (region target): hook called for the store, region error returned", async () => {
    const pd = new FakePd();
    pd.addStore(1n);
    pd.addRegion(1n, "", "", [1n]);
    const cache = new RegionCache(pd);
    const stores = new ScriptedStores();
    const closed: bigint[] = [];
    const sender = new RequestSender(cache, stores, { onStoreNotMatch: (id) => closed.push(id) });
    const region = await cache.locateKey(key("a"));
    stores.script = [{ regionError: { storeNotMatch: { requestStoreId: 1n, actualStoreId: 2n } } }];
    const r = await drive(sender.sendToRegion(region, "Get", get));
    expect((r.value as Resp).regionError?.storeNotMatch).toBeDefined();
    expect(closed).toEqual([1n]);
  });
});
