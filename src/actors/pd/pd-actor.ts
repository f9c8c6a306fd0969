// The PD actor: the pure PD machine wired to grpc-js. Leader following and the TSO stream live
// in the machine; timestamps go through a per-turn batcher (zero actor hops per request);
// unary PD calls retry across leader changes; identical region lookups in flight are shared.

import { status as GrpcStatus } from "@grpc/grpc-js";
import { type Actor, createActor, fromCallback, fromPromise, type InspectionEvent } from "xstate";
import { InvalidArgumentError } from "../../errors/base.js";
import { TlsError } from "../../errors/tls.js";
import {
  type PdBackoff,
  type PdDiscoverInput,
  type PdEmitted,
  type PdEvent,
  type PdMembership,
  type PdTsoStreamInput,
  pdBackoffDelay,
  pdMachine,
} from "../../machines/pd.js";
import { NodeState, type Store } from "../../proto/metapb.js";
import {
  AdvanceGCSafePointRequest,
  type AdvanceGCSafePointResponse,
  AdvanceTxnSafePointRequest,
  type AdvanceTxnSafePointResponse,
  BatchScanRegionsRequest,
  DeleteGCBarrierRequest,
  type DeleteGCBarrierResponse,
  DeleteGlobalGCBarrierRequest,
  type DeleteGlobalGCBarrierResponse,
  ErrorType,
  GetAllKeyspacesGCStatesRequest,
  type GetAllKeyspacesGCStatesResponse,
  GetAllStoresRequest,
  GetClusterInfoRequest,
  GetGCSafePointRequest,
  GetGCStateRequest,
  type GetGCStateResponse,
  GetMinTSRequest,
  GetRegionByIDRequest,
  GetRegionRequest,
  type GetRegionResponse,
  GetStoreRequest,
  type KeyspaceScope,
  PDService,
  type Region as PdRegionProto,
  type RequestHeader,
  type ResponseHeader,
  ScanRegionsRequest,
  ServiceMode,
  SetGCBarrierRequest,
  type SetGCBarrierResponse,
  SetGlobalGCBarrierRequest,
  type SetGlobalGCBarrierResponse,
  type TsoResponse,
  UpdateGCSafePointRequest,
  UpdateServiceGCSafePointRequest,
  type UpdateServiceGCSafePointResponse,
} from "../../proto/pdpb.js";
import { type CallOptions, type Reply, type UnaryMethod, unaryCallAsync } from "../../rpc/call.js";
import type { ChannelConfig } from "../../rpc/channel.js";
import {
  AbortedError,
  ClusterIdMismatchError,
  FutureTsReadError,
  GrpcError,
  PdError,
  ShuttingDownError,
  TimeoutError,
} from "../../rpc/errors.js";
import { AdaptiveLowResInterval } from "./adaptive-low-res.js";
import { discoverMembers } from "./discover.js";
import { LastTs } from "./last-ts.js";
import { checkHeader, isLeaderChange, PdClients, pdHeader } from "./pd-rpc.js";
import { IDENTITY_REGION_CODEC, type PdRegion, type RegionKeyCodec } from "./region-types.js";
import { TSO_LOGICAL_BITS, TsoBatcher } from "./tso-batcher.js";
import { NULL_KEYSPACE_ID, TSO_KEYSPACE_GROUP_ID_KEY, TsoGroupClient } from "./tso-group-client.js";

/** Options of a {@link PdActor}. */
export interface PdActorOptions extends ChannelConfig {
  /** PD endpoints ("http://h:p" or "h:p"); any member will do. */
  endpoints: string[];
  /** Timeout of one PD RPC attempt (default 3 s, pd client's default). */
  rpcTimeoutMs?: number;
  /** Total budget of a PD call including retries (default 20 s). */
  requestTimeoutMs?: number;
  /** How long connect() waits for the first leader (default 20 s). */
  connectTimeoutMs?: number;
  /** Backoff between failed discovery rounds (default 100 ms .. 3 s, equal jitter). */
  discoveryBackoff?: Partial<PdBackoff>;
  /** Backoff between retries of a PD call (default 100 ms .. 3 s, no jitter). */
  retryBackoff?: Partial<PdBackoff>;
  /** Background member check period (default 60 s). */
  memberCheckIntervalMs?: number;
  /** Low-resolution timestamp refresh period (client-go oracle update interval, default 2 s). */
  lowResolutionTsUpdateIntervalMs?: number;
  /** Store list refresh period (default 60 s; 0 disables). */
  storeRefreshIntervalMs?: number;
  /** Key codec between user keys and PD's region boundaries (default identity). */
  regionCodec?: RegionKeyCodec;
  /** Fetch a timestamp during connect() so the low-resolution ts is set (default true). */
  initialTimestamp?: boolean;
  /** XState inspection callback (the live view); no callback is attached when unset. */
  inspect?: (ev: InspectionEvent) => void;
  /** Cancels {@link PdActor.connect}: it rejects with AbortedError and the actor is closed. */
  signal?: AbortSignal;
  /**
   * The keyspace whose timestamps this client takes (its id and config): in PD's API mode they
   * come from the keyspace's TSO group. Default: the null keyspace (the default group).
   */
  tsoKeyspace?: { id: number; config?: Readonly<Record<string, string>> };
}

type UnaryPdMethods = {
  [K in keyof typeof PDService]: (typeof PDService)[K] extends { requestStream: false; responseStream: false }
    ? K
    : never;
}[keyof typeof PDService];
type PdReq<M extends UnaryPdMethods> = Parameters<(typeof PDService)[M]["requestSerialize"]>[0];
type PdResp<M extends UnaryPdMethods> = ReturnType<(typeof PDService)[M]["responseDeserialize"]>;

/** Connection state of the PD actor. */
export type PdState = "discovering" | "backoff" | "connected" | "stopped";

/** Options of the region lookups. */
export interface RegionCallOptions extends CallOptions {
  /** Ask PD for the region's buckets too. */
  needBuckets?: boolean;
  /**
   * The key codec of this lookup, when it differs from the actor's (the transactional side of a
   * client encodes region keys differently from its raw side: client-go's two codec PD clients).
   */
  regionCodec?: RegionKeyCodec;
}

// Lookups through another codec must not share a coalesced call with the actor's own codec.
const codecTags = new WeakMap<RegionKeyCodec, string>();
let nextCodecTag = 1;
function codecTag(codec: RegionKeyCodec, own: RegionKeyCodec): string {
  if (codec === own) return "";
  let t = codecTags.get(codec);
  if (t === undefined) {
    t = `#${nextCodecTag++}`;
    codecTags.set(codec, t);
  }
  return t;
}

/** The PD client actor: one per client. */
export class PdActor {
  /** The running xstate actor (inspection / tests). */
  readonly actor: Actor<typeof pdMachine>;
  /** TSO batcher (exposed for stats). */
  readonly tso: TsoBatcher;
  private readonly clients: PdClients;
  private readonly lastTs = new LastTs();
  private readonly codec: RegionKeyCodec;
  private readonly rpcTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly retryBackoff: PdBackoff;
  private readonly inflightRegions = new Map<string, Promise<PdRegion | undefined>>();
  private readonly storeCache = new Map<number, Store>();
  private storeFetches = new Map<number, Promise<Store | undefined>>();
  private leaderWaiters: Array<{ resolve: (leader: string) => void; reject: (e: Error) => void }> = [];
  private tsoStreamLost: ((err: Error) => void) | undefined;
  // where timestamps come from: not asked yet, PD's own Tso, or a TSO keyspace group (API mode)
  private tsoSource: "unknown" | "pd" | TsoGroupClient = "unknown";
  private lowResTimer: NodeJS.Timeout | undefined;
  private storeTimer: NodeJS.Timeout | undefined;
  // the refresh period, shrunk for stale reads that need fresher timestamps (client-go adaptive interval)
  readonly lowResInterval: AdaptiveLowResInterval;
  private lowResCurrentMs: number;
  private closed = false;

  /** Creates and starts the actor; prefer {@link PdActor.connect}, which also waits for a leader. */
  constructor(private readonly opts: PdActorOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) {
      throw new InvalidArgumentError("at least one PD endpoint is required", "endpoints");
    }
    this.clients = new PdClients(opts);
    this.codec = opts.regionCodec ?? IDENTITY_REGION_CODEC;
    this.rpcTimeoutMs = opts.rpcTimeoutMs ?? 3_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 20_000;
    this.retryBackoff = { baseMs: 100, capMs: 3_000, ...opts.retryBackoff };
    this.lowResInterval = new AdaptiveLowResInterval(
      opts.lowResolutionTsUpdateIntervalMs ?? 2_000,
      Date.now(),
    );
    this.lowResCurrentMs = this.lowResInterval.adaptiveMs;
    this.tso = new TsoBatcher(
      (ts) => this.lastTs.observe(ts),
      (err) => this.tsoStreamLost?.(err),
    );
    const clients = this.clients;
    const rpcTimeoutMs = this.rpcTimeoutMs;
    const machine = pdMachine.provide({
      actors: {
        discover: fromPromise<PdMembership, PdDiscoverInput>(({ input }) =>
          discoverMembers(clients, input.endpoints, input.clusterId, rpcTimeoutMs),
        ),
        tsoStream: fromCallback<PdEvent, PdTsoStreamInput>(({ input, sendBack }) =>
          this.openTsoStream(input, sendBack),
        ),
      },
    });
    this.actor = createActor(machine, {
      input: {
        endpoints: opts.endpoints,
        backoff: opts.discoveryBackoff,
        memberCheckIntervalMs: opts.memberCheckIntervalMs,
      },
      inspect: opts.inspect,
    });
    this.actor.subscribe((snap) => {
      if (snap.matches("connected")) {
        const leader = snap.context.leader as string;
        for (const w of this.leaderWaiters.splice(0)) w.resolve(leader);
      } else if (snap.matches("stopped")) {
        for (const w of this.leaderWaiters.splice(0)) w.reject(new ShuttingDownError("pd client closed"));
      }
    });
    this.actor.start();
  }

  /** Creates a PD actor and waits for a leader (and, by default, a first timestamp). */
  static async connect(opts: PdActorOptions): Promise<PdActor> {
    const signal = opts.signal;
    if (signal?.aborted) throw new AbortedError(signal.reason);
    const pd = new PdActor(opts);
    try {
      await pd.whenConnected(opts.connectTimeoutMs ?? 20_000, signal);
      if (opts.initialTimestamp !== false) await pd.getTimestamp({ signal });
      pd.startBackgroundLoops();
      return pd;
    } catch (e) {
      pd.close();
      throw e;
    }
  }

  /** Current state of the PD machine. */
  get state(): PdState {
    const v = this.actor.getSnapshot().value;
    return (typeof v === "string" ? v : Object.keys(v)[0]) as PdState;
  }

  /** The cluster id (0n before the first discovery). */
  get clusterId(): bigint {
    return this.actor.getSnapshot().context.clusterId;
  }

  /** gRPC target of the current leader, if known. */
  get leader(): string | undefined {
    return this.actor.getSnapshot().context.leader;
  }

  /** Subscribes to leaderChanged / discoveryFailed; returns the unsubscribe function. */
  on<T extends PdEmitted["type"]>(
    type: T,
    listener: (e: Extract<PdEmitted, { type: T }>) => void,
  ): () => void {
    const sub = this.actor.on(type, (e) => {
      try {
        listener(e as Extract<PdEmitted, { type: T }>);
      } catch {
        // user listeners must not break the actor
      }
    });
    return () => sub.unsubscribe();
  }

  /**
   * Resolves when a leader is known. Rejects with TimeoutError after `timeoutMs` (naming the
   * endpoints tried, the last discovery error as cause), at once for a cluster id mismatch, and
   * with AbortedError when `signal` aborts.
   */
  whenConnected(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const unsub = this.on("discoveryFailed", (e) => {
        // neither heals by waiting: fail connect() at once
        if (e.error instanceof ClusterIdMismatchError || e.error instanceof TlsError) {
          unsub();
          reject(e.error);
        }
      });
      this.waitLeader(deadline, signal, timeoutMs).then(
        () => {
          unsub();
          resolve();
        },
        (err: Error) => {
          unsub();
          if (!(err instanceof TimeoutError)) return reject(err);
          const last = this.actor.getSnapshot().context.lastError;
          reject(
            new TimeoutError(`connect to PD at [${this.opts.endpoints.join(", ")}]`, timeoutMs, {
              cause: last ?? err,
            }),
          );
        },
      );
    });
  }

  // ---- TSO --------------------------------------------------------------------------------

  /** A fresh timestamp from PD. All calls in one event-loop turn share one TSO request. */
  getTimestamp(opts?: CallOptions): Promise<bigint> {
    return this.tso.getTimestamp(opts);
  }

  /** Callback form of {@link getTimestamp} (no promise per request). */
  getTimestampWithCallback(opts: CallOptions | undefined, reply: Reply<bigint>): void {
    this.tso.request(opts, reply);
  }

  /** The TSO keyspace-group client when PD runs in API (microservice) mode, else undefined. */
  get tsoGroup(): TsoGroupClient | undefined {
    return typeof this.tsoSource === "object" ? this.tsoSource : undefined;
  }

  /** The newest timestamp seen (low-resolution ts); PdError before the first one. */
  getLowResolutionTimestamp(): bigint {
    return this.lastTs.lowResolution();
  }

  /** The newest timestamp seen, or undefined. */
  get lastTimestamp(): bigint | undefined {
    return this.lastTs.value;
  }

  /** A timestamp `prevSecond` seconds in the past, estimated locally from lastTS. */
  getStaleTimestamp(prevSecond: number): bigint {
    return this.lastTs.stale(prevSecond);
  }

  /** Whether a lock (start ts, TTL ms) has expired according to lastTS. */
  isExpired(lockTs: bigint, ttlMs: number | bigint): boolean {
    return this.lastTs.isExpired(lockTs, ttlMs);
  }

  /** Milliseconds until a lock expires according to lastTS. */
  untilExpired(lockTs: bigint, ttlMs: number | bigint): number {
    return this.lastTs.untilExpired(lockTs, ttlMs);
  }

  /**
   * Rejects read timestamps from the future (client-go ValidateReadTS): when `readTs` is
   * newer than lastTS, a fresh timestamp is fetched and `readTs` must not exceed it. With
   * `isStaleRead`, a read fresher than the low-resolution refresh period shrinks that period.
   */
  async validateReadTs(readTs: bigint, opts?: CallOptions, isStaleRead = false): Promise<void> {
    if (readTs === 0xffffffffffffffffn) return;
    if (readTs >= 0x7fffffffffffffffn) {
      throw new InvalidArgumentError(`MaxInt64 <= readTS < MaxUint64, readTS=${readTs}`, "readTs");
    }
    const last = this.lastTs.value;
    if (last !== undefined && readTs <= last) {
      // client-go estimates "now" from lastTS and its arrival time
      if (isStaleRead) this.noteStaleRead(readTs, this.lastTs.stale(0));
      return;
    }
    const current = await this.getTimestamp(opts);
    if (isStaleRead) this.noteStaleRead(readTs, current);
    if (readTs > current) throw new FutureTsReadError(readTs, current);
  }

  // client-go updateTS's shrinkIntervalCh branch, run at once (no goroutine to signal here)
  private noteStaleRead(readTs: bigint, currentTs: bigint): void {
    const now = Date.now();
    const required = this.lowResInterval.noteStaleRead(readTs, currentTs, now);
    if (required === undefined) return;
    const next = this.lowResInterval.next(now, required);
    if (next === this.lowResCurrentMs) return;
    this.lowResCurrentMs = next;
    if (!this.lowResTimer) return;
    // the last refresh is already older than the new period: refresh now
    if (now - this.lowResInterval.lastTickMs >= next) this.refreshLowRes(now);
    this.scheduleLowRes();
  }

  /** Changes the low-resolution timestamp refresh period. */
  setLowResolutionTimestampUpdateInterval(ms: number): void {
    if (!(ms > 0)) throw new InvalidArgumentError("must be > 0", "ms");
    this.lowResInterval.setConfigured(ms);
    // re-armed at once (client-go waits for the next tick; a 60 s period would make that slow)
    if (this.lowResTimer && this.lowResInterval.adaptiveMs !== this.lowResCurrentMs) this.startLowResLoop();
  }

  /** The minimum timestamp over all TSO keyspace groups (GetMinTS). */
  async getMinTs(opts?: CallOptions): Promise<bigint> {
    const r = await this.call("getMinTs", GetMinTSRequest.fromPartial({}), opts);
    const ts = r.timestamp;
    return ts ? (ts.physical << TSO_LOGICAL_BITS) + ts.logical : 0n;
  }

  // ---- regions ----------------------------------------------------------------------------

  /** The region containing `key` (undefined when PD knows none). Concurrent identical lookups share one call. */
  getRegion(key: Buffer, opts?: RegionCallOptions): Promise<PdRegion | undefined> {
    const codec = opts?.regionCodec ?? this.codec;
    const k = codec.encodeKey(key);
    return this.coalesce(
      `r${opts?.needBuckets ? "b" : ""}${codecTag(codec, this.codec)}:${k.toString("latin1")}`,
      opts,
      async (shared) =>
        this.regionFrom(
          codec,
          await this.call(
            "getRegion",
            GetRegionRequest.fromPartial({ regionKey: k, needBuckets: !!opts?.needBuckets }),
            shared,
          ),
        ),
    );
  }

  /** The region before the one containing `key`. */
  getPrevRegion(key: Buffer, opts?: RegionCallOptions): Promise<PdRegion | undefined> {
    const codec = opts?.regionCodec ?? this.codec;
    const k = codec.encodeKey(key);
    const b = opts?.needBuckets ? "b" : "";
    return this.coalesce(
      `p${b}${codecTag(codec, this.codec)}:${k.toString("latin1")}`,
      opts,
      async (shared) =>
        this.regionFrom(
          codec,
          await this.call(
            "getPrevRegion",
            GetRegionRequest.fromPartial({ regionKey: k, needBuckets: !!opts?.needBuckets }),
            shared,
          ),
        ),
    );
  }

  /** The region with id `regionId`. */
  getRegionById(regionId: bigint | number, opts?: RegionCallOptions): Promise<PdRegion | undefined> {
    const codec = opts?.regionCodec ?? this.codec;
    const id = BigInt(regionId);
    const b = opts?.needBuckets ? "b" : "";
    return this.coalesce(`i${b}${codecTag(codec, this.codec)}:${id}`, opts, async (shared) =>
      this.regionFrom(
        codec,
        await this.call(
          "getRegionById",
          GetRegionByIDRequest.fromPartial({ regionId: id, needBuckets: !!opts?.needBuckets }),
          shared,
        ),
      ),
    );
  }

  /** Up to `limit` regions from `startKey` to `endKey` (empty end = +inf). */
  async scanRegions(
    startKey: Buffer,
    endKey: Buffer,
    limit: number,
    opts?: RegionCallOptions,
  ): Promise<PdRegion[]> {
    if (!Number.isInteger(limit) || limit <= 0)
      throw new InvalidArgumentError("must be a positive integer", "limit");
    const codec = opts?.regionCodec ?? this.codec;
    const r = await this.call(
      "scanRegions",
      ScanRegionsRequest.fromPartial({
        startKey: codec.encodeKey(startKey),
        endKey: endKey.length ? codec.encodeEndKey(endKey) : endKey,
        limit,
      }),
      opts,
    );
    const out: PdRegion[] = [];
    if (r.regions.length) {
      for (const reg of r.regions) this.pushRegion(codec, out, reg);
    } else {
      for (let i = 0; i < r.regionMetas.length; i++) {
        const meta = r.regionMetas[i];
        this.pushRegion(codec, out, {
          region: meta,
          leader: r.leaders[i],
          downPeers: [],
          pendingPeers: [],
          buckets: undefined,
        });
      }
    }
    return out;
  }

  /** Regions covering several key ranges at once (BatchScanRegions). */
  async batchScanRegions(
    ranges: Array<{ start: Buffer; end: Buffer }>,
    limit: number,
    opts?: RegionCallOptions & { containAllKeyRange?: boolean },
  ): Promise<PdRegion[]> {
    const codec = opts?.regionCodec ?? this.codec;
    const r = await this.call(
      "batchScanRegions",
      BatchScanRegionsRequest.fromPartial({
        ranges: ranges.map((x) => ({
          startKey: codec.encodeKey(x.start),
          endKey: x.end.length ? codec.encodeEndKey(x.end) : x.end,
        })),
        limit,
        needBuckets: !!opts?.needBuckets,
        containAllKeyRange: !!opts?.containAllKeyRange,
      }),
      opts,
    );
    const out: PdRegion[] = [];
    for (const reg of r.regions) this.pushRegion(codec, out, reg);
    return out;
  }

  // ---- stores -----------------------------------------------------------------------------

  /**
   * Store `storeId` (cached; `fresh` forces a PD call). Undefined when PD does not know it or
   * reports it removed (pd client handleStoreResponse); a tombstone store is a PdError
   * (STORE_TOMBSTONE), as PD answers.
   */
  getStore(storeId: number | bigint, opts?: CallOptions & { fresh?: boolean }): Promise<Store | undefined> {
    const id = Number(storeId);
    if (!opts?.fresh) {
      const cached = this.storeCache.get(id);
      if (cached) return Promise.resolve(cached);
    }
    let p = this.storeFetches.get(id);
    if (!p) {
      p = this.call("getStore", GetStoreRequest.fromPartial({ storeId: BigInt(id) }), opts).then(
        (r) => {
          const store = r.store && r.store.nodeState !== NodeState.Removed ? r.store : undefined;
          if (store) this.storeCache.set(id, store);
          else this.storeCache.delete(id);
          return store;
        },
        (err: unknown) => {
          this.storeCache.delete(id);
          throw err;
        },
      );
      const done = () => this.storeFetches.delete(id);
      p.then(done, done);
      this.storeFetches.set(id, p);
    }
    return p;
  }

  /** All stores except tombstones; refreshes the cache. */
  async getAllStores(opts?: CallOptions): Promise<Store[]> {
    const r = await this.call(
      "getAllStores",
      GetAllStoresRequest.fromPartial({ excludeTombstoneStores: true }),
      opts,
    );
    this.storeCache.clear();
    for (const s of r.stores) this.storeCache.set(Number(s.id), s);
    return r.stores;
  }

  /** Stores currently cached. */
  cachedStores(): Store[] {
    return [...this.storeCache.values()];
  }

  // ---- GC / safe points -------------------------------------------------------------------

  /** The GC safe point (legacy GetGCSafePoint). */
  async getGCSafePoint(opts?: CallOptions): Promise<bigint> {
    return (await this.call("getGcSafePoint", GetGCSafePointRequest.fromPartial({}), opts)).safePoint;
  }

  /** Advances the GC safe point (legacy UpdateGCSafePoint); returns the resulting safe point. */
  async updateGCSafePoint(safePoint: bigint, opts?: CallOptions): Promise<bigint> {
    return (await this.call("updateGcSafePoint", UpdateGCSafePointRequest.fromPartial({ safePoint }), opts))
      .newSafePoint;
  }

  /** Sets a service safe point (TTL in seconds); returns PD's answer (minimum safe point). */
  updateServiceGCSafePoint(
    serviceId: string,
    ttlSeconds: bigint | number,
    safePoint: bigint,
    opts?: CallOptions,
  ): Promise<UpdateServiceGCSafePointResponse> {
    return this.call(
      "updateServiceGcSafePoint",
      UpdateServiceGCSafePointRequest.fromPartial({
        serviceId: Buffer.from(serviceId),
        TTL: BigInt(ttlSeconds),
        safePoint,
      }),
      opts,
    );
  }

  /** The GC state (txn safe point, GC safe point, barriers) of the keyspace (or the null keyspace). */
  getGCState(
    keyspaceId?: number,
    opts?: CallOptions & { excludeGcBarriers?: boolean; includeGlobalGcBarriers?: boolean },
  ): Promise<GetGCStateResponse> {
    return this.call(
      "getGcState",
      GetGCStateRequest.fromPartial({
        keyspaceScope: scope(keyspaceId),
        excludeGcBarriers: !!opts?.excludeGcBarriers,
        includeGlobalGcBarriers: !!opts?.includeGlobalGcBarriers,
      }),
      opts,
    );
  }

  /** GC states of every keyspace. */
  getAllKeyspacesGCStates(opts?: CallOptions): Promise<GetAllKeyspacesGCStatesResponse> {
    return this.call("getAllKeyspacesGcStates", GetAllKeyspacesGCStatesRequest.fromPartial({}), opts);
  }

  /** Advances the txn safe point to `target`. */
  advanceTxnSafePoint(
    target: bigint,
    keyspaceId?: number,
    opts?: CallOptions,
  ): Promise<AdvanceTxnSafePointResponse> {
    return this.call(
      "advanceTxnSafePoint",
      AdvanceTxnSafePointRequest.fromPartial({ target, keyspaceScope: scope(keyspaceId) }),
      opts,
    );
  }

  /** Advances the GC safe point to `target`. */
  advanceGCSafePoint(
    target: bigint,
    keyspaceId?: number,
    opts?: CallOptions,
  ): Promise<AdvanceGCSafePointResponse> {
    return this.call(
      "advanceGcSafePoint",
      AdvanceGCSafePointRequest.fromPartial({ target, keyspaceScope: scope(keyspaceId) }),
      opts,
    );
  }

  /** Sets (or renews) a GC barrier. */
  setGCBarrier(
    barrierId: string,
    barrierTs: bigint,
    ttlSeconds: bigint | number,
    keyspaceId?: number,
    opts?: CallOptions,
  ): Promise<SetGCBarrierResponse> {
    return this.call(
      "setGcBarrier",
      SetGCBarrierRequest.fromPartial({
        barrierId,
        barrierTs,
        ttlSeconds: BigInt(ttlSeconds),
        keyspaceScope: scope(keyspaceId),
      }),
      opts,
    );
  }

  /** Deletes a GC barrier. */
  deleteGCBarrier(
    barrierId: string,
    keyspaceId?: number,
    opts?: CallOptions,
  ): Promise<DeleteGCBarrierResponse> {
    return this.call(
      "deleteGcBarrier",
      DeleteGCBarrierRequest.fromPartial({ barrierId, keyspaceScope: scope(keyspaceId) }),
      opts,
    );
  }

  /** Sets (or renews) a global GC barrier: it blocks the txn safe point of every keyspace. */
  setGlobalGCBarrier(
    barrierId: string,
    barrierTs: bigint,
    ttlSeconds: bigint | number,
    opts?: CallOptions,
  ): Promise<SetGlobalGCBarrierResponse> {
    return this.call(
      "setGlobalGcBarrier",
      SetGlobalGCBarrierRequest.fromPartial({ barrierId, barrierTs, ttlSeconds: BigInt(ttlSeconds) }),
      opts,
    );
  }

  /** Deletes a global GC barrier. */
  deleteGlobalGCBarrier(barrierId: string, opts?: CallOptions): Promise<DeleteGlobalGCBarrierResponse> {
    return this.call("deleteGlobalGcBarrier", DeleteGlobalGCBarrierRequest.fromPartial({ barrierId }), opts);
  }

  // ---- generic call -----------------------------------------------------------------------

  /**
   * Calls a unary PD method on the leader, with the cluster header set. Leader changes and
   * unavailability trigger re-discovery and a retry with backoff until the request's budget
   * (`timeoutMs`, default requestTimeoutMs) is spent. Error headers throw PdError.
   */
  async call<M extends UnaryPdMethods>(method: M, req: PdReq<M>, opts?: CallOptions): Promise<PdResp<M>> {
    const def = PDService[method] as unknown as UnaryMethod<PdReq<M>, PdResp<M>>;
    const budget = opts?.timeoutMs ?? this.requestTimeoutMs;
    const deadline = Date.now() + budget;
    const signal = opts?.signal;
    for (let attempt = 1; ; attempt++) {
      const leader = await this.waitLeader(deadline, signal, budget);
      const header: RequestHeader = pdHeader(this.clusterId);
      const remaining = deadline - Date.now();
      try {
        const resp = await unaryCallAsync(
          this.clients.get(leader),
          def,
          { ...(req as object), header } as PdReq<M>,
          { timeoutMs: Math.max(1, Math.min(remaining, this.rpcTimeoutMs)), signal },
          leader,
        );
        checkHeader((resp as { header?: ResponseHeader }).header, this.clusterId);
        return resp;
      } catch (err) {
        if (this.closed) throw new ShuttingDownError("pd client closed", { cause: err });
        if (!isLeaderChange(err)) throw err;
        this.actor.send({ type: "LEADER_LOST", error: err as Error, leader });
        const sleep = pdBackoffDelay(this.retryBackoff, attempt);
        if (Date.now() + sleep >= deadline) {
          throw new TimeoutError(`pd ${method} (${attempt} attempts)`, budget, { cause: err });
        }
        await delay(sleep, signal);
      }
    }
  }

  /** Stops everything: TSO stream, timers, channels. Pending requests fail with ShuttingDownError. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.lowResTimer) clearTimeout(this.lowResTimer);
    this.lowResTimer = undefined;
    if (this.storeTimer) clearInterval(this.storeTimer);
    this.actor.send({ type: "STOP" });
    this.tso.close(new ShuttingDownError("pd client closed"));
    this.tsoGroup?.close();
    this.clients.close();
  }

  // ---- internals --------------------------------------------------------------------------

  // The machine's TSO stream: the first time, GetClusterInfo decides between PD's own Tso and
  // the keyspace's TSO group (pd client serviceDiscovery.updateServiceMode); in API mode the
  // group client runs on its own and PD leader changes do not touch it.
  private openTsoStream(input: PdTsoStreamInput, sendBack: (e: PdEvent) => void): () => void {
    if (this.tsoSource === "pd") return this.openPdTsoStream(input, sendBack);
    if (this.tsoSource !== "unknown") return () => {};
    let cancelled = false;
    let stop: (() => void) | undefined;
    unaryCallAsync(
      this.clients.get(input.leader),
      PDService.getClusterInfo,
      GetClusterInfoRequest.fromPartial({ header: { clusterId: input.clusterId } }),
      { timeoutMs: this.rpcTimeoutMs },
      input.leader,
    ).then(
      (info) => {
        if (cancelled || this.closed || this.tsoSource !== "unknown") return;
        const api = info.serviceModes[0] === ServiceMode.API_SVC_MODE;
        const ks = this.opts.tsoKeyspace;
        if (api && info.tsoUrls.length > 0) {
          const group = new TsoGroupClient({
            ...this.opts,
            urls: info.tsoUrls,
            keyspaceId: ks?.id ?? NULL_KEYSPACE_ID,
            clusterId: input.clusterId,
            batcher: this.tso,
            setStreamLost: (lost) => {
              this.tsoStreamLost = lost;
            },
            rpcTimeoutMs: this.rpcTimeoutMs,
            backoff: this.retryBackoff,
          });
          this.tsoSource = group;
          group.start();
          return;
        }
        const pinned = Number(ks?.config?.[TSO_KEYSPACE_GROUP_ID_KEY] ?? 0);
        if (api && pinned !== 0) {
          // client-go refuses PD's fallback for a keyspace pinned to a non-default group
          sendBack({
            type: "TSO_LOST",
            error: new PdError(ErrorType.UNKNOWN, "no TSO microservice available in microservice mode"),
          });
          return;
        }
        this.tsoSource = "pd";
        stop = this.openPdTsoStream(input, sendBack);
      },
      (err: Error) => {
        if (cancelled || this.closed) return;
        // PD without GetClusterInfo serves timestamps itself
        if (err instanceof GrpcError && err.grpcCode === GrpcStatus.UNIMPLEMENTED) {
          this.tsoSource = "pd";
          stop = this.openPdTsoStream(input, sendBack);
          return;
        }
        sendBack({ type: "TSO_LOST", error: err });
      },
    );
    return () => {
      cancelled = true;
      stop?.();
    };
  }

  private openPdTsoStream(input: PdTsoStreamInput, sendBack: (e: PdEvent) => void): () => void {
    const call = this.clients.get(input.leader).tso();
    let dead = false;
    let first = true;
    const lost = (error: Error) => {
      if (dead) return;
      dead = true;
      this.tsoStreamLost = undefined;
      this.tso.detach();
      call.cancel();
      sendBack({ type: "TSO_LOST", error });
    };
    call.on("data", (resp: TsoResponse) => {
      if (first) {
        first = false;
        sendBack({ type: "TSO_OK" });
      }
      this.tso.onResponse(resp);
    });
    call.on("error", (e: Error) => lost(e));
    call.on("end", () => lost(new Error("tso stream ended")));
    this.tsoStreamLost = lost;
    this.tso.attach({ write: (r) => call.write(r) }, input.clusterId);
    return () => {
      if (dead) return;
      dead = true;
      this.tsoStreamLost = undefined;
      this.tso.detach();
      call.cancel();
    };
  }

  // `timeoutMs` is the caller's whole budget (for the error message; default: the time left now).
  private waitLeader(deadline: number, signal?: AbortSignal, timeoutMs?: number): Promise<string> {
    const budget = timeoutMs ?? Math.max(0, deadline - Date.now());
    const snap = this.actor.getSnapshot();
    if (snap.matches("connected")) return Promise.resolve(snap.context.leader as string);
    if (this.closed || snap.matches("stopped"))
      return Promise.reject(new ShuttingDownError("pd client closed"));
    if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason));
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.leaderWaiters = this.leaderWaiters.filter((x) => x !== w);
      };
      const w = {
        resolve: (l: string) => {
          finish();
          resolve(l);
        },
        reject: (e: Error) => {
          finish();
          reject(e);
        },
      };
      const onAbort = () => w.reject(new AbortedError(signal?.reason));
      const timer = setTimeout(
        () => w.reject(new TimeoutError("wait for the PD leader", budget)),
        Math.max(0, deadline - Date.now()),
      );
      timer.unref?.();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.leaderWaiters.push(w);
    });
  }

  private coalesce(
    key: string,
    opts: CallOptions | undefined,
    load: (shared: CallOptions) => Promise<PdRegion | undefined>,
  ): Promise<PdRegion | undefined> {
    let p = this.inflightRegions.get(key);
    if (!p) {
      // The shared call uses the first caller's budget but not its signal: one caller
      // giving up must not fail the others.
      p = load({ timeoutMs: opts?.timeoutMs });
      this.inflightRegions.set(key, p);
      const done = () => {
        if (this.inflightRegions.get(key) === p) this.inflightRegions.delete(key);
      };
      p.then(done, done);
    }
    const signal = opts?.signal;
    if (!signal) return p;
    return raceAbort(p, signal);
  }

  private regionFrom(codec: RegionKeyCodec, r: GetRegionResponse): PdRegion | undefined {
    if (!r.region) return undefined;
    const out: PdRegion[] = [];
    this.pushRegion(codec, out, r);
    return out[0];
  }

  private pushRegion(codec: RegionKeyCodec, out: PdRegion[], r: PdRegionProto | GetRegionResponse): void {
    if (!r.region) return;
    const meta = codec.decodeRegion(r.region);
    if (!meta) return;
    out.push({
      meta,
      leader: r.leader,
      downPeers: r.downPeers,
      pendingPeers: r.pendingPeers,
      // bucket keys come in PD's key form, like the boundaries (client-go decodeRegionKeyInPlace)
      buckets:
        r.buckets && codec.decodeBucketKeys
          ? { ...r.buckets, keys: codec.decodeBucketKeys(r.buckets.keys) }
          : r.buckets,
    });
  }

  private startBackgroundLoops(): void {
    this.startLowResLoop();
    const every = this.opts.storeRefreshIntervalMs ?? 60_000;
    if (every > 0 && !this.storeTimer) {
      this.storeTimer = setInterval(() => {
        this.getAllStores().catch(() => {});
      }, every);
      this.storeTimer.unref?.();
    }
  }

  // client-go oracle updateTS: refresh lastTS periodically so the low-resolution ts stays fresh,
  // at the adaptive period (one timer re-armed per tick; nothing on the request path).
  private startLowResLoop(): void {
    this.lowResCurrentMs = this.lowResInterval.adaptiveMs;
    this.scheduleLowRes();
  }

  private scheduleLowRes(): void {
    if (this.lowResTimer) clearTimeout(this.lowResTimer);
    if (this.closed) return;
    this.lowResTimer = setTimeout(() => {
      const now = Date.now();
      // the next period depends on the last tick's time, so compute it before refreshing
      this.lowResCurrentMs = this.lowResInterval.next(now);
      this.refreshLowRes(now);
      this.scheduleLowRes();
    }, this.lowResCurrentMs);
    this.lowResTimer.unref?.();
  }

  private refreshLowRes(now: number): void {
    this.getTimestamp().catch(() => {});
    this.lowResInterval.lastTickMs = now;
  }
}

function scope(keyspaceId: number | undefined): KeyspaceScope | undefined {
  return keyspaceId === undefined ? undefined : { keyspace: { $case: "keyspaceId", keyspaceId } };
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError(signal.reason));
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortedError(signal?.reason));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError(signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
