// G2 (client-go rawkv Get/BatchGet/Put/BatchPut/Delete/BatchDelete) on a 3-store, 3-region
// cluster. Ports the meaning of client-go rawkv_test.go TestSimpleGetPut, TestBatchPut-style
// cases and integration_tests/raw/api_test.go TestSimple/TestBatch*.

import { describe, expect, it } from "vitest";
import { InvalidArgumentError, ShuttingDownError } from "../../../src/index.js";
import { isRealCluster, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1"))("raw basic operations", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"] });

  it("puts, gets and deletes single keys in every region", async () => {
    const raw = (await env.connect()).raw();
    const p = uniquePrefix("basic");
    for (const k of [`a${p}`, `h${p}`, `q${p}`]) {
      expect(await raw.get(k)).toBeUndefined();
      await raw.put(k, `v-${k}`);
      expect((await raw.get(k))?.toString()).toBe(`v-${k}`);
      await raw.delete(k);
      expect(await raw.get(k)).toBeUndefined();
    }
  });

  it("accepts Buffer, Uint8Array and string keys and returns Buffers", async () => {
    const raw = (await env.connect()).raw();
    const key = Buffer.from([0x61, 0x00, 0xff, 0x01]);
    await raw.put(new Uint8Array(key), new Uint8Array([1, 2, 3]));
    const v = await raw.get(key);
    expect(Buffer.isBuffer(v)).toBe(true);
    expect([...(v as Buffer)]).toEqual([1, 2, 3]);
    expect(await raw.get("a\u0000\u00ff\u0001")).toBeUndefined(); // UTF-8 differs from the bytes
  });

  it("overwrites and deleting a missing key is not an error", async () => {
    const raw = (await env.connect()).raw();
    const k = uniquePrefix("ow");
    await raw.put(k, "1");
    await raw.put(k, "2");
    expect((await raw.get(k))?.toString()).toBe("2");
    await raw.delete(`${k}-missing`);
  });

  it("batchGet is positional across regions, with duplicates and missing keys", async () => {
    const raw = (await env.connect()).raw();
    const p = uniquePrefix("bg");
    const keys = [`z${p}1`, `a${p}1`, `h${p}1`, `a${p}missing`, `z${p}1`];
    await raw.batchPut([`a${p}1`, `h${p}1`, `z${p}1`], ["A", "H", "Z"]);
    const got = await raw.batchGet(keys);
    expect(got.map((v) => v?.toString())).toEqual(["Z", "A", "H", undefined, "Z"]);
    expect(await raw.batchGet([])).toEqual([]);
  });

  it("batchPut and batchDelete split large batches (over 512 keys, over 16 KiB) per region", async () => {
    const client = await env.connect();
    const raw = client.raw();
    const p = uniquePrefix("big");
    const keys: string[] = [];
    for (let i = 0; i < 1500; i++) keys.push(`${["a", "h", "q"][i % 3]}${p}${String(i).padStart(5, "0")}`);
    const values = keys.map((k, i) => (i % 100 === 0 ? "x".repeat(20_000) : `v${k}`));
    client.resetMetrics();
    await raw.batchPut(keys, values);
    const sends = Object.values(client.metrics().sendsByStore).reduce((a, b) => a + b, 0);
    // 3 regions, 500 keys each; ~16 KiB batches plus the 15 oversized values: many requests
    expect(sends).toBeGreaterThan(6);
    const got = await raw.batchGet(keys);
    expect(got.map((v) => v?.toString())).toEqual(values);
    client.resetMetrics();
    await raw.batchDelete(keys);
    const delSends = Object.values(client.metrics().sendsByStore).reduce((a, b) => a + b, 0);
    // 500 keys per region fit in one 512-key batch each
    if (!isRealCluster) expect(delSends).toBe(3);
    expect((await raw.batchGet(keys)).every((v) => v === undefined)).toBe(true);
  });

  // client-go integration_tests/raw api_test.go TestEmptyValue
  it("keeps an empty value distinct from a missing key in get, batchGet, scan and reverseScan", async () => {
    const raw = (await env.connect()).raw();
    const k = uniquePrefix("empty");
    const verifyEmpty = async () => {
      const v = await raw.get(`${k}key`);
      expect(v).toEqual(Buffer.alloc(0));
      const vs = await raw.batchGet([`${k}key`, `${k}key1`]);
      expect(vs).toEqual([Buffer.alloc(0), undefined]);
      const fwd = await raw.scan(`${k}key`, `${k}keyz`, 10);
      expect(fwd.map((p) => [p.key.toString(), p.value.length])).toEqual([[`${k}key`, 0]]);
      const rev = await raw.reverseScan(`${k}keyz`, `${k}key`, 10);
      expect(rev.map((p) => [p.key.toString(), p.value.length])).toEqual([[`${k}key`, 0]]);
    };
    const verifyMissing = async () => {
      expect(await raw.get(`${k}key`)).toBeUndefined();
      expect(await raw.batchGet([`${k}key`, `${k}key1`])).toEqual([undefined, undefined]);
      expect(await raw.scan(`${k}key`, `${k}keyz`, 10)).toEqual([]);
      expect(await raw.reverseScan(`${k}keyz`, `${k}key`, 10)).toEqual([]);
    };
    await verifyMissing();
    await raw.put(`${k}key`, "");
    await verifyEmpty();
    await raw.delete(`${k}key`);
    await verifyMissing();
    await raw.batchPut([`${k}key`], [""]);
    await verifyEmpty();
    await raw.batchDelete([`${k}key`]);
    await verifyMissing();
  });

  it("rejects bad input with InvalidArgumentError before any RPC", async () => {
    const client = await env.connect();
    const raw = client.raw();
    client.resetMetrics();
    await expect(raw.get(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(raw.batchPut(["a"], ["1", "2"])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(raw.batchPut(["a"], ["1"], { ttl: [1, 2] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(raw.put("a", "1", { ttl: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(raw.batchGet("abc" as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(raw.get("a", { timeoutMs: -5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(client.metrics().sendsByStore).toEqual({});
  });

  it("fails calls after close with ShuttingDownError", async () => {
    const client = await env.connect();
    const raw = client.raw();
    await raw.put("closing", "1");
    await client.close();
    await expect(raw.get("closing")).rejects.toBeInstanceOf(ShuttingDownError);
    expect(() => client.raw()).toThrow(ShuttingDownError);
    await client.close(); // idempotent
  });
});
