// The per-attempt routing context a request is built from; its own module so the sender and
// the interceptor runner can both name it without importing each other.
import type { Context } from "../../proto/kvrpcpb.js";
import type { Peer } from "../../proto/metapb.js";
import type { CachedRegion } from "../region-cache/cached-region.js";

/** Everything a request builder needs to fill kvrpcpb.Context and route the request. */
export interface RpcContext {
  /** The kvrpcpb.Context to put in the request (region id, epoch, peer, replica/stale read flags). */
  context: Context;
  /** The region the attempt goes to. */
  region: CachedRegion;
  /** The target peer. */
  peer: Peer;
  /** The store id and address the call goes to (the proxy's while forwarding). */
  storeId: bigint;
  address: string;
  /** While forwarding through a follower (client-go EnableForwarding): the leader's address. */
  forwardedHost?: string;
  /** 0 for the first attempt. */
  attempt: number;
}
