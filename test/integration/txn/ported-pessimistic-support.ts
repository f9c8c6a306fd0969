// Helpers of the ported client-go pessimistic-transaction tests (ported-pessimistic*.test.ts):
// the locks one transaction holds on the engine, and timestamps with a chosen physical time
// (a start ts in the past stands in for client-go's short ManagedLockTTL: the locks' TTL counts
// from the start ts, so an old start ts makes them expire at once).

import { expect } from "vitest";
import { composeTs } from "../../../src/kv/timestamp.js";
import type { LockInfo } from "../../../src/proto/kvrpcpb.js";
import type { ClusterHandle } from "../../support/cluster.js";
import { locksOn } from "./ported-2pc-support.js";

/** The locks of transaction `startTs` among `keys`, by key. */
export function locksOf(env: ClusterHandle, startTs: bigint, keys: readonly string[]): Map<string, LockInfo> {
  const out = new Map<string, LockInfo>();
  for (const l of locksOn(env, keys)) if (l.lockVersion === startTs) out.set(l.key.toString(), l);
  return out;
}

/** The one lock on `key` (any transaction); fails the test when there is none. */
export function lockOn(env: ClusterHandle, key: string): LockInfo {
  const found = locksOn(env, [key]);
  expect(found, `a lock on ${key}`).toHaveLength(1);
  return found[0] as LockInfo;
}

/** A timestamp whose physical part is `msFromNow` from the local clock (negative: in the past). */
export function tsAt(msFromNow: number): bigint {
  return composeTs(Date.now() + msFromNow, 0);
}
