// TikvClient: connects to a cluster and owns the client's long-lived parts (PD actor, store
// pool, region cache, request sender). Follows client-go rawkv.NewClientWithOpts and
// tikv.NewKVStore: PD client -> (API v2) keyspace meta -> codec -> region cache + RPC client.

import { InspectServer } from "../actors/inspect/server.js";
import { discoverMembers } from "../actors/pd/discover.js";
import { PdActor } from "../actors/pd/pd-actor.js";
import { checkHeader, PdClients, pdHeader } from "../actors/pd/pd-rpc.js";
import { RegionCache } from "../actors/region-cache/region-cache.js";
import { ClientMetrics, type ClientMetricsSnapshot } from "../actors/runtime/metrics.js";
import { PdRegionSource, regionKeyCodec } from "../actors/runtime/pd-region-source.js";
import { RoutedSender, storeProbe } from "../actors/runtime/routed-sender.js";
import { StorePool } from "../actors/store/store-pool.js";
import { TxnRuntime } from "../actors/txn/txn-runtime.js";
import { InvalidArgumentError } from "../errors/base.js";
import { AbortedError, PdError, ShuttingDownError } from "../errors/server.js";
import type { ApiCodec } from "../kv/api-codec.js";
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
import { verifyApiVersion } from "./internal/api-version-probe.js";
import type { ClientRuntime } from "./internal/client-runtime.js";
import { loadMetricsSink } from "./metrics-options.js";
import {
  type ConnectOptions,
  type RawClientOptions,
  type ResolvedConnectOptions,
  resolveConnectOptions,
  resolveRawOptions,
} from "./options.js";
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
  ) {
    const sender = new RoutedSender(
      regionCache,
      stores,
      rawCodec,
      metricsImpl,
      inspection?.inspect,
      opts.interceptor,
    );
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
    // the live view (opt-in): its callback goes to every actor; none is attached otherwise
    const inspection = opts.inspect ? await InspectServer.start(opts.inspect) : undefined;
    if (signal?.aborted) {
      await inspection?.close();
      throw new AbortedError(signal.reason);
    }
    const inspect = inspection?.inspect;
    const pd = await PdActor.connect({
      endpoints: opts.pdEndpoints,
      tls: opts.tls,
      grpcOptions: opts.grpcOptions,
      connectTimeoutMs: opts.connectTimeoutMs,
      regionCodec: regionKeyCodec(codec),
      // raw KV needs no timestamps; keep connect() to one round trip
      initialTimestamp: false,
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
      inspect,
      // only with metrics on: the stream makes one undefined check per message otherwise
      onBatch: metrics.sink ? (t, n, q) => metrics.observeBatch(t, n, q) : undefined,
    });
    const cache = new RegionCache(new PdRegionSource(pd, metrics), { probe: storeProbe(stores) });
    const client = new TikvClient(opts, pd, stores, cache, codec, metrics, meta, inspection);
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
        inspect: this.inspection?.inspect,
        txnLocalLatches: this.opts.txnLocalLatches,
        interceptor: this.opts.interceptor,
        slowTxnLog: { logger: this.opts.logger, thresholdMs: this.opts.slowTxnThresholdMs },
      });
    }
    return new TxnClient({
      rt: this.txnRuntime,
      timeoutMs: this.opts.timeoutMs,
      maxBackoffMs: this.opts.maxBackoffMs,
      checkOpen: this.runtime.checkOpen,
    });
  }

  /** The PD cluster id. */
  get clusterId(): bigint {
    return this.pd.clusterId;
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
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.txnRuntime?.close();
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
