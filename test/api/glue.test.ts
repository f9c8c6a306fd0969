// Unit tests of the client-api glue: API codec -> PD region codec, per-call control, counting
// backoffer.
import { describe, expect, it } from "vitest";
import { Bo } from "../../src/actors/backoff/backoff-config.js";
import { CountingBackoffer } from "../../src/actors/runtime/counting-backoffer.js";
import { ClientMetrics } from "../../src/actors/runtime/metrics.js";
import { regionKeyCodec } from "../../src/actors/runtime/pd-region-source.js";
import { newControl } from "../../src/api/internal/control.js";
import { AbortedError, InvalidArgumentError } from "../../src/index.js";
import { createApiCodec } from "../../src/kv/keyspace.js";
import { encodeBytes } from "../../src/kv/memcomparable.js";
import { APIVersion } from "../../src/proto/kvrpcpb.js";
import { Region } from "../../src/proto/metapb.js";

describe("regionKeyCodec", () => {
  it("is the identity for API v1 raw", () => {
    const c = regionKeyCodec(createApiCodec({ apiVersion: APIVersion.V1, mode: "raw" }));
    const r = Region.fromPartial({ id: 1n, startKey: Buffer.from("a"), endKey: Buffer.from("b") });
    expect(c.encodeKey(Buffer.from("k"))).toEqual(Buffer.from("k"));
    expect(c.decodeRegion(r)).toBe(r);
  });

  it("encodes lookups and clamps boundaries to the keyspace in API v2", () => {
    const c = regionKeyCodec(createApiCodec({ apiVersion: APIVersion.V2, mode: "raw", keyspaceId: 5 }));
    const prefix = Buffer.from([0x72, 0, 0, 5]);
    expect(c.encodeKey(Buffer.from("k"))).toEqual(encodeBytes(Buffer.concat([prefix, Buffer.from("k")])));
    // an empty end (+inf) becomes the keyspace's end
    expect(c.encodeEndKey(Buffer.alloc(0))).toEqual(encodeBytes(Buffer.from([0x72, 0, 0, 6])));
    const whole = Region.fromPartial({ id: 2n, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) });
    const d = c.decodeRegion(whole);
    expect(d?.startKey.length).toBe(0);
    expect(d?.endKey.length).toBe(0);
    const inside = Region.fromPartial({
      id: 3n,
      startKey: encodeBytes(Buffer.concat([prefix, Buffer.from("m")])),
      endKey: Buffer.alloc(0),
    });
    expect(c.decodeRegion(inside)?.startKey).toEqual(Buffer.from("m"));
    const other = Region.fromPartial({
      id: 4n,
      startKey: encodeBytes(Buffer.from([0x72, 0, 0, 7])),
      endKey: encodeBytes(Buffer.from([0x72, 0, 0, 8])),
    });
    expect(c.decodeRegion(other)).toBeUndefined();
  });
});

describe("per-call control", () => {
  const m = new ClientMetrics();

  it("uses the client default timeout unless the call gives one; 0 = no deadline", () => {
    const before = Date.now();
    const a = newControl(undefined, 1000, 100, m);
    expect(a.deadline).toBeGreaterThanOrEqual(before + 1000);
    const b = newControl({ timeoutMs: 0 }, 1000, 100, m);
    expect(b.deadline).toBe(0);
  });

  it("rejects bad options and an already aborted signal", () => {
    expect(() => newControl({ timeoutMs: Number.NaN }, 1, 1, m)).toThrow(InvalidArgumentError);
    expect(() => newControl({ signal: {} as AbortSignal }, 1, 1, m)).toThrow(InvalidArgumentError);
    expect(() => newControl(5 as never, 1, 1, m)).toThrow(InvalidArgumentError);
    const ac = new AbortController();
    ac.abort();
    expect(() => newControl({ signal: ac.signal }, 1, 1, m)).toThrow(AbortedError);
  });

  it("counts every backoff by kind", () => {
    const metrics = new ClientMetrics();
    const bo = new CountingBackoffer({ maxSleepMs: 10_000, random: () => 0 }, metrics);
    bo.next(Bo.RegionMiss, new Error("x"));
    bo.next(Bo.RegionMiss, new Error("x"));
    bo.next(Bo.TiKVRPC, new Error("y"));
    expect(metrics.snapshot().backoffs).toEqual({ regionMiss: 2, tikvRPC: 1 });
    metrics.reset();
    expect(metrics.snapshot().backoffs).toEqual({});
  });
});
