// The transaction buffer (client-go internal/unionstore MemDB): an ordered map of the keys a
// transaction wrote or locked, with nested staging so a failed statement can be undone, key
// flags, size limits, iterators and a stage-0 read view.
//
// How it works: entries live in a B+tree (entries.ts). Every value write appends an undo record
// "this key had value X before" to a log (value-log.ts); a stage or a checkpoint is a position in
// that log, and undoing means popping records down to a position. Flags are not logged: they are
// never rolled back, except that a key whose value is undone to "none" keeps only its persistent
// flags (and disappears without any). A write to a key whose last record is above every stage
// start and checkpoint replaces the value in place, since nothing can revert to it.

import { CannotSetNilValueError } from "../../errors/txn.js";
import { boundArg, bufferArg, functionArg, opsArg } from "./args.js";
import { MemDbCheckpoint } from "./checkpoint.js";
import { Entry, type MemDbEntry, type MemDbFlaggedEntry, OrderedEntries, treeKey } from "./entries.js";
import {
  InvalidCheckpointError,
  InvalidStagingHandleError,
  type StagingOperation,
  ValuesDiscardedError,
} from "./errors.js";
import { entryBytes, valueBytes } from "./footprint.js";
import { MemDbIterator } from "./iterator.js";
import { applyFlagsOps, type FlagsOp, KeyFlag, type KeyFlags, PERSISTENT_FLAGS } from "./key-flags.js";
import { checkKeyLength, checkLimits, checkValueWrite, type SizeLimits, UNLIMITED } from "./limits.js";
import { MemDbSnapshot, type SnapshotSource } from "./snapshot.js";
import { RECORD_BYTES, ValueLog } from "./value-log.js";

/** Options of {@link MemDb}. */
export interface MemDbOptions {
  /** Largest key + value of one entry in bytes (0 or omitted = unlimited). */
  entrySizeLimit?: number;
  /** Largest total key + value bytes (0 or omitted = unlimited). */
  totalSizeLimit?: number;
}

// Tombstones share one empty Buffer: it cannot be modified, so sharing is safe.
const TOMBSTONE = Buffer.alloc(0);

const projectValue = (e: Entry): MemDbEntry | undefined =>
  e.value === undefined ? undefined : { key: e.key, value: e.value, flags: e.flags };
const projectFlagged = (e: Entry): MemDbFlaggedEntry => ({ key: e.key, value: e.value, flags: e.flags });

/**
 * The write buffer of a transaction.
 *
 * - `set` / `delete` buffer a value (a delete is an empty value, a tombstone); `updateFlags`
 *   changes a key's flags only, and may create a key that has flags but no value (hidden from
 *   `get`, seen by `getFlags` and `iterateWithFlags`).
 * - `staging()` opens a nested stage; `release(h)` keeps its writes, `cleanup(h)` undoes them.
 *   `checkpoint()` / `revertToCheckpoint()` undo writes inside the current stage.
 * - Iterators stay valid while the buffer is written (see iterator.ts for exactly what they see).
 * - Keys and values are copied in; Buffers handed out belong to the buffer: do not modify them.
 *
 * @example
 * ```ts
 * const db = new MemDb();
 * db.set(Buffer.from("a"), Buffer.from("1"));
 * const h = db.staging();
 * db.set(Buffer.from("b"), Buffer.from("2"), [FlagsOp.setPresumeKeyNotExists]);
 * db.delete(Buffer.from("a"));
 * db.cleanup(h); // statement failed: "b" and the delete of "a" are undone
 * db.get(Buffer.from("a")); // <Buffer 31>
 * for (const { key, value, flags } of db.iterateWithFlags()) console.log(key, value, flags);
 * ```
 */
export class MemDb {
  private readonly entries = new OrderedEntries();
  private readonly log = new ValueLog();
  /** Start position of each open stage in the log; stage h is stages[h - 1]. */
  private stages: number[] = [];
  /** Records below this position may be needed by a stage or checkpoint: never overwrite in place. */
  private floor = 0;
  /** Reset count, so checkpoints from before a reset are refused. */
  private generation = 0;
  private sizeBytes = 0;
  private memBytes = 0;
  private reportedMem = 0;
  private memHook: ((mem: number) => void) | undefined;
  private isDirty = false;
  /** Bumped whenever the stage-0 content (what snapshots show) changes. */
  private stageZeroVersion = 0;
  private discarded = false;
  private limits: SizeLimits;
  private readonly snapshotSource: SnapshotSource;

  /** An empty buffer; `options` sets the size limits (InvalidArgumentError when they are not non-negative integers). */
  constructor(options: MemDbOptions = {}) {
    this.limits = UNLIMITED;
    if (options.entrySizeLimit !== undefined || options.totalSizeLimit !== undefined) {
      this.limits = checkLimits(options.entrySizeLimit ?? 0, options.totalSizeLimit ?? 0);
    }
    this.snapshotSource = {
      entries: this.entries,
      stageZeroVersion: () => this.stageZeroVersion,
      stageZeroValue: (e) => this.stageZeroValue(e),
      checkValuesReadable: (op) => this.checkValuesReadable(op),
    };
  }

  // ---- reads ----

  /**
   * The buffered value of `key`: an empty Buffer when the transaction deleted it, undefined when
   * the buffer has no value for it (absent, or flags only): then read the snapshot.
   */
  get(key: Buffer): Buffer | undefined {
    const k = bufferArg(key, "key");
    this.checkValuesReadable("get");
    return this.entries.get(treeKey(k))?.value;
  }

  /** The flags of `key`, or undefined when the buffer does not hold the key. */
  getFlags(key: Buffer): KeyFlags | undefined {
    const k = bufferArg(key, "key");
    return this.entries.get(treeKey(k))?.flags;
  }

  /**
   * Keys with a value in `[lower, upper)`, ascending, with their flags (an empty or omitted bound
   * is unbounded). Deletes are yielded as empty values; flags-only keys are skipped.
   */
  iterate(lower?: Buffer, upper?: Buffer): MemDbIterator<MemDbEntry> {
    return this.valueIterator(lower, upper, false);
  }

  /** Like {@link iterate}, descending: starts below `upper`, stops before `lower`. */
  iterateReverse(upper?: Buffer, lower?: Buffer): MemDbIterator<MemDbEntry> {
    return this.valueIterator(lower, upper, true);
  }

  /**
   * Every key in `[lower, upper)`, ascending, flags-only keys included (value undefined): the walk
   * that builds a commit's mutations (client-go IterWithFlags). Still works after `discardValues()`.
   */
  iterateWithFlags(lower?: Buffer, upper?: Buffer): MemDbIterator<MemDbFlaggedEntry> {
    const lo = boundArg(lower, "lower");
    const up = boundArg(upper, "upper");
    return new MemDbIterator(this.entries, lo, up, false, projectFlagged);
  }

  /** Like {@link iterateWithFlags}, descending. */
  iterateReverseWithFlags(upper?: Buffer, lower?: Buffer): MemDbIterator<MemDbFlaggedEntry> {
    const lo = boundArg(lower, "lower");
    const up = boundArg(upper, "upper");
    return new MemDbIterator(this.entries, lo, up, true, projectFlagged);
  }

  /**
   * A read view of stage 0 (the content below every open stage), valid until that content
   * changes; see {@link MemDbSnapshot}.
   */
  getSnapshot(): MemDbSnapshot {
    this.checkValuesReadable("getSnapshot");
    return new MemDbSnapshot(this.snapshotSource);
  }

  /**
   * The newest value of `key` in its write history (current value first, then the values that
   * stages and checkpoints can restore) for which `predicate` is true. Undefined when the buffer
   * has no value for the key, null when no value matches (client-go SelectValueHistory). Writes to
   * a key within one stage and checkpoint replace each other, so only the last one is kept.
   */
  selectValueHistory(key: Buffer, predicate: (value: Buffer) => boolean): Buffer | null | undefined {
    const k = bufferArg(key, "key");
    const fn = functionArg<typeof predicate>(predicate, "predicate");
    this.checkValuesReadable("selectValueHistory");
    const entry = this.entries.get(treeKey(k));
    if (entry?.value === undefined) return undefined;
    if (fn(entry.value)) return entry.value;
    for (let r = entry.lastRecord; r >= 0; r = this.log.prevAt(r)) {
      const old = this.log.oldAt(r);
      if (old === undefined) break;
      if (fn(old)) return old;
    }
    return null;
  }

  /**
   * Calls `visitor(key, flags, value)` for each key whose current value was written in stage
   * `handle` or a stage above it, most recent write first (client-go InspectStage).
   */
  inspectStage(handle: number, visitor: (key: Buffer, flags: KeyFlags, value: Buffer) => void): void {
    const h = this.handleArg("inspectStage", handle);
    if (h < 1 || h > this.stages.length)
      throw new InvalidStagingHandleError("inspectStage", handle, this.stages.length);
    const fn = functionArg<typeof visitor>(visitor, "visitor");
    this.checkValuesReadable("inspectStage");
    const start = this.stages[h - 1]!;
    for (let i = this.log.length - 1; i >= start; i--) {
      // the visitor may have undone writes: never read past the log's end
      if (i >= this.log.length) {
        i = this.log.length;
        continue;
      }
      const e = this.log.entryAt(i);
      if (e.lastRecord === i) fn(e.key, e.flags, e.value!);
    }
  }

  // ---- writes ----

  /**
   * Buffers `value` for `key`, then applies `ops` to its flags (after clearing
   * needConstraintCheckInPrewrite, which any value write does). An empty value is refused
   * (CannotSetNilValueError): use {@link delete}. Throws KeyTooLargeError, EntryTooLargeError or
   * TxnTooLargeError (see {@link setEntrySizeLimit}); a refused write changes nothing.
   */
  set(key: Buffer, value: Buffer, ops?: readonly FlagsOp[]): void {
    const k = bufferArg(key, "key");
    const v = bufferArg(value, "value");
    const o = opsArg(ops);
    if (v.length === 0) throw new CannotSetNilValueError();
    this.writeValue(k, v, o, "set");
  }

  /** Buffers a delete (tombstone) of `key`, then applies `ops`; same rules as {@link set}. */
  delete(key: Buffer, ops?: readonly FlagsOp[]): void {
    const k = bufferArg(key, "key");
    const o = opsArg(ops);
    this.writeValue(k, TOMBSTONE, o, "delete");
  }

  /**
   * Applies `ops` to the flags of `key`, adding the key (flags only) when absent. Keeps
   * needConstraintCheckInPrewrite unless an op clears it. Never refused by the size limits (as in
   * client-go, where the error is ignored); a key over 65535 bytes throws KeyTooLargeError.
   */
  updateFlags(key: Buffer, ops?: readonly FlagsOp[]): void {
    const k = bufferArg(key, "key");
    const o = opsArg(ops);
    this.checkValuesReadable("updateFlags");
    checkKeyLength(k);
    const lkey = treeKey(k);
    let entry = this.entries.get(lkey);
    if (entry === undefined) {
      entry = this.addEntry(k, lkey);
      this.sizeBytes += k.length;
    }
    entry.flags = applyFlagsOps(entry.flags, o);
    this.markDirty(entry.flags);
    this.reportMem();
  }

  // ---- staging ----

  /** Opens a nested stage and returns its handle (the new depth, >= 1). */
  staging(): number {
    this.stages.push(this.log.length);
    this.raiseFloor();
    return this.stages.length;
  }

  /**
   * Closes the top stage keeping its writes (they now belong to the stage below). Handle 0 is a
   * no-op; any other handle than the top one throws InvalidStagingHandleError.
   */
  release(handle: number): void {
    const h = this.handleArg("release", handle);
    if (h === 0) return;
    if (h !== this.stages.length) throw new InvalidStagingHandleError("release", handle, this.stages.length);
    const start = this.stages.pop()!;
    if (h === 1 && this.log.length !== start) {
      // stage 1's writes join stage 0
      this.isDirty = true;
      this.stageZeroVersion++;
    }
  }

  /**
   * Closes the top stage undoing its value writes; keys it created keep only their persistent
   * flags (and vanish without any); other flag changes stay. Handle 0 or a handle above the depth
   * (an already closed stage) is a no-op; a handle below the top throws InvalidStagingHandleError.
   */
  cleanup(handle: number): void {
    const h = this.handleArg("cleanup", handle);
    if (h === 0 || h > this.stages.length) return;
    if (h < this.stages.length) throw new InvalidStagingHandleError("cleanup", handle, this.stages.length);
    this.revertTo(this.stages.pop()!);
    this.reportMem();
  }

  /** Number of open stages. */
  get stagingDepth(): number {
    return this.stages.length;
  }

  /** True while a stage is open. */
  get isStaging(): boolean {
    return this.stages.length > 0;
  }

  /** A savepoint to undo later writes with {@link revertToCheckpoint}. */
  checkpoint(): MemDbCheckpoint {
    this.raiseFloor();
    const pos = this.log.length;
    return new MemDbCheckpoint(this, this.generation, pos, this.log.idBelow(pos));
  }

  /**
   * Undoes the value writes made since `cp` (same flag rules as {@link cleanup}). The checkpoint
   * must come from this buffer, at or above the current stage's start, and must not have been
   * reverted past; otherwise InvalidCheckpointError.
   */
  revertToCheckpoint(cp: MemDbCheckpoint): void {
    if (!(cp instanceof MemDbCheckpoint)) throw new InvalidCheckpointError("not-a-checkpoint");
    if (cp.owner !== this) throw new InvalidCheckpointError("other-buffer");
    if (cp.generation !== this.generation) throw new InvalidCheckpointError("reset");
    this.checkValuesReadable("revertToCheckpoint");
    const pos = cp.position;
    if (pos > this.log.length || this.log.idBelow(pos) !== cp.idBelow)
      throw new InvalidCheckpointError("reverted");
    const depth = this.stages.length;
    if (depth > 0 && pos < this.stages[depth - 1]!) throw new InvalidCheckpointError("below-current-stage");
    if (pos === this.log.length) return;
    if (depth === 0) this.stageZeroVersion++;
    this.revertTo(pos);
    this.reportMem();
  }

  // ---- size, limits, lifecycle ----

  /**
   * True when the transaction has something to commit: any write with no stage open, any key with
   * a persistent flag, or the release of stage 1 with writes in it (client-go Dirty).
   */
  get dirty(): boolean {
    return this.isDirty;
  }

  /** Number of keys, flags-only keys included. */
  get len(): number {
    return this.entries.size;
  }

  /** Total key + value bytes of the buffered keys (the figure the total limit applies to). */
  get size(): number {
    return this.sizeBytes;
  }

  /** Estimated bytes held, undo history included (see footprint.ts); 0 for a new buffer. */
  get mem(): number {
    return this.memBytes;
  }

  /**
   * Sets the limits (0 = unlimited): EntryTooLargeError when one key + value exceeds
   * `entryLimit`, TxnTooLargeError when {@link size} would exceed `totalLimit` after a write.
   * Applies to later writes only.
   */
  setEntrySizeLimit(entryLimit: number, totalLimit: number): void {
    this.limits = checkLimits(entryLimit, totalLimit);
  }

  /** The current limits (0 = unlimited). */
  getEntrySizeLimit(): SizeLimits {
    return this.limits;
  }

  /**
   * Calls `hook(mem)` after every operation that changed {@link mem} (undefined removes it). The
   * hook runs once the buffer is consistent; an exception it throws reaches the caller of the
   * operation (which has been applied), so a memory quota can stop a statement.
   */
  setMemoryFootprintChangeHook(hook: ((mem: number) => void) | undefined): void {
    this.memHook = hook === undefined ? undefined : functionArg<(mem: number) => void>(hook, "hook");
    this.reportedMem = this.memBytes;
  }

  /** True when a footprint hook is set. */
  get memHookSet(): boolean {
    return this.memHook !== undefined;
  }

  /** Empties the buffer: keys, stages, checkpoints (refused afterwards), dirty. Limits and hook stay. */
  reset(): void {
    this.entries.clear();
    this.log.clear();
    this.stages = [];
    this.floor = 0;
    this.generation++;
    this.sizeBytes = 0;
    this.memBytes = 0;
    this.isDirty = false;
    this.discarded = false;
    this.stageZeroVersion++;
    this.reportMem();
  }

  /**
   * Drops every value and the undo history, keeping keys and flags (used once a commit no longer
   * needs the values). Afterwards value reads and writes throw ValuesDiscardedError; `getFlags`,
   * `iterateWithFlags` (values undefined), `len`, `size` and the staging calls still work, and
   * stages revert nothing. `reset()` makes the buffer usable again.
   */
  discardValues(): void {
    let mem = 0;
    for (const e of this.entries.tree.values()) {
      e.value = undefined;
      e.lastRecord = -1;
      mem += entryBytes(e.key.length);
    }
    this.log.clear();
    this.stages.fill(0);
    this.floor = 0;
    this.memBytes = mem;
    this.discarded = true;
    this.stageZeroVersion++;
    this.reportMem();
  }

  /** True after {@link discardValues} (until {@link reset}). */
  get valuesDiscarded(): boolean {
    return this.discarded;
  }

  // ---- internals ----

  private writeValue(key: Buffer, value: Buffer, ops: readonly FlagsOp[], operation: string): void {
    this.checkValuesReadable(operation);
    checkKeyLength(key);
    const lkey = treeKey(key);
    let entry = this.entries.get(lkey);
    const projected =
      this.sizeBytes + (entry === undefined ? key.length : 0) + value.length - (entry?.value?.length ?? 0);
    checkValueWrite(this.limits, key.length, value.length, projected);
    // nothing may throw past this point: a refused write must change nothing
    if (entry === undefined) entry = this.addEntry(key, lkey);
    entry.flags = applyFlagsOps(entry.flags & ~KeyFlag.needConstraintCheckInPrewrite, ops);
    if (entry.lastRecord >= this.floor) {
      // written after the last stage start / checkpoint: no revert can come back to this value
      this.memBytes -= valueBytes(entry.value);
    } else {
      this.log.append(entry);
      this.memBytes += RECORD_BYTES;
    }
    // copied: the caller may reuse its Buffer
    const stored = value.length === 0 ? TOMBSTONE : Buffer.from(value);
    entry.value = stored;
    this.memBytes += valueBytes(stored);
    this.sizeBytes = projected;
    if (this.stages.length === 0) this.stageZeroVersion++;
    this.markDirty(entry.flags);
    this.reportMem();
  }

  private valueIterator(
    lower: Buffer | undefined,
    upper: Buffer | undefined,
    reverse: boolean,
  ): MemDbIterator<MemDbEntry> {
    const lo = boundArg(lower, "lower");
    const up = boundArg(upper, "upper");
    this.checkValuesReadable("iterate");
    return new MemDbIterator(this.entries, lo, up, reverse, projectValue, () =>
      this.checkValuesReadable("iterate"),
    );
  }

  private addEntry(key: Buffer, lkey: string): Entry {
    const entry = new Entry(Buffer.from(key), lkey);
    this.entries.add(entry);
    this.memBytes += entryBytes(key.length);
    return entry;
  }

  private removeEntry(entry: Entry): void {
    this.entries.remove(entry);
    this.sizeBytes -= entry.key.length;
    this.memBytes -= entryBytes(entry.key.length);
  }

  /** Pops undo records down to `position`, restoring values and applying the flag rule. */
  private revertTo(position: number): void {
    this.log.truncate(position, (entry, old) => {
      const cur = entry.value!; // a record is always followed by a value write
      this.sizeBytes -= cur.length;
      this.memBytes -= valueBytes(cur) + RECORD_BYTES;
      entry.value = old;
      if (old !== undefined) {
        this.sizeBytes += old.length;
        return;
      }
      // the key had no value before: it keeps only the flags that describe server-side locks
      entry.flags &= PERSISTENT_FLAGS;
      if (entry.flags === 0) this.removeEntry(entry);
    });
    if (this.floor > position) this.floor = position;
  }

  /** The entry's value as of stage 0: undo the records written since stage 1 began. */
  private stageZeroValue(entry: Entry): Buffer | undefined {
    if (this.stages.length === 0) return entry.value;
    const base = this.stages[0]!;
    let value = entry.value;
    for (let r = entry.lastRecord; r >= base; r = this.log.prevAt(r)) value = this.log.oldAt(r);
    return value;
  }

  private raiseFloor(): void {
    if (this.floor < this.log.length) this.floor = this.log.length;
  }

  private markDirty(flags: KeyFlags): void {
    if (this.stages.length === 0 || (flags & PERSISTENT_FLAGS) !== 0) this.isDirty = true;
  }

  private handleArg(operation: StagingOperation, handle: unknown): number {
    if (typeof handle !== "number" || !Number.isSafeInteger(handle) || handle < 0) {
      throw new InvalidStagingHandleError(operation, handle, this.stages.length);
    }
    return handle;
  }

  private checkValuesReadable(operation: string): void {
    if (this.discarded) throw new ValuesDiscardedError(operation);
  }

  private reportMem(): void {
    if (this.memHook !== undefined && this.memBytes !== this.reportedMem) {
      this.reportedMem = this.memBytes;
      this.memHook(this.memBytes);
    }
  }
}
