// The transport as the request sender sees it: one call per attempt to a store. The store
// actors of src/actors/store implement it (adapted by the client wiring); tests use fakes.

import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";

/** Where an attempt goes. */
export interface StoreAddress {
  storeId: bigint;
  address: string;
  /**
   * Set when the store at `address` is only a proxy (client-go EnableForwarding): the call goes
   * there with the tikv-forwarded-host metadata naming this address, the leader's.
   */
  forwardedHost?: string | undefined;
}

/** Per-attempt options. */
export interface StoreSendOptions {
  /** Attempt timeout in ms (fails with a TimeoutError, code "TIMEOUT"). */
  timeoutMs?: number;
  /** Cancels the attempt (fails with an AbortedError, code "ABORTED"). */
  signal?: AbortSignal;
}

/**
 * Sends one TiKV command to one store. Resolves with the response (which may carry a
 * region_error); rejects on transport failure with a typed error (code "TIMEOUT", "ABORTED",
 * "CLOSED", "GRPC"...).
 */
export interface StoreSender {
  send<C extends TikvCommand>(
    store: StoreAddress,
    cmd: C,
    req: TikvRequest<C>,
    opts: StoreSendOptions,
  ): Promise<TikvResponse<C>>;
  /**
   * Optional callback form of {@link send} (same outcome; `reply` is called exactly once), which
   * lets the request sender's fast path settle one promise instead of chaining two.
   */
  sendWithCallback?<C extends TikvCommand>(
    store: StoreAddress,
    cmd: C,
    req: TikvRequest<C>,
    opts: StoreSendOptions,
    reply: (err: Error | null, resp?: TikvResponse<C>) => void,
  ): void;
}
