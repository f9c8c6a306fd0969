/**
 * client-go raw tests ported by meaning at the storage level: the parts of
 * rawkv/rawkv_test.go, integration_tests/raw/api_mock_test.go and
 * integration_tests/raw/api_test.go that concern what the store keeps and
 * returns. Client behaviour (store replacement, region routing, batching) is
 * ported by the client teams; here regions are emulated by passing region
 * ranges the way client-go's per-region loops send them.
 */
import { describe, expect, it } from "vitest";
import { crc64Xz } from "../../../../src/cluster/engine/raw/crc64.js";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { b, keysOf, kv, setup } from "./helpers.js";

describe("api_mock_test.go", () => {
  it("TestSimple: put/get/delete round trip; an empty value is legal", () => {
    const { r } = setup();
    expect(r.get("key").notFound).toBe(true);
    r.put("key", "value");
    expect(r.get("key").value.toString()).toBe("value");
    r.del("key");
    expect(r.get("key").notFound).toBe(true);
    expect(r.put("key", "").error).toBe("");
  });

  it("TestRawBatch: batch put/get/delete of many pairs", () => {
    const { r } = setup();
    const pairs: [string, string][] = [];
    for (let i = 0; i < 8000; i++) pairs.push([`key${i}`, `value${i}`]);
    for (const [k] of pairs) expect(r.get(k).notFound).toBe(true);
    expect(r.batchPut(pairs).error).toBe("");
    expect(kv(r.batchGet(pairs.map(([k]) => k)).pairs)).toEqual(pairs);
    expect(r.batchDel(pairs.map(([k]) => k)).error).toBe("");
    expect(r.batchGet(pairs.map(([k]) => k)).pairs).toEqual([]);
  });

  it("TestDeleteRange: ranges crossing region boundaries remove exactly [start, end)", () => {
    const { r } = setup();
    const expected = new Map<string, string>();
    for (const i of "abcd") {
      for (let j = 0; j <= 9; j++) {
        r.put(`${i}${j}`, `v${i}${j}`);
        expected.set(`${i}${j}`, `v${i}${j}`);
      }
    }
    // Regions split at b, c and d; client-go sends one request per region, end clamped to the region.
    const splits = ["", "b", "c", "d", ""];
    const deleteRange = (start: string, end: string) => {
      for (let i = 0; i + 1 < splits.length; i++) {
        const rs = splits[i]!;
        const re = splits[i + 1]!;
        const s = start > rs ? start : rs;
        const e = re === "" || end < re ? end : re;
        if (re !== "" && s >= re) continue;
        if (s >= e) continue;
        expect(r.deleteRange(s, e).error).toBe("");
      }
      for (const k of [...expected.keys()]) if (k >= start && k < end) expected.delete(k);
      const all = kv(r.scan("", "", expected.size + 1).kvs);
      expect(all).toEqual([...expected.entries()].sort(([a], [c]) => (a < c ? -1 : 1)));
    };
    deleteRange("b", "c0");
    deleteRange("c11", "c12");
    deleteRange("d0", "d0");
    deleteRange("c5", "d5");
    deleteRange("a", "z");
    expect(expected.size).toBe(0);
  });
});

describe("rawkv_test.go", () => {
  it("TestColumnFamilyForClient / ForOptions: a key is visible only in the CF it was written to", () => {
    // client-go uses mocktikv-only CF names ("cf1", "cf2"); TiKV has default/lock/write.
    const { r } = setup();
    r.put("db", "TiDB", { cf: "lock" });
    r.put("kv", "TiKV", { cf: "write" });
    expect(r.get("db", "lock").value.toString()).toBe("TiDB");
    expect(r.get("kv", "lock").notFound).toBe(true);
    expect(r.get("kv", "write").value.toString()).toBe("TiKV");
    expect(r.get("db", "write").notFound).toBe(true);
    expect(r.get("db").notFound).toBe(true);
    expect(r.get("kv").notFound).toBe(true);
    r.del("db", { cf: "lock" });
    r.del("kv", { cf: "write" });
    expect(r.get("db", "lock").notFound).toBe(true);
    expect(r.get("kv", "write").notFound).toBe(true);
  });

  const pairs: [string, string][] = [
    ["db", "TiDB"],
    ["key2", "value2"],
    ["key1", "value1"],
    ["key4", "value4"],
    ["key3", "value3"],
    ["kv", "TiKV"],
  ];

  it("TestBatch: batch put, batch get, batch delete in a CF", () => {
    const { r } = setup();
    r.batchPut(pairs, { cf: "write" });
    const got = new Map(
      kv(
        r.batchGet(
          pairs.map(([k]) => k),
          "write",
        ).pairs,
      ),
    );
    for (const [k, v] of pairs) expect(got.get(k)).toBe(v);
    r.batchDel(
      pairs.map(([k]) => k),
      { cf: "write" },
    );
    expect(r.get(pairs[0]![0], "write").notFound).toBe(true);
  });

  it("TestScan: scan with limit, reverse scan key-only", () => {
    const { r } = setup();
    r.batchPut(pairs, { cf: "write" });
    expect(kv(r.scan("key1", "keyz", 3, { cf: "write" }).kvs)).toEqual([
      ["key1", "value1"],
      ["key2", "value2"],
      ["key3", "value3"],
    ]);
    const rev = r.scan("key3", "", 10, { cf: "write", reverse: true, keyOnly: true }).kvs;
    expect(keysOf(rev)).toEqual(["key2", "key1", "db"]);
    for (const p of rev) expect(p.value.length).toBe(0);
  });

  it("TestDeleteRange: unbounded end, then everything", () => {
    const { r } = setup();
    r.batchPut(pairs, { cf: "write" });
    r.deleteRange("key3", "", "write");
    expect(r.scan("key3", "", 10, { cf: "write" }).kvs).toEqual([]);
    expect(keysOf(r.scan("", "", 10, { cf: "write" }).kvs)).toEqual(["db", "key1", "key2"]);
    r.deleteRange("", "", "write");
    expect(r.scan("", "", 10, { cf: "write" }).kvs).toEqual([]);
  });

  it("TestDeleteRangeEmptyKeysMultiRegion: DeleteRange(nil, nil) per region clears all regions", () => {
    const { r } = setup();
    r.batchPut(pairs, { cf: "write" });
    // Split at key3: the client sends ["", "key3") to the first region and ["key3", "") to the last.
    expect(r.scan("", "", 10, { cf: "write" }, { start: "", end: "key3" }).kvs).toHaveLength(3);
    expect(r.deleteRange("", "key3", "write").error).toBe("");
    expect(r.deleteRange("key3", "", "write").error).toBe("");
    expect(r.scan("", "", 10, { cf: "write" }).kvs).toEqual([]);
  });
});

describe("api_test.go (real-cluster suite, storage part)", () => {
  it("TestCAS: empty expected = not exist; mismatch returns the current value", () => {
    const { r } = setup();
    const first = r.cas("test_caskey", null, "hello world");
    expect(first.succeed).toBe(true);
    expect(first.previousNotExist).toBe(true);
    expect(r.get("test_caskey").value.toString()).toBe("hello world");
    const miss = r.cas("test_caskey", "hello", "world");
    expect(miss.succeed).toBe(false);
    expect(miss.previousValue.toString()).toBe("hello world");
    const hit = r.cas("test_caskey", "hello world", "world");
    expect(hit.succeed).toBe(true);
    expect(hit.previousValue.toString()).toBe("hello world");
    expect(r.get("test_caskey").value.toString()).toBe("world");
  });

  it("TestTTL: remaining TTL shrinks, the key disappears at expiry (V1TTL storage, fake clock)", () => {
    const { r, clock } = setup(APIVersion.V1TTL);
    r.put("test_ttlkey", "value", { ttl: 2n });
    clock.advanceSeconds(1);
    const rest = r.ttl("test_ttlkey");
    expect(rest.notFound).toBe(false);
    expect(rest.ttl <= 1n).toBe(true);
    clock.advanceSeconds(1);
    expect(r.get("test_ttlkey").notFound).toBe(true);
    expect(r.ttl("test_ttlkey").notFound).toBe(true);
  });

  it("TestEmptyValue: an empty value exists for get, batch get, scan and reverse scan", () => {
    const { r } = setup();
    r.put("key", "");
    const g = r.get("key");
    expect(g.notFound).toBe(false);
    expect(g.value.length).toBe(0);
    expect(kv(r.batchGet(["key", "key1"]).pairs)).toEqual([["key", ""]]);
    expect(kv(r.scan("key", "keyz", 10).kvs)).toEqual([["key", ""]]);
    expect(kv(r.scan("keyz", "key", 10, { reverse: true }).kvs)).toEqual([["key", ""]]);
  });

  it("TestReverseScan: limit 5 from the prefix end returns the last five keys, descending", () => {
    const { r } = setup();
    for (let i = 0; i < 10; i++) r.put(`p:key:${i}`, `value:${i}`);
    expect(keysOf(r.scan("p:key;", "p:", 5, { reverse: true }).kvs)).toEqual([
      "p:key:9",
      "p:key:8",
      "p:key:7",
      "p:key:6",
      "p:key:5",
    ]);
  });

  it("TestRawChecksum: under API V2 the 'r' + keyspace prefix is part of the checksummed key", () => {
    const { r } = setup(APIVersion.V2);
    const prefix = "r\0\0\0test_checksum";
    let checksum = 0n;
    let totalBytes = 0n;
    const pairs: [string, string][] = [];
    for (let i = 0; i < 2048; i++) {
      const key = `${prefix}key@${i}`;
      const value = `value@${i}`;
      pairs.push([key, value]);
      checksum ^= crc64Xz(b(key), b(value));
      totalBytes += BigInt(key.length + value.length);
    }
    r.batchPut(pairs);
    const resp = r.checksum([["r\0\0\0", "r\0\0\x01"]]);
    expect(resp.error).toBe("");
    expect(resp).toMatchObject({ checksum, totalKvs: 2048n, totalBytes });
  });
});
