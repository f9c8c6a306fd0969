// Sorted key -> region index over the slots of a RegionStore: a two-level list of packed key
// blocks (leaves of up to LEAF start keys in a LeafPool, and one block of separators routing a
// key to its leaf). Keys are compared as bytes in place: no string or Buffer per region. Overlap
// handling follows client-go internal/locate/sorted_btree.go.
//
// Each value carries, beside the slot, an "ends where the next begins" bit (ADJ: the region's end
// is +inf or the next entry's start key): a lookup that lands on such an entry knows the key is
// inside without reading the region's end key, one cache miss fewer on a contiguous cache.

import { KeyList } from "./key-list.js";
import { LEAF, LeafPool } from "./leaf-pool.js";
import type { RegionStore } from "./region-store.js";

const ADJ = 0x8000_0000;
const SLOT = 0x7fff_ffff;

/** A position in the index: leaf and index in it. */
interface Pos {
  leaf: number;
  i: number;
}

/** The sorted region index (values are store slots). Not thread-safe (single event loop). */
export class RegionIndex {
  private readonly pool = new LeafPool();
  // leaf ids in key order
  private leaves: number[] = [this.pool.alloc()];
  // seps key j = a key <= every key of leaves[j + 1] and > every key of leaves[j]
  private seps = new KeyList(16);
  private count = 0;
  private readonly pos: Pos = { leaf: 0, i: 0 };

  constructor(private readonly store: RegionStore) {}

  /** Number of regions. */
  get size(): number {
    return this.count;
  }

  // the leaf a key belongs in, and the last index there with key <= probe (< with strict), maybe -1
  private route(probe: Uint8Array, strict: boolean): Pos {
    const leaf = this.seps.floor(probe, strict) + 1;
    const p = this.pos;
    p.leaf = leaf;
    p.i = this.pool.floor(this.leaves[leaf] as number, probe, strict);
    return p;
  }

  // the last entry with key <= probe (< with strict); leaf -1 when none
  private search(probe: Uint8Array, strict: boolean): Pos {
    const p = this.route(probe, strict);
    if (p.i < 0) {
      // the probe lies between a separator and its leaf's first key: the previous leaf's last
      p.leaf--;
      if (p.leaf >= 0) p.i = this.pool.size(this.leaves[p.leaf] as number) - 1;
    }
    return p;
  }

  private rawAt(p: Pos): number {
    return this.pool.val(this.leaves[p.leaf] as number, p.i);
  }

  private slotAt(p: Pos): number {
    return this.rawAt(p) & SLOT;
  }

  /** The slot whose range holds `key`, or -1. */
  searchByKey(key: Uint8Array): number {
    const p = this.search(key, false);
    if (p.leaf < 0) return -1;
    const raw = this.rawAt(p);
    const slot = raw & SLOT;
    // the key is below the next entry's start (or there is none): inside when the region ends there
    if (raw >= ADJ) return slot;
    return this.store.compareToEnd(key, slot) < 0 ? slot : -1;
  }

  /** The slot whose range holds the exclusive end `key` (start < key <= end; empty = +inf), or -1. */
  searchByEndKey(key: Uint8Array): number {
    if (key.length === 0) {
      if (this.count === 0) return -1;
      const last = this.leaves[this.leaves.length - 1] as number;
      const slot = this.pool.val(last, this.pool.size(last) - 1) & SLOT;
      return this.store.endLen(slot) === 0 ? slot : -1;
    }
    const p = this.search(key, true);
    if (p.leaf < 0) return -1;
    const raw = this.rawAt(p);
    const slot = raw & SLOT;
    if (raw >= ADJ) return slot;
    return this.store.compareToEnd(key, slot) <= 0 ? slot : -1;
  }

  /** Slots with start >= `start` in key order, stopping at `end` (empty = +inf) or after `limit`. */
  ascend(start: Uint8Array, end: Uint8Array, limit: number): number[] {
    const out: number[] = [];
    const p = this.search(start, true);
    let leaf = p.leaf < 0 ? 0 : p.leaf;
    let i = p.leaf < 0 ? 0 : p.i + 1;
    const pool = this.pool;
    for (; leaf < this.leaves.length && out.length < limit; leaf++, i = 0) {
      const l = this.leaves[leaf] as number;
      const n = pool.size(l);
      for (; i < n && out.length < limit; i++) {
        if (end.length > 0 && pool.compareAt(l, i, end) >= 0) return out;
        out.push(pool.val(l, i) & SLOT);
      }
    }
    return out;
  }

  /** Slots whose range overlaps `[start, end)` (empty end = +inf), in key order. */
  intersecting(start: Uint8Array, end: Uint8Array): number[] {
    const out: number[] = [];
    // the region starting before `start` may still cover it
    const p = this.search(start, true);
    if (p.leaf >= 0) {
      const s = this.slotAt(p);
      if (this.store.compareToEnd(start, s) < 0) out.push(s);
    }
    for (const s of this.ascend(start, end, Number.MAX_SAFE_INTEGER)) out.push(s);
    return out;
  }

  /** Inserts `slot` by its start key, replacing the slot with the same start key (returned, else -1). */
  set(slot: number): number {
    const key = this.store.startKeyView(slot);
    const p = this.route(key, false);
    const pool = this.pool;
    const l = this.leaves[p.leaf] as number;
    let old = -1;
    if (p.i >= 0 && pool.compareAt(l, p.i, key) === 0) {
      old = pool.val(l, p.i) & SLOT;
      pool.setVal(l, p.i, slot);
    } else {
      pool.insert(l, p.i + 1, key, slot);
      this.count++;
      const n = pool.size(l);
      if (n > LEAF) this.split(p.leaf, p.i + 1 === n - 1);
    }
    // the new entry and the one before it may now end where their next begins (or not)
    const at = this.search(key, false);
    const leaf = at.leaf;
    const i = at.i;
    this.refreshAdj(leaf, i);
    if (i > 0) this.refreshAdj(leaf, i - 1);
    else if (leaf > 0) this.refreshAdj(leaf - 1, pool.size(this.leaves[leaf - 1] as number) - 1);
    return old;
  }

  // recomputes the ADJ bit of the entry at (leaf, i)
  private refreshAdj(leaf: number, i: number): void {
    const pool = this.pool;
    const l = this.leaves[leaf] as number;
    const slot = pool.val(l, i) & SLOT;
    let adj = this.store.endLen(slot) === 0;
    if (!adj) {
      const nl = i + 1 < pool.size(l) ? l : this.leaves[leaf + 1];
      const ni = nl === l ? i + 1 : 0;
      if (nl !== undefined) adj = this.store.compareToEnd(pool.keyView(nl, ni), slot) === 0;
    }
    pool.setVal(l, i, adj ? (slot | ADJ) >>> 0 : slot);
  }

  /** Removes `slot` if it is the entry at its start key. */
  delete(slot: number): void {
    const key = this.store.startKeyView(slot);
    const p = this.route(key, false);
    const leaf = p.leaf;
    const pool = this.pool;
    const l = this.leaves[leaf] as number;
    if (p.i < 0 || (pool.val(l, p.i) & SLOT) !== slot || pool.compareAt(l, p.i, key) !== 0) return;
    const removedKey = key.slice();
    pool.remove(l, p.i);
    this.count--;
    const n = pool.size(l);
    if (n === 0) this.dropLeaf(leaf);
    else {
      const next = this.leaves[leaf + 1];
      if (next !== undefined && n + pool.size(next) <= LEAF / 2) {
        pool.append(l, next);
        this.dropLeaf(leaf + 1);
      }
    }
    // the entry before the removed one has a new next
    const before = this.search(removedKey, true);
    if (before.leaf >= 0) this.refreshAdj(before.leaf, before.i);
  }

  /** Removes everything. */
  clear(): void {
    this.pool.reset();
    this.leaves = [this.pool.alloc()];
    this.seps = new KeyList(16);
    this.count = 0;
  }

  // splits an overfull leaf; an append at its end (loading in key order) leaves it full
  private split(leaf: number, appended: boolean): void {
    const l = this.leaves[leaf] as number;
    const n = this.pool.size(l);
    const right = this.pool.splitOff(l, appended ? n - 1 : n >> 1);
    this.leaves.splice(leaf + 1, 0, right);
    this.seps.insert(leaf, this.pool.keyView(right, 0));
  }

  private dropLeaf(leaf: number): void {
    if (this.leaves.length === 1) return;
    this.pool.release(this.leaves[leaf] as number);
    this.leaves.splice(leaf, 1);
    // the separator before the dropped leaf (or, for the first leaf, the one after it) goes
    this.seps.remove(leaf > 0 ? leaf - 1 : 0);
  }
}
