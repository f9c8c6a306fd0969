// The transactional side of a client (client-go tikv.KVStore): its own key codec and region cache
// (transactional keys are memcomparable in PD's region boundaries, unlike raw keys), the request
// sender over the client's store connections, the lock resolver actor, the safe-point checker,
// and the tracking of background commit work. Created on the first `client.txn()`.

import type { InspectionEvent } from "xstate";
import type { ApiCodec } from "../../kv/api-codec.js";
import { TXN_BUDGETS_MS } from "../../machines/policy/txn-budgets.js";
import type { Context } from "../../proto/kvrpcpb.js";
import { Bo } from "../backoff/backoff-config.js";
import { Backoffer } from "../backoff/backoffer.js";
import type { ObserveHub } from "../observe/hub.js";
import type { TxnRecorder } from "../observe/txn-recorder.js";
import type { PdActor } from "../pd/pd-actor.js";
import type { PdHttpClient } from "../pd/pd-http-client.js";
import { RegionCache } from "../region-cache/region-cache.js";
import { composeInterceptors, type RpcInterceptor } from "../request/interceptor.js";
import type { RpcTimeouts } from "../request/request-sender.js";
import { makeControl } from "../runtime/control.js";
import type { ClientMetrics } from "../runtime/metrics.js";
import { PdRegionSource, regionKeyCodec } from "../runtime/pd-region-source.js";
import type { RequestControl } from "../runtime/raw-sender.js";
import { RoutedSender } from "../runtime/routed-sender.js";
import { healthFeedbackRequester, storeHealthProbe } from "../runtime/store-health-probe.js";
import type { StorePool } from "../store/store-pool.js";
import { type CommitInput, Committer, type CommitterDeps } from "./committer.js";
import { LatchScheduler } from "./latches/scheduler.js";
import { LockResolver } from "./lock-resolver.js";
import { MinSafeTsTracker } from "./min-safe-ts.js";
import {
  PIPELINED_BUDGETS_MS,
  PipelinedCommitter,
  type PipelinedInput,
} from "./pipelined/pipelined-committer.js";
import { SafePointChecker } from "./safe-point.js";
import type { SlowTxnLog } from "./slow-txn-log.js";

export { TXN_BUDGETS_MS };

/** What the runtime is built from. */
export interface TxnRuntimeDeps {
  pd: PdActor;
  stores: StorePool;
  /** The transactional key codec (API version, keyspace). */
  codec: ApiCodec;
  metrics: ClientMetrics;
  /** Keyspace id for the GC state (undefined: the null keyspace). */
  keyspaceId: number | undefined;
  inspect?: (ev: InspectionEvent) => void;
  /** The client's observation hub (client.observe()); unset = transactions are never observed. */
  observe?: ObserveHub;
  /** Max lifetime of a heartbeated transaction (client-go MaxTxnTTL, default 1 h). */
  maxTxnTtlMs?: number;
  /** Per-phase retry budgets in ms (default {@link TXN_BUDGETS_MS}; the client's txnBackoffBudgetsMs). */
  budgetsMs?: Readonly<Record<keyof typeof TXN_BUDGETS_MS, number>>;
  /** Lite lock resolution below this many keys per region (client-go ResolveLockLiteThreshold, default 512). */
  resolveLockLiteThreshold?: number;
  /** Region cache TTL and jitter in ms (default 600 000 and 60 000, as RegionCache). */
  regionCacheTtl?: { ttlMs: number; ttlJitterMs: number };
  /** Forward leader requests through a follower when the leader's store is unreachable (client-go EnableForwarding). */
  enableForwarding?: boolean;
  /** Local latches for optimistic commits (client-go EnableTxnLocalLatches); absent = off. */
  txnLocalLatches?: { capacity: number };
  /** The client's RPC interceptors; unset = none. */
  interceptor?: RpcInterceptor | undefined;
  /** Per-attempt RPC timeouts (client-go ReadTimeoutShort / Medium); unset = 30 s / 60 s. */
  rpcTimeouts?: RpcTimeouts | undefined;
  /** Measure reads by zone for a client in `zone` (stale / replica read traffic); unset = off. */
  zoneTraffic?: { zone: string | undefined } | undefined;
  /** The slow-transaction log (a logger and its threshold); unset = silent. */
  slowTxnLog?: SlowTxnLog | undefined;
  /** PD's HTTP API, for the min safe ts (client-go: a PD HTTP client); unset = the stores only. */
  pdHttp?: PdHttpClient | undefined;
  /** Context fields of every request (the client's resource group, request source); unset = none. */
  contextDefaults?: Partial<Context> | undefined;
}

// A committer's control blocks carry its transaction's interceptors (set only when there are some).
function withInterceptor(ctl: RequestControl, it: RpcInterceptor | undefined): RequestControl {
  if (it !== undefined) ctl.interceptor = it;
  return ctl;
}

/** The transactional runtime of one client. */
export class TxnRuntime {
  readonly cache: RegionCache;
  readonly sender: RoutedSender;
  readonly resolver: LockResolver;
  readonly safePoint: SafePointChecker;
  /** The local latches of optimistic commits, when enabled (client-go KVStore.TxnLatches). */
  readonly latches: LatchScheduler | undefined;
  private readonly background = new Set<Promise<void>>();
  private minSafeTsTracker: MinSafeTsTracker | undefined;
  private closed = false;

  constructor(readonly deps: TxnRuntimeDeps) {
    const { pd, stores, codec, metrics } = deps;
    this.cache = new RegionCache(new PdRegionSource(pd, metrics, regionKeyCodec(codec)), {
      probe: storeHealthProbe(stores),
      requestHealthFeedback: healthFeedbackRequester(stores),
      ...deps.regionCacheTtl,
      enableForwarding: deps.enableForwarding,
    });
    stores.onHealthFeedback((id, score) => this.cache.stores.setSlowScore(id, score));
    this.sender = new RoutedSender(this.cache, stores, codec, metrics, {
      inspect: deps.inspect,
      interceptor: deps.interceptor,
      rpcTimeouts: deps.rpcTimeouts,
      contextDefaults: deps.contextDefaults,
      zoneTraffic: deps.zoneTraffic,
    });
    this.resolver = new LockResolver({
      sender: this.sender,
      clock: pd,
      backgroundControl: () => this.control("resolve"),
      inspect: deps.inspect,
      metrics,
      liteThreshold:
        deps.resolveLockLiteThreshold === undefined ? undefined : BigInt(deps.resolveLockLiteThreshold),
    });
    this.safePoint = new SafePointChecker(async () => {
      const r = await pd.getGCState(deps.keyspaceId);
      return r.gcState?.txnSafePoint ?? 0n;
    });
    this.latches = deps.txnLocalLatches ? new LatchScheduler(deps.txnLocalLatches.capacity) : undefined;
  }

  /**
   * A control block with the budget of `phase` (no deadline: background phases run to their
   * budget); `backoffSignal` cuts its backoff sleeps short (requests in flight go on).
   */
  control(
    phase: keyof typeof TXN_BUDGETS_MS,
    backoffSignal?: AbortSignal | (() => AbortSignal),
  ): RequestControl {
    return makeControl({
      maxBackoffMs: (this.deps.budgetsMs ?? TXN_BUDGETS_MS)[phase],
      timeoutMs: 0,
      backoffSignal,
      metrics: this.deps.metrics,
    });
  }

  /**
   * A TSO timestamp, retried with the PDRPC backoff for up to 15 s (client-go
   * GetTimestampWithRetry).
   */
  async getTimestamp(signal?: AbortSignal): Promise<bigint> {
    // made on the first failure: most calls get their timestamp at once
    let bo: Backoffer | undefined;
    const metrics = this.deps.metrics;
    const t0 = metrics.now();
    for (;;) {
      try {
        const ts = await this.deps.pd.getTimestamp(signal ? { signal } : undefined);
        metrics.observeTso(t0);
        return ts;
      } catch (e) {
        bo ??= new Backoffer({ maxSleepMs: (this.deps.budgetsMs ?? TXN_BUDGETS_MS).tso, signal });
        await bo.backoff(Bo.PDRPC, e);
      }
    }
  }

  /** Starts a commit; with `recorder` (an observed or traced transaction), recorded too. */
  newCommitter(input: CommitInput, recorder?: TxnRecorder): Committer {
    const deps: CommitterDeps = {
      sender: this.sender,
      resolver: this.resolver,
      getTimestamp: () => this.getTimestamp(),
      control: (phase, signal) => withInterceptor(this.control(phase, signal), input.interceptor),
      track: (p) => this.track(p),
      inspect: this.deps.inspect,
      maxTxnTtlMs: this.deps.maxTxnTtlMs ?? 60 * 60 * 1000,
      tracer: this.deps.metrics.tracer,
    };
    if (recorder) this.record(deps, input, recorder);
    return new Committer(deps, input);
  }

  // an observed or traced transaction's committer: its RPCs, backoffs, lock resolutions and
  // states go to its recorder too (kept apart so unobserved commits pay nothing)
  private record(deps: CommitterDeps, input: CommitInput, rec: TxnRecorder): void {
    const interceptor = composeInterceptors(input.interceptor, rec.interceptor);
    const live = this.deps.inspect;
    rec.hubSeesActors = live !== undefined;
    deps.resolver = rec.resolver(this.resolver);
    deps.control = (phase, signal) => rec.control(withInterceptor(this.control(phase, signal), interceptor));
    deps.inspect = live
      ? (ev) => {
          live(ev);
          rec.inspect(ev);
        }
      : rec.inspect;
  }

  /** Starts the committer of a pipelined transaction (it lives from begin). */
  newPipelinedCommitter(input: PipelinedInput): PipelinedCommitter {
    return new PipelinedCommitter(
      {
        sender: this.sender,
        resolver: this.resolver,
        pd: this.deps.pd,
        stores: this.deps.stores,
        getTimestamp: () => this.getTimestamp(),
        control: (phase, signal) =>
          withInterceptor(
            makeControl({
              maxBackoffMs: PIPELINED_BUDGETS_MS[phase],
              timeoutMs: 0,
              backoffSignal: signal,
              metrics: this.deps.metrics,
            }),
            input.interceptor,
          ),
        track: (p) => this.track(p),
        inspect: this.deps.inspect,
        maxTxnTtlMs: this.deps.maxTxnTtlMs ?? 60 * 60 * 1000,
        tracer: this.deps.metrics.tracer,
      },
      input,
    );
  }

  /** Keeps `p` until it settles, for {@link whenIdle}. */
  track(p: Promise<void>): void {
    // one promise per task: it settles (never rejects) once `p` did and is no longer tracked
    const q: Promise<void> = p.then(
      () => {
        this.background.delete(q);
      },
      () => {
        this.background.delete(q);
      },
    );
    this.background.add(q);
  }

  /** Resolves when no background commit, cleanup or lock resolution is running. */
  async whenIdle(): Promise<void> {
    for (;;) {
      if (this.background.size === 0) {
        await this.resolver.whenIdle();
        if (this.background.size === 0) return;
      }
      await Promise.allSettled([...this.background]);
    }
  }

  /** The cluster's min safe ts, refreshed in the background once asked for (client-go GetMinSafeTS). */
  get minSafeTs(): MinSafeTsTracker {
    this.minSafeTsTracker ??= new MinSafeTsTracker({
      pd: this.deps.pd,
      stores: this.deps.stores,
      pdHttp: this.deps.pdHttp,
    });
    return this.minSafeTsTracker;
  }

  /** Stops the resolver and drops the cache. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.minSafeTsTracker?.close();
    this.latches?.close();
    this.resolver.close();
    this.cache.stores.close();
    this.cache.clear();
  }
}
