/**
 * Compare-and-swap. Cases follow tikv src/storage/mod.rs
 * test_raw_compare_and_swap / test_raw_compare_and_swap_delete (under every
 * storage API version), tests/integrations/server/kv_service.rs test_rawkv,
 * and client-go rawkv/rawkv_test.go TestCompareAndSwap (storage part).
 */
import { describe, expect, it } from "vitest";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";
import { kv, setup } from "./helpers.js";

const casResult = (resp: {
  succeed: boolean;
  previousNotExist: boolean;
  previousValue: Buffer;
  error: string;
}) => ({
  error: resp.error,
  succeed: resp.succeed,
  previous: resp.previousNotExist ? null : resp.previousValue.toString(),
});

describe.each([
  ["V1", APIVersion.V1],
  ["V1TTL", APIVersion.V1TTL],
  ["V2", APIVersion.V2],
] as const)("raw CAS on %s storage", (_n, storage) => {
  const key = "r\0key";

  it("swaps only when the previous value matches (test_raw_compare_and_swap)", () => {
    const { r } = setup(storage);
    expect(casResult(r.cas(key, "v1", "v"))).toEqual({ error: "", succeed: false, previous: null });
    expect(casResult(r.cas(key, null, "v1"))).toEqual({ error: "", succeed: true, previous: null });
    expect(casResult(r.cas(key, "v1", "v2"))).toEqual({ error: "", succeed: true, previous: "v1" });
    expect(casResult(r.cas(key, "v1", "v2"))).toEqual({ error: "", succeed: false, previous: "v2" });
    expect(r.get(key).value.toString()).toBe("v2");
    expect(kv(r.scan("r", "rz", 20).kvs)).toEqual([[key, "v2"]]);
    expect(r.batchPut([[key, "v3"]], { forCas: true }).error).toBe("");
    expect(casResult(r.cas(key, "v3", "v4"))).toEqual({ error: "", succeed: true, previous: "v3" });
    expect(r.batchDel([key], { forCas: true }).error).toBe("");
    expect(casResult(r.cas(key, null, "v"))).toEqual({ error: "", succeed: true, previous: null });
    expect(r.get(key).value.toString()).toBe("v");
  });

  it("previousNotExist against an existing key fails and reports the value", () => {
    const { r } = setup(storage);
    r.put(key, "x");
    expect(casResult(r.cas(key, null, "y"))).toEqual({ error: "", succeed: false, previous: "x" });
    expect(r.get(key).value.toString()).toBe("x");
  });

  it("an empty previous value matches an empty stored value, not absence", () => {
    const { r } = setup(storage);
    expect(casResult(r.cas(key, "", "a"))).toEqual({ error: "", succeed: false, previous: null });
    r.put(key, "");
    const resp = r.cas(key, "", "a");
    expect(resp.previousNotExist).toBe(false);
    expect(resp.previousValue.length).toBe(0);
    expect(resp.succeed).toBe(true);
    expect(r.get(key).value.toString()).toBe("a");
  });

  it("delete mode deletes on match and ignores the value (test_raw_compare_and_swap_delete)", () => {
    const { r } = setup(storage);
    expect(casResult(r.cas(key, null, "v1"))).toEqual({ error: "", succeed: true, previous: null });
    expect(casResult(r.cas(key, "v1", "dummy", { delete: true }))).toEqual({
      error: "",
      succeed: true,
      previous: "v1",
    });
    expect(r.get(key).notFound).toBe(true);
    r.cas(key, null, "v2");
    expect(casResult(r.cas(key, "v1", "dummy", { delete: true }))).toEqual({
      error: "",
      succeed: false,
      previous: "v2",
    });
    expect(r.get(key).value.toString()).toBe("v2");
    r.batchDel([key], { forCas: true });
    // Absent and expected absent: succeeds as a no-op.
    expect(casResult(r.cas(key, null, "dummy", { delete: true }))).toEqual({
      error: "",
      succeed: true,
      previous: null,
    });
    expect(r.get(key).notFound).toBe(true);
  });

  it("respects column families", () => {
    const { r } = setup(storage);
    if (storage === APIVersion.V2) return; // V2 forbids naming a CF
    r.put(key, "lockval", { cf: "lock" });
    expect(casResult(r.cas(key, null, "d"))).toEqual({ error: "", succeed: true, previous: null });
    expect(casResult(r.cas(key, "lockval", "l2", { cf: "lock" }))).toEqual({
      error: "",
      succeed: true,
      previous: "lockval",
    });
    expect(r.get(key, "lock").value.toString()).toBe("l2");
    expect(r.get(key).value.toString()).toBe("d");
  });
});

describe("client-go TestCompareAndSwap (storage part)", () => {
  it("a stale expected value does not swap; the right one does and returns the old value", () => {
    // client-go uses cf "my_cf", which only mocktikv accepts; real TiKV needs a real CF.
    const { r } = setup();
    r.put("kv", "TiDB", { cf: "write" });
    const miss = r.cas("kv", "TiKV", "TiKV", { cf: "write" });
    expect(miss.succeed).toBe(false);
    expect(miss.previousValue.toString()).toBe("TiDB");
    const hit = r.cas("kv", "TiDB", "TiKV", { cf: "write" });
    expect(hit.succeed).toBe(true);
    expect(hit.previousValue.toString()).toBe("TiDB");
    expect(r.get("kv", "write").value.toString()).toBe("TiKV");
  });
});
