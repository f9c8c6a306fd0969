// The RPCs of lock resolution (client-go txnkv/txnlock/lock_resolver.go getTxnStatus,
// checkSecondaries, resolveRegionLocks, resolveLock, resolvePessimisticLock), each retried
// across region changes through the shared region helpers.

import { extractKeyError } from "../../errors/extract.js";
import { type LockDetails, lockDetailsFromLockInfo } from "../../errors/txn.js";
import { MAX_TS } from "../../kv/timestamp.js";
import type { AsyncCommitState, CleanupTask, TxnStatus } from "../../machines/lock-policy.js";
import { addSecondaryCheck } from "../../machines/lock-policy.js";
import type { CheckOutcome } from "../../machines/lock-resolution.js";
import { type KeyError, ResolveLockRequest } from "../../proto/kvrpcpb.js";
import type { RawRequestSender, RequestControl } from "../runtime/raw-sender.js";
import { positions, runRegionBatches, sendToKey } from "../runtime/region-batches.js";

const NO_SPLIT = (p: number[]) => [p];

/** Error from a lock-resolution RPC whose KeyError was unexpected (client-go "unexpected resolve err"). */
function unexpected(what: string, keyErr: KeyError, txnId: bigint): Error {
  return new Error(`unexpected ${what} err: ${extractKeyError(keyErr).message}, txn ${txnId}`, {
    cause: extractKeyError(keyErr),
  });
}

/** Parameters of one CheckTxnStatus. */
export interface CheckStatusParams {
  txnId: bigint;
  primary: Buffer;
  callerStartTs: bigint;
  currentTs: bigint;
  rollbackIfNotExist: boolean;
  forceSyncCommit: boolean;
  /** The lock that led here, if any (pessimistic locks set resolving_pessimistic_lock). */
  lock: LockDetails | undefined;
}

/** CheckTxnStatus on the primary's region. */
export async function checkTxnStatus(
  sender: RawRequestSender,
  p: CheckStatusParams,
  ctl: RequestControl,
  isPessimistic: (l: LockDetails) => boolean,
): Promise<CheckOutcome> {
  const resolvingPessimisticLock = p.lock !== undefined && isPessimistic(p.lock);
  const resp = await sendToKey(
    sender,
    p.primary,
    "CheckTxnStatus",
    {
      context: undefined,
      primaryKey: p.primary,
      lockTs: p.txnId,
      callerStartTs: p.callerStartTs,
      currentTs: p.currentTs,
      rollbackIfNotExist: p.rollbackIfNotExist,
      forceSyncCommit: p.forceSyncCommit,
      resolvingPessimisticLock,
      verifyIsPrimary: true,
      isTxnFile: p.lock?.isTxnFile ?? false,
    },
    ctl,
  );
  const ke = resp.error;
  if (ke) {
    if (ke.txnNotFound) return { kind: "notFound" };
    if (ke.primaryMismatch && resolvingPessimisticLock) return { kind: "primaryMismatch" };
    throw unexpected("check txn status", ke, p.txnId);
  }
  const status: TxnStatus = {
    ttl: resp.lockTtl,
    commitTs: resp.lockTtl !== 0n ? 0n : resp.commitVersion,
    action: resp.action,
    primaryLock: resp.lockInfo ? lockDetailsFromLockInfo(resp.lockInfo) : undefined,
  };
  return { kind: "status", status };
}

/**
 * CheckSecondaryLocks over every secondary of an async-commit primary, region by region in
 * parallel, folded into one commit decision (client-go checkAllSecondaries).
 */
export async function checkAllSecondaries(
  sender: RawRequestSender,
  txnId: bigint,
  primaryLock: LockDetails,
  ctl: RequestControl,
): Promise<AsyncCommitState> {
  const st: AsyncCommitState = { commitTs: primaryLock.minCommitTs, keys: [], missingLock: false };
  const keys = primaryLock.secondaries;
  await runRegionBatches(sender, ctl, keys, positions(keys.length), NO_SPLIT, async (region, batch) => {
    const batchKeys = batch.map((i) => keys[i] as Buffer);
    const { resp } = await sender.sendOnce(
      region,
      "CheckSecondaryLocks",
      { context: undefined, keys: batchKeys, startVersion: txnId },
      ctl,
    );
    if (!resp) return false;
    if (resp.error) throw unexpected("check secondary locks", resp.error, txnId);
    addSecondaryCheck(st, txnId, resp.locks.map(lockDetailsFromLockInfo), batchKeys.length, resp.commitTs);
    return true;
  });
  return st;
}

/** ResolveLock for exactly `keys` of transaction `txnId` (committed at `commitTs`, or rolled back when 0). */
export async function resolveKeys(
  sender: RawRequestSender,
  txnId: bigint,
  commitTs: bigint,
  keys: readonly Buffer[],
  isTxnFile: boolean,
  ctl: RequestControl,
): Promise<void> {
  await runRegionBatches(sender, ctl, keys, positions(keys.length), NO_SPLIT, async (region, batch) => {
    const { resp } = await sender.sendOnce(
      region,
      "ResolveLock",
      ResolveLockRequest.fromPartial({
        startVersion: txnId,
        commitVersion: commitTs,
        keys: batch.map((i) => keys[i] as Buffer),
        isTxnFile,
      }),
      ctl,
    );
    if (!resp) return false;
    if (resp.error) throw unexpected("resolve", resp.error, txnId);
    return true;
  });
}

/** ResolveLock of every lock of `txnId` in the region holding `key` (large transactions). */
export async function resolveRegion(
  sender: RawRequestSender,
  txnId: bigint,
  commitTs: bigint,
  key: Buffer,
  isTxnFile: boolean,
  ctl: RequestControl,
): Promise<bigint> {
  for (;;) {
    let region = sender.locate(key, ctl);
    if (region instanceof Promise) region = await region;
    const { resp } = await sender.sendOnce(
      region,
      "ResolveLock",
      ResolveLockRequest.fromPartial({ startVersion: txnId, commitVersion: commitTs, isTxnFile }),
      ctl,
    );
    if (!resp) continue;
    if (resp.error) throw unexpected("resolve", resp.error, txnId);
    return region.id;
  }
}

/** PessimisticRollback of one key (or, with no key, of every pessimistic lock of `txnId` in the region). */
export async function pessimisticRollback(
  sender: RawRequestSender,
  txnId: bigint,
  forUpdateTs: bigint,
  key: Buffer,
  ctl: RequestControl,
  regionWide = false,
): Promise<void> {
  const resp = await sendToKey(
    sender,
    key,
    "PessimisticRollback",
    { context: undefined, startVersion: txnId, forUpdateTs, keys: regionWide ? [] : [key] },
    ctl,
  );
  const first = resp.errors[0];
  if (first) throw unexpected("resolve pessimistic lock", first, txnId);
}

/** Runs the cleanup tasks of one transaction (lite keys first, then per-key and per-region work). */
export async function runCleanup(
  sender: RawRequestSender,
  txnId: bigint,
  commitTs: bigint,
  tasks: readonly CleanupTask[],
  isTxnFile: boolean,
  ctl: RequestControl,
): Promise<void> {
  const cleanRegions = new Set<bigint>();
  const pessimisticRegions = new Set<bigint>();
  for (const t of tasks) {
    if (t.kind === "resolveKeys") await resolveKeys(sender, txnId, commitTs, t.keys, isTxnFile, ctl);
    else if (t.kind === "pessimisticRollback") {
      // region-wide: one request per region (client-go pessimisticCleanRegions)
      const before = t.regionWide ? sender.cache.tryLocateKey(t.key) : undefined;
      if (before && pessimisticRegions.has(before.id)) continue;
      await pessimisticRollback(sender, txnId, t.forUpdateTs, t.key, ctl, t.regionWide);
      const region = t.regionWide ? sender.cache.tryLocateKey(t.key) : undefined;
      if (region) pessimisticRegions.add(region.id);
    } else {
      // one region-wide resolve per region (client-go cleanRegions)
      const cached = sender.cache.tryLocateKey(t.key);
      if (cached && cleanRegions.has(cached.id)) continue;
      cleanRegions.add(await resolveRegion(sender, txnId, commitTs, t.key, isTxnFile, ctl));
    }
  }
}

/** ResolveLock with txn_infos (GC's batch resolve) on the region holding `key`. */
export async function resolveTxnInfos(
  sender: RawRequestSender,
  key: Buffer,
  txnInfos: ReadonlyArray<{ txn: bigint; status: bigint; isTxnFile: boolean }>,
  ctl: RequestControl,
): Promise<void> {
  const resp = await sendToKey(
    sender,
    key,
    "ResolveLock",
    ResolveLockRequest.fromPartial({ txnInfos: [...txnInfos] }),
    ctl,
  );
  if (resp.error) throw unexpected("resolve", resp.error, 0n);
}

/** CheckTxnStatus's current_ts when a lock must be treated as expired no matter its TTL. */
export const FORCE_EXPIRE_TS = MAX_TS;
