// One mock TiKV store: a @grpc/grpc-js server serving tikvpb.Tikv on loopback, running every
// request through the TiKV-like pipeline (faults, checks, engines). Stopping it really closes
// the listening socket; starting it again binds the same port.
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { WaitForEntry } from "../../proto/deadlock.js";
import { APIVersion, type HealthFeedback } from "../../proto/kvrpcpb.js";
import { TikvService } from "../../proto/tikvpb.js";
import { FaultRegistry } from "../faults/fault-registry.js";
import { ServerSecurity } from "../tls/server-security.js";
import { DEFAULT_RAFT_ENTRY_MAX_SIZE } from "./apply-checks.js";
import { BatchCommandsSession } from "./batch-commands.js";
import { COMMANDS, type CommandSpec } from "./commands.js";
import type { DiskUsage } from "./disk-usage.js";
import {
  clientLinkCutError,
  type ForwardedStream,
  ForwardingProxy,
  forwardedHostOf,
  peerStoreOf,
} from "./forwarding.js";
import { HealthSource } from "./health.js";
import { GrpcStatusError, HANG, isThenable, type PipelineEnv, runCommand } from "./pipeline.js";
import type { RawEnginePort, TopologyPort, TxnEnginePort } from "./ports.js";
import { RequestLog } from "./request-log.js";
import { listenStatusServer, type StatusServer } from "./status-server.js";
import { type RegionKeyEncoding, regionKeyForms, STORE_COMMANDS } from "./store-commands.js";
import { StoreMetrics } from "./store-metrics.js";

/** Options of `MockTikvStore`. */
export interface MockTikvStoreOptions {
  storeId: number | bigint;
  topology: TopologyPort;
  txn: TxnEnginePort;
  raw: RawEnginePort;
  /** Shared fault registry (default: a private one). */
  faults?: FaultRegistry;
  /** The cluster's storage API version (default V1). */
  apiVersion?: APIVersion;
  /** Cluster id; requests with another non-zero context.cluster_id are refused (default 0 = no check). */
  clusterId?: bigint;
  /**
   * Regions whose max_ts is not synced: async-commit / 1PC prewrites there fail with
   * MaxTimestampNotSynced. Shared by the cluster's stores (default: a private empty set).
   */
  maxTsNotSynced?: Set<bigint>;
  /**
   * Form of region boundaries inside region errors (EpochNotMatch, KeyNotInRegion): as TiKV
   * stores them, "memcomparable" for txn / API V2, "raw" for API V1 raw (default "raw": the
   * topology's user keys unchanged). Use the same encoding as PD.
   */
  regionKeyEncoding?: RegionKeyEncoding;
  /** Disk usage by store, shared by the cluster (default: every disk normal). */
  diskUsage?: (storeId: bigint) => DiskUsage;
  /** The lock manager's wait-for table, for GetLockWaitInfo (default: none). */
  lockWaitInfo?: () => WaitForEntry[];
  /**
   * raftstore's raft-entry-max-size in bytes (default 8 MiB): writes whose estimated raft
   * entry is larger get RaftEntryTooLarge.
   */
  raftEntryMaxSize?: number;
  /** Log of served requests, shared by the cluster's stores (default: a private one). */
  requestLog?: RequestLog;
  /** Listen host (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 0 = chosen by the OS, then kept across restarts). */
  port?: number;
  /** TLS of the gRPC server (default plaintext). */
  security?: ServerSecurity;
  /**
   * Port of the status server (TiKV server.status-addr: /status, /config, /metrics,
   * /region/{id}); default 0 = chosen by the OS, then kept across restarts.
   */
  statusPort?: number;
}

/** Thrown when the store is used in the wrong lifecycle state. */
export class StoreStateError extends Error {
  readonly code = "StoreState";
  constructor(message: string) {
    super(message);
    this.name = "StoreStateError";
  }
}

/** gRPC method names (TikvService keys) served by the generic pipeline. */
const UNARY: Record<string, CommandSpec> = {
  kvGet: COMMANDS.KvGet,
  kvBatchGet: COMMANDS.KvBatchGet,
  kvScan: COMMANDS.KvScan,
  kvBufferBatchGet: COMMANDS.KvBufferBatchGet,
  kvPrewrite: COMMANDS.KvPrewrite,
  kvCommit: COMMANDS.KvCommit,
  kvBatchRollback: COMMANDS.KvBatchRollback,
  kvPessimisticLock: COMMANDS.KvPessimisticLock,
  kvPessimisticRollback: COMMANDS.KVPessimisticRollback,
  kvTxnHeartBeat: COMMANDS.KvTxnHeartBeat,
  kvCheckTxnStatus: COMMANDS.KvCheckTxnStatus,
  kvCleanup: COMMANDS.KvCleanup,
  kvCheckSecondaryLocks: COMMANDS.KvCheckSecondaryLocks,
  kvResolveLock: COMMANDS.KvResolveLock,
  kvScanLock: COMMANDS.KvScanLock,
  kvFlush: COMMANDS.KvFlush,
  broadcastTxnStatus: COMMANDS.BroadcastTxnStatus,
  kvDeleteRange: COMMANDS.KvDeleteRange,
  mvccGetByKey: COMMANDS.MvccGetByKey,
  mvccGetByStartTs: COMMANDS.MvccGetByStartTs,
  rawGet: COMMANDS.RawGet,
  rawBatchGet: COMMANDS.RawBatchGet,
  rawPut: COMMANDS.RawPut,
  rawBatchPut: COMMANDS.RawBatchPut,
  rawDelete: COMMANDS.RawDelete,
  rawBatchDelete: COMMANDS.RawBatchDelete,
  rawDeleteRange: COMMANDS.RawDeleteRange,
  rawScan: COMMANDS.RawScan,
  rawBatchScan: COMMANDS.RawBatchScan,
  rawGetKeyTtl: COMMANDS.RawGetKeyTTL,
  rawCompareAndSwap: COMMANDS.RawCompareAndSwap,
  rawChecksum: COMMANDS.RawChecksum,
  splitRegion: STORE_COMMANDS.SplitRegion,
  unsafeDestroyRange: STORE_COMMANDS.UnsafeDestroyRange,
  getStoreSafeTs: STORE_COMMANDS.GetStoreSafeTS,
  getHealthFeedback: STORE_COMMANDS.GetHealthFeedback,
  getLockWaitInfo: STORE_COMMANDS.GetLockWaitInfo,
};

function toServiceError(e: unknown): Partial<grpc.ServiceError> {
  if (e instanceof GrpcStatusError) return { code: e.code, details: e.details, message: e.details };
  const msg = (e as Error)?.message ?? String(e);
  return { code: grpc.status.INTERNAL, details: msg, message: msg };
}

/** A mock TiKV store serving the kvproto Tikv service over gRPC. */
export class MockTikvStore {
  /** This store's id. */
  readonly storeId: bigint;
  /** The fault registry consulted before every request. */
  readonly faults: FaultRegistry;
  /** Health feedback source (set `slowScore` to simulate a slow store). */
  readonly health: HealthSource;
  /**
   * Estimated read-pool queue wait in ms: reads whose context.busy_threshold_ms is lower get
   * ServerIsBusy "estimated wait time exceeds threshold" (load-based replica read). Default 0.
   */
  estimatedWaitMs = 0;
  /** Request counters served at the status server's /metrics. */
  readonly metrics = new StoreMetrics();
  private readonly host: string;
  private statusPort: number;
  private status: StatusServer | undefined;
  private readonly security: ServerSecurity;
  private port: number;
  private server: grpc.Server | undefined;
  private readonly sessions = new Set<BatchCommandsSession>();
  private readonly env: PipelineEnv;
  // forwarding (TiKV server/proxy.rs) and the client-link cut (see setClientsBlocked)
  private readonly proxy: ForwardingProxy;
  private clientsCut = false;
  private readonly clientSessions = new Set<BatchCommandsSession>();
  private readonly forwardedStreams = new Set<ForwardedStream>();
  private readonly peerEnvs = new Map<bigint, PipelineEnv>();

  constructor(opts: MockTikvStoreOptions) {
    this.storeId = BigInt(opts.storeId);
    this.faults = opts.faults ?? new FaultRegistry();
    this.host = opts.host ?? "127.0.0.1";
    this.port = opts.port ?? 0;
    this.statusPort = opts.statusPort ?? 0;
    this.security = opts.security ?? ServerSecurity.insecure;
    this.health = new HealthSource(this.storeId);
    const security = this.security;
    this.proxy = new ForwardingProxy(this.storeId, () => security.peerCredentials());
    const health = this.health;
    this.env = {
      txn: opts.txn,
      raw: opts.raw,
      topology: opts.topology,
      storeId: this.storeId,
      apiVersion: opts.apiVersion ?? APIVersion.V1,
      clusterId: opts.clusterId ?? 0n,
      faults: this.faults,
      maxTsNotSynced: opts.maxTsNotSynced ?? new Set(),
      healthFeedback: (): HealthFeedback => health.next(),
      lockWaitInfo: opts.lockWaitInfo ?? (() => []),
      regionKeys: regionKeyForms(opts.regionKeyEncoding ?? "raw", opts.apiVersion ?? APIVersion.V1),
      diskUsage: opts.diskUsage ?? (() => "normal"),
      estimatedWaitMs: () => this.estimatedWaitMs,
      raftEntryMaxSize: opts.raftEntryMaxSize ?? DEFAULT_RAFT_ENTRY_MAX_SIZE,
      requestLog: opts.requestLog ?? new RequestLog(),
      metrics: this.metrics,
    };
  }

  /** "host:port" clients dial (valid once started; the port stays fixed across restarts). */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /**
   * "host:port" of the status server (HTTP, https under cluster TLS), as the store reports it
   * to PD (metapb.Store.status_address); valid once started, fixed across restarts.
   */
  get statusAddress(): string {
    return `${this.host}:${this.statusPort}`;
  }

  /** True while the gRPC server is listening. */
  get running(): boolean {
    return this.server !== undefined;
  }

  /** True while the link from clients is cut (see {@link setClientsBlocked}). */
  get clientsBlocked(): boolean {
    return this.clientsCut;
  }

  /**
   * Cuts (true) or restores (false) the link between clients and this store while peer stores
   * still reach it: every call that does not come from a peer store's forwarding proxy is
   * refused with UNAVAILABLE (unary calls and new BatchCommands streams), and open client
   * streams, also those this store forwards for a client, end with UNAVAILABLE. Raft, PD
   * heartbeats and leadership are untouched, so the store keeps leading its regions.
   * Calls forwarded by a peer store are served as usual.
   */
  setClientsBlocked(blocked: boolean): void {
    this.clientsCut = blocked;
    if (!blocked) return;
    const why = clientLinkCutError(this.storeId).details;
    for (const s of [...this.clientSessions]) s.cut(why);
    for (const f of [...this.forwardedStreams]) f.cut(why);
  }

  // the pipeline environment of requests a peer store forwarded (the request log names it)
  private envFor(peer: bigint | undefined): PipelineEnv {
    if (peer === undefined) return this.env;
    let e = this.peerEnvs.get(peer);
    if (!e) {
      e = { ...this.env, forwardedBy: peer };
      this.peerEnvs.set(peer, e);
    }
    return e;
  }

  /** Starts listening (on the same port as before when restarted). */
  async start(): Promise<void> {
    if (this.server) throw new StoreStateError(`store ${this.storeId} is already running`);
    const server = new grpc.Server({
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
      interceptors: this.security.interceptors,
    });
    server.addService(TikvService, this.implementation());
    // TiKV serves the standard gRPC health service too (clients probe unreachable stores with it)
    new HealthImplementation({ "": "SERVING" }).addToServer(server);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${this.host}:${this.port}`, this.security.credentials(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    this.port = port;
    try {
      this.status = await listenStatusServer(this.statusSource(), this.host, this.statusPort);
    } catch (e) {
      server.forceShutdown();
      throw e;
    }
    this.statusPort = Number(this.status.endpoint.slice(this.status.endpoint.lastIndexOf(":") + 1));
    this.server = server;
  }

  private statusSource() {
    return {
      storeId: this.storeId,
      apiVersion: this.env.apiVersion,
      address: () => this.address,
      statusAddress: () => this.statusAddress,
      raftEntryMaxSize: this.env.raftEntryMaxSize,
      topology: this.env.topology,
      metrics: this.metrics,
      security: this.security,
    };
  }

  /** Stops the server: open streams and calls are cut, new connections are refused. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of [...this.sessions]) s.close();
    for (const f of [...this.forwardedStreams]) f.cut(`store ${this.storeId} stopped`);
    this.proxy.close();
    server.forceShutdown();
    const status = this.status;
    this.status = undefined;
    await status?.close();
  }

  private implementation(): grpc.UntypedServiceImplementation {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [method, spec] of Object.entries(UNARY)) {
      impl[method] = (
        call: grpc.ServerUnaryCall<unknown, unknown>,
        callback: grpc.sendUnaryData<unknown>,
      ) => {
        const peer = peerStoreOf(call.metadata);
        if (peer === undefined && this.clientsCut) return callback(clientLinkCutError(this.storeId), null);
        // forward_unary!: a call naming another store goes there
        const target = forwardedHostOf(call.metadata);
        if (target !== "")
          return this.proxy.forwardUnary(method, call.request, call.getDeadline(), target, callback);
        this.serveUnary(spec, call.request, callback, this.envFor(peer));
      };
    }
    impl.batchCommands = ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
      const peer = peerStoreOf(call.metadata);
      if (peer === undefined && this.clientsCut) {
        const e = clientLinkCutError(this.storeId);
        setImmediate(() => call.emit("error", Object.assign(new Error(e.details), e)));
        return;
      }
      // forward_duplex!: the whole stream is bridged to the named store
      const target = forwardedHostOf(call.metadata);
      if (target !== "") {
        this.forwardedStreams.add(
          this.proxy.forwardBatchCommands(call, target, (f) => this.forwardedStreams.delete(f)),
        );
        return;
      }
      const session = new BatchCommandsSession(call as never, this.envFor(peer), this.health, (s) => {
        this.sessions.delete(s);
        this.clientSessions.delete(s);
      });
      this.sessions.add(session);
      if (peer === undefined) this.clientSessions.add(session);
    }) as grpc.handleBidiStreamingCall<unknown, unknown>;
    const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback({ code: grpc.status.UNIMPLEMENTED, details: "not served by the mock TiKV" }, null);
    for (const method of Object.keys(TikvService)) {
      if (!(method in impl)) impl[method] = unimplemented;
    }
    return impl;
  }

  private serveUnary(
    spec: CommandSpec,
    req: unknown,
    callback: grpc.sendUnaryData<unknown>,
    env: PipelineEnv = this.env,
  ): void {
    const done = (r: unknown) => {
      if (r !== HANG) callback(null, r);
    };
    const failed = (e: unknown) => callback(toServiceError(e), null);
    try {
      const r = runCommand(env, spec, req);
      if (isThenable(r)) r.then(done, failed);
      else done(r);
    } catch (e) {
      failed(e);
    }
  }
}
