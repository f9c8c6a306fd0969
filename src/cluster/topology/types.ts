// Public shapes of the topology model. Keys are USER keys (the bytes a transactional client
// sends); `storedRegion` has the boundaries in TiKV's stored form, which PD answers with and
// raw keys are compared against (see stored-keys.ts). Under the "raw" key encoding both agree.
import type { Peer, Region } from "../../proto/metapb.js";

/** Role of a peer in its region's raft group. */
export type PeerRoleName = "voter" | "learner";

/** One replica of a region. */
export interface PeerInfo {
  readonly id: bigint;
  readonly storeId: bigint;
  readonly role: PeerRoleName;
}

/** Region epoch: confVer bumps on membership changes, version on split/merge (as in TiKV). */
export interface Epoch {
  readonly confVer: bigint;
  readonly version: bigint;
}

/** A peer reported down. */
export interface DownPeer {
  readonly peerId: bigint;
  /** ms timestamp since which the peer is down. */
  readonly sinceMs: number;
}

/**
 * A region's buckets (metapb.Buckets without stats): `keys` are the bucket boundaries in user
 * keys, starting with the region's start key and ending with its end key (empty = +inf), as
 * TiKV's split checker produces them; `version` grows on every change.
 */
export interface RegionBuckets {
  readonly version: bigint;
  readonly keys: readonly Buffer[];
}

/** An immutable snapshot of one region. */
export interface RegionInfo {
  readonly id: bigint;
  readonly startKey: Buffer;
  /** Empty = unbounded. */
  readonly endKey: Buffer;
  readonly epoch: Epoch;
  readonly peers: readonly PeerInfo[];
  /** Leader peer id; undefined while the region has no leader. */
  readonly leaderPeerId: bigint | undefined;
  /** Down peers with the ms timestamp since which each is down (plain data: survives JSON). */
  readonly downPeers: readonly DownPeer[];
  /** Ids of peers still catching up (pending). */
  readonly pendingPeers: readonly bigint[];
  /** Resolved ts: stale reads at or below it may be served. */
  readonly safeTs: bigint;
  /** The same region as a metapb.Region (user keys); shared, do not mutate. */
  readonly region: Region;
  /** The region with its boundaries in stored form (as PD and TiKV keep them); shared, do not mutate. */
  readonly storedRegion: Region;
  /** The leader as a metapb.Peer. */
  readonly leader: Peer | undefined;
  /** The region's buckets; undefined until set, and again after a split or merge (TiKV resets them). */
  readonly buckets?: RegionBuckets | undefined;
}

/** Lifecycle state of a store (metapb.StoreState). */
export type StoreStateName = "up" | "offline" | "tombstone";

/** A store label (zone, host, engine...). */
export interface StoreLabelInfo {
  readonly key: string;
  readonly value: string;
}

/** An immutable snapshot of one store. */
export interface StoreInfo {
  readonly id: bigint;
  /** host:port the store serves on ("" until its server starts). */
  readonly address: string;
  /** host:port of its status server (HTTP: /status, /config, /metrics); "" when it has none. */
  readonly statusAddress: string;
  readonly labels: readonly StoreLabelInfo[];
  readonly state: StoreStateName;
  /** Whether the store's process is running (servers check it before answering). */
  readonly running: boolean;
  /** Seconds since epoch at which the store (re)started. */
  readonly startTimestamp: bigint;
}

/** What changed in the topology; emitted on `topology.changes` as "change". */
export type TopologyChange =
  | { kind: "split"; parentId: bigint; regionIds: bigint[] }
  | { kind: "merge"; sourceId: bigint; targetId: bigint }
  | { kind: "leader"; regionId: bigint; leaderPeerId: bigint | undefined }
  | { kind: "conf"; regionId: bigint; peerId: bigint; change: "add" | "remove" | "promote" }
  | { kind: "peerStatus"; regionId: bigint; peerId: bigint; down: boolean; pending: boolean }
  | { kind: "safeTs"; regionId: bigint; safeTs: bigint }
  | { kind: "buckets"; regionId: bigint; version: bigint }
  | { kind: "storeAdded"; storeId: bigint }
  | { kind: "storeRunning"; storeId: bigint; running: boolean }
  | { kind: "storeLabels"; storeId: bigint }
  | { kind: "storeState"; storeId: bigint; state: StoreStateName }
  | { kind: "storeAddress"; storeId: bigint; address: string };

/** Event map of the `changes` emitter. */
export interface TopologyEvents {
  change: [TopologyChange];
}
