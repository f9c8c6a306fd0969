// TikvClient: connects to a cluster and owns the client's long-lived parts (PD actor, store
// pool, region cache, request sender). Follows client-go rawkv.NewClientWithOpts and
// tikv.NewKVStore: PD client -> (API v2) keyspace meta -> codec -> region cache + RPC client.

import type { InspectionEvent } from "xstate";
import { InspectServer } from "../actors/inspect/server.js";
import { type ClientEvents, type ClientObservables, ObserveHub } from "../actors/observe/hub.js";
import { discoverMembers } from "../actors/pd/discover.js";
import { PdActor } from "../actors/pd/pd-actor.js";
import { PdHttpClient } from "../actors/pd/pd-http-client.js";
import { checkHeader, PdClients, pdHeader } from "../actors/pd/pd-rpc.js";
import { RegionCache } from "../actors/region-cache/region-cache.js";
import { composeInterceptors } from "../actors/request/interceptor.js";
import type { ResourceGroupStats, ResourceGroupsController } from "../actors/resource-control/controller.js";
import { ClientMetrics, type ClientMetricsSnapshot } from "../actors/runtime/metrics.js";
import { PdRegionSource, regionKeyCodec } from "../actors/runtime/pd-region-source.js";
import { RoutedSender } from "../actors/runtime/routed-sender.js";
import { healthFeedbackRequester, storeHealthProbe } from "../actors/runtime/store-health-probe.js";
import { loadTracing } from "../actors/runtime/tracing.js";
import { StorePool } from "../actors/store/store-pool.js";
import { TxnRuntime } from "../actors/txn/txn-runtime.js";
import { InvalidArgumentError } from "../errors/base.js";
import { AbortedError, PdError, ShuttingDownError } from "../errors/server.js";
import type { ApiCodec } from "../kv/api-codec.js";
import type { KeyInput } from "../kv/key.js";
import { createApiCodec } from "../kv/keyspace.js";
import {
  KeyspaceClient,
  type KeyspaceMeta,
  KeyspaceService,
  KeyspaceState,
  LoadKeyspaceRequest,
} from "../proto/keyspacepb.js";
import { APIVersion } from "../proto/kvrpcpb.js";
import { ErrorType } from "../proto/pdpb.js";
import { unaryCallAsync } from "../rpc/call.js";
import { channelCredentials, channelOptions, grpcTarget } from "../rpc/channel.js";
import type { AdminContext } from "./admin/admin-context.js";
import { checkRegionInScattering, scatterRegions, waitScatterRegionFinish } from "./admin/scatter.js";
import { splitRegions } from "./admin/split.js";
import type {
  ScatterOptions,
  ScatterResult,
  SplitRegionsOptions,
  SplitRegionsResult,
  WaitScatterOptions,
} from "./admin/types.js";
import { type ClientConfig, configView } from "./client-config.js";
import {
  clientDeleteBarrier,
  clientDeleteGlobalBarrier,
  clientGc,
  clientGcState,
  clientServiceSafePoint,
  clientSetBarrier,
  clientSetGlobalBarrier,
  clientUnsafeDestroyRange,
  type GcBarrier,
  type GcHost,
  type GcOptions,
  type GcResult,
  type GcState,
  type ServiceSafePointResult,
} from "./gc/gc.js";
import { verifyApiVersion } from "./internal/api-version-probe.js";
import type { ClientRuntime } from "./internal/client-runtime.js";
import { startResourceControl } from "./internal/resource-control.js";
import { sendRequest } from "./low-level.js";
import type {
  RequestTarget,
  SendRequestOptions,
  TikvRpcInput,
  TikvRpcName,
  TikvRpcResponse,
} from "./low-level-types.js";
import { loadMetricsSink } from "./metrics-options.js";
import {
  type ConnectOptions,
  type RawClientOptions,
  type ResolvedConnectOptions,
  resolveConnectOptions,
  resolveRawOptions,
} from "./options.js";
import { Oracle } from "./oracle.js";
import { RawClient } from "./raw-client.js";
import { TxnClient } from "./txn-client.js";

// The cluster's storage API version; the codec decides what requests carry (V1 on V1TTL).
const API_VERSION: Record<ResolvedConnectOptions["apiVersion"], APIVersion> = {
  v1: APIVersion.V1,
  v1ttl: APIVersion.V1TTL,
  v2: APIVersion.V2,
};

/**
 * A connection to a TiKV cluster. Create one per process with {@link TikvClient.connect} and
 * share it; {@link TikvClient.raw} gives raw KV views over it. {@link TikvClient.close} releases
 * every channel, stream and timer.
 *
 * @example
 * ```ts
 * const client = await TikvClient.connect({ pdEndpoints: ["127.0.0.1:2379"] });
 * const raw = client.raw();
 * await raw.put("k", "v");
 * console.log((await raw.get("k"))?.toString()); // "v"
 * await client.close();
 * ```
 */
export class TikvClient {
  private closed = false;
  private readonly runtime: ClientRuntime;
  // the transactional side, created on the first txn() call (raw-only clients never pay for it)
  private txnRuntime: TxnRuntime | undefined;
  private configCache: ClientConfig | undefined;
  private oracleImpl: Oracle | undefined;
  // the resource group controller (connect option resourceControl); undefined when off
  private resourceController: ResourceGroupsController | undefined;

  private constructor(
    private readonly opts: ResolvedConnectOptions,
    /** @internal The PD actor (cluster id, TSO, region lookups). */
    readonly pd: PdActor,
    private readonly stores: StorePool,
    /** @internal The region cache (exposed for tests and diagnostics). */
    readonly regionCache: RegionCache,
    private readonly rawCodec: ApiCodec,
    private readonly metricsImpl: ClientMetrics,
    /** Keyspace metadata (API v2 with a keyspace). */
    readonly keyspaceMeta: KeyspaceMeta | undefined,
    /** The live view's server, when `inspect` was given (its page is at `inspection.url`). */
    readonly inspection?: InspectServer,
    private readonly hub: ObserveHub = new ObserveHub(),
  ) {
    const sender = new RoutedSender(regionCache, stores, rawCodec, metricsImpl, {
      inspect: actorInspect(opts, inspection, hub),
      interceptor: opts.interceptor,
      rpcTimeouts: { shortMs: opts.rpcTimeoutMs, mediumMs: opts.longRpcTimeoutMs },
      contextDefaults: opts.contextDefaults,
      zoneTraffic: zoneTrafficOf(opts, metricsImpl),
    });
    this.runtime = {
      options: opts,
      sender,
      metrics: metricsImpl,
      pd,
      checkOpen: () => {
        if (this.closed) throw new ShuttingDownError("client is closed");
      },
    };
  }

  /**
   * Connects to the cluster: validates the options, finds the PD leader, loads the keyspace
   * (API v2 with `keyspace`) and prepares routing. Throws InvalidArgumentError for bad options
   * (at once, before any I/O: e.g. an endpoint without a valid host and port 1-65535),
   * TimeoutError / PdError when PD cannot be reached (naming the endpoints tried, the last PD
   * error as cause) or the keyspace does not exist, ApiVersionMismatchError when the cluster does
   * not serve `apiVersion` (one probe read; an inconclusive probe is ignored), and AbortedError when `signal` aborts (then
   * nothing of the half-made client is left running).
   *
   * @example
   * ```ts
   * const client = await TikvClient.connect({
   *   pdEndpoints: ["127.0.0.1:2379"],
   *   apiVersion: "v2",
   *   keyspace: "tenant1",
   * });
   * ```
   */
  static async connect(options: ConnectOptions): Promise<TikvClient> {
    const opts = resolveConnectOptions(options);
    const signal = options.signal;
    if (signal?.aborted) throw new AbortedError(signal.reason);
    // The PD actor's region codec is fixed at construction, and in API v2 the codec needs the
    // keyspace id: resolve the keyspace first with a short-lived channel (client-go does the same
    // through its PD client before building the codec).
    const meta =
      opts.apiVersion === "v2" && opts.keyspace !== undefined ? await loadKeyspace(opts, signal) : undefined;
    const codec = createApiCodec({
      apiVersion: API_VERSION[opts.apiVersion],
      mode: "raw",
      keyspaceMeta: meta,
    });
    const metrics = new ClientMetrics();
    // opt-in export: prom-client is imported only here, only when asked for
    if (opts.metrics) metrics.sink = await loadMetricsSink(opts.metrics);
    // opt-in tracing: @opentelemetry/api is imported only here (absent: untraced); its RPC spans
    // come from an interceptor run outside the user's
    const tracing = opts.tracing ? await loadTracing(opts.tracing.tracerProvider) : undefined;
    if (tracing) {
      metrics.tracer = tracing;
      opts.interceptor = composeInterceptors(tracing.interceptor, opts.interceptor);
    }
    // the live view (opt-in): its callback goes to every actor; none is attached otherwise
    const hub = new ObserveHub();
    const inspection = opts.inspect ? await InspectServer.start(opts.inspect, undefined, hub) : undefined;
    if (signal?.aborted) {
      await inspection?.close();
      throw new AbortedError(signal.reason);
    }
    // observeActors: the hub's callback on every actor (it does nothing while none subscribes)
    const inspect = actorInspect(opts, inspection, hub);
    const pd = await PdActor.connect({
      endpoints: opts.pdEndpoints,
      tls: opts.tls,
      grpcOptions: opts.grpcOptions,
      connectTimeoutMs: opts.connectTimeoutMs,
      rpcTimeoutMs: opts.pdTimeoutMs,
      requestTimeoutMs: opts.pdRequestTimeoutMs,
      lowResolutionTsUpdateIntervalMs: opts.tsoUpdateIntervalMs,
      storeRefreshIntervalMs: opts.storeRefreshIntervalMs,
      regionCodec: regionKeyCodec(codec),
      // raw KV needs no timestamps; keep connect() to one round trip
      initialTimestamp: false,
      // in PD's API mode the keyspace's timestamps come from its TSO keyspace group
      tsoKeyspace: meta?.keyspace?.$case === "id" ? { id: meta.keyspace.id, config: meta.config } : undefined,
      inspect,
      signal,
    }).catch(async (e) => {
      await inspection?.close();
      throw e;
    });
    const stores = new StorePool({
      tls: opts.tls,
      grpcOptions: opts.grpcOptions,
      maxBatchSize: opts.maxBatchSize,
      storeLimit: opts.storeLimit,
      inspect,
      // only with metrics on: the stream makes one undefined check per message otherwise
      onBatch: metrics.sink ? (t, n, q) => metrics.observeBatch(t, n, q) : undefined,
    });
    const cache = new RegionCache(new PdRegionSource(pd, metrics), {
      probe: storeHealthProbe(stores),
      requestHealthFeedback: healthFeedbackRequester(stores),
      ttlMs: opts.regionCacheTtlMs,
      ttlJitterMs: opts.regionCacheTtlJitterMs,
      enableForwarding: opts.enableForwarding,
    });
    // TiKV's slow score steers replica choice (client-go recordHealthFeedback)
    stores.onHealthFeedback((id, score) => cache.stores.setSlowScore(id, score));
    const rc = startResourceControl(opts, pd);
    const client = new TikvClient(opts, pd, stores, cache, codec, metrics, meta, inspection, hub);
    client.resourceController = rc;
    // fail here, not at the first call, when the cluster does not serve this API version
    await verifyApiVersion(pd, stores, codec, opts.apiVersion, opts.connectTimeoutMs, signal).catch(
      async (e) => {
        await client.close();
        throw e;
      },
    );
    return client;
  }

  /**
   * A raw KV client over this connection. Views are cheap: create one per column family / mode.
   *
   * @example
   * ```ts
   * const raw = client.raw({ columnFamily: "write" });
   * const cas = client.raw({ atomic: true });
   * ```
   */
  raw(options?: RawClientOptions): RawClient {
    this.runtime.checkOpen();
    return new RawClient(this.runtime, resolveRawOptions(options));
  }

  /**
   * The transactional client over this connection (its own region cache and lock resolver,
   * created on first use and shared by every call).
   *
   * @example
   * ```ts
   * const txnClient = client.txn();
   * const txn = await txnClient.begin();
   * txn.set("k", "v");
   * await txn.commit();
   * ```
   */
  txn(): TxnClient {
    this.runtime.checkOpen();
    return new TxnClient({
      rt: this.txnSide(),
      timeoutMs: this.opts.timeoutMs,
      maxBackoffMs: this.opts.maxBackoffMs,
      checkOpen: this.runtime.checkOpen,
    });
  }

  // the transactional runtime, created on first use
  private txnSide(): TxnRuntime {
    if (!this.txnRuntime) {
      const codec = createApiCodec({
        apiVersion: API_VERSION[this.opts.apiVersion],
        mode: "txn",
        keyspaceMeta: this.keyspaceMeta,
      });
      this.txnRuntime = new TxnRuntime({
        pd: this.pd,
        stores: this.stores,
        codec,
        metrics: this.metricsImpl,
        keyspaceId: codec.apiVersion === APIVersion.V2 ? codec.keyspaceId : undefined,
        inspect: actorInspect(this.opts, this.inspection, this.hub),
        observe: this.hub,
        txnLocalLatches: this.opts.txnLocalLatches,
        budgetsMs: this.opts.txnBackoffBudgetsMs,
        maxTxnTtlMs: this.opts.maxTxnTtlMs,
        resolveLockLiteThreshold: this.opts.resolveLockLiteThreshold,
        enableForwarding: this.opts.enableForwarding,
        regionCacheTtl: { ttlMs: this.opts.regionCacheTtlMs, ttlJitterMs: this.opts.regionCacheTtlJitterMs },
        interceptor: this.opts.interceptor,
        contextDefaults: this.opts.contextDefaults,
        rpcTimeouts: { shortMs: this.opts.rpcTimeoutMs, mediumMs: this.opts.longRpcTimeoutMs },
        zoneTraffic: zoneTrafficOf(this.opts, this.metricsImpl),
        slowTxnLog: { logger: this.opts.logger, thresholdMs: this.opts.slowTxnThresholdMs },
        pdHttp: this.opts.pdHttpEndpoints && new PdHttpClient(this.opts.pdHttpEndpoints, this.opts.tls),
      });
    }
    return this.txnRuntime;
  }

  // what the admin calls (split, scatter, low-level requests) use
  private get admin(): AdminContext {
    return {
      pd: this.pd,
      stores: this.stores,
      metrics: this.metricsImpl,
      options: this.opts,
      checkOpen: this.runtime.checkOpen,
      sender: (mode) => (mode === "raw" ? (this.runtime.sender as RoutedSender) : this.txnSide().sender),
    };
  }

  /**
   * Splits regions at `keys` (client-go KVStore.SplitRegions) and returns the ids of the regions
   * created. Keys are sorted and de-duplicated first; keys already on a region boundary split
   * nothing; an empty list does nothing. Keys are grouped by region and sent as SplitRegion
   * batches of at most 2048 keys, in parallel, retried on region errors within a budget of 20 s
   * per key (at most 120 s). With `scatter`, each new region is then scattered by PD; scatter
   * failures do not fail the split: they are listed in `scatterErrors` (client-go logs them and
   * returns the ids with the error). Throws InvalidArgumentError for an empty key or bad options.
   *
   * @example
   * ```ts
   * const { regionIds } = await client.splitRegions(["user:1000", "user:2000"], { scatter: true });
   * for (const id of regionIds) await client.waitScatterRegionFinish(id);
   * ```
   */
  splitRegions(keys: readonly KeyInput[], options?: SplitRegionsOptions): Promise<SplitRegionsResult> {
    return splitRegions(this.admin, keys, options);
  }

  /**
   * Asks PD to scatter one region or several (client-go pdClient.ScatterRegions): PD moves their
   * peers and leaders to balance the stores, in the background. PD errors are retried with the
   * PDRPC backoff; ids PD cannot scatter come back in `failedRegionIds`.
   *
   * @example
   * ```ts
   * await client.scatterRegion([10n, 12n], { group: "table-42" });
   * ```
   */
  scatterRegion(
    regionIds: bigint | number | readonly (bigint | number)[],
    options?: ScatterOptions,
  ): Promise<ScatterResult> {
    return scatterRegions(this.admin, regionIds, options);
  }

  /**
   * Waits until the region's scatter operator is no longer running (client-go
   * WaitScatterRegionFinish): polls PD's GetOperator with backoff; a region without an operator
   * counts as finished. Throws TimeoutError after `timeoutMs` (default 120 000).
   *
   * @example
   * ```ts
   * await client.waitScatterRegionFinish(regionId, { timeoutMs: 30_000 });
   * ```
   */
  waitScatterRegionFinish(regionId: bigint | number, options?: WaitScatterOptions): Promise<void> {
    return waitScatterRegionFinish(this.admin, regionId, options);
  }

  /** True while PD runs a scatter operator on the region (client-go CheckRegionInScattering). */
  checkRegionInScattering(regionId: bigint | number, options?: { signal?: AbortSignal }): Promise<boolean> {
    return checkRegionInScattering(this.admin, regionId, options);
  }

  /**
   * Sends one TiKV RPC (any unary tikvpb.Tikv method, by its proto name) to the region holding
   * `target.key`, to region `target.regionId`, or to store `target.storeId`, with the routing,
   * retries and backoff of the client's own calls (client-go KVStore.SendReq with a tikvrpc
   * request), and returns the typed response. The sender fills in the request's context (region,
   * epoch, peer, API version, keyspace); leave it out. A store target is for store-level commands
   * (GetStoreSafeTS, GetHealthFeedback...): it sends no context, and retries only sends that
   * never left the client. Region errors are retried as a normal call
   * retries them; key errors and other response fields come back as TiKV sent them. Keys are
   * given as user keys: the key codec adds the keyspace prefix in API v2 (and strips it from
   * response keys), transactional keys are sent as they are (TiKV encodes them itself), so never
   * pre-encode keys; timestamps, values and every non-key field are sent as given. Region
   * boundaries in responses (SplitRegion's regions) are decoded in API v2 only: in API v1 they
   * come back as TiKV keeps them (memcomparable-encoded for transactional keys), as in client-go. Throws
   * InvalidArgumentError at once for an unknown command name, a bad target or a request that
   * cannot be encoded.
   *
   * @example
   * ```ts
   * const resp = await client.sendRequest("KvGet", { key: Buffer.from("k"), version: ts }, { key: "k" });
   * const safe = await client.sendRequest("GetStoreSafeTS", {}, { storeId: 1n });
   * ```
   */
  sendRequest<N extends TikvRpcName>(
    command: N,
    request: TikvRpcInput<N>,
    target: RequestTarget,
    options?: SendRequestOptions,
  ): Promise<TikvRpcResponse<N>> {
    return sendRequest(this.admin, command, request, target, options);
  }

  /**
   * Runs one GC round at `safePoint` (client-go KVStore.GC): advances the txn safe point (GC
   * barriers may hold it lower: the result says where it is), resolves every lock at or below it
   * in every region (KvScanLock batches of 1024, `concurrency` regions at once, default 8), then
   * advances the GC safe point to it. Keyspace clients run keyspace-level GC when PD has it for
   * their keyspace, else the null keyspace's. Throws InvalidArgumentError for bad input,
   * GcStateError when PD refuses (e.g. `decreasingTxnSafePoint`) or the safe point is ahead of
   * the TSO (`aheadOfTso`), AbortedError on `signal`.
   *
   * @example
   * ```ts
   * const now = await client.txn().currentTimestamp();
   * const tenMinutesAgo = now - ((10n * 60_000n) << 18n);
   * const r = await client.gc(tenMinutesAgo, { onProgress: (p) => console.log(p.phase, p.completedRegions) });
   * console.log(r.txnSafePoint, r.gcSafePoint, r.locksResolved);
   * ```
   */
  gc(safePoint: bigint, options?: GcOptions): Promise<GcResult> {
    this.runtime.checkOpen();
    return clientGc(this.gcHost(), safePoint, options);
  }

  /** The GC state of the client's keyspace (the null keyspace without one): safe points and barriers. */
  getGCState(options?: { signal?: AbortSignal }): Promise<GcState> {
    this.runtime.checkOpen();
    return clientGcState(this.gcHost(), options?.signal);
  }

  /**
   * Sets (or renews) GC barrier `barrierId`: the txn safe point stays at or below `barrierTs`
   * for `ttlSeconds` ("forever" = until deleted). GcStateError `barrierBehindTxnSafePoint` when
   * the txn safe point already passed it.
   *
   * @example
   * ```ts
   * await client.setGCBarrier("backup-42", ts, 600);
   * ```
   */
  setGCBarrier(
    barrierId: string,
    barrierTs: bigint,
    ttlSeconds: number | bigint | "forever",
    options?: { signal?: AbortSignal },
  ): Promise<GcBarrier> {
    this.runtime.checkOpen();
    return clientSetBarrier(this.gcHost(), barrierId, barrierTs, ttlSeconds, options?.signal);
  }

  /**
   * Sets (or renews) global GC barrier `barrierId`: the txn safe point of every keyspace stays
   * at or below `barrierTs` (PD with global barriers; older PDs answer UNIMPLEMENTED).
   * GcStateError `globalBarrierBehindTxnSafePoint` when some keyspace already passed it.
   */
  setGlobalGCBarrier(
    barrierId: string,
    barrierTs: bigint,
    ttlSeconds: number | bigint | "forever",
    options?: { signal?: AbortSignal },
  ): Promise<GcBarrier> {
    this.runtime.checkOpen();
    return clientSetGlobalBarrier(this.gcHost(), barrierId, barrierTs, ttlSeconds, options?.signal);
  }

  /** Deletes global GC barrier `barrierId`; resolves with it, or undefined when there was none. */
  deleteGlobalGCBarrier(
    barrierId: string,
    options?: { signal?: AbortSignal },
  ): Promise<GcBarrier | undefined> {
    this.runtime.checkOpen();
    return clientDeleteGlobalBarrier(this.gcHost(), barrierId, options?.signal);
  }

  /** Deletes GC barrier `barrierId`; resolves with it, or undefined when there was none. */
  deleteGCBarrier(barrierId: string, options?: { signal?: AbortSignal }): Promise<GcBarrier | undefined> {
    this.runtime.checkOpen();
    return clientDeleteBarrier(this.gcHost(), barrierId, options?.signal);
  }

  /**
   * Sets a service safe point (PD's legacy API, for clusters before GC barriers): GC will not
   * pass `safePoint` for `ttlSeconds` (0 removes it). Resolves with the minimum service safe point.
   */
  updateServiceGCSafePoint(
    serviceId: string,
    ttlSeconds: number | bigint,
    safePoint: bigint,
    options?: { signal?: AbortSignal },
  ): Promise<ServiceSafePointResult> {
    this.runtime.checkOpen();
    return clientServiceSafePoint(this.gcHost(), serviceId, ttlSeconds, safePoint, options?.signal);
  }

  /**
   * Deletes [start, end) of the transactional key space on every up store at once, bypassing
   * raft and MVCC (client-go UnsafeDestroyRange): for data no one reads any more (dropped tables),
   * usually after `txn().deleteRange(start, end, { notifyOnly: true })`. Resolves with the ids of
   * the stores that did it; any store failing fails the call.
   */
  unsafeDestroyRange(start: KeyInput, end: KeyInput, options?: { signal?: AbortSignal }): Promise<bigint[]> {
    this.runtime.checkOpen();
    return clientUnsafeDestroyRange(this.gcHost(), start, end, options?.signal);
  }

  private gcHost(): GcHost {
    return {
      pd: this.pd,
      stores: this.stores,
      txnRuntime: () => this.txnSide(),
      keyspaceId: this.keyspaceMeta?.keyspace?.$case === "id" ? this.keyspaceMeta.keyspace.id : undefined,
    };
  }

  /**
   * The timestamp oracle (client-go oracle.Oracle): fresh, low-resolution and stale timestamps,
   * read-ts validation, lock expiry, PD's external timestamp. See {@link Oracle}.
   *
   * @example
   * ```ts
   * const ts = await client.oracle.getStaleTimestamp(10); // ~10 s ago, no PD round trip
   * ```
   */
  get oracle(): Oracle {
    this.runtime.checkOpen();
    this.oracleImpl ??= new Oracle({ pd: this.pd, checkOpen: this.runtime.checkOpen });
    return this.oracleImpl;
  }

  /** The PD cluster id. */
  get clusterId(): bigint {
    return this.pd.clusterId;
  }

  /**
   * What resource group `name` did in this client so far (connect option `resourceControl`):
   * requests accounted, delayed for tokens and throttled, PD grants and RU consumed. Undefined
   * while resource control is off or no request used the group.
   *
   * @example
   * ```ts
   * const s = client.resourceGroupStats("batch");
   * console.log(s?.delayed, s?.grantedRU);
   * ```
   */
  resourceGroupStats(name: string): ResourceGroupStats | undefined {
    return this.resourceController?.stats(name);
  }

  /**
   * The resolved configuration: every option of {@link ConnectOptions} that is a number or a
   * name, with its default filled in (frozen). TLS material, interceptors, the logger and the
   * connect signal are not shown.
   *
   * @example
   * ```ts
   * console.log(client.config.regionCacheTtlMs); // 600000 unless set at connect
   * ```
   */
  get config(): ClientConfig {
    this.configCache ??= configView(this.opts);
    return this.configCache;
  }

  /** The API version this client speaks. */
  get apiVersion(): ResolvedConnectOptions["apiVersion"] {
    return this.opts.apiVersion;
  }

  /** The codec of raw requests (keyspace prefix etc.). */
  get codec(): ApiCodec {
    return this.rawCodec;
  }

  /**
   * Routing counters: PD lookups, sends per store, region errors and backoffs by kind.
   *
   * @example
   * ```ts
   * client.resetMetrics();
   * await raw.get("k");
   * console.log(client.metrics().pdRegionLookups);
   * ```
   */
  metrics(): ClientMetricsSnapshot {
    return this.metricsImpl.snapshot();
  }

  /** Zeroes the routing counters. */
  resetMetrics(): void {
    this.metricsImpl.reset();
  }

  /** True once {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Closes every store stream, the PD actor and its timers. Calls in flight fail with
   * ShuttingDownError; later calls too. Idempotent.
   *
   * @example
   * ```ts
   * await client.close();
   * ```
   */
  /**
   * Observables of what the client does (rxjs): `txns`, the lifecycle of every transaction
   * begun while someone subscribes (begin, commit start, each committer state, each RPC with
   * its region, store and outcome, backoffs, lock resolutions, commit or rollback with the
   * protocol and its fallbacks); `transitions`, actor state changes (the committers of observed
   * transactions; every actor while the live view is on). Nothing is recorded while nobody
   * subscribes.
   *
   * @example
   * ```ts
   * const sub = client.observe().txns.subscribe((e) => console.log(e.type, e.txn));
   * // ... later
   * sub.unsubscribe();
   * ```
   */
  observe(): ClientObservables {
    return this.hub;
  }

  /**
   * eventemitter3 events for the common cases: `"txn:begin"`, `"txn:commit"`,
   * `"txn:rollback"`, `"txn:lock"`, `"region:error"`. A listener turns observation of new
   * transactions on; errors thrown by listeners are ignored.
   *
   * @example
   * ```ts
   * client.events.on("txn:rollback", (e) => console.warn(e.txn, e.reason, e.error?.message));
   * ```
   */
  get events(): ClientEvents {
    return this.hub.events;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.txnRuntime?.close();
    this.resourceController?.close();
    this.regionCache.stores.close();
    this.stores.close();
    this.pd.close();
    this.regionCache.clear();
    await this.inspection?.close();
  }
}

// client-go: pdClient.LoadKeyspace(name) on the PD leader; a missing, disabled or archived
// keyspace cannot be used. PD checks the cluster id, so members are discovered first.
async function loadKeyspace(
  opts: ResolvedConnectOptions,
  signal: AbortSignal | undefined,
): Promise<KeyspaceMeta> {
  const name = opts.keyspace as string;
  const clients = new PdClients({ tls: opts.tls, grpcOptions: opts.grpcOptions });
  const creds = channelCredentials(opts.tls);
  try {
    const members = await discoverMembers(
      clients,
      opts.pdEndpoints,
      0n,
      Math.max(1, opts.connectTimeoutMs),
      signal,
    );
    const client = new KeyspaceClient(grpcTarget(members.leader), creds, channelOptions(opts));
    try {
      const resp = await unaryCallAsync(
        client,
        KeyspaceService.loadKeyspace,
        LoadKeyspaceRequest.fromPartial({ header: pdHeader(members.clusterId), name }),
        { timeoutMs: Math.max(1, opts.connectTimeoutMs), signal },
        members.leader,
      );
      try {
        checkHeader(resp.header, members.clusterId);
      } catch (e) {
        if (e instanceof PdError && e.pdErrorType === ErrorType.ENTRY_NOT_FOUND) {
          throw new InvalidArgumentError(`keyspace "${name}" does not exist`, "keyspace", { cause: e });
        }
        throw e;
      }
      const meta = resp.keyspace;
      if (!meta) throw new InvalidArgumentError(`keyspace "${name}" does not exist`, "keyspace");
      if (meta.state !== KeyspaceState.ENABLED) {
        throw new InvalidArgumentError(
          `keyspace "${name}" is ${KeyspaceState[meta.state] ?? meta.state}`,
          "keyspace",
        );
      }
      return meta;
    } finally {
      client.close();
    }
  } finally {
    clients.close();
  }
}

// reads are measured by zone only when someone counts them: a zone given, or metrics exported
function zoneTrafficOf(
  opts: ResolvedConnectOptions,
  metrics: ClientMetrics,
): { zone: string | undefined } | undefined {
  return opts.zone !== undefined || metrics.sink !== undefined ? { zone: opts.zone } : undefined;
}

// the inspection callback the client's actors get: the live view's, else the observe hub's when
// asked for (observeActors), else none
function actorInspect(
  opts: ResolvedConnectOptions,
  inspection: InspectServer | undefined,
  hub: ObserveHub,
): ((ev: InspectionEvent) => void) | undefined {
  return inspection?.inspect ?? (opts.observeActors ? hub.inspect : undefined);
}
