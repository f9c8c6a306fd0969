// Misuses of shared pessimistic locks that the client refuses before sending anything (client-go
// LockKeys / initKeysAndMutations): TiKV's shared locks can never be a transaction's primary, and
// a shared lock cannot be turned into an exclusive one.

import { hexKey } from "./base.js";
import { InvalidTxnError } from "./txn.js";

/**
 * Why a shared-lock request was refused:
 * - `"needsPrimary"`: a shared lock was asked for before any exclusive lock chose the
 *   transaction's primary (a shared lock is never the primary);
 * - `"upgrade"`: an exclusive lock was asked for on a key this transaction holds in share mode;
 * - `"sharedPrimary"`: the commit's primary would be a shared lock (or only shared locks and
 *   absence checks are left to commit).
 */
export type SharedLockMisuse = "needsPrimary" | "upgrade" | "sharedPrimary";

const MESSAGES: Record<SharedLockMisuse, string> = {
  needsPrimary:
    "a lock in share mode needs the transaction's primary chosen first: lock a key exclusively before",
  upgrade: "a shared lock cannot be upgraded to an exclusive lock",
  sharedPrimary: "a shared-locked key cannot be the transaction's primary",
};

/**
 * A shared pessimistic lock used in a way TiKV does not support (code INVALID_TXN); nothing was
 * sent. See {@link SharedLockMisuse} for the reasons.
 *
 * @example
 * ```ts
 * const txn = await txns.begin({ pessimistic: true });
 * await txn.lockKeys(["row:1"], { shared: true }); // rejects: SharedLockMisuseError "needsPrimary"
 * ```
 */
export class SharedLockMisuseError extends InvalidTxnError {
  constructor(
    /** What was refused. */
    readonly reason: SharedLockMisuse,
    /** The key concerned, when there is one. */
    readonly key?: Buffer,
  ) {
    super(key ? `${MESSAGES[reason]} (key ${hexKey(key)})` : MESSAGES[reason]);
  }
}
