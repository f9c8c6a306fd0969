// G3 (PutWithTTL, BatchPutWithTTL, GetKeyTTL, SetAtomicForCAS, CompareAndSwap) and G1 column
// families (client SetColumnFamily, per-call SetColumnFamily). Ports the meaning of client-go
// rawkv_test.go TestRawCompareAndSwap / TestColumnFamilyForClient / TestColumnFamilyForOptions
// and integration_tests/raw/api_test.go TestCompareAndSwap / TestPutWithTTL.

import { describe, expect, it } from "vitest";
import { InvalidArgumentError, TikvError } from "../../../src/index.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1ttl"))("API v1ttl: TTL", () => {
  // the cluster's clock, moved forward to expire keys without waiting
  let skewMs = 0;
  const env = useCluster({
    stores: 1,
    splitKeys: ["m"],
    apiVersion: "v1ttl",
    now: () => Date.now() + skewMs,
  });

  it("put with ttl, getKeyTTL, no ttl = 0, missing key = undefined", async () => {
    const raw = (await env.connect()).raw();
    const p = uniquePrefix("ttl");
    await raw.put(`${p}a`, "1", { ttl: 100 });
    await raw.put(`${p}b`, "2");
    const ttl = await raw.getKeyTTL(`${p}a`);
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);
    expect(await raw.getKeyTTL(`${p}b`)).toBe(0);
    expect(await raw.getKeyTTL(`${p}none`)).toBeUndefined();
  });

  it("batchPut with one ttl or per-key ttls across regions", async () => {
    const raw = (await env.connect()).raw();
    const p = uniquePrefix("bttl");
    await raw.batchPut([`a${p}`, `z${p}`], ["1", "2"], { ttl: 50 });
    expect(await raw.getKeyTTL(`a${p}`)).toBeGreaterThan(40);
    expect(await raw.getKeyTTL(`z${p}`)).toBeGreaterThan(40);
    await raw.batchPut([`a${p}`, `z${p}`], ["1", "2"], { ttl: [0, 200] });
    expect(await raw.getKeyTTL(`a${p}`)).toBe(0);
    expect(await raw.getKeyTTL(`z${p}`)).toBeGreaterThan(150);
  });

  it("an expired key reads as missing", async () => {
    const raw = (await env.connect()).raw();
    const k = uniquePrefix("exp");
    await raw.put(k, "v", { ttl: 5 });
    expect((await raw.get(k))?.toString()).toBe("v");
    skewMs += 6_000;
    try {
      expect(await raw.get(k)).toBeUndefined();
      expect(await raw.getKeyTTL(k)).toBeUndefined();
    } finally {
      skewMs -= 6_000;
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("API v1: TTL is rejected by TiKV", () => {
  const env = useCluster({ stores: 1 });
  it("fails a put with a TTL with TiKV's error", async () => {
    const raw = (await env.connect()).raw();
    await expect(raw.put("t", "v", { ttl: 5 })).rejects.toBeInstanceOf(TikvError);
    await raw.put("t", "v");
  });
});

describe.skipIf(skipOnRealCluster("v1"))("compare-and-swap (atomic mode)", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  it("needs atomic mode", async () => {
    const raw = (await env.connect()).raw();
    await expect(raw.compareAndSwap("k", undefined, "v")).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("swaps only when the previous value matches; undefined = must not exist", async () => {
    const cas = (await env.connect()).raw({ atomic: true });
    for (const k of [uniquePrefix("a"), `z${uniquePrefix("z")}`]) {
      let r = await cas.compareAndSwap(k, undefined, "1");
      expect(r).toEqual({ previousValue: undefined, swapped: true });
      r = await cas.compareAndSwap(k, undefined, "2");
      expect(r.swapped).toBe(false);
      expect(r.previousValue?.toString()).toBe("1");
      r = await cas.compareAndSwap(k, "0", "2");
      expect(r.swapped).toBe(false);
      expect(r.previousValue?.toString()).toBe("1");
      r = await cas.compareAndSwap(k, "1", "2");
      expect(r.swapped).toBe(true);
      expect(r.previousValue?.toString()).toBe("1");
      expect((await cas.get(k))?.toString()).toBe("2");
      await cas.delete(k);
      expect((await cas.compareAndSwap(k, undefined, "3")).swapped).toBe(true);
    }
  });

  it("is linearizable under concurrent increments", async () => {
    const client = await env.connect();
    const cas = client.raw({ atomic: true });
    const k = uniquePrefix("ctr");
    await cas.put(k, "0");
    const incr = async () => {
      for (;;) {
        const cur = (await cas.get(k)) as Buffer;
        const r = await cas.compareAndSwap(k, cur, String(Number(cur.toString()) + 1));
        if (r.swapped) return;
      }
    };
    await Promise.all(Array.from({ length: 20 }, incr));
    expect((await cas.get(k))?.toString()).toBe("20");
  });

  it("withAtomic / withColumnFamily derive views", async () => {
    const client = await env.connect();
    const raw = client.raw();
    expect(raw.withAtomic(true).atomic).toBe(true);
    expect(raw.atomic).toBe(false);
    expect(raw.withColumnFamily("write").columnFamily).toBe("write");
    expect(() => raw.withAtomic("yes" as never)).toThrow(InvalidArgumentError);
    expect(() => client.raw({ atomic: 1 as never })).toThrow(InvalidArgumentError);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("column families", () => {
  const env = useCluster({ stores: 1, splitKeys: ["m"] });

  it("client default and per-call column families are separate key spaces", async () => {
    const client = await env.connect();
    const dflt = client.raw();
    const write = client.raw({ columnFamily: "write" });
    const k = uniquePrefix("cf");
    await dflt.put(k, "d");
    await write.put(k, "w");
    expect((await dflt.get(k))?.toString()).toBe("d");
    expect((await write.get(k))?.toString()).toBe("w");
    expect((await dflt.get(k, { columnFamily: "write" }))?.toString()).toBe("w");
    expect((await write.get(k, { columnFamily: "default" }))?.toString()).toBe("d");
    await dflt.put(k, "l", { columnFamily: "lock" });
    expect((await dflt.batchGet([k], { columnFamily: "lock" }))[0]?.toString()).toBe("l");
    expect((await write.scan(k, `${k}\xff`, 10)).map((p) => p.value.toString())).toEqual(["w"]);
    await write.deleteRange(k, `${k}\xff`);
    expect(await write.get(k)).toBeUndefined();
    expect((await dflt.get(k))?.toString()).toBe("d");
  });

  it("an unknown column family fails with TiKV's error", async () => {
    const raw = (await env.connect()).raw({ columnFamily: "nope" });
    await expect(raw.put("k", "v")).rejects.toBeInstanceOf(TikvError);
    await expect(raw.get("k", { columnFamily: 7 as never })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
