// The buffer of a pipelined transaction (client-go internal/unionstore/pipelined_memdb.go): a
// mutable MemDb that takes the writes, and at most one immutable "flushing" MemDb being written
// to TiKV in the background as one generation of locks. Reads go mutable -> flushing -> the cache
// of earlier batch reads -> TiKV's buffer of this transaction's own locks (BufferBatchGet); the
// caller reads the snapshot when none of them has the key.
//
// A flush starts when the mutable buffer holds >= 16 MiB and either >= 10 000 keys or >= 128 MiB
// (small batches waste TiKV's time on random writes); while a flush runs, the next one waits only
// when the mutable buffer reached 128 MiB (the bound on the client's memory). Flushes never
// overlap: one generation at a time, numbered from 1.

import { InvalidTxnError, KeyAlreadyExistsError } from "../../errors/txn.js";
import type { FlagsOp, KeyFlags } from "./key-flags.js";
import { MemDb } from "./memdb.js";

/** client-go MinFlushKeys: a flush needs at least this many keys (unless the buffer is past the force size). */
export const MIN_FLUSH_KEYS = 10_000;
/** client-go MinFlushMemSize: a flush needs at least this much buffered memory (bytes). */
export const MIN_FLUSH_MEM_SIZE = 16 * 1024 * 1024;
/** client-go ForceFlushMemSizeThreshold: past this a flush is due whatever the key count, and waits for a running one. */
export const FORCE_FLUSH_MEM_SIZE = 128 * 1024 * 1024;

/** When a flush is due (client-go flushOption; tests lower them as client-go's failpoints do). */
export interface PipelinedFlushThresholds {
  minFlushKeys: number;
  minFlushMemSize: number;
  forceFlushMemSize: number;
}

/** The default thresholds. */
export const DEFAULT_FLUSH_THRESHOLDS: Readonly<PipelinedFlushThresholds> = {
  minFlushKeys: MIN_FLUSH_KEYS,
  minFlushMemSize: MIN_FLUSH_MEM_SIZE,
  forceFlushMemSize: FORCE_FLUSH_MEM_SIZE,
};

/** Writes one generation to TiKV; rejects when the transaction cannot go on. Never called concurrently. */
export type PipelinedFlushFn = (generation: number, db: MemDb) => Promise<void>;

/**
 * Reads this transaction's flushed writes from TiKV: latin1 key -> value for the keys it holds
 * a lock on (an empty value is a delete); keys without one are absent from the map.
 */
export type BufferBatchGetter = (keys: Buffer[]) => Promise<Map<string, Buffer>>;

/** What a pipelined buffer's caller learns of its flushing (client-go Metrics). */
export interface PipelinedMemDbStats {
  /** Flushes started so far (= the current generation). */
  generation: number;
  /** Time spent waiting for running flushes, in ms. */
  waitMs: number;
  /** Reads answered from the batch-get cache. */
  cacheHits: number;
  /** Reads that had to ask TiKV's buffer. */
  remoteReads: number;
}

/** A flush was asked for with a stage open: a stage must live inside one generation (client-go). */
export class StagingOpenDuringFlushError extends InvalidTxnError {
  constructor() {
    super("there are stages unreleased when Flush is called");
  }
}

const latin1 = (k: Buffer) => k.toString("latin1");

/**
 * A pipelined transaction's buffer. Not for concurrent writers (like MemDb); reads may run while
 * a flush does.
 *
 * @example
 * ```ts
 * const db = new PipelinedMemDb(readFlushed, (gen, mem) => flushToTikv(gen, mem));
 * db.set(k, v);
 * await db.flush();        // starts a background flush when one is due
 * await db.flush(true);    // the final one
 * await db.flushWait();    // rejects with the first flush failure
 * ```
 */
export class PipelinedMemDb {
  private mutable: MemDb;
  private flushingDb: MemDb | undefined;
  /** The flush in flight: settles with its failure (undefined = ok); never rejects. */
  private inflight: Promise<Error | undefined> | undefined;
  private running = false;
  /** A flush failed: the transaction cannot commit, every later flush call says so. */
  private failure: Error | undefined;
  private flushedLen = 0;
  private flushedSize = 0;
  private gen = 0;
  // batch-get results (null = TiKV's buffer has no such key); dropped at every flush, since a
  // flush changes what TiKV's buffer holds
  private cache: Map<string, Buffer | null> | undefined;
  private entryLimit: number;
  private readonly thresholds: PipelinedFlushThresholds;
  private readonly statsValue: PipelinedMemDbStats = {
    generation: 0,
    waitMs: 0,
    cacheHits: 0,
    remoteReads: 0,
  };

  private memHook: ((mem: number) => void) | undefined;

  constructor(
    private readonly bufferBatchGet: BufferBatchGetter,
    private readonly flushFn: PipelinedFlushFn,
    thresholds: Partial<PipelinedFlushThresholds> = {},
    entrySizeLimit = 0,
  ) {
    this.thresholds = { ...DEFAULT_FLUSH_THRESHOLDS, ...thresholds };
    this.entryLimit = entrySizeLimit;
    this.mutable = this.newMutable();
  }

  // the total size is bounded by the force threshold, not by a limit (client-go)
  private newMutable(): MemDb {
    const db = new MemDb();
    db.setEntrySizeLimit(this.entryLimit, 0);
    if (this.memHook) db.setMemoryFootprintChangeHook(() => this.reportMem());
    return db;
  }

  /**
   * Calls `hook(mem)` whenever {@link mem} changes: after writes to the mutable buffer and when a
   * flushed buffer is let go (client-go PipelinedMemDB SetMemoryFootprintChangeHook). Undefined
   * removes it.
   */
  setMemoryFootprintChangeHook(hook: ((mem: number) => void) | undefined): void {
    this.mutable.setMemoryFootprintChangeHook(hook); // validates it (typed error)
    this.memHook = hook;
    this.mutable.setMemoryFootprintChangeHook(hook === undefined ? undefined : () => this.reportMem());
  }

  private reportMem(): void {
    this.memHook?.(this.mem);
  }

  // ---- writes (to the mutable buffer) ----

  /** Buffers `value` for `key`. */
  set(key: Buffer, value: Buffer, ops?: readonly FlagsOp[]): void {
    this.mutable.set(key, value, ops);
  }

  /** Buffers a delete of `key`. */
  delete(key: Buffer, ops?: readonly FlagsOp[]): void {
    this.mutable.delete(key, ops);
  }

  /** Changes the flags of `key` in the mutable buffer. */
  updateFlags(key: Buffer, ops?: readonly FlagsOp[]): void {
    this.mutable.updateFlags(key, ops);
  }

  /** Opens a stage on the mutable buffer (it must be closed before the next flush). */
  staging(): number {
    return this.mutable.staging();
  }

  /** Keeps the writes of stage `handle`. */
  release(handle: number): void {
    this.mutable.release(handle);
  }

  /** Undoes the writes of stage `handle`. */
  cleanup(handle: number): void {
    this.mutable.cleanup(handle);
  }

  /** Sets the largest key + value of one entry (0 = unlimited); the total is not limited. */
  setEntrySizeLimit(entryLimit: number): void {
    this.entryLimit = entryLimit;
    this.mutable.setEntrySizeLimit(entryLimit, 0);
  }

  // ---- reads ----

  /**
   * The value of `key` in the local buffers (mutable, then flushing): an empty Buffer for a
   * delete, undefined when neither holds a value (client-go GetLocal).
   */
  getLocal(key: Buffer): Buffer | undefined {
    const v = this.mutable.get(key);
    if (v !== undefined) return v;
    return this.flushingDb?.get(key);
  }

  /** The flags of `key` in the local buffers. */
  getFlags(key: Buffer): KeyFlags | undefined {
    return this.mutable.getFlags(key) ?? this.flushingDb?.getFlags(key);
  }

  /**
   * The value this transaction wrote for `key`: local buffers, then the batch-get cache, then
   * TiKV's buffer. An empty Buffer is a delete; undefined means the transaction did not write
   * the key (read the snapshot).
   */
  async get(key: Buffer): Promise<Buffer | undefined> {
    const local = this.getLocal(key);
    if (local !== undefined) return local;
    const k = latin1(key);
    const cached = this.cache?.get(k);
    if (cached !== undefined) {
      this.statsValue.cacheHits++;
      return cached ?? undefined;
    }
    this.statsValue.remoteReads++;
    return (await this.bufferBatchGet([key])).get(k);
  }

  /**
   * {@link get} for several keys: latin1 key -> value (empty = delete) for the keys the
   * transaction wrote. Fills the cache, also with the keys TiKV's buffer does not hold, so that
   * later point reads of them cost no RPC until the next flush.
   */
  async batchGet(keys: readonly Buffer[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const cache = this.cache ?? new Map<string, Buffer | null>();
    this.cache = cache;
    const remote: Buffer[] = [];
    for (const key of keys) {
      const k = latin1(key);
      const local = this.getLocal(key);
      if (local !== undefined) {
        out.set(k, local);
        cache.set(k, local);
      } else remote.push(key);
    }
    if (remote.length === 0) return out;
    this.statsValue.remoteReads += remote.length;
    const got = await this.bufferBatchGet(remote);
    // a flush meanwhile dropped the cache: what TiKV said may be stale already, keep it out
    const keep = this.cache === cache;
    for (const key of remote) {
      const k = latin1(key);
      const v = got.get(k);
      if (v !== undefined) out.set(k, v);
      if (keep) cache.set(k, v ?? null);
    }
    return out;
  }

  // ---- flushing ----

  /** True when the mutable buffer is big enough for a flush now (client-go needFlush). */
  needFlush(): boolean {
    const mem = this.mutable.mem;
    const t = this.thresholds;
    if (mem < t.minFlushMemSize) return false;
    if (this.mutable.len < t.minFlushKeys && mem < t.forceFlushMemSize) return false;
    // a running flush is waited for only when the buffer reached the force size
    if (this.running && mem < t.forceFlushMemSize) return false;
    return true;
  }

  /**
   * Starts flushing the mutable buffer as the next generation when a flush is due (always with
   * `force`), after the running one finished; resolves true when it started one. Waits only
   * when a flush runs and this one must start (past the force size, or `force`). Rejects with
   * the failure of an earlier flush, or StagingOpenDuringFlushError. Clears the batch-get cache
   * in every case.
   */
  async flush(force = false): Promise<boolean> {
    this.cache = undefined;
    if (this.mutable.isStaging) throw new StagingOpenDuringFlushError();
    if (this.failure) throw this.failure;
    if (!force && !this.needFlush()) return false;
    // another caller may start a flush while we wait: wait until none is pending
    while (this.inflight) await this.waitInflight();
    if (!force && !this.needFlush()) return false;
    this.startFlush();
    return true;
  }

  /** Waits for the running flush; rejects with the first flush failure (client-go FlushWait). */
  async flushWait(): Promise<void> {
    while (this.inflight) await this.waitInflight();
    if (this.failure) throw this.failure;
  }

  private startFlush(): void {
    const db = this.mutable;
    this.flushingDb = db;
    this.flushedLen += db.len;
    this.flushedSize += db.size;
    this.mutable = this.newMutable();
    const generation = ++this.gen;
    this.statsValue.generation = generation;
    this.running = true;
    this.inflight = Promise.resolve()
      .then(() => this.flushFn(generation, db))
      .then(
        () => undefined,
        (e: unknown) => this.explain(e instanceof Error ? e : new Error(String(e)), db),
      )
      .finally(() => {
        this.running = false;
      });
  }

  private async waitInflight(): Promise<void> {
    const p = this.inflight as Promise<Error | undefined>;
    const t0 = Date.now();
    const err = await p;
    this.statsValue.waitMs += Date.now() - t0;
    // the first waiter to wake up retires this flush
    if (this.inflight !== p) return;
    this.inflight = undefined;
    this.flushingDb = undefined;
    this.reportMem();
    if (err && !this.failure) this.failure = err;
    if (this.failure) throw this.failure;
  }

  // an insert that met an existing key: say which value this transaction was writing there
  private explain(e: Error, db: MemDb): Error {
    if (e instanceof KeyAlreadyExistsError && e.value === undefined) {
      const v = db.get(e.key);
      if (v !== undefined) return new KeyAlreadyExistsError(e.key, v, { cause: e.cause });
    }
    return e;
  }

  // ---- size and state ----

  /** True while a flush runs (client-go OnFlushing). */
  get onFlushing(): boolean {
    return this.running;
  }

  /** The current generation (0 before the first flush). */
  get generation(): number {
    return this.gen;
  }

  /** True when the transaction wrote anything (flushed or not). */
  get dirty(): boolean {
    return this.mutable.dirty || this.flushedLen > 0;
  }

  /** Keys written: flushed generations plus the mutable buffer. */
  get len(): number {
    return this.flushedLen + this.mutable.len;
  }

  /** Key + value bytes written: flushed generations plus the mutable buffer. */
  get size(): number {
    return this.flushedSize + this.mutable.size;
  }

  /** Estimated bytes held by the client: the mutable and the flushing buffer. */
  get mem(): number {
    return this.mutable.mem + (this.flushingDb?.mem ?? 0);
  }

  /** The mutable buffer's key count (for tests and metrics). */
  get mutableLen(): number {
    return this.mutable.len;
  }

  /** The mutable buffer's estimated memory (what the thresholds apply to). */
  get mutableMem(): number {
    return this.mutable.mem;
  }

  /** The flushing buffer's key + value bytes (0 when none). */
  get flushingSize(): number {
    return this.flushingDb?.size ?? 0;
  }

  /** True when the batch-get cache holds an answer for `key` (for tests). */
  cached(key: Buffer): boolean {
    return this.cache?.has(latin1(key)) ?? false;
  }

  /** Flushing counters. */
  get stats(): Readonly<PipelinedMemDbStats> {
    return this.statsValue;
  }
}
