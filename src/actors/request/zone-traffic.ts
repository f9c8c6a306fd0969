// Read traffic by zone (client-go's networkCollector): whether each read went to a store in the
// client's own zone, and how many bytes it sent and received, for the stale-read and replica-read
// byte/request counters. Built only when someone counts it (metrics export or a `zone`); the
// request sender then measures reads off its fast path, so a client without it pays nothing.

import type { StoreLabel } from "../../proto/metapb.js";
import {
  type TikvCommand,
  type TikvRequest,
  type TikvResponse,
  UNARY_METHODS,
} from "../../rpc/tikv-commands.js";
import type { RpcContext } from "./rpc-context.js";

/** Where a request's target store is relative to the client (client-go kv.AccessLocation). */
export type AccessLocation = "local" | "cross-zone" | "unknown";

/** The store label naming a store's zone (client-go DCLabelKey). */
export const ZONE_LABEL_KEY = "zone";

/** The zone a store's labels name, if any. */
export function zoneOf(labels: readonly StoreLabel[] | undefined): string | undefined {
  return labels?.find((l) => l.key === ZONE_LABEL_KEY)?.value;
}

/** One read request and its answer, as the zone counters see it. */
export interface ReadTraffic {
  location: AccessLocation;
  /** Sent as a stale read (Context.stale_read). */
  staleRead: boolean;
  /** Sent to a follower or learner (Context.replica_read, or a stale read off the leader). */
  replicaRead: boolean;
  /** Encoded size of the request. */
  sentBytes: number;
  /** Encoded size of the response (0 when the call failed). */
  receivedBytes: number;
}

/** Where a store with `labels` is for a client in `selfZone` (unknown when either zone is). */
export function accessLocation(
  selfZone: string | undefined,
  labels: readonly StoreLabel[] | undefined,
): AccessLocation {
  const target = zoneOf(labels);
  if (!selfZone || !target) return "unknown";
  return selfZone === target ? "local" : "cross-zone";
}

interface Serializers {
  requestSerialize(r: unknown): Buffer;
  responseSerialize(r: unknown): Buffer;
}

// the reads client-go's collector counts (isReadReq: point, batch and range reads)
const COUNTED: ReadonlySet<TikvCommand> = new Set<TikvCommand>(["Get", "BatchGet", "Scan"]);

/** Measures the reads one request sender sends. */
export class ZoneTrafficMeter {
  constructor(
    /** The client's zone (ConnectOptions.zone); undefined = every location unknown. */
    private readonly selfZone: string | undefined,
    /** The labels of a store, from the sender's store cache. */
    private readonly labelsOf: (storeId: bigint) => readonly StoreLabel[] | undefined,
    /** Receives each measured read. */
    private readonly sink: (t: ReadTraffic) => void,
  ) {}

  /**
   * True when a leader read `cmd` is measured, so it must leave the sender's fast path. Without
   * the client's zone only stale reads are (a leader read's bytes go by zone, unknown here), and
   * stale reads never take the fast path.
   */
  countsLeaderReads(cmd: TikvCommand): boolean {
    return this.selfZone !== undefined && COUNTED.has(cmd);
  }

  /** True when this attempt is measured. */
  counts(cmd: TikvCommand, rc: RpcContext): boolean {
    return COUNTED.has(cmd) && (this.selfZone !== undefined || rc.context.staleRead);
  }

  /** Reports `call`'s request and answer once it settles; returns `call` unchanged. */
  measure<C extends TikvCommand>(
    rc: RpcContext,
    targetStoreId: bigint,
    cmd: C,
    req: TikvRequest<C>,
    call: Promise<TikvResponse<C>>,
  ): Promise<TikvResponse<C>> {
    const method = (UNARY_METHODS as unknown as Partial<Record<TikvCommand, Serializers>>)[cmd];
    if (method === undefined) return call;
    const base = {
      location: accessLocation(this.selfZone, this.labelsOf(targetStoreId)),
      staleRead: rc.context.staleRead,
      replicaRead:
        rc.context.replicaRead || (rc.context.staleRead && targetStoreId !== rc.region.leader.storeId),
      sentBytes: method.requestSerialize(req).length,
    };
    return call.then(
      (resp) => {
        this.sink({ ...base, receivedBytes: method.responseSerialize(resp).length });
        return resp;
      },
      (e: unknown) => {
        this.sink({ ...base, receivedBytes: 0 });
        throw e;
      },
    );
  }
}
