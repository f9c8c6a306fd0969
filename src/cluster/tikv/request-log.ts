// A log of the requests the mock stores serve, for tests that must see where a client sent a
// request (leader or follower, replica or stale read) and what it got back. Recording is
// opt-in: while no recorder is active the pipeline pays one boolean check per request.
import type { Context } from "../../proto/kvrpcpb.js";
import type { TopologyPort } from "./ports.js";

/** One request a mock store answered (unary or inside BatchCommands). */
export interface ServedRequest {
  /** The store that served it. */
  storeId: bigint;
  /** The tikvpb method name ("KvGet", "RawPut"...), also for BatchCommands sub-requests. */
  rpc: string;
  /** context.region_id (0n when the request has no context). */
  regionId: bigint;
  /** context.peer.id (0n when none). */
  peerId: bigint;
  /** The serving peer was the region's leader when the request arrived. */
  isLeader: boolean;
  /** context.replica_read. */
  replicaRead: boolean;
  /** context.stale_read. */
  staleRead: boolean;
  /** context.resource_control_context.resource_group_name ("" when none). */
  resourceGroupName: string;
  /** context.resource_control_context.override_priority (0n when none). */
  overridePriority: bigint;
  /** context.request_source ("" when none). */
  requestSource: string;
  /** context.resource_group_tag, as hex ("" when none). */
  resourceGroupTag: string;
  /** How it was answered. */
  outcome: "ok" | "regionError" | "keyError";
  /** The errorpb.Error field that was set ("notLeader", "dataIsNotReady"...), for regionError. */
  regionError?: string;
  /** Date.now() when the response was produced. */
  atMs: number;
  /**
   * Set when the request came through another store's forwarding proxy (the client sent it
   * there with tikv-forwarded-host naming this store): that store's id.
   */
  forwardedBy?: bigint;
}

/** A live recording; entries accumulate until {@link RequestRecorder.stop}. */
export interface RequestRecorder {
  /** Requests recorded so far, in the order they were answered. */
  readonly entries: readonly ServedRequest[];
  /** Forgets the entries recorded so far (keeps recording). */
  clear(): void;
  /** Ends recording; the entries stay readable. */
  stop(): void;
}

/** Which requests a recorder keeps. */
export interface RequestFilter {
  /** Only these RPC names (default: all). */
  rpcs?: readonly string[];
}

/** A request seen arriving, completed by {@link PendingRequest.done} once answered. */
export interface PendingRequest {
  done(response: unknown): void;
}

class Recorder implements RequestRecorder {
  readonly entries: ServedRequest[] = [];
  constructor(
    private readonly log: RequestLog,
    readonly rpcs: ReadonlySet<string> | undefined,
  ) {}
  wants(rpc: string): boolean {
    return this.rpcs === undefined || this.rpcs.has(rpc);
  }
  clear(): void {
    this.entries.length = 0;
  }
  stop(): void {
    this.log.remove(this);
  }
}

/** The errorpb.Error field that is set (the first one other than `message`). */
export function regionErrorKind(e: object): string {
  for (const [k, v] of Object.entries(e)) {
    if (k !== "message" && v !== undefined && v !== null) return k;
  }
  return "unknown";
}

function hasKeyError(r: Record<string, unknown>): boolean {
  const { error, errors, pairs, kvs } = r;
  if (typeof error === "string" ? error.length > 0 : error !== undefined && error !== null) return true;
  if (Array.isArray(errors) && errors.length > 0) return true;
  for (const list of [pairs, kvs]) {
    if (Array.isArray(list) && list.some((p) => (p as { error?: unknown }).error !== undefined)) return true;
  }
  return false;
}

/**
 * The cluster-wide request log shared by every mock store. Stores call {@link begin} only while
 * {@link active} is true.
 */
export class RequestLog {
  /** True while at least one recorder is active: the pipeline's only check. */
  active = false;
  private recorders: Recorder[] = [];

  /** Starts a recorder; several may run at once, each with its own filter and entries. */
  record(filter: RequestFilter = {}): RequestRecorder {
    const r = new Recorder(this, filter.rpcs ? new Set(filter.rpcs) : undefined);
    this.recorders = [...this.recorders, r];
    this.active = true;
    return r;
  }

  /** @internal Called by a recorder's stop(). */
  remove(r: Recorder): void {
    this.recorders = this.recorders.filter((x) => x !== r);
    this.active = this.recorders.length > 0;
  }

  /**
   * Notes a request arriving at `storeId`; returns undefined when no recorder wants `rpc`.
   * Leadership is read now, as the store's checks see it.
   */
  begin(
    topology: TopologyPort,
    storeId: bigint,
    rpc: string,
    ctx: Context | undefined,
    forwardedBy?: bigint,
  ): PendingRequest | undefined {
    const targets = this.recorders.filter((r) => r.wants(rpc));
    if (targets.length === 0) return undefined;
    const regionId = ctx?.regionId ?? 0n;
    const peerId = ctx?.peer?.id ?? 0n;
    const leader = regionId !== 0n ? topology.regionState(regionId)?.leader : undefined;
    const base = {
      storeId,
      rpc,
      regionId,
      peerId,
      isLeader: leader !== undefined && leader.id === peerId && leader.storeId === storeId,
      replicaRead: ctx?.replicaRead ?? false,
      staleRead: ctx?.staleRead ?? false,
      resourceGroupName: ctx?.resourceControlContext?.resourceGroupName ?? "",
      overridePriority: ctx?.resourceControlContext?.overridePriority ?? 0n,
      requestSource: ctx?.requestSource ?? "",
      resourceGroupTag: ctx?.resourceGroupTag ? Buffer.from(ctx.resourceGroupTag).toString("hex") : "",
      ...(forwardedBy !== undefined ? { forwardedBy } : {}),
    };
    const live = this.recorders;
    return {
      done: (response: unknown): void => {
        const r = (response ?? {}) as Record<string, unknown>;
        const re = r.regionError;
        const entry: ServedRequest =
          re !== undefined && re !== null
            ? { ...base, outcome: "regionError", regionError: regionErrorKind(re), atMs: Date.now() }
            : { ...base, outcome: hasKeyError(r) ? "keyError" : "ok", atMs: Date.now() };
        for (const t of targets) {
          // A recorder stopped while the request ran records nothing more.
          if (this.recorders === live || this.recorders.includes(t)) t.entries.push({ ...entry });
        }
      },
    };
  }
}
