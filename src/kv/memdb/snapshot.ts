// A read view of the buffer's stage 0: what the transaction had buffered before the open stages
// (client-go MemBuffer.GetSnapshot). Writes in stages >= 1 do not show through it, so a statement
// running in a stage can read the transaction's earlier writes without seeing its own.
//
// It stays usable while the stage-0 content is unchanged and throws StaleSnapshotError after
// (a write with no stage open, the release of stage 1 with writes in it, a revert at stage 0,
// reset). client-go also invalidates it when stage 1 is cleaned up; a cleanup does not change
// stage 0, so ours stays valid then.

import { InvalidArgumentError } from "../../errors/base.js";
import { boundArg, bufferArg, functionArg } from "./args.js";
import { type Entry, type MemDbKeyValue, type OrderedEntries, treeKey } from "./entries.js";
import { StaleSnapshotError } from "./errors.js";
import { MemDbIterator } from "./iterator.js";

/** What a snapshot needs from its buffer. @internal */
export interface SnapshotSource {
  /** The buffer's entries. */
  readonly entries: OrderedEntries;
  /** Counter of stage-0 content changes. */
  stageZeroVersion(): number;
  /** The entry's value as of stage 0 (undefined: no value there). */
  stageZeroValue(entry: Entry): Buffer | undefined;
  /** Throws when values can no longer be read (discarded). */
  checkValuesReadable(operation: string): void;
}

/** Options of {@link MemDbSnapshot.batches}. */
export interface SnapshotBatchOptions {
  /** Descending order (default ascending). */
  reverse?: boolean;
  /** Size of the first batch (default 32); each next batch doubles, up to `maxBatchSize`. */
  firstBatchSize?: number;
  /** Largest batch (default 4096). */
  maxBatchSize?: number;
}

/** A read view of a buffer's stage 0 (see `MemDb.getSnapshot`). */
export class MemDbSnapshot {
  private readonly version: number;

  /** @internal Use `MemDb.getSnapshot()`. */
  constructor(private readonly source: SnapshotSource) {
    this.version = source.stageZeroVersion();
  }

  /** False once the stage-0 content changed: every read then throws StaleSnapshotError. */
  get isValid(): boolean {
    return this.version === this.source.stageZeroVersion();
  }

  /** The key's stage-0 value (empty Buffer = deleted), or undefined when stage 0 has no value for it. */
  get(key: Buffer): Buffer | undefined {
    const k = bufferArg(key, "key");
    this.check();
    const entry = this.source.entries.get(treeKey(k));
    return entry === undefined ? undefined : this.source.stageZeroValue(entry);
  }

  /** Stage-0 pairs in `[lower, upper)`, ascending (empty or omitted bound = unbounded); deletes come as empty values. */
  iterate(lower?: Buffer, upper?: Buffer): MemDbIterator<MemDbKeyValue> {
    return this.iterator(boundArg(lower, "lower"), boundArg(upper, "upper"), false);
  }

  /** Stage-0 pairs in `[lower, upper)`, descending. */
  iterateReverse(upper?: Buffer, lower?: Buffer): MemDbIterator<MemDbKeyValue> {
    return this.iterator(boundArg(lower, "lower"), boundArg(upper, "upper"), true);
  }

  /**
   * Calls `visitor` on the stage-0 pairs of `[lower, upper)` in order until it returns true
   * (client-go ForEachInSnapshotRange).
   */
  forEachInRange(
    lower: Buffer | undefined,
    upper: Buffer | undefined,
    visitor: (key: Buffer, value: Buffer) => boolean | undefined,
    reverse = false,
  ): void {
    const fn = functionArg<typeof visitor>(visitor, "visitor");
    const it = reverse ? this.iterateReverse(upper, lower) : this.iterate(lower, upper);
    for (const kv of it) if (fn(kv.key, kv.value) === true) return;
  }

  /**
   * The stage-0 pairs of `[lower, upper)` in arrays of growing size (client-go
   * BatchedSnapshotIter): a scan merging the buffer with server results can take a batch at a
   * time. Each batch is read when it is requested, so it throws StaleSnapshotError if the
   * snapshot went stale in between.
   */
  batches(
    lower?: Buffer,
    upper?: Buffer,
    options: SnapshotBatchOptions = {},
  ): Generator<MemDbKeyValue[], void> {
    // arguments are checked now, not at the first batch
    const first = positiveInt(options.firstBatchSize, 32, "firstBatchSize");
    const max = Math.max(first, positiveInt(options.maxBatchSize, 4096, "maxBatchSize"));
    const it = options.reverse === true ? this.iterateReverse(upper, lower) : this.iterate(lower, upper);
    return readBatches(it, first, max);
  }

  private iterator(
    lower: string | undefined,
    upper: string | undefined,
    reverse: boolean,
  ): MemDbIterator<MemDbKeyValue> {
    this.check();
    const src = this.source;
    return new MemDbIterator(
      src.entries,
      lower,
      upper,
      reverse,
      (e) => {
        const value = src.stageZeroValue(e);
        return value === undefined ? undefined : { key: e.key, value };
      },
      () => this.check(),
    );
  }

  private check(): void {
    this.source.checkValuesReadable("snapshot read");
    if (!this.isValid) throw new StaleSnapshotError();
  }
}

function* readBatches(
  it: MemDbIterator<MemDbKeyValue>,
  first: number,
  max: number,
): Generator<MemDbKeyValue[], void> {
  for (let size = first; ; size = Math.min(size * 2, max)) {
    const batch: MemDbKeyValue[] = [];
    for (let r = it.next(); !r.done; r = it.next()) {
      batch.push(r.value);
      if (batch.length >= size) break;
    }
    if (batch.length === 0) return;
    yield batch;
    if (batch.length < size) return;
  }
}

function positiveInt(v: number | undefined, dflt: number, argument: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got ${String(v)}`, argument);
  }
  return v;
}
