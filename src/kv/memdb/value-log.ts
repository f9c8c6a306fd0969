// The undo log of value writes (client-go's vlog, minus the arena). Each record says "this entry's
// value was `old` before": enough to revert a stage or a checkpoint (pop records newest first),
// to read the value as of a past position (follow `prev`, the entry's previous record), and to
// list a stage's writes. Stages and checkpoints are positions in this log.
//
// Parallel arrays instead of one object per record: a record costs four array slots, and the
// `prev` / `id` arrays stay packed small-integer arrays.

import type { Entry } from "./entries.js";

/** Approximate bytes one record holds (four array slots), for `MemDb.mem`. */
export const RECORD_BYTES = 32;

/** The undo log. */
export class ValueLog {
  private entries: Entry[] = [];
  private olds: (Buffer | undefined)[] = [];
  private prevs: number[] = [];
  // a never-reused id per record, so a checkpoint can tell that the records below its position
  // are still the ones it saw (after a revert past it, the positions are reused by other writes)
  private ids: number[] = [];
  private nextId = 1;

  /** Number of records: the current position. */
  get length(): number {
    return this.entries.length;
  }

  /** Records that `entry` is about to get a new value; its current value becomes the record's old one. */
  append(entry: Entry): void {
    const pos = this.entries.length;
    this.entries.push(entry);
    this.olds.push(entry.value);
    this.prevs.push(entry.lastRecord);
    this.ids.push(this.nextId++);
    entry.lastRecord = pos;
  }

  /** Id of the record just below `position` (0 for position 0). */
  idBelow(position: number): number {
    return position === 0 ? 0 : (this.ids[position - 1] ?? -1);
  }

  /** The entry that record `i` belongs to. */
  entryAt(i: number): Entry {
    return this.entries[i]!;
  }

  /** The value record `i`'s entry had before the record (undefined: no value). */
  oldAt(i: number): Buffer | undefined {
    return this.olds[i];
  }

  /** The previous record of the same entry, or -1. */
  prevAt(i: number): number {
    return this.prevs[i]!;
  }

  /**
   * Pops records down to `position`, newest first, calling `undo(entry, old)` for each after
   * restoring the entry's `lastRecord` (the caller restores the value and the accounting).
   */
  truncate(position: number, undo: (entry: Entry, old: Buffer | undefined) => void): void {
    for (let i = this.entries.length - 1; i >= position; i--) {
      const entry = this.entries[i]!;
      entry.lastRecord = this.prevs[i]!;
      undo(entry, this.olds[i]);
    }
    this.entries.length = position;
    this.olds.length = position;
    this.prevs.length = position;
    this.ids.length = position;
  }

  /** Drops every record (ids keep increasing, so old checkpoints never match again). */
  clear(): void {
    this.entries = [];
    this.olds = [];
    this.prevs = [];
    this.ids = [];
  }
}
