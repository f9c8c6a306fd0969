// groupByRegion (issue #9): every item lands in exactly one group, in input order, whatever the
// cache hands out between lookups (new objects for the same region version, older and newer
// versions of one region id, invalidated entries).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CachedRegion } from "../../../src/actors/region-cache/cached-region.js";
import { groupByRegion } from "../../../src/actors/region-cache/group-by-region.js";

function region(id: number, start: string, end: string, version = 1): CachedRegion {
  const peer = { id: BigInt(id * 10), storeId: 1n, role: 0, isWitness: false };
  return new CachedRegion(
    {
      id: BigInt(id),
      startKey: Buffer.from(start),
      endKey: Buffer.from(end),
      regionEpoch: { confVer: 1n, version: BigInt(version) },
      peers: [peer],
      isInFlashback: false,
      flashbackStartTs: 0n,
    },
    [peer],
    [0],
    0,
    [],
    Number.POSITIVE_INFINITY,
  );
}

const k = (s: string) => Buffer.from(s);

describe("groupByRegion", () => {
  it("keeps every key when the cache replaces the entry of a region between lookups", async () => {
    // the reported case: "a" and "a:b" are in region 1; a concurrent load re-inserts region 1
    // as a new object (and invalidates the old one) before "a:b" is looked up
    let current = region(1, "", "");
    const locate = (_key: Buffer) => {
      const r = current;
      current.invalidate("other");
      current = region(1, "", "");
      return Promise.resolve(r);
    };
    const groups = await groupByRegion([k("a"), k("a:b")], (x) => x, locate);
    expect(groups).toHaveLength(1);
    expect(groups[0]?.items.map(String)).toEqual(["a", "a:b"]);
  });

  it("sends a merged group with the newest entry of its version", async () => {
    const first = region(1, "", "");
    const second = region(1, "", "");
    first.invalidate("other");
    const answers = [first, second];
    const groups = await groupByRegion(
      [k("a"), k("b")],
      (x) => x,
      () => answers.shift() as CachedRegion,
    );
    expect(groups[0]?.region).toBe(second);
  });

  it("keeps two versions of one region id apart (the stale one is regrouped after EpochNotMatch)", async () => {
    const old = region(1, "", "", 1);
    const fresh = region(1, "", "m", 2);
    old.invalidate("epochNotMatch");
    const answers = [old, fresh];
    const groups = await groupByRegion(
      [k("a"), k("b")],
      (x) => x,
      () => answers.shift() as CachedRegion,
    );
    expect(groups.map((g) => [g.region.version, g.items.map(String)])).toEqual([
      [1n, ["a"]],
      [2n, ["b"]],
    ]);
  });

  it("groups in first-seen order, items in input order, and reuses the last lookup", async () => {
    const left = region(1, "", "m");
    const right = region(2, "m", "");
    let lookups = 0;
    const locate = (key: Buffer) => {
      lookups++;
      return key.toString() < "m" ? left : right;
    };
    const groups = await groupByRegion(["x", "a", "b", "y", "c"].map(k), (x) => x, locate);
    expect(groups.map((g) => [g.region.id, g.items.map(String)])).toEqual([
      [2n, ["x", "y"]],
      [1n, ["a", "b", "c"]],
    ]);
    expect(lookups).toBe(4); // "b" reused "a"'s lookup
  });

  // model: any sequence of lookups answered by fresh or reused objects, with random versions
  // and random invalidations, groups each item exactly once, by the version its lookup returned
  it("property: each item exactly once, grouped by the version its own lookup returned", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            key: fc.constantFrom("a", "b", "c", "d", "e"),
            version: fc.integer({ min: 1, max: 3 }),
            fresh: fc.boolean(),
            invalidate: fc.boolean(),
            async: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        async (steps) => {
          const objects = new Map<number, CachedRegion>();
          const lookedUpVersion: Array<number | undefined> = steps.map(() => undefined);
          let pending = -1;
          const items = steps.map((_, idx) => idx);
          const keyOf = (idx: number) => {
            pending = idx;
            return k((steps[idx] as { key: string }).key);
          };
          const locate = () => {
            const step = steps[pending] as (typeof steps)[number];
            let r = objects.get(step.version);
            if (!r || step.fresh) {
              r = region(1, "", "", step.version);
              objects.set(step.version, r);
            }
            if (step.invalidate) r.invalidate("other");
            lookedUpVersion[pending] = step.version;
            return step.async ? Promise.resolve(r) : r;
          };
          const groups = await groupByRegion(items, keyOf, locate);
          const seen = groups.flatMap((g) => g.items);
          expect([...seen].sort((a, b) => a - b)).toEqual(items);
          for (const g of groups) expect(g.items).toEqual([...g.items].sort((a, b) => a - b));
          // one group per version
          const versions = groups.map((g) => g.region.version);
          expect(new Set(versions).size).toBe(versions.length);
          // an item without a lookup of its own (the last entry was still valid) shares the
          // previous item's version; every item sits in the group of that version
          const groupOf = new Map<number, bigint>();
          for (const g of groups) for (const x of g.items) groupOf.set(x, g.region.version);
          let expected = 0;
          for (const idx of items) {
            expected = lookedUpVersion[idx] ?? expected;
            expect(groupOf.get(idx)).toBe(BigInt(expected));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
