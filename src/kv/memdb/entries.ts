// The ordered key -> entry map under the buffer: a B+tree keyed by the key in latin1 form, so a
// comparison is a plain string comparison with byte order (see src/kv/key.ts Latin1Key), and
// set/get cost O(log n). Entries are mutable objects: a value or flags change never touches the
// tree, only adding or removing a key does, which is what `version` counts (iterators re-seek
// when it moves, see iterator.ts).

import type * as SortedBTree from "sorted-btree";
import BTreeModule from "sorted-btree";
import { compareLatin1Keys, type Latin1Key } from "../key.js";
import type { KeyFlags } from "./key-flags.js";

type BTreeCtor = typeof BTreeModule.default;
// sorted-btree is CommonJS with `exports.default`; under Node ESM the default import is the module object
const BTree: BTreeCtor =
  (BTreeModule as unknown as { default?: BTreeCtor }).default ?? (BTreeModule as unknown as BTreeCtor);

/** The B+tree type used by the buffer. */
export type EntryTree = SortedBTree.default<Latin1Key, Entry>;

/**
 * The tree key of a Buffer key. Same result as src/kv/key.ts toLatin1Key, without the Buffer view
 * that function allocates for a plain Uint8Array: the buffer's keys are always Buffers.
 */
export function treeKey(key: Buffer): Latin1Key {
  return key.toString("latin1");
}

/** One buffered key. Internal: callers see copies ({@link MemDbEntry}). */
export class Entry {
  /** Value: a Buffer (empty = delete), or undefined for a key that only carries flags. */
  value: Buffer | undefined = undefined;
  /** Key flags. */
  flags: KeyFlags = 0;
  /** Position in the value log of the record that wrote the current value, or -1 (see value-log.ts). */
  lastRecord = -1;

  constructor(
    /** The key; the buffer owns this copy. */
    readonly key: Buffer,
    /** The key in latin1 form (the tree key). */
    readonly lkey: Latin1Key,
  ) {}
}

/** A key-value pair yielded by iterators (buffers owned by the buffer: do not modify them). */
export interface MemDbKeyValue {
  /** The key. */
  readonly key: Buffer;
  /** The value; empty means the key is deleted in this transaction. */
  readonly value: Buffer;
}

/** A buffered key with its value and flags, as `MemDb.iterate` yields it. */
export interface MemDbEntry extends MemDbKeyValue {
  /** The key's flags. */
  readonly flags: KeyFlags;
}

/** A buffered key as `MemDb.iterateWithFlags` yields it: the value is undefined for a flags-only key. */
export interface MemDbFlaggedEntry {
  /** The key. */
  readonly key: Buffer;
  /** The value (empty = deleted), or undefined when the key only carries flags. */
  readonly value: Buffer | undefined;
  /** The key's flags. */
  readonly flags: KeyFlags;
}

/** The ordered entries plus a counter of key additions / removals. */
export class OrderedEntries {
  /** The tree; iterators read it directly. */
  // a plain string comparator: the default one first tests for numbers and mixed types
  readonly tree: EntryTree = new BTree<Latin1Key, Entry>(undefined, compareLatin1Keys);
  /** Bumped whenever a key is added or removed (not when an entry's value or flags change). */
  version = 0;

  /** Number of keys. */
  get size(): number {
    return this.tree.size;
  }

  /** The entry of `lkey`, or undefined. */
  get(lkey: Latin1Key): Entry | undefined {
    return this.tree.get(lkey);
  }

  /** Adds a new entry (the key must be absent). */
  add(entry: Entry): void {
    this.tree.set(entry.lkey, entry, true);
    this.version++;
  }

  /** Removes an entry. */
  remove(entry: Entry): void {
    this.tree.delete(entry.lkey);
    this.version++;
  }

  /** Removes everything. */
  clear(): void {
    this.tree.clear();
    this.version++;
  }
}
