// The mock PD: N members (one gRPC server each, on loopback) sharing one state, one of them
// leading. Clients discover members with GetMembers and must follow leader changes: the other
// members refuse leader-only requests with PD's not-leader errors.
import { Server } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { type KeyspaceMeta, KeyspaceService } from "../../proto/keyspacepb.js";
import { Member, PDService } from "../../proto/pdpb.js";
import { ResourceManagerService } from "../../proto/resource_manager.js";
import { ServerSecurity } from "../tls/server-security.js";
import type { ClusterTopology } from "../topology/cluster-topology.js";
import { addEtcdServices } from "./etcd/index.js";
import type { PdFaults } from "./faults.js";
import { pdHttpListener } from "./http-api.js";
import { createKeyspaceService } from "./keyspace-service.js";
import type { KeyspaceSpec } from "./keyspaces.js";
import { createPdService } from "./pd-service.js";
import { PdState } from "./pd-state.js";
import type { RegionKeyEncoding } from "./region-codec.js";
import { createResourceManagerService } from "./resource-manager/service.js";
import { listenSharedPort, type SharedPort } from "./shared-port.js";
import { TsoKeyspaceGroups, type TsoMicroserviceOptions } from "./tso-service/keyspace-groups.js";
import { TsoServers } from "./tso-service/tso-servers.js";

/** Options of {@link MockPd.start}. */
export interface MockPdOptions {
  topology: ClusterTopology;
  /** Number of PD members (default 1). */
  members?: number;
  clusterId?: bigint;
  /** Loopback host to bind (default 127.0.0.1). */
  host?: string;
  /** Port of the first member; member i listens on port + i. Default 0: any free port. */
  port?: number;
  /** Region boundary form on the wire (default "memcomparable": txn / API v2). */
  regionKeyEncoding?: RegionKeyEncoding;
  /** Split the regions at the default keyspace's bounds on start, as PD bootstraps API V2 (default false). */
  bootstrapKeyspaces?: boolean;
  /** Version reported for the stores. */
  storeVersion?: string;
  /** max_peer_count answered by GetClusterConfig (default 3). */
  maxPeerCount?: number;
  /** Clock in ms (TSO physical time, TTLs). */
  now?: () => number;
  /** TLS of every member (default plaintext); members then announce https:// URLs. */
  security?: ServerSecurity;
  /**
   * Time each step of a scatter operator takes in ms (default 50): a scattered region's
   * operator stays RUNNING while it adds a peer, removes one and/or moves the leader.
   */
  scatterStepMs?: number;
  /**
   * Run PD in API (microservice) mode: GetClusterInfo answers API_SVC_MODE with the TSO
   * servers' URLs, and keyspaces get timestamps from their TSO keyspace group (plaintext only).
   */
  tsoMicroservice?: TsoMicroserviceOptions;
}

interface MemberServer {
  server: Server;
  health: HealthImplementation;
  endpoint: string;
  /** The member's port: gRPC and PD's HTTP API on one socket, as PD's cmux. */
  port: SharedPort;
  stopped: boolean;
}

/** A running mock PD cluster. */
export class MockPd {
  private constructor(
    /** Shared state: TSO, GC, keyspaces, operators, topology. */
    readonly state: PdState,
    private readonly servers: MemberServer[],
    private readonly security: ServerSecurity,
  ) {}

  /** Starts every member on port 0 of `host` and returns once all listen. */
  static async start(opts: MockPdOptions): Promise<MockPd> {
    const n = opts.members ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`members must be a positive integer, got ${n}`);
    const state = new PdState({
      topology: opts.topology,
      clusterId: opts.clusterId,
      regionKeyEncoding: opts.regionKeyEncoding,
      storeVersion: opts.storeVersion,
      maxPeerCount: opts.maxPeerCount,
      now: opts.now,
      scatterStepMs: opts.scatterStepMs,
      bootstrapKeyspaces: opts.bootstrapKeyspaces,
    });
    const host = opts.host ?? "127.0.0.1";
    const basePort = opts.port ?? 0;
    if (!Number.isInteger(basePort) || basePort < 0 || basePort + n - 1 > 65535) {
      throw new RangeError(`port must be an integer in [0, ${65536 - n}], got ${basePort}`);
    }
    const servers: MemberServer[] = [];
    const security = opts.security ?? ServerSecurity.insecure;
    try {
      for (let i = 0; i < n; i++) {
        const m = await listenMember(state, i, security, `${host}:${basePort === 0 ? 0 : basePort + i}`);
        servers.push(m);
        state.members.push(
          Member.fromPartial({
            name: `pd-${i + 1}`,
            memberId: state.clusterId + BigInt(i + 1),
            clientUrls: [`${security.scheme}://${m.endpoint}`],
            peerUrls: [`${security.scheme}://${m.endpoint}`],
          }),
        );
      }
    } catch (e) {
      for (const s of servers) void s.port.close(0);
      throw e;
    }
    if (opts.tsoMicroservice) {
      try {
        if (security.scheme === "https") throw new RangeError("tsoMicroservice does not support TLS");
        const t = opts.tsoMicroservice;
        const groups = new TsoKeyspaceGroups(
          t.servers ?? 2,
          state.keyspaces,
          state.tso,
          t.keyspaceGroups,
          opts.now,
        );
        state.tsoServers = await TsoServers.start(groups, state.clusterId, host);
      } catch (e) {
        for (const s of servers) void s.port.close(0);
        throw e;
      }
    }
    return new MockPd(state, servers, security);
  }

  /** The TSO servers of API (microservice) mode, or undefined in PD mode. */
  get tsoServers(): TsoServers | undefined {
    return this.state.tsoServers;
  }

  /** host:port of every member, in member order. */
  get endpoints(): string[] {
    return this.servers.map((s) => s.endpoint);
  }

  /**
   * host:port of every member's HTTP API, in member order (for clients' pdHttpEndpoints): the
   * same as {@link endpoints}, since each member serves gRPC and HTTP/1.1 on one port as PD
   * does (`/pd/api/v1/...`, `/pd/api/v2/keyspaces`; see http-api.ts).
   */
  get httpEndpoints(): string[] {
    return this.endpoints;
  }

  /**
   * Sets PD's min-resolved-ts persistence interval in ms (pd-server config
   * min-resolved-ts-persistence-interval, default 1 000): 0 turns the feature off, and the HTTP
   * answer no longer says is_real_time (clients then ask the stores).
   */
  setMinResolvedTsPersistenceInterval(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0)
      throw new RangeError(`interval must be a non-negative integer, got ${ms}`);
    this.state.minResolvedTsPersistenceMs = ms;
  }

  /** The cluster id every response carries. */
  get clusterId(): bigint {
    return this.state.clusterId;
  }

  /** Fault injection: unavailability, not-leader answers, delays, counters, request hook. */
  get faults(): PdFaults {
    return this.state.faults;
  }

  /** The topology PD answers from. */
  get topology(): ClusterTopology {
    return this.state.topology;
  }

  /** Index of the leading member (undefined while leaderless). */
  get leaderIndex(): number | undefined {
    return this.state.leaderIndex;
  }

  /** Makes member `index` the leader; the others start refusing leader-only requests. */
  transferLeader(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.servers.length) {
      throw new RangeError(`no PD member ${index} (have ${this.servers.length})`);
    }
    this.state.leaderIndex = index;
  }

  /** Leaves PD without a leader (as during an election): every member answers not-leader. */
  clearLeader(): void {
    this.state.leaderIndex = undefined;
  }

  /**
   * Freezes PD's region view: lookups keep answering the regions as they are now, even after
   * splits, merges or leader changes, until {@link unfreezeRegions} (PD lagging behind TiKV).
   */
  freezeRegions(): void {
    this.state.freezeRegions();
  }

  /** Makes region lookups follow the live topology again. */
  unfreezeRegions(): void {
    this.state.unfreezeRegions();
  }

  /**
   * The cluster's min resolved ts as PD keeps it (real PD: from store heartbeats, served at
   * HTTP /pd/api/v1/min-resolved-ts; pdpb has no gRPC for it): the smallest per-store min of
   * region safe ts, never decreasing.
   */
  minResolvedTs(): bigint {
    return this.state.minResolvedTs();
  }

  /** One store's min resolved ts as the HTTP API answers it (2^64-1: unknown, tombstone or leading nothing). */
  storeMinResolvedTs(storeId: bigint): bigint {
    return this.state.storeMinResolvedTs(storeId);
  }

  /** Queues timestamps the next TSO batches answer with (each as the batch's last ts). */
  scriptTso(timestamps: readonly bigint[]): void {
    this.state.tso.script(timestamps);
  }

  /** Makes a member (or all) unavailable: its calls fail with UNAVAILABLE and health says NOT_SERVING. */
  setUnavailable(on: boolean, member?: number): void {
    this.state.faults.setUnavailable(on, member);
    this.servers.forEach((s, i) => {
      s.health.setStatus("", this.state.faults.isUnavailable(i) ? "NOT_SERVING" : "SERVING");
    });
  }

  /**
   * Registers a keyspace and, like PD when it creates one, splits the regions at its raw and
   * txn boundaries (unless `splitRegions` is false).
   */
  createKeyspace(spec: KeyspaceSpec, opts: { splitRegions?: boolean } = {}): KeyspaceMeta {
    return this.state.createKeyspace(spec, opts);
  }

  /**
   * Shuts member `index` down: connections to it are refused (unlike {@link setUnavailable},
   * which answers UNAVAILABLE) until {@link startMember}. It stays in the member list.
   */
  async stopMember(index: number): Promise<void> {
    const m = this.member(index);
    if (m.stopped) return;
    m.stopped = true;
    await m.port.close();
  }

  /** Restarts a stopped member on the same address. */
  async startMember(index: number): Promise<void> {
    const m = this.member(index);
    if (!m.stopped) return;
    const fresh = await listenMember(this.state, index, this.security, m.endpoint);
    this.servers[index] = fresh;
    fresh.health.setStatus("", this.state.faults.isUnavailable(index) ? "NOT_SERVING" : "SERVING");
  }

  private member(index: number): MemberServer {
    const m = this.servers[index];
    if (!m) throw new RangeError(`no PD member ${index} (have ${this.servers.length})`);
    return m;
  }

  /** Stops every member. */
  async stop(): Promise<void> {
    this.state.scatterer.stop();
    this.state.etcd.stop();
    await this.state.tsoServers?.close();
    await Promise.all(this.servers.filter((s) => !s.stopped).map((s) => s.port.close()));
    for (const s of this.servers) s.stopped = true;
  }
}

/** Builds one member's gRPC server (PD, Keyspace, health) and serves it with the HTTP API on `address`. */
async function listenMember(
  state: PdState,
  index: number,
  security: ServerSecurity,
  address: string,
): Promise<MemberServer> {
  const server = new Server({ interceptors: security.interceptors });
  server.addService(PDService, createPdService(state, index));
  server.addService(KeyspaceService, createKeyspaceService(state, index));
  addEtcdServices(server, state.etcd, index);
  server.addService(ResourceManagerService, createResourceManagerService(state, index));
  const health = new HealthImplementation({ "": "SERVING" });
  health.addToServer(server);
  const sep = address.lastIndexOf(":");
  const port = await listenSharedPort({
    host: address.slice(0, sep),
    port: Number(address.slice(sep + 1)),
    security,
    grpc: server,
    http: pdHttpListener(state, index),
  });
  return { server, health, endpoint: port.endpoint, port, stopped: false };
}
