// The committer of one pipelined transaction (client-go twoPhaseCommitter as InitPipelinedMemDB
// sets it up): created at begin, it runs the pipelined statechart and does each phase's I/O as a
// callback that sends the outcome back. The buffer calls `flush` once per generation; `commit`
// and `rollback` end it. Background work (range resolution) is tracked for `whenIdle` from the
// moment the transaction ends.

import { type Actor, createActor, fromCallback, type InspectionEvent } from "xstate";
import { TikvError } from "../../../errors/base.js";
import { ResultUndeterminedError } from "../../../errors/txn.js";
import { nextKey } from "../../../kv/key.js";
import type { MemDb } from "../../../kv/memdb/memdb.js";
import {
  type BroadcastKind,
  type FlushReply,
  newPipelinedSession,
  type PipelinedCommitOutcome,
  type PipelinedEvent,
  type PipelinedSession,
  pipelinedFlushMachine,
} from "../../../machines/pipelined-flush.js";
import {
  type AssertionLevel,
  type Context,
  type Mutation,
  Op,
  type TxnStatus,
} from "../../../proto/kvrpcpb.js";
import type { RpcInterceptor } from "../../request/interceptor.js";
import type { RawRequestSender, RequestControl } from "../../runtime/raw-sender.js";
import type { Tracing } from "../../runtime/tracing.js";
import { backgroundTask, type LifecycleHooks } from "../background-task.js";
import { timestampForCommit } from "../commit-ts.js";
import { DEFAULT_COMMIT_WAIT_TIMEOUT_MS, DEFAULT_LOCK_TTL_MS } from "../committer.js";
import type { LockResolver } from "../lock-resolver.js";
import { buildMutations } from "../mutations.js";
import { type BroadcastDeps, broadcastTxnStatus } from "./broadcast.js";
import { bufferBatchGet } from "./buffer-get.js";
import { commitPrimary } from "./commit-primary.js";
import { flushMutations, PIPELINED_REQUEST_SOURCE } from "./flush.js";
import { keepAlivePipelined } from "./keep-alive.js";
import { pipelinedKnobs } from "./knobs.js";
import { resolveRange } from "./resolve-range.js";

/** client-go defaults of WithDefaultPipelinedTxn. */
export const DEFAULT_FLUSH_CONCURRENCY = 128;
export const DEFAULT_RESOLVE_LOCK_CONCURRENCY = 8;

/** The phases of a pipelined transaction that get a control block. */
export type PipelinedPhase = "flush" | "read" | "commit" | "resolve" | "heartbeat";

/**
 * Backoff budgets (ms) of the phases: a flush 20 s (client-go's flush backoffer), the primary
 * commit 40 s, the range resolution 41 s (CommitSecondaryMaxBackoff), a heartbeat 20 s.
 */
export const PIPELINED_BUDGETS_MS: Record<PipelinedPhase, number> = {
  flush: 20_000,
  read: 20_000,
  commit: 40_000,
  resolve: 41_000,
  heartbeat: 20_000,
};

/** The tuning of a pipelined transaction (client-go PipelinedTxnOptions). */
export interface PipelinedTuning {
  flushConcurrency: number;
  resolveLockConcurrency: number;
  /** Share of the time spent sleeping before flushes, in [0, 1). */
  writeThrottleRatio: number;
}

/** @internal What a pipelined committer needs from the client. */
export interface PipelinedDeps extends BroadcastDeps {
  sender: RawRequestSender;
  resolver: LockResolver;
  getTimestamp: () => Promise<bigint>;
  /** Control blocks of each phase (no deadline; backoff budgets as client-go's). */
  control: (phase: PipelinedPhase, signal?: AbortSignal) => RequestControl;
  track: (p: Promise<void>) => void;
  /** The client's max transaction TTL (ms); pipelined transactions get at least 24 h. */
  maxTxnTtlMs: number;
  inspect?: (ev: InspectionEvent) => void;
  /** OpenTelemetry spans of each flush and of the commit (unset = tracing off, no cost). */
  tracer?: Tracing | undefined;
}

/** The transaction a pipelined committer serves. */
export interface PipelinedInput extends PipelinedTuning {
  startTs: bigint;
  assertionLevel: AssertionLevel;
  /** Context fields of its writes (priority, resource group, disk-full option, txn source...). */
  contextFields: Partial<Context> | undefined;
  /** The commit ts must be above this ts (client-go SetCommitWaitUntilTSO; 0 or absent: none). */
  commitWaitUntilTs?: bigint | undefined;
  /** How long to wait for PD's TSO to pass it (ms, default 1000). */
  commitWaitTimeoutMs?: number | undefined;
  /** Called around each background task (the resolve of the range, each broadcast). */
  lifecycleHooks?: LifecycleHooks | undefined;
  /** The transaction's RPC interceptors (its flushes, commit and cleanup go through them). */
  interceptor?: RpcInterceptor | undefined;
}

/** A shared lock in a pipelined buffer (client-go refuses them). */
export class SharedLockInPipelinedTxnError extends TikvError {
  constructor() {
    super("INVALID_TXN", "shared lock is not supported in pipelined transaction");
  }
}

// The machine is provided once (building one costs far more than running one); each action
// finds its committer through the session.
const owners = new WeakMap<PipelinedSession, PipelinedCommitter>();
const ownerOf = (s: PipelinedSession) => owners.get(s) as PipelinedCommitter;
const providedMachine = pipelinedFlushMachine.provide({
  actions: {
    startFlush: ({ context }) => ownerOf(context.s).onStartFlush(),
    replyFlush: ({ context }, r: FlushReply) => ownerOf(context.s).onReplyFlush(r),
    fetchCommitTs: ({ context }) => ownerOf(context.s).onFetchCommitTs(),
    commitPrimary: ({ context }) => ownerOf(context.s).onCommitPrimary(),
    broadcast: ({ context }, b: BroadcastKind) => ownerOf(context.s).onBroadcast(b),
    startResolve: ({ context }, commit: boolean) => ownerOf(context.s).onStartResolve(commit),
    settle: ({ context }, o: PipelinedCommitOutcome) => ownerOf(context.s).onSettle(o),
    finished: ({ context }) => ownerOf(context.s).onFinished(),
  },
  actors: {
    ttlManager: fromCallback<PipelinedEvent, PipelinedSession>(({ input, sendBack }) =>
      ownerOf(input).keepAlive(sendBack),
    ),
  },
  delays: {
    broadcastGrace: () => pipelinedKnobs.broadcastGraceMs,
  },
});

/** Counters, for tests and traces. */
export interface PipelinedStats {
  flushes: number;
  flushedKeys: number;
  resolvedRegions: number;
  broadcasts: number;
}

/**
 * @internal
 * The committer of one pipelined transaction. `flush` writes one generation (the buffer's flush
 * function); `commit` resolves with the commit ts once the primary is committed; `rollback`
 * starts the cleanup.
 */
export class PipelinedCommitter {
  private readonly session: PipelinedSession;
  private readonly actor: Actor<typeof pipelinedFlushMachine>;
  private primaryKey: Buffer | undefined;
  /** Smallest and largest key flushed (client-go pipelinedStart / pipelinedEnd). */
  private rangeStart: Buffer | undefined;
  private rangeEnd: Buffer | undefined;
  private pending: { generation: number; mutations: Mutation[] } | undefined;
  private flushReply: ((r: FlushReply) => void) | undefined;
  private settleFn: ((o: PipelinedCommitOutcome) => void) | undefined;
  private backgroundDone: (() => void) | undefined;
  private minCommitTs: bigint;
  private quiet = false;
  readonly stats: PipelinedStats = { flushes: 0, flushedKeys: 0, resolvedRegions: 0, broadcasts: 0 };

  constructor(
    private readonly deps: PipelinedDeps,
    private readonly input: PipelinedInput,
  ) {
    this.minCommitTs = input.startTs + 1n;
    this.session = newPipelinedSession(input.startTs, input.writeThrottleRatio);
    owners.set(this.session, this);
    // once only the best-effort "completed" broadcast is left, its timer must not hold the
    // process (the grace period of client-go's goroutine)
    const clock = {
      setTimeout: (fn: (...args: unknown[]) => void, ms: number) => {
        const t = setTimeout(fn, ms);
        if (this.quiet) t.unref?.();
        return t;
      },
      clearTimeout: (t: unknown) => clearTimeout(t as ReturnType<typeof setTimeout>),
    };
    this.actor = createActor(providedMachine, { input: this.session, inspect: deps.inspect, clock });
    this.actor.start();
  }

  /** The primary key (undefined before the first flush with keys). */
  get primary(): Buffer | undefined {
    return this.primaryKey;
  }

  /** The statechart's state (for tests and traces). */
  get state(): unknown {
    return this.actor.getSnapshot().value;
  }

  /** True while the TTL manager runs. */
  get ttlRunning(): boolean {
    // the machine stops the heartbeat child itself (failed flush, commit outcome, rollback)
    const snap = this.actor.getSnapshot();
    return snap.status === "active" && "ttlManager" in snap.children;
  }

  /** The range the flushes wrote, [first, last] (undefined before the first flush). */
  get flushedRange(): { start: Buffer; end: Buffer } | undefined {
    return this.rangeStart && this.rangeEnd ? { start: this.rangeStart, end: this.rangeEnd } : undefined;
  }

  /** The commit ts (0 until committed). */
  get commitTs(): bigint {
    return this.session.commitTs;
  }

  /**
   * Writes generation `generation` of the buffer to TiKV (the buffer's flush function). Rejects
   * when the transaction cannot go on (a conflict, the TTL manager closed...).
   */
  flush(generation: number, db: MemDb): Promise<void> {
    const tracer = this.deps.tracer;
    if (tracer === undefined) return this.flushNow(generation, db);
    const attrs = {
      "tikv.txn.start_ts": this.input.startTs.toString(),
      "tikv.pipelined.generation": generation,
    };
    return tracer.span("pipelinedDML.flush", attrs, () => this.flushNow(generation, db));
  }

  private flushNow(generation: number, db: MemDb): Promise<void> {
    let mutations: Mutation[];
    try {
      mutations = this.mutationsOf(db);
    } catch (e) {
      return Promise.reject(e);
    }
    // only absence checks so far: no key can be the primary yet (client-go refuses the flush)
    if (mutations.length > 0 && this.primaryKey === undefined) {
      return Promise.reject(
        new TikvError("INVALID_TXN", "[pipelined dml] primary key should be set before pipelined flush"),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.flushReply = (r) => (r.ok ? resolve() : reject(r.error));
      this.pending = { generation, mutations };
      this.actor.send({ type: "FLUSH", generation, keys: mutations.length });
    });
  }

  // the mutations of one generation; the first one that is not an absence check becomes the
  // primary, and the written range grows to cover them
  private mutationsOf(db: MemDb): Mutation[] {
    const built = buildMutations(db, {
      assertionLevel: this.input.assertionLevel,
      startTs: this.input.startTs,
    });
    // any key locked in share mode, written or not (client-go)
    if (built.sharedModeKeys > 0) throw new SharedLockInPipelinedTxnError();
    const ms = built.mutations;
    if (ms.length === 0) return ms;
    if (this.primaryKey === undefined) {
      const p = ms.find((m) => m.op !== Op.CheckNotExists);
      if (p) this.primaryKey = Buffer.from(p.key);
    }
    const first = (ms[0] as Mutation).key;
    const last = (ms[ms.length - 1] as Mutation).key;
    if (!this.rangeStart || Buffer.compare(first, this.rangeStart) < 0) this.rangeStart = Buffer.from(first);
    if (!this.rangeEnd || Buffer.compare(last, this.rangeEnd) > 0) this.rangeEnd = Buffer.from(last);
    return ms;
  }

  /** The flushed values of `keys` (TiKV's buffer of this transaction). */
  bufferBatchGet(keys: Buffer[]): Promise<Map<string, Buffer>> {
    return bufferBatchGet(
      this.deps.sender,
      this.input.startTs,
      keys,
      this.deps.control("read"),
      this.input.contextFields,
    );
  }

  /**
   * Commits (every generation must be flushed and waited for): resolves with the commit ts once
   * the primary is committed (0 when nothing reached TiKV); the other locks are resolved in the
   * background. Rejects with the failure, or ResultUndeterminedError.
   */
  commit(): Promise<bigint> {
    const tracer = this.deps.tracer;
    if (tracer === undefined) return this.commitNow();
    const attrs = { "tikv.txn.start_ts": this.input.startTs.toString(), "tikv.txn.protocol": "pipelined" };
    return tracer.span("tikvTxn.Commit", attrs, () => this.commitNow());
  }

  private commitNow(): Promise<bigint> {
    this.trackBackground();
    return new Promise<bigint>((resolve, reject) => {
      this.settleFn = (o) => {
        if (o.kind === "committed") resolve(o.commitTs);
        else if (o.kind === "failed") reject(o.error);
        else
          reject(
            o.error instanceof ResultUndeterminedError
              ? o.error
              : new ResultUndeterminedError({ cause: o.error }),
          );
      };
      this.actor.send({ type: "COMMIT" });
    });
  }

  /** Rolls back (no flush may be running): the flushed locks are resolved in the background. */
  rollback(): void {
    this.trackBackground();
    this.actor.send({ type: "ROLLBACK" });
  }

  private trackBackground(): void {
    if (this.backgroundDone) return;
    this.deps.track(
      new Promise<void>((r) => {
        this.backgroundDone = r;
      }),
    );
  }

  private send(e: PipelinedEvent): void {
    this.actor.send(e);
  }

  // ---- the machine's actions ----

  /** @internal */
  onStartFlush(): void {
    const job = this.pending;
    this.pending = undefined;
    if (!job) return;
    const primary = this.primaryKey as Buffer;
    const stop = new AbortController();
    const ctl = this.deps.control("flush", stop.signal);
    const t0 = Date.now();
    this.stats.flushes++;
    flushMutations(
      this.deps,
      {
        startTs: this.input.startTs,
        generation: job.generation,
        primary,
        mutations: job.mutations,
        assertionLevel: this.input.assertionLevel,
        lockTtlMs: Math.max(DEFAULT_LOCK_TTL_MS, pipelinedKnobs.managedLockTtlMs),
        concurrency: this.input.flushConcurrency,
        contextFields: this.input.contextFields,
      },
      ctl,
      stop,
      () => this.send({ type: "TTL_START" }),
    ).then(
      () => {
        this.stats.flushedKeys += job.mutations.length;
        this.send({ type: "FLUSH_OK", durationMs: Date.now() - t0 });
      },
      (e: unknown) =>
        this.send({ type: "FLUSH_FAILED", error: e instanceof Error ? e : new Error(String(e)) }),
    );
  }

  /** @internal */
  onReplyFlush(r: FlushReply): void {
    const reply = this.flushReply;
    this.flushReply = undefined;
    this.pending = undefined;
    reply?.(r);
  }

  /** @internal */
  onFetchCommitTs(): void {
    const waitUntilTs = this.input.commitWaitUntilTs ?? 0n;
    const ts =
      waitUntilTs === 0n
        ? this.deps.getTimestamp()
        : timestampForCommit(this.deps.getTimestamp, {
            waitUntilTs,
            timeoutMs: this.input.commitWaitTimeoutMs ?? DEFAULT_COMMIT_WAIT_TIMEOUT_MS,
          });
    ts.then(
      (ts) => this.send({ type: "COMMIT_TS", ts }),
      (error: Error) => this.send({ type: "COMMIT_TS_FAILED", error }),
    );
  }

  /** @internal */
  onCommitPrimary(): void {
    void commitPrimary(
      this.deps.sender,
      {
        startTs: this.input.startTs,
        commitTs: this.session.commitTs,
        primary: this.primaryKey as Buffer,
        contextFields: this.input.contextFields,
      },
      this.deps.control("commit"),
    ).then((e) => this.send(e));
  }

  /** @internal */
  onBroadcast(b: BroadcastKind): void {
    const status: TxnStatus = {
      startTs: this.input.startTs,
      // a completed transaction is forgotten by the caches: no min commit ts to keep (client-go)
      minCommitTs: b.completed ? 0n : this.minCommitTs,
      commitTs: b.kind === "committed" ? this.session.commitTs : 0n,
      rolledBack: b.kind === "rolledBack",
      isCompleted: b.completed,
    };
    this.stats.broadcasts++;
    // tracked too: whenIdle covers every background task
    this.deps.track(
      backgroundTask(this.input.lifecycleHooks, () => broadcastTxnStatus(this.deps, status)).then(() => {}),
    );
  }

  /** @internal */
  onStartResolve(commit: boolean): void {
    const range = this.flushedRange;
    const done = (e?: unknown) => {
      this.quiet = true;
      this.backgroundDone?.();
      this.send(
        e === undefined
          ? { type: "RESOLVE_DONE" }
          : { type: "RESOLVE_FAILED", error: e instanceof Error ? e : new Error(String(e)) },
      );
    };
    if (!range) {
      done();
      return;
    }
    backgroundTask(this.input.lifecycleHooks, () =>
      resolveRange(
        this.deps.sender,
        {
          startTs: this.input.startTs,
          commitTs: commit ? this.session.commitTs : 0n,
          start: range.start,
          // the last flushed key is included
          end: nextKey(range.end),
          concurrency: this.input.resolveLockConcurrency,
          contextFields: { ...this.input.contextFields, requestSource: PIPELINED_REQUEST_SOURCE },
        },
        () => this.deps.control("resolve"),
      ),
    ).then(
      (n) => {
        this.stats.resolvedRegions += n;
        done();
      },
      (e: unknown) => done(e),
    );
  }

  /** @internal */
  onSettle(o: PipelinedCommitOutcome): void {
    this.settleFn?.(o);
  }

  /** @internal the machine reached a final state */
  onFinished(): void {
    this.backgroundDone?.();
    queueMicrotask(() => this.actor.stop());
  }

  /** @internal the TTL manager child: heartbeats until stopped, or until it gives up */
  keepAlive(sendBack: (e: PipelinedEvent) => void): () => void {
    const target = {
      startTs: this.input.startTs,
      primary: this.primaryKey as Buffer,
      minCommitTs: this.minCommitTs,
    };
    return keepAlivePipelined(
      {
        sender: this.deps.sender,
        getTimestamp: this.deps.getTimestamp,
        control: () => this.deps.control("heartbeat"),
        broadcast: (s) => {
          this.minCommitTs = s.minCommitTs;
          this.stats.broadcasts++;
          void broadcastTxnStatus(this.deps, s);
        },
        managedLockTtlMs: pipelinedKnobs.managedLockTtlMs,
        maxTtlMs: Math.max(
          pipelinedKnobs.clientMaxTxnTtlMs ?? this.deps.maxTxnTtlMs,
          pipelinedKnobs.maxPipelinedTxnTtlMs,
        ),
      },
      target,
      () => sendBack({ type: "TTL_STOPPED" }),
    );
  }
}
