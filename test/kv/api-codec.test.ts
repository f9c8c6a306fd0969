// API v1 codec (client-go internal/apicodec/codec_v1.go).
import { describe, expect, it } from "vitest";
import { KeyDecodeError } from "../../src/errors/index.js";
import { ApiV1Codec, asBuffer, NULL_KEYSPACE_ID } from "../../src/kv/api-codec.js";
import { encodeBytes } from "../../src/kv/memcomparable.js";
import { APIVersion, Context } from "../../src/proto/kvrpcpb.js";

const s = (x: string) => Buffer.from(x);
const empty = Buffer.alloc(0);

describe("ApiV1Codec", () => {
  it("keys and ranges are unchanged", () => {
    for (const mode of ["raw", "txn"] as const) {
      const c = new ApiV1Codec(mode);
      expect(c.encodesKeys).toBe(false);
      expect(c.keyspaceId).toBe(NULL_KEYSPACE_ID);
      expect(c.keyspacePrefix.length).toBe(0);
      expect(c.encodeKey(s("k"))).toEqual(s("k"));
      expect(c.decodeKey(s("k"))).toEqual(s("k"));
      expect(c.encodeKeys([s("a"), s("b")])).toEqual([s("a"), s("b")]);
      expect(c.encodeRange(s("a"), empty)).toEqual({ start: s("a"), end: empty });
      expect(c.decodeRange(s("a"), s("b"))).toEqual({ start: s("a"), end: s("b") });
    }
  });

  it("raw mode: region keys are plain", () => {
    const c = new ApiV1Codec("raw");
    expect(c.encodeRegionKey(s("a"))).toEqual(s("a"));
    expect(c.decodeRegionRange(s("a"), s("b"))).toEqual({ start: s("a"), end: s("b") });
    expect(c.decodeBucketKeys([s("a"), empty])).toEqual([s("a"), empty]);
  });

  it("txn mode: region keys are memcomparable, empty bounds stay empty", () => {
    const c = new ApiV1Codec("txn");
    expect(c.encodeRegionKey(s("a"))).toEqual(encodeBytes(s("a")));
    expect(c.encodeRegionRange(s("a"), empty)).toEqual({ start: encodeBytes(s("a")), end: empty });
    expect(c.encodeRegionRange(empty, s("b"))).toEqual({
      start: encodeBytes(empty),
      end: encodeBytes(s("b")),
    });
    expect(c.decodeRegionRange(encodeBytes(s("a")), empty)).toEqual({ start: s("a"), end: empty });
    expect(c.decodeRegionRange(empty, encodeBytes(s("z")))).toEqual({ start: empty, end: s("z") });
    expect(c.decodeBucketKeys([empty, encodeBytes(s("m")), empty])).toEqual([empty, s("m"), empty]);
    expect(() => c.decodeRegionKey(s("not-encoded"))).toThrow(KeyDecodeError);
  });

  it("reports V1 or V1TTL", () => {
    expect(new ApiV1Codec("raw").apiVersion).toBe(APIVersion.V1);
    expect(new ApiV1Codec("raw", APIVersion.V1TTL).apiVersion).toBe(APIVersion.V1TTL);
  });

  it("writes V1 into request contexts, also for a V1TTL cluster (as client-go's V1 codec)", () => {
    for (const v of [APIVersion.V1, APIVersion.V1TTL] as const) {
      const ctx = Context.fromPartial({});
      new ApiV1Codec("raw", v).applyToContext(ctx);
      expect(ctx.apiVersion).toBe(APIVersion.V1);
    }
  });

  it("asBuffer wraps views without copying", () => {
    const u = new Uint8Array([1, 2, 3]);
    const buf = asBuffer(u.subarray(1));
    u[1] = 9;
    expect([...buf]).toEqual([9, 3]);
    const b = Buffer.from("x");
    expect(asBuffer(b)).toBe(b);
  });
});
