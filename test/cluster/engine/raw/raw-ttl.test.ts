/**
 * TTL. Cases follow tikv src/storage/mod.rs test_raw_get_key_ttl,
 * tests/failpoints/cases/test_ttl.rs (test_ttl_snapshot, test_ttl_iterator,
 * test_stoarge_raw_batch_put_ttl, with a fixed clock instead of the
 * `ttl_current_ts` failpoint) and tests/integrations/server/kv_service.rs
 * test_rawkv_ttl; TTL refusal on V1 follows src/storage/mod.rs raw_put /
 * check_ttl_valid. The clock is injected; no test sleeps.
 */
import { describe, expect, it } from "vitest";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { keysOf, kv, setup } from "./helpers.js";

const TTL_VERSIONS = [
  ["V1TTL", APIVersion.V1TTL],
  ["V2", APIVersion.V2],
] as const;

describe.each(TTL_VERSIONS)("TTL on %s storage", (_n, storage) => {
  it("GetKeyTTL returns the remaining seconds, 0 for no TTL (test_raw_get_key_ttl)", () => {
    const { r, clock } = setup(storage);
    const data: [string, bigint][] = [
      ["r\0a", 10n],
      ["r\0b", 20n],
      ["r\0c", 0n],
      ["r\0f", (1n << 64n) - 1n],
    ];
    for (const [k, ttl] of data) expect(r.put(k, "v", { ttl }).error).toBe("");
    const nowSec = BigInt(Math.floor(clock.ms / 1000));
    // expire_ts = now + ttl saturates at u64::MAX, so the huge TTL reads back as u64::MAX - now.
    const expected = (ttl: bigint) => (ttl + nowSec > (1n << 64n) - 1n ? (1n << 64n) - 1n - nowSec : ttl);
    for (const [k, ttl] of data) {
      expect(r.ttl(k)).toEqual({ regionError: undefined, error: "", ttl: expected(ttl), notFound: false });
    }
    clock.advanceSeconds(3);
    expect(r.ttl("r\0a").ttl).toBe(7n);
    expect(r.ttl("r\0c").ttl).toBe(0n);
    expect(r.ttl("r\0f").ttl).toBe((1n << 64n) - 1n - nowSec - 3n);
  });

  it("GetKeyTTL of a missing key is notFound", () => {
    const { r } = setup(storage);
    expect(r.ttl("r\0none")).toEqual({ regionError: undefined, error: "", ttl: 0n, notFound: true });
  });

  it("expired values are invisible to get, batch get, scans, CAS and GetKeyTTL", () => {
    const { r, clock } = setup(storage);
    r.put("r\0a", "short", { ttl: 5n });
    r.put("r\0b", "forever");
    r.put("r\0c", "long", { ttl: 100n });
    clock.advanceSeconds(4);
    expect(r.get("r\0a").value.toString()).toBe("short");
    clock.advanceSeconds(1); // now == expire_ts: TiKV treats `expire_ts <= now` as expired
    expect(r.get("r\0a").notFound).toBe(true);
    expect(r.ttl("r\0a").notFound).toBe(true);
    expect(kv(r.batchGet(["r\0a", "r\0b", "r\0c"]).pairs)).toEqual([
      ["r\0b", "forever"],
      ["r\0c", "long"],
    ]);
    expect(keysOf(r.scan("r\0", "r\0z", 10).kvs)).toEqual(["r\0b", "r\0c"]);
    expect(keysOf(r.scan("r\0z", "r\0", 10, { reverse: true }).kvs)).toEqual(["r\0c", "r\0b"]);
    expect(keysOf(r.batchScan([["r\0", "r\0z"]], 10).kvs)).toEqual(["r\0b", "r\0c"]);
    // CAS sees the expired key as absent.
    const cas = r.cas("r\0a", null, "again");
    expect(cas.succeed).toBe(true);
    expect(cas.previousNotExist).toBe(true);
    expect(r.get("r\0a").value.toString()).toBe("again");
  });

  it("an expired key does not count against the scan limit", () => {
    const { r, clock } = setup(storage);
    r.put("r\0a", "1", { ttl: 1n });
    r.put("r\0b", "2");
    r.put("r\0c", "3");
    clock.advanceSeconds(2);
    expect(keysOf(r.scan("r\0", "r\0z", 1).kvs)).toEqual(["r\0b"]);
    expect(keysOf(r.scan("r\0z", "r\0", 2, { reverse: true }).kvs)).toEqual(["r\0c", "r\0b"]);
  });

  it("rewriting a key replaces its TTL (test_ttl_snapshot)", () => {
    const { r, clock } = setup(storage);
    r.put("r\0key1", "value1", { ttl: 1n });
    r.put("r\0key1", "value1", { ttl: 10n });
    r.put("r\0key2", "value2", { ttl: 10n });
    r.put("r\0key2", "value2", { ttl: 1n });
    r.put("r\0key3", "value3");
    clock.advanceSeconds(2);
    expect(r.get("r\0key1").value.toString()).toBe("value1");
    expect(r.get("r\0key2").notFound).toBe(true);
    expect(r.get("r\0key3").value.toString()).toBe("value3");
    expect(r.ttl("r\0key1").ttl).toBe(8n);
    expect(r.ttl("r\0key2").notFound).toBe(true);
    expect(r.ttl("r\0key3")).toMatchObject({ ttl: 0n, notFound: false });
    // A later put without TTL makes the key permanent again.
    r.put("r\0key1", "value1");
    expect(r.ttl("r\0key1").ttl).toBe(0n);
  });

  it("iteration skips expired entries in both directions (test_ttl_iterator)", () => {
    const { r, clock } = setup(storage);
    r.put("r\0key1", "value1", { ttl: 10n });
    r.put("r\0key2", "value2", { ttl: 1n });
    r.put("r\0key3", "value3");
    r.put("r\0key4", "value4", { ttl: 1n });
    r.put("r\0key5", "value5", { ttl: 1n });
    clock.advanceSeconds(5);
    expect(kv(r.scan("r\0", "r\0z", 10).kvs)).toEqual([
      ["r\0key1", "value1"],
      ["r\0key3", "value3"],
    ]);
    expect(kv(r.scan("r\0key2", "r\0z", 10).kvs)).toEqual([["r\0key3", "value3"]]);
    expect(r.scan("r\0key4", "r\0z", 10).kvs).toEqual([]);
    expect(kv(r.scan("r\0key2", "r\0", 10, { reverse: true }).kvs)).toEqual([["r\0key1", "value1"]]);
  });

  it("batch put with one TTL per pair (test_stoarge_raw_batch_put_ttl)", () => {
    const { r } = setup(storage);
    const data: [string, string, bigint][] = [
      ["r\0a", "aa", 10n],
      ["r\0b", "bb", 20n],
      ["r\0c", "cc", 30n],
      ["r\0d", "dd", 0n],
      ["r\0e", "ee", 40n],
    ];
    expect(
      r.batchPut(
        data.map(([k, v]) => [k, v]),
        { ttls: data.map(([, , t]) => t) },
      ).error,
    ).toBe("");
    for (const [k, v, ttl] of data) {
      expect(r.get(k).value.toString()).toBe(v);
      expect(r.ttl(k).ttl).toBe(ttl);
    }
  });

  it("batch put with a single TTL applies it to every pair (kv.rs compatibility rule)", () => {
    const { r } = setup(storage);
    r.batchPut(
      [
        ["r\0a", "1"],
        ["r\0b", "2"],
        ["r\0c", "3"],
      ],
      { ttls: [7n] },
    );
    for (const k of ["r\0a", "r\0b", "r\0c"]) expect(r.ttl(k).ttl).toBe(7n);
  });

  it("batch put with a TTL count that is neither 0, 1 nor the pair count is refused", () => {
    const { r } = setup(storage);
    const resp = r.batchPut(
      [
        ["r\0a", "1"],
        ["r\0b", "2"],
        ["r\0c", "3"],
      ],
      { ttls: [1n, 2n] },
    );
    expect(resp.error).toBe("The length of ttls does not equal to the length of pairs");
    expect(r.get("r\0a").notFound).toBe(true);
  });

  it("CAS with TTL sets the TTL (test_rawkv_ttl)", () => {
    const { r } = setup(storage);
    expect(r.cas("r\0key", "v1", "v0").succeed).toBe(false);
    expect(r.cas("r\0key", null, "v0", { ttl: 100n }).succeed).toBe(true);
    expect(r.get("r\0key").value.toString()).toBe("v0");
    expect(r.cas("r\0key", "v0", "v1", { ttl: 140n }).succeed).toBe(true);
    expect(r.get("r\0key").value.toString()).toBe("v1");
    expect(r.ttl("r\0key").ttl > 100n).toBe(true);
    r.del("r\0key");
    expect(r.ttl("r\0key").notFound).toBe(true);
  });

  it("checksum skips expired pairs", () => {
    const { r, clock } = setup(storage);
    r.put("r\0a", "1", { ttl: 1n });
    r.put("r\0b", "2");
    clock.advanceSeconds(1);
    const c = r.checksum([["r\0", "r\0z"]]);
    expect(c.totalKvs).toBe(1n);
    expect(c.totalBytes).toBe(4n);
  });

  it("atomic (for_cas) puts carry TTLs too", () => {
    const { r, clock } = setup(storage);
    r.put("r\0a", "1", { ttl: 2n, forCas: true });
    r.batchPut([["r\0b", "2"]], { ttls: [2n], forCas: true });
    expect(r.ttl("r\0a").ttl).toBe(2n);
    expect(r.ttl("r\0b").ttl).toBe(2n);
    clock.advanceSeconds(2);
    expect(r.get("r\0a").notFound).toBe(true);
    expect(r.get("r\0b").notFound).toBe(true);
  });
});

describe("TTL on V1 storage (TTL disabled)", () => {
  const msg = "ttl is not enabled, but get put request with ttl";

  it("refuses a non-zero TTL on put, batch put, atomic put and CAS", () => {
    const { r } = setup(APIVersion.V1);
    expect(r.put("k", "v", { ttl: 10n }).error).toBe(msg);
    expect(r.put("k", "v", { ttl: 10n, forCas: true }).error).toBe(msg);
    expect(r.batchPut([["k", "v"]], { ttls: [10n] }).error).toBe(msg);
    expect(r.batchPut([["k", "v"]], { ttls: [10n], forCas: true }).error).toBe(msg);
    expect(r.cas("k", null, "v", { ttl: 10n }).error).toBe(msg);
    expect(r.get("k").notFound).toBe(true);
  });

  it("accepts TTL 0 and ignores TTL-count mismatches, writing only pairs that have a TTL (zip)", () => {
    const { r } = setup(APIVersion.V1);
    expect(r.put("k", "v", { ttl: 0n }).error).toBe("");
    const resp = r.batchPut(
      [
        ["a", "1"],
        ["b", "2"],
        ["c", "3"],
      ],
      { ttls: [0n, 0n] },
    );
    expect(resp.error).toBe("");
    expect(keysOf(r.scan("a", "z", 10).kvs)).toEqual(["a", "b", "k"]);
  });

  it("GetKeyTTL on a storage without TTL is an error (real TiKV panics here)", () => {
    const { r } = setup(APIVersion.V1);
    r.put("k", "v");
    expect(r.ttl("k")).toEqual({
      regionError: undefined,
      error: "get ttl on non-ttl store",
      ttl: 0n,
      notFound: false,
    });
  });
});
