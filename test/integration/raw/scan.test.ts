// G4 (client-go rawkv Scan/ReverseScan/ScanKeyOnly/DeleteRange/Checksum) plus batchScan and the
// paging iterator, on 4 regions. Ports the meaning of client-go rawkv_test.go TestRawScan*,
// TestRawDeleteRange, TestRawChecksum and integration_tests/raw/api_test.go TestScan*.

import { describe, expect, it } from "vitest";
import { crc64Xz } from "../../../src/cluster/engine/raw/crc64.js";
import {
  InvalidArgumentError,
  MAX_RAW_KV_SCAN_LIMIT,
  MaxScanLimitExceededError,
  nextKey,
} from "../../../src/index.js";
import { isRealCluster, useCluster } from "../../support/cluster.js";

const key = (i: number) => `k${String(i).padStart(4, "0")}`;

// These tests own the whole key space (unbounded ranges, deleteRange("", "")): embedded only.
describe.skipIf(isRealCluster)("raw scans, ranges and checksum", () => {
  // regions: ["", k0010) [k0010, k0020) [k0020, k0030) [k0030, "")
  const env = useCluster({ stores: 3, splitKeys: [key(10), key(20), key(30)] });

  async function seeded(n = 40) {
    const client = await env.connect();
    const raw = client.raw();
    await raw.deleteRange("", "");
    const keys = Array.from({ length: n }, (_, i) => key(i));
    await raw.batchPut(
      keys,
      keys.map((k) => `v${k}`),
    );
    return { client, raw, keys };
  }

  it("scans across regions in key order, honouring limit and end", async () => {
    const { raw, keys } = await seeded();
    const all = await raw.scan("", "", 100);
    expect(all.map((p) => p.key.toString())).toEqual(keys);
    expect(all[5]?.value.toString()).toBe(`v${key(5)}`);
    const mid = await raw.scan(key(8), key(23), 100);
    expect(mid.map((p) => p.key.toString())).toEqual(keys.slice(8, 23));
    const limited = await raw.scan(key(8), "", 5);
    expect(limited.map((p) => p.key.toString())).toEqual(keys.slice(8, 13));
    expect(await raw.scan(key(8), key(8), 10)).toEqual([]);
    expect(await raw.scan("", "", 0)).toEqual([]);
  });

  it("keyOnly returns empty values", async () => {
    const { raw } = await seeded();
    const ks = await raw.scan(key(0), key(15), 100, { keyOnly: true });
    expect(ks).toHaveLength(15);
    expect(ks.every((p) => p.value.length === 0)).toBe(true);
  });

  it("reverse scans from an exclusive upper bound down to an inclusive lower bound", async () => {
    const { raw, keys } = await seeded();
    const rev = await raw.reverseScan(key(25), key(5), 100);
    expect(rev.map((p) => p.key.toString())).toEqual(keys.slice(5, 25).reverse());
    const lim = await raw.reverseScan(key(35), "", 12);
    expect(lim.map((p) => p.key.toString())).toEqual(keys.slice(23, 35).reverse());
    const toStart = await raw.reverseScan(nextKey(Buffer.from(key(39))), "", 100);
    expect(toStart.map((p) => p.key.toString())).toEqual([...keys].reverse());
  });

  it("rejects limits over MaxRawKVScanLimit and reverse scans from the empty key", async () => {
    const { raw } = await seeded(1);
    await expect(raw.scan("", "", MAX_RAW_KV_SCAN_LIMIT + 1)).rejects.toBeInstanceOf(
      MaxScanLimitExceededError,
    );
    await expect(raw.reverseScan("z", "", MAX_RAW_KV_SCAN_LIMIT + 1)).rejects.toBeInstanceOf(
      MaxScanLimitExceededError,
    );
    await expect(raw.scan("", "", MAX_RAW_KV_SCAN_LIMIT)).resolves.toHaveLength(1);
    await expect(raw.reverseScan("", "", 10)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(raw.scan("", "", -1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(raw.scan("", "", 1.5)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("batchScan returns one positional result per range", async () => {
    const { raw, keys } = await seeded();
    const [a, b, c] = await raw.batchScan(
      [
        [key(0), key(3)],
        [key(18), key(40)],
        [key(50), ""],
      ],
      5,
    );
    expect(a?.map((p) => p.key.toString())).toEqual(keys.slice(0, 3));
    expect(b?.map((p) => p.key.toString())).toEqual(keys.slice(18, 23));
    expect(c).toEqual([]);
    await expect(raw.batchScan([["a"] as never], 1)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("deleteRange removes exactly [start, end) across regions", async () => {
    const { raw, keys } = await seeded();
    await raw.deleteRange(key(5), key(33));
    const left = await raw.scan("", "", 100);
    expect(left.map((p) => p.key.toString())).toEqual([...keys.slice(0, 5), ...keys.slice(33)]);
    await raw.deleteRange(key(0), "");
    expect(await raw.scan("", "", 100)).toEqual([]);
  });

  it("checksum combines regions and matches a local CRC64-XOR", async () => {
    const { raw, keys } = await seeded();
    const sum = await raw.checksum("", "");
    expect(sum.totalKvs).toBe(BigInt(keys.length));
    let crc = 0n;
    let bytes = 0n;
    for (const k of keys) {
      crc ^= crc64Xz(Buffer.from(k), Buffer.from(`v${k}`));
      bytes += BigInt(k.length * 2 + 1);
    }
    expect(sum.crc64Xor).toBe(crc);
    expect(sum.totalBytes).toBe(bytes);
    const part = await raw.checksum(key(12), key(28));
    expect(part.totalKvs).toBe(16n);
    const rest = await raw.checksum("", key(12));
    const tail = await raw.checksum(key(28), "");
    expect(rest.crc64Xor ^ part.crc64Xor ^ tail.crc64Xor).toBe(sum.crc64Xor);
  });

  it("iterate pages forward across regions with no cap", async () => {
    const { raw, keys } = await seeded();
    const seen: string[] = [];
    for await (const p of raw.iterate("", "", { pageSize: 7 })) seen.push(p.key.toString());
    expect(seen).toEqual(keys);
    const part: string[] = [];
    for await (const p of raw.iterate(key(3), key(31), { pageSize: 4, keyOnly: true })) {
      expect(p.value.length).toBe(0);
      part.push(p.key.toString());
    }
    expect(part).toEqual(keys.slice(3, 31));
  });

  it("iterate pages in reverse and can be stopped early", async () => {
    const { raw, keys } = await seeded();
    const seen: string[] = [];
    for await (const p of raw.iterate(key(38), key(2), { reverse: true, pageSize: 5 }))
      seen.push(p.key.toString());
    expect(seen).toEqual(keys.slice(2, 38).reverse());
    let n = 0;
    for await (const _ of raw.iterate("", "", { pageSize: 3 })) if (++n === 4) break;
    expect(n).toBe(4);
    await expect(raw.iterate("", "", { pageSize: MAX_RAW_KV_SCAN_LIMIT + 1 }).next()).rejects.toBeInstanceOf(
      MaxScanLimitExceededError,
    );
  });

  it("iterates more than MaxRawKVScanLimit keys", async () => {
    const client = await env.connect();
    const raw = client.raw();
    await raw.deleteRange("", "");
    const keys = Array.from({ length: 10_300 }, (_, i) => `m${String(i).padStart(6, "0")}`);
    await raw.batchPut(
      keys,
      keys.map(() => "v"),
    );
    let count = 0;
    let prev = "";
    for await (const p of raw.iterate("", "", { pageSize: MAX_RAW_KV_SCAN_LIMIT })) {
      const k = p.key.toString();
      expect(k > prev).toBe(true);
      prev = k;
      count++;
    }
    expect(count).toBe(keys.length);
    await raw.deleteRange("", "");
  }, 60_000);
});
