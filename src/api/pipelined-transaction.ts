// PipelinedTransaction: a transaction whose buffer is flushed to TiKV while it runs (client-go
// KVTxn with a pipelined memdb, "pipelined DML"), so that one transaction can write millions of
// keys with bounded client memory. Thin: converts keys, refuses what pipelined mode cannot do,
// and hands the buffer to PipelinedMemDb and the protocol to the pipelined committer.
//
// It extends Transaction (same reads, writes, commit, rollback, state and commit callback), so it
// can go wherever a Transaction goes (runTransaction included); what a pipelined transaction
// cannot do (scans, pessimistic mode) fails with PipelinedUnsupportedError / InvalidArgumentError.

import type { TxnRecorder } from "../actors/observe/txn-recorder.js";
import { composeInterceptors } from "../actors/request/interceptor.js";
import { pipelinedKnobs } from "../actors/txn/pipelined/knobs.js";
import {
  DEFAULT_FLUSH_CONCURRENCY,
  DEFAULT_RESOLVE_LOCK_CONCURRENCY,
  type PipelinedCommitter,
  type PipelinedTuning,
  SharedLockInPipelinedTxnError,
} from "../actors/txn/pipelined/pipelined-committer.js";
import type { TxnRuntime } from "../actors/txn/txn-runtime.js";
import { InvalidArgumentError } from "../errors/base.js";
import { CannotSetNilValueError, InvalidTxnError } from "../errors/txn.js";
import { type KeyInput, toKey, toKeys } from "../kv/key.js";
import { FlagsOp } from "../kv/memdb/key-flags.js";
import { PipelinedMemDb } from "../kv/memdb/pipelined-memdb.js";
import { MAX_TS } from "../kv/timestamp.js";
import type { Context } from "../proto/kvrpcpb.js";
import { assertionLevelOf } from "./internal/assertion-level.js";
import { readThrough } from "./internal/read-through.js";
import { checkPositiveInt } from "./internal/validate.js";
import type { CallOptions } from "./options.js";
import type { KvPair } from "./raw-client.js";
import type { Snapshot, TxnScanOptions } from "./snapshot.js";
import {
  type CommitInfo,
  type CommitProtocolOptions,
  checkLockOptions,
  type LockOptions,
  Transaction,
  type TransactionHost,
  type TxnSizeLimits,
  type WriteOptions,
  writeOps,
} from "./transaction.js";

/** Options of a pipelined transaction (client-go PipelinedTxnOptions); `begin({ pipelined: true })` takes the defaults. */
export interface PipelinedOptions {
  /** Flush batches in flight at most (default 128). */
  flushConcurrency?: number;
  /** Regions resolved at a time after commit or rollback (default 8). */
  resolveLockConcurrency?: number;
  /**
   * Share of the time spent sleeping before each flush, in [0, 1) (default 0: no sleep): sleep /
   * (sleep + flush) = ratio, with the flush time averaged over the flushes so far.
   */
  writeThrottleRatio?: number;
}

/** What a pipelined transaction cannot do (client-go refuses or panics). */
export class PipelinedUnsupportedError extends InvalidTxnError {
  constructor(
    /** The refused operation. */
    readonly operation: string,
  ) {
    super(`${operation} is not supported in a pipelined transaction`);
  }
}

/**
 * Validates `begin`'s `pipelined` option as client-go NewTiKVTxn does (concurrencies > 0, the
 * throttle ratio in [0, 1)) and its incompatibilities (pessimistic mode); resolves the defaults.
 * Undefined when the transaction is not pipelined.
 */
export function checkPipelinedOptions(o: {
  pipelined?: boolean | PipelinedOptions | undefined;
  pessimistic?: boolean | undefined;
}): PipelinedTuning | undefined {
  const p = o.pipelined;
  if (p === undefined || p === false) return undefined;
  if (p !== true && (p === null || typeof p !== "object")) {
    throw new InvalidArgumentError("must be a boolean or an object", "pipelined");
  }
  const opts: PipelinedOptions = p === true ? {} : p;
  const tuning: PipelinedTuning = {
    flushConcurrency:
      opts.flushConcurrency === undefined
        ? DEFAULT_FLUSH_CONCURRENCY
        : checkPositiveInt(opts.flushConcurrency, "flushConcurrency"),
    resolveLockConcurrency:
      opts.resolveLockConcurrency === undefined
        ? DEFAULT_RESOLVE_LOCK_CONCURRENCY
        : checkPositiveInt(opts.resolveLockConcurrency, "resolveLockConcurrency"),
    writeThrottleRatio: opts.writeThrottleRatio ?? 0,
  };
  const r = tuning.writeThrottleRatio;
  if (typeof r !== "number" || !Number.isFinite(r) || r < 0 || r >= 1) {
    throw new InvalidArgumentError(`must be a number in [0, 1), got ${String(r)}`, "writeThrottleRatio");
  }
  if (o.pessimistic) {
    // client-go panics: "can not set a txn with pipelined memdb to pessimistic mode"
    throw new InvalidArgumentError("a pipelined transaction cannot be pessimistic", "pessimistic");
  }
  return tuning;
}

/** What {@link createPipelinedTransaction} is built from (TxnClient.begin gives it). */
export interface PipelinedParts {
  /** @internal */
  rt: TxnRuntime;
  snapshot: Snapshot;
  limits: Required<TxnSizeLimits>;
  protocol: CommitProtocolOptions;
  tuning: PipelinedTuning;
  /** The Context fields of the transaction's writes. */
  writeContext: (txn: Transaction) => Partial<Context> | undefined;
  /** @internal Its recorder when observed or traced (begin, RPCs, commit / rollback). */
  recorder?: TxnRecorder | undefined;
}

/** @internal TxnClient.begin({ pipelined }) */
export function createPipelinedTransaction(parts: PipelinedParts): PipelinedTransaction {
  return new PipelinedTransaction(parts);
}

const latin1 = (k: Buffer) => k.toString("latin1");

/**
 * A pipelined transaction (`txnClient.begin({ pipelined: true })`): writes are flushed to TiKV
 * in generations while the transaction runs, so its size is not bounded by the client's memory.
 * Reads see its own writes (local buffers, then TiKV's buffer of its locks), then the snapshot.
 * Commit flushes the rest and commits the primary key only; the other locks are resolved in the
 * background (other readers already see the commit through the primary). Scans are refused with
 * PipelinedUnsupportedError; lockKeys only marks keys, as in an optimistic transaction; async
 * commit and 1PC are off.
 *
 * Writes never block: call `await txn.flush()` every so often (TiDB does after each statement);
 * it starts a flush when one is due and waits only when the buffer passed 128 MiB while a flush
 * runs, which bounds the client's memory.
 *
 * @example
 * ```ts
 * const txn = await txns.begin({ pipelined: { flushConcurrency: 64 } });
 * for (let i = 0; i < 1_000_000; i++) {
 *   txn.set(`row:${i}`, "v");
 *   if (i % 1000 === 0) await txn.flush();
 * }
 * await txn.commit();
 * ```
 */
export class PipelinedTransaction extends Transaction {
  /** @internal */
  readonly pipeline: PipelinedMemDb;
  /** @internal */
  readonly committer: PipelinedCommitter;
  /** The pipelined tuning in effect. */
  readonly tuning: Readonly<PipelinedTuning>;
  private autoFlushing = false;

  /** @internal use TxnClient.begin({ pipelined }) */
  constructor(parts: PipelinedParts) {
    const host: TransactionHost = {
      commit: (txn) => (txn as PipelinedTransaction).commitPipelined(),
    };
    // async commit and 1PC are off in pipelined mode (client-go)
    super(host, parts.snapshot, parts.limits, { ...parts.protocol, asyncCommit: false, onePC: false }, false);
    this.tuning = parts.tuning;
    // reads skip this transaction's own flushed locks (client-go snapshot.SetPipelined)
    parts.snapshot.reader.resolvedLocks.add(parts.snapshot.ts);
    const p = this.protocol;
    this.recorder = parts.recorder;
    this.committer = parts.rt.newPipelinedCommitter({
      startTs: this.startTs,
      assertionLevel: assertionLevelOf(this),
      contextFields: parts.writeContext(this),
      commitWaitUntilTs: p.commitWaitUntilTs,
      commitWaitTimeoutMs: p.commitWaitTimeoutMs,
      lifecycleHooks: p.lifecycleHooks,
      interceptor: composeInterceptors(
        parts.snapshot.reader.options.interceptor,
        parts.recorder?.interceptor,
      ),
      ...parts.tuning,
    });
    this.pipeline = new PipelinedMemDb(
      (keys) => this.committer.bufferBatchGet(keys),
      (generation, db) => this.committer.flush(generation, db),
      pipelinedKnobs.flushThresholds,
      parts.limits.entrySizeLimit,
    );
  }

  /** Number of keys written, flushed ones included. */
  override get len(): number {
    return this.pipeline.len;
  }

  /** Key + value bytes written, flushed ones included. */
  override get size(): number {
    return this.pipeline.size;
  }

  /** Estimated bytes the client holds: the mutable and the flushing buffer. */
  override get memoryFootprint(): number {
    return this.pipeline.mem;
  }

  /** As {@link Transaction.onMemoryFootprintChange}; fires also when a flushed buffer is let go. */
  override onMemoryFootprintChange(hook: ((bytes: number) => void) | undefined): void {
    this.pipeline.setMemoryFootprintChangeHook(hook);
  }

  /** True while nothing was written. */
  override get isReadOnly(): boolean {
    return !this.pipeline.dirty;
  }

  /** Generations flushed or flushing so far. */
  get generation(): number {
    return this.pipeline.generation;
  }

  /** True while a flush runs. */
  get flushing(): boolean {
    return this.pipeline.onFlushing;
  }

  /** The value of `key` as this transaction sees it: its own write (flushed or not), else the snapshot's. */
  override async get(key: KeyInput, options?: CallOptions): Promise<Buffer | undefined> {
    this.checkActive();
    const k = toKey(key);
    const own = await this.pipeline.get(k);
    if (own !== undefined) return own.length === 0 ? undefined : own;
    return this.snapshot.get(k, options);
  }

  /** The values of `keys`, positional: this transaction's writes win, its deletes read as undefined. */
  override async batchGet(
    keys: readonly KeyInput[],
    options?: CallOptions,
  ): Promise<Array<Buffer | undefined>> {
    this.checkActive();
    const ks = toKeys(keys);
    if (ks.length === 0) return [];
    const own = await this.pipeline.batchGet(ks);
    return readThrough(
      ks,
      (i) => own.get(latin1(ks[i] as Buffer)),
      (rest) => this.snapshot.batchGet(rest, options),
    );
  }

  /** Buffers a write of `value` to `key` (flushed in the background when the buffer is big enough). */
  override set(key: KeyInput, value: KeyInput, options?: WriteOptions): void {
    this.checkActive();
    const k = toKey(key);
    const v = toKey(value, "value");
    if (v.length === 0) throw new CannotSetNilValueError();
    this.pipeline.set(k, v, writeOps(options));
    this.maybeFlush();
  }

  /** Buffers a delete of `key`. */
  override delete(key: KeyInput, options?: WriteOptions): void {
    this.checkActive();
    this.pipeline.delete(toKey(key), writeOps(options));
    this.maybeFlush();
  }

  // a flush that is due starts at once, in the background (its failure is reported by the next
  // flush, flushWait or commit)
  private maybeFlush(): void {
    if (this.autoFlushing || !this.pipeline.needFlush()) return;
    this.autoFlushing = true;
    void this.pipeline
      .flush()
      .catch(() => {})
      .finally(() => {
        this.autoFlushing = false;
      });
  }

  /**
   * Starts flushing the buffer when a flush is due (always with `force`), waiting for the
   * running flush only when it must (client-go MemBuffer Flush); resolves true when a flush
   * started. Rejects with the failure of an earlier flush: the transaction must then roll back.
   */
  async flush(force = false): Promise<boolean> {
    this.checkActive();
    return this.pipeline.flush(force);
  }

  /** Waits for the running flush; rejects with the first flush failure (client-go FlushWait). */
  async flushWait(): Promise<void> {
    return this.pipeline.flushWait();
  }

  // the commit behind Transaction.commit: flush the rest, wait, commit the primary
  private async commitPipelined(): Promise<{ commitTs: bigint; info: CommitInfo | undefined }> {
    if (!this.pipeline.dirty) {
      await this.committer.commit(); // nothing flushed: ends the committer
      return { commitTs: 0n, info: undefined };
    }
    // MaxUint64 reads the latest data; it cannot be a writer's start ts (client-go: invalid txnStartTS)
    if (this.startTs === MAX_TS) throw new InvalidTxnError(`invalid txnStartTS: ${this.startTs}`);
    try {
      await this.pipeline.flush(true);
      await this.pipeline.flushWait();
    } catch (e) {
      // the flushed locks are rolled back in the background (client-go cleanup)
      await this.pipeline.flushWait().catch(() => {});
      this.committer.rollback();
      throw e;
    }
    const commitTs = await this.committer.commit();
    return {
      commitTs,
      info: commitTs === 0n ? undefined : { mode: "2pc", asyncCommitFallback: false, onePCFallback: false },
    };
  }

  /**
   * Rolls back: waits for the running flush, then rolls the flushed locks back in the
   * background (broadcasting the rollback to every store first).
   */
  override async rollback(): Promise<void> {
    const wasActive = this.state === "active";
    await super.rollback();
    if (!wasActive) return;
    await this.pipeline.flushWait().catch(() => {});
    this.committer.rollback();
  }

  /** Refused: a pipelined buffer cannot be iterated (client-go). */
  override async scan(_s: KeyInput, _e: KeyInput, _l: number, _o?: TxnScanOptions): Promise<KvPair[]> {
    throw new PipelinedUnsupportedError("scan");
  }

  /** Refused: a pipelined buffer cannot be iterated (client-go). */
  override iterate(_s: KeyInput, _e: KeyInput, _o?: TxnScanOptions): AsyncGenerator<KvPair, void, undefined> {
    throw new PipelinedUnsupportedError("iterate");
  }

  /** Refused: a pipelined buffer cannot be iterated (client-go). */
  override iterateReverse(
    _s: KeyInput,
    _e: KeyInput,
    _o?: TxnScanOptions,
  ): AsyncGenerator<KvPair, void, undefined> {
    throw new PipelinedUnsupportedError("iterateReverse");
  }

  /**
   * Marks `keys` locked, as an optimistic transaction does: the flush writes a Lock record for
   * each key this transaction does not write, so a concurrent writer of it conflicts. No RPC.
   */
  override async lockKeys(keys: readonly KeyInput[], options: LockOptions = {}): Promise<void> {
    this.markLocked(keys, options);
  }

  /** {@link lockKeys} then {@link get}. */
  override async getForUpdate(key: KeyInput, options: LockOptions = {}): Promise<Buffer | undefined> {
    this.markLocked([key], options);
    return this.get(key, { signal: options.signal });
  }

  /** {@link lockKeys} then {@link batchGet}. */
  override async batchGetForUpdate(
    keys: readonly KeyInput[],
    options: LockOptions = {},
  ): Promise<Array<Buffer | undefined>> {
    this.markLocked(keys, options);
    return this.batchGet(keys, { signal: options.signal });
  }

  private markLocked(keys: readonly KeyInput[], options: LockOptions): void {
    this.checkActive();
    // client-go refuses share mode in a pipelined transaction
    if (checkLockOptions(options).shared) throw new SharedLockInPipelinedTxnError();
    for (const k of toKeys(keys)) this.pipeline.updateFlags(k, [FlagsOp.setKeyLocked]);
  }
}
