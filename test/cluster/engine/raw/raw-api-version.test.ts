/**
 * API version and key-mode checks. The matrix follows tikv
 * tests/integrations/storage/test_storage.rs test_txn_store_rawkv_api_version;
 * messages follow src/storage/errors.rs and the checks src/storage/mod.rs
 * (`check_api_version`, `check_api_version_ranges`) and
 * components/api_version/src/api_v2.rs (`parse_range_mode`).
 */
import { describe, expect, it } from "vitest";
import { RawEngine } from "../../../../src/cluster/engine/raw/raw-engine.js";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { kv, setup } from "./helpers.js";

const TIDB_KEY = "t_a";
const TXN_KEY = "x\0_a";
const RAW_KEY = "r\0_a";

const lastByteFF = (k: string) => `${k.slice(0, -1)}\xff`;

describe("raw API version matrix (test_txn_store_rawkv_api_version)", () => {
  const cases: [string, APIVersion, APIVersion, string, boolean][] = [
    ["V1 storage, V1 request, TiDB key", APIVersion.V1, APIVersion.V1, TIDB_KEY, true],
    ["V1 storage, V1 request, txn key", APIVersion.V1, APIVersion.V1, TXN_KEY, true],
    ["V1 storage, V1 request, raw key", APIVersion.V1, APIVersion.V1, RAW_KEY, true],
    ["V1TTL storage, V1 request, raw key", APIVersion.V1TTL, APIVersion.V1, RAW_KEY, true],
    ["V1 storage, V2 request", APIVersion.V1, APIVersion.V2, RAW_KEY, false],
    ["V2 storage, V1 request, TiDB key", APIVersion.V2, APIVersion.V1, TIDB_KEY, false],
    ["V2 storage, V1 request, txn key", APIVersion.V2, APIVersion.V1, TXN_KEY, false],
    ["V2 storage, V1 request, raw key", APIVersion.V2, APIVersion.V1, RAW_KEY, false],
    ["V2 storage, V2 request, txn key", APIVersion.V2, APIVersion.V2, TXN_KEY, false],
    ["V2 storage, V2 request, raw key", APIVersion.V2, APIVersion.V2, RAW_KEY, true],
    ["V2 storage, V2 request, TiDB key", APIVersion.V2, APIVersion.V2, TIDB_KEY, false],
  ];

  it.each(cases)("%s", (_name, storage, request, key, legal) => {
    const { r } = setup(storage, request);
    const endKey = lastByteFF(key);
    if (legal) {
      expect(r.get(key).notFound).toBe(true);
      expect(r.put(key, "value").error).toBe("");
      expect(r.get(key).value.toString()).toBe("value");
      if (storage !== APIVersion.V1)
        expect(r.ttl(key)).toMatchObject({ error: "", ttl: 0n, notFound: false });
      expect(kv(r.batchGet([key, key]).pairs)).toEqual([
        [key, "value"],
        [key, "value"],
      ]);
      expect(r.del(key).error).toBe("");
      expect(r.batchDel([key]).error).toBe("");
      expect(r.batchPut([[key, "value"]]).error).toBe("");
      expect(kv(r.scan(key, endKey, 100).kvs)).toEqual([[key, "value"]]);
      expect(kv(r.batchScan([[key, endKey]], 100).kvs)).toEqual([[key, "value"]]);
      if (storage === APIVersion.V2) {
        // Unbounded ranges are not in any key mode, so V2 refuses them.
        expect(r.scan(key, "", 100).kvs[0]!.error?.abort).toContain("InvalidKeyRangeMode");
        expect(r.batchScan([[key, ""]], 100).kvs[0]!.error?.abort).toContain("InvalidKeyRangeMode");
      } else {
        expect(kv(r.scan(key, "", 100).kvs)).toEqual([[key, "value"]]);
        expect(kv(r.batchScan([[key, ""]], 100).kvs)).toEqual([[key, "value"]]);
      }
      expect(r.cas(key, "value", "v2").succeed).toBe(true);
      expect(r.checksum([[key, endKey]]).totalKvs).toBe(1n);
      expect(r.deleteRange(key, endKey).error).toBe("");
      expect(r.get(key).notFound).toBe(true);
    } else {
      expect(r.get(key).error).not.toBe("");
      expect(r.put(key, "value").error).not.toBe("");
      expect(r.ttl(key).error).not.toBe("");
      expect(r.batchGet([key, key]).pairs[0]!.error?.abort).not.toBe("");
      expect(r.del(key).error).not.toBe("");
      expect(r.deleteRange(key, endKey).error).not.toBe("");
      expect(r.batchDel([key]).error).not.toBe("");
      expect(r.batchPut([[key, "value"]]).error).not.toBe("");
      expect(r.scan(key, endKey, 100).kvs[0]!.error?.abort).not.toBe("");
      expect(r.batchScan([[key, endKey]], 100).kvs[0]!.error?.abort).not.toBe("");
      expect(r.cas(key, null, "v").error).not.toBe("");
      expect(r.checksum([[key, endKey]]).error).not.toBe("");
    }
  });
});

describe("API version error messages", () => {
  it("mismatched versions: ApiVersionNotMatched with TiKV's command and version names", () => {
    const { r } = setup(APIVersion.V2, APIVersion.V1);
    expect(r.get("r\0a").error).toBe(
      "Api version in request does not match with TiKV storage, cmd: raw_get, storage: V2, request: V1",
    );
    expect(r.put("r\0a", "v").error).toContain("cmd: raw_put,");
    expect(r.put("r\0a", "v", { forCas: true }).error).toContain("cmd: raw_atomic_store,");
    expect(r.cas("r\0a", null, "v").error).toContain("cmd: raw_compare_and_swap,");
    expect(r.checksum([["r", "s"]]).error).toContain("cmd: raw_checksum,");
    expect(r.scan("r", "s", 1).kvs[0]!.error?.abort).toBe(
      "Error(ApiVersionNotMatched { cmd: raw_scan, storage_api_version: V2, req_api_version: V1 })",
    );
  });

  it("V1TTL storage accepts only V1 requests (a V1TTL request is a mismatch)", () => {
    const { r } = setup(APIVersion.V1TTL, APIVersion.V1TTL);
    expect(r.get("k").error).toBe(
      "Api version in request does not match with TiKV storage, cmd: raw_get, storage: V1ttl, request: V1ttl",
    );
  });

  it("V2 key outside raw mode: InvalidKeyMode with the key in upper-case hex", () => {
    const { r } = setup(APIVersion.V2);
    expect(r.get("x\0a").error).toBe(
      "Key mode mismatched with the request mode, cmd: raw_get, storage: V2, key: 780061",
    );
    expect(r.get("").error).toBe(
      "Key mode mismatched with the request mode, cmd: raw_get, storage: V2, key: ",
    );
    expect(r.batchGet(["r\0a", "x"]).pairs[0]!.error?.abort).toBe(
      'Error(InvalidKeyMode { cmd: raw_batch_get, storage_api_version: V2, key: "78" })',
    );
  });

  it("V2 range outside raw mode: InvalidKeyRangeMode with Option-wrapped hex bounds", () => {
    const { r } = setup(APIVersion.V2);
    expect(r.deleteRange("r\0a", "").error).toBe(
      'Key mode mismatched with the request mode, cmd: raw_delete_range, storage: V2, range: (Some("720061"), Some(""))',
    );
    expect(r.scan("r\0a", "", 10).kvs[0]!.error?.abort).toBe(
      'Error(InvalidKeyRangeMode { cmd: raw_scan, storage_api_version: V2, range: (Some("720061"), None) })',
    );
  });

  it("V2 accepts the whole raw keyspace 'r'..'s' as a range", () => {
    const { r } = setup(APIVersion.V2);
    r.put("r\0\0\0a", "1");
    r.put("r\0\0\x01b", "2");
    expect(kv(r.scan("r", "s", 10).kvs)).toEqual([
      ["r\0\0\0a", "1"],
      ["r\0\0\x01b", "2"],
    ]);
    expect(r.scan("r", "t", 10).kvs[0]!.error?.abort).toContain("InvalidKeyRangeMode");
  });

  it("treats an unknown request API version as V1, as rust-protobuf decodes it", () => {
    const { r } = setup(APIVersion.V1, 7 as APIVersion);
    expect(r.put("k", "v").error).toBe("");
    const v2 = setup(APIVersion.V2, 7 as APIVersion);
    expect(v2.r.get("r\0k").error).toContain("request: V1");
  });

  it("refuses to construct with an unsupported storage version", () => {
    expect(() => new RawEngine({ apiVersion: APIVersion.V3 })).toThrow(RangeError);
  });
});
