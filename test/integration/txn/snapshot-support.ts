// Helpers of the ported snapshot / scan suites: crashed transactions played by the engine
// directly (prewrite, then maybe commit or roll back some keys, then nothing more), the locks
// left in a range, and a recorder of the read requests the stores receive.

import { expect } from "vitest";
import type { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import type { RpcName } from "../../../src/cluster/faults/rpc-names.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  BatchRollbackRequest,
  CommitRequest,
  type CommitResponse,
  type Context,
  Op,
  PrewriteRequest,
  ResolveLockRequest,
  ScanLockRequest,
} from "../../../src/proto/kvrpcpb.js";

const buf = (k: string | Buffer) => (typeof k === "string" ? Buffer.from(k) : k);

/** Options of {@link prewriteOnly}. */
export interface CrashedTxn {
  startTs: bigint;
  primary: string;
  /** Keys and the values written (undefined value = a Delete mutation). */
  writes: ReadonlyArray<readonly [string, string | undefined]>;
  ttlMs: bigint;
  /** Async-commit lock (the primary carries the secondaries). */
  asyncCommit?: boolean;
  /** min_commit_ts of the locks (default start ts + 1). */
  minCommitTs?: bigint;
  /** txn_size of the locks (default: the number of writes). */
  txnSize?: bigint;
}

/** Prewrites a transaction whose committer then disappears; asserts the prewrite succeeded. */
export function prewriteOnly(cluster: EmbeddedCluster, t: CrashedTxn): void {
  const r = cluster.txnEngine.prewrite(
    PrewriteRequest.fromPartial({
      mutations: t.writes.map(([k, v]) =>
        v === undefined ? { op: Op.Del, key: buf(k) } : { op: Op.Put, key: buf(k), value: Buffer.from(v) },
      ),
      primaryLock: buf(t.primary),
      startVersion: t.startTs,
      lockTtl: t.ttlMs,
      txnSize: t.txnSize ?? BigInt(t.writes.length),
      minCommitTs: t.minCommitTs ?? t.startTs + 1n,
      useAsyncCommit: t.asyncCommit ?? false,
      secondaries: t.asyncCommit ? t.writes.filter(([k]) => k !== t.primary).map(([k]) => buf(k)) : [],
      maxCommitTs: t.asyncCommit ? t.startTs + (1n << 40n) : 0n,
    }),
  );
  expect(r.errors).toEqual([]);
}

/** Commits `keys` of transaction `startTs` at `commitTs` through the engine (no client). */
export function engineCommit(
  cluster: EmbeddedCluster,
  startTs: bigint,
  commitTs: bigint,
  keys: readonly string[],
): CommitResponse {
  return cluster.txnEngine.commit(
    CommitRequest.fromPartial({ startVersion: startTs, keys: keys.map(buf), commitVersion: commitTs }),
  );
}

/** Rolls back `keys` of transaction `startTs` through the engine; asserts it worked. */
export function engineRollback(cluster: EmbeddedCluster, startTs: bigint, keys: readonly string[]): void {
  const r = cluster.txnEngine.batchRollback(
    BatchRollbackRequest.fromPartial({ startVersion: startTs, keys: keys.map(buf) }),
  );
  expect(r.error).toBeUndefined();
}

/** Resolves `keys` of transaction `startTs` (commitTs 0 = roll back) through the engine. */
export function engineResolve(
  cluster: EmbeddedCluster,
  startTs: bigint,
  commitTs: bigint,
  keys: readonly string[],
): void {
  const r = cluster.txnEngine.resolveLock(
    ResolveLockRequest.fromPartial({ startVersion: startTs, commitVersion: commitTs, keys: keys.map(buf) }),
  );
  expect(r.error).toBeUndefined();
}

/** Start ts of the locks left in [start, end) (end empty = unbounded). */
export function lockTxns(cluster: EmbeddedCluster, start: string, end = ""): bigint[] {
  const r = cluster.txnEngine.scanLock(
    ScanLockRequest.fromPartial({
      maxVersion: MAX_TS,
      startKey: buf(start),
      endKey: buf(end),
      limit: 1000,
    }),
  );
  return r.locks.map((l) => l.lockVersion);
}

/** One read request as a store decoded it. */
export interface SeenRequest {
  rpc: RpcName;
  regionId: bigint | undefined;
  storeId: bigint | undefined;
  context: Context;
  request: Record<string, unknown>;
}

/**
 * Records every request of `rpcs` the stores receive until `stop()` (the decoded requests, as
 * the onRequest hook sees them).
 */
export function recordRequests(
  cluster: EmbeddedCluster,
  rpcs: readonly RpcName[],
): { seen: SeenRequest[]; stop: () => void } {
  const seen: SeenRequest[] = [];
  const want = new Set<RpcName>(rpcs);
  const stop = cluster.faults.onRequest((call) => {
    if (!want.has(call.rpc)) return;
    const request = call.request as Record<string, unknown> & { context?: Context };
    seen.push({
      rpc: call.rpc,
      regionId: call.regionId,
      storeId: call.storeId,
      context: request.context as Context,
      request,
    });
  });
  return { seen, stop };
}

/** Buffer[] / undefined[] to strings for comparisons. */
export { str as strs } from "../../support/values.js";
/** Resolves after `ms`. */
export { sleep } from "../../support/wait.js";

/** Zero-padded decimal (client-go s08d). */
export const pad = (i: number, width = 8) => String(i).padStart(width, "0");
