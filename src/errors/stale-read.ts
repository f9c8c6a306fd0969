// A write or lock in a stale-read transaction: such a transaction reads a past snapshot that
// replicas may serve, so it must stay read-only (TiDB refuses DML in a stale-read transaction;
// client-go marks the snapshot with SetIsStalenessReadOnly).

import type { TikvErrorOptions } from "./base.js";
import { InvalidTxnError } from "./txn.js";

/**
 * A write (set, delete), a lock or a locking read in a stale-read transaction (code
 * INVALID_TXN); the refused call changed nothing. `operation` names it.
 *
 * @example
 * ```ts
 * const txn = await txns.begin({ staleRead: { secondsAgo: 5 } });
 * txn.set("k", "v"); // throws StaleReadOnlyError (operation "set")
 * ```
 */
export class StaleReadOnlyError extends InvalidTxnError {
  constructor(
    /** The refused operation ("set", "delete", "lockKeys"...). */
    readonly operation: string,
    options?: TikvErrorOptions,
  ) {
    super(`${operation} is not allowed in a stale-read (read-only) transaction`, options);
  }
}
