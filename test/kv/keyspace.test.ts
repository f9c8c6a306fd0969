// Ports client-go internal/apicodec/codec_test.go and codec_v2_test.go (by meaning), plus
// property tests of the keyspace codec.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, KeyDecodeError, KeyOutOfKeyspaceError } from "../../src/errors/index.js";
import { ApiV1Codec, NULL_KEYSPACE_ID } from "../../src/kv/api-codec.js";
import { compareKeys } from "../../src/kv/key.js";
import {
  apiV2Prefixes,
  createApiCodec,
  DEFAULT_KEYSPACE_NAME,
  KeyspaceCodec,
  keyspaceEndKey,
  keyspaceNameOrDefault,
  keyspacePrefix,
  MAX_KEYSPACE_ID,
  parseKeyspaceId,
  RAW_MODE_PREFIX,
  splitApiV2Key,
  TXN_MODE_PREFIX,
} from "../../src/kv/keyspace.js";
import { encodeBytes } from "../../src/kv/memcomparable.js";
import { encodeKeyRanges } from "../../src/kv/message-codec.js";
import { KeyspaceMeta } from "../../src/proto/keyspacepb.js";
import { APIVersion, Context, KeyRange } from "../../src/proto/kvrpcpb.js";

const b = (...bytes: number[]) => Buffer.from(bytes);
const cat = (...parts: (Buffer | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));
const R = 0x72;

// Fixtures of client-go codec_v2_test.go: keyspace 4242 in raw mode. Ordered as
// beforePrefix < keyspacePrefix < insideLeft < insideRight < keyspaceEndKey < afterEndKey.
const KS_ID = 4242;
const prevKeyspacePrefix = b(R, 0, 16, 145);
const ksPrefix = b(R, 0, 16, 146);
const ksEnd = b(R, 0, 16, 147);
const beforePrefix = b(R, 0, 0, 1);
const afterEndKey = b(R, 1, 0, 0);
const insideLeft = b(R, 0, 16, 146, 100);
const insideRight = b(R, 0, 16, 146, 200);

const codec = new KeyspaceCodec({ mode: "raw", keyspaceId: KS_ID });

describe("constants and helpers (client-go codec_test.go)", () => {
  it("mode prefixes are 'r' and 'x'", () => {
    expect(RAW_MODE_PREFIX).toBe("r".charCodeAt(0));
    expect(TXN_MODE_PREFIX).toBe("x".charCodeAt(0));
  });

  // TestParseKeyspaceID
  it("parseKeyspaceId reads the 3 bytes after 'x' or 'r'", () => {
    expect(parseKeyspaceId(b(0x78, 1, 2, 3, 1, 2, 3))).toBe(0x010203);
    expect(parseKeyspaceId(b(R, 1, 2, 3, 1, 2, 3, 4))).toBe(0x010203);
    expect(() => parseKeyspaceId(b(0x74, 0, 0))).toThrow(KeyDecodeError);
    expect(() => parseKeyspaceId(b(0x74, 0, 0, 1, 1, 2, 3))).toThrow(KeyDecodeError);
    expect(() => parseKeyspaceId(b(R, 0, 0))).toThrow(/not-api-v2/);
  });

  // TestDecodeKey
  it("splitApiV2Key splits prefix and user key; v1 keys are rejected", () => {
    expect(splitApiV2Key(b(R, 1, 2, 3, 1, 2, 3, 4))).toEqual({ prefix: b(R, 1, 2, 3), key: b(1, 2, 3, 4) });
    expect(splitApiV2Key(b(0x78, 1, 2, 3, 1, 2, 3, 4))).toEqual({
      prefix: b(0x78, 1, 2, 3),
      key: b(1, 2, 3, 4),
    });
    expect(() => splitApiV2Key(b(0x74, 1, 2, 3, 1, 2, 3, 4))).toThrow(KeyDecodeError);
    // API v1 keeps the key as is.
    expect(new ApiV1Codec("raw").decodeKey(b(0x74, 1, 2, 3))).toEqual(b(0x74, 1, 2, 3));
  });

  // TestCodecListUtilityFunctions
  it("API v2 prefixes are sorted", () => {
    const p = apiV2Prefixes();
    expect(p).toEqual([b(R), b(0x78)]);
    for (let i = 1; i < p.length; i++) expect(compareKeys(p[i - 1]!, p[i]!)).toBeLessThan(0);
  });

  it("keyspaceNameOrDefault (client-go BuildKeyspaceName)", () => {
    expect(keyspaceNameOrDefault("")).toBe(DEFAULT_KEYSPACE_NAME);
    expect(keyspaceNameOrDefault(undefined)).toBe("DEFAULT");
    expect(keyspaceNameOrDefault("ks1")).toBe("ks1");
  });
});

describe("KeyspaceCodec construction (TestNewCodecV2)", () => {
  it("fixture prefix", () => {
    expect(codec.keyspacePrefix).toEqual(ksPrefix);
    expect(codec.keyspaceEnd).toEqual(ksEnd);
    expect(codec.keyspaceId).toBe(KS_ID); // TestGetKeyspaceID
    expect(codec.apiVersion).toBe(APIVersion.V2);
  });

  it.each([
    ["raw", 2 ** 24 - 2, [R, 255, 255, 254], [R, 255, 255, 255]],
    ["txn", 2 ** 8 - 1, [0x78, 0, 0, 255], [0x78, 0, 1, 0]],
    ["txn", 2 ** 16 - 1, [0x78, 0, 255, 255], [0x78, 1, 0, 0]],
    // The last keyspace's end bumps the mode byte.
    ["raw", 2 ** 24 - 1, [R, 255, 255, 255], [0x73, 0, 0, 0]],
    ["txn", 0, [0x78, 0, 0, 0], [0x78, 0, 0, 1]],
  ] as const)("%s keyspace %d", (mode, id, prefix, end) => {
    const c = new KeyspaceCodec({ mode, keyspaceId: id });
    expect([...c.keyspacePrefix]).toEqual(prefix);
    expect([...c.keyspaceEnd]).toEqual(end);
    expect(keyspacePrefix(mode, id)).toEqual(Buffer.from(prefix));
    expect(keyspaceEndKey(mode, id)).toEqual(Buffer.from(end));
  });

  it.each([
    [2 ** 32 - 1],
    [MAX_KEYSPACE_ID + 1],
    [-1],
    [1.5],
    [Number.NaN],
  ])("rejects keyspace id %d", (id) => {
    expect(() => new KeyspaceCodec({ mode: "raw", keyspaceId: id })).toThrow(InvalidArgumentError);
  });

  it("rejects an unknown mode", () => {
    expect(() => new KeyspaceCodec({ mode: "bad" as "raw", keyspaceId: 0 })).toThrow(InvalidArgumentError);
  });

  // TestNewCodecV2RejectsKeyspaceIdentity / TestNewCodecV2RejectsNilMeta /
  // locate TestGetKeyspaceIDRejectsV3Identity
  it("fromMeta rejects missing metadata and API v3 identities", () => {
    expect(() => KeyspaceCodec.fromMeta("txn", undefined)).toThrow(InvalidArgumentError);
    const v3 = KeyspaceMeta.fromPartial({
      keyspace: { $case: "keyspaceIdentity", keyspaceIdentity: { namespaceId: 1, keyspaceId: 2 } },
    });
    expect(() => KeyspaceCodec.fromMeta("txn", v3)).toThrow(/v3/);
    const ok = KeyspaceCodec.fromMeta(
      "txn",
      KeyspaceMeta.fromPartial({ keyspace: { $case: "id", id: 7 }, name: "ks7" }),
    );
    expect(ok.keyspaceId).toBe(7);
    expect(ok.keyspaceName).toBe("ks7");
    expect(ok.keyspacePrefix).toEqual(b(0x78, 0, 0, 7));
  });

  it("createApiCodec picks the codec by API version", () => {
    const v1 = createApiCodec({ apiVersion: APIVersion.V1, mode: "txn" });
    expect(v1).toBeInstanceOf(ApiV1Codec);
    expect(v1.apiVersion).toBe(APIVersion.V1);
    expect(createApiCodec({ apiVersion: APIVersion.V1TTL, mode: "raw" }).apiVersion).toBe(APIVersion.V1TTL);
    const v2 = createApiCodec({ apiVersion: APIVersion.V2, mode: "raw", keyspaceId: 3 });
    expect(v2.keyspacePrefix).toEqual(b(R, 0, 0, 3));
    const meta = KeyspaceMeta.fromPartial({ keyspace: { $case: "id", id: 9 }, name: "n" });
    expect(createApiCodec({ apiVersion: APIVersion.V2, mode: "txn", keyspaceMeta: meta }).keyspaceId).toBe(9);
    expect(createApiCodec({ apiVersion: APIVersion.V2, mode: "txn" }).keyspaceId).toBe(0);
    expect(() => createApiCodec({ apiVersion: APIVersion.V3, mode: "txn" })).toThrow(InvalidArgumentError);
    expect(() => createApiCodec({ apiVersion: APIVersion.V1, mode: "x" as "raw" })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe("keys and ranges", () => {
  it("encodeKey / decodeKey", () => {
    expect(codec.encodeKey(Buffer.from("key"))).toEqual(cat(ksPrefix, "key"));
    expect(codec.encodeKey(b())).toEqual(ksPrefix);
    expect(codec.decodeKey(cat(ksPrefix, "key"))).toEqual(Buffer.from("key"));
    expect(codec.decodeKey(b())).toEqual(b());
    expect(codec.encodeKeys([b(1), b(2)])).toEqual([cat(ksPrefix, b(1)), cat(ksPrefix, b(2))]);
  });

  it("decodeKey rejects keys of other keyspaces and modes", () => {
    for (const k of [cat(prevKeyspacePrefix, "a"), cat(b(0x78, 0, 16, 146), "a"), b(R, 0, 16), b(0x74)]) {
      expect(() => codec.decodeKey(k)).toThrow(KeyOutOfKeyspaceError);
    }
  });

  // TestEncodeV2KeyRanges
  it("encodeRange maps empty bounds to the keyspace bounds", () => {
    const ranges = [
      [[], []],
      [[], [0x7a]],
      [[0x61], []],
      [[0x61], [0x7a]],
    ].map(([s, e]) => KeyRange.fromPartial({ startKey: Buffer.from(s!), endKey: Buffer.from(e!) }));
    expect(encodeKeyRanges(codec, ranges)).toEqual([
      { startKey: ksPrefix, endKey: ksEnd },
      { startKey: ksPrefix, endKey: cat(ksPrefix, "z") },
      { startKey: cat(ksPrefix, "a"), endKey: ksEnd },
      { startKey: cat(ksPrefix, "a"), endKey: cat(ksPrefix, "z") },
    ]);
  });

  it("encodeRange with reverse swaps the role of the bounds", () => {
    // Reverse scan: start = exclusive upper bound, end = inclusive lower bound.
    expect(codec.encodeRange(b(), b(), true)).toEqual({ start: ksEnd, end: ksPrefix });
    expect(codec.encodeRange(Buffer.from("z"), Buffer.from("a"), true)).toEqual({
      start: cat(ksPrefix, "z"),
      end: cat(ksPrefix, "a"),
    });
  });

  it("decodeRange clamps to the keyspace and rejects disjoint ranges", () => {
    expect(codec.decodeRange(beforePrefix, afterEndKey)).toEqual({ start: b(), end: b() });
    expect(codec.decodeRange(insideLeft, insideRight)).toEqual({ start: b(100), end: b(200) });
    expect(codec.decodeRange(b(), b())).toEqual({ start: b(), end: b() });
    expect(() => codec.decodeRange(ksEnd, afterEndKey)).toThrow(KeyOutOfKeyspaceError);
    expect(() => codec.decodeRange(beforePrefix, ksPrefix)).toThrow(KeyOutOfKeyspaceError);
    // A start shorter than the prefix but inside [prefix, end) lies after every keyspace key.
    const c255 = new KeyspaceCodec({ mode: "raw", keyspaceId: 255 }); // prefix r 0 0 ff, end r 0 1 0
    expect(() => c255.decodeRange(b(R, 0, 1), b())).toThrow(KeyOutOfKeyspaceError);
    expect(c255.decodeRange(b(), b(R, 0, 1))).toEqual({ start: b(), end: b() });
  });

  it("region keys are memcomparable-encoded prefixed keys", () => {
    expect(codec.encodeRegionKey(Buffer.from("a"))).toEqual(encodeBytes(cat(ksPrefix, "a")));
    expect(codec.decodeRegionKey(encodeBytes(cat(ksPrefix, "a")))).toEqual(Buffer.from("a"));
    expect(codec.encodeRegionRange(b(), b())).toEqual({
      start: encodeBytes(ksPrefix),
      end: encodeBytes(ksEnd),
    });
    expect(codec.decodeRegionRange(encodeBytes(ksPrefix), encodeBytes(ksEnd))).toEqual({
      start: b(),
      end: b(),
    });
    expect(codec.decodeRegionRange(b(), b())).toEqual({ start: b(), end: b() });
    expect(() => codec.decodeRegionRange(b(1, 2, 3), b())).toThrow(KeyDecodeError);
    expect(() => codec.decodeRegionKey(encodeBytes(cat(prevKeyspacePrefix, "a")))).toThrow(
      KeyOutOfKeyspaceError,
    );
  });

  it("applyToContext writes API version, keyspace id and name", () => {
    const ctx = Context.fromPartial({});
    new KeyspaceCodec({ mode: "txn", keyspaceId: 5, keyspaceName: "ks5" }).applyToContext(ctx);
    expect(ctx.apiVersion).toBe(APIVersion.V2);
    expect(ctx.keyspace).toEqual({ $case: "keyspaceId", keyspaceId: 5 });
    expect(ctx.keyspaceName).toBe("ks5");
    const v1ctx = Context.fromPartial({});
    new ApiV1Codec("txn").applyToContext(v1ctx);
    expect(v1ctx.apiVersion).toBe(APIVersion.V1);
    expect(v1ctx.keyspace).toEqual({ $case: "keyspaceId", keyspaceId: NULL_KEYSPACE_ID });
  });
});

// TestDecodeBucketKeys (3 layouts)
describe("decodeBucketKeys", () => {
  const withPrefix = (prefix: Buffer, key: string) => encodeBytes(cat(prefix, key));
  const expected = [b(), Buffer.from("a"), Buffer.from("b"), Buffer.from("c"), b()];

  it("clips keys of neighbouring keyspaces", () => {
    const keys = [
      withPrefix(prevKeyspacePrefix, "a"),
      withPrefix(prevKeyspacePrefix, "b"),
      withPrefix(prevKeyspacePrefix, "c"),
      codec.encodeRegionKey(Buffer.from("a")),
      codec.encodeRegionKey(Buffer.from("b")),
      codec.encodeRegionKey(Buffer.from("c")),
      withPrefix(ksEnd, ""),
      withPrefix(ksEnd, "a"),
      withPrefix(ksEnd, "b"),
      withPrefix(ksEnd, "c"),
    ];
    expect(codec.decodeBucketKeys(keys)).toEqual(expected);
  });

  it("drops a repeated empty start and maps an empty last key to +inf", () => {
    const keys = [
      withPrefix(prevKeyspacePrefix, "a"),
      withPrefix(prevKeyspacePrefix, "b"),
      withPrefix(prevKeyspacePrefix, "c"),
      codec.encodeRegionKey(b()),
      codec.encodeRegionKey(Buffer.from("a")),
      codec.encodeRegionKey(Buffer.from("b")),
      codec.encodeRegionKey(Buffer.from("c")),
      b(),
    ];
    expect(codec.decodeBucketKeys(keys)).toEqual(expected);
    expect(codec.decodeBucketKeys([b(), ...keys.slice(1)])).toEqual(expected);
  });
});

describe("keyspace codec properties", () => {
  const id = fc.integer({ min: 0, max: MAX_KEYSPACE_ID });
  const mode = fc.constantFrom("raw" as const, "txn" as const);
  const key = fc.uint8Array({ maxLength: 20 });

  it("decodeKey(encodeKey(k)) == k, and region keys round-trip", () => {
    fc.assert(
      fc.property(mode, id, key, (m, i, k) => {
        const c = new KeyspaceCodec({ mode: m, keyspaceId: i });
        const enc = c.encodeKey(k);
        expect(parseKeyspaceId(enc)).toBe(i);
        expect(c.decodeKey(enc)).toEqual(Buffer.from(k));
        expect(c.decodeRegionKey(c.encodeRegionKey(k))).toEqual(Buffer.from(k));
      }),
    );
  });

  it("preserves order within a keyspace and keeps keyspaces disjoint and ordered by id", () => {
    fc.assert(
      fc.property(mode, id, id, key, key, (m, i, j, x, y) => {
        const ci = new KeyspaceCodec({ mode: m, keyspaceId: i });
        const cj = new KeyspaceCodec({ mode: m, keyspaceId: j });
        expect(Math.sign(compareKeys(ci.encodeKey(x), ci.encodeKey(y)))).toBe(Math.sign(compareKeys(x, y)));
        expect(Math.sign(compareKeys(ci.encodeRegionKey(x), ci.encodeRegionKey(y)))).toBe(
          Math.sign(compareKeys(x, y)),
        );
        if (i !== j) {
          expect(Math.sign(compareKeys(ci.encodeKey(x), cj.encodeKey(y)))).toBe(Math.sign(i - j));
        }
        // Every encoded key lies in [prefix, end).
        const e = ci.encodeKey(x);
        expect(compareKeys(ci.keyspacePrefix, e)).toBeLessThanOrEqual(0);
        expect(compareKeys(e, ci.keyspaceEnd)).toBeLessThan(0);
      }),
    );
  });

  it("encodeRange then decodeRange gives the range back", () => {
    fc.assert(
      fc.property(mode, id, key, key, (m, i, s, e) => {
        const c = new KeyspaceCodec({ mode: m, keyspaceId: i });
        // Skip ranges that are empty in the user space (end <= start with end bounded).
        fc.pre(e.length === 0 || compareKeys(s, e) < 0);
        const enc = c.encodeRange(s, e);
        expect(c.decodeRange(enc.start, enc.end)).toEqual({ start: Buffer.from(s), end: Buffer.from(e) });
        const reg = c.encodeRegionRange(s, e);
        expect(c.decodeRegionRange(reg.start, reg.end)).toEqual({
          start: Buffer.from(s),
          end: Buffer.from(e),
        });
      }),
    );
  });
});
