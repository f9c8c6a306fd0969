import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { FaultRegistry, InvalidFaultSpecError } from "../../../src/cluster/faults/index.js";

const busy = { regionError: { serverIsBusy: { reason: "scheduler is busy" } } };

describe("FaultRegistry", () => {
  it("fires a failNext exactly count times, then lets calls through", () => {
    const f = new FaultRegistry();
    const h = f.failNext({ rpc: "KvGet", count: 3, error: busy });
    const seen = Array.from({ length: 5 }, () => f.decide({ rpc: "KvGet" })?.error);
    expect(seen).toEqual([busy, busy, busy, undefined, undefined]);
    expect(h.fired).toBe(3);
    expect(h.remaining).toBe(0);
  });

  it("matches only the named rpc(s); '*' matches all", () => {
    const f = new FaultRegistry();
    f.failNext({ rpc: ["RawGet", "RawPut"], count: 2, error: busy });
    expect(f.decide({ rpc: "KvGet" })).toBeUndefined();
    expect(f.decide({ rpc: "RawPut" })?.error).toBe(busy);
    expect(f.decide({ rpc: "RawGet" })?.error).toBe(busy);
    expect(f.decide({ rpc: "RawGet" })).toBeUndefined();
    f.failNext({ rpc: "*", error: busy });
    expect(f.decide({ rpc: "Tso" })?.error).toBe(busy);
  });

  it("scopes by store, region and key", () => {
    const f = new FaultRegistry();
    f.failNext({ rpc: "KvGet", storeId: 2, regionId: 7, key: "k", count: 10, error: busy });
    expect(f.decide({ rpc: "KvGet", storeId: 1n, regionId: 7n, keys: [Buffer.from("k")] })).toBeUndefined();
    expect(f.decide({ rpc: "KvGet", storeId: 2n, regionId: 8n, keys: [Buffer.from("k")] })).toBeUndefined();
    expect(f.decide({ rpc: "KvGet", storeId: 2n, regionId: 7n, keys: [Buffer.from("j")] })).toBeUndefined();
    expect(f.decide({ rpc: "KvGet", storeId: 2n, regionId: 7n })).toBeUndefined();
    expect(
      f.decide({ rpc: "KvGet", storeId: 2n, regionId: 7n, keys: [Buffer.from("j"), Buffer.from("k")] })
        ?.error,
    ).toBe(busy);
  });

  it("tries faults in registration order, one failure per call", () => {
    const f = new FaultRegistry();
    const a = { grpcStatus: status.UNAVAILABLE };
    f.failNext({ rpc: "KvGet", error: a });
    f.failNext({ rpc: "KvGet", error: busy });
    expect(f.decide({ rpc: "KvGet" })?.error).toBe(a);
    expect(f.decide({ rpc: "KvGet" })?.error).toBe(busy);
    expect(f.decide({ rpc: "KvGet" })).toBeUndefined();
  });

  it("delays (unbounded by default) and drops replies (once by default)", () => {
    const f = new FaultRegistry();
    f.delay({ rpc: "RawGet", ms: 20 });
    f.dropReply({ rpc: "RawGet", outcome: { grpcStatus: status.UNAVAILABLE } });
    expect(f.decide({ rpc: "RawGet" })).toEqual({
      delayMs: 20,
      dropReply: { grpcStatus: status.UNAVAILABLE },
    });
    expect(f.decide({ rpc: "RawGet" })).toEqual({ delayMs: 20 });
    expect(f.decide({ rpc: "RawGet" })).toEqual({ delayMs: 20 });
  });

  it("a failed call does not consume a dropReply", () => {
    const f = new FaultRegistry();
    f.failNext({ rpc: "RawPut", error: busy });
    f.dropReply({ rpc: "RawPut" });
    expect(f.decide({ rpc: "RawPut" })).toEqual({ delayMs: 0, error: busy });
    expect(f.decide({ rpc: "RawPut" })).toEqual({ delayMs: 0, dropReply: "hang" });
  });

  it("count: Infinity fails every matching call until cancelled", () => {
    const f = new FaultRegistry();
    const down = { grpcStatus: status.UNAVAILABLE };
    const h = f.failNext({ rpc: "*", storeId: 3, count: Number.POSITIVE_INFINITY, error: down });
    for (let i = 0; i < 100; i++) expect(f.decide({ rpc: "KvGet", storeId: 3n })?.error).toBe(down);
    expect(f.decide({ rpc: "KvGet", storeId: 1n })).toBeUndefined();
    expect(h.fired).toBe(100);
    h.cancel();
    expect(f.decide({ rpc: "KvGet", storeId: 3n })).toBeUndefined();
  });

  it("cancel stops a fault", () => {
    const f = new FaultRegistry();
    const h = f.failNext({ rpc: "KvGet", count: 5, error: busy });
    f.decide({ rpc: "KvGet" });
    h.cancel();
    expect(f.decide({ rpc: "KvGet" })).toBeUndefined();
    expect(h.fired).toBe(1);
    expect(f.idle).toBe(true);
  });

  it("hooks see every call and may fail it", () => {
    const f = new FaultRegistry();
    const seen: string[] = [];
    const off = f.onRequest((call) => {
      seen.push(call.rpc);
      return call.rpc === "KvCommit" ? busy : undefined;
    });
    expect(f.decide({ rpc: "KvGet" })).toBeUndefined();
    expect(f.decide({ rpc: "KvCommit" })?.error).toBe(busy);
    off();
    expect(f.decide({ rpc: "KvCommit" })).toBeUndefined();
    expect(seen).toEqual(["KvGet", "KvCommit"]);
  });

  it("counts calls per rpc and per store", () => {
    const f = new FaultRegistry();
    f.decide({ rpc: "KvGet", storeId: 1n });
    f.decide({ rpc: "KvGet", storeId: 2n });
    f.decide({ rpc: "RawGet", storeId: 1n });
    f.decide({ rpc: "Tso" });
    expect(f.calls()).toBe(4);
    expect(f.calls({ rpc: "KvGet" })).toBe(2);
    expect(f.calls({ storeId: 1 })).toBe(2);
    expect(f.calls({ rpc: "KvGet", storeId: 2 })).toBe(1);
    expect(f.calls({ rpc: "KvCommit" })).toBe(0);
    f.resetCounters();
    expect(f.calls()).toBe(0);
  });

  it("clear removes faults, hooks and counters", () => {
    const f = new FaultRegistry();
    f.failNext({ rpc: "KvGet", error: busy });
    f.onRequest(() => busy);
    f.decide({ rpc: "RawGet" });
    f.clear();
    expect(f.idle).toBe(true);
    expect(f.decide({ rpc: "KvGet" })).toBeUndefined();
    expect(f.calls()).toBe(1);
  });

  it("refuses faults on RPCs its servers do not serve", () => {
    const f = new FaultRegistry({ rpcs: ["KvGet"], hint: "see pd.faults" });
    expect(() => f.failNext({ rpc: "GetRegion", error: busy })).toThrow(
      /GetRegion is not served .* \(see pd.faults\)/,
    );
    expect(() => f.failNext({ rpc: "KvGet", error: busy })).not.toThrow();
  });

  it("rejects malformed specs with a typed error", () => {
    const f = new FaultRegistry();
    expect(() => f.failNext({ rpc: "NoSuchRpc" as never, error: busy })).toThrow(InvalidFaultSpecError);
    expect(() => f.failNext({ rpc: "KvGet", count: 0, error: busy })).toThrow(InvalidFaultSpecError);
    expect(() => f.failNext({ rpc: "KvGet", count: 1.5, error: busy })).toThrow(InvalidFaultSpecError);
    expect(() => f.failNext({ rpc: [], error: busy })).toThrow(InvalidFaultSpecError);
    expect(() => f.delay({ rpc: "KvGet", ms: -1 })).toThrow(InvalidFaultSpecError);
    expect(() => f.failNext({ rpc: "KvGet", storeId: -1, error: busy })).toThrow(InvalidFaultSpecError);
    expect(() => f.failNext({ rpc: "KvGet" } as never)).toThrow(InvalidFaultSpecError);
  });
});
