// State shared by every member of the mock PD: one cluster id, one leader, one TSO, one GC
// state, one keyspace registry and the topology (PD members replicate through etcd; here
// they simply share the objects).
import type { KeyspaceMeta } from "../../proto/keyspacepb.js";
import type { Member } from "../../proto/pdpb.js";
import type { ClusterTopology } from "../topology/cluster-topology.js";
import { EtcdFace, GcMirror } from "./etcd/index.js";
import { PdFaults } from "./faults.js";
import { GcStateManager } from "./gc-state.js";
import { KeyspaceRegistry, type KeyspaceSpec, splitKeyspaceRegions } from "./keyspaces.js";
import { RegionKeyCodec, type RegionKeyEncoding } from "./region-codec.js";
import { FrozenRegionView, type RegionView } from "./region-view.js";
import { type PdOperator, RegionScatterer } from "./scatterer.js";
import { TimestampOracle } from "./tso.js";
import type { TsoServers } from "./tso-service/tso-servers.js";

export type { PdOperator };

/** math.MaxUint64: PD's "no value" for a store's min resolved ts. */
export const MAX_U64 = (1n << 64n) - 1n;

/** Options of the shared PD state. */
export interface PdStateOptions {
  topology: ClusterTopology;
  clusterId?: bigint;
  regionKeyEncoding?: RegionKeyEncoding;
  /** Version reported for every store (TiKV's version string). */
  storeVersion?: string;
  /** max_peer_count of GetClusterConfig (PD's replication.max-replicas, default 3). */
  maxPeerCount?: number;
  now?: () => number;
  /** Time each step of a scatter operator takes, in ms (default 50). */
  scatterStepMs?: number;
  /**
   * Bootstrap the keyspace manager as PD does for an API V2 cluster: split the regions at the
   * default keyspace's raw and txn bounds (keyspace Manager.Bootstrap). Default false.
   */
  bootstrapKeyspaces?: boolean;
}

/** Everything the PD members share. */
export class PdState {
  readonly topology: ClusterTopology;
  readonly clusterId: bigint;
  /** User keys (e.g. bucket keys) -> PD's wire form. */
  readonly codec: RegionKeyCodec;
  /**
   * Stored boundaries -> PD's wire form. PD answers boundaries as they are stored; only a
   * "memcomparable" PD over a topology that keeps keys as sent (a MockPd started alone on a
   * plain ClusterTopology) encodes them on the way out.
   */
  readonly wire: RegionKeyCodec;
  readonly tso: TimestampOracle;
  readonly keyspaces: KeyspaceRegistry;
  readonly gc: GcStateManager;
  /** The embedded etcd every member serves (etcdserverpb.KV, Watch, Lease, ...). */
  readonly etcd: EtcdFace;
  readonly faults = new PdFaults();
  readonly operators = new Map<bigint, PdOperator>();
  /** Runs scatter operators (moves peers and leaders through the topology). */
  readonly scatterer: RegionScatterer;
  readonly globalConfig = new Map<string, { value: string; payload: Buffer }>();
  readonly storeVersion: string;
  readonly maxPeerCount: number;
  readonly now: () => number;
  /** When PD started (ms; HTTP /status and /cluster/status report it). */
  readonly startedAtMs: number;
  /** Members in index order; filled when their servers listen. */
  members: Member[] = [];
  /** Index of the leading member, or undefined while there is no leader. */
  leaderIndex: number | undefined = 0;
  externalTs = 0n;
  /** The TSO servers when PD runs in API (microservice) mode; undefined in PD mode. */
  tsoServers: TsoServers | undefined = undefined;
  /**
   * PD's pd-server.min-resolved-ts-persistence-interval in ms (default 1 000); 0 turns the
   * feature off, and the HTTP answer then says is_real_time false.
   */
  minResolvedTsPersistenceMs = 1_000;
  private frozen: FrozenRegionView | undefined;
  private lastMinResolvedTs = 0n;

  constructor(opts: PdStateOptions) {
    this.topology = opts.topology;
    this.now = opts.now ?? Date.now;
    this.startedAtMs = this.now();
    // PD derives its cluster id from time; any stable non-zero value works.
    this.clusterId = opts.clusterId ?? BigInt(this.now()) * 1000n + 7n;
    if (this.clusterId === 0n) throw new RangeError("cluster id must not be 0");
    this.codec = new RegionKeyCodec(opts.regionKeyEncoding ?? "memcomparable");
    const translate = this.codec.encoding === "memcomparable" && this.topology.keyEncoding === "raw";
    this.wire = translate ? this.codec : new RegionKeyCodec("raw");
    this.tso = new TimestampOracle(this.now);
    this.keyspaces = new KeyspaceRegistry(this.now);
    this.gc = new GcStateManager((id) => this.keyspaces.gcInfo(id), this.now);
    this.etcd = new EtcdFace({
      membership: { members: () => this.members, leaderIndex: () => this.leaderIndex },
      pdClusterId: this.clusterId,
      now: this.now,
    });
    new GcMirror(this.etcd, this.gc, this.clusterId).sync();
    this.storeVersion = opts.storeVersion ?? "8.5.0";
    this.maxPeerCount = opts.maxPeerCount ?? 3;
    this.scatterer = new RegionScatterer(this.topology, this.operators, opts.scatterStepMs);
    if (opts.bootstrapKeyspaces) {
      for (const id of this.keyspaces.ids()) splitKeyspaceRegions(this.topology, id);
    }
  }

  /**
   * Registers a keyspace and, as PD's CreateKeyspace does, splits the regions at its raw and
   * txn bounds (unless `splitRegions` is false).
   */
  createKeyspace(spec: KeyspaceSpec, opts: { splitRegions?: boolean } = {}): KeyspaceMeta {
    const meta = this.keyspaces.add(spec);
    const id = meta.keyspace?.$case === "id" ? meta.keyspace.id : 0;
    if (opts.splitRegions ?? true) splitKeyspaceRegions(this.topology, id);
    // API mode: PD records the keyspace's TSO group in its config
    this.tsoServers?.groups.groupOf(id);
    return meta;
  }

  /** What region lookups answer from: the live topology, or the frozen snapshot. */
  regionView(): RegionView {
    return this.frozen ?? this.topology;
  }

  /** Freezes PD's view of the regions at the current topology (PD lagging behind TiKV). */
  freezeRegions(): void {
    this.frozen = new FrozenRegionView(this.topology.regions());
  }

  /** Returns to answering from the live topology. */
  unfreezeRegions(): void {
    this.frozen = undefined;
  }

  /**
   * PD's min resolved ts: the min over stores of each store's min resolved ts (the smallest
   * safe ts of the regions it holds), counting only non-tombstone stores holding a region, as
   * pd server/cluster CheckAndUpdateMinResolvedTS does with the values stores report; it
   * never goes back. 0 until any store has a region. The stores' reports are read from the
   * topology at call time (TiKV reports them every second).
   */
  minResolvedTs(): bigint {
    const perStore = this.storesResolvedTs();
    let min: bigint | undefined;
    for (const s of this.topology.stores()) {
      const ts = perStore.get(s.id);
      if (s.state === "tombstone" || ts === undefined) continue;
      if (min === undefined || ts < min) min = ts;
    }
    if (min !== undefined && min > this.lastMinResolvedTs) this.lastMinResolvedTs = min;
    return this.lastMinResolvedTs;
  }

  /**
   * One store's min resolved ts as PD answers it per store (pd RaftCluster
   * GetStoreMinResolvedTS): the smallest safe ts of the regions it holds, or 2^64-1 when the
   * store is unknown, a tombstone or leads no region (core.IsAvailableForMinResolvedTS).
   */
  storeMinResolvedTs(storeId: bigint): bigint {
    const store = this.topology.store(storeId);
    if (!store || store.state === "tombstone") return MAX_U64;
    if (!this.topology.regions().some((r) => r.leader?.storeId === storeId)) return MAX_U64;
    return this.storesResolvedTs().get(storeId) ?? MAX_U64;
  }

  // each store's report: the min safe ts over the regions it holds a peer of
  private storesResolvedTs(): Map<bigint, bigint> {
    const perStore = new Map<bigint, bigint>();
    for (const r of this.topology.regions()) {
      for (const p of r.peers) {
        const cur = perStore.get(p.storeId);
        if (cur === undefined || r.safeTs < cur) perStore.set(p.storeId, r.safeTs);
      }
    }
    return perStore;
  }

  /** Whether member `index` currently leads. */
  isLeader(index: number): boolean {
    return this.leaderIndex === index;
  }

  /** The leading member, if any. */
  leader(): Member | undefined {
    return this.leaderIndex === undefined ? undefined : this.members[this.leaderIndex];
  }
}
