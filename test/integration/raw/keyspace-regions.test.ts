// API V2 bootstrap: PD splits the regions at the default keyspace's raw and txn bounds on
// bootstrap, and at a new keyspace's bounds when it is created (pd pkg/keyspace/keyspace.go
// Manager.Bootstrap / CreateKeyspace -> splitKeyspaceRegion; bounds from util.go
// MakeRegionBound with codec.EncodeKeyspaceBoundary), so no region spans two keyspaces and each
// keyspace's requests land in its own regions.
import { describe, expect } from "vitest";
import { keyspaceRegionBounds } from "../../../src/cluster/pd/keyspaces.js";
import type { RegionInfo } from "../../../src/cluster/topology/types.js";
import { itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

// PD's EncodeKeyspaceBoundary(mode, id): {mode, id (3 bytes BE), 0, 0, 0, 0, 0xfb}.
const bound = (mode: "r" | "x", id: number) =>
  Buffer.from([mode.charCodeAt(0), (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff, 0, 0, 0, 0, 0xfb]);
const hex = (b: Buffer) => b.toString("hex");
const starts = (rs: RegionInfo[]) => rs.map((r) => hex(r.storedRegion.startKey));

/** The region spanning exactly [from, to) in stored form, if there is one. */
const exact = (rs: RegionInfo[], from: Buffer, to: Buffer) =>
  rs.find((r) => r.storedRegion.startKey.equals(from) && r.storedRegion.endKey.equals(to));

describe.skipIf(skipOnRealCluster("v2"))("API v2 keyspace regions", () => {
  const env = useCluster({ stores: 1, apiVersion: "v2" });

  itFault("a fresh v2 cluster has region boundaries at the default keyspace's raw and txn bounds", () => {
    const regions = env.cluster.topology.regions();
    expect(starts(regions)).toEqual(
      [Buffer.alloc(0), bound("r", 0), bound("r", 1), bound("x", 0), bound("x", 1)].map(hex),
    );
    expect(exact(regions, bound("r", 0), bound("r", 1))).toBeDefined();
    expect(exact(regions, bound("x", 0), bound("x", 1))).toBeDefined();
    // the user-key view names the 4-byte keyspace prefixes
    expect(keyspaceRegionBounds(0).map(hex)).toEqual(regions.slice(1).map((r) => hex(r.startKey)));
  });

  itFault("creating a keyspace adds its bounds; raw and txn clients in it use only its regions", async () => {
    const before = env.cluster.topology.regions().length;
    const meta = env.cluster.pd.createKeyspace({ name: "tenant_ks", id: 5 });
    expect(meta.name).toBe("tenant_ks");
    const regions = env.cluster.topology.regions();
    // r5, r6, x5, x6 are new boundaries
    expect(regions.length).toBe(before + 4);
    const rawRegion = exact(regions, bound("r", 5), bound("r", 6));
    const txnRegion = exact(regions, bound("x", 5), bound("x", 6));
    expect(rawRegion && txnRegion).toBeDefined();

    const client = await env.connect({ keyspace: "tenant_ks" });
    const rec = env.cluster.recordRequests();
    const raw = client.raw();
    await raw.batchPut(["a", "m", "z"], ["1", "2", "3"]);
    expect((await raw.scan("", "", 10)).map((p) => p.key.toString())).toEqual(["a", "m", "z"]);
    const txn = client.txn();
    const w = await txn.begin();
    w.set("a", "t1");
    w.set("z", "t2");
    await w.commit();
    expect((await (await txn.snapshot()).batchGet(["a", "z"])).map(String)).toEqual(["t1", "t2"]);
    rec.stop();
    const used = new Set(rec.entries.filter((e) => e.regionId !== 0n).map((e) => e.regionId));
    expect(used.size).toBeGreaterThan(0);
    const raws = rec.entries.filter((e) => e.rpc.startsWith("Raw")).map((e) => e.regionId);
    const txns = rec.entries
      .filter((e) => e.rpc.startsWith("Kv") && e.regionId !== 0n)
      .map((e) => e.regionId);
    expect(raws.length).toBeGreaterThan(0);
    expect(txns.length).toBeGreaterThan(0);
    expect(new Set(raws)).toEqual(new Set([rawRegion!.id]));
    expect(new Set(txns)).toEqual(new Set([txnRegion!.id]));
    // the default keyspace's data is elsewhere and untouched
    const dflt = (await env.connect()).raw();
    expect(await dflt.get("a")).toBeUndefined();
  });
});
