/**
 * Raw checksum. Cases follow tikv src/storage/mod.rs test_raw_checksum (which
 * also guards tikv#12950: the start key must be compared after encoding) and
 * client-go rawkv/rawkv_test.go TestRawChecksum, whose expected values are
 * computed with Go's crc64 ECMA table: XOR over pairs of crc64(key ‖ value).
 */
import { describe, expect, it } from "vitest";
import { crc64Xz } from "../../../../src/cluster/engine/raw/crc64.js";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { b, setup } from "./helpers.js";

function expected(pairs: [string, string][]) {
  let checksum = 0n;
  let totalBytes = 0n;
  for (const [k, v] of pairs) {
    checksum ^= crc64Xz(b(k), b(v));
    totalBytes += BigInt(k.length + v.length);
  }
  return { checksum, totalKvs: BigInt(pairs.length), totalBytes };
}

describe.each([
  ["V1", APIVersion.V1],
  ["V1TTL", APIVersion.V1TTL],
  ["V2", APIVersion.V2],
] as const)("raw checksum on %s storage (test_raw_checksum)", (_n, storage) => {
  it("covers [start, end) and excludes a start key just below the first key", () => {
    const { r } = setup(storage);
    const data: [string, string][] = [
      ["r\0a", "aa"],
      ["r\0b", "bb"],
      ["r\0c", "cc"],
      ["r\0d", "dd"],
      ["r\0e", "ee"],
      ["r\0f", "ff"],
    ];
    for (const [k, v] of data) r.put(k, v);
    const resp = r.checksum([["r\0a\0", "r\0z"]]);
    expect(resp.error).toBe("");
    expect(resp.regionError).toBeUndefined();
    expect({ checksum: resp.checksum, totalKvs: resp.totalKvs, totalBytes: resp.totalBytes }).toEqual(
      expected(data.slice(1)),
    );
  });

  it("sums over several ranges and is zero for an empty range", () => {
    const { r } = setup(storage);
    r.put("r\0a", "1");
    r.put("r\0b", "2");
    r.put("r\0c", "3");
    const resp = r.checksum([
      ["r\0a", "r\0b"],
      ["r\0c", "r\0d"],
    ]);
    expect(resp.totalKvs).toBe(2n);
    expect(resp.checksum).toBe(
      expected([
        ["r\0a", "1"],
        ["r\0c", "3"],
      ]).checksum,
    );
    expect(r.checksum([["r\0x", "r\0y"]])).toEqual({
      regionError: undefined,
      error: "",
      checksum: 0n,
      totalKvs: 0n,
      totalBytes: 0n,
    });
  });

  it("reads only the default column family", () => {
    const { r } = setup(storage);
    if (storage === APIVersion.V2) return; // V2 forbids naming a CF
    r.put("r\0a", "1", { cf: "lock" });
    expect(r.checksum([["r\0", "r\0z"]]).totalKvs).toBe(0n);
  });
});

describe("client-go TestRawChecksum", () => {
  it("matches Go's crc64-ECMA XOR over all pairs, with an unbounded end key", () => {
    const { r } = setup();
    const pairs: [string, string][] = [
      ["db", "TiDB"],
      ["key2", "value2"],
      ["key1", "value1"],
      ["key4", "value4"],
      ["key3", "value3"],
      ["kv", "TiKV"],
    ];
    // client-go writes to cf "CF_DEFAULT", a mocktikv-only name; TiKV's default CF is "default".
    r.batchPut(pairs);
    const resp = r.checksum([["db", ""]]);
    expect({ checksum: resp.checksum, totalKvs: resp.totalKvs, totalBytes: resp.totalBytes }).toEqual(
      expected(pairs),
    );
  });
});
