// Helpers of the stale / replica read suites: the roles of a region's peers as the embedded
// cluster's topology has them, and a recording of which stores served the reads of a block.

import type { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import type { RegionInfo } from "../../../src/cluster/topology/types.js";
import type { ServedRequest } from "../../../src/testing.js";

/** The read RPCs a snapshot sends. */
export const READ_RPCS = ["KvGet", "KvBatchGet", "KvScan"] as const;

/** A region's stores by role. */
export interface Roles {
  region: RegionInfo;
  leader: bigint;
  /** Non-leader voters. */
  followers: bigint[];
  learners: bigint[];
}

/** The roles of the peers of the region holding `key`. */
export function rolesOf(cluster: EmbeddedCluster, key: string): Roles {
  const region = cluster.topology.locateKey(Buffer.from(key));
  if (!region) throw new Error(`no region holds ${key}`);
  const leaderPeer = region.peers.find((p) => p.id === region.leaderPeerId);
  if (!leaderPeer) throw new Error(`region ${region.id} has no leader`);
  return {
    region,
    leader: leaderPeer.storeId,
    followers: region.peers.filter((p) => p.role === "voter" && p !== leaderPeer).map((p) => p.storeId),
    learners: region.peers.filter((p) => p.role === "learner").map((p) => p.storeId),
  };
}

/** Runs `fn` while recording the read requests the stores serve; returns what was recorded. */
export async function served(
  cluster: EmbeddedCluster,
  fn: () => Promise<unknown>,
  rpcs: readonly string[] = READ_RPCS,
): Promise<ServedRequest[]> {
  const rec = cluster.recordRequests({ rpcs });
  try {
    await fn();
  } finally {
    rec.stop();
  }
  return [...rec.entries];
}

/** The distinct store ids of `entries`, sorted. */
export function storesOf(entries: readonly ServedRequest[]): bigint[] {
  return [...new Set(entries.map((e) => e.storeId))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The zone label of a store (the embedded cluster is started with zone=z<storeId>). */
export function zoneOf(cluster: EmbeddedCluster, storeId: bigint): string {
  const z = cluster.topology.store(storeId)?.labels.find((l) => l.key === "zone")?.value;
  if (z === undefined) throw new Error(`store ${storeId} has no zone label`);
  return z;
}

/** Sorted copy of store ids. */
export function sorted(ids: readonly bigint[]): bigint[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Why request-log assertions are skipped on a real cluster. */
export const REAL_CLUSTER_SKIP = "[embedded cluster only: request log]";
