// Raw and transactional clients on ONE memcomparable API V1 cluster, as TiKV serves them: region
// boundaries stay in byte form, PD answers GetRegion for whatever key a client sends (client-go
// rawkv looks raw keys up as they are, txnkv encodes them with codec.EncodeBytes), and the store
// checks raw keys byte for byte and txn keys after encoding (raftstore check_key_in_region).
import { describe, expect } from "vitest";
import { encodeBytes } from "../../../src/kv/memcomparable.js";
import { itFault, useCluster } from "../../support/cluster.js";

const b = (s: string) => Buffer.from(s);
const keysOf = (pairs: { key: Buffer }[]) => pairs.map((p) => p.key.toString());

describe("raw + txn on one memcomparable cluster", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m", "t"], regionKeyEncoding: "memcomparable" });

  itFault(
    "raw keys route by bytes across encoded boundaries while txn keys route by their encoding",
    async () => {
      const client = await env.connect();
      const raw = client.raw();
      const txn = client.txn();
      const rawKeys = ["a", "m", "m1", "t", "z"];
      await raw.batchPut(
        rawKeys,
        rawKeys.map((k) => `r-${k}`),
      );
      // raw "m" sorts before encode("m"): it lives in the first region, not where txn "m" lives
      const topo = env.cluster.topology;
      expect(topo.locateStoredKey(b("m"))?.storedRegion.endKey).toEqual(encodeBytes(b("m")));
      expect(topo.locateKey(b("m"))?.storedRegion.startKey).toEqual(encodeBytes(b("m")));
      const w = await txn.begin();
      for (const k of ["m", "p", "t", "u"]) w.set(k, `x-${k}`);
      await w.commit();
      expect((await raw.batchGet(rawKeys)).map((v) => v?.toString())).toEqual(rawKeys.map((k) => `r-${k}`));
      expect(keysOf(await raw.scan("", "", 100))).toEqual(rawKeys);
      expect(keysOf(await raw.reverseScan("zz", "", 100))).toEqual([...rawKeys].reverse());
      const snap = await txn.snapshot();
      expect((await snap.batchGet(["m", "p", "t", "u"])).map((v) => v?.toString())).toEqual([
        "x-m",
        "x-p",
        "x-t",
        "x-u",
      ]);
      expect((await snap.scan("m", "", 10)).map((e) => e.key.toString())).toEqual(["m", "p", "t", "u"]);
      // the two key spaces do not see each other's data
      expect(await raw.get("p")).toBeUndefined();
      expect(await snap.get("a")).toBeUndefined();
      await raw.deleteRange("", "");
      expect(await raw.scan("", "", 10)).toEqual([]);
      expect((await (await txn.snapshot()).get("p"))?.toString()).toBe("x-p");
    },
  );

  itFault(
    "a txn split at k3 leaves raw k3 in the left region, served there (RawGet/RawPut no longer KeyNotInRegion)",
    async () => {
      const client = await env.connect();
      const raw = client.raw();
      await client.splitRegions(["k3"]);
      const left = env.cluster.topology.locateStoredKey(b("k3"));
      expect(left?.storedRegion.endKey).toEqual(encodeBytes(b("k3")));
      await raw.put("k3", "v3");
      await raw.put("k2", "v2");
      await raw.put("k4", "v4");
      expect((await raw.get("k3"))?.toString()).toBe("v3");
      // a range cut at the region's end (encode("k3")) continues in the next region
      expect(keysOf(await raw.scan("k", "k5", 10))).toEqual(["k2", "k3", "k4"]);
      expect(keysOf(await raw.reverseScan("k5", "k", 10))).toEqual(["k4", "k3", "k2"]);
      const txn = client.txn();
      const w = await txn.begin();
      w.set("k3", "t3");
      w.set("k2", "t2");
      await w.commit();
      expect((await (await txn.snapshot()).batchGet(["k2", "k3"])).map(String)).toEqual(["t2", "t3"]);
    },
  );

  itFault("raw splits cut at raw bytes; both clients keep working on their sides of them", async () => {
    const client = await env.connect();
    const raw = client.raw();
    const { regionIds } = await client.splitRegions(["c", "f"], { keyMode: "raw" });
    expect(regionIds.length).toBe(2);
    const topo = env.cluster.topology;
    expect(topo.locateStoredKey(b("c"))?.storedRegion.startKey).toEqual(b("c"));
    expect(topo.locateStoredKey(b("f"))?.storedRegion.startKey).toEqual(b("f"));
    await raw.deleteRange("", "");
    const ks = ["b", "c", "e", "f", "g", "n"];
    await raw.batchPut(ks, ks);
    expect(keysOf(await raw.scan("a", "o", 100))).toEqual(ks);
    expect(keysOf(await raw.scan("c", "f", 100))).toEqual(["c", "e"]);
    await raw.deleteRange("c", "g");
    expect(keysOf(await raw.scan("a", "o", 100))).toEqual(["b", "g", "n"]);
    // txn keys past the raw boundaries are unaffected
    const txn = client.txn();
    const w = await txn.begin();
    w.set("q", "1");
    w.set("v", "2");
    await w.commit();
    expect((await (await txn.snapshot()).scan("p", "", 10)).map((e) => e.key.toString())).toContain("q");
  });
});
