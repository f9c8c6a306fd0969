import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyDecodeError } from "../../src/errors/index.js";
import { compareKeys } from "../../src/kv/key.js";
import {
  decodeBytes,
  decodeBytesDesc,
  decodeRegionBoundary,
  encodeBytes,
  encodeBytesDesc,
  encodedLength,
} from "../../src/kv/memcomparable.js";

const b = (...bytes: number[]) => Buffer.from(bytes);
// Negation without producing -0 (toBe uses Object.is).
const neg = (c: number) => (c === 0 ? 0 : -c);

// Vectors: tikv components/codec/src/byte.rs test_memcmp_encode_all and
// tikv components/tikv_util/src/codec/bytes.rs test_enc_dec_bytes (ascending, descending);
// the ascending ones also appear in client-go util/codec/bytes.go's EncodeBytes doc comment.
const VECTORS: [number[], number[], number[]][] = [
  [[], [0, 0, 0, 0, 0, 0, 0, 0, 247], [255, 255, 255, 255, 255, 255, 255, 255, 8]],
  [[0], [0, 0, 0, 0, 0, 0, 0, 0, 248], [255, 255, 255, 255, 255, 255, 255, 255, 7]],
  [
    [1, 2, 3],
    [1, 2, 3, 0, 0, 0, 0, 0, 250],
    [254, 253, 252, 255, 255, 255, 255, 255, 5],
  ],
  [
    [1, 2, 3, 0],
    [1, 2, 3, 0, 0, 0, 0, 0, 251],
    [254, 253, 252, 255, 255, 255, 255, 255, 4],
  ],
  [
    [1, 2, 3, 4, 5, 6, 7],
    [1, 2, 3, 4, 5, 6, 7, 0, 254],
    [254, 253, 252, 251, 250, 249, 248, 255, 1],
  ],
  [
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 247],
    [255, 255, 255, 255, 255, 255, 255, 255, 0, 255, 255, 255, 255, 255, 255, 255, 255, 8],
  ],
  [
    [1, 2, 3, 4, 5, 6, 7, 8],
    [1, 2, 3, 4, 5, 6, 7, 8, 255, 0, 0, 0, 0, 0, 0, 0, 0, 247],
    [254, 253, 252, 251, 250, 249, 248, 247, 0, 255, 255, 255, 255, 255, 255, 255, 255, 8],
  ],
  [
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 5, 6, 7, 8, 255, 9, 0, 0, 0, 0, 0, 0, 0, 248],
    [254, 253, 252, 251, 250, 249, 248, 247, 0, 246, 255, 255, 255, 255, 255, 255, 255, 7],
  ],
];

describe("memcomparable encode/decode vectors", () => {
  it.each(VECTORS)("%j", (raw, asc, desc) => {
    expect([...encodeBytes(b(...raw))]).toEqual(asc);
    expect([...encodeBytesDesc(b(...raw))]).toEqual(desc);
    expect(decodeBytes(b(...asc))).toEqual({ key: b(...raw), next: asc.length });
    expect(decodeBytesDesc(b(...desc))).toEqual({ key: b(...raw), next: desc.length });
    expect(encodedLength(raw.length)).toBe(asc.length);
  });

  // tikv components/codec/src/byte.rs test_memcmp_encoded_len
  it("encodedLength", () => {
    const cases: [number, number][] = [
      [0, 9],
      [4, 9],
      [7, 9],
      [8, 18],
      [9, 18],
      [16, 27],
      [17, 27],
    ];
    for (const [n, len] of cases) expect(encodedLength(n)).toBe(len);
  });
});

describe("decodeBytes offsets", () => {
  it("decodes at an offset and reports where the rest starts", () => {
    const enc = encodeBytes(Buffer.from("hello world"));
    const buf = Buffer.concat([b(0xaa, 0xbb), enc, b(1, 2, 3)]);
    const d = decodeBytes(buf, 2);
    expect(d.key.toString()).toBe("hello world");
    expect(d.next).toBe(2 + enc.length);
    expect([...buf.subarray(d.next)]).toEqual([1, 2, 3]);
  });

  it("decodes consecutive values", () => {
    const buf = Buffer.concat([encodeBytes(b(1)), encodeBytes(b()), encodeBytesDesc(b(7, 8))]);
    const first = decodeBytes(buf);
    const second = decodeBytes(buf, first.next);
    const third = decodeBytesDesc(buf, second.next);
    expect([first.key, second.key, third.key]).toEqual([b(1), b(), b(7, 8)]);
    expect(third.next).toBe(buf.length);
  });

  it("returns a key that does not alias the input", () => {
    const enc = encodeBytes(b(1, 2, 3));
    const { key } = decodeBytes(enc);
    enc[0] = 9;
    expect(key).toEqual(b(1, 2, 3));
  });
});

describe("decodeBytes errors", () => {
  // tikv components/codec/src/byte.rs test_memcmp_try_decode_first_error and
  // tikv_util/src/codec/bytes.rs test_dec_bytes_fail, with the failure kind each one hits.
  const INVALID: [number[], string][] = [
    [[1, 2, 3, 4], "truncated"],
    [[0, 0, 0, 0, 0, 0, 0, 247], "truncated"],
    [[0, 0, 0, 0, 0, 0, 0, 0, 246], "bad-marker"],
    [[0, 0, 0, 0, 0, 0, 0, 1, 247], "bad-padding"],
    [[1, 2, 3, 4, 5, 6, 7, 8, 0], "bad-marker"],
    [[1, 2, 3, 4, 5, 6, 7, 8, 255, 1], "truncated"],
    [[1, 2, 3, 4, 5, 6, 7, 8, 255, 1, 2, 3, 4, 5, 6, 7, 8], "truncated"],
    [[1, 2, 3, 4, 5, 6, 7, 8, 255, 1, 2, 3, 4, 5, 6, 7, 8, 255], "truncated"],
    [[1, 2, 3, 4, 5, 6, 7, 8, 255, 1, 2, 3, 4, 5, 6, 7, 8, 0], "bad-marker"],
    [[1, 2, 3, 4, 5, 6, 7, 8, 255, 1, 0, 0, 0, 0, 0, 0, 0, 247], "bad-padding"],
    [[], "truncated"],
  ];

  it.each(INVALID)("%j -> %s", (bytes, failure) => {
    let err: unknown;
    try {
      decodeBytes(b(...bytes));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyDecodeError);
    expect((err as KeyDecodeError).failure).toBe(failure);
    expect((err as KeyDecodeError).code).toBe("KEY_DECODE_ERROR");
    expect((err as KeyDecodeError).isRetryable).toBe(false);
  });

  it("descending decode checks 0xff padding", () => {
    const enc = encodeBytesDesc(b(1, 2, 3));
    enc[5] = 0;
    expect(() => decodeBytesDesc(enc)).toThrow(/bad-padding/);
    // An ascending encoding is not a valid descending one.
    expect(() => decodeBytesDesc(encodeBytes(b(1)))).toThrow(KeyDecodeError);
  });

  it("reports the offset of the failure", () => {
    try {
      decodeBytes(b(9, 9, 0, 0, 0, 0, 0, 0, 0, 1, 246), 2);
      expect.unreachable();
    } catch (e) {
      expect((e as KeyDecodeError).offset).toBe(10);
    }
  });
});

describe("decodeRegionBoundary", () => {
  it("keeps empty boundaries empty and ignores trailing bytes", () => {
    expect(decodeRegionBoundary(b())).toEqual(b());
    expect(decodeRegionBoundary(Buffer.concat([encodeBytes(b(5)), b(1, 2)]))).toEqual(b(5));
    expect(() => decodeRegionBoundary(b(1, 2))).toThrow(KeyDecodeError);
  });
});

describe("memcomparable properties", () => {
  const key = fc.uint8Array({ maxLength: 40 });

  it("round-trips (asc and desc)", () => {
    fc.assert(
      fc.property(key, (k) => {
        const enc = encodeBytes(k);
        expect(enc.length).toBe(encodedLength(k.length));
        expect(decodeBytes(enc)).toEqual({ key: Buffer.from(k), next: enc.length });
        const desc = encodeBytesDesc(k);
        expect(decodeBytesDesc(desc)).toEqual({ key: Buffer.from(k), next: desc.length });
      }),
    );
  });

  it("preserves order: compare(a, b) == compare(enc a, enc b); descending reverses it", () => {
    // Biased towards shared prefixes, zero bytes and group-boundary lengths where bugs hide.
    const biased = fc
      .array(fc.constantFrom(0, 1, 0xfe, 0xff), { maxLength: 20 })
      .map((a) => Uint8Array.from(a));
    const k = fc.oneof(key, biased);
    fc.assert(
      fc.property(k, k, (x, y) => {
        const c = Math.sign(compareKeys(x, y));
        expect(Math.sign(compareKeys(encodeBytes(x), encodeBytes(y)))).toBe(c);
        expect(Math.sign(compareKeys(encodeBytesDesc(x), encodeBytesDesc(y)))).toBe(neg(c));
      }),
      { numRuns: 500 },
    );
  });

  // tikv components/tikv_util/src/codec/bytes.rs test_encode_bytes_compare
  it("ordering vectors", () => {
    const pairs: [number[], number[], number][] = [
      [[], [0], -1],
      [[0], [0], 0],
      [[0xff], [0], 1],
      [[0xff], [0xff, 0], -1],
      [[0x61], [0x62], -1],
      [[0x61], [0], 1],
      [[0], [1], -1],
      [[0, 1], [0, 0], 1],
      [[0, 0, 0], [0, 0], 1],
      [[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0], -1],
      [[1, 2, 3, 0], [1, 2, 3], 1],
      [[1, 3, 3, 4], [1, 3, 3, 5], -1],
      [[1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8], -1],
      [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8], 1],
      [[1, 2, 3, 4, 5, 6, 7, 8, 0], [1, 2, 3, 4, 5, 6, 7, 8], 1],
    ];
    for (const [x, y, ord] of pairs) {
      expect(Math.sign(compareKeys(encodeBytes(b(...x)), encodeBytes(b(...y))))).toBe(ord);
      expect(Math.sign(compareKeys(encodeBytesDesc(b(...x)), encodeBytesDesc(b(...y))))).toBe(neg(ord));
    }
  });
});
