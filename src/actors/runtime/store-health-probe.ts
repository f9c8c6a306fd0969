// The liveness probe of the background store health check: the gRPC health service of the store
// (client-go requestLiveness → invokeKVStatusAPI, grpc.health.v1 Check), asked over the store
// actor's channel, and then our own BatchCommands stream to it: a store counts as reachable again
// once it says SERVING and its stream is up, so the next request does not meet a reconnecting
// actor. While our stream to the store is up it is reachable without asking (client-go asks the
// health service every time). NOT_SERVING or no answer is unreachable; UNKNOWN / SERVICE_UNKNOWN is unknown (as client-go).

import { GetHealthFeedbackRequest } from "../../proto/kvrpcpb.js";
import { checkHealth } from "../../rpc/health-check.js";
import type { Liveness, StoreEntry } from "../region-cache/store-cache.js";
import type { RequestHealthFeedback } from "../region-cache/tikv-slow-score.js";
import type { StorePool } from "../store/store-pool.js";
import { storeProbe } from "./routed-sender.js";

/** A health probe for the store cache's background loop (see the file comment). */
export function storeHealthProbe(stores: StorePool, timeoutMs = 2_000): (s: StoreEntry) => Promise<Liveness> {
  const streamUp = storeProbe(stores, timeoutMs);
  return async (s) => {
    if (s.address === "") return "unreachable";
    // may create the store's actor: not inside the caller's machine action (see storeProbe)
    await Promise.resolve();
    const actor = stores.get(Number(s.id), s.address);
    // our stream to it is up (the failure was one request's: a deadline, a status): reachable at
    // once, as before this loop existed; the retry path may spin on microtasks until it knows
    if (actor.state === "ready") return "reachable";
    const health = await checkHealth(
      actor.connection.client.getChannel(),
      actor.connection.address,
      timeoutMs,
    );
    if (health === "unknown") return "unknown";
    if (health !== "serving") return "unreachable";
    return streamUp(s);
  };
}

/**
 * Asks a store for its health feedback with GetHealthFeedback (client-go's active update of a
 * TiKV slow score not refreshed for a while, requestHealthFeedbackCallback).
 */
export function healthFeedbackRequester(stores: StorePool, timeoutMs = 2_000): RequestHealthFeedback {
  return async (s) => {
    const resp = await stores
      .get(Number(s.id), s.address)
      .send("GetHealthFeedback", GetHealthFeedbackRequest.fromPartial({}), { timeoutMs });
    return resp.healthFeedback;
  };
}
