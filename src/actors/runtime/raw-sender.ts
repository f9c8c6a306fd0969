// What the raw facade needs from the routing layer: locate keys, and send one request to one
// region (the response, or "re-locate and retry" after the routing layer handled a region change).

import type { ApiCodec } from "../../kv/api-codec.js";
import type { Context } from "../../proto/kvrpcpb.js";
import type { StoreLabel } from "../../proto/metapb.js";
import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import type { Backoffer } from "../backoff/backoffer.js";
import type { CachedRegion } from "../region-cache/cached-region.js";
import type { RegionCache } from "../region-cache/region-cache.js";
import type { ReplicaReadType } from "../region-cache/replica-selector.js";
import type { RpcInterceptor } from "../request/interceptor.js";
import type { DetailsSink } from "./exec-details.js";
import type { ClientMetrics } from "./metrics.js";

/** The raw commands (names shared by the transport and the key codec). */
export type RawCommand =
  | "RawGet"
  | "RawBatchGet"
  | "RawPut"
  | "RawBatchPut"
  | "RawDelete"
  | "RawBatchDelete"
  | "RawDeleteRange"
  | "RawScan"
  | "RawBatchScan"
  | "RawGetKeyTTL"
  | "RawCompareAndSwap"
  | "RawChecksum";

/** The retry budget and deadline of one user call; shared by every RPC the call makes. */
export interface RequestControl {
  /** Backoff budget (carries the caller's AbortSignal). */
  bo: Backoffer;
  /** Absolute deadline in ms since the epoch; 0 = none. */
  deadline: number;
  /** The user's timeout in ms (for error messages); 0 = none. */
  timeoutMs: number;
  /** The caller's abort signal. */
  signal: AbortSignal | undefined;
  /**
   * True once one of the call's requests may have been applied (set by the routing layer, see
   * SendProgress in src/actors/request/request-sender.ts): a write failing without a verdict
   * after that is undetermined.
   */
  sent: boolean;
  /** RPC interceptors of the call's transaction or snapshot (run inside the client's); unset = none. */
  interceptor?: RpcInterceptor | undefined;
  /** Where the call's reads may go (a snapshot's replica / stale read options); unset = the leader. */
  routing?: ReadRouting | undefined;
  /**
   * Context fields of every request of the call (a raw call's resource group and request
   * source), under those the request sets itself; unset = none.
   */
  contextFields?: Partial<Context> | undefined;
  /**
   * Execution details asked for by the caller: every answered RPC and every backoff is reported
   * here, and TiKV is asked to record its time and scan statistics. Unset = none, and no cost.
   */
  details?: DetailsSink | undefined;
  /**
   * Set by an observer that records the call's backoffs (a traced transaction): applied to `bo`
   * already, and to the fresh backoffer of any background work the call starts. Unset = none.
   */
  tapBackoffer?: ((bo: Backoffer) => void) | undefined;
}

/**
 * Replica choice of reads (client-go KVSnapshot SetReplicaRead / SetIsStalenessReadOnly /
 * SetMatchStoreLabels); commands that are not reads always go to the leader.
 */
export interface ReadRouting {
  /** Which replicas may serve (default "leader"). */
  readonly replicaRead?: ReplicaReadType | undefined;
  /** Stale read: any replica whose safe ts covers the read ts, falling back to the leader. */
  readonly staleRead?: boolean | undefined;
  /** Prefer stores carrying all of these labels. */
  readonly labels?: readonly StoreLabel[] | undefined;
  /** Prefer these stores. */
  readonly storeIds?: readonly bigint[] | undefined;
  /**
   * The routing of one read request carrying `keys` keys, when the caller adjusts it per request
   * (client-go ReplicaReadAdjuster); undefined = a leader read.
   */
  readonly adjust?: ((keys: number) => ReadRouting | undefined) | undefined;
}

/** Context fields of a request: the same for every attempt, or per attempt (0 = first). */
export type ContextFields = Partial<Context> | ((attempt: number) => Partial<Context>);

/** Outcome of one send: the response, or `undefined` = the region changed, re-locate and retry. */
export type SendOutcome<C extends TikvCommand> = { resp: TikvResponse<C> } | { resp: undefined };

/** The routing operations RawClient and the transaction side use (any TiKV command). */
export interface RawRequestSender {
  readonly cache: RegionCache;
  readonly codec: ApiCodec;
  readonly metrics: ClientMetrics;
  /** The region of `key` (cache first, PD on a miss); `endKey` locates an exclusive range end. */
  locate(key: Buffer, ctl: RequestControl, endKey?: boolean): Promise<CachedRegion> | CachedRegion;
  /**
   * Sends `req` (user keys, no context) to `region`. `contextFields` are merged into the routing
   * context of every attempt (isolation level, priority, resolved locks, request source...); a
   * function gives them per attempt (0 = first).
   */
  sendOnce<C extends TikvCommand>(
    region: CachedRegion,
    cmd: C,
    req: TikvRequest<C>,
    ctl: RequestControl,
    contextFields?: ContextFields,
  ): Promise<SendOutcome<C>>;
}
