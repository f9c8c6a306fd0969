// Region buckets in the embedded cluster: the topology keeps boundary keys and a version per
// region (TiKV raftstore: versions from gen_bucket_version, buckets dropped on split and merge),
// PD answers them only when asked (need_buckets, not on follower-handled reads), and the
// TiKV bucket-version check answers a stale request with the current version and keys.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { FOLLOWER_HANDLE_METADATA_KEY } from "../../src/cluster/pd/index.js";
import { checkBucketsVersion } from "../../src/cluster/tikv/bucket-check.js";
import { bootstrapTopology, type TopologyChange, TopologyError } from "../../src/cluster/topology/index.js";
import { decodeBytes, encodeBytes } from "../../src/kv/memcomparable.js";
import { b, call, type PdFixture, startPd } from "./pd/helpers.js";

const V1 = 1n << 32n; // first version in raft term 1
const keysOf = (r: { buckets?: { keys: readonly Buffer[] } | undefined }) =>
  r.buckets?.keys.map((k) => k.toString()) ?? [];

describe("topology buckets", () => {
  it("set: boundaries from region start to end, version bumped only when the keys change", () => {
    const t = bootstrapTopology({ splitKeys: ["m"] });
    const changes: TopologyChange[] = [];
    t.changes.on("change", (c) => changes.push(c));
    const left = t.locateKey("a")!;
    expect(left.buckets).toBeUndefined();
    const r1 = t.setRegionBuckets(left.id, ["f", "c", "f"]);
    expect(keysOf(r1)).toEqual(["", "c", "f", "m"]);
    expect(r1.buckets!.version).toBe(V1);
    expect(t.setRegionBuckets(left.id, ["c", "f"]).buckets!.version).toBe(V1);
    const r2 = t.splitRegionBuckets(left.id, ["d"]);
    expect(keysOf(r2)).toEqual(["", "c", "d", "f", "m"]);
    expect(r2.buckets!.version).toBe(V1 + 1n);
    expect(changes).toEqual([
      { kind: "buckets", regionId: left.id, version: V1 },
      { kind: "buckets", regionId: left.id, version: V1 + 1n },
    ]);
    // the region epoch is untouched: buckets are not part of it
    expect(r2.epoch).toEqual(left.epoch);
  });

  it("a cut outside the region or on its start is an INVALID_ARGUMENT TopologyError", () => {
    const t = bootstrapTopology({ splitKeys: ["m"] });
    const right = t.locateKey("x")!;
    for (const bad of ["a", "m", ""]) {
      const e = (() => {
        try {
          t.setRegionBuckets(right.id, [bad]);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(TopologyError);
      expect((e as TopologyError).code).toBe("INVALID_ARGUMENT");
    }
    expect(t.regionById(right.id)!.buckets).toBeUndefined();
  });

  it("split and merge drop the buckets of every region involved; later versions still grow", () => {
    const t = bootstrapTopology({ stores: 1 });
    const r = t.regions()[0]!;
    t.setRegionBuckets(r.id, ["c", "k", "t"]);
    const parts = t.splitRegion(r.id, ["k"]);
    expect(parts.map((p) => p.buckets)).toEqual([undefined, undefined]);
    const again = t.setRegionBuckets(r.id, ["t"]);
    expect(again.buckets!.version).toBe(V1 + 1n);
    expect(keysOf(again)).toEqual(["k", "t", ""]);
    const merged = t.merge(parts[0]!.id, r.id);
    expect(merged.buckets).toBeUndefined();
  });
});

describe("PD answers buckets with need_buckets", () => {
  let fx: PdFixture | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });
  const enc = (s: string) => encodeBytes(b(s));
  const dec = (k: Buffer) => (k.length === 0 ? "" : decodeBytes(k).key.toString());

  it("GetRegion / GetPrevRegion / GetRegionByID / BatchScanRegions carry them only when asked", async () => {
    fx = await startPd({ layout: { splitKeys: ["m"] } });
    const t = fx.pd.topology;
    const left = t.locateKey("a")!;
    const right = t.locateKey("x")!;
    t.setRegionBuckets(left.id, ["f"]);
    const c = fx.clients[0]!;
    const h = fx.header;
    const plain = await call(c, "getRegion", { header: h, regionKey: enc("a") });
    expect(plain.buckets).toBeUndefined();
    const withB = await call(c, "getRegion", { header: h, regionKey: enc("a"), needBuckets: true });
    expect(withB.buckets.regionId).toBe(left.id);
    expect(withB.buckets.version).toBe(V1);
    // PD's key form, like the region boundaries
    expect(withB.buckets.keys.map(dec)).toEqual(["", "f", "m"]);
    const prev = await call(c, "getPrevRegion", { header: h, regionKey: enc("x"), needBuckets: true });
    expect(prev.buckets.keys.map(dec)).toEqual(["", "f", "m"]);
    const byId = await call(c, "getRegionById", { header: h, regionId: left.id, needBuckets: true });
    expect(byId.buckets.version).toBe(V1);
    // a region without buckets answers none even when asked
    const none = await call(c, "getRegionById", { header: h, regionId: right.id, needBuckets: true });
    expect(none.buckets).toBeUndefined();
    const scan = await call(c, "batchScanRegions", {
      header: h,
      ranges: [{ startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) }],
      limit: 10,
      needBuckets: true,
    });
    expect(scan.regions.map((r: { buckets?: { version: bigint } }) => r.buckets?.version)).toEqual([
      V1,
      undefined,
    ]);
  });

  it("reports the new buckets after a change, and none after a split", async () => {
    fx = await startPd({ layout: { splitKeys: ["m"] } });
    const t = fx.pd.topology;
    const id = t.locateKey("a")!.id;
    const ask = () =>
      call(fx!.clients[0]!, "getRegionById", { header: fx!.header, regionId: id, needBuckets: true });
    t.setRegionBuckets(id, ["f"]);
    expect((await ask()).buckets.version).toBe(V1);
    t.splitRegionBuckets(id, ["c"]);
    const changed = await ask();
    expect(changed.buckets.version).toBe(V1 + 1n);
    expect(changed.buckets.keys.map(dec)).toEqual(["", "c", "f", "m"]);
    t.splitRegion(id, ["d"]);
    expect((await ask()).buckets).toBeUndefined();
  });

  it("a follower-handled read never carries buckets", async () => {
    fx = await startPd({ members: 2 });
    const t = fx.pd.topology;
    const id = t.regions()[0]!.id;
    t.setRegionBuckets(id, ["f"]);
    const md = new grpc.Metadata();
    md.set(FOLLOWER_HANDLE_METADATA_KEY, "1");
    const r = await call(
      fx.clients[1]!,
      "getRegion",
      { header: fx.header, regionKey: enc("a"), needBuckets: true },
      md,
    );
    expect(r.region.id).toBe(id);
    expect(r.buckets).toBeUndefined();
  });
});

describe("TiKV bucket-version check (coprocessor endpoint rule)", () => {
  const t = bootstrapTopology({ splitKeys: ["m"] });
  const id = t.locateKey("a")!.id;
  t.setRegionBuckets(id, ["f"]);
  t.splitRegionBuckets(id, ["c"]); // version V1 + 1

  it("a request naming an older version gets BucketVersionNotMatch with the current version and keys", () => {
    const e = checkBucketsVersion(t.regionState(id), { bucketsVersion: V1 });
    expect(e?.bucketVersionNotMatch?.version).toBe(V1 + 1n);
    expect(e?.bucketVersionNotMatch?.keys.map((k) => k.toString())).toEqual(["", "c", "f", "m"]);
  });

  it("version 0 (not bucket-aware), the current or a newer version, or no buckets pass", () => {
    for (const v of [0n, V1 + 1n, V1 + 5n]) {
      expect(checkBucketsVersion(t.regionState(id), { bucketsVersion: v })).toBeUndefined();
    }
    expect(checkBucketsVersion(t.regionState(t.locateKey("x")!.id), { bucketsVersion: 1n })).toBeUndefined();
    expect(checkBucketsVersion(t.regionState(id), undefined)).toBeUndefined();
  });
});
