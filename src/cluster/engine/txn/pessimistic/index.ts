// Pessimistic transactions of the embedded cluster's txn engine: KvPessimisticLock with
// lock waiting, wake-up and deadlock detection, and KvPessimisticRollback.
import type {
  LockInfo,
  PessimisticLockRequest,
  PessimisticLockResponse,
  PessimisticRollbackRequest,
  PessimisticRollbackResponse,
} from "../../../../proto/kvrpcpb.js";
import type { MvccStore } from "../../mvcc/index.js";
import { LockManager, type LockManagerOptions } from "./lock-manager.js";
import { PessimisticLockCommand } from "./pessimistic-lock.js";
import { type KeyRange, pessimisticRollback } from "./pessimistic-rollback.js";

export {
  type AcquireParams,
  acquirePessimisticLock,
  checkDataConstraint,
  type KeyLockResult,
} from "./acquire.js";
export { DeadlockDetector, type DetectedDeadlock } from "./deadlock-detector.js";
export { keyHash } from "./key-hash.js";
export { LockManager, type LockManagerOptions, type LockWaiter, type WaitOutcome } from "./lock-manager.js";
export { LockWaitQueues } from "./lock-wait-queue.js";
export type { KeyRange } from "./pessimistic-rollback.js";
export { globalTimers, type Timers } from "./timers.js";
export {
  DEFAULT_WAIT_FOR_LOCK_TIMEOUT_MS,
  DEFAULT_WAKE_UP_DELAY_MS,
  type WaitTimeout,
  waitTimeoutFromWire,
} from "./wait-timeout.js";

/** Options of {@link PessimisticEngine}: timers, clock and TiKV's lock-manager settings. */
export type PessimisticEngineOptions = LockManagerOptions;

/**
 * The pessimistic part of the txn engine, bound to the engine's store. TxnEngine delegates
 * `pessimisticLock` / `pessimisticRollback` here; locks released by any command wake the
 * waiters through the store's lock-release hook.
 */
export class PessimisticEngine {
  readonly lockManager: LockManager;
  private readonly lockCommand: PessimisticLockCommand;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: MvccStore,
    opts: PessimisticEngineOptions = {},
  ) {
    this.lockManager = new LockManager(opts);
    this.lockCommand = new PessimisticLockCommand(store, this.lockManager);
    this.unsubscribe = store.onLocksReleased((released) => this.lockManager.onLocksReleased(released));
  }

  /** KvPessimisticLock; resolves after waiting for locks when the request allows it. */
  pessimisticLock(req: PessimisticLockRequest): Promise<PessimisticLockResponse> {
    return this.lockCommand.run(req);
  }

  /** KvPessimisticRollback; without keys, rolls back the txn's pessimistic locks in `range`. */
  pessimisticRollback(req: PessimisticRollbackRequest, range?: KeyRange): PessimisticRollbackResponse {
    return pessimisticRollback(this.store, req, range);
  }

  /**
   * Tells waiters that other commands (e.g. prewrite) created locks on their keys, so they
   * wait for (and detect deadlocks against) the new holder, as TiKV's update_lock_wait does.
   */
  onLocksAcquired(locks: readonly LockInfo[]): void {
    this.lockManager.onLocksAcquired(locks);
  }

  /** Ends all waits and timers and detaches from the store. */
  close(): void {
    this.unsubscribe();
    this.lockManager.close();
  }
}
