// The RPCs of pessimistic locking (client-go txnkv/transaction/pessimistic.go): PessimisticLock
// per region (the primary's batch first, so its lock exists before any secondary points to it),
// with TiKV-side waiting, resolution of locks left by dead owners, and the typed outcomes
// (deadlock, write conflict, key exists, no-wait, wait timeout); and PessimisticRollback.

import { extractKeyError } from "../../errors/extract.js";
import { AbortedError } from "../../errors/server.js";
import {
  LockAcquireFailAndNoWaitSetError,
  type LockDetails,
  LockWaitTimeoutError,
  lockDetailsFromLockInfo,
} from "../../errors/txn.js";
import {
  afterBlocked,
  attemptWaitTimeout,
  deadlinePassed,
  locksToResolve,
  MAX_EXEC_TIME_EXCEEDED_SIGNAL,
} from "../../machines/pessimistic-policy.js";
import {
  Assertion,
  type Context,
  Op,
  PessimisticLockRequest,
  PessimisticLockWakeUpMode,
  PessimisticRollbackRequest,
} from "../../proto/kvrpcpb.js";
import { splitBySize } from "../runtime/batch-split.js";
import type { RawRequestSender, RequestControl } from "../runtime/raw-sender.js";
import { positions, runRegionBatches } from "../runtime/region-batches.js";
import { forceLockOutcome } from "./force-lock.js";
import type { LockResolver } from "./lock-resolver.js";

/** client-go ManagedLockTTL (ms) added to the elapsed time of each pessimistic lock. */
export const PESSIMISTIC_LOCK_TTL_MS = 20_000;
const BATCH_BYTES = 16 * 1024;

/** One lockKeys call. */
export interface LockKeysParams {
  /** Sorted, deduplicated keys to lock. */
  keys: Buffer[];
  primary: Buffer;
  startTs: bigint;
  forUpdateTs: bigint;
  /** Nothing was locked before and this locks one key (TiKV may skip its wait queue check). */
  isFirstLock: boolean;
  /** ms to wait for locks held by others; LOCK_NO_WAIT / LOCK_ALWAYS_WAIT. */
  lockWaitMs: number;
  returnValues: boolean;
  checkExistence: boolean;
  lockOnlyIfExists: boolean;
  /** Shared locks (Op::SharedPessimisticLock); the primary must already be locked exclusively. */
  shared?: boolean;
  /**
   * WakeUpModeForceLock (aggressive locking; one key only): a newer version does not fail the
   * lock, which is taken anyway and reported with `lockedWithConflictTs`.
   */
  forceLock?: boolean;
  /** Keys presumed absent get an assertion that they do not exist. */
  presumedAbsent: (key: Buffer) => boolean;
  /** When the transaction began (the lock TTL counts from there). */
  startedAtMs: number;
  /** The statement's deadline (epoch ms): waits end there, and past it the call is interrupted. */
  deadlineMs?: number | undefined;
  contextFields?: Partial<Context> | undefined;
}

/** What lockKeys learned about each key (with returnValues / checkExistence). */
export interface LockedValue {
  value: Buffer | undefined;
  exists: boolean;
  /** ForceLock: non-zero when the key was locked with a conflict (the newer version's commit ts). */
  lockedWithConflictTs?: bigint;
}

/**
 * Locks `keys` pessimistically. `onPrimaryLocked` is called once the primary's batch succeeded
 * (the TTL manager starts there). Resolves with the values / existence learned per key (latin1).
 */
export async function lockKeys(
  sender: RawRequestSender,
  resolver: LockResolver,
  p: LockKeysParams,
  ctl: RequestControl,
  onPrimaryLocked: () => void,
): Promise<Map<string, LockedValue>> {
  const out = new Map<string, LockedValue>();
  const primaryIndex = p.keys.findIndex((k) => k.equals(p.primary));
  const waitStart = Date.now();
  const op = p.shared ? Op.SharedPessimisticLock : Op.PessimisticLock;
  await runRegionBatches(
    sender,
    ctl,
    p.keys,
    positions(p.keys.length),
    (pos) => splitBySize(pos, (i) => (p.keys[i] as Buffer).length, BATCH_BYTES),
    async (region, batch) => {
      const keys = batch.map((i) => p.keys[i] as Buffer);
      for (;;) {
        const now = Date.now();
        if (deadlinePassed(p.deadlineMs, now))
          throw new AbortedError(undefined, MAX_EXEC_TIME_EXCEEDED_SIGNAL);
        const req = PessimisticLockRequest.fromPartial({
          mutations: keys.map((key) => ({
            op,
            key,
            assertion: p.presumedAbsent(key) ? Assertion.NotExist : Assertion.None,
          })),
          primaryLock: p.primary,
          startVersion: p.startTs,
          forUpdateTs: p.forUpdateTs,
          isFirstLock: p.isFirstLock,
          waitTimeout: attemptWaitTimeout(p.lockWaitMs, waitStart, now, p.deadlineMs),
          returnValues: p.returnValues,
          checkExistence: p.checkExistence,
          minCommitTs: p.forUpdateTs + 1n,
          lockTtl: BigInt(now - p.startedAtMs + PESSIMISTIC_LOCK_TTL_MS),
          wakeUpMode: p.forceLock
            ? PessimisticLockWakeUpMode.WakeUpModeForceLock
            : PessimisticLockWakeUpMode.WakeUpModeNormal,
          lockOnlyIfExists: p.lockOnlyIfExists,
        });
        const { resp } = await sender.sendOnce(region, "PessimisticLock", req, ctl, p.contextFields);
        if (!resp) return false;
        // ForceLock answers in `results` (force-lock.ts); the normal mode in values / not_founds
        const forced = p.forceLock ? forceLockOutcome(resp, p) : undefined;
        if (forced?.kind === "locked") {
          if (primaryIndex >= 0 && batch.includes(primaryIndex)) onPrimaryLocked();
          if (forced.learned) out.set((keys[0] as Buffer).toString("latin1"), forced.learned);
          return true;
        }
        if (!forced && resp.errors.length === 0) {
          if (primaryIndex >= 0 && batch.includes(primaryIndex)) onPrimaryLocked();
          if (p.returnValues || p.checkExistence) {
            keys.forEach((key, j) => {
              const exists = resp.notFounds.length > j ? !resp.notFounds[j] : true;
              out.set(key.toString("latin1"), {
                value: p.returnValues && exists ? resp.values[j] : undefined,
                exists,
              });
            });
          }
          return true;
        }
        const locks: LockDetails[] = forced ? forced.locks : [];
        if (!forced) {
          for (const ke of resp.errors) {
            // deadlock, write conflict, key exists...: the call fails with the typed error
            if (!ke.locked) throw extractKeyError(ke);
            locks.push(lockDetailsFromLockInfo(ke.locked));
          }
        }
        const toResolve = locksToResolve(locks);
        if (toResolve.length === 0) continue; // the owners are alive and active: ask again
        // TiKV already waited for these locks: resolve without a backoff of our own
        const r = await resolver.resolveLocks(toResolve, { callerStartTs: 0n, ctl });
        const verdict = afterBlocked(r.msBeforeTxnExpired > 0, p.lockWaitMs, waitStart, Date.now());
        if (verdict === "noWaitFail") throw new LockAcquireFailAndNoWaitSetError();
        if (verdict === "waitTimeout") throw new LockWaitTimeoutError();
        if (deadlinePassed(p.deadlineMs, Date.now())) {
          throw new AbortedError(undefined, MAX_EXEC_TIME_EXCEEDED_SIGNAL);
        }
      }
    },
    primaryIndex >= 0 ? primaryIndex : undefined,
  );
  return out;
}

/** PessimisticRollback of `keys` at `forUpdateTs`, region by region (client-go actionPessimisticRollback). */
export async function pessimisticRollbackKeys(
  sender: RawRequestSender,
  startTs: bigint,
  forUpdateTs: bigint,
  keys: readonly Buffer[],
  ctl: RequestControl,
  contextFields?: Partial<Context>,
): Promise<void> {
  await runRegionBatches(
    sender,
    ctl,
    keys,
    positions(keys.length),
    (pos) => splitBySize(pos, (i) => (keys[i] as Buffer).length, BATCH_BYTES),
    async (region, batch) => {
      const { resp } = await sender.sendOnce(
        region,
        "PessimisticRollback",
        PessimisticRollbackRequest.fromPartial({
          startVersion: startTs,
          forUpdateTs,
          keys: batch.map((i) => keys[i] as Buffer),
        }),
        ctl,
        contextFields,
      );
      if (!resp) return false;
      const first = resp.errors[0];
      if (first) throw extractKeyError(first);
      return true;
    },
  );
}
