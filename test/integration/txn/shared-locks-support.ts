// Helpers of the shared pessimistic lock tests (shared-locks*.test.ts): the holders of shared
// locks as the engine lists them (client-go's ScanLocks expands each shared lock into one lock
// per holder), and a transaction that already holds its exclusive primary.

import type { Transaction } from "../../../src/api/transaction.js";
import type { TxnClient } from "../../../src/api/txn-client.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { type LockInfo, Op, ScanLockRequest } from "../../../src/proto/kvrpcpb.js";
import type { ClusterHandle } from "../../support/cluster.js";

/** The locks on `key` with start ts <= `maxTs`, one per holder of a shared lock. */
export function holdersOn(env: ClusterHandle, key: string, maxTs = MAX_TS): LockInfo[] {
  const all = env.cluster.txnEngine.scanLock(ScanLockRequest.fromPartial({ maxVersion: maxTs, limit: 0 }));
  return all.locks
    .filter((l) => l.key.toString() === key)
    .flatMap((l) => (l.lockType === Op.SharedLock ? l.sharedLockInfos : [l]));
}

/** The start ts of each holder of `key`, sorted. */
export function holderTs(env: ClusterHandle, key: string, maxTs = MAX_TS): bigint[] {
  return holdersOn(env, key, maxTs)
    .map((l) => l.lockVersion)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A pessimistic transaction that locked `primary` exclusively (so it may take shared locks). */
export async function withPrimary(
  t: TxnClient,
  primary: string,
  opts: { startTs?: bigint } = {},
): Promise<Transaction> {
  const txn = await t.begin({ pessimistic: true, ...opts });
  await txn.lockKeys([primary]);
  return txn;
}
