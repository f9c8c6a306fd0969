// The set of store actors of one client, keyed by store id.

import { StoreActor, type StoreActorOptions } from "./store-actor.js";
import { StoreTokens } from "./store-tokens.js";

/** Options shared by every store actor of a pool. */
export type StorePoolOptions = Omit<StoreActorOptions, "storeId" | "address" | "onHealthFeedback"> & {
  /** Requests in flight per store at most (client-go StoreLimit); 0 = unlimited (default). */
  storeLimit?: number;
};

/** Told each TiKV health feedback (store id, slow score 1..100) received on any store's stream. */
export type HealthFeedbackListener = (storeId: bigint, slowScore: number) => void;

/** Lazily creates one {@link StoreActor} per store; replaces it when the store's address changes. */
export class StorePool {
  private readonly stores = new Map<number, StoreActor>();
  // actors whose calls a store forwards to another (client-go EnableForwarding), by proxy store id
  private readonly forwarded = new Map<number, Map<string, StoreActor>>();
  private closed = false;
  private readonly feedbackListeners = new Set<HealthFeedbackListener>();
  /** The per-store request tokens of this client (shared by every sender over this pool). */
  readonly tokens: StoreTokens;

  constructor(private readonly opts: StorePoolOptions = {}) {
    this.tokens = new StoreTokens(opts.storeLimit ?? 0);
  }

  /** Subscribes to health feedback of every store (client-go recordHealthFeedback); returns the unsubscribe function. */
  onHealthFeedback(listener: HealthFeedbackListener): () => void {
    this.feedbackListeners.add(listener);
    return () => this.feedbackListeners.delete(listener);
  }

  private readonly forwardFeedback = (storeId: number, slowScore: number): void => {
    for (const l of this.feedbackListeners) {
      try {
        l(BigInt(storeId), slowScore);
      } catch {
        // a listener must not break the stream
      }
    }
  };

  /** The actor of `storeId` at `address`, created on first use. */
  get(storeId: number, address: string): StoreActor {
    let s = this.stores.get(storeId);
    if (s && s.address === address) return s;
    if (this.closed) throw new Error("store pool closed");
    s?.stop();
    s = new StoreActor({ ...this.opts, storeId, address, onHealthFeedback: this.forwardFeedback });
    this.stores.set(storeId, s);
    return s;
  }

  /**
   * The actor sending through store `storeId` at `address` to the store at `forwardedHost`
   * (every call carries the tikv-forwarded-host metadata); created on first use. client-go
   * opens one more BatchCommands stream per forwarded host on the proxy's connection; here it
   * is one more channel to the proxy (grpc-js shares the TCP connection between them).
   */
  getForwarded(storeId: number, address: string, forwardedHost: string): StoreActor {
    let byHost = this.forwarded.get(storeId);
    let s = byHost?.get(forwardedHost);
    if (s && s.address === address) return s;
    if (this.closed) throw new Error("store pool closed");
    s?.stop();
    // (no health feedback listener: what comes back on a forwarded stream is the target's)
    s = new StoreActor({
      ...this.opts,
      storeId,
      address,
      forwardedHost,
      onHealthFeedback: this.forwardFeedback,
    });
    if (!byHost) {
      byHost = new Map();
      this.forwarded.set(storeId, byHost);
    }
    byHost.set(forwardedHost, s);
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
    for (const s of this.forwarded.get(storeId)?.values() ?? []) s.stop();
    this.forwarded.delete(storeId);
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
    for (const byHost of this.forwarded.values()) for (const s of byHost.values()) s.stop();
    this.forwarded.clear();
  }
}
