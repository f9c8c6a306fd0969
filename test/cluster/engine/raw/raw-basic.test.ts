/**
 * Point reads and writes. Cases follow tikv src/storage/mod.rs tests
 * (test_raw_get_put, test_raw_delete, test_raw_batch_put, test_raw_batch_get,
 * test_raw_batch_delete, test_raw_delete_range) run under every storage API
 * version like TiKV's `test_kv_format_impl!`, and
 * tests/integrations/storage/test_storage.rs (test_txn_store_rawkv,
 * test_txn_store_rawkv_cf, test_txn_storage_keysize).
 */
import { describe, expect, it } from "vitest";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { b, kv, setup } from "./helpers.js";

const VERSIONS = [
  ["V1", APIVersion.V1],
  ["V1TTL", APIVersion.V1TTL],
  ["V2", APIVersion.V2],
] as const;

describe.each(VERSIONS)("raw point commands on %s storage", (_name, storage) => {
  const data: [string, string][] = [
    ["r\0a", "aa"],
    ["r\0b", "bb"],
    ["r\0c", "cc"],
    ["r\0d", "dd"],
    ["r\0e", "ee"],
    ["r\0f", "ff"],
  ];

  it("put then get each key (test_raw_get_put)", () => {
    const { r } = setup(storage);
    for (const [k, v] of data) expect(r.put(k, v)).toEqual({ regionError: undefined, error: "" });
    for (const [k, v] of data) {
      const resp = r.get(k);
      expect(resp.error).toBe("");
      expect(resp.notFound).toBe(false);
      expect(resp.value.toString()).toBe(v);
    }
  });

  it("get of a missing key is notFound with an empty value", () => {
    const { r } = setup(storage);
    expect(r.get("r\0nope")).toEqual({
      regionError: undefined,
      error: "",
      value: Buffer.alloc(0),
      notFound: true,
    });
  });

  it("overwrites and deletes (test_raw_delete)", () => {
    const { r } = setup(storage);
    for (const [k, v] of data) r.put(k, v);
    r.put("r\0a", "new");
    expect(r.get("r\0a").value.toString()).toBe("new");
    expect(r.del("r\0a").error).toBe("");
    expect(r.get("r\0a").notFound).toBe(true);
    for (const [k] of data) expect(r.del(k).error).toBe("");
    for (const [k] of data) expect(r.get(k).notFound).toBe(true);
    // Deleting a missing key is not an error.
    expect(r.del("r\0zz").error).toBe("");
  });

  it("an empty value is a value, not absence", () => {
    const { r } = setup(storage);
    r.put("r\0e", "");
    const resp = r.get("r\0e");
    expect(resp.notFound).toBe(false);
    expect(resp.value.length).toBe(0);
  });

  it.each([false, true])("batch put then get each key and scan (test_raw_batch_put, forCas=%s)", (forCas) => {
    const { r } = setup(storage);
    const emptyKey = storage === APIVersion.V2 ? "r" : "";
    const pairs: [string, string][] = [
      [emptyKey, "ff"],
      ["r\0a", "aa"],
      ["r\0b", "bb"],
      ["r\0g", ""],
    ];
    expect(r.batchPut(pairs, { forCas }).error).toBe("");
    for (const [k, v] of pairs) expect(r.get(k).value.toString()).toBe(v);
    expect(kv(r.scan(emptyKey, "rz", 20).kvs)).toEqual(pairs);
  });

  it("batch get returns only existing keys, in request order, duplicates kept (test_raw_batch_get)", () => {
    const { r } = setup(storage);
    r.batchPut(data);
    const resp = r.batchGet(["r\0c", "r\0missing", "r\0a", "r\0c"]);
    expect(resp.regionError).toBeUndefined();
    expect(kv(resp.pairs)).toEqual([
      ["r\0c", "cc"],
      ["r\0a", "aa"],
      ["r\0c", "cc"],
    ]);
    for (const p of resp.pairs) {
      expect(p.error).toBeUndefined();
      expect(p.commitTs).toBe(0n);
    }
  });

  it.each([false, true])("batch delete (test_raw_batch_delete, forCas=%s)", (forCas) => {
    const { r } = setup(storage);
    r.batchPut(data.slice(0, 5), { forCas });
    expect(r.batchDel(["r\0b", "r\0d"], { forCas }).error).toBe("");
    expect(kv(r.batchGet(data.slice(0, 5).map(([k]) => k)).pairs)).toEqual([
      ["r\0a", "aa"],
      ["r\0c", "cc"],
      ["r\0e", "ee"],
    ]);
    r.batchDel(["r\0a", "r\0c", "r\0e"], { forCas });
    expect(r.batchGet(data.map(([k]) => k)).pairs).toEqual([]);
  });

  it("delete range removes [start, end) only (test_raw_delete_range)", () => {
    const { r } = setup(storage);
    r.batchPut(data.slice(0, 5));
    expect(r.deleteRange("r\0d", "r\0e")).toEqual({ regionError: undefined, error: "" });
    expect(r.get("r\0c").value.toString()).toBe("cc");
    expect(r.get("r\0d").notFound).toBe(true);
    expect(r.get("r\0e").value.toString()).toBe("ee");
    // A range holding no key changes nothing.
    r.deleteRange("r\0aa", "r\0ab");
    expect(r.get("r\0a").value.toString()).toBe("aa");
    expect(r.get("r\0b").value.toString()).toBe("bb");
    r.deleteRange("r\0a", "r\0z");
    for (const [k] of data) expect(r.get(k).notFound).toBe(true);
  });

  // TiKV refuses an inverted range at raft apply (a region error); that is the server layer's
  // job (test/cluster/tikv/apply-checks.test.ts). The engine alone deletes nothing.
  it("delete range with start >= end deletes nothing and sets no region error", () => {
    const { r } = setup(storage);
    r.put("r\0a", "1");
    const same = r.deleteRange("r\0a", "r\0a");
    expect(same.error).toBe("");
    expect(same.regionError).toBeUndefined();
    expect(r.deleteRange("r\0b", "r\0a").regionError).toBeUndefined();
    expect(r.get("r\0a").value.toString()).toBe("1");
  });
});

describe("raw column families (test_txn_store_rawkv_cf)", () => {
  it("keeps default, lock and write apart; '' means default", () => {
    const { r } = setup();
    expect(r.put("k1", "v1", { cf: "default" }).error).toBe("");
    expect(r.get("k1", "default").value.toString()).toBe("v1");
    expect(r.get("k1").value.toString()).toBe("v1");
    expect(r.get("k1", "lock").notFound).toBe(true);
    r.put("k2", "v2");
    r.put("k3", "v3", { cf: "lock" });
    r.put("k4", "v4", { cf: "write" });
    expect(r.get("k2", "default").value.toString()).toBe("v2");
    expect(r.get("k3", "lock").value.toString()).toBe("v3");
    expect(r.get("k3", "default").notFound).toBe(true);
    expect(r.get("k4", "write").value.toString()).toBe("v4");
    expect(kv(r.scan("", "", 3, { cf: "default" }).kvs)).toEqual([
      ["k1", "v1"],
      ["k2", "v2"],
    ]);
    expect(kv(r.scan("", "", 3, { cf: "lock" }).kvs)).toEqual([["k3", "v3"]]);
    r.del("k3", { cf: "lock" });
    expect(r.get("k3", "lock").notFound).toBe(true);
  });

  it("rejects an unknown CF with TiKV's InvalidCf error on every command", () => {
    const { r } = setup();
    const msg = "invalid cf name: foobar";
    expect(r.put("key", "value", { cf: "foobar" }).error).toBe(msg);
    expect(r.get("key", "foobar")).toEqual({
      regionError: undefined,
      error: msg,
      value: Buffer.alloc(0),
      notFound: false,
    });
    expect(r.del("key", { cf: "foobar" }).error).toBe(msg);
    expect(r.batchPut([["a", "b"]], { cf: "foobar" }).error).toBe(msg);
    expect(r.batchDel(["a"], { cf: "foobar" }).error).toBe(msg);
    expect(r.deleteRange("a", "b", "foobar").error).toBe(msg);
    expect(r.cas("a", null, "b", { cf: "foobar" }).error).toBe(msg);
    // Reads without an `error` field answer with one KvPair carrying KeyError.abort (Debug form).
    for (const pairs of [r.batchGet(["a"], "foobar").pairs, r.scan("", "", 10, { cf: "foobar" }).kvs]) {
      expect(pairs).toHaveLength(1);
      expect(pairs[0]!.key.length).toBe(0);
      expect(pairs[0]!.error?.abort).toBe('Error(InvalidCf("foobar"))');
    }
    // CF names are case-sensitive: client-go's mocktikv names like "CF_DEFAULT" are not TiKV names.
    expect(r.put("key", "value", { cf: "CF_DEFAULT" }).error).toBe("invalid cf name: CF_DEFAULT");
  });

  it("rejects any explicit CF under API V2 (CfDeprecated)", () => {
    const { r } = setup(APIVersion.V2);
    expect(r.put("r\0k", "v", { cf: "default" }).error).toBe("cf is deprecated in API V2, cf name: default");
    expect(r.batchGet(["r\0k"], "lock").pairs[0]!.error?.abort).toBe('Error(CfDeprecated("lock"))');
    expect(r.put("r\0k", "v").error).toBe("");
  });
});

describe("raw key size limit (test_txn_storage_keysize)", () => {
  const longKey = "x".repeat(10240);

  it("rejects writes of keys over 8 KiB with KeyTooLarge", () => {
    const { r } = setup();
    expect(r.put("short_key", "v").error).toBe("");
    expect(r.put(longKey, "v").error).toBe("max key size exceeded, size: 10240, limit: 8192");
    expect(r.del("short_key").error).toBe("");
    expect(r.del(longKey).error).toBe("max key size exceeded, size: 10240, limit: 8192");
    expect(
      r.batchPut([
        ["a", "1"],
        [longKey, "2"],
      ]).error,
    ).toBe("max key size exceeded, size: 10240, limit: 8192");
    expect(r.get("a").notFound).toBe(true); // the whole batch was refused
    expect(r.batchDel(["a", longKey]).error).toContain("max key size exceeded");
    expect(r.deleteRange("a", longKey).error).toContain("max key size exceeded");
  });

  it("accepts exactly 8 KiB", () => {
    const { r } = setup();
    const k = "k".repeat(8192);
    expect(r.put(k, "v").error).toBe("");
    expect(r.get(k).value.toString()).toBe("v");
  });

  it("does not check key size on reads, nor on the atomic (for_cas) write path, like TiKV", () => {
    const { r } = setup();
    expect(r.get(longKey).notFound).toBe(true);
    expect(r.put(longKey, "v", { forCas: true }).error).toBe("");
    expect(r.get(longKey).value.toString()).toBe("v");
    expect(r.cas(longKey, "v", "w").succeed).toBe(true);
    expect(r.del(longKey, { forCas: true }).error).toBe("");
    expect(r.get(longKey).notFound).toBe(true);
  });

  it("honours a configured maxKeySize", async () => {
    const { RawEngine } = await import("../../../../src/cluster/engine/raw/raw-engine.js");
    const { RawPutRequest } = await import("../../../../src/proto/kvrpcpb.js");
    const engine = new RawEngine({ maxKeySize: 4 });
    expect(engine.rawPut(RawPutRequest.fromPartial({ key: b("abcde"), value: b("v") })).error).toBe(
      "max key size exceeded, size: 5, limit: 4",
    );
  });
});

describe("raw storage basics (test_txn_store_rawkv)", () => {
  it("get/put/delete and scans from the start", () => {
    const { r } = setup();
    expect(r.get("key").notFound).toBe(true);
    r.put("key", "value");
    expect(r.get("key").value.toString()).toBe("value");
    r.put("key", "v2");
    expect(r.get("key").value.toString()).toBe("v2");
    r.del("key");
    expect(r.get("key").notFound).toBe(true);
    r.put("k1", "v1");
    r.put("k2", "v2");
    r.put("k3", "v3");
    expect(kv(r.scan("", "", 1).kvs)).toEqual([["k1", "v1"]]);
    expect(kv(r.scan("k1", "", 1).kvs)).toEqual([["k1", "v1"]]);
    expect(kv(r.scan("k10", "", 1).kvs)).toEqual([["k2", "v2"]]);
    expect(kv(r.scan("", "", 2).kvs)).toEqual([
      ["k1", "v1"],
      ["k2", "v2"],
    ]);
    expect(kv(r.scan("k1", "", 5).kvs)).toEqual([
      ["k1", "v1"],
      ["k2", "v2"],
      ["k3", "v3"],
    ]);
    expect(r.scan("", "", 0).kvs).toEqual([]);
    expect(r.scan("k5", "", 1).kvs).toEqual([]);
  });

  it("copies written buffers: mutating the caller's buffer later does not change stored data", async () => {
    const { engine } = setup();
    const { RawPutRequest, RawGetRequest } = await import("../../../../src/proto/kvrpcpb.js");
    const key = b("k");
    const value = b("v1");
    engine.rawPut(RawPutRequest.fromPartial({ key, value }));
    value.write("XX");
    key.write("z");
    expect(engine.rawGet(RawGetRequest.fromPartial({ key: b("k") })).value.toString()).toBe("v1");
  });

  it("handles binary keys with bytes >= 0x80 in byte order", () => {
    const { r } = setup();
    r.put("\x80", "hi");
    r.put("\x7f", "lo");
    r.put("\xff\x00", "top");
    expect(kv(r.scan("", "", 10).kvs)).toEqual([
      ["\x7f", "lo"],
      ["\x80", "hi"],
      ["\xff\x00", "top"],
    ]);
  });
});

describe("unsafeDestroyRange", () => {
  it("drops [start, end) in every column family; empty end = unbounded", () => {
    const { engine, r } = setup();
    for (const cf of ["default", "lock", "write"]) {
      r.put("a", cf, { cf });
      r.put("b", cf, { cf });
      r.put("c", cf, { cf });
    }
    engine.unsafeDestroyRange(b("b"), b("c"));
    for (const cf of ["default", "lock", "write"]) {
      expect(r.get("a", cf).notFound).toBe(false);
      expect(r.get("b", cf).notFound).toBe(true);
      expect(r.get("c", cf).notFound).toBe(false);
    }
    engine.unsafeDestroyRange(b(""), b(""));
    for (const cf of ["default", "lock", "write"]) expect(r.scan("", "", 10, { cf }).kvs).toEqual([]);
  });
});
