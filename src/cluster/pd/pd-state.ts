// State shared by every member of the mock PD: one cluster id, one leader, one TSO, one GC
// state, one keyspace registry and the topology (PD members replicate through etcd; here
// they simply share the objects).
import type { Member } from "../../proto/pdpb.js";
import type { ClusterTopology } from "../topology/cluster-topology.js";
import { PdFaults } from "./faults.js";
import { GcStateManager } from "./gc-state.js";
import { KeyspaceRegistry } from "./keyspaces.js";
import { RegionKeyCodec, type RegionKeyEncoding } from "./region-codec.js";
import { FrozenRegionView, type RegionView } from "./region-view.js";
import { type PdOperator, RegionScatterer } from "./scatterer.js";
import { TimestampOracle } from "./tso.js";

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
}

/** Everything the PD members share. */
export class PdState {
  readonly topology: ClusterTopology;
  readonly clusterId: bigint;
  readonly codec: RegionKeyCodec;
  readonly tso: TimestampOracle;
  readonly keyspaces: KeyspaceRegistry;
  readonly gc: GcStateManager;
  readonly faults = new PdFaults();
  readonly operators = new Map<bigint, PdOperator>();
  /** Runs scatter operators (moves peers and leaders through the topology). */
  readonly scatterer: RegionScatterer;
  readonly globalConfig = new Map<string, { value: string; payload: Buffer }>();
  readonly storeVersion: string;
  readonly maxPeerCount: number;
  readonly now: () => number;
  /** Members in index order; filled when their servers listen. */
  members: Member[] = [];
  /** Index of the leading member, or undefined while there is no leader. */
  leaderIndex: number | undefined = 0;
  externalTs = 0n;
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
    // PD derives its cluster id from time; any stable non-zero value works.
    this.clusterId = opts.clusterId ?? BigInt(this.now()) * 1000n + 7n;
    if (this.clusterId === 0n) throw new RangeError("cluster id must not be 0");
    this.codec = new RegionKeyCodec(opts.regionKeyEncoding ?? "memcomparable");
    this.tso = new TimestampOracle(this.now);
    this.keyspaces = new KeyspaceRegistry(this.now);
    this.gc = new GcStateManager((id) => this.keyspaces.gcInfo(id), this.now);
    this.storeVersion = opts.storeVersion ?? "8.5.0";
    this.maxPeerCount = opts.maxPeerCount ?? 3;
    this.scatterer = new RegionScatterer(this.topology, this.operators, opts.scatterStepMs);
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
