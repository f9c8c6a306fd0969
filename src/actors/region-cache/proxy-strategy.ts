// Forwarding through a follower (client-go EnableForwarding): when a leader request finds the
// leader's store unreachable, a reachable follower receives the request with the
// tikv-forwarded-host metadata and its TiKV proxies it to the leader. This module holds the proxy
// choice of client-go's ReplicaSelectLeaderWithProxyStrategy (internal/locate/replica_selector.go)
// and the per-region memory of the proxy that last worked (client-go regionStore.proxyTiKVIdx).

import type { CachedRegion } from "./cached-region.js";
import type { StoreCache } from "./store-cache.js";

/** The parts of a replica the proxy choice reads. */
export interface ProxyCandidate {
  readonly storeId: bigint;
  readonly attempts: number;
}

/** What a leader request should do next when forwarding is enabled. */
export type ProxyChoice =
  /** The leader's store is reachable (or the leader is known wrong): send directly. */
  | { kind: "direct" }
  /** Send to the leader through the replica at `proxyIdx`. */
  | { kind: "proxy"; proxyIdx: number }
  /** Every follower was tried as a proxy: the leader's store is to be invalidated. */
  | { kind: "exhausted" };

// The proxy that last forwarded successfully is kept with the region entry (a region reloaded
// from PD starts without one): CachedRegion.proxyIdx, stored in the region store's slot.

/** The index of the replica that last forwarded for `region`, or -1 (client-go proxyTiKVIdx). */
export function proxyIndex(region: CachedRegion): number {
  return region.proxyIdx;
}

/** Remembers the replica that forwarded successfully (client-go setProxyStoreIdx). */
export function rememberProxy(region: CachedRegion, idx: number): void {
  region.proxyIdx = idx;
}

/** Forgets the region's proxy: its leader is reachable again (client-go unsetProxyStoreIfNeeded). */
export function forgetProxy(region: CachedRegion): void {
  region.proxyIdx = -1;
}

/**
 * client-go ReplicaSelectLeaderWithProxyStrategy.next: direct while the leader's store is
 * reachable or the leader already answered NotLeader; else the remembered proxy if it is still a
 * candidate; else the first candidate follower in peer order; else exhausted.
 */
export function chooseProxy(
  region: CachedRegion,
  replicas: readonly ProxyCandidate[],
  leaderIdx: number,
  leaderNotLeader: boolean,
  stores: StoreCache,
  isEpochStale: (idx: number) => boolean,
): ProxyChoice {
  const leader = replicas[leaderIdx];
  if (!leader || stores.liveness(leader.storeId) === "reachable" || leaderNotLeader) {
    forgetProxy(region);
    return { kind: "direct" };
  }
  // client-go isCandidate: a follower not tried yet in this request, reachable, epoch current
  const candidate = (i: number) => {
    const r = replicas[i];
    return (
      r !== undefined &&
      i !== leaderIdx &&
      r.attempts < 1 &&
      stores.liveness(r.storeId) === "reachable" &&
      !isEpochStale(i)
    );
  };
  const remembered = proxyIndex(region);
  if (remembered >= 0 && candidate(remembered)) return { kind: "proxy", proxyIdx: remembered };
  for (let i = 0; i < replicas.length; i++) if (candidate(i)) return { kind: "proxy", proxyIdx: i };
  return { kind: "exhausted" };
}
