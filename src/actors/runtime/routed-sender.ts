// Glue between the raw facade and the routing layer: the store pool as the request sender's
// StoreSender (with the API codec applied to every request and response, and routing counters),
// and RawRequestSender on top of RequestSender.sendToRegion. A region change reported back to us
// is backed off with RegionMiss and retried by the caller, as client-go rawkv's sendReq /
// doBatchReq do around RegionRequestSender.SendReq.

import type { InspectionEvent } from "xstate";
import { RegionError, regionErrorKind, TimeoutError } from "../../api/errors/server.js";
import type { ApiCodec } from "../../kv/api-codec.js";
import { decodeResponse, encodeRequest } from "../../kv/request-codec.js";
import type { Error as RegionErrorProto } from "../../proto/errorpb.js";
import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import { Bo } from "../backoff/backoff-config.js";
import type { CachedRegion } from "../region-cache/cached-region.js";
import type { RegionCache } from "../region-cache/region-cache.js";
import type { Liveness, StoreEntry } from "../region-cache/store-cache.js";
import { RequestSender, type RpcContext } from "../request/request-sender.js";
import type { StoreAddress, StoreSender, StoreSendOptions } from "../request/store-sender.js";
import type { StorePool } from "../store/store-pool.js";
import type { ClientMetrics } from "./metrics.js";
import type { RawCommand, RawRequestSender, RequestControl, SendOutcome } from "./raw-sender.js";

const RETRY = { resp: undefined } as const;

/**
 * Liveness probe for the store cache: after a send failure the store counts as unreachable until
 * its actor reconnects (or `timeoutMs` passes), like client-go's asynchronous store health check.
 */
export function storeProbe(stores: StorePool, timeoutMs = 2_000): (s: StoreEntry) => Promise<Liveness> {
  return (s) => {
    if (s.address === "") return Promise.resolve("unreachable");
    const actor = stores.get(Number(s.id), s.address);
    return new Promise<Liveness>((resolve) => {
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
    });
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
    stores.get(Number(store.storeId), store.address).sendWithCallback(cmd, req, opts, (err, resp) => {
      if (err || !resp) {
        metrics.sendFailures++;
        return reply(err ?? new Error(`${cmd}: empty response`));
      }
      try {
        // region errors carry region boundaries: decode them before the router reads them
        decodeResponse(codec, cmd as never, resp as never);
      } catch (e) {
        return reply(e as Error);
      }
      const re = (resp as { regionError?: RegionErrorProto }).regionError;
      if (re) metrics.countRegionError(regionErrorKind(re));
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

/** {@link RawRequestSender} over the routing layer's RequestSender. */
export class RoutedSender implements RawRequestSender {
  private readonly sender: RequestSender;

  constructor(
    readonly cache: RegionCache,
    stores: StorePool,
    readonly codec: ApiCodec,
    readonly metrics: ClientMetrics,
    /** Inspection callback for the retry and region actors (live view); unset = none. */
    inspect?: (ev: InspectionEvent) => void,
  ) {
    this.sender = new RequestSender(cache, poolStoreSender(stores, codec, metrics), {
      inspect,
      prepareContext: (ctx) => codec.applyToContext(ctx),
      // the store at that address is another one now: reconnect on next use
      onStoreNotMatch: (id) => stores.remove(Number(id)),
    });
  }

  locate(key: Buffer, ctl: RequestControl, endKey = false): Promise<CachedRegion> | CachedRegion {
    if (!endKey) return this.cache.tryLocateKey(key) ?? this.cache.locateKey(key, ctl.bo);
    return this.cache.locateEndKey(key, ctl.bo);
  }

  async sendOnce<C extends RawCommand>(
    region: CachedRegion,
    cmd: C,
    req: TikvRequest<C>,
    ctl: RequestControl,
  ): Promise<SendOutcome<C>> {
    const codec = this.codec;
    let timeoutMs: number | undefined;
    if (ctl.deadline > 0) {
      timeoutMs = ctl.deadline - Date.now();
      if (timeoutMs <= 0) throw new TimeoutError(cmd, ctl.timeoutMs);
    }
    // (the builder stays an inline argument: a named closure here costs a defineProperty per
    // call under tsx/esbuild keepNames)
    const resp = await this.sender.sendToRegion(
      region,
      cmd,
      (rc: RpcContext) =>
        encodeRequest(codec, cmd, { ...req, context: rc.context } as never) as TikvRequest<C>,
      // the budget is created only if this call needs a retry
      { budget: ctl, signal: ctl.signal, timeoutMs },
    );
    const re = (resp as { regionError?: RegionErrorProto }).regionError;
    if (!re) return { resp };
    this.metrics.retries++;
    const ms = ctl.bo.next(Bo.RegionMiss, new RegionError(re, region.id));
    if (ctl.deadline > 0 && Date.now() + ms >= ctl.deadline) throw new TimeoutError(cmd, ctl.timeoutMs);
    await ctl.bo.sleep(ms);
    return RETRY;
  }
}
