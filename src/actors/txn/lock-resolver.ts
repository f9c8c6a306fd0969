// The client's lock resolver (client-go txnkv/txnlock LockResolver): one actor per client that
// answers "resolve these locks for this caller" requests. Each transaction's locks are resolved
// by a lockResolution actor (src/machines/lock-resolution.ts); concurrent requests for the same
// transaction and caller share one; final statuses are cached (an LRU of 2048, as client-go).

import { type Actor, createActor, fromPromise, type InspectionEvent, toPromise } from "xstate";
import { InvalidArgumentError } from "../../errors/base.js";
import { AbortedError, ShuttingDownError, TimeoutError } from "../../errors/server.js";
import type { LockDetails } from "../../errors/txn.js";
import { MAX_TS } from "../../kv/timestamp.js";
import {
  type AsyncCommitState,
  isBareSharedLock,
  isCacheable,
  isPessimisticLock,
  isSharedLock,
  lockHolders,
  NonAsyncCommitLockError,
  planCleanup,
  readVerdict,
  type TxnStatus,
} from "../../machines/lock-policy.js";
import {
  type LockResolverEvent,
  lockResolutionMachine,
  lockResolverMachine,
  newResolutionSession,
  type ResolutionResult,
  type ResolutionSession,
} from "../../machines/lock-resolution.js";
import { Bo } from "../backoff/backoff-config.js";
import type { ClientMetrics } from "../runtime/metrics.js";
import type { RawRequestSender, RequestControl } from "../runtime/raw-sender.js";
import {
  checkAllSecondaries,
  checkTxnStatus,
  pessimisticRollback,
  resolveKeys,
  resolveTxnInfos,
  runCleanup,
} from "./lock-rpcs.js";
import { StatusCache } from "./status-cache.js";

/** The timestamps the resolver needs (the PD actor). */
export interface ResolverClock {
  /** The newest timestamp seen (client-go GetLowResolutionTimestamp); throws before the first one. */
  getLowResolutionTimestamp(): bigint;
  /** A fresh timestamp (used when none was seen yet). */
  getTimestamp(): Promise<bigint>;
  /** True when `ttlMs` after `lockTs` has passed. */
  isExpired(lockTs: bigint, ttlMs: bigint): boolean;
  /** Ms until `ttlMs` after `lockTs`. */
  untilExpired(lockTs: bigint, ttlMs: bigint): number;
}

/** Options of one resolution request. */
export interface ResolveLocksOptions {
  /** Start ts of the reading / writing transaction (0 for none). */
  callerStartTs: bigint;
  /** Reads may ignore or read through locks instead of waiting (client-go ResolveLocksForRead). */
  forRead?: boolean;
  /** Resolve only the given keys, even for large transactions. */
  lite?: boolean;
  /**
   * Roll the pessimistic locks of a dead transaction back region by region, one request with no
   * keys per region, instead of key by key (client-go PessimisticRegionResolve; GC and
   * region-wide cleanups use it).
   */
  pessimisticRegionResolve?: boolean;
  /** Budget, deadline and cancellation. */
  ctl: RequestControl;
}

/** Outcome of {@link LockResolver.resolveLocks} (client-go ResolveLockResult). */
export interface ResolveLocksResult {
  /** Ms until the earliest live lock expires (0 when none is alive: retry at once). */
  msBeforeTxnExpired: number;
  /** Transactions whose locks the reader may ignore (to carry in Context.resolved_locks). */
  ignoreLocks: bigint[];
  /** Transactions committed before the reader whose locks it may read through (Context.committed_locks). */
  accessLocks: bigint[];
}

/** Counters of the resolver's work, for tests and operators. */
export interface LockResolverStats {
  /** CheckTxnStatus calls sent. */
  statusChecks: number;
  /** Resolutions started (after deduplication). */
  resolutions: number;
  /** Requests that joined a resolution already running for the same transaction and caller. */
  deduplicated: number;
  /** Status answers served from the cache of final statuses. */
  cacheHits: number;
}

/** What the resolver is built from. */
export interface LockResolverDeps {
  /** Transactional request sender (txn codec and region cache). */
  sender: RawRequestSender;
  clock: ResolverClock;
  /** Budget factory for background cleanup (reads do not wait for it). */
  backgroundControl: () => RequestControl;
  /** @internal */
  inspect?: (ev: InspectionEvent) => void;
  /** The client's counters: resolver outcomes are mirrored to its metrics exporter. */
  metrics?: ClientMetrics;
  /** Lite (key by key) resolution below this many keys per region (client-go ResolveLockLiteThreshold, default 512). */
  liteThreshold?: bigint;
}

/**
 * The client's lock resolver. Get it from `client.txn().lockResolver`.
 *
 * @example
 * ```ts
 * const status = await txnClient.lockResolver.getTxnStatus(lock.startTs, 0n, lock.primary);
 * if (status.commitTs > 0n) console.log("committed at", status.commitTs);
 * ```
 */
export class LockResolver {
  private readonly cache = new StatusCache(2048);
  private readonly inflight = new Map<string, Promise<ResolutionResult>>();
  private readonly running = new Set<Actor<typeof lockResolutionMachine>>();
  // the budget of the request each resolution serves (sessions are machine state, kept I/O-free)
  private readonly controls = new WeakMap<ResolutionSession, RequestControl>();
  private readonly background = new Set<Promise<void>>();
  private readonly machine;
  private closed = false;
  private readonly actor: Actor<typeof lockResolverMachine>;
  private readonly counters: LockResolverStats = {
    statusChecks: 0,
    resolutions: 0,
    deduplicated: 0,
    cacheHits: 0,
  };

  /** @internal use `client.txn().lockResolver` */
  constructor(private readonly deps: LockResolverDeps) {
    this.machine = lockResolutionMachine.provide({
      actors: {
        checkStatus: fromPromise(({ input }: { input: ResolutionSession }) => this.checkStatus(input)),
        checkSecondaries: fromPromise(({ input }: { input: ResolutionSession }) =>
          this.checkSecondaries(input),
        ),
        cleanup: fromPromise(({ input }: { input: ResolutionSession }) => this.cleanup(input)),
      },
    });
    this.actor = createActor(
      lockResolverMachine.provide({
        actions: {
          abortAll: () => {
            for (const a of this.running) a.stop();
            this.running.clear();
          },
        },
      }),
      { inspect: deps.inspect },
    );
    this.actor.start();
  }

  /** Counters of the work done so far. */
  stats(): LockResolverStats {
    return { ...this.counters };
  }

  /**
   * Resolves `locks` met by a transaction starting at `callerStartTs`: checks each owner's
   * status and cleans up what is final. Resolves with how long to wait for live locks and, for
   * reads, which locks may be ignored or read through.
   */
  resolveLocks(locks: readonly LockDetails[], opts: ResolveLocksOptions): Promise<ResolveLocksResult> {
    const tracer = this.deps.metrics?.tracer;
    if (tracer === undefined) return this.resolveNow(locks, opts);
    return tracer.span(
      "LockResolver.resolveLocks",
      { "tikv.locks": locks.length, "tikv.caller_start_ts": opts.callerStartTs.toString() },
      () => this.resolveNow(locks, opts),
    );
  }

  private resolveNow(locks: readonly LockDetails[], opts: ResolveLocksOptions): Promise<ResolveLocksResult> {
    if (this.closed) return Promise.reject(new ShuttingDownError("lock resolver is closed"));
    this.deps.metrics?.countLockResolver("resolve_locks");
    return new Promise<ResolveLocksResult>((resolve, reject) => {
      const event: LockResolverEvent = {
        type: "RESOLVE",
        job: {
          // started outside the machine's action: it creates resolution actors
          start: () => {
            queueMicrotask(() => this.runResolve(locks, opts).then(resolve, reject));
          },
          refuse: () => reject(new ShuttingDownError("lock resolver is closed")),
        },
      };
      this.actor.send(event);
    });
  }

  /**
   * {@link resolveLocks} for a read at `callerStartTs` (client-go ResolveLocksForRead): locks
   * whose owner was pushed past the reader, rolled back, or committed after it come back in
   * `ignoreLocks`; locks committed before it in `accessLocks`; cleanup runs in the background.
   */
  resolveLocksForRead(
    locks: readonly LockDetails[],
    callerStartTs: bigint,
    ctl: RequestControl,
    lite = false,
  ): Promise<ResolveLocksResult> {
    return this.resolveLocks(locks, { callerStartTs, forRead: true, lite, ctl });
  }

  /**
   * The status of transaction `txnId` whose primary key is `primary`, as seen by a caller
   * starting at `callerStartTs` (client-go GetTxnStatus: rolls the transaction back when it
   * cannot be found).
   */
  async getTxnStatus(
    txnId: bigint,
    callerStartTs: bigint,
    primary: Buffer,
    ctl?: RequestControl,
  ): Promise<TxnStatus> {
    const cached = this.cache.get(txnId);
    if (cached) {
      this.counters.cacheHits++;
      return cached;
    }
    const c = ctl ?? this.deps.backgroundControl();
    const o = await this.rpcStatus(
      {
        txnId,
        primary,
        callerStartTs,
        currentTs: await this.currentTs(),
        rollbackIfNotExist: true,
        forceSyncCommit: false,
        lock: undefined,
      },
      c,
    );
    if (o.kind !== "status") throw new Error(`CheckTxnStatus of txn ${txnId}: ${o.kind}`);
    return o.status;
  }

  /**
   * GC's batch resolve (client-go BatchResolveLocks): rolls back or commits every transaction
   * of `locks` no matter their TTL, then resolves them in the region holding `regionKey` with
   * one ResolveLock carrying all their statuses. Pessimistic locks are rolled back one by one.
   */
  async batchResolveLocks(
    locks: readonly LockDetails[],
    regionKey: Buffer,
    ctl: RequestControl,
  ): Promise<void> {
    const infos = new Map<bigint, { txn: bigint; status: bigint; isTxnFile: boolean }>();
    for (const l of locks) {
      if (isSharedLock(l)) throw bareSharedLockError();
      if (infos.has(l.startTs)) continue;
      const params = {
        txnId: l.startTs,
        primary: l.primary,
        callerStartTs: 0n,
        currentTs: MAX_TS,
        rollbackIfNotExist: true,
        forceSyncCommit: false,
        lock: l,
      };
      let o = await this.rpcStatus(params, ctl);
      if (isPessimisticLock(l)) {
        await pessimisticRollback(this.deps.sender, l.startTs, l.lockForUpdateTs || MAX_TS, l.key, ctl);
        continue;
      }
      if (o.kind !== "status") throw new Error(`CheckTxnStatus of txn ${l.startTs}: ${o.kind}`);
      let status = o.status;
      if (status.primaryLock?.useAsyncCommit) {
        try {
          const st = await checkAllSecondaries(this.deps.sender, l.startTs, status.primaryLock, ctl);
          infos.set(l.startTs, { txn: l.startTs, status: st.commitTs, isTxnFile: l.isTxnFile });
          continue;
        } catch (e) {
          if (!(e instanceof NonAsyncCommitLockError)) throw e;
          o = await this.rpcStatus({ ...params, forceSyncCommit: true }, ctl);
          if (o.kind !== "status") throw new Error(`CheckTxnStatus of txn ${l.startTs}: ${o.kind}`);
          status = o.status;
        }
      }
      if (status.ttl > 0n) {
        throw new Error(
          "CheckTxnStatus did not roll back a lock with current_ts = max: the protocol may be wrong",
        );
      }
      infos.set(l.startTs, { txn: l.startTs, status: status.commitTs, isTxnFile: l.isTxnFile });
    }
    if (infos.size > 0) await resolveTxnInfos(this.deps.sender, regionKey, [...infos.values()], ctl);
  }

  /** Resolves when every background cleanup started so far has finished (tests, close). */
  async whenIdle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Stops the resolver: running resolutions fail, later requests get ShuttingDownError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // the actor stays in its closed state, refusing what still arrives
    this.actor.send({ type: "CLOSE" });
  }

  // ---- internals ----

  private async runResolve(
    locks: readonly LockDetails[],
    opts: ResolveLocksOptions,
  ): Promise<ResolveLocksResult> {
    const forRead = opts.forRead ?? false;
    const byTxn = new Map<bigint, LockDetails[]>();
    for (const l of locks) {
      // a wrapper without holders is no transaction's lock (client-go: misuse of resolveLocks)
      if (isBareSharedLock(l)) throw bareSharedLockError();
      // each holder of a shared lock is a lock of its own transaction
      for (const h of lockHolders(l)) pushTo(byTxn, h.startTs, h);
    }
    const results = await Promise.all(
      [...byTxn.values()].map((ls) =>
        this.resolution(
          ls,
          opts.callerStartTs,
          forRead,
          opts.lite ?? false,
          opts.ctl,
          opts.pessimisticRegionResolve,
        ),
      ),
    );
    let ms: number | undefined;
    const ignoreLocks: bigint[] = [];
    const accessLocks: bigint[] = [];
    const clock = this.deps.clock;
    let i = 0;
    for (const [txnId] of byTxn) {
      const r = results[i++] as ResolutionResult;
      if (!r.ok) throw r.error;
      const s = r.status;
      const wait = () => {
        const until = clock.untilExpired(txnId, s.ttl);
        ms = ms === undefined ? until : Math.min(ms, until);
      };
      if (!forRead) {
        if (s.ttl !== 0n) wait();
        continue;
      }
      const v = readVerdict(s, opts.callerStartTs);
      if (v === "ignore") ignoreLocks.push(txnId);
      else if (v === "access") accessLocks.push(txnId);
      else wait();
    }
    return { msBeforeTxnExpired: Math.max(0, ms ?? 0), ignoreLocks, accessLocks };
  }

  // One resolution per (transaction, caller, read/write): concurrent requests share it.
  private resolution(
    locks: LockDetails[],
    callerStartTs: bigint,
    forRead: boolean,
    lite: boolean,
    ctl: RequestControl,
    pessimisticRegion = false,
  ): Promise<ResolutionResult> {
    const first = locks[0] as LockDetails;
    const txnId = first.startTs;
    const cached = this.cache.get(txnId);
    const key = `${txnId}:${callerStartTs}:${forRead ? "r" : "w"}${pessimisticRegion ? "R" : ""}:${locks.map((l) => l.key.toString("latin1")).join("\u0000")}`;
    const running = this.inflight.get(key);
    if (running) {
      this.counters.deduplicated++;
      this.deps.metrics?.countLockResolver("deduplicated");
      return withCallerLimits(running, ctl);
    }
    const clock = this.deps.clock;
    const own = this.deps.backgroundControl();
    // its RPCs go through the interceptors of the transaction or snapshot that met the lock
    // (client-go: the resolver sends with the caller's context); joiners share the starter's
    if (ctl.interceptor !== undefined) own.interceptor = ctl.interceptor;
    // and an observed caller records their backoffs (those of the cleanup a read leaves too)
    if (ctl.tapBackoffer !== undefined) {
      own.tapBackoffer = ctl.tapBackoffer;
      ctl.tapBackoffer(own.bo);
    }
    const session = newResolutionSession({
      txnId,
      lock: first,
      locks,
      callerStartTs,
      forRead,
      lite,
      pessimisticRegion,
      lockExpired: () => clock.untilExpired(txnId, first.ttl) <= 0,
      ttlExpired: (ttl) => clock.isExpired(txnId, ttl),
      // the wait is charged to the caller that started the resolution (client-go charges its
      // backoffer); once that caller gave up, to the resolution's own budget — others may have
      // joined, and the owner's abort must not fail them
      nextNotFoundBackoff: () => {
        const err = new Error(`txn ${txnId} not found (primary ${first.primary.toString("hex")})`);
        const bo = ctl.bo.signal?.aborted ? own.bo : ctl.bo;
        return bo.next(Bo.TxnNotFound, err);
      },
    });
    if (cached) {
      // a final status needs no CheckTxnStatus; only the cleanup remains
      this.counters.cacheHits++;
      session.status = cached;
    }
    this.counters.resolutions++;
    // a resolution others may join runs on its own budget: one caller giving up (abort,
    // timeout) must not fail the others; each caller still waits only within its own limits
    const p = this.runMachine(session, own).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return withCallerLimits(p, ctl);
  }

  private async runMachine(session: ResolutionSession, ctl: RequestControl): Promise<ResolutionResult> {
    const actor = createActor(this.machine, { input: session, inspect: this.deps.inspect });
    this.controls.set(session, ctl);
    this.running.add(actor);
    const done = toPromise(actor);
    actor.start();
    try {
      // a stopped actor (the resolver closed meanwhile) settles without output
      return (await done) ?? { ok: false, error: new ShuttingDownError("lock resolver is closed") };
    } catch (e) {
      return { ok: false, error: e as Error };
    } finally {
      this.running.delete(actor);
      actor.stop();
    }
  }

  private ctlOf(s: ResolutionSession): RequestControl {
    return this.controls.get(s) ?? this.deps.backgroundControl();
  }

  private async checkStatus(s: ResolutionSession) {
    if (s.status !== undefined && s.outcome === undefined && isCacheable(s.status)) {
      return { kind: "status" as const, status: s.status };
    }
    // TTL 0 is TiKV's "resolve unconditionally" signal: make the lock expired (client-go)
    const currentTs = s.lock.ttl === 0n ? MAX_TS : await this.currentTs();
    return this.rpcStatus(
      {
        txnId: s.txnId,
        primary: s.lock.primary,
        callerStartTs: s.callerStartTs,
        currentTs,
        rollbackIfNotExist: s.rollbackIfNotExist,
        forceSyncCommit: s.forceSyncCommit,
        lock: s.lock,
      },
      this.ctlOf(s),
    );
  }

  // client-go's low-resolution clock always holds a ts; ours may not have one yet
  private async currentTs(): Promise<bigint> {
    try {
      return this.deps.clock.getLowResolutionTimestamp();
    } catch {
      return this.deps.clock.getTimestamp();
    }
  }

  private async rpcStatus(p: Parameters<typeof checkTxnStatus>[1], ctl: RequestControl) {
    const cached = this.cache.get(p.txnId);
    if (cached) {
      this.counters.cacheHits++;
      return { kind: "status" as const, status: cached };
    }
    this.counters.statusChecks++;
    const o = await checkTxnStatus(this.deps.sender, p, ctl, isPessimisticLock);
    const m = this.deps.metrics;
    if (m?.sink) {
      m.countLockResolver("query_txn_status");
      if (o.kind === "status") {
        const st = o.status;
        const outcome =
          st.ttl > 0n
            ? "not_expired"
            : st.commitTs > 0n
              ? "query_txn_status_committed"
              : "query_txn_status_rolled_back";
        m.countLockResolver(outcome);
      }
    }
    if (o.kind === "status" && o.status.ttl === 0n && isCacheable(o.status))
      this.cache.set(p.txnId, o.status);
    return o;
  }

  private async checkSecondaries(s: ResolutionSession): Promise<AsyncCommitState> {
    const primary = s.status?.primaryLock as LockDetails;
    const st = await checkAllSecondaries(this.deps.sender, s.txnId, primary, this.ctlOf(s));
    // the status is now final: committed at st.commitTs, or rolled back when 0
    const final: TxnStatus = {
      ttl: 0n,
      commitTs: st.commitTs,
      action: s.status?.action ?? 0,
      primaryLock: primary,
    };
    this.cache.set(s.txnId, final);
    return st;
  }

  private async cleanup(s: ResolutionSession): Promise<void> {
    const status = s.status as TxnStatus;
    const commitTs = status.commitTs;
    const isTxnFile = s.lock.isTxnFile;
    const work =
      s.asyncCommit !== undefined
        ? // every lock of an async-commit transaction: its still-locked secondaries and the primary
          (ctl: RequestControl) =>
            resolveKeys(
              this.deps.sender,
              s.txnId,
              commitTs,
              [...(s.asyncCommit as AsyncCommitState).keys, s.lock.primary],
              isTxnFile,
              ctl,
            )
        : (ctl: RequestControl) =>
            runCleanup(
              this.deps.sender,
              s.txnId,
              commitTs,
              planCleanup(s.locks, s.lite, s.pessimisticRegion, this.deps.liteThreshold),
              isTxnFile,
              ctl,
            );
    if (!s.forRead) return work(this.ctlOf(s));
    // a reader does not wait for the cleanup: it already knows how to treat the locks
    const bgCtl = this.deps.backgroundControl();
    const own = this.ctlOf(s);
    bgCtl.interceptor = own.interceptor;
    if (own.tapBackoffer !== undefined) {
      bgCtl.tapBackoffer = own.tapBackoffer;
      own.tapBackoffer(bgCtl.bo);
    }
    const bg = work(bgCtl).catch(() => {});
    this.background.add(bg);
    void bg.finally(() => this.background.delete(bg));
  }
}

/** `p`, or the caller's AbortedError / TimeoutError when its signal or deadline comes first. */
function withCallerLimits<T>(p: Promise<T>, ctl: RequestControl): Promise<T> {
  const signal = ctl.signal;
  if (!signal && ctl.deadline === 0) return p;
  if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      cleanup();
      reject(new AbortedError(signal?.reason));
    };
    const cleanup = () => {
      signal?.removeEventListener("abort", onAbort);
      if (timer) clearTimeout(timer);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (ctl.deadline > 0) {
      timer = setTimeout(
        () => {
          cleanup();
          reject(new TimeoutError("resolve locks", ctl.timeoutMs));
        },
        Math.max(0, ctl.deadline - Date.now()),
      );
    }
    p.then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (e) => {
        cleanup();
        reject(e);
      },
    );
  });
}

function pushTo(m: Map<bigint, LockDetails[]>, k: bigint, l: LockDetails): void {
  const list = m.get(k);
  if (list) list.push(l);
  else m.set(k, [l]);
}

// a shared lock given to resolve as such: only its holders can be resolved
function bareSharedLockError(): InvalidArgumentError {
  return new InvalidArgumentError("a shared lock cannot be resolved directly: resolve its holders", "locks");
}
