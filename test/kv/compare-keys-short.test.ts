// compareKeysShort must order keys exactly as Buffer.compare does (it replaces latin1 strings in
// region bound checks), for short keys (the loop) and long ones (the native call).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CachedRegion } from "../../src/actors/region-cache/cached-region.js";
import { compareKeysShort, toLatin1Key } from "../../src/kv/key.js";
import { Region } from "../../src/proto/metapb.js";

// small alphabets so that shared prefixes and equal keys are frequent
const key = fc.oneof(
  fc.uint8Array({ maxLength: 6, max: 3 }),
  fc.uint8Array({ minLength: 60, maxLength: 80, max: 1 }),
  fc.uint8Array({ maxLength: 10 }),
);

describe("compareKeysShort", () => {
  it("has the sign of Buffer.compare", () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        expect(compareKeysShort(a, b)).toBe(Buffer.compare(a, b));
      }),
      { numRuns: 2000 },
    );
  });

  it("makes CachedRegion.contains agree with the latin1 bound check", () => {
    fc.assert(
      fc.property(key, key, key, (s, e, k) => {
        const meta = Region.fromPartial({ id: 1n, startKey: Buffer.from(s), endKey: Buffer.from(e) });
        const r = new CachedRegion(meta, [], [], 0, [], 0);
        expect(r.contains(k)).toBe(r.containsL1(toLatin1Key(k)));
      }),
      { numRuns: 2000 },
    );
  });
});
