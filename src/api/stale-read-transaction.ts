// A stale-read transaction (TxnClient.begin({ staleRead })): a Transaction whose reads may be
// served by any replica at a past ts, refused every write and lock at once (typed
// StaleReadOnlyError), so its commit never writes anything.

import { StaleReadOnlyError } from "../errors/stale-read.js";
import type { KeyInput } from "../kv/key.js";
import { type LockOptions, Transaction, type WriteOptions } from "./transaction.js";

/**
 * A read-only transaction reading a past snapshot from any replica. Reads work as in a
 * {@link Transaction}; `set`, `delete`, `lockKeys`, `getForUpdate`, `batchGetForUpdate` and
 * `startAggressiveLocking` throw StaleReadOnlyError; `commit` ends it (nothing to write).
 *
 * @example
 * ```ts
 * const txn = await txns.begin({ staleRead: { secondsAgo: 10 } });
 * const v = await txn.get("k"); // the value as of ~10 s ago, maybe from a follower
 * await txn.commit();
 * ```
 */
export class StaleReadTransaction extends Transaction {
  override set(_key: KeyInput, _value: KeyInput, _options?: WriteOptions): void {
    this.refuse("set");
  }

  override delete(_key: KeyInput, _options?: WriteOptions): void {
    this.refuse("delete");
  }

  override async lockKeys(_keys: readonly KeyInput[], _options?: LockOptions): Promise<void> {
    this.refuse("lockKeys");
  }

  override async getForUpdate(_key: KeyInput, _options?: LockOptions): Promise<Buffer | undefined> {
    this.refuse("getForUpdate");
  }

  override async batchGetForUpdate(
    _keys: readonly KeyInput[],
    _options?: LockOptions,
  ): Promise<Array<Buffer | undefined>> {
    this.refuse("batchGetForUpdate");
  }

  override startAggressiveLocking(): void {
    this.refuse("startAggressiveLocking");
  }

  // a finished transaction says so first (InvalidTxnError), as every other call does
  private refuse(operation: string): never {
    this.checkActive();
    throw new StaleReadOnlyError(operation);
  }
}
