// TxnClient: the transactional API (client-go txnkv.Client / tikv.KVStore Begin, GetSnapshot,
// CurrentTimestamp, GetLockResolver), and runTransaction, which retries a whole transaction with
// a new start ts on retryable failures (never replaying its old writes).

import { recorderFor, type TxnRecorder } from "../actors/observe/txn-recorder.js";
import { resourceTagInterceptor } from "../actors/request/resource-tag.js";
import { cloneCommitDetails } from "../actors/runtime/exec-details.js";
import type { CommitProtocol } from "../actors/runtime/metrics-sink.js";
import type { CommitInput, Committer } from "../actors/txn/committer.js";
import type { LockResolver } from "../actors/txn/lock-resolver.js";
import { GLOBAL_SCOPE } from "../actors/txn/min-safe-ts.js";
import { buildMutations, checkSharedLockPrimary } from "../actors/txn/mutations.js";
import { logIfSlow } from "../actors/txn/slow-txn-log.js";
import {
  type ReplicaReadAdjuster,
  SnapshotReader,
  type SnapshotReadOptions,
  type StaleReadAgo,
} from "../actors/txn/snapshot-reader.js";
import type { TxnRuntime } from "../actors/txn/txn-runtime.js";
import { InvalidArgumentError, TikvError } from "../errors/base.js";
import { AbortedError, TimeoutError } from "../errors/server.js";
import { InvalidTxnError, ResultUndeterminedError, WriteConflictInLatchError } from "../errors/txn.js";
import type { KeyInput } from "../kv/key.js";
import { hasLocked } from "../kv/memdb/key-flags.js";
import type { MemDb } from "../kv/memdb/memdb.js";
import { checkPositiveTs, MAX_TS } from "../kv/timestamp.js";
import { type Context, DiskFullOpt } from "../proto/kvrpcpb.js";
import { checkZone } from "./client-config.js";
import { type DeleteRangeOptions, type DeleteRangeResult, txnDeleteRange } from "./delete-range.js";
import { checkInterceptor, composeInterceptors } from "./interceptor.js";
import { ASSERTION_LEVEL, assertionLevelOf } from "./internal/assertion-level.js";
import { newControl } from "./internal/control.js";
import { checkPositiveInt } from "./internal/validate.js";
import type { CallOptions } from "./options.js";
import { checkSecondsAgo, type OracleHost, staleTimestamp, validateReadTs } from "./oracle.js";
import {
  checkPipelinedOptions,
  createPipelinedTransaction,
  type PipelinedOptions,
  type PipelinedTransaction,
} from "./pipelined-transaction.js";
import { RangeTaskRunner, type RangeTaskRunnerOptions } from "./range-task.js";
import { Snapshot, type SnapshotHost } from "./snapshot.js";
import { StaleReadTransaction } from "./stale-read-transaction.js";
import {
  type CommitProtocolOptions,
  type LockRequest,
  Transaction,
  type TransactionHost,
  type TxnSizeLimits,
} from "./transaction.js";

/** Options of {@link TxnClient.begin}. */
export interface BeginOptions extends SnapshotReadOptions, TxnSizeLimits, CommitProtocolOptions {
  /**
   * A pessimistic transaction: keys are locked on TiKV as they are read for update
   * ({@link Transaction.lockKeys} / {@link Transaction.getForUpdate}), so its commit cannot
   * meet a write conflict on them. Default false (optimistic).
   */
  pessimistic?: boolean;
  /**
   * Pipelined DML (client-go WithPipelinedTxn): the buffer is flushed to TiKV while the
   * transaction runs, so it may write millions of keys; `true` takes client-go's defaults. The
   * transaction is a {@link PipelinedTransaction}; it cannot be pessimistic or scan, its
   * lockKeys only marks keys (as optimistic transactions do), and async commit / 1PC are off.
   */
  pipelined?: boolean | PipelinedOptions;
  /** Use this start ts instead of a fresh one from PD (client-go WithStartTS). */
  startTs?: bigint;
  /** Cancels fetching the start ts. */
  signal?: AbortSignal;
  /**
   * Record the transaction's path (states, RPCs and their outcomes, backoffs, locks met, timings)
   * for {@link Transaction.trace}; a failed commit's error then carries it too (`traceOf(error)`).
   * Default false (nothing is recorded).
   */
  trace?: boolean;
}

/** Options of {@link TxnClient.runTransaction}. */
export interface RunTransactionOptions extends BeginOptions {
  /** Attempts in total, the first included (default 10). */
  maxAttempts?: number;
  /** First retry delay in ms (default 10), doubled per attempt up to `maxBackoffMs`, with jitter. */
  backoffMs?: number;
  /** Largest retry delay in ms (default 1000). */
  maxBackoffMs?: number;
  /** Gives up (TimeoutError) after this many ms in total. */
  timeoutMs?: number;
  /** Called before each retry with the error that caused it. */
  onRetry?: (error: Error, attempt: number) => void;
}

/** Options of {@link TxnClient.getMinSafeTs}. */
export interface MinSafeTsOptions {
  /** The min over the stores labelled zone=`zone` only (default: every store, "global"). */
  zone?: string;
  /** Ask every store now instead of returning the value of the last background round. */
  refresh?: boolean;
}

/** The client parts the transactional API uses. */
export interface TxnHost extends SnapshotHost {
  /** @internal */
  readonly rt: TxnRuntime;
}

const DEFAULT_LIMITS: Required<TxnSizeLimits> = {
  entrySizeLimit: 6 * 1024 * 1024,
  totalSizeLimit: 100 * 1024 * 1024,
};

/**
 * The transactional API. Get it from {@link TikvClient.txn}.
 *
 * @example
 * ```ts
 * const txnClient = client.txn();
 * await txnClient.runTransaction(async (txn) => {
 *   const n = Number((await txn.get("counter"))?.toString() ?? "0");
 *   txn.set("counter", String(n + 1));
 * });
 * ```
 */
export class TxnClient {
  private readonly committer: TransactionHost;
  // a pessimistic transaction's committer exists from its first lock (its TTL manager guards them)
  private readonly pessimisticCommitters = new WeakMap<Transaction, Committer>();

  /** @internal use TikvClient.txn */
  constructor(private readonly host: TxnHost) {
    this.committer = {
      commit: (txn, buffer, signal) =>
        logIfSlow(this.host.rt.deps.slowTxnLog, txn, buffer, this.commitBuffer(txn, buffer, signal)),
      pessimistic: {
        lock: (txn, keys, opts, signal) => this.lockFor(txn, keys, opts, signal),
        timestamp: () => this.host.rt.getTimestamp(),
        release: async (txn, keys, forUpdateTs) => {
          const c = this.pessimisticCommitters.get(txn);
          if (!c) return;
          const metrics = this.host.rt.deps.metrics;
          const t0 = metrics.now();
          await c.rollback(keys, forUpdateTs);
          metrics.observeTxnCmd("rollback", t0);
        },
        control: (txn, create) => (create ? this.committerFor(txn) : this.pessimisticCommitters.get(txn)),
      },
    };
  }

  /**
   * Deletes every version of every key in [start, end) at once, region by region (client-go
   * DeleteRangeTask): no transaction, no snapshot isolation, no undo. Resolves with the number of
   * regions done. `notifyOnly` deletes nothing (the raft notification before
   * {@link TikvClient.unsafeDestroyRange}). `end` may be omitted (= the keyspace's end) only by
   * a client with a keyspace: TiKV cannot delete up to +infinity (InvalidArgumentError).
   *
   * @example
   * ```ts
   * const { completedRegions } = await client.txn().deleteRange("t1_", "t1`", { concurrency: 4 });
   * ```
   */
  deleteRange(start: KeyInput, end?: KeyInput, options?: DeleteRangeOptions): Promise<DeleteRangeResult> {
    this.host.checkOpen();
    return txnDeleteRange(this.host.rt, start, end, options);
  }

  /**
   * A range task runner over this client's regions (client-go rangetask.NewRangeTaskRunner).
   *
   * @example
   * ```ts
   * const runner = client.txn().rangeTaskRunner({ concurrency: 4 });
   * await runner.runOnRange("a", "z", async (range) => ({ completedRegions: 1, failedRegions: 0 }));
   * ```
   */
  rangeTaskRunner(options?: RangeTaskRunnerOptions): RangeTaskRunner {
    this.host.checkOpen();
    return new RangeTaskRunner(this.host.rt, options);
  }

  /** The client's lock resolver (client-go GetLockResolver). */
  get lockResolver(): LockResolver {
    return this.host.rt.resolver;
  }

  /**
   * A fresh timestamp from PD (client-go CurrentTimestamp), retried for up to 15 s.
   *
   * @example
   * ```ts
   * const ts = await txnClient.currentTimestamp();
   * ```
   */
  async currentTimestamp(options?: Pick<CallOptions, "signal">): Promise<bigint> {
    this.host.checkOpen();
    return this.host.rt.getTimestamp(options?.signal);
  }

  /**
   * Begins an optimistic transaction at a fresh start ts (or `options.startTs`). With
   * `staleRead` (`true` with a `startTs`, or `{ secondsAgo }`) it is a read-only
   * {@link StaleReadTransaction} whose reads any replica may serve (see {@link snapshot}).
   *
   * @example
   * ```ts
   * const txn = await txnClient.begin({ priority: "high" });
   * txn.set("k", "v");
   * await txn.commit();
   * const past = await txnClient.begin({ staleRead: { secondsAgo: 30 } });
   * ```
   */
  begin(options: BeginOptions & { pipelined: true | PipelinedOptions }): Promise<PipelinedTransaction>;
  begin(options: BeginOptions & { staleRead: true | StaleReadAgo }): Promise<StaleReadTransaction>;
  begin(options?: BeginOptions): Promise<Transaction>;
  async begin(options: BeginOptions = {}): Promise<Transaction> {
    this.host.checkOpen();
    checkBeginOptions(options);
    const startTs = options.staleRead
      ? await this.staleReadTs(options.startTs, options.staleRead, "startTs", options.signal)
      : (options.startTs ?? (await this.host.rt.getTimestamp(options.signal)));
    const limits = {
      entrySizeLimit: options.entrySizeLimit ?? DEFAULT_LIMITS.entrySizeLimit,
      totalSizeLimit: options.totalSizeLimit ?? DEFAULT_LIMITS.totalSizeLimit,
    };
    const protocol: CommitProtocolOptions = {
      ...pickCommitHooks(options),
      assertionLevel: options.assertionLevel ?? "off",
      asyncCommit: options.asyncCommit ?? false,
      onePC: options.onePC ?? false,
      causalConsistency: options.causalConsistency ?? false,
    };
    // pipelined DML: its own buffer and committer (src/api/pipelined-transaction.ts)
    const tuning = checkPipelinedOptions(options);
    if (tuning) {
      const recorder = recorderFor(this.host.rt.deps.observe, options.trace ?? false, startTs, "pipelined");
      recorder?.begin(false, false);
      const snapshot = this.newSnapshot(startTs, options, recorder);
      return createPipelinedTransaction({
        rt: this.host.rt,
        snapshot,
        limits,
        protocol,
        tuning,
        writeContext: writeContextOf,
        recorder,
      });
    }
    const pessimistic = options.pessimistic ?? false;
    // observed (someone listens on client.observe() / client.events) or traced only; made first
    // so that the transaction's reads are recorded too
    const rec = recorderFor(
      this.host.rt.deps.observe,
      options.trace ?? false,
      startTs,
      pessimistic ? "pessimistic" : "optimistic",
    );
    rec?.begin(protocol.asyncCommit ?? false, protocol.onePC ?? false);
    // a stale read is read-only: its writes and locks are refused at once
    const txn = new (options.staleRead ? StaleReadTransaction : Transaction)(
      this.committer,
      this.newSnapshot(startTs, options, rec),
      limits,
      protocol,
      pessimistic,
    );
    txn.recorder = rec;
    txn.snapshotAt = async (ts) => this.newSnapshot(ts, options, rec);
    return txn;
  }

  /**
   * A read-only snapshot at `ts` (default: a fresh timestamp). With `staleRead: true` its reads
   * may be served by any replica at `ts` (which must then be given); with
   * `staleRead: { secondsAgo }` the ts is picked as of that many seconds ago (no `ts` then). A
   * stale read's ts must not be in the future (FutureTsReadError) nor "latest"
   * (LatestStaleReadError).
   *
   * @example
   * ```ts
   * const snap = await txnClient.snapshot();
   * console.log(await snap.get("k"));
   * const old = await txnClient.snapshot(undefined, { staleRead: { secondsAgo: 5 } });
   * const near = await txnClient.snapshot(undefined, { replicaRead: "mixed", matchStoreLabels: { zone: "z1" } });
   * ```
   */
  async snapshot(ts?: bigint, options: SnapshotReadOptions = {}): Promise<Snapshot> {
    this.host.checkOpen();
    checkReadOptions(options);
    if (ts !== undefined) checkPositiveTs(ts, "ts");
    if (options.staleRead)
      return this.newSnapshot(await this.staleReadTs(ts, options.staleRead, "ts"), options);
    return this.newSnapshot(ts ?? (await this.host.rt.getTimestamp()), options);
  }

  /**
   * The min safe ts of the cluster (client-go GetMinSafeTS): the smallest safe ts over every
   * TiKV store (or over the stores of one `zone`), below which stale reads are served by any
   * replica. 0 while unknown (a store never answered, or none has resolved anything yet); a
   * store answering 0 is skipped. Kept by a background round every 2 s, started by the first
   * call (which waits for its first round) and stopped when the client closes.
   *
   * @example
   * ```ts
   * const safe = await txnClient.getMinSafeTs();
   * const snap = await txnClient.snapshot(safe, { staleRead: true }); // no replica lags it
   * ```
   */
  async getMinSafeTs(options: MinSafeTsOptions = {}): Promise<bigint> {
    this.host.checkOpen();
    if (options === null || typeof options !== "object")
      throw new InvalidArgumentError("must be an object", "options");
    const zone = checkZone(options.zone);
    if (options.refresh !== undefined && typeof options.refresh !== "boolean") {
      throw new InvalidArgumentError("must be a boolean", "refresh");
    }
    return this.host.rt.minSafeTs.get(zone ?? GLOBAL_SCOPE, options.refresh ?? false);
  }

  // the read ts of a stale read: the ts given, or the oracle's stale ts; never in the future
  private async staleReadTs(
    given: bigint | undefined,
    spec: true | StaleReadAgo,
    argument: string,
    signal?: AbortSignal,
  ): Promise<bigint> {
    const oracle: OracleHost = { pd: this.host.rt.deps.pd, checkOpen: this.host.checkOpen };
    let ts: bigint;
    if (spec === true) {
      if (given === undefined) {
        throw new InvalidArgumentError(
          "staleRead: true reads at a ts you give; or use staleRead: { secondsAgo }",
          argument,
        );
      }
      ts = given;
    } else {
      if (given !== undefined) {
        throw new InvalidArgumentError("give either a ts or staleRead: { secondsAgo }, not both", argument);
      }
      ts = await staleTimestamp(oracle, spec.secondsAgo, signal);
    }
    await validateReadTs(oracle, ts, { isStaleRead: true, signal });
    return ts;
  }

  /**
   * Runs `fn` in a transaction and commits it. On a retryable failure (write conflict, a lock
   * that could not be resolved in time, region errors past the retry layer...) the transaction
   * is dropped and `fn` runs again in a NEW transaction with a new start ts: `fn` must do all its
   * reads and writes through the transaction it gets, and have no other side effects.
   * Non-retryable errors and ResultUndeterminedError (the commit may have happened) are thrown
   * at once. Resolves with what `fn` returned.
   *
   * @example
   * ```ts
   * await txnClient.runTransaction(async (txn) => {
   *   const [a, b] = await txn.batchGet(["acct:a", "acct:b"]);
   *   txn.set("acct:a", String(Number(a) - 10));
   *   txn.set("acct:b", String(Number(b) + 10));
   * }, { maxAttempts: 20 });
   * ```
   */
  async runTransaction<T>(
    fn: (txn: Transaction) => Promise<T>,
    options: RunTransactionOptions = {},
  ): Promise<T> {
    if (typeof fn !== "function") throw new InvalidArgumentError("must be a function", "fn");
    const maxAttempts = checkPositiveInt(options.maxAttempts ?? 10, "maxAttempts");
    const base = checkPositiveInt(options.backoffMs ?? 10, "backoffMs");
    const cap = checkPositiveInt(options.maxBackoffMs ?? 1000, "maxBackoffMs");
    const deadline =
      options.timeoutMs !== undefined
        ? Date.now() + checkPositiveInt(options.timeoutMs, "timeoutMs")
        : Infinity;
    const signal = options.signal;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw new AbortedError(signal.reason);
      if (Date.now() >= deadline) throw new TimeoutError("runTransaction", options.timeoutMs ?? 0);
      const txn = await this.begin(options);
      let result: T;
      try {
        result = await fn(txn);
        if (txn.state === "active") await txn.commit();
        // client-go TxnRetry: the runs before this one
        const details = txn.commitDetails;
        if (details !== undefined) details.txnRetry = attempt - 1;
        return result;
      } catch (e) {
        // keys an aggressive session still holds are released with the rest
        if (txn.isInAggressiveLockingMode && txn.state === "active") txn.cancelAggressiveLocking();
        if (txn.state === "active") await txn.rollback();
        if (!isRetryable(e) || attempt >= maxAttempts) throw e;
        options.onRetry?.(e as Error, attempt);
        const ms = Math.min(cap, base * 2 ** (attempt - 1));
        await sleep(Math.floor(ms / 2 + Math.random() * (ms / 2)), deadline, signal);
      }
    }
  }

  // the pessimistic lock path: the transaction's committer (created at its first lock) locks
  private async lockFor(
    txn: Transaction,
    keys: Buffer[],
    opts: LockRequest,
    signal: AbortSignal | undefined,
  ) {
    this.host.checkOpen();
    const c = this.committerFor(txn);
    const metrics = this.host.rt.deps.metrics;
    const t0 = metrics.now();
    const ctl = newControl({ signal, execDetails: opts.execDetails }, 0, 20_000, metrics);
    ctl.interceptor = composeInterceptors(txn.snapshot.reader.options.interceptor, txn.recorder?.interceptor);
    const locked = c.lock(
      {
        keys,
        forUpdateTs: opts.forUpdateTs,
        isFirstLock: opts.isFirstLock,
        lockWaitMs: opts.lockWaitMs,
        returnValues: opts.returnValues,
        checkExistence: opts.checkExistence,
        lockOnlyIfExists: opts.lockOnlyIfExists,
        shared: opts.shared,
        forceLock: opts.forceLock ?? false,
        ownsPrimary: opts.ownsPrimary ?? false,
        deadlineMs: opts.deadlineMs,
        presumedAbsent: opts.presumedAbsent,
      },
      ctl,
    );
    return metrics.sink ? locked.finally(() => metrics.observeTxnCmd("lock_keys", t0)) : locked;
  }

  // a pessimistic transaction's committer, made at its first lock
  private committerFor(txn: Transaction): Committer {
    let c = this.pessimisticCommitters.get(txn);
    if (!c) {
      c = this.host.rt.newCommitter(
        {
          startTs: txn.startTs,
          mutations: [],
          primaryIndex: -1,
          sizeBytes: 0,
          startedAtMs: txn.startedAt,
          contextFields: writeContextOf(txn),
          ...commitOptionsOf(txn),
          pessimistic: true,
        },
        txn.recorder,
      );
      this.pessimisticCommitters.set(txn, c);
    }
    return c;
  }

  /** Resolves when the background work of finished commits (secondaries, cleanup) is done. */
  whenIdle(): Promise<void> {
    return this.host.rt.whenIdle();
  }

  // `recorder`: that of the transaction the snapshot reads for, when it is observed or traced
  private newSnapshot(ts: bigint, options: SnapshotReadOptions, recorder?: TxnRecorder): Snapshot {
    const rt = this.host.rt;
    const reader = new SnapshotReader(
      {
        sender: rt.sender,
        resolver: recorder ? recorder.resolver(rt.resolver) : rt.resolver,
        checkVisibility: (t) => (t === MAX_TS ? Promise.resolve() : rt.safePoint.check(t)),
      },
      ts,
      withTagger(
        options.replicaReadAdjuster
          ? { ...options, replicaReadAdjuster: checked(options.replicaReadAdjuster) }
          : options,
      ),
    );
    return new Snapshot(this.host, reader, recorder);
  }

  // the one place a commit that succeeded is counted: protocol, duration since `t0`, size
  private countCommitted(
    mode: CommitProtocol,
    t0: number,
    built: { mutations: readonly unknown[]; sizeBytes: number },
  ): void {
    const metrics = this.host.rt.deps.metrics;
    metrics.countCommit(mode);
    if (!metrics.sink) return;
    metrics.observeTxnCmd("commit", t0);
    metrics.observeTxnWrite(built.mutations.length, built.sizeBytes);
  }

  private async commitBuffer(txn: Transaction, buffer: MemDb, signal?: AbortSignal) {
    this.host.checkOpen();
    const t0 = this.host.rt.deps.metrics.now();
    const built = buildMutations(buffer, {
      assertionLevel: assertionLevelOf(txn),
      pessimistic: txn.pessimistic,
      startTs: txn.startTs,
      kvFilter: txn.protocol.kvFilter,
    });
    const held = this.pessimisticCommitters.get(txn);
    if (built.mutations.length === 0) {
      if (held) await held.rollback([], txn.forUpdateTs); // nothing to write: just end it
      return { commitTs: 0n, info: undefined };
    }
    // MaxUint64 reads the latest data; it cannot be a writer's start ts (client-go: invalid txnStartTS)
    if (txn.startTs === MAX_TS) throw new InvalidTxnError(`invalid txnStartTS: ${txn.startTs}`);
    if (held) {
      let primaryIndex: number;
      try {
        primaryIndex = pessimisticPrimaryIndex(held, built);
      } catch (e) {
        // refused before any write: the transaction ends here, so its locks are released now
        // rather than heartbeated until they expire
        await held.rollback(lockedKeysOf(buffer), txn.forUpdateTs).catch(() => {});
        throw e;
      }
      txn.recorder?.commitStart(keysOf(built.mutations), primaryIndex);
      const commitTs = await noteInfo(
        txn,
        held,
        held.commit({
          mutations: built.mutations,
          primaryIndex,
          sizeBytes: built.sizeBytes,
          pessimisticActions: built.pessimisticActions,
          forUpdateTs: txn.forUpdateTs,
          forUpdateTsChecks: txn.forUpdateTsChecks,
          assertionLevel: assertionLevelOf(txn),
          deferredError: built.assertionError,
          signal,
        }),
      );
      this.countCommitted(held.info.mode, t0, built);
      return { commitTs, info: { ...held.info }, details: cloneCommitDetails(held.details) };
    }
    // local latches (client-go KVTxn.Commit), optimistic commits only: this client's commits on
    // shared keys go one at a time, and a stale one fails before any RPC; always released
    const latches = txn.pessimistic ? undefined : this.host.rt.latches;
    const latchT0 = latches ? performance.now() : 0;
    const latch = latches ? await latches.lock(txn.startTs, keysOf(built.mutations)) : undefined;
    const localLatchTimeMs = latches ? performance.now() - latchT0 : 0;
    let latchCommitTs = 0n;
    try {
      if (latch?.isStale) throw new WriteConflictInLatchError(txn.startTs);
      const primaryIndex = built.primaryIndex >= 0 ? built.primaryIndex : 0;
      checkSharedLockPrimary(built, primaryIndex);
      const committer = this.host.rt.newCommitter(
        {
          startTs: txn.startTs,
          mutations: built.mutations,
          primaryIndex,
          sizeBytes: built.sizeBytes,
          startedAtMs: txn.startedAt,
          contextFields: writeContextOf(txn),
          ...commitOptionsOf(txn),
          signal,
        },
        txn.recorder,
      );
      txn.recorder?.commitStart(keysOf(built.mutations), primaryIndex);
      const commitTs = await noteInfo(txn, committer, committer.commit());
      latchCommitTs = commitTs;
      this.countCommitted(committer.info.mode, t0, built);
      const details = cloneCommitDetails(committer.details);
      details.localLatchTimeMs = localLatchTimeMs;
      return { commitTs, info: { ...committer.info }, details };
    } finally {
      if (latch) latches?.unlock(latch, latchCommitTs);
    }
  }
}

const DISK_FULL_OPT: Record<NonNullable<CommitProtocolOptions["diskFullOpt"]>, DiskFullOpt> = {
  notAllowed: DiskFullOpt.NotAllowedOnFull,
  allowedOnAlmostFull: DiskFullOpt.AllowedOnAlmostFull,
  allowedOnAlreadyFull: DiskFullOpt.AllowedOnAlreadyFull,
};

// the Context fields of a transaction's writes: its read options that apply to writes, plus
// the write-only ones
function writeContextOf(txn: Transaction): Partial<Context> | undefined {
  const base = txn.snapshot.reader.writeContext();
  const p = txn.protocol;
  if (p.diskFullOpt === undefined && p.txnSource === undefined) return base;
  return {
    ...base,
    ...(p.diskFullOpt !== undefined ? { diskFullOpt: DISK_FULL_OPT[p.diskFullOpt] } : {}),
    ...(p.txnSource !== undefined ? { txnSource: p.txnSource } : {}),
  };
}

// the primary of a pessimistic commit: the first key locked, as every lock points to it
function pessimisticPrimaryIndex(held: Committer, built: ReturnType<typeof buildMutations>): number {
  const primary = held.primary;
  const idx = primary ? built.mutations.findIndex((m) => m.key.equals(primary)) : -1;
  // committing without the primary among the writes would commit the wrong key (never
  // expected: a failed lock call gives its primary up)
  if (primary && idx < 0) {
    throw new InvalidTxnError(`primary ${primary.toString("hex")} holds none of the transaction's writes`);
  }
  const primaryIndex = idx >= 0 ? idx : Math.max(0, built.primaryIndex);
  checkSharedLockPrimary(built, primaryIndex);
  return primaryIndex;
}

function lockedKeysOf(buffer: MemDb): Buffer[] {
  const out: Buffer[] = [];
  for (const e of buffer.iterateWithFlags()) if (hasLocked(e.flags)) out.push(e.key);
  return out;
}

// what the committer takes of a transaction's commit options (the hooks and the filter stay here)
function commitOptionsOf(txn: Transaction): Partial<CommitInput> {
  const p = txn.protocol;
  return {
    asyncCommit: p.asyncCommit,
    onePC: p.onePC,
    causalConsistency: p.causalConsistency,
    assertionLevel: assertionLevelOf(txn),
    prewriteEncounterLockPolicy: p.prewriteEncounterLockPolicy,
    commitWaitUntilTs: p.commitWaitUntilTs,
    commitWaitTimeoutMs: p.commitWaitTimeoutMs,
    lifecycleHooks: p.lifecycleHooks,
    interceptor: txn.snapshot.reader.options.interceptor,
  };
}

// an observed transaction's recorder learns the protocol and fallbacks however the commit ends
function noteInfo(txn: Transaction, c: Committer, p: Promise<bigint>): Promise<bigint> {
  const rec = txn.recorder;
  // not recorded (the common case): the commit's own promise, no extra step
  if (!rec) return p;
  return p.finally(() => rec.noteInfo(c.info));
}

// the commit options that are passed through as given (validated by checkBeginOptions)
function pickCommitHooks(o: BeginOptions): CommitProtocolOptions {
  const out: CommitProtocolOptions = {};
  if (o.diskFullOpt !== undefined) out.diskFullOpt = o.diskFullOpt;
  if (o.txnSource !== undefined) out.txnSource = o.txnSource;
  if (o.prewriteEncounterLockPolicy !== undefined)
    out.prewriteEncounterLockPolicy = o.prewriteEncounterLockPolicy;
  if (o.kvFilter !== undefined) out.kvFilter = o.kvFilter;
  if (o.onCommitted !== undefined) out.onCommitted = o.onCommitted;
  if (o.lifecycleHooks !== undefined) out.lifecycleHooks = o.lifecycleHooks;
  if (o.commitWaitUntilTs !== undefined) out.commitWaitUntilTs = o.commitWaitUntilTs;
  if (o.commitWaitTimeoutMs !== undefined) out.commitWaitTimeoutMs = o.commitWaitTimeoutMs;
  return out;
}

function checkLifecycleHooks(h: unknown): void {
  if (h === undefined) return;
  if (h === null || typeof h !== "object")
    throw new InvalidArgumentError("must be an object", "lifecycleHooks");
  for (const k of ["before", "after"] as const) {
    const f = (h as Record<string, unknown>)[k];
    if (f !== undefined && typeof f !== "function") {
      throw new InvalidArgumentError("must be a function", `lifecycleHooks.${k}`);
    }
  }
}

// the keys a commit latches (client-go: every mutation's key)
function keysOf(mutations: ReadonlyArray<{ key: Buffer }>): Buffer[] {
  return mutations.map((m) => m.key);
}

/** True when running the transaction again (with a new start ts) may succeed. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof ResultUndeterminedError) return false;
  return e instanceof TikvError && e.isRetryable;
}

function sleep(ms: number, deadline: number, signal: AbortSignal | undefined): Promise<void> {
  const wait = Math.max(0, Math.min(ms, deadline - Date.now()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, wait);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(new AbortedError(signal?.reason));
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const ISOLATIONS = new Set(["SI", "RC", "RCCheckTS"]);
const REPLICA_READS = new Set(["leader", "follower", "learner", "mixed", "preferLeader"]);
const PRIORITIES = new Set(["normal", "low", "high"]);

function checkReadOptions(o: SnapshotReadOptions): void {
  if (o === null || typeof o !== "object") throw new InvalidArgumentError("must be an object", "options");
  if (o.interceptor !== undefined) checkInterceptor(o.interceptor, "interceptor");
  if (o.isolationLevel !== undefined && !ISOLATIONS.has(o.isolationLevel)) {
    throw new InvalidArgumentError(
      `must be "SI", "RC" or "RCCheckTS", got ${String(o.isolationLevel)}`,
      "isolationLevel",
    );
  }
  if (o.priority !== undefined && !PRIORITIES.has(o.priority)) {
    throw new InvalidArgumentError(
      `must be "normal", "low" or "high", got ${String(o.priority)}`,
      "priority",
    );
  }
  if (o.scanBatchSize !== undefined && (!Number.isInteger(o.scanBatchSize) || o.scanBatchSize < 0)) {
    throw new InvalidArgumentError(
      `must be a non-negative integer, got ${String(o.scanBatchSize)}`,
      "scanBatchSize",
    );
  }
  if (o.kvReadTimeoutMs !== undefined && (!Number.isInteger(o.kvReadTimeoutMs) || o.kvReadTimeoutMs < 0)) {
    throw new InvalidArgumentError(
      `must be a non-negative integer, got ${String(o.kvReadTimeoutMs)}`,
      "kvReadTimeoutMs",
    );
  }
  if (o.taskId !== undefined && typeof o.taskId !== "bigint") {
    throw new InvalidArgumentError("must be a bigint", "taskId");
  }
  checkReplicaOptions(o);
}

// replica / stale read options (client-go SetReplicaRead, SetMatchStoreLabels, WithMatchStores,
// SetIsStalenessReadOnly)
// the tagger rides in the snapshot's (and so its transaction's) interceptor chain, innermost:
// every read, lock and commit request it sends is tagged
function withTagger(o: SnapshotReadOptions): SnapshotReadOptions {
  const tagger = o.resourceGroupTagger;
  if (tagger === undefined) return o;
  return { ...o, interceptor: composeInterceptors(o.interceptor, resourceTagInterceptor(tagger)) };
}

// an adjuster whose answers are checked as the options they stand for (a bad one fails the read)
function checked(adjust: ReplicaReadAdjuster): ReplicaReadAdjuster {
  return (keys) => {
    const a = adjust(keys);
    if (a === null || typeof a !== "object" || a.replicaRead === undefined) {
      throw new InvalidArgumentError(
        "must return { replicaRead, matchStoreLabels?, matchStores? }",
        "replicaReadAdjuster",
      );
    }
    checkReplicaOptions({
      replicaRead: a.replicaRead,
      matchStoreLabels: a.matchStoreLabels,
      matchStores: a.matchStores,
    });
    return a;
  };
}

function checkReplicaOptions(o: SnapshotReadOptions): void {
  if (o.replicaRead !== undefined && !REPLICA_READS.has(o.replicaRead)) {
    throw new InvalidArgumentError(
      `must be "leader", "follower", "learner", "mixed" or "preferLeader", got ${String(o.replicaRead)}`,
      "replicaRead",
    );
  }
  const labels: unknown = o.matchStoreLabels;
  if (labels !== undefined) {
    if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
      throw new InvalidArgumentError("must be an object of label name to value", "matchStoreLabels");
    }
    for (const [k, v] of Object.entries(labels)) {
      if (k === "" || typeof v !== "string") {
        throw new InvalidArgumentError(
          `label ${JSON.stringify(k)} must have a string value`,
          "matchStoreLabels",
        );
      }
    }
  }
  if (o.resourceGroupTagger !== undefined && typeof o.resourceGroupTagger !== "function") {
    throw new InvalidArgumentError("must be a function", "resourceGroupTagger");
  }
  if (o.replicaReadAdjuster !== undefined && typeof o.replicaReadAdjuster !== "function") {
    throw new InvalidArgumentError("must be a function", "replicaReadAdjuster");
  }
  const stores: unknown = o.matchStores;
  if (
    stores !== undefined &&
    (!Array.isArray(stores) || !stores.every((s) => typeof s === "bigint" && s > 0n))
  ) {
    throw new InvalidArgumentError("must be an array of positive bigint store ids", "matchStores");
  }
  const stale: unknown = o.staleRead;
  if (stale !== undefined && typeof stale !== "boolean") {
    if (stale === null || typeof stale !== "object") {
      throw new InvalidArgumentError("must be a boolean or { secondsAgo }", "staleRead");
    }
    checkSecondsAgo((stale as { secondsAgo?: unknown }).secondsAgo, "staleRead.secondsAgo");
  }
}

function checkBeginOptions(o: BeginOptions): void {
  checkReadOptions(o);
  if (o.staleRead) {
    // a stale read neither locks nor writes: TiDB refuses FOR UPDATE and DML in one
    if (o.pessimistic) {
      throw new InvalidArgumentError("a stale-read transaction cannot be pessimistic", "staleRead");
    }
    if (o.pipelined)
      throw new InvalidArgumentError("a stale-read transaction cannot be pipelined", "staleRead");
  }
  checkPipelinedOptions(o);
  if (o.diskFullOpt !== undefined && !Object.hasOwn(DISK_FULL_OPT, o.diskFullOpt)) {
    throw new InvalidArgumentError(
      `must be notAllowed, allowedOnAlmostFull or allowedOnAlreadyFull, got ${String(o.diskFullOpt)}`,
      "diskFullOpt",
    );
  }
  if (
    o.txnSource !== undefined &&
    (typeof o.txnSource !== "bigint" || o.txnSource < 0n || o.txnSource >= 1n << 64n)
  ) {
    throw new InvalidArgumentError("must be a uint64 bigint", "txnSource");
  }
  if (
    o.prewriteEncounterLockPolicy !== undefined &&
    o.prewriteEncounterLockPolicy !== "tryResolve" &&
    o.prewriteEncounterLockPolicy !== "noResolve"
  ) {
    throw new InvalidArgumentError(
      `must be tryResolve or noResolve, got ${String(o.prewriteEncounterLockPolicy)}`,
      "prewriteEncounterLockPolicy",
    );
  }
  if (o.commitWaitUntilTs !== undefined) checkPositiveTs(o.commitWaitUntilTs, "commitWaitUntilTs");
  if (
    o.commitWaitTimeoutMs !== undefined &&
    (typeof o.commitWaitTimeoutMs !== "number" ||
      !Number.isInteger(o.commitWaitTimeoutMs) ||
      o.commitWaitTimeoutMs < 0)
  ) {
    throw new InvalidArgumentError("must be a non-negative integer (ms)", "commitWaitTimeoutMs");
  }
  for (const k of ["kvFilter", "onCommitted"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "function")
      throw new InvalidArgumentError("must be a function", k);
  }
  checkLifecycleHooks(o.lifecycleHooks);
  if (o.assertionLevel !== undefined && !Object.hasOwn(ASSERTION_LEVEL, o.assertionLevel)) {
    throw new InvalidArgumentError(
      `must be off, fast or strict, got ${String(o.assertionLevel)}`,
      "assertionLevel",
    );
  }
  for (const k of ["asyncCommit", "onePC", "causalConsistency", "pessimistic", "trace"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "boolean")
      throw new InvalidArgumentError("must be a boolean", k);
  }
  if (o.startTs !== undefined) checkPositiveTs(o.startTs, "startTs");
  for (const k of ["entrySizeLimit", "totalSizeLimit"] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new InvalidArgumentError(`must be a non-negative integer, got ${String(v)}`, k);
    }
  }
}
