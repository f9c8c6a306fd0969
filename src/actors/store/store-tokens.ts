// Per-store cap on in-flight requests (client-go kv.StoreLimit with RegionRequestSender's
// getStoreToken / releaseStoreToken): each attempt to a store takes a token before it is handed
// to the transport and gives it back when answered, whatever the answer. With every token taken
// the attempt is refused at once with TokenLimitError and never sent; client-go's sender returns
// that error to its caller without retrying, and so does ours.

import { TokenLimitError } from "../../errors/server.js";
import { notSent } from "../../rpc/errors.js";

/** The token counters of one client's stores (plain Map; no actor, no timer). */
export class StoreTokens {
  private readonly inUse = new Map<bigint, number>();

  /** `limit` = tokens per store; 0 = unlimited (client-go's default store-limit). */
  constructor(readonly limit: number) {}

  /**
   * Takes a token of `storeId`: undefined when one was taken (or there is no limit), otherwise
   * the TokenLimitError to fail the attempt with (marked not sent: the store never saw it).
   */
  acquire(storeId: bigint): TokenLimitError | undefined {
    if (this.limit <= 0) return undefined;
    const n = this.inUse.get(storeId) ?? 0;
    if (n >= this.limit) return notSent(new TokenLimitError(storeId, this.limit));
    this.inUse.set(storeId, n + 1);
    return undefined;
  }

  /** Gives back a token taken by {@link acquire}. */
  release(storeId: bigint): void {
    if (this.limit <= 0) return;
    const n = this.inUse.get(storeId) ?? 0;
    if (n <= 1) this.inUse.delete(storeId);
    else this.inUse.set(storeId, n - 1);
  }

  /** Tokens of `storeId` currently held by requests in flight. */
  inFlight(storeId: bigint): number {
    return this.inUse.get(storeId) ?? 0;
  }

  /** Tokens held over every store (0 when no request is in flight: nothing leaked). */
  get total(): number {
    let t = 0;
    for (const n of this.inUse.values()) t += n;
    return t;
  }
}
