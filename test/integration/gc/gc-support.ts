// Helpers of the GC suites: locks left behind by transactions that vanished, played through the
// client's own request sender (so they work on the embedded cluster and on a real one alike), and
// a lock census over every region (KvScanLock region by region).

import { makeControl } from "../../../src/actors/runtime/control.js";
import { walkRegions } from "../../../src/actors/runtime/range-task.js";
import type { RequestControl } from "../../../src/actors/runtime/raw-sender.js";
import { sendToKey } from "../../../src/actors/runtime/region-batches.js";
import type { TxnRuntime } from "../../../src/actors/txn/txn-runtime.js";
import type { TikvClient } from "../../../src/api/tikv-client.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import {
  BatchRollbackRequest,
  CommitRequest,
  type LockInfo,
  Op,
  PessimisticLockRequest,
  PrewriteRequest,
  ScanLockRequest,
} from "../../../src/proto/kvrpcpb.js";

/** A key as the tests write it. */
export const b = (s: string): Buffer => Buffer.from(s);

/** The transactional runtime of a client (its sender, cache and resolver). */
export function runtimeOf(client: TikvClient): TxnRuntime {
  client.txn();
  return (client as unknown as { txnSide(): TxnRuntime }).txnSide();
}

/** A control block for one helper call. */
export function ctl(rt: TxnRuntime): RequestControl {
  return makeControl({ maxBackoffMs: 20_000, timeoutMs: 0, metrics: rt.deps.metrics });
}

/** One hour: a lock that will not expire during a test. */
export const LONG_TTL_MS = 3_600_000n;

/**
 * Prewrites `keys` (primary first) at `startTs` and leaves them (client-go: a committer that
 * vanished after prewrite). `async` makes it an async-commit transaction listing the others as
 * secondaries.
 */
export async function prewriteAbandoned(
  rt: TxnRuntime,
  startTs: bigint,
  keys: readonly string[],
  opts: { async?: boolean } = {},
): Promise<void> {
  const primary = b(keys[0] as string);
  const secondaries = opts.async ? keys.slice(1).map(b) : [];
  for (const k of keys) {
    const req = PrewriteRequest.fromPartial({
      mutations: [{ op: Op.Put, key: b(k), value: b(`v-${k}`) }],
      primaryLock: primary,
      startVersion: startTs,
      lockTtl: LONG_TTL_MS,
      txnSize: BigInt(keys.length),
      minCommitTs: startTs + 1n,
      useAsyncCommit: opts.async ?? false,
      secondaries: k === keys[0] ? secondaries : [],
    });
    const resp = await sendToKey(rt.sender, b(k), "Prewrite", req, ctl(rt));
    if (resp.errors.length > 0) throw new Error(`prewrite ${k}: ${JSON.stringify(resp.errors[0])}`);
  }
}

/** Commits only the primary of a prewritten transaction (its secondaries stay locked). */
export async function commitPrimary(rt: TxnRuntime, startTs: bigint, primary: string, commitTs: bigint) {
  const req = CommitRequest.fromPartial({
    startVersion: startTs,
    keys: [b(primary)],
    commitVersion: commitTs,
  });
  const resp = await sendToKey(rt.sender, b(primary), "Commit", req, ctl(rt));
  if (resp.error) throw new Error(`commit ${primary}: ${JSON.stringify(resp.error)}`);
}

/** Rolls back only the primary of a prewritten transaction (its secondaries stay locked). */
export async function rollbackPrimary(rt: TxnRuntime, startTs: bigint, primary: string) {
  const req = BatchRollbackRequest.fromPartial({ startVersion: startTs, keys: [b(primary)] });
  const resp = await sendToKey(rt.sender, b(primary), "BatchRollback", req, ctl(rt));
  if (resp.error) throw new Error(`rollback ${primary}: ${JSON.stringify(resp.error)}`);
}

/** Takes a pessimistic lock on `key` at `startTs` and leaves it. */
export async function pessimisticLockAbandoned(rt: TxnRuntime, startTs: bigint, key: string) {
  const req = PessimisticLockRequest.fromPartial({
    mutations: [{ op: Op.PessimisticLock, key: b(key) }],
    primaryLock: b(key),
    startVersion: startTs,
    forUpdateTs: startTs,
    lockTtl: LONG_TTL_MS,
    waitTimeout: -1n,
  });
  const resp = await sendToKey(rt.sender, b(key), "PessimisticLock", req, ctl(rt));
  if (resp.errors.length > 0) throw new Error(`pessimistic lock ${key}: ${JSON.stringify(resp.errors[0])}`);
}

/** Every lock with ts <= `maxVersion` in [start, end), region by region (KvScanLock, no limit). */
export async function scanAllLocks(
  rt: TxnRuntime,
  maxVersion = MAX_TS,
  start = "",
  end = "",
): Promise<LockInfo[]> {
  const out: LockInfo[] = [];
  const c = ctl(rt);
  await walkRegions(
    (k, cc) => rt.sender.locate(k, cc),
    { start: b(start), end: b(end) },
    c,
    async ({ region, range }) => {
      const req = ScanLockRequest.fromPartial({
        maxVersion,
        startKey: range.start,
        endKey: range.end,
        limit: 0,
      });
      const o = await rt.sender.sendOnce(region, "ScanLock", req, c);
      if (!o.resp) return "relocate";
      out.push(...o.resp.locks);
      return "next";
    },
  );
  return out;
}
