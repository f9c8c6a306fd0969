// Glue between the raw facade and the routing layer: the store pool as the request sender's
// StoreSender (with the API codec applied to every request and response, and routing counters),
// and RawRequestSender on top of RequestSender.sendToRegion. A region change reported back to us
// is backed off with RegionMiss and retried by the caller, as client-go rawkv's sendReq /
// doBatchReq do around RegionRequestSender.SendReq.

import type { InspectionEvent } from "xstate";
import { RegionError, regionErrorKind, TimeoutError } from "../../errors/server.js";
import type { ApiCodec } from "../../kv/api-codec.js";
import { codecCommand, decodeResponse, encodeRequest } from "../../kv/request-codec.js";
import type { Error as RegionErrorProto } from "../../proto/errorpb.js";
import type { Context, ExecDetailsV2 } from "../../proto/kvrpcpb.js";
import { notSent } from "../../rpc/errors.js";
import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import { Bo } from "../backoff/backoff-config.js";
import type { CachedRegion } from "../region-cache/cached-region.js";
import type { RegionCache } from "../region-cache/region-cache.js";
import type { Liveness, StoreEntry } from "../region-cache/store-cache.js";
import type { RpcInterceptor } from "../request/interceptor.js";
import { RequestSender, type RpcContext, type RpcTimeouts } from "../request/request-sender.js";
import { poolActor } from "../request/store-pool-sender.js";
import type { StoreAddress, StoreSender, StoreSendOptions } from "../request/store-sender.js";
import { ZoneTrafficMeter } from "../request/zone-traffic.js";
import type { StoreActor } from "../store/store-actor.js";
import type { StorePool } from "../store/store-pool.js";
import type { ClientMetrics } from "./metrics.js";
import type {
  ContextFields,
  RawRequestSender,
  ReadRouting,
  RequestControl,
  SendOutcome,
} from "./raw-sender.js";

const RETRY = { resp: undefined } as const;

/**
 * Liveness probe for the store cache: after a send failure the store counts as unreachable until
 * its actor reconnects (or `timeoutMs` passes), like client-go's asynchronous store health check.
 */
export function storeProbe(stores: StorePool, timeoutMs = 2_000): (s: StoreEntry) => Promise<Liveness> {
  return (s) => {
    if (s.address === "") return Promise.resolve("unreachable");
    // The probe is started from the retry machine's send-failure decision (an XState action), and
    // getting the store's actor may create it: creating an actor inside another actor's action
    // runs its setup as part of that action (XState warns "Custom actions should not call
    // assign()"). The probe is asynchronous anyway, so it starts on the next microtask.
    return Promise.resolve().then(
      () =>
        new Promise<Liveness>((resolve) => {
          const actor = stores.get(Number(s.id), s.address);
          const t = setTimeout(() => resolve("unreachable"), timeoutMs);
          actor.whenReady().then(
            () => {
              clearTimeout(t);
              resolve("reachable");
            },
            () => {
              clearTimeout(t);
              resolve("unreachable");
            },
          );
        }),
    );
  };
}

/**
 * While a store actor makes its first connection it holds requests and writes them once
 * connected, also those whose caller gave up meanwhile (it answers the caller at the request's
 * deadline or abort). A request given up while still held is withdrawn here, so that it is never
 * written after its caller was told it failed, and its error is marked notSent: it cannot have
 * been applied.
 */
function guardHeld(
  actor: StoreActor,
  req: unknown,
  opts: StoreSendOptions,
): { opts: StoreSendOptions; settle(err: Error | null): Error | null } {
  const withdraw = new AbortController();
  const signal = opts.signal;
  const onAbort = () => withdraw.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    opts: { timeoutMs: opts.timeoutMs, signal: withdraw.signal },
    settle(err) {
      signal?.removeEventListener("abort", onAbort);
      if (err === null || !actor.actor.getSnapshot().context.held.some((e) => e.req === req)) return err;
      withdraw.abort(err);
      return notSent(err);
    },
  };
}

/** The store pool seen as a StoreSender: decodes responses with the codec and counts sends and errors. */
export function poolStoreSender(stores: StorePool, codec: ApiCodec, metrics: ClientMetrics): StoreSender {
  const sendWithCallback = <C extends TikvCommand>(
    store: StoreAddress,
    cmd: C,
    req: TikvRequest<C>,
    opts: StoreSendOptions,
    reply: (err: Error | null, resp?: TikvResponse<C>) => void,
  ): void => {
    metrics.countSend(store.storeId);
    const t0 = metrics.now();
    const actor = poolActor(stores, store);
    const held = actor.state === "connecting" ? guardHeld(actor, req, opts) : undefined;
    actor.sendWithCallback(cmd, req, held ? held.opts : opts, (err0, resp) => {
      const err = held ? held.settle(err0) : err0;
      metrics.observeRequest(cmd, store.storeId, t0, !err && !!resp);
      if (err || !resp) {
        metrics.sendFailures++;
        // A store actor refuses a request (reconnecting, stopped) from inside its machine's
        // action; the router's answer to a failure may start its retry actor, which must not
        // happen inside another actor's action (XState warns). Failures go on a microtask.
        const e = err ?? new Error(`${cmd}: empty response`);
        queueMicrotask(() => reply(e));
        return;
      }
      try {
        // region errors carry region boundaries: decode them before the router reads them
        decodeResponse(codec, codecCommand(cmd), resp as never);
      } catch (e) {
        return reply(e as Error);
      }
      const re = (resp as { regionError?: RegionErrorProto }).regionError;
      if (re) metrics.countRegionError(regionErrorKind(re), store.storeId);
      reply(null, resp);
    });
  };
  return {
    sendWithCallback,
    send<C extends TikvCommand>(
      store: StoreAddress,
      cmd: C,
      req: TikvRequest<C>,
      opts: StoreSendOptions,
    ): Promise<TikvResponse<C>> {
      return new Promise<TikvResponse<C>>((resolve, reject) =>
        sendWithCallback(store, cmd, req, opts, (err, resp) =>
          err ? reject(err) : resolve(resp as TikvResponse<C>),
        ),
      );
    },
  };
}

/** The client-wide settings of a {@link RoutedSender} (each unset = off / the default). */
export interface RoutedSenderOptions {
  /** Inspection callback for the retry and region actors (live view, observeActors). */
  inspect?: ((ev: InspectionEvent) => void) | undefined;
  /** The client's RPC interceptors. */
  interceptor?: RpcInterceptor | undefined;
  /** The client's per-attempt RPC timeouts (default client-go's). */
  rpcTimeouts?: RpcTimeouts | undefined;
  /** Context fields of every request (the client's resource group, request source). */
  contextDefaults?: Partial<Context> | undefined;
  /** Measure reads by zone, for a client in `zone`. */
  zoneTraffic?: { zone: string | undefined } | undefined;
}

/** {@link RawRequestSender} over the routing layer's RequestSender. */
export class RoutedSender implements RawRequestSender {
  private readonly sender: RequestSender;

  constructor(
    readonly cache: RegionCache,
    stores: StorePool,
    readonly codec: ApiCodec,
    readonly metrics: ClientMetrics,
    opts: RoutedSenderOptions = {},
  ) {
    const { inspect, interceptor, rpcTimeouts, contextDefaults, zoneTraffic } = opts;
    this.sender = new RequestSender(cache, poolStoreSender(stores, codec, metrics), {
      inspect,
      interceptor,
      rpcTimeouts,
      zoneTraffic:
        zoneTraffic &&
        new ZoneTrafficMeter(
          zoneTraffic.zone,
          (id) => cache.stores.peek(id)?.labels,
          (t) => metrics.countReadTraffic(t),
        ),
      prepareContext:
        contextDefaults === undefined
          ? (ctx) => codec.applyToContext(ctx)
          : (ctx) => {
              codec.applyToContext(ctx);
              Object.assign(ctx, contextDefaults);
            },
      // the store at that address is another one now: reconnect on next use
      onStoreNotMatch: (id) => stores.remove(Number(id)),
      // (no limit, no per-attempt cost)
      tokens: stores.tokens.limit > 0 ? stores.tokens : undefined,
      onStaleRead: (event) => metrics.countStaleRead(event),
    });
  }

  locate(key: Buffer, ctl: RequestControl, endKey = false): Promise<CachedRegion> | CachedRegion {
    if (!endKey) return this.cache.tryLocateKey(key) ?? this.cache.locateKey(key, ctl.bo);
    return this.cache.locateEndKey(key, ctl.bo);
  }

  sendOnce<C extends TikvCommand>(
    region: CachedRegion,
    cmd: C,
    req: TikvRequest<C>,
    ctl: RequestControl,
    contextFields?: ContextFields,
  ): Promise<SendOutcome<C>> {
    const tracer = this.metrics.tracer;
    if (tracer === undefined) return this.sendRegion(region, cmd, req, ctl, contextFields);
    // client-go's region request span: every attempt and backoff of this request is inside it
    return tracer.span(
      "regionRequest.SendReqCtx",
      { "tikv.command": cmd, "tikv.region_id": region.id.toString() },
      () => this.sendRegion(region, cmd, req, ctl, contextFields),
    );
  }

  private async sendRegion<C extends TikvCommand>(
    region: CachedRegion,
    cmd: C,
    req: TikvRequest<C>,
    ctl: RequestControl,
    contextFields: ContextFields | undefined,
  ): Promise<SendOutcome<C>> {
    const codec = this.codec;
    const codecCmd = codecCommand(cmd);
    // execution details asked for: TiKV records its statistics, the wait is timed
    const details = ctl.details;
    if (details?.recordStats) contextFields = withStats(contextFields);
    const t0 = details !== undefined ? performance.now() : 0;
    let timeoutMs: number | undefined;
    if (ctl.deadline > 0) {
      timeoutMs = ctl.deadline - Date.now();
      if (timeoutMs <= 0) throw new TimeoutError(cmd, ctl.timeoutMs);
    }
    const routing = ctl.routing?.adjust ? adjustedRouting(ctl.routing, cmd, req) : ctl.routing;
    // (the builder stays an inline argument: a named closure here costs a defineProperty per
    // call under tsx/esbuild keepNames)
    const resp = await this.sender.sendToRegion(
      region,
      cmd,
      (rc: RpcContext) =>
        encodeRequest(codec, codecCmd, {
          ...req,
          context:
            contextFields === undefined && ctl.contextFields === undefined
              ? rc.context
              : {
                  ...rc.context,
                  ...ctl.contextFields,
                  ...(typeof contextFields === "function" ? contextFields(rc.attempt) : contextFields),
                },
        } as never) as TikvRequest<C>,
      // the budget is created only if this call needs a retry
      routing === undefined
        ? { budget: ctl, signal: ctl.signal, timeoutMs, progress: ctl, interceptor: ctl.interceptor }
        : {
            budget: ctl,
            signal: ctl.signal,
            timeoutMs,
            progress: ctl,
            interceptor: ctl.interceptor,
            replicaRead: routing.replicaRead,
            staleRead: routing.staleRead,
            labels: routing.labels,
            storeIds: routing.storeIds,
          },
    );
    const re = (resp as { regionError?: RegionErrorProto }).regionError;
    if (!re) {
      if (details !== undefined) {
        const pb = (resp as { execDetailsV2?: ExecDetailsV2 }).execDetailsV2;
        details.response(cmd, region.id, region.leader.storeId, performance.now() - t0, pb);
      }
      return { resp };
    }
    this.metrics.retries++;
    const ms = ctl.bo.next(Bo.RegionMiss, new RegionError(re, region.id));
    if (ctl.deadline > 0 && Date.now() + ms >= ctl.deadline) throw new TimeoutError(cmd, ctl.timeoutMs);
    await ctl.bo.sleep(ms);
    return RETRY;
  }
}

const STATS: Partial<Context> = { recordTimeStat: true, recordScanStat: true };

// the context fields of a call that asked for execution details: TiKV's statistics on
function withStats(fields: ContextFields | undefined): ContextFields {
  if (fields === undefined) return STATS;
  if (typeof fields === "function") return (attempt) => ({ ...fields(attempt), ...STATS });
  return { ...fields, ...STATS };
}

// a read's routing as the caller's adjuster decides it from the keys the request reads (client-go
// applies it to point and batch gets only)
function adjustedRouting(routing: ReadRouting, cmd: TikvCommand, req: unknown): ReadRouting | undefined {
  const adjust = routing.adjust as (keys: number) => ReadRouting | undefined;
  if (cmd === "Get") return adjust(1);
  if (cmd === "BatchGet") return adjust((req as { keys: readonly unknown[] }).keys.length);
  return routing;
}
