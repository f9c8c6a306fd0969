// The set of store actors of one client, keyed by store id.

import { StoreActor, type StoreActorOptions } from "./store-actor.js";

/** Options shared by every store actor of a pool. */
export type StorePoolOptions = Omit<StoreActorOptions, "storeId" | "address">;

/** Lazily creates one {@link StoreActor} per store; replaces it when the store's address changes. */
export class StorePool {
  private readonly stores = new Map<number, StoreActor>();
  private closed = false;

  constructor(private readonly opts: StorePoolOptions = {}) {}

  /** The actor of `storeId` at `address`, created on first use. */
  get(storeId: number, address: string): StoreActor {
    let s = this.stores.get(storeId);
    if (s && s.address === address) return s;
    if (this.closed) throw new Error("store pool closed");
    s?.stop();
    s = new StoreActor({ ...this.opts, storeId, address });
    this.stores.set(storeId, s);
    return s;
  }

  /** The actor of `storeId` if one exists. */
  peek(storeId: number): StoreActor | undefined {
    return this.stores.get(storeId);
  }

  /** Stops and forgets the actor of `storeId` (e.g. the store became a tombstone). */
  remove(storeId: number): void {
    this.stores.get(storeId)?.stop();
    this.stores.delete(storeId);
  }

  /** All live store actors. */
  all(): StoreActor[] {
    return [...this.stores.values()];
  }

  /** Stops every store actor. */
  close(): void {
    this.closed = true;
    for (const s of this.stores.values()) s.stop();
    this.stores.clear();
  }
}
