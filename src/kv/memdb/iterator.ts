// Iterators over the buffer that stay correct while the buffer is written.
//
// client-go's memdb iterators panic on any write made while they are open. Ours are cursors
// instead: each `next()` returns the first visible key after the last key it returned (before it,
// for reverse iterators) that is inside the bounds *at the time of the call*, with its value and
// flags at that time. So a key is never returned twice, keys that exist throughout are returned
// exactly once, keys added ahead of the cursor are seen, keys added behind it are not, and keys
// removed before the cursor reaches them are not returned. Once `next()` reports done it stays
// done (the JS iterator contract), even if keys are added later.
//
// Cost: the B+tree's own iterator is used while no key is added or removed (O(1) amortised per
// step); after such a change the next step re-seeks from the last key (O(log n)).

import type { Latin1Key } from "../key.js";
import type { Entry, OrderedEntries } from "./entries.js";

/** Maps an entry to what the iterator yields, or undefined to skip it (not visible in this view). */
export type EntryProjection<T> = (entry: Entry) => T | undefined;

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * An ordered iterator over buffered keys (see the file comment for what it sees of writes made
 * while it is open). Created by `MemDb.iterate*` and `MemDbSnapshot.iterate*`; use it with
 * `for...of` or `next()`.
 */
export class MemDbIterator<T> implements IterableIterator<T> {
  private inner: Iterator<[Latin1Key, Entry]> | undefined;
  private innerVersion = -1;
  private last: Latin1Key | undefined;
  private finished = false;
  private readonly pair: (Latin1Key | Entry)[] = [];

  /** @internal Use the `iterate*` methods of MemDb / MemDbSnapshot. */
  constructor(
    private readonly entries: OrderedEntries,
    /** Inclusive lower bound, undefined = unbounded. */
    private readonly lower: Latin1Key | undefined,
    /** Exclusive upper bound, undefined = unbounded. */
    private readonly upper: Latin1Key | undefined,
    private readonly reverse: boolean,
    private readonly project: EntryProjection<T>,
    /** Called before every step; throws when the view can no longer be read. */
    private readonly check?: () => void,
  ) {}

  /** The next item, or done. Throws what the view's check throws (stale snapshot, discarded values). */
  next(): IteratorResult<T, undefined> {
    if (this.finished) return DONE;
    this.check?.();
    for (;;) {
      const entry = this.step();
      if (entry === undefined) {
        this.finished = true;
        this.inner = undefined;
        return DONE;
      }
      const item = this.project(entry);
      if (item !== undefined) return { done: false, value: item };
    }
  }

  /** The iterator itself, so it works with `for...of` and spreads. */
  [Symbol.iterator](): this {
    return this;
  }

  /** The next entry inside the bounds, visible or not. */
  private step(): Entry | undefined {
    if (this.inner === undefined || this.innerVersion !== this.entries.version) this.seek();
    const r = this.inner!.next();
    if (r.done) return undefined;
    const [k, entry] = r.value;
    if (
      this.reverse ? this.lower !== undefined && k < this.lower : this.upper !== undefined && k >= this.upper
    ) {
      return undefined;
    }
    this.last = k;
    return entry;
  }

  /** (Re)creates the tree iterator just past the last returned key, or at the bound. */
  private seek(): void {
    const tree = this.entries.tree;
    this.innerVersion = this.entries.version;
    if (this.reverse) {
      const from = this.last ?? this.upper;
      // exclusive both ways: the upper bound is exclusive, the last key was already returned
      this.inner = tree.entriesReversed(from, this.pair, from !== undefined);
    } else {
      // "\0" appended = the smallest key after `last` (client-go NextKey)
      this.inner = tree.entries(this.last === undefined ? this.lower : `${this.last}\0`, this.pair);
    }
  }
}
