// sendToRegion: the client's routing entry point. Fast path: synchronous region lookup, one
// call to the leader's store, no actor. On a region error or send failure the request hands
// over to the retry statechart (src/machines/retry.ts), which backs off, switches peers,
// updates the region cache and relocates through region actors.
// Follows client-go internal/locate/region_request.go (SendReqCtx).

import { createActor, fromPromise, type InspectionEvent, toPromise } from "xstate";
import { AbortedError, InvalidArgumentError, TimeoutError } from "../../errors/index.js";
import {
  newRetrySession,
  READ_TIMEOUT_SHORT_MS,
  type RetryResult,
  type RetrySession,
  retryMachine,
  type SendOutcome,
} from "../../machines/retry.js";
import type { Error as RegionErrorProto } from "../../proto/errorpb.js";
import type { Context } from "../../proto/kvrpcpb.js";
import type { Peer, StoreLabel } from "../../proto/metapb.js";
import { wasNotSent } from "../../rpc/errors.js";
import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import { MaxBackoff } from "../backoff/backoff-config.js";
import { Backoffer } from "../backoff/backoffer.js";
import { CachedRegion } from "../region-cache/cached-region.js";
import { RegionActors } from "../region-cache/region-actors.js";
import type { RegionCache } from "../region-cache/region-cache.js";
import {
  type ReplicaReadType,
  ReplicaSelector,
  type ReplicaSelectorOptions,
} from "../region-cache/replica-selector.js";
import type { StaleReadEvent } from "../runtime/metrics-sink.js";
import type { StoreTokens } from "../store/store-tokens.js";
import { sendIntercepted } from "./intercept.js";
import { composeInterceptors, type RpcInterceptor } from "./interceptor.js";
import type { RpcContext } from "./rpc-context.js";
import type { StoreSender, StoreSendOptions } from "./store-sender.js";
import type { ZoneTrafficMeter } from "./zone-traffic.js";

export type { RpcContext };

/**
 * Builds the request for one attempt (called again for every retry, since the context changes).
 * The context may be shared by many requests (it is frozen): put it in the request as is.
 */
export type BuildRequest<C extends TikvCommand> = (ctx: RpcContext) => TikvRequest<C>;

/**
 * Whether a call's requests may have been applied, for callers that must tell "not applied" from
 * "unknown" (writes). `sent` becomes true once an attempt may have reached a server and been
 * applied: it was answered without a region error, or it failed after the transport took it
 * (an error not marked notSent: a timeout, an abort, a lost stream), or it was still in flight
 * when the call ended. It is never reset, so one holder can serve every request of a call.
 */
export interface SendProgress {
  sent: boolean;
}

/** Holder of a retry budget that may create it on first use (e.g. a call's control block). */
export interface BudgetSource {
  readonly bo: Backoffer;
}

/** Options of one {@link RequestSender.sendToRegion} call. */
export interface SendToRegionOptions {
  /** Which replicas may serve the request (reads only; default "leader"). */
  replicaRead?: ReplicaReadType | undefined;
  /** Stale read: any replica with the data, falling back to the leader. */
  staleRead?: boolean | undefined;
  /** Prefer stores with these labels (replica / stale reads). */
  labels?: readonly StoreLabel[] | undefined;
  /** Prefer these stores (replica / stale reads; client-go WithMatchStores). */
  storeIds?: readonly bigint[] | undefined;
  /** Whole-call timeout in ms, retries included (fails with TimeoutError). */
  timeoutMs?: number;
  /**
   * Per-attempt RPC timeout in ms (default 30 s for reads, 60 s otherwise). A read whose
   * attempt timeout is below 30 s skips a timed-out replica without backing off (client-go
   * tikv_client_read_timeout).
   */
  rpcTimeoutMs?: number;
  /** Cancels the call (fails with AbortedError). */
  signal?: AbortSignal;
  /**
   * The retry budget to use (shared across the caller's sub-requests); default a new one. A
   * {@link BudgetSource} is asked only when the call first needs a budget (a retry or a PD lookup).
   */
  budget?: Backoffer | BudgetSource;
  /** Budget in ms when `budget` is not given (default 20 s, weighted ×2 like client-go). */
  maxBackoffMs?: number;
  /** Override: is this a read command (default: Get, BatchGet, Scan as in client-go). */
  isRead?: boolean;
  /** TiKV busy threshold in ms for leader reads. */
  busyThresholdMs?: number;
  /** Told when an attempt may have been applied (see {@link SendProgress}). */
  progress?: SendProgress;
  /** RPC interceptors of this call (a transaction's or snapshot's), run inside the sender's own. */
  interceptor?: RpcInterceptor | undefined;
}

/** Options of a {@link RequestSender}. */
/** The client's per-attempt RPC timeouts (client-go ReadTimeoutShort / ReadTimeoutMedium). */
export interface RpcTimeouts {
  /** Ordinary requests: reads and writes of a few keys (default 30 000 ms). */
  readonly shortMs: number;
  /** Requests that may scan a whole region: ResolveLock, ScanLock, DeleteRange, RawDeleteRange (default 60 000 ms). */
  readonly mediumMs: number;
}

export interface RequestSenderOptions {
  /** The per-attempt RPC timeouts of calls that give none (default client-go's 30 s / 60 s). */
  rpcTimeouts?: RpcTimeouts;
  /** Measures reads by zone (stale / replica read traffic); unset = not measured, no cost. */
  zoneTraffic?: ZoneTrafficMeter;
  /** Region actors used for relocation (default: a private set). */
  regionActors?: RegionActors;
  /** Random source for replica tie-breaks. */
  random?: () => number;
  /** Called when TiKV reports StoreNotMatch, so the connection to the store can be re-established. */
  onStoreNotMatch?: (storeId: bigint) => void;
  /** XState inspection callback (the live view); no callback is attached when unset. */
  inspect?: (ev: InspectionEvent) => void;
  /**
   * Fills the sender-wide fields of every kvrpcpb.Context it builds (API version, keyspace),
   * once per context: builders receive contexts they must not modify.
   */
  prepareContext?: (ctx: Context) => void;
  /** RPC interceptors of every request (the client's); unset = none, and no cost. */
  interceptor?: RpcInterceptor;
  /**
   * Per-store request tokens (client-go StoreLimit): every attempt takes one before it is sent and
   * gives it back when answered; without a free token it fails at once with TokenLimitError,
   * unsent and not retried. Unset = no limit, and no cost.
   */
  tokens?: StoreTokens;
  /** Receives stale-read outcomes (ClientMetrics.countStaleRead); unset = not counted, no cost. */
  onStaleRead?: (event: StaleReadEvent) => void;
}

const READ_COMMANDS: ReadonlySet<TikvCommand> = new Set<TikvCommand>(["Get", "BatchGet", "Scan"]);
// raw writes must take effect at most once: no re-send after an attempt that may have been applied
const APPLY_ONCE: ReadonlySet<TikvCommand> = new Set<TikvCommand>([
  "RawPut",
  "RawBatchPut",
  "RawDelete",
  "RawBatchDelete",
  "RawDeleteRange",
  "RawCompareAndSwap",
]);
// How long an ending call waits for its in-flight attempt's outcome (the transport ends it at the
// same deadline or signal, so this is a safety net, not a delay).
const END_GRACE_MS = 100;
// client-go: writes of a few keys wait ReadTimeoutShort (30 s) for an answer, requests that may
// scan a region ReadTimeoutMedium (60 s); TiKV answers a lock wait within 1 s
// (wait-for-lock-timeout), so a pessimistic lock fits the short one too
const READ_TIMEOUT_MEDIUM_MS = 60_000;
const REGION_SCANNING_WRITES: ReadonlySet<TikvCommand> = new Set<TikvCommand>([
  "RawDeleteRange",
  "ResolveLock",
  "ScanLock",
  "DeleteRange",
]);

const DEFAULT_RPC_TIMEOUTS: RpcTimeouts = {
  shortMs: READ_TIMEOUT_SHORT_MS,
  mediumMs: READ_TIMEOUT_MEDIUM_MS,
};

function defaultRpcTimeout(timeouts: RpcTimeouts, cmd: TikvCommand, isRead: boolean): number {
  return !isRead && REGION_SCANNING_WRITES.has(cmd) ? timeouts.mediumMs : timeouts.shortMs;
}

interface RequestSession extends RetrySession {
  cmd: TikvCommand;
  /** The interceptor chain of every attempt (client's then call's); undefined = none. */
  interceptor: RpcInterceptor | undefined;
  build: BuildRequest<TikvCommand>;
  key: Buffer | undefined;
  signal: AbortSignal | undefined;
  busyThresholdMs: number;
  progress: SendProgress | undefined;
  /** Attempts handed to the transport and not answered yet. */
  inFlight: number;
  /** The whole-call timeout in ms (for messages; 0 = none). */
  timeoutMs: number;
  /** Set while the call waits for its in-flight attempt to settle before ending. */
  onSettled: (() => void) | undefined;
  /** Stale-read outcomes go here (a stale-read call with a listener only). */
  onStaleRead: ((event: StaleReadEvent) => void) | undefined;
  /** A stale read was retried on the leader as a normal read (counted once per call). */
  fellBack: boolean;
}

/** Sends requests to regions with client-go's routing and retry behaviour. */
export class RequestSender {
  /** Region actors for troubled regions. */
  readonly regionActors: RegionActors;
  private readonly machine;
  // The fast path's context per region, built once per (region, leader, store address) and
  // reused by every request while they hold: frozen, since every request shares it.
  private readonly leaderContexts = new WeakMap<CachedRegion, RpcContext>();
  private readonly rpcTimeouts: RpcTimeouts;

  constructor(
    /** The region cache. */
    readonly cache: RegionCache,
    /** The transport. */
    readonly store: StoreSender,
    private readonly opts: RequestSenderOptions = {},
  ) {
    this.regionActors = opts.regionActors ?? new RegionActors(cache, { inspect: opts.inspect });
    this.rpcTimeouts = opts.rpcTimeouts ?? DEFAULT_RPC_TIMEOUTS;
    this.machine = retryMachine.provide({
      actors: {
        send: fromPromise<SendOutcome, RetrySession>(({ input }) => this.attempt(input as RequestSession)),
        relocate: fromPromise<CachedRegion, RetrySession>(({ input }) => {
          const s = input as RequestSession;
          return this.regionActors.relocate(s.selector.region.id, s.key as Buffer, s.bo);
        }),
      },
    });
  }

  /**
   * Sends `cmd` to the region holding `target` (a key) or to `target` (a cached region).
   * With a key target, region changes are handled inside (relocate and retry); with a region
   * target, a response whose region changed is returned with its `regionError` set (after
   * the cache was updated) so the caller can re-split, as client-go's SendReq does.
   */
  sendToRegion<C extends TikvCommand>(
    target: Buffer | CachedRegion,
    cmd: C,
    build: BuildRequest<C>,
    opts: SendToRegionOptions = {},
  ): Promise<TikvResponse<C>> {
    // Fast path without an async frame: a cached healthy region whose leader is served by a
    // transport with a callback form costs one promise, settled from the transport's reply.
    const sendCb = this.store.sendWithCallback;
    // (interceptors take the general path: a call without any pays two field reads, no allocation)
    if (
      sendCb === undefined ||
      opts.signal?.aborted ||
      opts.interceptor !== undefined ||
      this.opts.interceptor !== undefined ||
      // a measured read goes the way that measures it
      this.opts.zoneTraffic?.countsLeaderReads(cmd)
    )
      return this.sendGeneral(target, cmd, build, opts);
    const region =
      target instanceof CachedRegion
        ? target
        : Buffer.isBuffer(target)
          ? this.cache.tryLocateKey(target)
          : undefined;
    if (region === undefined) return this.sendGeneral(target, cmd, build, opts);
    const isRead = opts.isRead ?? READ_COMMANDS.has(cmd);
    const store = this.fastTarget(region, isRead, opts);
    if (store === undefined) return this.sendGeneral(target, cmd, build, opts);
    const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Number.POSITIVE_INFINITY;
    const rpcTimeoutMs = opts.rpcTimeoutMs ?? defaultRpcTimeout(this.rpcTimeouts, cmd, isRead);
    const leader = region.leader;
    let req: TikvRequest<C>;
    try {
      req = build(this.leaderContext(region, leader, store.address));
    } catch (e) {
      return Promise.reject(e);
    }
    const progress = opts.progress;
    const tokens = this.opts.tokens;
    if (tokens !== undefined) {
      const refused = tokens.acquire(leader.storeId);
      if (refused !== undefined) return Promise.reject(refused);
    }
    return new Promise<TikvResponse<C>>((resolve, reject) => {
      sendCb.call(
        this.store,
        { storeId: leader.storeId, address: store.address },
        cmd,
        req,
        { timeoutMs: attemptTimeout(rpcTimeoutMs, deadline), signal: opts.signal },
        (err, resp) => {
          tokens?.release(leader.storeId);
          if (!err && !(resp as { regionError?: RegionErrorProto }).regionError) {
            if (progress !== undefined) progress.sent = true;
            resolve(resp as TikvResponse<C>);
            return;
          }
          if (err && progress !== undefined && !wasNotSent(err)) progress.sent = true;
          const initial: SendOutcome = err ? { error: err } : { resp };
          this.afterFastAttempt(target, region, cmd, build, opts, undefined, deadline, initial).then(
            resolve,
            reject,
          );
        },
      );
    });
  }

  // sendToRegion's general form: validation, a PD lookup on a cache miss, the fast attempt
  // through the promise form of the transport, then the retry statechart.
  private async sendGeneral<C extends TikvCommand>(
    target: Buffer | CachedRegion,
    cmd: C,
    build: BuildRequest<C>,
    opts: SendToRegionOptions,
  ): Promise<TikvResponse<C>> {
    const signal = opts.signal;
    if (signal?.aborted) throw new AbortedError(signal.reason);
    const isKey = !(target instanceof CachedRegion);
    if (isKey && !Buffer.isBuffer(target))
      throw new InvalidArgumentError("expected a Buffer key or a CachedRegion", "target");
    const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Number.POSITIVE_INFINITY;
    const given = opts.budget;
    let bo = given instanceof Backoffer ? given : undefined;
    let region = isKey ? this.cache.tryLocateKey(target as Buffer) : (target as CachedRegion);
    if (!region) {
      bo ??= given ? (given as BudgetSource).bo : this.newBudget(opts);
      region = await this.withDeadline(this.cache.locateKey(target as Buffer, bo), deadline, opts.timeoutMs);
    }
    const isRead = opts.isRead ?? READ_COMMANDS.has(cmd);
    const rpcTimeoutMs = opts.rpcTimeoutMs ?? defaultRpcTimeout(this.rpcTimeouts, cmd, isRead);

    // fast path: a leader request to a healthy leader costs one store call and nothing else
    let initial: SendOutcome | undefined;
    const store = this.fastTarget(region, isRead, opts);
    if (store !== undefined) {
      const leader = region.leader;
      const rc = this.leaderContext(region, leader, store.address);
      const req = build(rc);
      const progress = opts.progress;
      try {
        const resp = await this.transmit(
          rc,
          cmd,
          req,
          { timeoutMs: attemptTimeout(rpcTimeoutMs, deadline), signal },
          composeInterceptors(this.opts.interceptor, opts.interceptor),
        );
        if (!(resp as { regionError?: RegionErrorProto }).regionError) {
          if (progress !== undefined) progress.sent = true;
          return resp;
        }
        initial = { resp };
      } catch (e) {
        if (progress !== undefined && !wasNotSent(e)) progress.sent = true;
        initial = { error: e as Error };
      }
    }
    return this.afterFastAttempt(target, region, cmd, build, opts, bo, deadline, initial);
  }

  // The store of `region`'s leader when the request may take the fast path (a leader request
  // to a valid region whose leader's store is resolved, current and not known unreachable).
  private fastTarget(region: CachedRegion, isRead: boolean, opts: SendToRegionOptions) {
    if (isRead && ((opts.replicaRead ?? "leader") !== "leader" || opts.staleRead)) return undefined;
    if (opts.busyThresholdMs || !region.isValid) return undefined;
    const storeId = region.leader.storeId;
    const store = this.cache.stores.peek(storeId);
    if (
      store === undefined ||
      store.address === "" ||
      store.epoch !== region.storeEpochs[region.leaderIdx] ||
      this.cache.stores.liveness(storeId) === "unreachable"
    ) {
      return undefined;
    }
    return store;
  }

  // After the fast attempt (if any) failed or met a region error: the retry statechart takes over.
  private async afterFastAttempt<C extends TikvCommand>(
    target: Buffer | CachedRegion,
    region: CachedRegion,
    cmd: C,
    build: BuildRequest<C>,
    opts: SendToRegionOptions,
    bo: Backoffer | undefined,
    deadline: number,
    initial: SendOutcome | undefined,
  ): Promise<TikvResponse<C>> {
    if (initial?.error && Date.now() >= deadline) {
      throw new TimeoutError(`${cmd} to region ${region.id}`, opts.timeoutMs ?? 0, {
        cause: initial.error,
      });
    }
    const isKey = !(target instanceof CachedRegion);
    const isRead = opts.isRead ?? READ_COMMANDS.has(cmd);
    const rpcTimeoutMs = opts.rpcTimeoutMs ?? defaultRpcTimeout(this.rpcTimeouts, cmd, isRead);
    const given = opts.budget;
    bo ??= given instanceof Backoffer ? given : given ? given.bo : this.newBudget(opts);
    const selOpts: ReplicaSelectorOptions = {
      replicaRead: isRead ? (opts.replicaRead ?? "leader") : "leader",
      staleRead: isRead && (opts.staleRead ?? false),
      isRead,
      labels: opts.labels,
      storeIds: opts.storeIds,
      busyThresholdMs: opts.busyThresholdMs,
      random: this.opts.random,
    };
    const s: RequestSession = {
      ...newRetrySession({
        cache: this.cache,
        selector: new ReplicaSelector(this.cache, region, selOpts),
        bo,
        isRead,
        rpcTimeoutMs,
        readTimeoutShortMs: this.rpcTimeouts.shortMs,
        relocatable: isKey,
        newSelector: (r) => new ReplicaSelector(this.cache, r, selOpts),
        onStoreNotMatch: this.opts.onStoreNotMatch,
        deadline,
        applyOnce: APPLY_ONCE.has(cmd),
      }),
      cmd,
      interceptor: composeInterceptors(this.opts.interceptor, opts.interceptor),
      build: build as BuildRequest<TikvCommand>,
      key: isKey ? (target as Buffer) : undefined,
      signal: opts.signal,
      busyThresholdMs: opts.busyThresholdMs ?? 0,
      progress: opts.progress,
      inFlight: 0,
      timeoutMs: opts.timeoutMs ?? 0,
      onSettled: undefined,
      onStaleRead: selOpts.staleRead ? this.opts.onStaleRead : undefined,
      fellBack: false,
    };
    // the fast-path attempt went to the leader: record it as the selector's first target
    if (initial) s.selector.next();
    // without a fast attempt (e.g. forwarding: the leader's store is unreachable) we may still be
    // inside the caller's XState action: the retry actor starts after it (XState warns otherwise)
    else await Promise.resolve();
    const result = await this.run(s, initial, opts);
    // client-go stale_read_counter: a hit is answered by its first (stale) attempt
    s.onStaleRead?.(result.kind === "ok" && s.sendTimes === 1 ? "hit" : "miss");
    if (result.kind === "ok" || result.kind === "regionError") return result.resp as TikvResponse<C>;
    throw result.error;
  }

  // The cached fast-path context of `region` for its current leader at `address`.
  private leaderContext(region: CachedRegion, leader: Peer, address: string): RpcContext {
    const cached = this.leaderContexts.get(region);
    if (cached !== undefined && cached.peer === leader && cached.address === address) return cached;
    const rc = rpcContext(
      region,
      leader,
      leader.storeId,
      address,
      false,
      false,
      0,
      0,
      this.opts.prepareContext,
    );
    Object.freeze(rc.context);
    Object.freeze(rc);
    this.leaderContexts.set(region, rc);
    return rc;
  }

  private async run(
    s: RequestSession,
    initial: SendOutcome | undefined,
    opts: SendToRegionOptions,
  ): Promise<RetryResult> {
    const actor = createActor(this.machine, { input: { session: s, initial }, inspect: this.opts.inspect });
    const signal = opts.signal;
    // The call ends (deadline or abort). An attempt in flight is ended by the transport at the same
    // deadline or signal, and its error tells whether it ever left the client: the call ends once
    // that outcome is recorded (or, should the transport not answer, after a short grace, counting
    // the attempt as possibly applied).
    let grace: ReturnType<typeof setTimeout> | undefined;
    const end = (error: Error) => {
      const abort = () => {
        s.onSettled = undefined;
        if (grace) clearTimeout(grace);
        actor.send({ type: "ABORT", error });
      };
      if (s.inFlight === 0) return abort();
      s.onSettled = abort;
      grace ??= setTimeout(() => {
        if (s.inFlight > 0 && s.progress !== undefined) s.progress.sent = true;
        abort();
      }, END_GRACE_MS);
    };
    const onAbort = () => end(new AbortedError(signal?.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (opts.timeoutMs !== undefined) {
      const ms = Math.max(0, s.deadline - Date.now());
      timer = setTimeout(() => end(new TimeoutError(`${s.cmd} with retries`, opts.timeoutMs ?? 0)), ms);
    }
    try {
      actor.start();
      const done = toPromise(actor);
      actor.send({ type: "START" });
      return await done;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      s.onSettled = undefined;
      actor.stop();
    }
  }

  // one attempt to the selector's target; never rejects
  private async attempt(s: RequestSession): Promise<SendOutcome> {
    const t = s.selector.target;
    if (!t) return { error: new Error("no target") };
    const remaining = s.deadline - Date.now();
    if (remaining <= 0) return { error: new TimeoutError(`${s.cmd} with retries`, s.timeoutMs) };
    // forwarding: the call goes to the proxy, which hands it to the leader at t.address
    const proxy = t.proxy;
    const ctx = rpcContext(
      s.selector.region,
      t.peer,
      proxy ? proxy.storeId : t.storeId,
      proxy ? proxy.address : t.address,
      t.replicaRead,
      t.staleRead,
      s.sendTimes,
      s.busyThresholdMs,
      this.opts.prepareContext,
    );
    if (proxy) ctx.forwardedHost = t.address;
    const onStale = s.onStaleRead;
    if (onStale !== undefined) {
      if (t.staleRead) onStale("attempt");
      else if (t.isLeader && !s.fellBack) {
        s.fellBack = true;
        onStale("leader_fallback");
      }
    }
    let req: TikvRequest<TikvCommand>;
    try {
      req = s.build(ctx);
    } catch (e) {
      return { error: e as Error };
    }
    const progress = s.progress;
    s.inFlight++;
    try {
      const resp = await this.transmit(
        ctx,
        s.cmd,
        req,
        { timeoutMs: attemptTimeout(s.rpcTimeoutMs, s.deadline), signal: s.signal },
        s.interceptor,
        // a forwarded call takes a token of the store it is for, not of its proxy (client-go rpcCtx.Store)
        t.storeId,
      );
      if (progress !== undefined && !(resp as { regionError?: RegionErrorProto }).regionError) {
        progress.sent = true;
      }
      if (
        onStale !== undefined &&
        t.staleRead &&
        (resp as { regionError?: RegionErrorProto }).regionError?.dataIsNotReady
      ) {
        onStale("data_not_ready");
      }
      return { resp };
    } catch (e) {
      if (progress !== undefined && !wasNotSent(e)) progress.sent = true;
      return { error: e as Error };
    } finally {
      s.inFlight--;
      if (s.inFlight === 0) s.onSettled?.();
    }
  }

  // one attempt to the transport, through the interceptor chain when there is one
  private transmit<C extends TikvCommand>(
    rc: RpcContext,
    cmd: C,
    req: TikvRequest<C>,
    sendOpts: StoreSendOptions,
    chain: RpcInterceptor | undefined,
    tokenStoreId: bigint = rc.storeId,
  ): Promise<TikvResponse<C>> {
    const tokens = this.opts.tokens;
    if (tokens !== undefined) {
      const storeId = tokenStoreId;
      const refused = tokens.acquire(storeId);
      if (refused !== undefined) return Promise.reject(refused);
      return this.measured(
        rc,
        tokenStoreId,
        cmd,
        req,
        this.transmitNow(rc, cmd, req, sendOpts, chain),
      ).finally(() => tokens.release(storeId));
    }
    return this.measured(rc, tokenStoreId, cmd, req, this.transmitNow(rc, cmd, req, sendOpts, chain));
  }

  private measured<C extends TikvCommand>(
    rc: RpcContext,
    targetStoreId: bigint,
    cmd: C,
    req: TikvRequest<C>,
    call: Promise<TikvResponse<C>>,
  ): Promise<TikvResponse<C>> {
    const meter = this.opts.zoneTraffic;
    if (meter === undefined || !meter.counts(cmd, rc)) return call;
    return meter.measure(rc, targetStoreId, cmd, req, call);
  }

  private transmitNow<C extends TikvCommand>(
    rc: RpcContext,
    cmd: C,
    req: TikvRequest<C>,
    sendOpts: StoreSendOptions,
    chain: RpcInterceptor | undefined,
  ): Promise<TikvResponse<C>> {
    if (chain === undefined)
      return this.store.send(
        { storeId: rc.storeId, address: rc.address, forwardedHost: rc.forwardedHost },
        cmd,
        req,
        sendOpts,
      );
    return sendIntercepted(this.store, chain, rc, cmd, req, sendOpts);
  }

  private newBudget(opts: SendToRegionOptions): Backoffer {
    return new Backoffer({ maxSleepMs: opts.maxBackoffMs ?? MaxBackoff.rawkv, signal: opts.signal });
  }

  private async withDeadline<T>(p: Promise<T>, deadline: number, timeoutMs: number | undefined): Promise<T> {
    if (deadline === Number.POSITIVE_INFINITY) return p;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TimeoutError("locate region", timeoutMs ?? 0)),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function attemptTimeout(rpcTimeoutMs: number, deadline: number): number {
  return Math.max(1, Math.min(rpcTimeoutMs, deadline - Date.now()));
}

// Shared empty buffers: the defaults of Context's bytes fields (never written to).
const EMPTY = Buffer.alloc(0);

// Builds kvrpcpb.Context as one literal with every field: V8 gives it a fixed shape, which
// costs a fraction of Context.fromPartial (fresh empty Buffers) or spreading a defaults object
// (both ~2.5 µs here), and this runs once per request on the fast path.
function rpcContext(
  region: CachedRegion,
  peer: Peer,
  storeId: bigint,
  address: string,
  replicaRead: boolean,
  staleRead: boolean,
  attempt: number,
  busyThresholdMs: number,
  prepare: ((ctx: Context) => void) | undefined,
): RpcContext {
  const context: Context = {
    regionId: region.id,
    regionEpoch: { confVer: region.confVer, version: region.version },
    peer,
    term: 0n,
    priority: 0,
    isolationLevel: 0,
    notFillCache: false,
    syncLog: false,
    recordTimeStat: false,
    recordScanStat: false,
    replicaRead,
    resolvedLocks: [],
    maxExecutionDurationMs: 0n,
    appliedIndex: 0n,
    taskId: 0n,
    staleRead,
    resourceGroupTag: EMPTY,
    diskFullOpt: 0,
    isRetryRequest: attempt > 0,
    apiVersion: 0,
    committedLocks: [],
    traceContext: undefined,
    requestSource: "",
    txnSource: 0n,
    busyThresholdMs,
    resourceControlContext: undefined,
    requestOrigin: 0,
    keyspaceName: "",
    keyspace: undefined,
    // client-go never sets it on KV/raw requests (RPCContext.BucketVersion stays 0); only
    // TiDB's coprocessor client does, and TiKV checks it only on the coprocessor path
    bucketsVersion: 0n,
    sourceStmt: undefined,
    clusterId: 0n,
    traceId: EMPTY,
    traceControlFlags: 0n,
  };
  if (prepare) prepare(context);
  return {
    context,
    region,
    peer,
    storeId,
    address,
    attempt,
  };
}
