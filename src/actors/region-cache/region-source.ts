// The PD side of the region cache, as an injected interface. The PD actor (src/actors/pd)
// implements it; tests use an in-memory fake. Region boundaries arrive decoded (user keys).

import type { Buckets, Peer, Region, Store } from "../../proto/metapb.js";

/** One region as PD reports it (pdpb.GetRegionResponse, with boundaries already decoded). */
export interface RegionInfo {
  /** Region meta: id, user-key range, epoch, peers. */
  meta: Region;
  /** The leader peer, when PD knows it. */
  leader?: Peer;
  /** Peers PD reports as down (the cache skips them). */
  downPeers?: Peer[];
  /** Peers PD reports as pending. */
  pendingPeers?: Peer[];
  /** The region's buckets (keys decoded like the boundaries), when PD sent them. */
  buckets?: Buckets | undefined;
}

/** What the region cache needs from PD. Every method may reject (PD unreachable): the cache backs off with BoPDRPC. */
export interface RegionSource {
  /** The region containing `key` (undefined when PD has none). */
  getRegion(key: Buffer): Promise<RegionInfo | undefined>;
  /** The region just before the one containing `key` (used to locate a range end key). */
  getPrevRegion(key: Buffer): Promise<RegionInfo | undefined>;
  /** The region with this id. */
  getRegionById(id: bigint): Promise<RegionInfo | undefined>;
  /** Up to `limit` regions overlapping `[start, end)` in key order (`end` empty = +inf). */
  scanRegions(start: Buffer, end: Buffer, limit: number): Promise<RegionInfo[]>;
  /** A store's meta; undefined or state Tombstone when it is gone. */
  getStore(id: bigint): Promise<Store | undefined>;
}
