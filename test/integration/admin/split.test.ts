// client.splitRegions on the embedded cluster: the layout PD reports afterwards, the ids of the
// new regions, batches of at most 2048 keys per SplitRegion RPC across regions, keys on existing
// boundaries, bad input, region errors retried, and client-go split_test / ticlient's
// TestSplitRegionIn2PC by meaning.

import { describe, expect } from "vitest";
import { regionKeyCodec } from "../../../src/actors/runtime/pd-region-source.js";
import type { TikvClient } from "../../../src/api/tikv-client.js";
import { RegionErrors } from "../../../src/cluster/tikv/region-errors.js";
import { InvalidArgumentError, rpcInterceptor } from "../../../src/index.js";
import { createApiCodec } from "../../../src/kv/keyspace.js";
import { APIVersion, type SplitRegionRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

const E = Buffer.alloc(0);
const TXN_REGIONS = regionKeyCodec(createApiCodec({ apiVersion: APIVersion.V1, mode: "txn" }));

// start keys of the regions PD reports, as the client decodes them
async function pdStartKeys(client: TikvClient, txn: boolean): Promise<string[]> {
  const rs = await client.pd.scanRegions(E, E, 100_000, txn ? { regionCodec: TXN_REGIONS } : undefined);
  return rs.map((r) => r.meta.startKey.toString());
}

async function pdRegionAt(client: TikvClient, key: string, txn: boolean) {
  const r = await client.pd.getRegion(Buffer.from(key), txn ? { regionCodec: TXN_REGIONS } : undefined);
  if (!r) throw new Error(`no region at ${key}`);
  return r.meta;
}

describe.skipIf(skipOnRealCluster("v1"))("splitRegions (raw keys)", () => {
  const env = useCluster({ stores: 3 });

  itFault("splits at every key: PD reports the new layout, the new region ids come back", async () => {
    const client = await env.connect();
    const raw = client.raw();
    await raw.put("c", "1");
    const before = await pdRegionAt(client, "a", false);
    const { regionIds, scatterErrors } = await client.splitRegions(["b", "d", "f"], { keyMode: "raw" });
    expect(scatterErrors).toEqual([]);
    expect(await pdStartKeys(client, false)).toEqual(["", "b", "d", "f"]);
    // TiKV derives the right-most region from the old one: the three left ones are new
    const left = await Promise.all(["a", "b", "d"].map((k) => pdRegionAt(client, k, false)));
    expect(regionIds).toEqual(left.map((r) => r.id));
    expect(regionIds).not.toContain(before.id);
    expect((await pdRegionAt(client, "f", false)).id).toBe(before.id);
    // data stays readable through the (invalidated) region cache
    expect((await raw.get("c"))?.toString()).toBe("1");
  });

  itFault(
    "keys on a boundary split nothing; unsorted and duplicate keys are sorted and sent once",
    async () => {
      const client = await env.connect();
      env.cluster.faults.resetCounters();
      expect(await client.splitRegions(["b", "d"], { keyMode: "raw" })).toEqual({
        regionIds: [],
        scatterErrors: [],
      });
      expect(env.cluster.faults.calls({ rpc: "SplitRegion" })).toBe(0);
      const { regionIds } = await client.splitRegions(["h", "g", "h", "g"], { keyMode: "raw" });
      expect(regionIds).toHaveLength(2);
      expect(env.cluster.faults.calls({ rpc: "SplitRegion" })).toBe(1);
      expect(await pdStartKeys(client, false)).toEqual(["", "b", "d", "f", "g", "h"]);
    },
  );

  itFault("bad input is refused before any RPC", async () => {
    const client = await env.connect();
    env.cluster.faults.resetCounters();
    expect(await client.splitRegions([])).toEqual({ regionIds: [], scatterErrors: [] });
    const bad: Array<[() => Promise<unknown>, string]> = [
      [() => client.splitRegions(["x", ""]), "keys[1]"],
      [() => client.splitRegions("x" as never), "keys"],
      [() => client.splitRegions([42 as never]), "keys[0]"],
      [() => client.splitRegions(["x"], { keyMode: "both" as never }), "keyMode"],
      [() => client.splitRegions(["x"], { scatter: "yes" as never }), "scatter"],
      [() => client.splitRegions(["x"], { group: 7 as never }), "group"],
      [() => client.splitRegions(["x"], { timeoutMs: -1 }), "timeoutMs"],
      [() => client.splitRegions(["x"], null as never), "options"],
    ];
    for (const [call, argument] of bad) {
      const e = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e, argument).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe(argument);
    }
    expect(env.cluster.faults.calls({ rpc: "SplitRegion" })).toBe(0);
  });

  itFault("a region error on a batch is retried: the keys are regrouped and resent", async () => {
    const client = await env.connect();
    const region = await pdRegionAt(client, "j", false);
    const fault = env.cluster.faults.failNext({
      rpc: "SplitRegion",
      regionId: region.id,
      error: { regionError: RegionErrors.regionNotFound(region.id) },
    });
    const { regionIds } = await client.splitRegions(["j"], { keyMode: "raw" });
    expect(fault.fired).toBe(1);
    expect(regionIds).toHaveLength(1);
    expect(await pdStartKeys(client, false)).toContain("j");
    expect(client.metrics().backoffs.regionMiss).toBeGreaterThanOrEqual(1);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("splitRegions (txn keys, many keys)", () => {
  const env = useCluster({ stores: 1, regionKeyEncoding: "memcomparable", splitKeys: ["k3000"] });

  itFault(
    "more than 2048 keys across two regions: batches of at most 2048 per region, in parallel",
    async () => {
      // every SplitRegion attempt's key count, as sent
      const sizes: number[] = [];
      const client = await env.connect({
        interceptors: rpcInterceptor("sizes", (next) => (req) => {
          if (req.command === "SplitRegion") sizes.push((req.request as SplitRegionRequest).splitKeys.length);
          return next(req);
        }),
      });
      const txn = await client.txn().begin();
      txn.set("k0001x", "a");
      txn.set("k4999x", "b");
      await txn.commit();
      // 5000 keys: 3000 in the first region (2 batches), 2000 in the second (1 batch, "k3000" is
      // already a boundary and splits nothing)
      const keys = Array.from({ length: 5000 }, (_, i) => `k${String(i).padStart(4, "0")}`);
      const rec = env.cluster.recordRequests({ rpcs: ["SplitRegion"] });
      const { regionIds } = await client.splitRegions(keys);
      rec.stop();
      // 2048 + 952 keys in the first region, 1999 in the second; the first region's two batches
      // race: the one that arrives second meets EpochNotMatch and its keys are regrouped and resent
      const ok = rec.entries.filter((e) => e.outcome === "ok");
      expect(ok).toHaveLength(3);
      expect(Math.max(...sizes)).toBe(2048);
      expect(sizes.slice(0, 3).sort((a, b) => a - b)).toEqual([952, 1999, 2048]);
      expect(new Set(regionIds).size).toBe(4999);
      const starts = await pdStartKeys(client, true);
      expect(starts).toHaveLength(5001);
      expect(starts.slice(0, 3)).toEqual(["", "k0000", "k0001"]);
      // reads across the new layout
      const snap = await client.txn().begin();
      expect((await snap.get("k0001x"))?.toString()).toBe("a");
      expect((await snap.get("k4999x"))?.toString()).toBe("b");
      await snap.rollback();
    },
    60_000,
  );
});

// client-go integration_tests/split_test.go and ticlient_test.go, by meaning
describe.skipIf(skipOnRealCluster("v1"))("ported: client-go split tests", () => {
  const env = useCluster({ stores: 3, regionKeyEncoding: "memcomparable" });

  // TestSplitBatchGet: a batch get grouped for one region still answers every key after that
  // region split under it (the stale batch meets EpochNotMatch and is regrouped)
  itFault("TestSplitBatchGet: batch get across a region split after the keys were grouped", async () => {
    const client = await env.connect();
    const w = await client.txn().begin();
    for (const k of ["sbg_a", "sbg_b", "sbg_c"]) w.set(k, `v-${k}`);
    await w.commit();
    const txn = await client.txn().begin();
    expect((await txn.get("sbg_a"))?.toString()).toBe("v-sbg_a"); // caches the region
    // another client splits: our cache still holds the old, wider region
    const other = await env.connect();
    expect((await other.splitRegions(["sbg_b"])).regionIds).toHaveLength(1);
    const got = await txn.batchGet(["sbg_a", "sbg_b", "sbg_c"]);
    expect(got.map((v) => v?.toString())).toEqual(["v-sbg_a", "v-sbg_b", "v-sbg_c"]);
    await txn.rollback();
  });

  // TestStaleEpoch: a client whose cached region went stale (split elsewhere) still reads and
  // writes correctly (EpochNotMatch → cache update → retry)
  itFault("TestStaleEpoch: reads and writes through a stale cached region", async () => {
    const client = await env.connect();
    const w = await client.txn().begin();
    w.set("stale_a", "a");
    w.set("stale_c", "c");
    await w.commit();
    const r0 = await client.txn().begin();
    expect((await r0.get("stale_a"))?.toString()).toBe("a");
    await r0.rollback();
    const other = await env.connect();
    await other.splitRegions(["stale_b"]);
    const txn = await client.txn().begin();
    expect((await txn.get("stale_a"))?.toString()).toBe("a");
    expect((await txn.get("stale_c"))?.toString()).toBe("c");
    txn.set("stale_b", "b");
    await txn.commit();
    const check = await other.txn().begin();
    expect((await check.get("stale_b"))?.toString()).toBe("b");
    await check.rollback();
  });

  // ticlient TestSplitRegionIn2PC: a region split while a transaction commits (here: between
  // prewrite and commit, the committer's regions go stale) leaves every key committed
  itFault("TestSplitRegionIn2PC: a split between prewrite and commit", async () => {
    const client = await env.connect();
    const keys = Array.from({ length: 200 }, (_, i) => `2pc_${String(i).padStart(3, "0")}`);
    const txn = await client.txn().begin();
    for (const k of keys) txn.set(k, `v${k}`);
    const delay = env.cluster.faults.delay({ rpc: "KvCommit", ms: 300, count: 1 });
    const commit = txn.commit();
    // wait until the primary's commit is held, then split the keys' region in three
    for (let i = 0; i < 100 && delay.fired === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(delay.fired).toBe(1);
    const other = await env.connect();
    expect((await other.splitRegions(["2pc_050", "2pc_150"])).regionIds).toHaveLength(2);
    await commit;
    await client.txn().whenIdle();
    const snap = await other.txn().begin();
    const got = await snap.batchGet(keys);
    expect(got.map((v) => v?.toString())).toEqual(keys.map((k) => `v${k}`));
    await snap.rollback();
  });
});
