// Adapters from the transport's store actors (src/actors/store) to what the routing layer
// needs: a StoreSender, a store health probe, and the StoreNotMatch connection reset.

import type { Liveness, StoreEntry } from "../region-cache/store-cache.js";
import type { StoreActor } from "../store/store-actor.js";
import type { StorePool } from "../store/store-pool.js";
import type { StoreAddress, StoreSender } from "./store-sender.js";

/** The pool's actor for `store`: its own, or the one forwarding through it when `forwardedHost` is set. */
export function poolActor(pool: StorePool, store: StoreAddress): StoreActor {
  const id = Number(store.storeId);
  return store.forwardedHost
    ? pool.getForwarded(id, store.address, store.forwardedHost)
    : pool.get(id, store.address);
}

/** A {@link StoreSender} over a StorePool (one store actor per store id). */
export function storeSenderFromPool(pool: StorePool): StoreSender {
  return {
    send: (store, cmd, req, opts) => poolActor(pool, store).send(cmd, req, opts),
  };
}

/**
 * A health probe for the region cache's StoreCache: waits up to `timeoutMs` for the store's
 * actor to be connected (client-go's liveness check after a send failure).
 */
export function probeFromPool(pool: StorePool, timeoutMs = 2_000): (store: StoreEntry) => Promise<Liveness> {
  return async (store) => {
    if (store.address === "") return "unreachable";
    // started from inside the retry machine's decision: get (maybe create) the store's actor
    // outside that action (see storeProbe in src/actors/runtime/routed-sender.ts)
    await Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<Liveness>((resolve) => {
      timer = setTimeout(() => resolve("unreachable"), timeoutMs);
    });
    try {
      const ready = pool
        .get(Number(store.id), store.address)
        .whenReady()
        .then(
          (): Liveness => "reachable",
          (): Liveness => "unreachable",
        );
      return await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The StoreNotMatch hook: drops the store's connection so the next request reconnects. */
export function resetStoreInPool(pool: StorePool): (storeId: bigint) => void {
  return (storeId) => pool.remove(Number(storeId));
}
