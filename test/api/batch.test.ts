// Batch splitting as client-go internal/kvrpc/batch.go does it (AppendKeyBatches by count,
// AppendBatches by size); ports the meaning of client-go rawkv_test.go batch-size cases.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  RAW_BATCH_PAIR_COUNT,
  RAW_BATCH_PUT_SIZE,
  splitByCount,
  splitBySize,
} from "../../src/api/internal/batch.js";

describe("batch splitting", () => {
  it("uses client-go's limits", () => {
    expect(RAW_BATCH_PAIR_COUNT).toBe(512);
    expect(RAW_BATCH_PUT_SIZE).toBe(16 * 1024);
  });

  it("splits by count into batches of at most the limit, keeping order", () => {
    expect(splitByCount([], 3)).toEqual([]);
    expect(splitByCount([1, 2, 3, 4, 5, 6, 7], 3)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    fc.assert(
      fc.property(fc.array(fc.nat()), fc.integer({ min: 1, max: 20 }), (xs, limit) => {
        const out = splitByCount(xs, limit);
        expect(out.flat()).toEqual(xs);
        expect(out.every((b) => b.length > 0 && b.length <= limit)).toBe(true);
      }),
    );
  });

  it("splits by size: a batch closes once it reaches the limit", () => {
    const sizes = [10, 10, 10, 25, 1, 1];
    const out = splitBySize([0, 1, 2, 3, 4, 5], (i) => sizes[i] as number, 20);
    expect(out).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 })), fc.integer({ min: 1, max: 60 }), (sz, limit) => {
        const idx = sz.map((_, i) => i);
        const out = splitBySize(idx, (i) => sz[i] as number, limit);
        expect(out.flat()).toEqual(idx);
        for (const b of out) {
          // every batch except by its last pair stays under the limit
          const before = b.slice(0, -1).reduce((a, i) => a + (sz[i] as number), 0);
          expect(before).toBeLessThan(limit);
        }
      }),
    );
  });
});
