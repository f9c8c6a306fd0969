// Helpers of the ported client-go lock resolver tests (ported-lock*.test.ts): transactions
// played directly on the embedded cluster's engine (a committer that prewrote, maybe committed
// its primary, then vanished), lock lookups, and a recorder of the RPCs the client sends.

import { expect } from "vitest";
import { makeControl } from "../../../src/actors/runtime/control.js";
import { ClientMetrics } from "../../../src/actors/runtime/metrics.js";
import type { RequestControl } from "../../../src/actors/runtime/raw-sender.js";
import type { TxnClient } from "../../../src/api/txn-client.js";
import type { RpcName } from "../../../src/cluster/faults/rpc-names.js";
import type { CallInfo } from "../../../src/cluster/faults/types.js";
import { type LockDetails, lockDetailsFromLockInfo } from "../../../src/errors/txn.js";
import { prefixNext } from "../../../src/kv/key.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  CommitRequest,
  type LockInfo,
  type Mutation,
  Op,
  PrewriteRequest,
  ScanLockRequest,
} from "../../../src/proto/kvrpcpb.js";
import type { ClusterHandle } from "../../support/cluster.js";

/** A key as the tests write it. */
export const b = (s: string): Buffer => Buffer.from(s);

/** A fresh control block (budget, metrics) for one resolver call. */
export function control(maxBackoffMs = 20_000, metrics = new ClientMetrics()): RequestControl {
  return makeControl({ maxBackoffMs, timeoutMs: 0, metrics });
}

/** What a played prewrite writes. */
export interface PlayedPrewrite {
  startTs: bigint;
  primary: string;
  /** key -> value; undefined writes a delete. */
  writes: ReadonlyArray<readonly [string, string | undefined]>;
  ttlMs: bigint;
  /** TxnSize carried by the locks (default: the number of writes). */
  txnSize?: bigint;
  /** Async commit: the primary lists these secondaries. */
  asyncSecondaries?: string[];
  /** min_commit_ts of the request (default startTs + 1). */
  minCommitTs?: bigint;
  /** max_commit_ts of an async-commit prewrite (0: none). */
  maxCommitTs?: bigint;
}

/** Engine-level transactions and lookups over one cluster. */
export function engineOps(env: ClusterHandle) {
  const engine = () => env.cluster.txnEngine;

  /** Prewrites on the engine (no client involved); returns the response's min_commit_ts. */
  function prewrite(p: PlayedPrewrite): bigint {
    const mutations: Partial<Mutation>[] = p.writes.map(([k, v]) =>
      v === undefined ? { op: Op.Del, key: b(k) } : { op: Op.Put, key: b(k), value: b(v) },
    );
    const async = p.asyncSecondaries !== undefined;
    const r = engine().prewrite(
      PrewriteRequest.fromPartial({
        mutations,
        primaryLock: b(p.primary),
        startVersion: p.startTs,
        lockTtl: p.ttlMs,
        txnSize: p.txnSize ?? BigInt(p.writes.length),
        minCommitTs: p.minCommitTs ?? p.startTs + 1n,
        useAsyncCommit: async,
        secondaries: (p.asyncSecondaries ?? []).map(b),
        maxCommitTs: p.maxCommitTs ?? 0n,
      }),
    );
    expect(r.errors).toEqual([]);
    return r.minCommitTs;
  }

  /** Commits `keys` of `startTs` at `commitTs` on the engine. */
  function commit(startTs: bigint, keys: string[], commitTs: bigint): void {
    const r = engine().commit(
      CommitRequest.fromPartial({ startVersion: startTs, keys: keys.map(b), commitVersion: commitTs }),
    );
    expect(r.error).toBeUndefined();
  }

  /** Every lock in [start, end) (end default: everything under the prefix `start`). */
  function scanLocks(start: string, end?: string): LockInfo[] {
    return engine().scanLock(
      ScanLockRequest.fromPartial({
        maxVersion: MAX_TS,
        startKey: b(start),
        endKey: end === undefined ? prefixNext(b(start)) : b(end),
        limit: 0,
      }),
    ).locks;
  }

  /** The lock on `key` (client-go mustGetLock), as the resolver gets it. */
  function lockOf(key: string): LockDetails {
    const found = scanLocks(key, `${key}\u0000`).filter((l) => l.key.equals(b(key)));
    expect(found, `a lock on ${key}`).toHaveLength(1);
    return lockDetailsFromLockInfo(found[0] as LockInfo);
  }

  /** True when `key` holds a lock. */
  function isLocked(key: string): boolean {
    return scanLocks(key, `${key}\u0000`).some((l) => l.key.equals(b(key)));
  }

  return { engine, prewrite, commit, scanLocks, lockOf, isLocked };
}

/** client-go lockKey: prewrite `key` and `primary` with `ttlMs`, maybe commit the primary. */
export async function lockKey(
  t: TxnClient,
  ops: ReturnType<typeof engineOps>,
  o: {
    key: string;
    value: string | undefined;
    primary: string;
    primaryValue: string | undefined;
    ttlMs: bigint;
    commitPrimary: boolean;
    asyncCommit?: boolean;
  },
): Promise<{ startTs: bigint; commitTs: bigint }> {
  const startTs = await t.currentTimestamp();
  const writes: Array<readonly [string, string | undefined]> =
    o.key === o.primary
      ? [[o.primary, o.primaryValue]]
      : [
          [o.primary, o.primaryValue],
          [o.key, o.value],
        ];
  ops.prewrite({
    startTs,
    primary: o.primary,
    writes,
    ttlMs: o.ttlMs,
    asyncSecondaries: o.asyncCommit ? (o.key === o.primary ? [] : [o.key]) : undefined,
  });
  let commitTs = 0n;
  if (o.commitPrimary) {
    commitTs = await t.currentTimestamp();
    ops.commit(startTs, [o.primary], commitTs);
  }
  return { startTs, commitTs };
}

/** client-go putKV: one committed write through the client. */
export async function putKV(t: TxnClient, key: string, value: string) {
  const txn = await t.begin();
  txn.set(key, value);
  const commitTs = await txn.commit();
  return { startTs: txn.startTs, commitTs };
}

/** Records the calls of `rpcs` the cluster receives until `stop()`. */
export function recordRpcs(env: ClusterHandle, rpcs: readonly RpcName[]) {
  const calls: CallInfo[] = [];
  const stop = env.cluster.faults.onRequest((c) => {
    if (rpcs.includes(c.rpc)) calls.push(c);
  });
  return {
    calls,
    stop,
    of(rpc: RpcName) {
      return calls.filter((c) => c.rpc === rpc);
    },
  };
}

/**
 * Keeps the client's low-resolution clock fresh by fetching a timestamp every `everyMs`
 * (client-go's tests set the oracle update interval to 2 ms); returns a stop function.
 */
export function keepClockFresh(t: TxnClient, everyMs = 20): () => void {
  const tick = setInterval(() => void t.currentTimestamp().catch(() => {}), everyMs);
  return () => clearInterval(tick);
}

/** Sleeps `ms`. */
export { sleep } from "../../support/wait.js";
