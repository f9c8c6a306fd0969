// Region buckets in the client's region cache: ports of client-go
// internal/locate/region_cache_test.go TestBuckets, TestLocateBucket, TestBucketClampingToRegion,
// TestUpdateBucketsConcurrently and the BucketVersionNotMatch part of TestShouldNotRetryFlashback.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoffer } from "../../../src/actors/backoff/index.js";
import {
  type Bucket,
  bucketContains,
  clampBucket,
  findBucket,
  locateBucket,
  RegionCache,
} from "../../../src/actors/region-cache/index.js";
import { RequestSender } from "../../../src/actors/request/index.js";
import { Buckets, Region } from "../../../src/proto/metapb.js";
import { FakePd, key, ScriptedStores } from "./fakes.js";

const k = (s: string) => Buffer.from(s, "latin1");
const buckets = (version: bigint, keys: string[], regionId = 1n) =>
  Buckets.fromPartial({ regionId, version, keys: keys.map(k) });
const show = (b: Bucket | undefined) => (b ? [b.startKey.toString(), b.endKey.toString()] : undefined);

function setup() {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id, { id: String(id) });
  pd.addRegion(1n, "", "m", [1n, 2n, 3n]);
  pd.addRegion(2n, "m", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { random: () => 0 });
  return { pd, cache };
}

describe("TestBuckets", () => {
  it("1. the cached region holds the buckets PD sent; locateBucket finds every key of the region", async () => {
    const { pd, cache } = setup();
    pd.region(1n).buckets = buckets(7n, ["", "a", "b", "m"]);
    const r = await cache.locateKey(key("a"));
    expect(r.buckets).toEqual(buckets(7n, ["", "a", "b", "m"]));
    expect(r.bucketVersion).toBe(7n);
    for (const x of ["", "`", "a", "a0", "b", "c"]) {
      const b = findBucket(r.buckets, k(x));
      expect(b, x).toBeDefined();
      expect(bucketContains(b!, k(x))).toBe(true);
    }
    // stale buckets that no longer cover the keys: the strict lookup finds none
    const stale = buckets(7n, ["b", "c", "d"]);
    for (const x of ["a", "d", "e"]) expect(findBucket(stale, k(x)), x).toBeUndefined();
  });

  it("2. inserting the region again keeps the old buckets unless the new ones are newer", async () => {
    const { pd, cache } = setup();
    pd.region(1n).buckets = buckets(7n, ["", "a", "m"]);
    const old = await cache.locateKey(key("a"));
    // no buckets
    const none = await cache.buildRegion({ meta: old.meta });
    cache.insertRegion(none);
    expect(cache.tryLocateKey(key("a"))?.buckets?.version).toBe(7n);
    // stale buckets
    const stale = await cache.buildRegion({ meta: old.meta, buckets: buckets(6n, ["", "m"]) });
    cache.insertRegion(stale);
    expect(cache.tryLocateKey(key("a"))?.buckets?.version).toBe(7n);
    // newer buckets
    const newer = await cache.buildRegion({ meta: old.meta, buckets: buckets(8n, ["", "b", "m"]) });
    cache.insertRegion(newer);
    expect(cache.tryLocateKey(key("a"))?.buckets).toEqual(buckets(8n, ["", "b", "m"]));
  });

  it("3. EpochNotMatch: the new region inherits the old one's buckets", async () => {
    const { pd, cache } = setup();
    pd.region(1n).buckets = buckets(8n, ["", "b", "m"]);
    const r = await cache.locateKey(key("a"));
    const meta = Region.fromPartial({ ...r.meta, regionEpoch: { confVer: 2n, version: 2n } });
    expect(await cache.onEpochNotMatch(r, [meta], 1n)).toBe("updated");
    const now = cache.tryLocateKey(key("a"))!;
    expect(now).not.toBe(r);
    expect(now.version).toBe(2n);
    expect(now.buckets?.version).toBe(8n);
  });

  it("4. updateBucketsIfNeeded reloads only for a newer version", async () => {
    const { pd, cache } = setup();
    pd.region(1n).buckets = buckets(8n, ["", "b", "m"]);
    const r = await cache.locateKey(key("a"));
    // a stale latest version: nothing to do
    expect(cache.updateBucketsIfNeeded(r.verId, 0n, 7n)).toBeUndefined();
    // cached buckets gone: the reload brings PD's
    r.buckets = undefined;
    await cache.updateBucketsIfNeeded(r.verId, 0n, 8n);
    expect(cache.tryLocateKey(key("a"))?.buckets?.version).toBe(8n);
    // PD has newer buckets
    pd.region(1n).buckets = buckets(9n, ["", "a", "m"]);
    const cur = cache.tryLocateKey(key("a"))!;
    await cache.updateBucketsIfNeeded(cur.verId, 0n, 9n);
    expect(cache.tryLocateKey(key("a"))?.buckets).toEqual(buckets(9n, ["", "a", "m"]));
  });
});

describe("TestLocateBucket", () => {
  it("buckets covering the region, and buckets with holes at the region's edges", async () => {
    const { pd, cache } = setup();
    pd.region(1n).buckets = buckets(1n, ["", "a", "b", "m"]);
    let r = await cache.locateKey(key("a"));
    for (const x of ["", "`", "a", "a0", "b", "c"]) {
      const b = locateBucket(r, k(x));
      expect(b && bucketContains(b, k(x)), x).toBe(true);
    }
    pd.region(1n).buckets = buckets(2n, ["a", "b"]);
    await cache.updateBucketsIfNeeded(r.verId, 0n, 2n);
    r = cache.tryLocateKey(key("a"))!;
    expect(r.bucketVersion).toBe(2n);
    for (const x of ["`", "c"]) {
      expect(findBucket(r.buckets, k(x)), x).toBeUndefined();
      const b = locateBucket(r, k(x));
      expect(b && bucketContains(b, k(x)), x).toBe(true);
    }
    expect(show(locateBucket(r, k("`")))).toEqual(["", "a"]);
    expect(show(locateBucket(r, k("c")))).toEqual(["b", "m"]);
    // a key outside the region has no bucket; a region without buckets is one bucket
    expect(locateBucket(r, k("x"))).toBeUndefined();
    expect(show(locateBucket({ startKey: k("m"), endKey: k(""), buckets: undefined }, k("x")))).toEqual([
      "m",
      "",
    ]);
  });
});

describe("TestBucketClampingToRegion", () => {
  const rows: Array<[string, string, string, string, string, string, string]> = [
    ["bucket within region - no clamping", "a", "z", "f", "m", "f", "m"],
    ["bucket start before region - clamp start", "f", "z", "a", "m", "f", "m"],
    ["bucket end after region - clamp end", "a", "m", "f", "z", "f", "m"],
    ["bucket exceeds both boundaries - clamp both", "f", "m", "a", "z", "f", "m"],
    ["empty region start - bucket start not clamped", "", "m", "a", "z", "a", "m"],
    ["empty region end - bucket end not clamped", "f", "", "a", "z", "f", "z"],
    ["bucket completely before region - fallback to region", "m", "z", "a", "f", "m", "z"],
    ["bucket with empty startKey - clamp to region start", "f", "z", "", "m", "f", "m"],
    ["bucket with empty endKey - clamp to region end", "a", "m", "f", "", "f", "m"],
    ["empty start in bucket and region - no start clamping", "", "z", "", "m", "", "m"],
    ["empty end in bucket and region - no end clamping", "a", "", "f", "", "f", ""],
    ["bucket spanning full keyspace - clamp to region", "f", "m", "", "", "f", "m"],
    ["infinity region - no clamping needed", "", "", "a", "z", "a", "z"],
  ];
  for (const [name, rs, re, bs, be, ws, we] of rows) {
    it(name, () => {
      const bucket = { startKey: k(bs), endKey: k(be) };
      const got = clampBucket({ startKey: k(rs), endKey: k(re), buckets: undefined }, bucket);
      expect(show(got)).toEqual([ws, we]);
      // unchanged buckets are returned as they are
      expect(got === bucket).toBe(ws === bs && we === be);
    });
  }
});

describe("TestUpdateBucketsConcurrently", () => {
  it("concurrent updates of one region share one PD lookup; a later one loads again", async () => {
    const { pd, cache } = setup();
    const r = await cache.locateKey(key("a"));
    const v = r.bucketVersion;
    const before = pd.calls.getRegionById;
    const first = cache.updateBucketsIfNeeded(r.verId, 0n, v + 1n);
    expect(first).toBeDefined();
    expect(cache.updateBucketsIfNeeded(r.verId, 0n, v + 1n)).toBeUndefined();
    expect(cache.updateBucketsIfNeeded(r.verId, v, v + 1n)).toBeUndefined();
    expect(cache.updateBucketsIfNeeded(r.verId, v + 1n, v + 1n)).toBeUndefined();
    await first;
    expect(pd.calls.getRegionById - before).toBe(1);
    const cur = cache.tryLocateKey(key("a"))!;
    await cache.updateBucketsIfNeeded(cur.verId, 0n, v + 1n);
    expect(pd.calls.getRegionById - before).toBe(2);
  });

  it("a request version older than the cached buckets asks for nothing", async () => {
    const { pd, cache } = setup();
    pd.region(1n).buckets = buckets(5n, ["", "m"]);
    const r = await cache.locateKey(key("a"));
    expect(cache.updateBucketsIfNeeded(r.verId, 4n, 9n)).toBeUndefined();
    expect(cache.updateBucketsIfNeeded({ ...r.verId, version: 99n }, 0n, 9n)).toBeUndefined();
  });
});

describe("BucketVersionNotMatch (TestShouldNotRetryFlashback, bucket part)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("TiKV's keys and version replace the cached buckets; the region is kept and the request re-split", async () => {
    const { pd, cache } = setup();
    const stores = new ScriptedStores();
    const sender = new RequestSender(cache, stores, { random: () => 0 });
    await cache.locateKey(key("a"));
    const lookups = { ...pd.calls };
    stores.script = [{ regionError: { bucketVersionNotMatch: { version: 1n, keys: [k("a")] } } }];
    const bo = new Backoffer({ maxSleepMs: 20_000, random: () => 0 });
    const p = sender.sendToRegion(key("a"), "Get", (c) => ({ context: c.context, key: key("a") }) as never, {
      budget: bo,
    });
    await vi.advanceTimersByTimeAsync(10_000);
    await p;
    const r = cache.tryLocateKey(key("a"))!;
    expect(r.buckets?.keys).toEqual([k("a")]);
    expect(r.buckets?.version).toBe(1n);
    expect(r.buckets?.regionId).toBe(1n);
    // not a retry inside the sender: the error went back, the caller backed off RegionMiss and resent
    expect(stores.accesses).toHaveLength(2);
    expect(bo.backoffTimes()).toEqual({ regionMiss: 1 });
    expect(pd.calls.getRegion).toBe(lookups.getRegion);
  });

  it("an older version than the cached buckets leaves them alone", async () => {
    const { pd, cache } = setup();
    pd.region(1n).buckets = buckets(5n, ["", "c", "m"]);
    const r = await cache.locateKey(key("a"));
    cache.onBucketVersionNotMatch(r, 4n, [k("x")]);
    cache.onBucketVersionNotMatch(r, 5n, [k("y")]);
    expect(r.buckets).toEqual(buckets(5n, ["", "c", "m"]));
    cache.onBucketVersionNotMatch(r, 6n, [k(""), k("m")]);
    expect(r.buckets).toEqual(buckets(6n, ["", "m"]));
  });
});
