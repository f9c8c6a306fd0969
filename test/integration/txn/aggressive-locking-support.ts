// Helpers of the aggressive-locking tests (aggressive-locking*.test.ts): which keys of a
// transaction hold locks on the engine, waited for while background PessimisticRollbacks land
// (client-go checkIsKeyLocked retries the same way).

import { expect } from "vitest";
import type { AggressiveLockedKey } from "../../../src/api/internal/aggressive-locking.js";
import type { Transaction } from "../../../src/api/transaction.js";
import type { ClusterHandle } from "../../support/cluster.js";
import { eventually } from "./ported-2pc-support.js";
import { locksOf } from "./ported-pessimistic-support.js";

/** Waits until exactly `locked` of `keys` hold `txn`'s locks (the others none); fails the test otherwise. */
export async function expectLocked(
  env: ClusterHandle,
  txn: Transaction,
  keys: readonly string[],
  locked: readonly string[],
): Promise<void> {
  const held = () => [...locksOf(env, txn.startTs, keys).keys()].sort();
  await eventually(() => held().join() === [...locked].sort().join(), 2_000);
  expect(held()).toEqual([...locked].sort());
}

/** The keys of the current aggressive-locking attempt, as strings. */
export function attemptKeys(txn: Transaction): string[] {
  return txn
    .aggressiveLockedKeys()
    .map((e) => e.key.toString())
    .sort();
}

/** The current attempt's entry of `key`; fails the test when there is none. */
export function attemptEntry(txn: Transaction, key: string): AggressiveLockedKey {
  const e = txn.aggressiveLockedKeys().find((x) => x.key.toString() === key);
  expect(e, `${key} locked by the current attempt`).toBeDefined();
  return e as AggressiveLockedKey;
}

/** The largest locked-with-conflict ts of the current attempt (client-go MaxLockedWithConflictTS). */
export function maxConflictTs(txn: Transaction): bigint {
  let max = 0n;
  for (const e of txn.aggressiveLockedKeys()) if (e.lockedWithConflictTs > max) max = e.lockedWithConflictTs;
  return max;
}
