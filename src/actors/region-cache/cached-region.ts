// One region entry of the cache: a plain object (no actor), cheap to look up.
// Follows client-go internal/locate/region_cache.go (Region, regionStore, InvalidReason, TTL).

import { compareKeysShort, type Latin1Key, toLatin1Key } from "../../kv/key.js";
import type { Buckets, Peer, Region } from "../../proto/metapb.js";

/** Why a cached region was invalidated (client-go InvalidReason). */
export type InvalidReason =
  | "ok"
  | "noLeader"
  | "regionNotFound"
  | "epochNotMatch"
  | "storeNotFound"
  | "other";

/** A region version: id + epoch (client-go RegionVerID). */
export interface RegionVerId {
  id: bigint;
  confVer: bigint;
  version: bigint;
}

/** A cached region. Peers are the usable ones (tombstone / down stores and non-leader witnesses removed). */
export class CachedRegion {
  /** Region id. */
  readonly id: bigint;
  /** The meta PD returned (peers include the filtered ones). */
  readonly meta: Region;
  /** Start key (user key, inclusive). */
  readonly startKey: Buffer;
  /** End key (user key, exclusive; empty = +inf). */
  readonly endKey: Buffer;
  /** Start key in latin1 form for the index. */
  readonly startL1: Latin1Key;
  /** End key in latin1 form ("" = +inf). */
  readonly endL1: Latin1Key;
  /** Epoch conf version. */
  readonly confVer: bigint;
  /** Epoch version. */
  readonly version: bigint;
  /** Usable peers in access order. */
  readonly peers: Peer[];
  /** Store epoch seen when this entry was built, per peer (a store failure bumps its epoch). */
  readonly storeEpochs: number[];
  /** Index in `peers` of the peer believed to be leader (client-go workTiKVIdx). */
  leaderIdx: number;
  /** Peers PD reported as down. */
  readonly downPeers: Peer[];
  /** Expiry time (ms, injected clock); refreshed on access. */
  ttlAt: number;
  /** Why it was invalidated; "ok" while valid. */
  invalidReason: InvalidReason = "ok";
  /** Reload from PD on next access, keep using it if PD fails (client-go needReloadOnAccess). */
  needReload = false;
  /** Do not extend the TTL on access (client-go needExpireAfterTTL, set when peers are down). */
  readonly expireAfterTtl: boolean;
  /**
   * The region's buckets (user keys), when known: loaded with the region from PD, inherited
   * across reloads and epoch changes, replaced by BucketVersionNotMatch. May be stale and reach
   * outside the region (client-go regionStore.buckets); see locateBucket in buckets.ts.
   */
  buckets: Buckets | undefined;

  constructor(
    meta: Region,
    peers: Peer[],
    storeEpochs: number[],
    leaderIdx: number,
    downPeers: Peer[],
    ttlAt: number,
    buckets?: Buckets,
  ) {
    this.id = meta.id;
    this.meta = meta;
    this.startKey = meta.startKey;
    this.endKey = meta.endKey;
    this.startL1 = toLatin1Key(meta.startKey);
    this.endL1 = toLatin1Key(meta.endKey);
    this.confVer = meta.regionEpoch?.confVer ?? 0n;
    this.version = meta.regionEpoch?.version ?? 0n;
    this.peers = peers;
    this.storeEpochs = storeEpochs;
    this.leaderIdx = leaderIdx;
    this.downPeers = downPeers;
    this.ttlAt = ttlAt;
    this.expireAfterTtl = downPeers.length > 0;
    this.buckets = buckets;
  }

  /** The buckets' version, 0 when the region has none (client-go KeyLocation.GetBucketVersion). */
  get bucketVersion(): bigint {
    return this.buckets?.version ?? 0n;
  }

  /** The region's version id. */
  get verId(): RegionVerId {
    return { id: this.id, confVer: this.confVer, version: this.version };
  }

  /** The peer believed to be leader. */
  get leader(): Peer {
    return this.peers[this.leaderIdx] as Peer;
  }

  /** True until invalidated. */
  get isValid(): boolean {
    return this.invalidReason === "ok";
  }

  /** True when the latin1 key lies in the region. */
  containsL1(key: Latin1Key): boolean {
    return this.startL1 <= key && (this.endL1 === "" || key < this.endL1);
  }

  /** True when `key` lies in the region (compared as bytes: no latin1 string per call). */
  contains(key: Uint8Array): boolean {
    return (
      compareKeysShort(this.startKey, key) <= 0 &&
      (this.endKey.length === 0 || compareKeysShort(key, this.endKey) < 0)
    );
  }

  /** True when `key` is within (start, end] — the region an exclusive end key belongs to. */
  containsEndKeyL1(key: Latin1Key): boolean {
    return this.startL1 < key && (this.endL1 === "" || key <= this.endL1);
  }

  /** Index of the peer on `storeId`, or -1. */
  peerIndexOnStore(storeId: bigint): number {
    return this.peers.findIndex((p) => p.storeId === storeId);
  }

  /** Index of `peer` (same id and store), or -1. */
  peerIndex(peer: Peer): number {
    return this.peers.findIndex((p) => p.id === peer.id && p.storeId === peer.storeId);
  }

  /** Makes `peer` the leader; false when the peer is not in this region (client-go switchWorkLeaderToPeer). */
  switchLeaderToPeer(peer: Peer): boolean {
    const i = this.peerIndex(peer);
    if (i < 0) return false;
    this.leaderIdx = i;
    return true;
  }

  /** Marks the region invalid (the first reason wins, like client-go's CAS). */
  invalidate(reason: Exclude<InvalidReason, "ok">): void {
    if (this.invalidReason === "ok") {
      this.invalidReason = reason;
      this.ttlAt = Number.NEGATIVE_INFINITY;
    }
  }

  /** True when both describe the same region version. */
  sameVersion(v: RegionVerId): boolean {
    return this.id === v.id && this.confVer === v.confVer && this.version === v.version;
  }
}

/** "id:confVer:version", for logs and maps. */
export function verIdString(v: RegionVerId): string {
  return `${v.id}:${v.confVer}:${v.version}`;
}
