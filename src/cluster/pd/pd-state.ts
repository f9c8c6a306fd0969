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
import { TimestampOracle } from "./tso.js";

/** An operator PD reports through GetOperator. */
export interface PdOperator {
  desc: string;
  kind: string;
  /** pdpb.OperatorStatus. */
  status: number;
}

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
  readonly globalConfig = new Map<string, { value: string; payload: Buffer }>();
  readonly storeVersion: string;
  readonly maxPeerCount: number;
  readonly now: () => number;
  /** Members in index order; filled when their servers listen. */
  members: Member[] = [];
  /** Index of the leading member, or undefined while there is no leader. */
  leaderIndex: number | undefined = 0;
  externalTs = 0n;
  private frozen: FrozenRegionView | undefined;

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

  /** Whether member `index` currently leads. */
  isLeader(index: number): boolean {
    return this.leaderIndex === index;
  }

  /** The leading member, if any. */
  leader(): Member | undefined {
    return this.leaderIndex === undefined ? undefined : this.members[this.leaderIndex];
  }
}
