// Region and store lookups in PD's terms: keys arrive and leave in PD's stored form (see
// region-codec.ts) and answers carry leader, down and pending peers the way
// pd pkg/utils/grpcutil/cluster.go builds them (buckets only when asked for).
import {
  Buckets,
  type Region as MetaRegion,
  NodeState,
  Peer,
  Store,
  StoreState,
} from "../../proto/metapb.js";
import { Region as PdRegion, PeerStats } from "../../proto/pdpb.js";
import type { RegionInfo, StoreInfo } from "../topology/types.js";
import type { PdState } from "./pd-state.js";

/** A region's metapb form with boundaries in PD's form (as stored). */
export function encodeRegionMeta(state: PdState, r: RegionInfo): MetaRegion {
  const s = r.storedRegion;
  if (state.wire.encoding === "raw") return s;
  return { ...s, startKey: state.wire.encode(s.startKey), endKey: state.wire.encode(s.endKey) };
}

/** Down peers with their down time in seconds. */
export function downPeerStats(state: PdState, r: RegionInfo): PeerStats[] {
  const now = state.now();
  const out: PeerStats[] = [];
  for (const d of r.downPeers) {
    const peer = r.region.peers.find((p) => p.id === d.peerId);
    const downSeconds = BigInt(Math.max(0, Math.floor((now - d.sinceMs) / 1000)));
    if (peer) out.push(PeerStats.fromPartial({ peer, downSeconds }));
  }
  return out;
}

/** Pending peers. */
export function pendingPeers(r: RegionInfo): Peer[] {
  return r.region.peers.filter((p) => r.pendingPeers.includes(p.id));
}

/**
 * The region's buckets in PD's key form, when `need` (the request's need_buckets, cleared for
 * follower-handled reads as server/grpc_service.go does) and the region has any.
 */
export function regionBuckets(state: PdState, r: RegionInfo, need: boolean): Buckets | undefined {
  if (!need || !r.buckets) return undefined;
  return Buckets.fromPartial({
    regionId: r.id,
    version: r.buckets.version,
    keys: r.buckets.keys.map((k) => state.codec.encode(k)),
  });
}

/** pdpb.Region for scan answers: an absent leader is an empty Peer, as PD sends it. */
export function pdRegion(state: PdState, r: RegionInfo, needBuckets = false): PdRegion {
  return PdRegion.fromPartial({
    region: encodeRegionMeta(state, r),
    leader: r.leader ?? Peer.fromPartial({}),
    downPeers: downPeerStats(state, r),
    pendingPeers: pendingPeers(r),
    buckets: regionBuckets(state, r, needBuckets),
  });
}

/**
 * The region containing a key given in PD's form: PD compares whatever key the client sends
 * with the stored boundaries byte for byte (a raw key and an encoded txn key alike).
 */
export function locateEncoded(state: PdState, key: Buffer): RegionInfo | undefined {
  const stored = state.wire.decode(key);
  const view = state.regionView();
  if (stored) return view.locateStoredKey(stored);
  // Not a clean encoding: compare in encoded space, as PD compares raw bytes.
  for (const r of view.regions()) {
    const end = state.wire.encode(r.storedRegion.endKey);
    if (
      Buffer.compare(state.wire.encode(r.storedRegion.startKey), key) <= 0 &&
      (end.length === 0 || Buffer.compare(key, end) < 0)
    ) {
      return r;
    }
  }
  return undefined;
}

/**
 * Regions intersecting [start, end) in PD's form, at most `limit` (<= 0: no limit); follows
 * pd pkg/core/region.go ScanRegions.
 */
export function scanEncoded(state: PdState, start: Buffer, end: Buffer, limit: number): RegionInfo[] {
  const first = locateEncoded(state, start);
  if (!first) return [];
  const out: RegionInfo[] = [];
  for (const r of state.regionView().scanStoredRegions(first.storedRegion.startKey)) {
    if (end.length > 0 && Buffer.compare(state.wire.encode(r.storedRegion.startKey), end) >= 0) break;
    if (limit > 0 && out.length >= limit) break;
    out.push(r);
  }
  return out;
}

const STORE_STATE = {
  up: StoreState.Up,
  offline: StoreState.Offline,
  tombstone: StoreState.Tombstone,
} as const;
const NODE_STATE = {
  up: NodeState.Serving,
  offline: NodeState.Removing,
  tombstone: NodeState.Removed,
} as const;

/** metapb.Store as PD reports it. */
export function storeMeta(state: PdState, s: StoreInfo): Store {
  return Store.fromPartial({
    id: s.id,
    address: s.address,
    state: STORE_STATE[s.state],
    nodeState: NODE_STATE[s.state],
    labels: s.labels.map((l) => ({ key: l.key, value: l.value })),
    version: state.storeVersion,
    peerAddress: s.address,
    statusAddress: s.statusAddress,
    startTimestamp: s.startTimestamp,
    // Running stores heartbeat continuously; a stopped one stops at its last start.
    lastHeartbeat: s.running ? BigInt(state.now()) * 1_000_000n : s.startTimestamp * 1_000_000_000n,
  });
}
