// Region and key-codec shapes the PD actor returns / accepts.

import type { Buckets, Peer, Region } from "../../proto/metapb.js";
import type { PeerStats } from "../../proto/pdpb.js";

/** A region as PD reports it (client-go pd.Region). */
export interface PdRegion {
  /** Region metadata (id, boundaries, epoch, peers); boundaries already decoded by the codec. */
  meta: Region;
  /** The leader peer PD knows of, if any. */
  leader: Peer | undefined;
  /** Peers PD considers down. */
  downPeers: PeerStats[];
  /** Peers still catching up. */
  pendingPeers: Peer[];
  /** Buckets, when asked for. */
  buckets: Buckets | undefined;
}

/**
 * Maps user keys to PD's key space and PD's region boundaries back (client-go CodecPDClient):
 * memcomparable encoding for txn mode, keyspace prefixes for API v2. Identity by default.
 */
export interface RegionKeyCodec {
  /** Encodes a lookup key / range start. */
  encodeKey(key: Buffer): Buffer;
  /** Encodes a range end; an empty end (= +inf) must stay meaningful. */
  encodeEndKey(key: Buffer): Buffer;
  /** Decodes a region's boundaries; undefined when the region lies outside this client's key space. */
  decodeRegion(region: Region): Region | undefined;
  /** Decodes bucket keys like the boundaries (client-go DecodeBucketKeys); identity when absent. */
  decodeBucketKeys?(keys: readonly Buffer[]): Buffer[];
}

/** The identity codec (API v1 raw: PD stores plain keys). */
export const IDENTITY_REGION_CODEC: RegionKeyCodec = {
  encodeKey: (k) => k,
  encodeEndKey: (k) => k,
  decodeRegion: (r) => r,
};
