// The compact region index + store (issue #16) against a simple model: a sorted list of
// start key -> region. Random runs of inserts (overlapping, replacing, in bulk so that leaves
// split), deletes (single and in runs, so that leaves merge and slots are reused) and lookups by
// key, by end key, in ranges and by overlap must answer exactly as the model does; then the same
// for the region cache's insertRegion (stale refusals, overlaps, ids) and its lookups.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CachedRegion } from "../../../src/actors/region-cache/cached-region.js";
import { RegionCache } from "../../../src/actors/region-cache/region-cache.js";
import { RegionIndex } from "../../../src/actors/region-cache/region-index.js";
import type { RegionSource } from "../../../src/actors/region-cache/region-source.js";
import { RegionStore } from "../../../src/actors/region-cache/region-store.js";
import { PeerRole, Region } from "../../../src/proto/metapb.js";

interface Entry {
  start: Buffer;
  end: Buffer;
  slot: number;
}

const cmp = (a: Buffer, b: Buffer) => Buffer.compare(a, b);

/** The model: entries sorted by start key, one per start key. */
class Model {
  entries: Entry[] = [];

  // index of the last entry with start <= key (< with strict), -1 when none
  private floor(key: Buffer, strict: boolean): number {
    let at = -1;
    this.entries.forEach((e, i) => {
      const c = cmp(e.start, key);
      if (strict ? c < 0 : c <= 0) at = i;
    });
    return at;
  }

  set(e: Entry): number {
    const i = this.entries.findIndex((x) => cmp(x.start, e.start) === 0);
    if (i >= 0) {
      const old = (this.entries[i] as Entry).slot;
      this.entries[i] = e;
      return old;
    }
    this.entries.push(e);
    this.entries.sort((a, b) => cmp(a.start, b.start));
    return -1;
  }

  delete(slot: number, start: Buffer): void {
    const i = this.entries.findIndex((x) => cmp(x.start, start) === 0);
    if (i >= 0 && (this.entries[i] as Entry).slot === slot) this.entries.splice(i, 1);
  }

  searchByKey(key: Buffer): number {
    const e = this.entries[this.floor(key, false)];
    return e && (e.end.length === 0 || cmp(key, e.end) < 0) ? e.slot : -1;
  }

  searchByEndKey(key: Buffer): number {
    if (key.length === 0) {
      const last = this.entries[this.entries.length - 1];
      return last && last.end.length === 0 ? last.slot : -1;
    }
    const e = this.entries[this.floor(key, true)];
    return e && (e.end.length === 0 || cmp(key, e.end) <= 0) ? e.slot : -1;
  }

  ascend(start: Buffer, end: Buffer, limit: number): number[] {
    return this.entries
      .filter((e) => cmp(e.start, start) >= 0 && (end.length === 0 || cmp(e.start, end) < 0))
      .slice(0, limit)
      .map((e) => e.slot);
  }

  intersecting(start: Buffer, end: Buffer): number[] {
    const out: number[] = [];
    const before = this.entries[this.floor(start, true)];
    if (before && (before.end.length === 0 || cmp(start, before.end) < 0)) out.push(before.slot);
    return out.concat(this.ascend(start, end, Number.MAX_SAFE_INTEGER));
  }
}

// short keys over a small alphabet (prefixes, equal keys and 0xff bytes are common)
const smallKey = fc.array(fc.constantFrom(0, 1, 2, 0x7f, 0xff), { maxLength: 4 }).map((b) => Buffer.from(b));
// keys of the bulk runs: 0x10 then a 16-bit number
const runKey = (n: number) => Buffer.from([0x10, (n >> 8) & 0xff, n & 0xff]);
const anyKey = fc.oneof(smallKey, fc.integer({ min: 0, max: 0xffff }).map(runKey));

// a range [start, end) with start < end, or end empty (+inf)
const range = fc.tuple(anyKey, anyKey, fc.boolean()).map(([a, b, inf]) => {
  const [lo, hi] = cmp(a, b) <= 0 ? [a, b] : [b, a];
  return { start: lo, end: inf || cmp(lo, hi) === 0 ? Buffer.alloc(0) : hi };
});

type Op =
  | { t: "set"; start: Buffer; end: Buffer }
  | { t: "bulk"; base: number; count: number; gap: boolean }
  | { t: "del"; pick: number; other: boolean }
  | { t: "bulkDel"; pick: number; count: number }
  | { t: "get"; key: Buffer }
  | { t: "getEnd"; key: Buffer }
  | { t: "ascend"; start: Buffer; end: Buffer; limit: number }
  | { t: "inter"; start: Buffer; end: Buffer };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: range.map((r) => ({ t: "set" as const, ...r })) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("bulk" as const),
      base: fc.integer({ min: 0, max: 0xfe00 }),
      count: fc.integer({ min: 1, max: 400 }),
      gap: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("del" as const), pick: fc.nat(), other: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("bulkDel" as const),
      pick: fc.nat(),
      count: fc.integer({ min: 1, max: 300 }),
    }),
  },
  { weight: 3, arbitrary: anyKey.map((key) => ({ t: "get" as const, key })) },
  {
    weight: 2,
    arbitrary: fc.oneof(anyKey, fc.constant(Buffer.alloc(0))).map((key) => ({ t: "getEnd" as const, key })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(range, fc.integer({ min: 1, max: 50 }))
      .map(([r, limit]) => ({ t: "ascend" as const, ...r, limit })),
  },
  { weight: 1, arbitrary: range.map((r) => ({ t: "inter" as const, ...r })) },
);

function record(start: Buffer, end: Buffer, id: bigint) {
  return {
    id,
    confVer: 1n,
    version: 1n,
    startKey: start,
    endKey: end,
    allPeers: [],
    epochs: [],
    leaderIdx: 0,
    ttlAt: 0,
    reason: 0,
    needReload: false,
    expireAfterTtl: false,
    downPeers: [],
    buckets: undefined,
    isInFlashback: false,
    flashbackStartTs: 0n,
  };
}

describe("region index + store (property)", () => {
  it("answers every lookup as a sorted map of start key -> region does", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const store = new RegionStore(16);
        const index = new RegionIndex(store);
        const model = new Model();
        let nextId = 1n;
        const add = (start: Buffer, end: Buffer) => {
          const slot = store.add(record(start, end, nextId++));
          const old = index.set(slot);
          expect(old).toBe(model.set({ start, end, slot }));
          if (old >= 0) store.release(old);
        };
        const remove = (e: Entry) => {
          index.delete(e.slot);
          model.delete(e.slot, e.start);
          store.release(e.slot);
        };
        for (const o of ops) {
          switch (o.t) {
            case "set":
              add(o.start, o.end);
              break;
            case "bulk":
              for (let i = 0; i < o.count && o.base + i < 0xffff; i++)
                add(
                  runKey(o.base + i),
                  o.gap ? Buffer.concat([runKey(o.base + i), Buffer.from([0])]) : runKey(o.base + i + 1),
                );
              break;
            case "del": {
              const e = model.entries[o.pick % Math.max(model.entries.length, 1)];
              if (!e) break;
              if (o.other) {
                // a slot with the same start key that is not the indexed one: nothing happens
                const stray = store.add(record(e.start, e.end, nextId++));
                index.delete(stray);
                store.release(stray);
              } else remove(e);
              break;
            }
            case "bulkDel": {
              const from = o.pick % Math.max(model.entries.length, 1);
              for (const e of model.entries.slice(from, from + o.count)) remove(e);
              break;
            }
            case "get":
              expect(index.searchByKey(o.key)).toBe(model.searchByKey(o.key));
              break;
            case "getEnd":
              expect(index.searchByEndKey(o.key)).toBe(model.searchByEndKey(o.key));
              break;
            case "ascend":
              expect(index.ascend(o.start, o.end, o.limit)).toEqual(model.ascend(o.start, o.end, o.limit));
              break;
            case "inter":
              expect(index.intersecting(o.start, o.end)).toEqual(model.intersecting(o.start, o.end));
              break;
          }
          expect(index.size).toBe(model.entries.length);
          expect(store.size).toBe(model.entries.length);
        }
        const all = Buffer.alloc(0);
        expect(index.ascend(all, all, Number.MAX_SAFE_INTEGER)).toEqual(model.entries.map((e) => e.slot));
        // every entry is found by its own start key and by a key just inside it
        for (const e of model.entries) {
          expect(index.searchByKey(e.start)).toBe(model.searchByKey(e.start));
          const inside = Buffer.concat([e.start, Buffer.from([0])]);
          expect(index.searchByKey(inside)).toBe(model.searchByKey(inside));
          expect(index.searchByEndKey(e.end)).toBe(model.searchByEndKey(e.end));
        }
      }),
      { numRuns: 150 },
    );
  });
});

// ---- the cache on top: insertRegion's overlap and staleness rules, lookups by key and id ----

interface CacheModelEntry {
  start: Buffer;
  end: Buffer;
  id: bigint;
  version: bigint;
  confVer: bigint;
  handle: CachedRegion;
}

const noPd = {} as RegionSource;

const regionOf = (start: Buffer, end: Buffer, id: bigint, version: bigint, confVer: bigint) => {
  const peers = [1n, 2n, 3n].map((s) => ({
    id: id * 10n + s,
    storeId: s,
    role: PeerRole.Voter,
    isWitness: false,
  }));
  const meta = Region.fromPartial({
    id,
    startKey: start,
    endKey: end,
    regionEpoch: { confVer, version },
    peers,
  });
  return new CachedRegion(meta, meta.peers, [0, 0, 0], Number(id % 3n), [], 1e12);
};

describe("region cache insert + lookups (property)", () => {
  it("caches, replaces and refuses regions as client-go's insertRegionToCache, and finds them by key and id", () => {
    const insert = fc.record({
      r: range,
      // few ids (so that a region comes back in a new version), some near 2^64
      id: fc.oneof(fc.bigInt({ min: 1n, max: 6n }), fc.bigInt({ min: 2n ** 64n - 3n, max: 2n ** 64n - 1n })),
      version: fc.bigInt({ min: 0n, max: 4n }),
      confVer: fc.bigInt({ min: 0n, max: 2n }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(insert, fc.array(anyKey, { maxLength: 4 })), { maxLength: 40 }),
        (steps) => {
          const cache = new RegionCache(noPd, { now: () => 0, ttlMs: 1e9, ttlJitterMs: 0 });
          let model: CacheModelEntry[] = [];
          const byId = new Map<bigint, CacheModelEntry>();
          const dropped: CachedRegion[] = [];
          for (const [s, probes] of steps) {
            const { start, end } = s.r;
            const h = regionOf(start, end, s.id, s.version, s.confVer);
            const overlaps = model.filter(
              (e) =>
                (end.length === 0 || cmp(e.start, end) < 0) && (e.end.length === 0 || cmp(start, e.end) < 0),
            );
            const old = byId.get(s.id);
            const ok =
              !(old && (old.version > s.version || old.confVer > s.confVer)) &&
              !overlaps.some((e) => e.version > s.version);
            expect(cache.insertRegion(h)).toBe(ok);
            if (ok) {
              model = model.filter((e) => !overlaps.includes(e));
              for (const e of overlaps) {
                if (byId.get(e.id) === e) byId.delete(e.id);
                dropped.push(e.handle);
              }
              const entry = { start, end, id: s.id, version: s.version, confVer: s.confVer, handle: h };
              model.push(entry);
              model.sort((a, b) => cmp(a.start, b.start));
              byId.set(s.id, entry);
            }
            for (const k of [...probes, start]) {
              const want = model.find(
                (e) => cmp(e.start, k) <= 0 && (e.end.length === 0 || cmp(k, e.end) < 0),
              );
              const got = cache.tryLocateKey(k);
              expect(got && [got.id, got.version, got.confVer, got.startKey, got.endKey]).toEqual(
                want && [want.id, want.version, want.confVer, want.start, want.end],
              );
            }
            expect(cache.size).toBe(model.length);
          }
          for (const [id, e] of byId) {
            const got = cache.getCachedById(id);
            expect(got?.version).toBe(e.version);
            expect(got?.sameEntry(e.handle)).toBe(true);
            expect(got?.leader.storeId).toBe(BigInt(Number(id % 3n) + 1));
          }
          expect(cache.cachedRegions().map((r) => [r.id, r.startKey])).toEqual(
            model.map((e) => [e.id, e.start]),
          );
          // replaced entries are invalid for good and still answer their own data
          for (const d of dropped) {
            expect(d.isValid).toBe(false);
            expect(d.peers.map((p) => p.id)).toEqual([1n, 2n, 3n].map((x) => d.id * 10n + x));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("region store arena", () => {
  it("moves live records out of mostly dead chunks and keeps every record readable", () => {
    const store = new RegionStore(16);
    const keyOf = (i: number) => Buffer.from(`${"k".repeat(40)}${String(i).padStart(8, "0")}`);
    const live = new Map<number, number>(); // slot -> i
    const add = (i: number) => live.set(store.add(record(keyOf(i), keyOf(i + 1), BigInt(i + 1))), i);
    // ~3 MiB of records, then two thirds freed: chunks become mostly dead
    for (let i = 0; i < 30_000; i++) add(i);
    const early = CachedRegion.ofSlot(store, [...live.keys()][0] as number);
    const earlyId = early.id;
    for (const [slot, i] of [...live]) {
      if (i % 3 !== 0) {
        store.release(slot);
        live.delete(slot);
      }
    }
    const moves = store.moves;
    // new records start new chunks, each emptying one mostly dead chunk
    for (let i = 30_000; i < 60_000; i++) add(i);
    expect(store.moves).toBeGreaterThan(moves);
    expect(store.size).toBe(live.size);
    const wrong: number[] = [];
    for (const [slot, i] of live) {
      const h = CachedRegion.ofSlot(store, slot);
      const ok =
        store.id(slot) === BigInt(i + 1) &&
        store.startKeyView(slot).equals(keyOf(i)) &&
        h.id === BigInt(i + 1) &&
        h.startKey.equals(keyOf(i)) &&
        h.endKey.equals(keyOf(i + 1));
      if (!ok) wrong.push(i);
    }
    expect(wrong).toEqual([]);
    // a handle made before the moves still reads its own record
    expect(early.id).toBe(earlyId);
    expect(early.startKey).toEqual(keyOf(0));
  });
});
