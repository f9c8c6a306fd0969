// Sorted key -> region index: a B+tree keyed by the region start key in latin1 form, so key
// comparisons are plain string comparisons (byte order; see src/kv/key.ts Latin1Key).
// Overlap handling follows client-go internal/locate/sorted_btree.go.

import BTreeModule from "sorted-btree";
import type { Latin1Key } from "../../kv/key.js";
import type { CachedRegion } from "./cached-region.js";

type BTreeCtor = typeof BTreeModule.default;
// sorted-btree is CommonJS with `exports.default`; under Node ESM the default import is the module object
const BTree: BTreeCtor =
  (BTreeModule as unknown as { default?: BTreeCtor }).default ?? (BTreeModule as unknown as BTreeCtor);

/** The sorted region index. Not thread-safe (single event loop). */
export class RegionIndex {
  private readonly tree = new BTree<Latin1Key, CachedRegion>();
  private readonly pair: [Latin1Key, CachedRegion] = ["", undefined as unknown as CachedRegion];

  /** Number of regions. */
  get size(): number {
    return this.tree.size;
  }

  /** The region whose range holds `key` (by start key only; the caller checks the end), or undefined. */
  searchByKey(key: Latin1Key): CachedRegion | undefined {
    const p = this.tree.getPairOrNextLower(key, this.pair);
    if (!p) return undefined;
    const r = p[1];
    return r.endL1 === "" || key < r.endL1 ? r : undefined;
  }

  /** The region whose range holds the exclusive end `key` (start < key <= end); "" means +inf. */
  searchByEndKey(key: Latin1Key): CachedRegion | undefined {
    if (key === "") {
      const last = this.tree.maxKey();
      const r = last === undefined ? undefined : this.tree.get(last);
      return r && r.endL1 === "" ? r : undefined;
    }
    const p = this.tree.nextLowerPair(key, this.pair);
    if (!p) return undefined;
    const r = p[1];
    return r.endL1 === "" || key <= r.endL1 ? r : undefined;
  }

  /** Regions with start >= `start` in order, stopping at `end` ("" = +inf) or after `limit`. */
  ascend(start: Latin1Key, end: Latin1Key, limit: number): CachedRegion[] {
    const out: CachedRegion[] = [];
    for (const [k, r] of this.tree.entries(start)) {
      if (out.length >= limit || (end !== "" && k >= end)) break;
      out.push(r);
    }
    return out;
  }

  /**
   * Regions overlapping `r`, or "stale" when one of them has a newer version than `r`
   * (then nothing may be replaced: client-go removeIntersecting).
   */
  intersecting(r: CachedRegion): CachedRegion[] | "stale" {
    const out: CachedRegion[] = [];
    // the region starting before r.start may still cover it
    const before = this.tree.nextLowerPair(r.startL1);
    if (before && (before[1].endL1 === "" || before[1].endL1 > r.startL1)) out.push(before[1]);
    for (const [k, c] of this.tree.entries(r.startL1)) {
      if (r.endL1 !== "" && k >= r.endL1) break;
      out.push(c);
    }
    for (const c of out) if (c.version > r.version) return "stale";
    return out;
  }

  /** Inserts (or replaces the region with the same start key). */
  set(r: CachedRegion): void {
    this.tree.set(r.startL1, r, true);
  }

  /** Removes `r` if it is the entry at its start key. */
  delete(r: CachedRegion): void {
    if (this.tree.get(r.startL1) === r) this.tree.delete(r.startL1);
  }

  /** Removes everything. */
  clear(): void {
    this.tree.clear();
  }
}
