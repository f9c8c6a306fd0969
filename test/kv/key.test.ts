import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors/index.js";
import {
  compareKeys,
  compareLatin1Keys,
  compareRangeEnds,
  fromLatin1Key,
  intersectRanges,
  isEmptyRange,
  type KeyInput,
  keyRange,
  keysEqual,
  nextKey,
  prefixNext,
  rangeContains,
  rangeContainsRange,
  rangesOverlap,
  toKey,
  toKeys,
  toLatin1Key,
} from "../../src/kv/key.js";

const b = (...bytes: number[]) => Buffer.from(bytes);
const sign = (n: number) => Math.sign(n);

describe("toKey", () => {
  it("returns Buffers unchanged", () => {
    const k = Buffer.from("abc");
    expect(toKey(k)).toBe(k);
  });

  it("wraps Uint8Array views without copying, respecting offset and length", () => {
    const backing = new Uint8Array([9, 1, 2, 3, 9]);
    const k = toKey(backing.subarray(1, 4));
    expect([...k]).toEqual([1, 2, 3]);
    backing[2] = 7;
    expect(k[1]).toBe(7);
  });

  it("encodes strings as UTF-8", () => {
    expect(toKey("é世")).toEqual(Buffer.from([0xc3, 0xa9, 0xe4, 0xb8, 0x96]));
    expect(toKey("")).toEqual(Buffer.alloc(0));
  });

  it.each([
    [123],
    [null],
    [undefined],
    [{}],
    [[1, 2]],
    [12n],
  ])("rejects %p with InvalidArgumentError", (bad) => {
    expect(() => toKey(bad as unknown as KeyInput)).toThrow(InvalidArgumentError);
    try {
      toKey(bad as unknown as KeyInput, "startKey");
    } catch (e) {
      expect((e as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
      expect((e as InvalidArgumentError).argument).toBe("startKey");
    }
  });

  it("toKeys converts each element and names the bad index", () => {
    expect(toKeys(["a", b(1)])).toEqual([Buffer.from("a"), b(1)]);
    expect(() => toKeys(["a", 5 as unknown as string])).toThrow(/keys\[1\]/);
    expect(() => toKeys("ab" as unknown as string[])).toThrow(InvalidArgumentError);
  });
});

describe("compareKeys / keysEqual", () => {
  it("orders bytes lexicographically, shorter prefix first", () => {
    expect(compareKeys(b(), b(0))).toBeLessThan(0);
    expect(compareKeys(b(1, 2), b(1, 2))).toBe(0);
    expect(compareKeys(b(1, 2), b(1, 2, 0))).toBeLessThan(0);
    expect(compareKeys(b(0xff), b(1, 0xff))).toBeGreaterThan(0);
    expect(keysEqual(b(1, 2), new Uint8Array([1, 2]))).toBe(true);
    expect(keysEqual(b(1, 2), b(1, 3))).toBe(false);
    expect(keysEqual(b(1), b(1, 0))).toBe(false);
  });

  it("keysEqual agrees with a byte compare on short and long keys", () => {
    const key = fc.uint8Array({ maxLength: 100 });
    fc.assert(
      fc.property(key, key, fc.nat(99), (a, c, at) => {
        // `a` against itself with at most one byte changed, and against an unrelated key
        const near = Buffer.from(a);
        if (near.length > 0) near[at % near.length] ^= at % 2;
        for (const other of [near, c]) {
          expect(keysEqual(a, other)).toBe(Buffer.compare(a, other) === 0);
        }
      }),
    );
  });
});

describe("nextKey", () => {
  it("appends 0x00 and returns a new buffer (client-go kv.NextKey)", () => {
    const k = b(1, 2);
    const n = nextKey(k);
    expect(n).toEqual(b(1, 2, 0));
    expect(nextKey(b())).toEqual(b(0));
    n[0] = 9;
    expect(k[0]).toBe(1);
  });

  it("is the immediate successor: no key lies strictly between k and nextKey(k)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 7 }), (k, other) => {
        const n = nextKey(k);
        expect(compareKeys(k, n)).toBeLessThan(0);
        expect(compareKeys(k, other) < 0 && compareKeys(other, n) < 0).toBe(false);
      }),
    );
  });
});

describe("prefixNext", () => {
  // Ported from client-go kv/key_test.go TestPrefixNextKey.
  it("returns empty (+inf) for all-0xff keys", () => {
    expect(prefixNext(b(0xff))).toEqual(b());
    expect(prefixNext(b(0xff, 0xff))).toEqual(b());
    expect(prefixNext(b(0xff, 0xff, 0xff, 0xff))).toEqual(b());
    expect(prefixNext(b())).toEqual(b());
  });

  it("increments with carry and keeps the length", () => {
    expect(prefixNext(b(1, 2, 3))).toEqual(b(1, 2, 4));
    expect(prefixNext(b(1, 0xff))).toEqual(b(2, 0));
    expect(prefixNext(b(1, 0xff, 0xff))).toEqual(b(2, 0, 0));
    expect(prefixNext(Buffer.from("rowkey1"))).toEqual(Buffer.from("rowkey2"));
  });

  it("does not modify its input", () => {
    const k = b(1, 0xff);
    prefixNext(k);
    expect(k).toEqual(b(1, 0xff));
  });

  it("is greater than every key with the prefix and not greater than any larger non-prefixed key", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 5 }),
        fc.uint8Array({ maxLength: 4 }),
        fc.uint8Array({ maxLength: 6 }),
        (p, suffix, other) => {
          const pn = prefixNext(p);
          const withPrefix = Buffer.concat([p, suffix]);
          // Every key starting with p is below the bound (empty bound = +inf).
          expect(compareRangeEnds(withPrefix, pn)).toBeLessThan(0);
          // Any key above all prefixed keys that does not start with p is >= the bound.
          const o = Buffer.from(other);
          const startsWithP = o.length >= p.length && o.subarray(0, p.length).equals(p);
          if (!startsWithP && compareKeys(o, p) > 0 && pn.length > 0) {
            expect(compareKeys(o, pn)).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });
});

describe("key ranges", () => {
  const r = (s: number[], e: number[]) => ({ start: Buffer.from(s), end: Buffer.from(e) });

  it("keyRange converts inputs; omitted end is +inf", () => {
    expect(keyRange("a", "c")).toEqual({ start: Buffer.from("a"), end: Buffer.from("c") });
    expect(keyRange("a").end.length).toBe(0);
    expect(() => keyRange(1 as unknown as string)).toThrow(InvalidArgumentError);
  });

  it("compareRangeEnds treats empty as +inf", () => {
    expect(compareRangeEnds(b(), b())).toBe(0);
    expect(compareRangeEnds(b(), b(0xff))).toBeGreaterThan(0);
    expect(compareRangeEnds(b(0xff), b())).toBeLessThan(0);
    expect(compareRangeEnds(b(1), b(2))).toBeLessThan(0);
  });

  it("rangeContains is start-inclusive, end-exclusive", () => {
    expect(rangeContains(r([1], [3]), b(1))).toBe(true);
    expect(rangeContains(r([1], [3]), b(2, 0xff))).toBe(true);
    expect(rangeContains(r([1], [3]), b(3))).toBe(false);
    expect(rangeContains(r([1], [3]), b(0, 9))).toBe(false);
    expect(rangeContains(r([], []), b())).toBe(true);
    expect(rangeContains(r([5], []), b(0xff, 0xff))).toBe(true);
  });

  it("rangeContainsRange", () => {
    expect(rangeContainsRange(r([], []), r([1], [2]))).toBe(true);
    expect(rangeContainsRange(r([1], []), r([1], []))).toBe(true);
    expect(rangeContainsRange(r([1], [5]), r([1], []))).toBe(false);
    expect(rangeContainsRange(r([1], [5]), r([0], [2]))).toBe(false);
    expect(rangeContainsRange(r([1], [5]), r([2], [5]))).toBe(true);
  });

  it("intersectRanges / rangesOverlap / isEmptyRange", () => {
    expect(intersectRanges(r([1], [5]), r([3], []))).toEqual(r([3], [5]));
    expect(intersectRanges(r([], []), r([3], [4]))).toEqual(r([3], [4]));
    expect(intersectRanges(r([1], [3]), r([3], [5]))).toBeUndefined();
    expect(rangesOverlap(r([1], [3]), r([2], [2, 0]))).toBe(true);
    expect(rangesOverlap(r([1], [3]), r([4], []))).toBe(false);
    expect(isEmptyRange(r([2], [2]))).toBe(true);
    expect(isEmptyRange(r([2], []))).toBe(false);
  });

  it("intersection contains exactly the keys contained in both ranges", () => {
    const range = fc
      .tuple(fc.uint8Array({ maxLength: 3 }), fc.uint8Array({ maxLength: 3 }))
      .map(([s, e]) => ({ start: Buffer.from(s), end: Buffer.from(e) }));
    fc.assert(
      fc.property(range, range, fc.uint8Array({ maxLength: 4 }), (x, y, k) => {
        const i = intersectRanges(x, y);
        const both = rangeContains(x, k) && rangeContains(y, k);
        expect(i ? rangeContains(i, k) : false).toBe(both);
      }),
    );
  });
});

describe("latin1 key form", () => {
  it("round-trips every byte value", () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(fromLatin1Key(toLatin1Key(all))).toEqual(all);
    expect(toLatin1Key(all).length).toBe(256);
  });

  it("string order equals byte order (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }), (x, y) => {
        const lx = toLatin1Key(x);
        const ly = toLatin1Key(y);
        expect(sign(compareLatin1Keys(lx, ly))).toBe(sign(compareKeys(x, y)));
        expect(lx < ly).toBe(compareKeys(x, y) < 0);
      }),
    );
  });

  it("works on Uint8Array views", () => {
    const v = new Uint8Array([0, 0x80, 0xff, 7]).subarray(1, 3);
    expect(toLatin1Key(v)).toBe("\u0080\u00ff");
  });
});
