// Region cache behaviour; ports of client-go internal/locate/region_cache_test.go cases.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import { BackoffExhaustedError, RegionUnavailableError } from "../../../src/errors/index.js";
import { Region, StoreState } from "../../../src/proto/metapb.js";
import { FakePd, key } from "./fakes.js";

function setup(now = { t: 1_000_000 }) {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id, { id: String(id) });
  pd.addRegion(1n, "", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { now: () => now.t, random: () => 0.5 });
  return { pd, cache, now };
}

describe("RegionCache", () => {
  it("TestSimple: loads on miss, then serves synchronously", async () => {
    const { pd, cache } = setup();
    expect(cache.tryLocateKey(key("a"))).toBeUndefined();
    const r = await cache.locateKey(key("a"));
    expect(r.id).toBe(1n);
    expect(r.leader.storeId).toBe(1n);
    expect(cache.tryLocateKey(key("zzz"))).toBe(r);
    expect(pd.calls.getRegion).toBe(1);
    expect(cache.stores.peek(2n)?.address).toBe("store2");
    expect(cache.size).toBe(1);
  });

  it("coalesces concurrent misses for the same key into one PD lookup", async () => {
    const { pd, cache } = setup();
    const [a, b] = await Promise.all([cache.locateKey(key("k")), cache.locateKey(key("k"))]);
    expect(a).toBe(b);
    expect(pd.calls.getRegion).toBe(1);
  });

  it("TestSplit: after invalidation the key is found in the new region; end key lookups use the left one", async () => {
    const { pd, cache } = setup();
    const r = await cache.locateKey(key("x"));
    pd.split(1n, "m", 2n);
    cache.invalidate(r, "epochNotMatch");
    expect(cache.tryLocateKey(key("x"))).toBeUndefined();
    const r2 = await cache.locateKey(key("x"));
    expect(r2.id).toBe(2n);
    expect(r2.startKey.toString()).toBe("m");
    const left = await cache.locateEndKey(key("m"));
    expect(left.id).toBe(1n);
    expect(pd.calls.getPrevRegion).toBe(1);
    expect(cache.size).toBe(2);
  });

  it("TestMerge: the merged region replaces both halves", async () => {
    const { pd, cache } = setup();
    pd.split(1n, "m", 2n);
    const right = await cache.locateKey(key("x"));
    await cache.locateKey(key("a"));
    expect(right.id).toBe(2n);
    pd.merge(1n, 2n);
    cache.invalidate(right, "other");
    const merged = await cache.locateKey(key("x"));
    expect(merged.id).toBe(1n);
    expect(cache.size).toBe(1);
  });

  it("TestRemoveIntersectingRegions: inserting a merged region drops the regions it covers", async () => {
    const { pd, cache } = setup();
    pd.split(1n, "b", 2n);
    pd.split(2n, "c", 3n);
    pd.split(3n, "d", 4n);
    pd.split(4n, "e", 5n);
    for (const [c, id] of [
      ["a", 1n],
      ["b", 2n],
      ["c", 3n],
      ["d", 4n],
      ["e", 5n],
    ] as const) {
      expect((await cache.locateKey(key(c))).id).toBe(id);
    }
    for (const id of [2n, 3n, 4n]) pd.merge(1n, id);
    // the cache is stale but still answers from its entries
    expect((await cache.locateKey(key("c"))).id).not.toBe(1n);
    const merged = await cache.loadRegion(key("c"), false, new Backoffer({ maxSleepMs: 1000 }));
    expect(merged.id).toBe(1n);
    expect(cache.insertRegion(merged)).toBe(true);
    expect((await cache.locateKey(key("c"))).id).toBe(1n);
    expect(cache.size).toBe(2);
    pd.merge(1n, 5n);
    const all = await cache.loadRegion(key("e"), false, new Backoffer({ maxSleepMs: 1000 }));
    expect(cache.insertRegion(all)).toBe(true);
    expect((await cache.locateKey(key("e"))).id).toBe(1n);
    expect(cache.size).toBe(1);
  });

  it("TestInsertStaleRegion: an older region never overwrites newer ones", async () => {
    const { pd, cache } = setup();
    const r = await cache.locateKey(key("a"));
    const staleCopy = await cache.buildRegion({ meta: Region.fromPartial(r.meta), leader: r.leader });
    pd.split(1n, "b", 2n);
    pd.split(2n, "c", 3n);
    cache.invalidate(r, "other");
    expect((await cache.locateKey(key("c"))).startKey.toString()).toBe("c");
    expect((await cache.locateKey(key("b"))).startKey.toString()).toBe("b");
    const fresh = await cache.loadRegion(key("a"), false, new Backoffer({ maxSleepMs: 1000 }));
    expect(cache.insertRegion(fresh)).toBe(true);
    expect(cache.insertRegion(staleCopy)).toBe(false);
    const regions = cache.cachedRegions();
    expect(regions.length).toBeGreaterThan(1);
    expect(regions[0]!.endKey.toString()).not.toBe("");
    expect((await cache.locateKey(key("a"))).endKey.toString()).toBe("b");
  });

  it("rejects a region whose id is cached with a newer epoch", async () => {
    const { cache } = setup();
    const r = await cache.locateKey(key("a"));
    const older = await cache.buildRegion({
      meta: Region.fromPartial({ ...r.meta, regionEpoch: { confVer: 1n, version: 0n } }),
    });
    expect(cache.insertRegion(older)).toBe(false);
    expect(cache.getCachedById(1n)).toBe(r);
  });

  it("TestRegionEpochAheadOfTiKV: an older epoch from TiKV asks for a backoff, nothing changes", async () => {
    const { cache } = setup();
    const r = await cache.locateKey(key("k1"));
    const ahead = await cache.buildRegion({
      meta: Region.fromPartial({
        ...r.meta,
        id: 9n,
        startKey: key("k1"),
        endKey: key("k2"),
        regionEpoch: { version: 10n, confVer: 10n },
      }),
    });
    cache.insertRegion(ahead);
    const r1 = Region.fromPartial({ id: 9n, regionEpoch: { version: 9n, confVer: 10n } });
    const r2 = Region.fromPartial({ id: 9n, regionEpoch: { version: 10n, confVer: 9n } });
    expect(await cache.onEpochNotMatch(ahead, [r1], 1n)).toBe("aheadOfTikv");
    expect(await cache.onEpochNotMatch(ahead, [r2], 1n)).toBe("aheadOfTikv");
    expect(ahead.isValid).toBe(true);
  });

  it("EpochNotMatch with current regions replaces the entry; the answering store becomes leader", async () => {
    const { pd, cache } = setup();
    const r = await cache.locateKey(key("a"));
    pd.split(1n, "m", 2n);
    const current = [pd.region(1n).meta, pd.region(2n).meta];
    expect(await cache.onEpochNotMatch(r, current, 2n)).toBe("updated");
    expect(r.isValid).toBe(false);
    expect(r.invalidReason).toBe("epochNotMatch");
    const left = cache.tryLocateKey(key("a"));
    const right = cache.tryLocateKey(key("x"));
    expect(left?.id).toBe(1n);
    expect(right?.id).toBe(2n);
    expect(left?.leader.storeId).toBe(2n);
    expect(pd.calls.getRegion).toBe(1);
  });

  it("EpochNotMatch without current regions only invalidates", async () => {
    const { cache } = setup();
    const r = await cache.locateKey(key("a"));
    expect(await cache.onEpochNotMatch(r, [], 1n)).toBe("updated");
    expect(r.invalidReason).toBe("epochNotMatch");
  });

  it("TestUpdateLeader: a known leader is switched to, an unknown one invalidates", async () => {
    const { cache } = setup();
    const r = await cache.locateKey(key("a"));
    cache.updateLeader(r, r.peers[2]);
    expect(r.leader.storeId).toBe(3n);
    cache.updateLeader(r, undefined);
    expect(r.leader.storeId).toBe(1n);
    cache.updateLeader(r, { id: 999n, storeId: 9n, role: 0, isWitness: false });
    expect(r.isValid).toBe(false);
    expect(r.invalidReason).toBe("storeNotFound");
  });

  it("TestFilterDownPeersOrPeersOnTombstoneOrDroppedStores", async () => {
    const { pd, cache } = setup();
    pd.addStore(4n, {}, StoreState.Tombstone);
    const info = pd.addRegion(7n, "zz", "", [1n, 2n, 3n, 4n]);
    info.downPeers = [info.meta.peers[1]!];
    pd.regions = pd.regions.filter((x) => x.meta.id !== 1n);
    pd.addRegion(1n, "", "zz", [1n, 2n, 3n]);
    const r = await cache.locateKey(key("zzz"));
    expect(r.peers.map((p) => p.storeId)).toEqual([1n, 3n]);
    // TestNeedExpireRegionAfterTTL: with down peers the TTL is not extended on access
    expect(r.expireAfterTtl).toBe(true);
  });

  it("a region without usable peers is an error", async () => {
    const { pd, cache } = setup();
    pd.addStore(4n, {}, StoreState.Tombstone);
    pd.regions = [];
    pd.addRegion(1n, "", "", [4n]);
    await expect(cache.locateKey(key("a"))).rejects.toBeInstanceOf(RegionUnavailableError);
  });

  it("TTL: an idle region expires (TTL + jitter), an accessed one is extended", async () => {
    const { pd, cache, now } = setup();
    await cache.locateKey(key("a"));
    // ttl = 600 s + 0.5 × 60 s jitter
    now.t += 600_000;
    expect(cache.tryLocateKey(key("a"))).toBeDefined(); // within TTL; extended to now + 630 s
    now.t += 630_001;
    expect(cache.tryLocateKey(key("a"))).toBeUndefined();
    await cache.locateKey(key("a"));
    expect(pd.calls.getRegion).toBe(2);
  });

  it("TestNeedExpireRegionAfterTTL: regions with down peers expire even when accessed", async () => {
    const { pd, cache, now } = setup();
    pd.region(1n).downPeers = [pd.region(1n).meta.peers[2]!];
    await cache.locateKey(key("a"));
    now.t += 600_000;
    expect(cache.tryLocateKey(key("a"))).toBeDefined();
    now.t += 30_001;
    expect(cache.tryLocateKey(key("a"))).toBeUndefined();
  });

  it("needReload: reloads on access, keeps the old entry when PD fails", async () => {
    const { pd, cache } = setup();
    const r = await cache.locateKey(key("a"));
    cache.scheduleReload(r);
    expect(cache.tryLocateKey(key("a"))).toBeUndefined();
    pd.failNext = 1000;
    const tiny = new Backoffer({ maxSleepMs: 1, sleep: async () => {} });
    expect(await cache.locateKey(key("a"), tiny)).toBe(r);
    pd.failNext = 0;
    const again = await cache.locateKey(key("a"));
    expect(again).not.toBe(r);
    expect(again.id).toBe(1n);
  });

  it("PD failures back off with BoPDRPC and succeed; the budget bounds them", async () => {
    vi.useFakeTimers();
    try {
      const { pd, cache } = setup();
      pd.failNext = 2;
      const bo = new Backoffer({ maxSleepMs: 20_000, random: () => 0 });
      const p = cache.locateKey(key("a"), bo);
      await vi.advanceTimersByTimeAsync(10_000);
      expect((await p).id).toBe(1n);
      expect(bo.backoffTimes()).toEqual({ pdRPC: 2 });
      pd.failNext = 1000;
      cache.clear();
      const small = new Backoffer({ maxSleepMs: 1000, random: () => 0 });
      const p2 = cache.locateKey(key("b"), small).catch((e) => e);
      await vi.advanceTimersByTimeAsync(60_000);
      const err = await p2;
      expect(err).toBeInstanceOf(BackoffExhaustedError);
      expect((err as BackoffExhaustedError).backoffKind).toBe("pdRPC");
    } finally {
      vi.useRealTimers();
    }
  });

  it("TestContains / TestContainsByEnd", async () => {
    const { pd, cache } = setup();
    pd.split(1n, "b", 2n);
    pd.split(2n, "c", 3n);
    const r = await cache.locateKey(key("b"));
    expect(r.contains(key("a"))).toBe(false);
    expect(r.contains(key("b"))).toBe(true);
    expect(r.contains(key("c"))).toBe(false);
    expect(r.containsEndKeyL1("b")).toBe(false);
    expect(r.containsEndKeyL1("c")).toBe(true);
    expect(r.containsEndKeyL1("d")).toBe(false);
  });

  it("locateRange and batch loading follow region boundaries", async () => {
    const { pd, cache } = setup();
    pd.split(1n, "c", 2n);
    pd.split(2n, "f", 3n);
    const rs = await cache.locateRange(key("b"), key("g"));
    expect(rs.map((r) => r.id)).toEqual([1n, 2n, 3n]);
    const only = await cache.locateRange(key("c"), key("f"));
    expect(only.map((r) => r.id)).toEqual([2n]);
    cache.clear();
    const loaded = await cache.batchLoadRegions(key(""), key(""), 2);
    expect(loaded.map((r) => r.id)).toEqual([1n, 2n]);
    expect(pd.calls.scanRegions).toBe(1);
    expect(cache.tryLocateKey(key("d"))?.id).toBe(2n);
    expect(cache.tryLocateKey(key("x"))).toBeUndefined();
  });

  it("groupKeysByRegion groups in first-seen order", async () => {
    const { pd, cache } = setup();
    pd.split(1n, "m", 2n);
    const groups = await cache.groupKeysByRegion([key("a"), key("x"), key("b"), key("y")]);
    expect(groups.map((g) => [g.region.id, g.keys.map((k) => k.toString())])).toEqual([
      [1n, ["a", "b"]],
      [2n, ["x", "y"]],
    ]);
  });

  it("locateRegionById", async () => {
    const { pd, cache } = setup();
    pd.split(1n, "m", 2n);
    const r = await cache.locateRegionById(2n);
    expect(r.startKey.toString()).toBe("m");
    expect(await cache.locateRegionById(2n)).toBe(r);
    expect(pd.calls.getRegionById).toBe(1);
    await expect(cache.locateRegionById(77n)).rejects.toBeInstanceOf(RegionUnavailableError);
  });

  it("a NoLeader invalidation makes the reloaded region start from the next peer", async () => {
    const { cache } = setup();
    const r = await cache.locateKey(key("a"));
    cache.invalidate(r, "noLeader");
    const again = await cache.locateKey(key("a"));
    expect(again.leader.storeId).toBe(2n);
  });
});

describe("StoreCache", () => {
  beforeEach(() => vi.useRealTimers());
  afterEach(() => vi.useRealTimers());

  it("liveness, epochs, slow score and labels", async () => {
    const now = { t: 0 };
    const pd = new FakePd();
    pd.addStore(1n, { zone: "z1" });
    const cache = new RegionCache(pd, { now: () => now.t, unreachableTtlMs: 1000 });
    const s = await cache.stores.resolve(1n);
    expect(s.resolve).toBe("resolved");
    expect(cache.stores.labelsMatch(1n, [{ key: "zone", value: "z1" }])).toBe(true);
    expect(cache.stores.labelsMatch(1n, [{ key: "zone", value: "z2" }])).toBe(false);
    expect(cache.stores.onSendFailure(1n)).toBe("unreachable");
    expect(cache.stores.liveness(1n)).toBe("unreachable");
    now.t += 1000;
    expect(cache.stores.liveness(1n)).toBe("reachable");
    cache.stores.invalidateStore(1n, 0);
    expect(s.epoch).toBe(1);
    expect(cache.stores.isSlow(1n)).toBe(true);
    cache.stores.invalidateStore(1n, 0); // a second report with the old epoch changes nothing
    expect(s.epoch).toBe(1);
    // TiKV's feedback is a score of its own: it does not clear the client-side mark (client-go IsSlow: either side)
    cache.stores.setSlowScore(1n, 1);
    expect(cache.stores.isSlow(1n)).toBe(true);
    expect(s.tikvSlowScore).toBe(1);
    // needCheck re-reads the store, an address change bumps the epoch
    pd.stores.get(1n)!.address = "moved";
    await cache.stores.resolve(1n);
    expect(s.address).toBe("moved");
    expect(s.epoch).toBe(2);
  });

  it("a probe can restore reachability", async () => {
    const pd = new FakePd();
    pd.addStore(1n);
    let resolveProbe: (l: "reachable") => void = () => {};
    const cache = new RegionCache(pd, { probe: () => new Promise((r) => (resolveProbe = r)) });
    await cache.stores.resolve(1n);
    cache.stores.onSendFailure(1n);
    expect(cache.stores.liveness(1n)).toBe("unreachable");
    resolveProbe("reachable");
    await Promise.resolve();
    expect(cache.stores.liveness(1n)).toBe("reachable");
  });
});

describe("locateKeyRanges (client-go BatchLocateKeyRanges)", () => {
  it("returns the regions overlapping several ranges in order, filling gaps with one scan each", async () => {
    const { pd, cache } = setup();
    pd.split(1n, "c", 2n);
    pd.split(2n, "f", 3n);
    pd.split(3n, "k", 4n);
    pd.split(4n, "p", 5n);
    // cache only the region of "g"
    await cache.locateKey(key("g"));
    const getRegionBefore = pd.calls.getRegion;
    const rs = await cache.locateKeyRanges([
      { start: key("a"), end: key("d") },
      { start: key("e"), end: key("h") },
      { start: key("q"), end: key("") },
    ]);
    expect(rs.map((r) => r.id)).toEqual([1n, 2n, 3n, 5n]);
    expect(pd.calls.getRegion).toBe(getRegionBefore);
    expect(pd.calls.scanRegions).toBe(2);
    // everything is cached now: no PD call
    await cache.locateKeyRanges([{ start: key("a"), end: key("z") }]);
    expect(pd.calls.scanRegions).toBe(3); // the gap [k, p) was never loaded
    expect(cache.tryLocateKey(key("m"))?.id).toBe(4n);
  });

  it("a region shared by two ranges is returned once", async () => {
    const { cache } = setup();
    const rs = await cache.locateKeyRanges([
      { start: key("a"), end: key("b") },
      { start: key("c"), end: key("d") },
    ]);
    expect(rs.map((r) => r.id)).toEqual([1n]);
  });
});
