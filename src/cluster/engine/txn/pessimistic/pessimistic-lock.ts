// The AcquirePessimisticLock command (KvPessimisticLock), including lock waiting and the
// resumed retry of WakeUpModeForceLock requests.
// Semantics follow tikv src/storage/txn/commands/acquire_pessimistic_lock.rs,
// acquire_pessimistic_lock_resumed.rs, commands/mod.rs (request decoding) and the
// lock-wait handling of src/storage/txn/scheduler.rs / lock_wait_context.rs.
import {
  Assertion,
  ExecDetailsV2,
  type KeyError,
  type LockInfo,
  Op,
  type PessimisticLockRequest,
  type PessimisticLockResponse,
  PessimisticLockWakeUpMode,
  WriteConflict_Reason,
  WriteDetail,
} from "../../../../proto/kvrpcpb.js";
import {
  lockRecordToLockInfo,
  MvccError,
  MvccReader,
  type MvccStore,
  MvccTxn,
  sharedLocksToLockInfo,
  toKeyError,
} from "../../mvcc/index.js";
import { type AcquireParams, acquirePessimisticLock, type KeyLockResult } from "./acquire.js";
import { keyHash } from "./key-hash.js";
import type { LockManager, LockWaiter, WaitOutcome } from "./lock-manager.js";
import {
  errorResponse,
  failedKeyResult,
  forceLockResponse,
  keyResultToPb,
  legacyResponse,
} from "./results.js";
import { waitTimeoutFromWire } from "./wait-timeout.js";

interface KeyToLock {
  readonly key: Buffer;
  readonly shouldNotExist: boolean;
  /** Op::SharedPessimisticLock: lock in shared mode. */
  readonly shared: boolean;
}

/** One synchronous execution of the command over its keys. */
type Execution =
  | { readonly kind: "done"; readonly results: KeyLockResult[] }
  | { readonly kind: "failed"; readonly error: KeyError }
  | { readonly kind: "blocked"; readonly key: KeyToLock; readonly lockInfo: LockInfo };

/** True for the LockInfo of shared locks. */
const isSharedLockInfo = (l: LockInfo): boolean => l.lockType === Op.SharedLock;

const EMPTY = Buffer.alloc(0);

/** Runs KvPessimisticLock requests against one store, waiting through `lockManager`. */
export class PessimisticLockCommand {
  constructor(
    private readonly store: MvccStore,
    private readonly lockManager: LockManager,
  ) {}

  /** Executes the request; resolves when it is answered (possibly after waiting for locks). */
  run(req: PessimisticLockRequest): Promise<PessimisticLockResponse> {
    const forceLock = req.wakeUpMode === PessimisticLockWakeUpMode.WakeUpModeForceLock;
    const keys: KeyToLock[] = [];
    for (const m of req.mutations) {
      if (m.op !== Op.PessimisticLock && m.op !== Op.SharedPessimisticLock) {
        return Promise.resolve(
          errorResponse(toKeyError(otherError("mismatch Op in pessimistic lock mutations"))),
        );
      }
      keys.push({
        key: m.key,
        shouldNotExist: m.assertion === Assertion.NotExist,
        shared: m.op === Op.SharedPessimisticLock,
      });
    }
    if (forceLock && keys.length > 1) {
      return Promise.resolve(
        errorResponse(
          toKeyError(
            otherError(
              "multiple keys in a single request with allowed_lock_with_conflict set is not allowed",
            ),
          ),
        ),
      );
    }
    const params: AcquireParams = {
      primary: req.primaryLock,
      startTs: req.startVersion,
      lockTtl: req.lockTtl,
      forUpdateTs: req.forUpdateTs,
      needValue: req.returnValues,
      needCheckExistence: req.checkExistence,
      minCommitTs: req.minCommitTs,
      lockOnlyIfExists: req.lockOnlyIfExists,
      allowLockWithConflict: forceLock,
    };
    const exec = this.execute(keys, params);
    if (exec.kind === "done") {
      return Promise.resolve(
        forceLock ? forceLockResponse(exec.results.map(keyResultToPb)) : legacyResponse(exec.results),
      );
    }
    if (exec.kind === "failed") return Promise.resolve(errorResponse(exec.error));

    const timeout = waitTimeoutFromWire(req.waitTimeout);
    if (timeout.kind === "noWait")
      return Promise.resolve(this.failure(forceLock, toKeyError(locked(exec.lockInfo))));
    return new Promise((resolve) => {
      const blocked = exec.key;
      const waitStartedMs = this.lockManager.nowMs();
      const waiter: LockWaiter = {
        token: this.lockManager.allocateToken(),
        key: blocked.key,
        keyHash: keyHash(blocked.key),
        startTs: params.startTs,
        allowLockWithConflict: forceLock,
        isSharedLock: blocked.shared,
        isFirstLock: req.isFirstLock,
        resourceGroupTag: req.context?.resourceGroupTag ?? EMPTY,
        onOutcome: (o) => {
          const resp = this.afterWait(o, waiter, blocked, params);
          if (resp) resolve(withLockWaitTime(resp, this.lockManager.nowMs() - waitStartedMs));
        },
      };
      this.lockManager.waitFor(waiter, exec.lockInfo, timeout);
    });
  }

  /**
   * Locks all keys or none: the first key locked by another txn stops the command and
   * nothing is written (TiKV clears the txn and reports Waiting for that key). An exclusive
   * request meeting shared locks that still admit holders makes them shrink-only (the only
   * thing written) and fails at once with KeyIsLocked, whatever its wait timeout; a retry
   * then waits for the holders to leave.
   */
  private execute(keys: readonly KeyToLock[], params: AcquireParams): Execution {
    const reader = new MvccReader(this.store);
    const txn = new MvccTxn(params.startTs);
    const results: KeyLockResult[] = [];
    for (const k of keys) {
      try {
        results.push(
          acquirePessimisticLock(this.store, reader, txn, k.key, k.shouldNotExist, params, k.shared),
        );
      } catch (e) {
        if (e instanceof MvccError && e.inner.kind === "KeyIsLocked") {
          return { kind: "blocked", key: k, lockInfo: e.inner.lockInfo };
        }
        if (e instanceof MvccError && e.inner.kind === "NotInShrinkMode") {
          const shrinking = { ...e.inner.sharedLocks, shrinkOnly: true };
          const write = new MvccTxn(params.startTs);
          write.putSharedLocks(k.key, shrinking, false);
          this.store.write(write);
          return { kind: "failed", error: toKeyError(locked(sharedLocksToLockInfo(shrinking, k.key))) };
        }
        return { kind: "failed", error: toKeyError(e) };
      }
    }
    this.commitLocks(txn);
    return { kind: "done", results };
  }

  /** Applies the buffered locks and tells waiters on those keys who holds them now. */
  private commitLocks(txn: MvccTxn): void {
    if (txn.isEmpty) return;
    const fresh = txn.newLocks.map(({ key, lock }) => lockRecordToLockInfo(lock, key));
    this.store.write(txn);
    if (fresh.length > 0) this.lockManager.onLocksAcquired(fresh);
  }

  /** Turns the end of a wait into the response, or undefined while a resumed request waits again. */
  private afterWait(
    o: WaitOutcome,
    waiter: LockWaiter,
    blocked: KeyToLock,
    params: AcquireParams,
  ): PessimisticLockResponse | undefined {
    const force = params.allowLockWithConflict;
    switch (o.kind) {
      case "wokenUp":
        // A legacy request never retries by itself: the client retries with a new for_update_ts.
        return this.failure(
          force,
          toKeyError(
            new MvccError({
              kind: "WriteConflict",
              startTs: params.startTs,
              conflictStartTs: o.conflictStartTs,
              conflictCommitTs: o.conflictCommitTs,
              key: blocked.key,
              primary: params.primary,
              reason: WriteConflict_Reason.PessimisticRetry,
            }),
          ),
        );
      case "timeout":
        return this.failure(force, toKeyError(locked(o.lockInfo)));
      case "deadlock":
        return this.failure(
          force,
          toKeyError(
            new MvccError({
              kind: "Deadlock",
              startTs: params.startTs,
              deadlock: {
                lockTs: o.lockTs,
                lockKey: o.lockKey,
                deadlockKeyHash: o.deadlockKeyHash,
                waitChain: o.waitChain,
                deadlockKey: EMPTY,
              },
            }),
          ),
        );
      case "resume":
        return this.resume(waiter, blocked, params);
    }
  }

  /**
   * Retries a woken resumable request on its key (AcquirePessimisticLockResumed). As in TiKV,
   * the retry always asks for an exclusive lock, and meeting shared locks fails it with
   * KeyIsLocked instead of waiting again (nor are they made shrink-only).
   */
  private resume(
    waiter: LockWaiter,
    blocked: KeyToLock,
    params: AcquireParams,
  ): PessimisticLockResponse | undefined {
    const reader = new MvccReader(this.store);
    const txn = new MvccTxn(params.startTs);
    let result: KeyLockResult;
    try {
      result = acquirePessimisticLock(this.store, reader, txn, blocked.key, blocked.shouldNotExist, params);
    } catch (e) {
      const lockInfo =
        e instanceof MvccError && e.inner.kind === "KeyIsLocked"
          ? e.inner.lockInfo
          : e instanceof MvccError && e.inner.kind === "NotInShrinkMode"
            ? sharedLocksToLockInfo(e.inner.sharedLocks, blocked.key)
            : undefined;
      if (lockInfo && isSharedLockInfo(lockInfo)) {
        this.lockManager.finish(waiter);
        return forceLockResponse([failedKeyResult()], toKeyError(locked(lockInfo)));
      }
      if (lockInfo) {
        this.lockManager.requeue(waiter, lockInfo);
        return undefined;
      }
      this.lockManager.finish(waiter);
      return forceLockResponse([failedKeyResult()], toKeyError(e));
    }
    this.commitLocks(txn);
    this.lockManager.finish(waiter);
    return forceLockResponse([keyResultToPb(result)]);
  }

  /** A failed request: in ForceLock mode the key's result is Failed and the error rides along. */
  private failure(force: boolean, error: KeyError): PessimisticLockResponse {
    return force ? forceLockResponse([failedKeyResult()], error) : errorResponse(error);
  }
}

function locked(lockInfo: LockInfo): MvccError {
  return new MvccError({ kind: "KeyIsLocked", lockInfo });
}

function otherError(message: string): MvccError {
  return new MvccError({ kind: "Other", message });
}

/**
 * Reports how long the request waited for locks in exec_details_v2.write_detail, as TiKV's
 * waiter records pessimistic_lock_wait_nanos into the request tracker (tikv
 * src/server/lock_manager/waiter_manager.rs Waiter::cancel, components/tracker write_write_detail).
 * Measured on the lock manager's ms clock, from the start of the wait to the answer.
 */
function withLockWaitTime(resp: PessimisticLockResponse, waitedMs: number): PessimisticLockResponse {
  const nanos = BigInt(Math.max(0, Math.round(waitedMs * 1e6)));
  const details = ExecDetailsV2.fromPartial(resp.execDetailsV2 ?? {});
  details.writeDetail = WriteDetail.fromPartial({ ...details.writeDetail, pessimisticLockWaitNanos: nanos });
  resp.execDetailsV2 = details;
  return resp;
}
