// ceilDecodeBytes: the user-key view of a stored region boundary must cut the transactional key
// space exactly where the boundary cuts the encoded keys (TiKV compares Key::from_raw bytes).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ceilDecodeBytes, fromStoredKey, toStoredKey } from "../../../src/cluster/topology/stored-keys.js";
import { encodeBytes } from "../../../src/kv/memcomparable.js";

// Bytes near the codec's markers and padding, where off-by-one cuts hide.
const byte = fc.constantFrom(0x00, 0x01, 0x61, 0xf6, 0xf7, 0xf8, 0xfe, 0xff);
const bytes = (max: number) => fc.array(byte, { maxLength: max }).map((a) => Buffer.from(a));
// Boundaries: clean encodings, their prefixes and extensions, and arbitrary bytes.
const boundary = fc.oneof(
  bytes(20),
  bytes(17).map((k) => encodeBytes(k)),
  fc.tuple(bytes(17), fc.nat(30)).map(([k, n]) => encodeBytes(k).subarray(0, n)),
  fc.tuple(bytes(17), bytes(4)).map(([k, x]) => Buffer.concat([encodeBytes(k), x])),
);

describe("ceilDecodeBytes", () => {
  it("is the exact inverse of encodeBytes on clean encodings", () => {
    fc.assert(
      fc.property(bytes(30), (k) => {
        expect(ceilDecodeBytes(encodeBytes(k))).toEqual(k);
      }),
    );
  });

  it("encode(k) >= b exactly when k >= ceilDecode(b), for every key and boundary", () => {
    fc.assert(
      fc.property(boundary, bytes(18), (b, k) => {
        const u = ceilDecodeBytes(b);
        expect(Buffer.compare(encodeBytes(k), b) >= 0).toBe(Buffer.compare(k, u) >= 0);
      }),
      { numRuns: 3000 },
    );
  });

  it("names the first user key at or past a raw boundary", () => {
    expect(ceilDecodeBytes(Buffer.from("k3"))).toEqual(Buffer.from("k3"));
    expect(ceilDecodeBytes(Buffer.from("k3\0"))).toEqual(Buffer.from("k3"));
    // "abcdefgh1": the group "abcdefgh" continues with marker 0xff, which is > "1".
    expect(ceilDecodeBytes(Buffer.from("abcdefgh1"))).toEqual(Buffer.from("abcdefgh"));
    // A clean encoding followed by more bytes: the next key after it.
    const past = Buffer.concat([encodeBytes(Buffer.from("k")), Buffer.from([0])]);
    expect(ceilDecodeBytes(past)).toEqual(Buffer.from("k\0"));
  });

  it("raw clusters keep keys as they are; empty keys stay unbounded", () => {
    const k = Buffer.from("k3");
    expect(toStoredKey("raw", k)).toBe(k);
    expect(fromStoredKey("raw", k)).toBe(k);
    expect(toStoredKey("memcomparable", Buffer.alloc(0)).length).toBe(0);
    expect(fromStoredKey("memcomparable", toStoredKey("memcomparable", k))).toEqual(k);
  });
});
