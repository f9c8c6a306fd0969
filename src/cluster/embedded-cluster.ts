// The embedded cluster: one ClusterTopology, one TxnEngine and one RawEngine shared by N mock
// TiKV stores (data is "replicated by raft", like client-go's mocktikv), a mock PD, and one
// fault registry consulted by all of them.

import { APIVersion } from "../proto/kvrpcpb.js";
import { RawEngine } from "./engine/raw/raw-engine.js";
import { TxnEngine } from "./engine/txn/txn-engine.js";
import { FaultRegistry } from "./faults/fault-registry.js";
import { TIKV_RPCS } from "./faults/rpc-names.js";
import { MockPd } from "./pd/mock-pd.js";
import type { ResourceGroupRegistry } from "./pd/resource-manager/groups.js";
import { resourceManagerOf } from "./pd/resource-manager/service.js";
import type { TsoMicroserviceOptions } from "./pd/tso-service/keyspace-groups.js";
import type { DiskUsage } from "./tikv/disk-usage.js";
import { MockTikvStore } from "./tikv/mock-tikv-store.js";
import type { TxnEnginePort } from "./tikv/ports.js";
import { type RequestFilter, RequestLog, type RequestRecorder } from "./tikv/request-log.js";
import { ResolvedTsWorker } from "./tikv/resolved-ts.js";
import type { RegionKeyEncoding } from "./tikv/store-commands.js";
import { type ClusterTlsOptions, ServerSecurity } from "./tls/server-security.js";
import { type ClusterCertificates, generateClusterCertificates } from "./tls/test-certs.js";
import { bootstrapTopology } from "./topology/bootstrap.js";
import type { ClusterTopology } from "./topology/cluster-topology.js";
import type { TopologyChange } from "./topology/types.js";

export type { DiskUsage, RegionKeyEncoding };

/** Storage API version of the cluster (TiKV `storage.api-version`). */
export type ApiVersionName = "v1" | "v1ttl" | "v2";

/** Options of {@link EmbeddedCluster.start}. */
export interface EmbeddedClusterOptions {
  /** Number of TiKV stores (default 3). */
  stores?: number;
  /** Number of regions when `splitKeys` is not given: the key space is cut evenly (default 1). */
  regions?: number;
  /** Keys at which the key space is cut into regions (user keys, as on the wire). */
  splitKeys?: readonly (string | Uint8Array)[];
  /** Peers per region (default: one on every store). */
  replicas?: number;
  /** Storage API version (default "v1"). */
  apiVersion?: ApiVersionName;
  /**
   * How user split keys (`splitKeys`, `regions`, `topology.splitAt`, keyspace bounds) are
   * written as region boundaries: "memcomparable"-encoded, as txn splits leave them, or "raw",
   * as sent. Boundaries are kept in that byte form, as TiKV keeps them: on a "memcomparable"
   * cluster raw (API V1) keys are compared with them byte for byte and txn keys after encoding,
   * so raw and txn clients share it, and raw splits (SplitRegion is_raw_kv) cut at raw bytes.
   * A "raw" cluster compares every key as sent (for raw clients; client-go's v1 txn codec
   * cannot decode its boundaries). Default: "memcomparable" under v2, "raw" under v1 / v1ttl.
   */
  regionKeyEncoding?: RegionKeyEncoding;
  /**
   * raftstore's raft-entry-max-size in bytes (default 8 MiB, as TiKV): writes whose estimated
   * raft entry is larger are answered with RaftEntryTooLarge.
   */
  raftEntryMaxSize?: number;
  /** Number of PD members (default 1). */
  pdMembers?: number;
  /** Port of the first PD member (member i listens on pdPort + i); default 0: any free port. */
  pdPort?: number;
  /** Listen host for every server (default 127.0.0.1). */
  host?: string;
  /** Labels of each store, by store index (0-based), or one function giving them. */
  labels?: readonly Record<string, string>[] | ((storeIndex: number) => Record<string, string> | undefined);
  /** Cluster id announced by PD and checked by the stores (default 0x7e57 = "test"). */
  clusterId?: bigint;
  /**
   * Model TiKV's max_ts sync after a leader change: for this many ms after a region changes
   * leader, async-commit/1PC prewrites (and API V2 raw writes) there fail with
   * MaxTimestampNotSynced, as until the new leader has fetched a TSO. 0 (default) = off.
   */
  maxTsSyncDelayMs?: number;
  /**
   * Time in ms each step of a PD scatter operator takes (default 50). ScatterRegion and
   * SplitAndScatterRegions really move regions: the operator ("scatter-region") stays RUNNING
   * while it adds a peer on the store with the fewest peers (as a learner, then promoted),
   * removes a non-leader peer from the most loaded store, and/or transfers the leader to the
   * voter store leading the fewest regions — one topology change (and conf_ver bump) per
   * step — then turns SUCCESS. A balanced region (e.g. with one store) succeeds at once.
   */
  scatterStepMs?: number;
  /**
   * How often (ms) every region's resolved ts — its safe ts for stale reads — advances on its
   * own, as TiKV's resolved-ts worker does: to min(current TSO, min start ts of the region's
   * locks − 1). Default 200; 0 = off (safe ts then moves only through
   * `topology.advanceSafeTs` / `advanceAllSafeTs` / {@link EmbeddedCluster.advanceResolvedTs},
   * as tests that need it frozen want). Only Put/Delete locks hold it back (not pessimistic
   * locks, as in TiKV); every peer of a region shares the value (TiKV followers may lag).
   * Like TiKV, each round raises the engine's max_ts to the TSO, so async-commit / 1PC
   * min_commit_ts lands above it: tests that send hand-picked small timestamps with
   * async commit or 1PC (or assert exact min_commit_ts values) should turn it off.
   */
  resolvedTsIntervalMs?: number;
  /** Wall clock in ms for the engines and topology (default Date.now). */
  now?: () => number;
  /**
   * TLS of PD and every store (default plaintext): given certificates (mutual TLS unless
   * `requireClientCert: false`), or "generate" for a fresh CA, server and client certificate
   * (read them from {@link EmbeddedCluster.certificates}).
   */
  tls?: ClusterTlsOptions | "generate";
  /**
   * The stores' own TLS settings over `tls` (each TiKV has its own security config): e.g.
   * `{ allowedCommonNames: ["tidb"] }` makes the stores refuse client names PD accepts.
   */
  storeTls?: Partial<ClusterTlsOptions>;
  /**
   * Run PD in API (microservice) mode with N TSO servers and keyspace groups: clients then take
   * a keyspace's timestamps from its group's primary TSO server (`pd.tsoServers` controls them).
   * Default: PD mode, PD serves every timestamp. Plaintext only.
   *
   * @example EmbeddedCluster.start({ apiVersion: "v2", tsoMicroservice: { servers: 2, keyspaceGroups: [{ id: 1, keyspaces: [1] }] } })
   */
  tsoMicroservice?: TsoMicroserviceOptions;
}

/** Thrown for invalid cluster options or unknown store ids. */
export class EmbeddedClusterError extends Error {
  readonly code = "EmbeddedCluster";
  constructor(message: string) {
    super(message);
    this.name = "EmbeddedClusterError";
  }
}

const API_VERSIONS: Record<ApiVersionName, APIVersion> = {
  v1: APIVersion.V1,
  v1ttl: APIVersion.V1TTL,
  v2: APIVersion.V2,
};

function positiveInt(v: number | undefined, dflt: number, what: string): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1)
    throw new EmbeddedClusterError(`${what} must be a positive integer, got ${v}`);
  return n;
}

function nonNegative(v: number | undefined, dflt: number, what: string): number {
  const n = v ?? dflt;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0)
    throw new EmbeddedClusterError(`${what} must be a finite number >= 0, got ${v}`);
  return n;
}

/**
 * A mock PD plus N mock TiKV stores on loopback, sharing one topology, one MVCC engine and one
 * fault registry. Start with {@link EmbeddedCluster.start}; always {@link close} it.
 *
 * Like TiKV, a store proxies a call carrying the `tikv-forwarded-host` metadata (unary, or a
 * whole BatchCommands stream) to the store at that address, and the target's answer or gRPC
 * status comes back as its own; the request log marks such requests with `forwardedBy`.
 * {@link blockClients} cuts one store from clients only, to exercise client-go's forwarding.
 */
export class EmbeddedCluster {
  /** Fault registry consulted by every TiKV store (PD has its own: `pd.faults`). */
  readonly faults: FaultRegistry;
  /** The topology: regions, peers, leaders, stores; every change is visible through PD. */
  readonly topology: ClusterTopology;
  /** The shared transactional engine. */
  readonly txnEngine: TxnEngine;
  /** The shared raw engine. */
  readonly rawEngine: RawEngine;
  /** The cluster's storage API version. */
  readonly apiVersion: ApiVersionName;
  /** Form of region boundaries on the wire. */
  readonly regionKeyEncoding: RegionKeyEncoding;
  /** The mock PD (leader changes, unavailability, TSO scripting, PD faults: `pd.faults`). */
  pd!: MockPd;
  /** The certificates made for `tls: "generate"` (CA, server pair, client pair); else undefined. */
  certificates: ClusterCertificates | undefined;
  /** Regions whose max_ts is not synced (async-commit/1PC prewrites fail there). */
  private readonly maxTsNotSynced = new Set<bigint>();
  private readonly diskUsages = new Map<bigint, DiskUsage>();
  private readonly syncTimers = new Map<bigint, NodeJS.Timeout>();
  private readonly maxTsSyncDelayMs: number;
  private readonly scatterStepMs: number;
  private readonly resolvedTsIntervalMs: number;
  private resolvedTs: ResolvedTsWorker | undefined;
  private readonly storesById = new Map<bigint, MockTikvStore>();
  private readonly requestLog = new RequestLog();
  private readonly pending = new Set<Promise<void>>();
  private readonly onTopologyChange: (c: TopologyChange) => void;
  private closed = false;

  private constructor(
    opts: EmbeddedClusterOptions,
    readonly clusterId: bigint,
    private readonly security: ServerSecurity = ServerSecurity.insecure,
    private readonly storeSecurity: ServerSecurity = security,
  ) {
    const storeCount = positiveInt(opts.stores, 3, "stores");
    const regions = positiveInt(opts.regions, 1, "regions");
    const apiVersion = opts.apiVersion ?? "v1";
    if (!(apiVersion in API_VERSIONS))
      throw new EmbeddedClusterError(`unknown apiVersion ${JSON.stringify(apiVersion)}`);
    this.apiVersion = apiVersion;
    const enc = opts.regionKeyEncoding ?? (apiVersion === "v2" ? "memcomparable" : "raw");
    if (enc !== "memcomparable" && enc !== "raw") {
      throw new EmbeddedClusterError(`unknown regionKeyEncoding ${JSON.stringify(enc)}`);
    }
    this.regionKeyEncoding = enc;
    const labelsOf = (i: number) => (typeof opts.labels === "function" ? opts.labels(i) : opts.labels?.[i]);
    const now = opts.now ?? Date.now;
    this.topology = bootstrapTopology({
      stores: storeCount,
      replicas: opts.replicas,
      splitKeys: opts.splitKeys,
      keyEncoding: enc,
      now,
    });
    for (const [i, s] of this.topology.stores().entries()) {
      const labels = labelsOf(i);
      if (labels) this.topology.setStoreLabels(s.id, labels);
    }
    if (!opts.splitKeys && regions > 1) this.topology.splitEvenly(regions);
    this.faults = new FaultRegistry({ rpcs: TIKV_RPCS, hint: "PD faults are set on cluster.pd.faults" });
    this.txnEngine = new TxnEngine({ now });
    this.rawEngine = new RawEngine({ now, apiVersion: API_VERSIONS[apiVersion] });
    const txn: TxnEnginePort = this.txnEngine;
    const engine = this.txnEngine;
    const lm = engine.pessimistic.lockManager;
    // GetLockWaitInfo reads the waiter table through the lock manager's public accessor.
    const lockWaitInfo = () => lm.waitingEntries();
    const host = opts.host ?? "127.0.0.1";
    for (const s of this.topology.stores()) {
      this.storesById.set(
        s.id,
        new MockTikvStore({
          storeId: s.id,
          topology: this.topology,
          txn,
          raw: this.rawEngine,
          faults: this.faults,
          apiVersion: API_VERSIONS[apiVersion],
          clusterId,
          maxTsNotSynced: this.maxTsNotSynced,
          lockWaitInfo,
          regionKeyEncoding: enc,
          ...(opts.raftEntryMaxSize !== undefined ? { raftEntryMaxSize: opts.raftEntryMaxSize } : {}),
          diskUsage: (sid) => this.diskUsages.get(sid) ?? "normal",
          requestLog: this.requestLog,
          host,
          security: this.storeSecurity,
        }),
      );
    }
    // Stopping/starting a store through the topology (e.g. over the control channel) really
    // stops/starts its server.
    const syncDelay = opts.maxTsSyncDelayMs ?? 0;
    if (!Number.isFinite(syncDelay) || syncDelay < 0) {
      throw new EmbeddedClusterError(`maxTsSyncDelayMs must be >= 0, got ${opts.maxTsSyncDelayMs}`);
    }
    this.maxTsSyncDelayMs = syncDelay;
    this.scatterStepMs = nonNegative(opts.scatterStepMs, 50, "scatterStepMs");
    this.resolvedTsIntervalMs = nonNegative(opts.resolvedTsIntervalMs, 200, "resolvedTsIntervalMs");
    this.onTopologyChange = (c) => {
      if (c.kind === "leader" && c.leaderPeerId !== undefined && this.maxTsSyncDelayMs > 0) {
        this.unsyncFor(c.regionId, this.maxTsSyncDelayMs);
        return;
      }
      if (c.kind !== "storeRunning") return;
      const store = this.storesById.get(c.storeId);
      if (!store || store.running === c.running || this.closed) return;
      this.track(c.running ? store.start() : store.stop());
    };
  }

  /** Starts PD and every store; resolves when all are listening. */
  static async start(opts: EmbeddedClusterOptions = {}): Promise<EmbeddedCluster> {
    const pdMembers = positiveInt(opts.pdMembers, 1, "pdMembers");
    const certificates = opts.tls === "generate" ? await generateClusterCertificates() : undefined;
    const tls = certificates ? { ca: certificates.ca, ...certificates.server } : opts.tls;
    if (tls !== undefined && (tls === null || typeof tls !== "object")) {
      throw new EmbeddedClusterError(`tls must be an object or "generate", got ${JSON.stringify(tls)}`);
    }
    if (opts.storeTls !== undefined && tls === undefined) {
      throw new EmbeddedClusterError("storeTls needs tls");
    }
    const security = new ServerSecurity(tls);
    const storeSecurity =
      opts.storeTls && tls ? new ServerSecurity({ ...tls, ...opts.storeTls } as ClusterTlsOptions) : security;
    const cluster = new EmbeddedCluster(opts, opts.clusterId ?? 0x7e57n, security, storeSecurity);
    cluster.certificates = certificates;
    try {
      cluster.pd = await MockPd.start({
        topology: cluster.topology,
        members: pdMembers,
        clusterId: cluster.clusterId,
        host: opts.host ?? "127.0.0.1",
        regionKeyEncoding: cluster.regionKeyEncoding,
        bootstrapKeyspaces: cluster.apiVersion === "v2",
        ...(opts.pdPort !== undefined ? { port: opts.pdPort } : {}),
        now: opts.now,
        security: cluster.security,
        scatterStepMs: cluster.scatterStepMs,
        tsoMicroservice: opts.tsoMicroservice,
      });
      for (const [id, store] of cluster.storesById) {
        await store.start();
        cluster.topology.setStoreAddress(id, store.address, store.statusAddress);
      }
      cluster.topology.changes.on("change", cluster.onTopologyChange);
      cluster.resolvedTs = cluster.resolvedTsWorker();
      cluster.resolvedTs.start();
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  /** host:port of every PD member, for clients' pdEndpoints. */
  get pdEndpoints(): string[] {
    return this.pd ? this.pd.endpoints : [];
  }

  /**
   * host:port of every PD member's HTTP API, for clients' pdHttpEndpoints: the PD endpoints
   * themselves, since each member serves gRPC and HTTP/1.1 on one port, as PD does.
   */
  get pdHttpEndpoints(): string[] {
    return this.pd ? this.pd.httpEndpoints : [];
  }

  /**
   * URL of the first PD member's HTTP API (http:// or https:// under TLS), e.g. for
   * `fetch(`${cluster.pdHttpUrl}/pd/api/v1/stores`)`.
   */
  get pdHttpUrl(): string {
    return `${this.security.scheme}://${this.pdEndpoints[0] ?? ""}`;
  }

  /**
   * Status server URL of every store, by store id (TiKV's status address: GET /status,
   * /config, /metrics, /region/{id}), as PD reports it in each store's status_address.
   *
   * @example
   * ```ts
   * const cfg = await (await fetch(`${cluster.storeStatusUrls.get(1n)}/config`)).json();
   * cfg.storage["api-version"]; // 1 or 2
   * ```
   */
  get storeStatusUrls(): Map<bigint, string> {
    return new Map(this.stores.map((s) => [s.storeId, `${this.storeSecurity.scheme}://${s.statusAddress}`]));
  }

  /** The mock TiKV stores, in store id order. */
  get stores(): MockTikvStore[] {
    return [...this.storesById.values()];
  }

  /** The store with this id. */
  store(id: number | bigint): MockTikvStore {
    const s = this.storesById.get(BigInt(id));
    if (!s) throw new EmbeddedClusterError(`no store ${id}`);
    return s;
  }

  /**
   * Stops a store's gRPC server (connections are refused) and marks it stopped in the topology.
   * Its regions keep their leader (the other peers still name it, as before a raft election)
   * unless `failover` is set: then each region it led gets a new leader at once — the first
   * voter on a running store when running voters form a majority, otherwise none.
   */
  async stopStore(id: number | bigint, opts: { failover?: boolean } = {}): Promise<void> {
    const s = this.store(id);
    await s.stop();
    if (this.topology.isStoreRunning(s.storeId)) this.topology.stopStore(s.storeId);
    if (opts.failover) this.electLeaders();
  }

  /**
   * Elects new leaders for regions whose leader is on a stopped store, as raft would after its
   * election timeout: the first voter on a running store, if running voters are a majority;
   * otherwise the region is left without a leader. Returns the ids of regions that changed.
   */
  electLeaders(): bigint[] {
    const changed: bigint[] = [];
    for (const r of this.topology.regions()) {
      const leaderStore = r.leader?.storeId;
      if (leaderStore !== undefined && this.topology.isStoreRunning(leaderStore)) continue;
      const voters = r.peers.filter((p) => p.role === "voter");
      const alive = voters.filter((p) => this.topology.isStoreRunning(p.storeId));
      if (alive.length * 2 > voters.length && alive[0]) {
        this.topology.transferLeader(r.id, alive[0].storeId);
        changed.push(r.id);
      } else if (leaderStore !== undefined) {
        this.topology.clearLeader(r.id);
        changed.push(r.id);
      }
    }
    return changed;
  }

  /** Starts a stopped store again on the same address. */
  async startStore(id: number | bigint): Promise<void> {
    const s = this.store(id);
    if (!s.running) await s.start();
    if (!this.topology.isStoreRunning(s.storeId)) this.topology.startStore(s.storeId);
  }

  /**
   * Cuts the link between clients and one store while the stores still reach each other (a
   * network partition on the client side only, the case client-go's EnableForwarding is for).
   * The store refuses every call that does not come from a peer store's forwarding proxy with
   * UNAVAILABLE, as a client sees a cut connection, and its open client streams end; the
   * store keeps running, leading its regions and serving requests that a follower forwards to
   * it (tikv-forwarded-host). What it models honestly: the client sees the store as
   * unreachable, peers do not. What it does not: timeouts of a silently dropped link (calls
   * fail fast instead), and a real network path — on loopback a peer's calls are told apart
   * from a client's by a mock-only metadata tag the stores' proxies add.
   *
   * @example
   * ```ts
   * cluster.blockClients(leaderStoreId);
   * // a client with enableForwarding: true keeps working through a follower
   * cluster.unblockClients(leaderStoreId);
   * ```
   */
  blockClients(id: number | bigint): void {
    this.store(id).setClientsBlocked(true);
  }

  /** Ends {@link blockClients} for a store: clients reach it directly again. */
  unblockClients(id: number | bigint): void {
    this.store(id).setClientsBlocked(false);
  }

  /**
   * Marks a region's max_ts as not synced (as right after a leader change in TiKV, until the
   * new leader has fetched a TSO): async-commit and 1PC prewrites there fail with
   * MaxTimestampNotSynced until `synced` is called.
   */
  markMaxTsNotSynced(regionId: number | bigint, notSynced = true): void {
    const id = BigInt(regionId);
    if (notSynced) this.maxTsNotSynced.add(id);
    else this.maxTsNotSynced.delete(id);
  }

  /**
   * Sets a store's disk usage: on "almostFull" its leaders accept only writes whose context
   * allows almost-full disks, on "alreadyFull" none; a majority of full peers blocks a region's
   * writes; full followers refuse replica reads (all as DiskFull region errors).
   */
  setDiskUsage(storeId: number | bigint, usage: DiskUsage): void {
    const id = this.store(storeId).storeId;
    if (usage !== "normal" && usage !== "almostFull" && usage !== "alreadyFull") {
      throw new EmbeddedClusterError(`unknown disk usage ${JSON.stringify(usage)}`);
    }
    if (usage === "normal") this.diskUsages.delete(id);
    else this.diskUsages.set(id, usage);
  }

  /**
   * Runs one round of the resolved-ts worker now (what the `resolvedTsIntervalMs` timer does):
   * each region whose leader is on a running store gets safe ts min(current TSO, start ts of
   * its oldest Put/Delete lock − 1), never lower than before; pessimistic locks do not hold it
   * back. Works with the timer off too. Safe ts can still be set by hand with
   * `topology.advanceSafeTs` / `advanceAllSafeTs`.
   *
   * @example
   * const cluster = await EmbeddedCluster.start({ resolvedTsIntervalMs: 0 });
   * cluster.advanceResolvedTs(); // stale reads up to "now" are served from here on
   */
  advanceResolvedTs(): void {
    this.resolvedTs ??= this.resolvedTsWorker();
    this.resolvedTs.advance();
  }

  private resolvedTsWorker(): ResolvedTsWorker {
    const store = this.txnEngine.store;
    const cache = this.txnEngine.txnStatusCache;
    const tso = this.pd.state.tso;
    return new ResolvedTsWorker(
      {
        topology: this.topology,
        locks: () => store.lockCf.entries(),
        txnStatus: (ts) => cache.get(ts),
        tso: () => tso.peek(),
        updateMaxTs: (ts) => store.maxTs.update(ts),
      },
      this.resolvedTsIntervalMs,
    );
  }

  /**
   * Starts recording the requests every store serves (unary calls and each BatchCommands
   * sub-request, under its tikvpb method name): which store and peer, whether that peer led
   * the region, the replica/stale read flags, and whether the answer was ok, a region error
   * (with the errorpb field set) or a key error. Several recorders may run at once, each
   * with its own filter; while none runs, stores pay a single boolean check per request.
   * Requests failed with a gRPC status (injected) are not recorded; a reply dropped after
   * apply is (it was served).
   *
   * @example
   * const rec = cluster.recordRequests({ rpcs: ["KvGet"] });
   * await snapshot.get(key);
   * rec.stop();
   * expect(rec.entries[0]).toMatchObject({ rpc: "KvGet", isLeader: true, outcome: "ok" });
   */
  recordRequests(filter?: RequestFilter): RequestRecorder {
    return this.requestLog.record(filter);
  }

  /**
   * The embedded PD's resource groups (what its ResourceManager service serves): add, modify,
   * delete groups directly, and read what their token buckets granted.
   *
   * @example
   * cluster.resourceGroups.add({ name: "batch", mode: GroupMode.RUMode, priority: 8,
   *   rUSettings: { rU: { settings: { fillRate: 100n, burstLimit: 100n, maxTokens: 0 }, tokens: 0 } } });
   * cluster.resourceGroups.grantStats("batch"); // { requests, requested, granted, trickled }
   */
  get resourceGroups(): ResourceGroupRegistry {
    return resourceManagerOf(this.pd.state);
  }

  private unsyncFor(regionId: bigint, ms: number): void {
    clearTimeout(this.syncTimers.get(regionId));
    this.maxTsNotSynced.add(regionId);
    const t = setTimeout(() => {
      this.syncTimers.delete(regionId);
      this.maxTsNotSynced.delete(regionId);
    }, ms);
    t.unref();
    this.syncTimers.set(regionId, t);
  }

  /** Stops every server and releases the engines. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.topology.changes.off("change", this.onTopologyChange);
    this.resolvedTs?.stop();
    for (const t of this.syncTimers.values()) clearTimeout(t);
    this.syncTimers.clear();
    await Promise.allSettled([...this.pending]);
    await Promise.all(this.stores.map((s) => s.stop()));
    await this.pd?.stop();
    this.txnEngine.close();
  }

  private track(p: Promise<void>): void {
    const q = p.catch(() => {}).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }
}
