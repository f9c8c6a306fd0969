// Resource control failures (PD client errs: ErrClientResourceGroupThrottled, and the
// controller's "resource group does not exist"): a request refused before it was sent because its
// resource group has no tokens within the wait allowed, or because PD has no such group.

import { TikvError, type TikvErrorOptions } from "./base.js";

/**
 * A request's resource group could not give it the RU it needs within the maximum wait
 * (client-go / PD client ErrClientResourceGroupThrottled). The request was not sent. As in
 * client-go, it is not a retryable transaction error: the caller decides when to try again.
 */
export class ResourceGroupThrottledError extends TikvError {
  constructor(
    /** The group that ran out of tokens. */
    readonly resourceGroup: string,
    /** How long the request would have had to wait for its tokens, ms. */
    readonly estimatedWaitMs: number,
    /** The local bucket's fill rate (RU/s) and remaining tokens when it refused. */
    readonly fillRate: number,
    readonly remainingTokens: number,
    options?: TikvErrorOptions,
  ) {
    super(
      "RESOURCE_GROUP_THROTTLED",
      `exceeded resource group quota limitation, estimated wait time ${Math.round(estimatedWaitMs)}ms, ` +
        `ltb state is ${fillRate.toFixed(2)}:${remainingTokens.toFixed(2)} (resource group ${resourceGroup})`,
      options,
    );
  }
}

/** PD has no resource group of this name (PD ErrGroupNotExists). The request was not sent. */
export class ResourceGroupNotFoundError extends TikvError {
  constructor(
    /** The name asked for. */
    readonly resourceGroup: string,
    options?: TikvErrorOptions,
  ) {
    super("RESOURCE_GROUP_NOT_FOUND", `the ${resourceGroup} resource group does not exist`, options);
  }
}
