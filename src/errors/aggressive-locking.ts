// Misuses of aggressive (fair) locking that the client refuses (client-go panics in
// Start/Retry/Cancel/DoneAggressiveLocking, or returns plain errors from LockKeys / Commit /
// Rollback); the refused call changes nothing.

import type { TikvErrorOptions } from "./base.js";
import { InvalidTxnError } from "./txn.js";

/** Why an aggressive-locking call was refused (see {@link AggressiveLockingError}). */
export type AggressiveLockingMisuse =
  /** startAggressiveLocking while it is already on. */
  | "alreadyStarted"
  /** retryAggressiveLocking / cancelAggressiveLocking / doneAggressiveLocking while it is off. */
  | "notStarted"
  /** startAggressiveLocking in an optimistic transaction. */
  | "optimistic"
  /** commit / rollback while keys locked in the current attempt are pending (done or cancel first). */
  | "pending"
  /** A shared lock while aggressive locking is on. */
  | "sharedLock"
  /** retry / cancel / done while a lock call of the transaction is still running. */
  | "lockInFlight"
  /** A lock at a for_update_ts below a conflict the previous attempt already saw. */
  | "staleForUpdateTs";

/**
 * A misuse of aggressive (fair) locking (code INVALID_TXN); nothing was changed by the refused
 * call. Its `reason` says which rule was broken.
 *
 * @example
 * ```ts
 * const txn = await txns.begin({ pessimistic: true });
 * txn.startAggressiveLocking();
 * await txn.lockKeys(["k"]);
 * await txn.commit(); // rejects: AggressiveLockingError "pending" (call doneAggressiveLocking first)
 * ```
 */
export class AggressiveLockingError extends InvalidTxnError {
  constructor(
    /** The broken rule. */
    readonly reason: AggressiveLockingMisuse,
    message: string,
    options?: TikvErrorOptions,
  ) {
    super(message, options);
  }
}
