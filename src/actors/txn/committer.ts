// The committer actor of one transaction (client-go txnkv/transaction/2pc.go twoPhaseCommitter):
// runs the committer statechart, doing each phase's RPCs as callbacks that send the outcome back.
// Created when a transaction commits and stopped once its background work (secondaries or
// cleanup) is over.

import { type Actor, createActor, fromCallback, type InspectionEvent } from "xstate";
import { TikvError } from "../../errors/base.js";
import { extractKeyError } from "../../errors/extract.js";
import { AbortedError } from "../../errors/server.js";
import { SharedLockMisuseError } from "../../errors/shared-lock.js";
import {
  conflictWithLock,
  KeyAlreadyExistsError,
  KeyLockedError,
  type LockDetails,
  LockOnlyIfExistsNoPrimaryKeyError,
  LockOnlyIfExistsNoReturnValueError,
  lockDetailsFromLockInfo,
  ResultUndeterminedError,
  WriteConflictError,
} from "../../errors/txn.js";
import { physicalOf } from "../../kv/timestamp.js";
import {
  type CommitMode,
  chooseCommitModes,
  maxCommitTs,
  type PrewriteVerdict,
  prewriteVerdict,
} from "../../machines/commit-mode.js";
import {
  type CommitOutcome,
  type CommitSession,
  type CommitterEvent,
  committerMachine,
  committerStateName,
  newCommitSession,
} from "../../machines/committer.js";
import { lockHolders } from "../../machines/lock-policy.js";
import {
  AssertionLevel,
  BatchRollbackRequest,
  type CommitRequest,
  CommitRole,
  type Context,
  type Mutation,
  Op,
  type PrewriteRequest,
  PrewriteRequest_PessimisticAction,
  type PrewriteResponse,
  TxnHeartBeatRequest,
} from "../../proto/kvrpcpb.js";
import { Bo } from "../backoff/backoff-config.js";
import type { RpcInterceptor } from "../request/interceptor.js";
import { splitByCount, splitBySize } from "../runtime/batch-split.js";
import { type CommitDetails, commitPhaseSink, newCommitDetails } from "../runtime/exec-details.js";
import type { RawRequestSender, RequestControl } from "../runtime/raw-sender.js";
import { positions, runRegionBatches } from "../runtime/region-batches.js";
import type { Tracing } from "../runtime/tracing.js";
import { writeFailure } from "../runtime/undetermined.js";
import { backgroundTask, type LifecycleHooks } from "./background-task.js";
import { type CommitTsLagDetails, timestampForCommit } from "./commit-ts.js";
import { ActorPool } from "./committer-pool.js";
import type { LockResolver } from "./lock-resolver.js";
import {
  type LockedValue,
  type LockKeysParams,
  lockKeys,
  pessimisticRollbackKeys,
} from "./pessimistic-lock.js";

/** client-go TxnCommitBatchSize: bytes per prewrite / commit / rollback batch. */
export const TXN_COMMIT_BATCH_SIZE = 16 * 1024;
/** client-go defaultLockTTL (ms). */
export const DEFAULT_LOCK_TTL_MS = 3_000;
/** client-go ManagedLockTTL (ms): the TTL the heartbeat keeps adding. */
export const MANAGED_LOCK_TTL_MS = 20_000;
/** client-go ttlFactor: lock TTL grows with the square root of the txn size in MiB. */
const TTL_FACTOR = 6_000;
/** client-go txnCommitBatchSize threshold above which the TTL grows. */
const TTL_GROWTH_SIZE = 16 * 1024;
/** client-go: a transaction above this many bytes gets a TTL manager from its primary prewrite. */
export const TTL_REFRESHED_TXN_SIZE = 32 * 1024 * 1024;
/** client-go MaxTxnTimeUse (ms): a transaction older than this cannot commit. */
export const MAX_TXN_TIME_USE_MS = 24 * 60 * 60 * 1000;
/** Default wait for a commit ts above commitWaitUntilTs (ms). */
export const DEFAULT_COMMIT_WAIT_TIMEOUT_MS = 1_000;
/** client-go keepAlive period (ms). */
export const HEARTBEAT_INTERVAL_MS = 10_000;

/**
 * The min_commit_ts of a prewrite (client-go buildPrewriteRequest): the tracked one, but above
 * the for_update_ts of a pessimistic transaction and above the start ts.
 */
export function prewriteMinCommitTs(tracked: bigint, startTs: bigint, forUpdateTs: bigint): bigint {
  if (forUpdateTs > 0n && forUpdateTs >= tracked) return forUpdateTs + 1n;
  if (startTs >= tracked) return startTs + 1n;
  return tracked;
}

/** The lock TTL of a transaction of `sizeBytes`, started `elapsedMs` ago (client-go txnLockTTL). */
export function txnLockTtl(sizeBytes: number, elapsedMs: number): bigint {
  let ttl = DEFAULT_LOCK_TTL_MS;
  if (sizeBytes >= TTL_GROWTH_SIZE) {
    const mib = sizeBytes / 1024 / 1024;
    ttl = Math.min(
      MANAGED_LOCK_TTL_MS,
      Math.max(DEFAULT_LOCK_TTL_MS, Math.floor(TTL_FACTOR * Math.sqrt(mib))),
    );
  }
  return BigInt(ttl + Math.max(0, Math.floor(elapsedMs)));
}

/** What a committer needs from the client. */
export interface CommitterDeps {
  sender: RawRequestSender;
  resolver: LockResolver;
  /** A TSO timestamp (commit ts). */
  getTimestamp: () => Promise<bigint>;
  /**
   * Control blocks for each phase (client-go budgets: prewrite 40 s, commit 40 s, secondaries
   * 41 s, cleanup 20 s); `signal` cuts their backoff sleeps short (a function: made when first needed).
   */
  control: (
    phase: "prewrite" | "commit" | "secondaries" | "cleanup" | "heartbeat",
    signal?: AbortSignal | (() => AbortSignal),
  ) => RequestControl;
  /** Called when background work ends (for `whenIdle`). */
  track: (p: Promise<void>) => void;
  inspect?: (ev: InspectionEvent) => void;
  /** Max lifetime of a transaction kept alive by heartbeats (client-go MaxTxnTTL, default 1 h). */
  maxTxnTtlMs: number;
  /** Heartbeat period (default 10 s). */
  heartbeatIntervalMs?: number;
  /** OpenTelemetry spans of the commit and its phases (unset = tracing off, no cost). */
  tracer?: Tracing | undefined;
}

/** A transaction's writes, ready to commit. */
export interface CommitInput {
  startTs: bigint;
  /** Mutations in key order; the primary is one of them. */
  mutations: Mutation[];
  /** Index of the primary in `mutations`. */
  primaryIndex: number;
  /** Total key + value bytes. */
  sizeBytes: number;
  /** When the transaction began (ms, for the lock TTL). */
  startedAtMs: number;
  /** Context fields of every request (priority, resource group, request source...). */
  contextFields?: Partial<Context> | undefined;
  /** The transaction's RPC interceptors (begin option `interceptor`); unset = none. */
  interceptor?: RpcInterceptor | undefined;
  /** Try async commit (client-go EnableAsyncCommit). */
  asyncCommit?: boolean;
  /** Try 1PC (client-go Enable1PC). */
  onePC?: boolean;
  /**
   * Causal consistency only (client-go SetCausalConsistency): async commit / 1PC skip fetching a
   * fresh TSO before prewrite, so their commit ts need not exceed ts handed out meanwhile.
   */
  causalConsistency?: boolean;
  /** A pessimistic transaction (the committer exists from its first lock). */
  pessimistic?: boolean;
  /** Pessimistic transactions: what the prewrite checks of each mutation (its pessimistic lock...). */
  pessimisticActions?: PrewriteRequest_PessimisticAction[];
  /** How TiKV checks the mutations' assertions (default off). */
  assertionLevel?: AssertionLevel;
  /**
   * A failure known before prewrite that is reported only if the prewrite succeeds (client-go
   * stashedAssertionError: an assertion contradicted by the lock results); it rules out async
   * commit and 1PC, so the prewritten locks are rolled back.
   */
  deferredError?: Error | undefined;
  /** Pessimistic transactions: the for_update_ts of the prewrite (the largest lock's). */
  forUpdateTs?: bigint;
  /**
   * Pessimistic transactions: keys (latin1) whose lock must still be at this for_update_ts when
   * prewritten (client-go forUpdateTSConstraints, from aggressive locking): a lock lost and
   * taken again meanwhile fails the prewrite with PessimisticLockNotFound.
   */
  forUpdateTsChecks?: ReadonlyMap<string, bigint>;
  /** `"noResolve"`: a prewrite meeting another lock fails with a write conflict instead of resolving it. */
  prewriteEncounterLockPolicy?: "tryResolve" | "noResolve";
  /** Called around each background task (secondaries, cleanup, released locks). */
  lifecycleHooks?: LifecycleHooks | undefined;
  /** Interrupts the prewrite phase (client-go kill signal); later phases are not interruptible. */
  signal?: AbortSignal | undefined;
  /** The commit ts must be above this ts (client-go SetCommitWaitUntilTSO; 0: no constraint). */
  commitWaitUntilTs?: bigint;
  /** How long to wait for PD's TSO to pass `commitWaitUntilTs`, in ms (client-go SetCommitWaitUntilTSOTimeout). */
  commitWaitTimeoutMs?: number;
}

/** The writes of a transaction, given at commit time (pessimistic committers exist before). */
export type CommitPlan = Pick<
  CommitInput,
  | "mutations"
  | "primaryIndex"
  | "sizeBytes"
  | "pessimisticActions"
  | "forUpdateTs"
  | "forUpdateTsChecks"
  | "assertionLevel"
  | "deferredError"
  | "signal"
>;

/** How a commit went (client-go TxnInfo: the protocol used and the fallbacks taken). */
export interface CommitInfo {
  mode: CommitMode;
  /** Async commit was tried and TiKV declined it (fell back to 2PC). */
  asyncCommitFallback: boolean;
  /** 1PC was tried and could not be used (several batches, or TiKV declined). */
  onePCFallback: boolean;
}

/** What a finished commit reports besides its outcome. */
export interface CommitStats {
  prewriteBatches: number;
  /** RPC batches of the commit phase (primary and secondaries). */
  commitBatches: number;
  lockResolutions: number;
  commitTsRenewals: number;
}

// The prewrite's switch that stops the other batches' backoffs after a failure. Its AbortSignal
// is made only when a backoff asks for it: most prewrites never back off.
class StopSwitch {
  private controller: AbortController | undefined;
  private reason: unknown;
  aborted = false;

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.aborted) this.controller.abort(this.reason);
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

// A whole CommitRequest (fromPartial would copy it once more).
function commitRequest(
  startVersion: bigint,
  commitVersion: bigint,
  keys: Buffer[],
  primaryKey: Buffer,
  commitRole: CommitRole,
  useAsyncCommit: boolean,
): CommitRequest {
  return {
    context: undefined,
    startVersion,
    keys,
    commitVersion,
    commitRole,
    primaryKey,
    useAsyncCommit,
    isTxnFile: false,
  };
}

// Errors that say for sure the prewrite did not commit anything (key errors, conflicts, protocol
// violations), as opposed to lost answers.
const definite = new WeakSet<Error>();
function markDefinite<E extends Error>(e: E): E {
  definite.add(e);
  return e;
}

// The committer machine is provided once: building a machine costs far more than running one
// (xstate formats every transition at construction), so each action finds its committer through
// the session it runs on.
const owners = new WeakMap<CommitSession, Committer>();
const ownerOf = (s: CommitSession) => owners.get(s) as Committer;
const providedMachine = committerMachine.provide({
  actions: {
    fetchLatestTs: ({ context }) => ownerOf(context.s).onFetchLatestTs(),
    startPrewrite: ({ context }) => ownerOf(context.s).onPrewrite(),
    fetchCommitTs: ({ context }) => ownerOf(context.s).onFetchCommitTs(),
    commitPrimary: ({ context }) => ownerOf(context.s).onCommitPrimary(),
    commitSecondaries: ({ context }) => ownerOf(context.s).onCommitSecondaries(),
    startCleanup: ({ context }) => ownerOf(context.s).onCleanup(),
    startPessimisticRollback: ({ context }) => ownerOf(context.s).onPessimisticRollback(),
    settle: ({ context }, o: CommitOutcome) => ownerOf(context.s).onSettle(o),
    finished: ({ context }) => ownerOf(context.s).onFinished(),
  },
  actors: {
    ttlManager: fromCallback<CommitterEvent, CommitSession>(({ input, sendBack }) =>
      ownerOf(input).keepAlive(sendBack),
    ),
  },
});
/** @internal the idle committer actors (exported for tests) */
export const actorPool = new ActorPool(providedMachine);

/**
 * Commits one transaction. `commit()` resolves with the commit ts once the primary is
 * committed; secondaries are committed in the background. Rejects with the typed failure
 * (after starting the rollback of what was prewritten) or ResultUndeterminedError.
 */
export class Committer {
  private readonly session: CommitSession;
  private actor!: Actor<typeof committerMachine>;
  /** Set once the machine reached an end state: the actor goes back to the pool, deaf to us. */
  private released = false;
  /** The end state reached (the actor may serve another commit by then). */
  private endState: string | undefined;
  private settleFn: ((o: CommitOutcome) => void) | undefined;
  private backgroundDone: (() => void) | undefined;
  private finished: Promise<void> | undefined;
  private keys: Buffer[];
  /** Pessimistic: the primary chosen by the first lock. */
  private lockPrimary: Buffer | undefined;
  /** The primary the heartbeat keeps alive after {@link resetPrimary} kept it running. */
  private heartbeatPrimary: Buffer | undefined;
  private ttlStarted = false;
  private rollbackKeys: { keys: Buffer[]; forUpdateTs: bigint } | undefined;
  /** Counters, for tests and traces. */
  readonly stats: CommitStats = {
    prewriteBatches: 0,
    commitBatches: 0,
    lockResolutions: 0,
    commitTsRenewals: 0,
  };
  /** Protocol and fallbacks (final once the commit settled). */
  readonly info: CommitInfo;
  /** What the commit did (client-go CommitDetails; final once the commit settled). */
  readonly details: CommitDetails = newCommitDetails();
  private asyncCommit: boolean;
  private onePC: boolean;
  private asyncMinCommitTs = 0n;
  private onePCCommitTs = 0n;
  private maxCommitTs = 0n;

  constructor(
    private readonly deps: CommitterDeps,
    private input: CommitInput,
  ) {
    this.keys = input.mutations.map((m) => m.key);
    this.info = { mode: "2pc", asyncCommitFallback: false, onePCFallback: false };
    this.asyncCommit = false;
    this.onePC = false;
    this.session = newCommitSession(input.startTs, "2pc", false, !!input.pessimistic);
    owners.set(this.session, this);
    if (input.pessimistic) {
      // a pessimistic committer lives from the first lock: its TTL manager protects the locks.
      // Its end is tracked (for whenIdle) only once the transaction ends, not while it is open.
      this.finished = new Promise<void>((r) => {
        this.backgroundDone = r;
      });
      // started now (it rests in holdingLocks); an optimistic committer's actor is started at
      // commit, once its protocol is known (BEGIN resolves the initial routing)
      this.begin();
    }
  }

  // the protocol to try, decided when the writes are known
  private planModes(): void {
    let keyBytes = 0;
    for (const k of this.keys) keyBytes += k.length;
    const input = this.input;
    // a deferred failure must stay reportable after prewrite: nothing may commit by itself then
    const allowed = !input.deferredError;
    const modes = chooseCommitModes({
      asyncCommit: !!input.asyncCommit && allowed,
      onePC: !!input.onePC && allowed,
      keyCount: this.keys.length,
      keyBytes,
      // TiKV refuses shared locks in async-commit and 1PC prewrites
      hasSharedLocks: input.mutations.some((m) => m.op === Op.SharedLock),
    });
    this.asyncCommit = modes.asyncCommit;
    this.onePC = modes.onePC;
    const mode: CommitMode = modes.onePC ? "onePC" : modes.asyncCommit ? "asyncCommit" : "2pc";
    this.info.mode = mode;
    this.info.asyncCommitFallback = !!input.asyncCommit && !modes.asyncCommit;
    this.session.mode = mode;
    this.session.needsLatestTs =
      mode !== "2pc" && (!input.causalConsistency || (input.commitWaitUntilTs ?? 0n) > 0n);
  }

  /** The commit ts (0 until committed). */
  get commitTs(): bigint {
    return this.session.commitTs;
  }

  /** The statechart's current state by name ("prewriting", "done"; for tests and traces). */
  get state(): string {
    if (this.endState !== undefined) return this.endState;
    const a = this.actor as Actor<typeof committerMachine> | undefined;
    return a ? committerStateName(a.getSnapshot().value) : "notStarted";
  }

  // an actor for this commit, started on its session: a pooled one, unless the commit is
  // observed (its own actor, whose inspection stream is this commit's alone)
  private begin(): void {
    const inspect = this.deps.inspect;
    if (inspect !== undefined) {
      this.actor = createActor(providedMachine, { input: this.session, inspect });
      this.actor.start();
      return;
    }
    this.actor = actorPool.take();
    this.actor.send({ type: "BEGIN", session: this.session });
  }

  /**
   * Runs the commit: resolves with the commit ts once the primary is committed. A pessimistic
   * committer takes its writes here (`plan`); an optimistic one was given them at construction.
   */
  commit(plan?: CommitPlan): Promise<bigint> {
    if (plan) {
      this.input = { ...this.input, ...plan };
      this.keys = plan.mutations.map((m) => m.key);
    }
    this.planModes();
    this.details.writeKeys = this.input.mutations.length;
    this.details.writeSize = this.input.sizeBytes;
    if (!this.finished) {
      this.finished = new Promise<void>((r) => {
        this.backgroundDone = r;
      });
    }
    this.deps.track(this.finished);
    const tracer = this.deps.tracer;
    if (tracer !== undefined) {
      return tracer.span("tikvTxn.Commit", this.spanAttributes(), () => this.run());
    }
    return this.run();
  }

  private spanAttributes(): Record<string, string | number> {
    return {
      "tikv.txn.start_ts": this.input.startTs.toString(),
      "tikv.txn.keys": this.input.mutations.length,
      "tikv.txn.size": this.input.sizeBytes,
      "tikv.txn.protocol": this.info.mode,
    };
  }

  // one phase, timed into `field` of the details (and traced as `span`, if any, when tracing is on)
  private phase<T>(
    field:
      | "getLatestTsTimeMs"
      | "getCommitTsTimeMs"
      | "prewriteTimeMs"
      | "commitTimeMs"
      | "resolveLockTimeMs",
    span: string | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    const t0 = performance.now();
    const tracer = this.deps.tracer;
    const p = tracer !== undefined && span !== undefined ? tracer.span(span, {}, fn) : fn();
    // then rather than finally: one promise per phase instead of three
    return p.then(
      (v) => {
        this.details[field] += performance.now() - t0;
        return v;
      },
      (e: unknown) => {
        this.details[field] += performance.now() - t0;
        throw e;
      },
    );
  }

  // a background phase (secondaries, cleanup), traced when tracing is on
  private traced(span: string, fn: () => Promise<void>): () => Promise<void> {
    const tracer = this.deps.tracer;
    return tracer === undefined ? fn : () => tracer.span(span, {}, fn);
  }

  private run(): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      this.settleFn = (o) => {
        if (o.kind === "committed") resolve(o.commitTs);
        else if (o.kind === "failed") reject(o.error);
        else reject(new ResultUndeterminedError({ cause: o.error }));
      };
      if (this.input.pessimistic) this.send({ type: "COMMIT" });
      else this.begin();
    });
  }

  /** Pessimistic: the primary key (undefined before the first lock). */
  get primary(): Buffer | undefined {
    return this.lockPrimary;
  }

  /**
   * Pessimistic: locks `params.keys` (the primary is the first key ever locked). Starts the TTL
   * manager once the primary is locked. Resolves with what TiKV said of each key's value.
   */
  async lock(
    params: Omit<LockKeysParams, "primary" | "startTs" | "startedAtMs" | "contextFields"> & {
      /** The caller chose the primary for this call ({@link assignPrimary}): a failure gives it up. */
      ownsPrimary?: boolean;
    },
    ctl: RequestControl,
  ) {
    this.checkLockOnlyIfExists(params);
    // a shared lock is never the primary: an exclusive lock must have chosen it (client-go)
    if (params.shared && this.lockPrimary === undefined && params.keys.length > 0) {
      throw new SharedLockMisuseError("needsPrimary", params.keys[0]);
    }
    const assigned = this.lockPrimary === undefined || !!params.ownsPrimary;
    if (this.lockPrimary === undefined) this.lockPrimary = params.keys[0];
    let learned: Map<string, LockedValue>;
    try {
      learned = await lockKeys(
        this.deps.sender,
        this.deps.resolver,
        {
          ...params,
          primary: this.lockPrimary as Buffer,
          startTs: this.input.startTs,
          startedAtMs: this.input.startedAtMs,
          contextFields: this.input.contextFields,
        },
        ctl,
        () => {
          if (!this.ttlStarted) {
            this.ttlStarted = true;
            this.send({ type: "TTL_START" });
          }
        },
      );
    } catch (e) {
      this.abandonLockCall(params.keys, params.forUpdateTs, assigned, e);
      throw e;
    }
    // lock-only-if-exists locked nothing on an absent key: it cannot be the primary
    // (client-go unsetPrimaryKeyIfNeeded)
    const primary = this.lockPrimary as Buffer;
    if (assigned && params.lockOnlyIfExists && learned.get(primary.toString("latin1"))?.exists === false) {
      this.givePrimaryUp();
    }
    return learned;
  }

  // lock-only-if-exists must learn which keys exist, and cannot choose a primary among several
  // keys, any of which may be absent (client-go LockKeys checks)
  private checkLockOnlyIfExists(params: {
    keys: Buffer[];
    lockOnlyIfExists: boolean;
    returnValues: boolean;
    forUpdateTs: bigint;
  }): void {
    if (!params.lockOnlyIfExists || params.keys.length === 0) return;
    const first = params.keys[0] as Buffer;
    if (!params.returnValues) {
      throw new LockOnlyIfExistsNoReturnValueError(this.input.startTs, params.forUpdateTs, first);
    }
    if (this.lockPrimary === undefined && params.keys.length > 1) {
      throw new LockOnlyIfExistsNoPrimaryKeyError(this.input.startTs, params.forUpdateTs, first);
    }
  }

  private givePrimaryUp(): void {
    this.lockPrimary = undefined;
    this.stopTtl();
  }

  /** Pessimistic: makes `key` the primary unless one is chosen (aggressive locking picks its own). */
  assignPrimary(key: Buffer): void {
    if (this.lockPrimary === undefined) this.lockPrimary = key;
  }

  /**
   * Pessimistic: forgets the primary (client-go resetPrimary). With `keepTtl` the heartbeat goes
   * on, on the old primary, until a new primary's lock restarts it or {@link stopTtl} stops it
   * (an aggressive-locking retry may choose the same primary again).
   */
  resetPrimary(keepTtl: boolean): void {
    if (!keepTtl) {
      this.givePrimaryUp();
      return;
    }
    if (this.lockPrimary !== undefined) this.heartbeatPrimary = this.lockPrimary;
    this.lockPrimary = undefined;
  }

  /** Pessimistic: stops the TTL manager (client-go ttlManager.reset); the next primary lock restarts it. */
  stopTtl(): void {
    this.heartbeatPrimary = undefined;
    if (this.ttlStarted) {
      this.ttlStarted = false;
      this.send({ type: "TTL_STOPPED" });
    }
  }

  /** Pessimistic: whether the TTL manager runs (for tests and traces). */
  get ttlRunning(): boolean {
    return this.ttlStarted;
  }

  // A failed lock call may have locked some of its keys (the primary's batch goes first): they
  // are released, and a primary it chose is given up with its heartbeat, so the next lock
  // chooses again (client-go LockKeys error path). Keeping it would let a later commit name a
  // primary that holds none of its writes.
  private abandonLockCall(keys: Buffer[], forUpdateTs: bigint, assigned: boolean, e: unknown): void {
    // one key refused with a conflict or an existing value was not locked
    const mayHoldLocks =
      keys.length > 1 || !(e instanceof WriteConflictError || e instanceof KeyAlreadyExistsError);
    if (mayHoldLocks) {
      // in the background, as client-go; a retry locks at a larger for_update_ts, which this
      // rollback (only locks at or below forUpdateTs) leaves alone
      void this.releaseInBackground(keys, forUpdateTs);
    }
    if (assigned) this.givePrimaryUp();
  }

  /** Pessimistic: releases `keys` (PessimisticRollback at `forUpdateTs`) and ends the committer. */
  rollback(keys: Buffer[], forUpdateTs: bigint): Promise<void> {
    this.rollbackKeys = { keys, forUpdateTs };
    const finished = this.finished ?? Promise.resolve();
    this.deps.track(finished);
    this.send({ type: "ROLLBACK" });
    return finished;
  }

  /**
   * Pessimistic: {@link releaseLocks} in the background (client-go asyncPessimisticRollback):
   * tracked for whenIdle; resolves when done, failures ignored (the locks then expire).
   */
  releaseInBackground(keys: Buffer[], forUpdateTs: bigint): Promise<void> {
    const p = backgroundTask(this.input.lifecycleHooks, () => this.releaseLocks(keys, forUpdateTs)).catch(
      () => {},
    );
    this.deps.track(p);
    return p;
  }

  /** Pessimistic: releases locks taken by a failed statement, keeping the transaction going. */
  releaseLocks(keys: Buffer[], forUpdateTs: bigint): Promise<void> {
    return pessimisticRollbackKeys(
      this.deps.sender,
      this.input.startTs,
      forUpdateTs,
      keys,
      this.deps.control("cleanup"),
      this.input.contextFields,
    );
  }

  // ---- the machine's actions (each starts a phase and reports its outcome as an event) ----

  /** @internal */
  onFetchLatestTs(): void {
    this.phase("getLatestTsTimeMs", "twoPhaseCommitter.getLatestTs", () => this.commitTimestamp()).then(
      (ts) => this.send({ type: "LATEST_TS", ts }),
      (error: Error) => this.send({ type: "LATEST_TS_FAILED", error }),
    );
  }

  /** @internal */
  onPrewrite(): void {
    if (this.asyncCommit || this.onePC) {
      this.maxCommitTs = maxCommitTs(this.input.startTs, Date.now() - this.input.startedAtMs);
    }
    const span = this.onePC
      ? "twoPhaseCommitter.prewriteMutations.1pc"
      : this.asyncCommit
        ? "twoPhaseCommitter.prewriteMutations.asyncCommit"
        : "twoPhaseCommitter.prewriteMutations";
    this.phase("prewriteTimeMs", span, () => this.prewrite()).then(
      () => {
        const deferred = this.input.deferredError;
        if (deferred) {
          this.send({ type: "PREWRITE_FAILED", error: deferred });
          return;
        }
        if (this.onePC) this.send({ type: "PREWRITE_OK", mode: "onePC", commitTs: this.onePCCommitTs });
        else if (this.asyncCommit)
          this.send({ type: "PREWRITE_OK", mode: "asyncCommit", commitTs: this.asyncMinCommitTs });
        else this.send({ type: "PREWRITE_OK", mode: "2pc", commitTs: 0n });
        this.info.mode = this.session.mode;
      },
      (error: Error) => {
        // an async-commit / 1PC prewrite that may have reached TiKV without an answer may have
        // committed the transaction (client-go: RPC errors make it undetermined)
        if ((this.asyncCommit || this.onePC) && !definite.has(error)) {
          this.send({ type: "PREWRITE_UNDETERMINED", error });
        } else {
          // a 2PC prewrite commits nothing by itself: a lost answer is a plain failure here
          const cause =
            error instanceof ResultUndeterminedError ? (error.cause as Error | undefined) : undefined;
          this.send({ type: "PREWRITE_FAILED", error: cause ?? error });
        }
      },
    );
  }

  /** @internal */
  onFetchCommitTs(): void {
    this.phase("getCommitTsTimeMs", "twoPhaseCommitter.getCommitTs", () => this.commitTimestamp()).then(
      (ts) => this.send({ type: "COMMIT_TS", ts }),
      (error: Error) => this.send({ type: "COMMIT_TS_FAILED", error }),
    );
  }

  /** @internal */
  onCommitPrimary(): void {
    void this.phase("commitTimeMs", "twoPhaseCommitter.commitPrimary", () => this.commitPrimary()).then((e) =>
      this.send(e),
    );
  }

  /** @internal */
  onCommitSecondaries(): void {
    this.background(
      this.traced("twoPhaseCommitter.commitSecondaries", () => this.commitSecondaries()),
      "SECONDARIES_DONE",
    );
  }

  /** @internal */
  onCleanup(): void {
    this.background(
      this.traced("twoPhaseCommitter.cleanup", () => this.cleanup()),
      "CLEANUP_DONE",
    );
  }

  /** @internal */
  onPessimisticRollback(): void {
    const r = this.rollbackKeys ?? { keys: [], forUpdateTs: this.input.startTs };
    this.background(
      this.traced("twoPhaseCommitter.pessimisticRollback", () =>
        r.keys.length === 0 ? Promise.resolve() : this.releaseLocks(r.keys, r.forUpdateTs),
      ),
      "CLEANUP_DONE",
    );
  }

  /** @internal */
  onSettle(o: CommitOutcome): void {
    this.settleFn?.(o);
  }

  /** @internal the machine reached an end state: release the actor once its step is over */
  onFinished(): void {
    this.released = true;
    this.backgroundDone?.();
    queueMicrotask(() => {
      const actor = this.actor;
      this.endState = committerStateName(actor.getSnapshot().value);
      // the pooled actor keeps the session until its next BEGIN, but not this committer
      owners.delete(this.session);
      actorPool.give(actor, this.deps.inspect !== undefined);
    });
  }

  // a TSO, above the ts the commit must wait for (if any)
  private commitTimestamp(): Promise<bigint> {
    const waitUntilTs = this.input.commitWaitUntilTs ?? 0n;
    if (waitUntilTs === 0n) return this.deps.getTimestamp();
    return timestampForCommit(
      this.deps.getTimestamp,
      { waitUntilTs, timeoutMs: this.input.commitWaitTimeoutMs ?? DEFAULT_COMMIT_WAIT_TIMEOUT_MS },
      (d) => {
        this.lagDetails = d;
      },
    );
  }

  /** How waiting for the commit ts went, when the commit had to wait for one (client-go LagDetails). */
  lagDetails: CommitTsLagDetails | undefined;

  // every event goes through here: once released, the actor may serve another commit
  private send(e: CommitterEvent): void {
    if (!this.released) this.actor.send(e);
  }

  // ---- phases ----

  private get primaryKey(): Buffer {
    return this.lockPrimary ?? (this.keys[this.input.primaryIndex] as Buffer);
  }

  private async prewrite(): Promise<void> {
    const { mutations, startTs, signal } = this.input;
    // aborted before anything was sent: a definite failure (the cleanup finds nothing)
    if (signal?.aborted) throw markDefinite(new AbortedError(signal.reason));
    // the first batch to fail stops the others' waits (client-go cancels the forked backoffer)
    const stop = new StopSwitch();
    const ctl = this.deps.control("prewrite", () => stop.signal);
    ctl.details = commitPhaseSink(this.details, "prewrite");
    const work = this.prewriteBatches(mutations, startTs, ctl, stop);
    // the caller's abort ends the prewrite at once; batches still in flight are let go (a late
    // 2PC prewrite meets the cleanup's rollback record; an async-commit one makes it undetermined)
    let onAbort: (() => void) | undefined;
    const aborted = signal
      ? new Promise<never>((_, reject) => {
          onAbort = () => reject(this.recordPrewriteFailure(new AbortedError(signal.reason), stop));
          signal.addEventListener("abort", onAbort, { once: true });
        })
      : undefined;
    try {
      await (aborted ? Promise.race([work, aborted]) : work);
    } catch (e) {
      work.catch(() => {});
      throw this.firstPrewriteError ?? e;
    } finally {
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  private firstPrewriteError: Error | undefined;

  private async prewriteBatches(
    mutations: Mutation[],
    startTs: bigint,
    ctl: RequestControl,
    stop: StopSwitch,
  ): Promise<void> {
    const sizeOf = (i: number) =>
      (mutations[i] as Mutation).key.length + (mutations[i] as Mutation).value.length;
    let lockTtl = txnLockTtl(this.input.sizeBytes, Date.now() - this.input.startedAtMs);
    // a pessimistic async-commit lock outlives max_commit_ts, so whoever resolves it finds
    // min_commit_ts > max_commit_ts and falls back to 2PC (client-go safe TTL, tidb#33641)
    if (this.asyncCommit && this.input.pessimistic) {
      const safe = BigInt(physicalOf(this.maxCommitTs) - physicalOf(startTs) + 1);
      if (safe > lockTtl) lockTtl = safe;
    }
    const attempted = new Set<number>();
    await runRegionBatches(
      this.deps.sender,
      ctl,
      this.keys,
      positions(mutations.length),
      (p) => splitBySize(p, sizeOf, TXN_COMMIT_BATCH_SIZE),
      async (region, batch, regionKeys) => {
        this.stats.prewriteBatches++;
        // 1PC only while the whole transaction is one batch (a regroup may have split it)
        if (this.onePC && batch.length !== mutations.length) {
          this.onePC = false;
          this.info.onePCFallback = true;
        }
        const isPrimary = batch.includes(this.input.primaryIndex);
        const min = prewriteMinCommitTs(this.session.minCommitTs, startTs, this.input.forUpdateTs ?? 0n);
        // built whole (not with fromPartial, which would copy every mutation)
        const req: PrewriteRequest = {
          context: undefined,
          mutations: batch.map((i) => mutations[i] as Mutation),
          primaryLock: this.primaryKey,
          startVersion: startTs,
          lockTtl,
          txnSize: BigInt(regionKeys),
          minCommitTs: min,
          maxCommitTs: this.asyncCommit || this.onePC ? this.maxCommitTs : 0n,
          forUpdateTs: this.input.forUpdateTs ?? 0n,
          pessimisticActions: this.input.pessimistic
            ? batch.map(
                (i) =>
                  this.input.pessimisticActions?.[i] ??
                  PrewriteRequest_PessimisticAction.SKIP_PESSIMISTIC_CHECK,
              )
            : [],
          forUpdateTsConstraints: this.input.pessimistic ? this.forUpdateTsConstraints(batch) : [],
          assertionLevel: this.input.assertionLevel ?? AssertionLevel.Off,
          useAsyncCommit: this.asyncCommit,
          secondaries: this.asyncCommit && isPrimary ? this.secondaryKeys() : [],
          tryOnePc: this.onePC,
          skipConstraintCheck: false,
          txnFileChunks: [],
        };
        let resp: PrewriteResponse | undefined;
        // keys sent before (then regrouped) may already hold our locks: TiKV is told it is a retry
        // (client-go keeps hasRpcRetries across regrouped batches)
        const resent = batch.some((i) => attempted.has(i));
        for (const i of batch) attempted.add(i);
        const ctx = resent ? { ...this.input.contextFields, isRetryRequest: true } : this.input.contextFields;
        try {
          ({ resp } = await this.deps.sender.sendOnce(region, "Prewrite", req, ctl, ctx));
        } catch (e) {
          // a 2PC prewrite commits nothing by itself: a lost answer is resent (prewrite is
          // idempotent for one start ts), within the prewrite budget
          if (e instanceof ResultUndeterminedError && !this.asyncCommit && !this.onePC && !stop.aborted) {
            await ctl.bo.backoff(Bo.RegionMiss, e);
            return false;
          }
          throw this.recordPrewriteFailure(e, stop);
        }
        if (!resp) return false;
        if (resp.errors.length === 0) {
          this.applyVerdict(prewriteVerdict({ asyncCommit: this.asyncCommit, onePC: this.onePC }, resp));
          if (isPrimary && this.input.sizeBytes > TTL_REFRESHED_TXN_SIZE && resp.onePcCommitTs === 0n) {
            this.send({ type: "TTL_START" });
          }
          return true;
        }
        const locks: LockDetails[] = [];
        for (const ke of resp.errors) {
          if (!ke.locked) throw this.recordPrewriteFailure(markDefinite(extractKeyError(ke)), stop);
          // shared locks: each holder is judged as a lock of its own (client-go extractKeyErrs)
          for (const lock of lockHolders(lockDetailsFromLockInfo(ke.locked))) {
            // a newer transaction holds the key: ours would lose anyway (client-go: optimistic
            // prewrite meeting a lock with a larger ts is a write conflict); or told not to resolve
            const noResolve = this.input.prewriteEncounterLockPolicy === "noResolve";
            if ((lock.startTs > startTs && !this.input.pessimistic) || noResolve) {
              throw this.recordPrewriteFailure(markDefinite(conflictWithLock(startTs, lock)), stop);
            }
            locks.push(lock);
          }
        }
        this.stats.lockResolutions++;
        // a writer does not push the owner's min commit ts (client-go resolves with caller ts 0)
        // (the resolver opens its own span)
        const r = await this.phase("resolveLockTimeMs", undefined, () =>
          this.deps.resolver.resolveLocks(locks, { callerStartTs: 0n, ctl }),
        );
        if (r.msBeforeTxnExpired > 0) {
          const ms = ctl.bo.next(
            Bo.TxnLock,
            new KeyLockedError(locks[0] as LockDetails),
            r.msBeforeTxnExpired,
          );
          await ctl.bo.sleep(ms);
        }
        return false; // resend (regrouped: the regions may have changed meanwhile)
      },
    );
  }

  // the expected for_update_ts of the batch's keys that have one, by position in the batch
  private forUpdateTsConstraints(batch: readonly number[]) {
    const checks = this.input.forUpdateTsChecks;
    if (!checks || checks.size === 0) return [];
    const out: Array<{ index: number; expectedForUpdateTs: bigint }> = [];
    batch.forEach((i, index) => {
      const ts = checks.get((this.keys[i] as Buffer).toString("latin1"));
      if (ts !== undefined) out.push({ index, expectedForUpdateTs: ts });
    });
    return out;
  }

  // every key but the primary and the absence checks (client-go asyncSecondaries)
  private secondaryKeys(): Buffer[] {
    const out: Buffer[] = [];
    this.input.mutations.forEach((m, i) => {
      if (i !== this.input.primaryIndex && m.op !== Op.CheckNotExists) out.push(m.key);
    });
    return out;
  }

  private applyVerdict(v: PrewriteVerdict): void {
    switch (v.kind) {
      case "onePCFallback":
        this.onePC = false;
        // async commit goes with it (client-go): a tried async commit fell back too
        if (this.asyncCommit) this.info.asyncCommitFallback = true;
        this.asyncCommit = false;
        this.info.onePCFallback = true;
        return;
      case "onePCCommitted":
        this.onePCCommitTs = v.commitTs;
        return;
      case "asyncCommitFallback":
        this.asyncCommit = false;
        this.info.asyncCommitFallback = true;
        return;
      case "asyncMinCommitTs":
        if (v.minCommitTs > this.asyncMinCommitTs) this.asyncMinCommitTs = v.minCommitTs;
        return;
      case "protocolError":
        throw markDefinite(new Error(v.message));
      default:
        return;
    }
  }

  // the first failure of a prewrite is the one reported; the other batches stop waiting
  private recordPrewriteFailure(e: unknown, stop: StopSwitch): unknown {
    if (this.firstPrewriteError === undefined && e instanceof Error) {
      this.firstPrewriteError = e;
      stop.abort(e);
    }
    return e;
  }

  private async commitPrimary(): Promise<CommitterEvent> {
    const s = this.session;
    // a primary that was only checked for absence holds no lock: nothing to commit
    if ((this.input.mutations[this.input.primaryIndex] as Mutation).op === Op.CheckNotExists) {
      return { type: "PRIMARY_COMMITTED" };
    }
    if (physicalOf(s.commitTs) - physicalOf(s.startTs) > MAX_TXN_TIME_USE_MS) {
      return {
        type: "PRIMARY_FAILED",
        error: new TikvError("INVALID_TXN", `transaction ${s.startTs} is older than 24 h`),
      };
    }
    const ctl = this.deps.control("commit");
    ctl.details = commitPhaseSink(this.details, "commit");
    try {
      for (;;) {
        let region = this.deps.sender.locate(this.primaryKey, ctl);
        if (region instanceof Promise) region = await region;
        const { resp } = await this.deps.sender.sendOnce(
          region,
          "Commit",
          commitRequest(s.startTs, s.commitTs, [this.primaryKey], this.primaryKey, CommitRole.Primary, false),
          ctl,
          this.input.contextFields,
        );
        if (!resp) continue;
        const ke = resp.error;
        if (!ke) return { type: "PRIMARY_COMMITTED" };
        if (ke.commitTsExpired) {
          this.stats.commitTsRenewals++;
          return { type: "COMMIT_TS_EXPIRED", minCommitTs: ke.commitTsExpired.minCommitTs };
        }
        return { type: "PRIMARY_FAILED", error: extractKeyError(ke) };
      }
    } catch (e) {
      // sent and not answered: the primary may be committed; never sent: it is not
      const err = writeFailure(e, ctl);
      if (err instanceof ResultUndeterminedError) return { type: "PRIMARY_UNDETERMINED", error: err };
      return { type: "PRIMARY_FAILED", error: err as Error };
    }
  }

  private async commitSecondaries(): Promise<void> {
    const s = this.session;
    // prewrite-only keys (absence checks) hold no lock and are not committed
    const muts = this.input.mutations;
    // async commit: the primary was never committed separately, so it goes with the rest
    const withPrimary = this.session.mode === "asyncCommit";
    const rest = positions(this.keys.length).filter(
      (i) => (withPrimary || i !== this.input.primaryIndex) && (muts[i] as Mutation).op !== Op.CheckNotExists,
    );
    const ctl = this.deps.control("secondaries");
    const sizeOf = (i: number) => (this.keys[i] as Buffer).length;
    await runRegionBatches(
      this.deps.sender,
      ctl,
      this.keys,
      rest,
      (p) => splitBySize(p, sizeOf, TXN_COMMIT_BATCH_SIZE),
      async (region, batch) => {
        this.stats.commitBatches++;
        const { resp } = await this.deps.sender.sendOnce(
          region,
          "Commit",
          commitRequest(
            s.startTs,
            s.commitTs,
            batch.map((i) => this.keys[i] as Buffer),
            this.primaryKey,
            CommitRole.Secondary,
            withPrimary,
          ),
          ctl,
          this.input.contextFields,
        );
        if (!resp) return false;
        // errors after the primary committed are only worth a log: the lock resolver finishes them
        return true;
      },
    );
  }

  private async cleanup(): Promise<void> {
    const s = this.session;
    const ctl = this.deps.control("cleanup");
    await runRegionBatches(
      this.deps.sender,
      ctl,
      this.keys,
      positions(this.keys.length),
      (p) => splitByCount(p, 2048),
      async (region, batch) => {
        const { resp } = await this.deps.sender.sendOnce(
          region,
          "BatchRollback",
          BatchRollbackRequest.fromPartial({
            startVersion: s.startTs,
            keys: batch.map((i) => this.keys[i] as Buffer),
          }),
          ctl,
          this.input.contextFields,
        );
        if (!resp) return false;
        if (resp.error) throw extractKeyError(resp.error);
        return true;
      },
      this.input.primaryIndex,
    );
  }

  // background work ends with an event; its failure is not the caller's (already answered)
  private background(task: () => Promise<void>, done: "SECONDARIES_DONE" | "CLEANUP_DONE"): void {
    const end = () => this.send({ type: done });
    backgroundTask(this.input.lifecycleHooks, task).then(end, end);
  }

  /** @internal client-go keepAlive: heartbeat the primary until the transaction ends or gives up */
  keepAlive(sendBack: (e: CommitterEvent) => void): () => void {
    let failures = 0;
    let stopped = false;
    const period = this.deps.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    const timer = setInterval(() => {
      const ctl = this.deps.control("heartbeat");
      void (async () => {
        try {
          // the lock's age as TiKV counts it: TSO time since the start ts (client-go keepAlive),
          // not the local clock, which may run apart from PD's
          const now = await this.deps.getTimestamp();
          if (stopped) return;
          const uptime = Math.max(0, physicalOf(now) - physicalOf(this.input.startTs));
          if (uptime > this.deps.maxTxnTtlMs) {
            stop();
            return;
          }
          // between an aggressive-locking retry and its next primary: the old primary
          const primary = this.lockPrimary ?? this.heartbeatPrimary ?? this.primaryKey;
          let region = this.deps.sender.locate(primary, ctl);
          if (region instanceof Promise) region = await region;
          const { resp } = await this.deps.sender.sendOnce(
            region,
            "TxnHeartBeat",
            TxnHeartBeatRequest.fromPartial({
              primaryLock: primary,
              startVersion: this.input.startTs,
              adviseLockTtl: BigInt(uptime + MANAGED_LOCK_TTL_MS),
            }),
            ctl,
          );
          if (resp?.error) stop();
          else failures = 0;
        } catch {
          if (++failures > 10) stop();
        }
      })();
    }, period);
    timer.unref?.();
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      sendBack({ type: "TTL_STOPPED" });
    };
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }
}
