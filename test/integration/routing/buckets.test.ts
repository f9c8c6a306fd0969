// Region buckets end to end against the embedded cluster: the client loads them with its region
// lookups (need_buckets), follows bucket splits and version changes, and on BucketVersionNotMatch
// takes TiKV's keys and version, backs off RegionMiss and resends (client-go onRegionError +
// rawkv's retry), without asking PD again. Ports the meaning of client-go
// internal/locate/region_cache_test.go TestBuckets and the BucketVersionNotMatch case of
// TestShouldNotRetryFlashback.
//
// What TiKV answers is produced with the cluster's own bucket check (checkBucketsVersion, the
// coprocessor endpoint rule) and injected as a fault: TiKV checks the bucket version only on
// coprocessor requests, which the embedded cluster does not serve, and client-go sends no bucket
// version on KV / raw requests.

import { describe, expect } from "vitest";
import { regionKeyCodec } from "../../../src/actors/runtime/pd-region-source.js";
import { checkBucketsVersion } from "../../../src/cluster/tikv/bucket-check.js";
import { createApiCodec } from "../../../src/kv/keyspace.js";
import { APIVersion } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

const V1 = 1n << 32n;
const str = (keys: readonly Buffer[] | undefined) => keys?.map((k) => k.toString()) ?? [];

describe.skipIf(skipOnRealCluster("v1"))("region buckets (embedded cluster)", () => {
  // regions ["", g) [g, m) [m, t) [t, ""): one per test, so the tests do not disturb each other
  const env = useCluster({ stores: 3, splitKeys: ["g", "m", "t"] });

  async function warm(key: string, cuts: string[]) {
    const t = env.cluster.topology;
    const region = t.locateKey(Buffer.from(key))!;
    t.setRegionBuckets(region.id, cuts);
    const client = await env.connect();
    const raw = client.raw();
    await raw.put(key, "v0");
    client.resetMetrics();
    return { t, region, client, raw };
  }

  itFault("region lookups bring the region's buckets into the cache", async () => {
    const { region, client } = await warm("b-load", ["c", "f"]);
    const cached = client.regionCache.tryLocateKey(Buffer.from("b-load"))!;
    expect(cached.id).toBe(region.id);
    expect(str(cached.buckets?.keys)).toEqual(["", "c", "f", "g"]);
    expect(cached.bucketVersion).toBeGreaterThanOrEqual(V1);
  });

  itFault(
    "a stale bucket version gets BucketVersionNotMatch; the client takes the new buckets and succeeds",
    async () => {
      const { t, region, client, raw } = await warm("h-stale", ["i"]);
      const cached = client.regionCache.tryLocateKey(Buffer.from("h-stale"))!;
      const staleVersion = cached.bucketVersion;
      // the split checker cuts another bucket: the version grows
      const now = t.splitRegionBuckets(region.id, ["k"]).buckets!;
      expect(now.version).toBe(staleVersion + 1n);
      // what TiKV answers a request naming the cached version
      const answer = checkBucketsVersion(t.regionState(region.id), { bucketsVersion: staleVersion });
      expect(answer?.bucketVersionNotMatch?.version).toBe(now.version);
      const fault = env.cluster.faults.failNext({
        rpc: "RawGet",
        regionId: region.id,
        error: { regionError: answer! },
      });
      expect((await raw.get("h-stale"))?.toString()).toBe("v0");
      expect(fault.fired).toBe(1);
      const after = client.regionCache.tryLocateKey(Buffer.from("h-stale"))!;
      expect(after).toBe(cached); // the region entry is kept
      expect(after.bucketVersion).toBe(now.version);
      expect(str(after.buckets?.keys)).toEqual(["g", "i", "k", "m"]);
      const m = client.metrics();
      expect(m.regionErrors).toEqual({ bucketVersionNotMatch: 1 });
      expect(m.backoffs).toEqual({ regionMiss: 1 });
      expect(m.pdRegionLookups).toBe(0);
    },
  );

  itFault(
    "a region split: the new regions inherit the cached buckets; PD's reload carries none",
    async () => {
      const { t, region, client, raw } = await warm("u-split", ["v", "x"]);
      const before = client.regionCache.tryLocateKey(Buffer.from("u-split"))!.buckets;
      expect(before).toBeDefined();
      t.splitRegion(region.id, ["w"]);
      // the cached epoch is stale now: TiKV's EpochNotMatch carries the new regions
      expect((await raw.get("u-split"))?.toString()).toBe("v0");
      const left = client.regionCache.tryLocateKey(Buffer.from("u-split"))!;
      expect(left.id).not.toBe(region.id);
      // client-go OnRegionEpochNotMatch: new regions inherit the old one's buckets
      expect(left.buckets).toBe(before);
      // PD (as TiKV resets them on split) reports no buckets for either half
      expect(t.locateKey(Buffer.from("u-split"))!.buckets).toBeUndefined();
      expect(t.locateKey(Buffer.from("y"))!.buckets).toBeUndefined();
    },
  );

  itFault("updateBucketsIfNeeded reloads the region from PD when a newer version is reported", async () => {
    const { t, region, client } = await warm("n-update", ["o"]);
    const cached = client.regionCache.tryLocateKey(Buffer.from("n-update"))!;
    const latest = t.setRegionBuckets(region.id, ["p", "q"]).buckets!.version;
    await client.regionCache.updateBucketsIfNeeded(cached.verId, 0n, latest);
    const fresh = client.regionCache.tryLocateKey(Buffer.from("n-update"))!;
    expect(fresh.bucketVersion).toBe(latest);
    expect(str(fresh.buckets?.keys)).toEqual(["m", "p", "q", "t"]);
    expect(client.metrics().pdRegionLookups).toBe(1);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("region buckets with memcomparable region keys", () => {
  const env = useCluster({ stores: 1, splitKeys: ["m"], regionKeyEncoding: "memcomparable" });

  itFault(
    "bucket keys arrive in PD's form and are decoded like the boundaries (txn: memcomparable)",
    async () => {
      const t = env.cluster.topology;
      const right = t.locateKey(Buffer.from("x"))!;
      t.setRegionBuckets(right.id, ["q", "t"]);
      const client = await env.connect();
      const txnCodec = regionKeyCodec(createApiCodec({ apiVersion: APIVersion.V1, mode: "txn" }));
      const r = await client.pd.getRegion(Buffer.from("x"), { needBuckets: true, regionCodec: txnCodec });
      expect(str(r?.buckets?.keys)).toEqual(["m", "q", "t", ""]);
      const plain = await client.pd.getRegion(Buffer.from("x"), { regionCodec: txnCodec });
      expect(plain?.buckets).toBeUndefined();
    },
  );
});
