// Transaction: an optimistic transaction (client-go txnkv/transaction KVTxn): a buffer of writes
// over a snapshot at its start ts, committed by a committer actor. Thin: converts keys, checks
// the transaction is usable, and hands reads to the snapshot and commits to the committer.

import { attachTrace, type TxnTrace } from "../actors/observe/trace.js";
import type { TxnRecorder } from "../actors/observe/txn-recorder.js";
import { type CommitDetails, ExecDetails } from "../actors/runtime/exec-details.js";
import { unionScan } from "../actors/txn/union-scan.js";
import { AggressiveLockingError } from "../errors/aggressive-locking.js";
import { InvalidArgumentError } from "../errors/base.js";
import { SharedLockMisuseError } from "../errors/shared-lock.js";
import {
  CannotSetNilValueError,
  InvalidTxnError,
  KeyAlreadyExistsError,
  ResultUndeterminedError,
  WriteConflictError,
} from "../errors/txn.js";
import { type KeyInput, toKey, toKeys } from "../kv/key.js";
import {
  FlagsOp,
  hasLocked,
  hasLockedInShareMode,
  hasLockedValueExists,
  hasNeedCheckExists,
  hasPresumeKeyNotExists,
} from "../kv/memdb/key-flags.js";
import { MemDb } from "../kv/memdb/memdb.js";
import { LOCK_ALWAYS_WAIT, LOCK_NO_WAIT } from "../machines/pessimistic-policy.js";
import {
  type AggressiveLockedKey,
  AggressiveLockingSession,
  BackgroundReleases,
  type LockSessionControl,
  lockedKeyOps,
} from "./internal/aggressive-locking.js";
import { readThrough } from "./internal/read-through.js";
import type { CallOptions } from "./options.js";
import type { KvPair } from "./raw-client.js";
import { checkLimit, type Snapshot, type TxnScanOptions } from "./snapshot.js";

/** Where a transaction stands. */
export type TransactionState = "active" | "committing" | "committed" | "rolledBack" | "failed";

/** Size limits of a transaction's buffer (client-go TxnEntrySizeLimit / TxnTotalSizeLimit). */
export interface TxnSizeLimits {
  /** Largest key + value of one entry in bytes (default 6 MiB). */
  entrySizeLimit?: number;
  /** Largest total buffer size in bytes (default 100 MiB). */
  totalSizeLimit?: number;
}

/** How a transaction commits (client-go KVTxn SetEnableAsyncCommit / SetEnable1PC / SetCausalConsistency). */
export interface CommitProtocolOptions {
  /**
   * Try async commit: the transaction is committed once every prewrite succeeded (no separate
   * primary commit), within client-go's limits (256 keys, 4 KiB of keys); falls back to 2PC
   * when TiKV declines. Default false.
   */
  asyncCommit?: boolean;
  /** Try one-phase commit when every write fits one request to one region; falls back to 2PC. Default false. */
  onePC?: boolean;
  /**
   * With async commit / 1PC, skip the extra TSO that makes the commit ts exceed every ts handed
   * out before the commit (causal consistency instead of linearizability). Default false.
   */
  causalConsistency?: boolean;
  /**
   * How TiKV checks the `assert` of {@link Transaction.set} / {@link Transaction.delete}
   * (client-go SetAssertionLevel): `"off"` (default) sends no assertion; `"fast"` checks them
   * where it is cheap (and against this transaction's own pessimistic lock results); `"strict"`
   * checks every one, reading the key if needed. A failed check fails the commit with
   * AssertionFailedError.
   */
  assertionLevel?: AssertionLevelName;
  /**
   * Whether the writes may go on when TiKV's disk is (almost) full (client-go SetDiskFullOpt;
   * kvrpcpb.DiskFullOpt): `"notAllowed"` (default) fails them with a disk-full region error.
   */
  diskFullOpt?: "notAllowed" | "allowedOnAlmostFull" | "allowedOnAlreadyFull";
  /** The source of the writes carried to TiKV and CDC (client-go SetTxnSource; e.g. for loop detection). */
  txnSource?: bigint;
  /**
   * What a prewrite does when it meets another transaction's lock (client-go
   * PrewriteEncounterLockPolicy): `"tryResolve"` (default) resolves it and retries; `"noResolve"`
   * fails at once with a retryable WriteConflictError.
   */
  prewriteEncounterLockPolicy?: "tryResolve" | "noResolve";
  /**
   * Drops buffered pairs that need not be committed (client-go KVFilter): return true for a pair
   * to skip. A key this transaction locked is still committed as a lock.
   */
  kvFilter?: (key: Buffer, value: Buffer) => boolean;
  /**
   * Called once the commit settled (client-go SetCommitCallback): with how it went, and the
   * error if it failed. Errors thrown by the callback are ignored.
   */
  onCommitted?: (report: CommitReport, error: Error | undefined) => void;
  /**
   * Called around each background task of the transaction (client-go
   * SetBackgroundGoroutineLifecycleHooks): `before` as a task starts (committing the
   * secondaries, cleaning up after a failure, releasing pessimistic locks, resolving and
   * broadcasting a pipelined commit), `after` once it ended. Exceptions they throw are ignored.
   *
   * @example
   * ```ts
   * let running = 0;
   * const txn = await txns.begin({ lifecycleHooks: { before: () => running++, after: () => running-- } });
   * ```
   */
  lifecycleHooks?: { before?: () => void; after?: () => void };
  /**
   * The commit ts must be above this ts (client-go SetCommitWaitUntilTSO; e.g. a ts from another
   * cluster in active-active replication). When PD's TSO is behind, the commit waits for it up to
   * `commitWaitTimeoutMs`, and fails with CommitTsLagError when it lags more than that.
   */
  commitWaitUntilTs?: bigint;
  /** The longest wait for the TSO to pass `commitWaitUntilTs`, in ms (default 1000; 0 fails at once). */
  commitWaitTimeoutMs?: number;
}

/** What {@link CommitProtocolOptions.onCommitted} is told (client-go TxnInfo). */
export interface CommitReport {
  startTs: bigint;
  /** 0 when the commit failed. */
  commitTs: bigint;
  /** The protocol used, and the fallbacks taken (undefined when nothing was written). */
  info: CommitInfo | undefined;
  /** What the commit did (client-go CommitDetails; undefined when nothing was written or it failed). */
  details?: CommitDetails | undefined;
}

/** Assertion checking of a transaction's writes (kvrpcpb.AssertionLevel). */
export type AssertionLevelName = "off" | "fast" | "strict";

/** Options of {@link Transaction.set} / {@link Transaction.delete}. */
export interface WriteOptions {
  /**
   * What TiKV must find at prewrite (checked per the transaction's `assertionLevel`):
   * `"exist"`, `"notExist"`, `"unknown"` (no assertion can be made, and none will be added
   * later) or `"none"` (remove an earlier assertion).
   */
  assert?: "exist" | "notExist" | "unknown" | "none";
  /**
   * The key is presumed absent (client-go PresumeKeyNotExists): a value is written as an
   * Insert, which fails the commit with KeyAlreadyExistsError if the key exists.
   */
  presumeNotExists?: boolean;
}

const ASSERT_OPS: Record<NonNullable<WriteOptions["assert"]>, FlagsOp> = {
  exist: FlagsOp.setAssertExist,
  notExist: FlagsOp.setAssertNotExist,
  unknown: FlagsOp.setAssertUnknown,
  none: FlagsOp.setAssertNone,
};

// the flag operations a write's options ask for
/** @internal The flag operations a write's options ask for (validated). */
export function writeOps(o: WriteOptions | undefined): FlagsOp[] | undefined {
  if (o === undefined) return undefined;
  if (o === null || typeof o !== "object") throw new InvalidArgumentError("must be an object", "options");
  const ops: FlagsOp[] = [];
  if (o.assert !== undefined) {
    const op = ASSERT_OPS[o.assert];
    if (op === undefined) {
      throw new InvalidArgumentError(
        `must be exist, notExist, unknown or none, got ${String(o.assert)}`,
        "assert",
      );
    }
    ops.push(op);
  }
  if (o.presumeNotExists !== undefined && typeof o.presumeNotExists !== "boolean") {
    throw new InvalidArgumentError("must be a boolean", "presumeNotExists");
  }
  if (o.presumeNotExists) ops.push(FlagsOp.setPresumeKeyNotExists);
  return ops;
}

/** How a commit went: the protocol used and the fallbacks taken (client-go TxnInfo). */
export interface CommitInfo {
  mode: "2pc" | "asyncCommit" | "onePC";
  asyncCommitFallback: boolean;
  onePCFallback: boolean;
}

/** Options of {@link Transaction.lockKeys} (client-go LockCtx). */
export interface LockOptions {
  /**
   * How long to wait for locks other transactions hold, in ms (default 50 000, as TiDB's
   * innodb_lock_wait_timeout); `"forever"` waits as long as it takes.
   */
  waitTimeoutMs?: number | "forever";
  /** Fail at once with LockAcquireFailAndNoWaitSetError when a key is locked by another transaction. */
  noWait?: boolean;
  /** The for_update_ts of these locks (default: a fresh timestamp, so the locked values are the latest). */
  forUpdateTs?: bigint;
  /** Only lock keys that exist (client-go LockOnlyIfExists; needs returnValues). */
  lockOnlyIfExists?: boolean;
  /**
   * Learn whether each locked key exists, without its value (client-go LockCtx
   * InitCheckExistence): with an `assertionLevel`, the commit then checks `assert`s against it.
   */
  checkExistence?: boolean;
  /**
   * The statement's deadline, in epoch ms (client-go LockCtx MaxExecutionDeadline): TiKV-side
   * waits end there, and once it passed the call fails with AbortedError (signal 2) instead of
   * waiting or retrying.
   */
  maxExecutionDeadlineMs?: number;
  /**
   * Take shared pessimistic locks (client-go LockCtx.InShareMode; TiKV Op::SharedPessimisticLock):
   * several transactions may hold one key in share mode at once, and an exclusive lock waits for
   * all of them. Pessimistic transactions only (an optimistic one just marks the keys). Rules, as
   * client-go's: a shared lock is never the primary, so lock some key exclusively first
   * (else SharedLockMisuseError "needsPrimary"); a key held in share mode cannot be locked
   * exclusively later (SharedLockMisuseError "upgrade"), nor written (the commit fails with
   * TiKV's TxnAbortedError); a transaction holding shared locks commits with 2PC, never async
   * commit or 1PC.
   *
   * @example
   * ```ts
   * const txn = await txns.begin({ pessimistic: true });
   * await txn.lockKeys(["order:7"]); // exclusive: becomes the primary
   * const parent = await txn.getForUpdate("customer:3", { shared: true }); // others may share it
   * txn.set("order:7", JSON.stringify({ customer: 3 }));
   * await txn.commit();
   * ```
   */
  shared?: boolean;
  /** Cancels the wait. */
  signal?: AbortSignal;
  /**
   * Collects the lock requests' execution details (client-go LockKeysDetails: lock RPCs and
   * their time, backoffs by kind) into this object.
   */
  execDetails?: ExecDetails;
}

/** One pessimistic lock request of a transaction, as its client receives it. */
export interface LockRequest {
  forUpdateTs: bigint;
  isFirstLock: boolean;
  lockWaitMs: number;
  returnValues: boolean;
  checkExistence: boolean;
  lockOnlyIfExists: boolean;
  /** Shared pessimistic locks (Op::SharedPessimisticLock). */
  shared: boolean;
  /** Aggressive locking, one key: WakeUpModeForceLock (a newer version is locked with a conflict). */
  forceLock?: boolean;
  /** Aggressive locking chose the primary for this call: a failure gives it up. */
  ownsPrimary?: boolean;
  /** The statement's deadline (epoch ms), if any. */
  deadlineMs?: number | undefined;
  /** Keys this transaction presumes absent: their locks assert it (client-go PresumeKeyNotExists). */
  presumedAbsent: (key: Buffer) => boolean;
  /** Where the lock requests' execution details go (unset = not collected). */
  execDetails?: ExecDetails | undefined;
}

/** What a lock learned of a key (values / existence when asked; a ForceLock conflict's ts). */
export interface LockedKeyValue {
  value: Buffer | undefined;
  exists: boolean;
  /** Aggressive locking: non-zero when locked although a version was committed at this ts. */
  lockedWithConflictTs?: bigint;
}

/** What the pessimistic side of a transaction needs from its client. */
export interface PessimisticHost {
  /** Locks keys; resolves with what TiKV said of each (latin1 key -> value / existence). */
  lock(
    txn: Transaction,
    keys: Buffer[],
    opts: LockRequest,
    signal: AbortSignal | undefined,
  ): Promise<Map<string, LockedKeyValue>>;
  /** A fresh for_update_ts. */
  timestamp(): Promise<bigint>;
  /** Releases every lock of the transaction (rollback). */
  release(txn: Transaction, keys: Buffer[], forUpdateTs: bigint): Promise<void>;
  /** The primary / TTL controls of the transaction's committer (`create`: make it if absent). */
  control(txn: Transaction, create: boolean): LockSessionControl | undefined;
}

/** What a transaction needs from its client. */
export interface TransactionHost {
  commit(
    txn: Transaction,
    buffer: MemDb,
    signal?: AbortSignal,
  ): Promise<{ commitTs: bigint; info: CommitInfo | undefined; details?: CommitDetails | undefined }>;
  /** Pessimistic transactions only. */
  readonly pessimistic?: PessimisticHost;
}

/** client-go LockCtx default wait, as TiDB's innodb_lock_wait_timeout (ms). */
export const DEFAULT_LOCK_WAIT_MS = 50_000;
/** Lock attempts at fresh for_update_ts values after write conflicts, per lockKeys call. */
const MAX_LOCK_RETRIES = 64;

// what is left of a lock wait started at `start` (no-wait and forever stay as they are)
function remainingWait(lockWaitMs: number, start: number): number {
  if (lockWaitMs === LOCK_NO_WAIT || lockWaitMs === LOCK_ALWAYS_WAIT) return lockWaitMs;
  const left = lockWaitMs - (Date.now() - start);
  return left > 0 ? left : LOCK_NO_WAIT;
}

/**
 * An optimistic transaction. Reads see its own writes over a snapshot at {@link startTs};
 * writes stay in memory until {@link commit}, which fails with a typed, retryable
 * WriteConflictError when another transaction wrote the same keys after it started.
 * Use {@link TxnClient.runTransaction} to get retries done right.
 *
 * @example
 * ```ts
 * const txn = await txnClient.begin();
 * const balance = Number((await txn.get("acct:1"))?.toString() ?? "0");
 * txn.set("acct:1", String(balance - 10));
 * await txn.commit();
 * ```
 */
export class Transaction {
  private stateValue: TransactionState = "active";
  private commitTsValue = 0n;
  private forUpdateTsValue = 0n;
  private lockedAny = false;
  // aggressive locking: the open session, lock calls in flight, background releases, and the
  // lock for_update_ts each key must still have at prewrite (client-go forUpdateTSChecks)
  private aggressive: AggressiveLockingSession | undefined;
  private aggressiveDirty = false;
  private lockCalls = 0;
  private readonly releases = new BackgroundReleases();
  /** @internal keys (latin1) whose lock must still be at this for_update_ts when prewritten */
  readonly forUpdateTsChecks = new Map<string, bigint>();
  private commitInfoValue: CommitInfo | undefined;
  private commitDetailsValue: CommitDetails | undefined;
  /** @internal Set when the transaction is traced or observed (client.observe()); else undefined. */
  recorder: TxnRecorder | undefined;
  /** @internal */
  readonly buffer: MemDb;
  /** When the transaction began (ms since the epoch). */
  readonly startedAt = Date.now();

  /** @internal use TxnClient.begin */
  constructor(
    private readonly host: TransactionHost,
    /** The snapshot the transaction reads from. */
    readonly snapshot: Snapshot,
    limits: Required<TxnSizeLimits>,
    /** How the transaction commits. */
    readonly protocol: Readonly<CommitProtocolOptions> = {},
    /** True for a pessimistic transaction (locks taken by lockKeys / getForUpdate as it goes). */
    readonly pessimistic = false,
  ) {
    this.buffer = new MemDb();
    this.buffer.setEntrySizeLimit(limits.entrySizeLimit, limits.totalSizeLimit);
  }

  /** The start ts (the snapshot's read ts). */
  get startTs(): bigint {
    return this.snapshot.ts;
  }

  /** Pessimistic: the largest for_update_ts of the locks taken so far (0 before the first). */
  get forUpdateTs(): bigint {
    return this.forUpdateTsValue;
  }

  /**
   * Locks `keys` for this transaction (client-go LockKeys). In a pessimistic transaction each
   * key is locked on TiKV now, waiting up to `waitTimeoutMs` for other transactions' locks (typed
   * errors: LockWaitTimeoutError, LockAcquireFailAndNoWaitSetError, DeadlockError with the wait
   * chain, WriteConflictError when the key changed after `forUpdateTs`); keys this transaction
   * already locked are skipped. In an optimistic transaction the keys are only marked, and
   * their absence of change is checked at commit (as Lock mutations).
   *
   * @example
   * ```ts
   * const txn = await txns.begin({ pessimistic: true });
   * await txn.lockKeys(["acct:1", "acct:2"], { waitTimeoutMs: 2000 });
   * ```
   */
  async lockKeys(keys: readonly KeyInput[], options: LockOptions = {}): Promise<void> {
    await this.lockTracked(toKeys(keys), options, false);
  }

  /**
   * Locks `key` and reads its latest committed value (at the lock's for_update_ts): the
   * "SELECT ... FOR UPDATE" of a pessimistic transaction. Resolves with the value, or undefined
   * when the key does not exist (or this transaction deleted it).
   *
   * @example
   * ```ts
   * const v = await txn.getForUpdate("counter");
   * txn.set("counter", String(Number(v ?? 0) + 1));
   * ```
   */
  async getForUpdate(key: KeyInput, options: LockOptions = {}): Promise<Buffer | undefined> {
    const [v] = await this.batchGetForUpdate([key], options);
    return v;
  }

  /** {@link getForUpdate} for several keys, positional. */
  async batchGetForUpdate(
    keys: readonly KeyInput[],
    options: LockOptions = {},
  ): Promise<Array<Buffer | undefined>> {
    return this.lockTracked(toKeys(keys), options, true);
  }

  // aggressive locking's rules for a lock call, then the call, counted while in flight
  private async lockTracked(
    ks: Buffer[],
    options: LockOptions,
    returnValues: boolean,
  ): Promise<Array<Buffer | undefined>> {
    if (this.aggressive) {
      this.checkActive();
      const o = checkLockOptions(options);
      if (o.shared) {
        throw new AggressiveLockingError(
          "sharedLock",
          "shared locks are not supported in aggressive locking",
        );
      }
      this.refuseLockInFlight("an aggressive-locking lock call");
      // several keys: aggressive locking ends as done, and the keys are locked normally (client-go)
      if (ks.length > 1) this.endAggressiveLocking(this.aggressive, true);
    }
    this.lockCalls++;
    try {
      return await this.lockAndRead(ks, options, returnValues);
    } finally {
      this.lockCalls--;
    }
  }

  /**
   * Starts aggressive (fair) locking for the current statement (client-go
   * StartAggressiveLocking). A statement that meets a write conflict keeps the locks it took and
   * runs again; locks its retry needs again are then taken over without an RPC, and those it no
   * longer needs are released. Meanwhile each single-key {@link lockKeys} / {@link getForUpdate}
   * locks in TiKV's ForceLock mode: a newer committed version does not fail the lock, which is
   * taken anyway "with a conflict" (its value is read, see {@link aggressiveLockedKeys}); the
   * keys stay apart from the buffer until {@link doneAggressiveLocking}. A call locking several
   * keys ends aggressive locking as done first, and locks normally. Pessimistic transactions
   * only; shared locks are refused. Misuse fails with AggressiveLockingError.
   *
   * @example
   * ```ts
   * const txn = await txns.begin({ pessimistic: true });
   * txn.startAggressiveLocking();
   * for (;;) {
   *   const v = await txn.getForUpdate("counter");
   *   const conflict = txn.aggressiveLockedKeys().some((k) => k.lockedWithConflictTs > 0n);
   *   if (!conflict) break;
   *   txn.retryAggressiveLocking(); // run the statement again, at a fresh for_update_ts
   * }
   * txn.doneAggressiveLocking();
   * txn.set("counter", "42");
   * await txn.commit();
   * ```
   */
  startAggressiveLocking(): void {
    this.checkActive();
    if (!this.pessimistic) {
      throw new AggressiveLockingError("optimistic", "aggressive locking needs a pessimistic transaction");
    }
    if (this.aggressive)
      throw new AggressiveLockingError("alreadyStarted", "aggressive locking is already on");
    this.refuseLockInFlight("startAggressiveLocking");
    this.aggressive = new AggressiveLockingSession();
  }

  /**
   * Ends the current attempt of the statement and starts the next one (client-go
   * RetryAggressiveLocking): the keys locked so far count as locked by the previous attempt;
   * those the previous attempt locked and this one did not take over are released now.
   */
  retryAggressiveLocking(): void {
    const s = this.openSession("retryAggressiveLocking");
    const ctl = this.host.pessimistic?.control(this, false);
    const ownedPrimary = s.assignedPrimary;
    const unneeded = s.nextAttempt();
    if (!ctl) return; // nothing was ever locked
    this.releases.release(ctl, unneeded, this.releaseTs(s));
    // the next attempt may choose another primary; the old one is heartbeaten meanwhile
    if (ownedPrimary) ctl.resetPrimary(true);
  }

  /**
   * Ends aggressive locking, releasing every lock it took (client-go CancelAggressiveLocking);
   * a primary it chose is given up with its heartbeat.
   */
  cancelAggressiveLocking(): void {
    this.endAggressiveLocking(this.openSession("cancelAggressiveLocking"), false);
  }

  /**
   * Ends aggressive locking, keeping the locks of the last attempt as ordinary locks of the
   * transaction (client-go DoneAggressiveLocking); the previous attempt's unneeded locks are
   * released. The commit checks that each kept lock is still the one taken (prewrite
   * for_update_ts constraints).
   */
  doneAggressiveLocking(): void {
    this.endAggressiveLocking(this.openSession("doneAggressiveLocking"), true);
  }

  /** True between {@link startAggressiveLocking} and its done / cancel. */
  get isInAggressiveLockingMode(): boolean {
    return this.aggressive !== undefined;
  }

  /** The keys the current aggressive-locking attempt locked (empty when it is off). */
  aggressiveLockedKeys(): AggressiveLockedKey[] {
    return this.aggressive?.lockedKeys() ?? [];
  }

  /** @internal the committer's primary and TTL manager (tests) */
  get lockControl(): LockSessionControl | undefined {
    return this.host.pessimistic?.control(this, false);
  }

  private openSession(op: string): AggressiveLockingSession {
    this.checkActive();
    const s = this.aggressive;
    if (!s) throw new AggressiveLockingError("notStarted", `${op}: aggressive locking is not on`);
    this.refuseLockInFlight(op);
    return s;
  }

  // the session's bookkeeping assumes one lock call at a time (client-go holds txn.mu)
  private refuseLockInFlight(op: string): void {
    if (this.lockCalls > 0) {
      throw new AggressiveLockingError("lockInFlight", `${op}: a lock call of the transaction is in flight`);
    }
  }

  // commit and rollback: an aggressive session with locks must be done or cancelled first
  private closeIdleSession(op: string): void {
    const s = this.aggressive;
    if (!s) return;
    if (s.current.size > 0) {
      throw new AggressiveLockingError(
        "pending",
        `${op}: aggressive locking holds ${s.current.size} lock(s); call doneAggressiveLocking or cancelAggressiveLocking first`,
      );
    }
    this.endAggressiveLocking(s, false);
  }

  // a lock taken with a conflict holds a for_update_ts above the requested one: rollbacks use it
  private releaseTs(s: AggressiveLockingSession): bigint {
    return s.maxLockedWithConflictTs > this.forUpdateTsValue
      ? s.maxLockedWithConflictTs
      : this.forUpdateTsValue;
  }

  private releaseKeys(s: AggressiveLockingSession, keys: Buffer[]): void {
    const ctl = this.host.pessimistic?.control(this, false);
    if (ctl) this.releases.release(ctl, keys, this.releaseTs(s));
  }

  // done: the last attempt's locks join the buffer; cancel: they are released (client-go
  // DoneAggressiveLocking / CancelAggressiveLocking). The session ends first, whatever happens.
  private endAggressiveLocking(s: AggressiveLockingSession, done: boolean): void {
    this.aggressive = undefined;
    const ctl = this.host.pessimistic?.control(this, false);
    if (!ctl) return; // nothing was ever locked
    const ts = this.releaseTs(s);
    this.releases.release(ctl, s.takeLast(), ts);
    if (!done) {
      if (s.assignedPrimary || s.lastAssignedPrimary) ctl.resetPrimary(false);
      this.releases.release(
        ctl,
        s.doneEntries().map((e) => e.key),
        ts,
      );
      return;
    }
    // the last attempt locked no primary: the heartbeat of an earlier attempt's one stops
    if (s.lastAssignedPrimary && !s.assignedPrimary) ctl.stopTtl();
    for (const e of s.doneEntries()) {
      this.buffer.updateFlags(e.key, lockedKeyOps(e.existence));
      const k = e.key.toString("latin1");
      if (!this.forUpdateTsChecks.has(k)) this.forUpdateTsChecks.set(k, e.actualForUpdateTs);
    }
    // the kept locks' for_update_ts: the commit's min_commit_ts and a rollback must reach it
    if (s.maxLockedWithConflictTs > this.forUpdateTsValue) this.forUpdateTsValue = s.maxLockedWithConflictTs;
  }

  // keys already locked are not locked again (those the previous aggressive attempt locked may
  // be taken over); a key presumed absent whose lock found it fails (client-go LockKeys)
  private keysToLock(unique: readonly Buffer[]): Buffer[] {
    const todo: Buffer[] = [];
    for (const k of unique) {
      const flags = this.buffer.getFlags(k) ?? 0;
      const held = this.aggressive?.lockedIn(k);
      const locked = held !== undefined || hasLocked(flags);
      const exists = held ? held.existence === true : hasLockedValueExists(flags);
      if (!locked || held?.inLast) todo.push(k);
      if (locked && hasNeedCheckExists(flags) && exists) throw new KeyAlreadyExistsError(k);
    }
    return todo;
  }

  // aggressive locking before the RPC: choose the primary (the previous attempt's if among the
  // keys), take over what the previous attempt locked, and stop the heartbeat of a replaced
  // primary (client-go selectPrimaryForPessimisticLock, filterAggressiveLockedKeys,
  // resetTTLManagerForAggressiveLockingMode)
  private planAggressiveLock(
    s: AggressiveLockingSession,
    host: PessimisticHost,
    keys: Buffer[],
    forUpdateTs: bigint,
    returnValues: boolean,
    checkExistence: boolean,
  ): { toLock: Buffer[]; fromLast: Buffer[]; ownsPrimary: boolean } {
    s.checkRetryTs(this.startTs, keys, forUpdateTs);
    const ctl = host.control(this, true) as LockSessionControl;
    let ownsPrimary = false;
    if (ctl.primary === undefined) {
      ctl.assignPrimary(s.choosePrimary(keys));
      ownsPrimary = true;
    }
    const { toLock, fromLast } = s.filter(keys, returnValues, checkExistence);
    const replaced = s.primary !== undefined && !(s.lastPrimary?.equals(s.primary) ?? false);
    if (toLock.length > 0 && ownsPrimary && replaced) ctl.stopTtl();
    return { toLock, fromLast, ownsPrimary };
  }

  private async lockAndRead(
    ks: Buffer[],
    options: LockOptions,
    returnValues: boolean,
  ): Promise<Array<Buffer | undefined>> {
    this.checkActive();
    const o = checkLockOptions(options);
    const out = new Array<Buffer | undefined>(ks.length).fill(undefined);
    const host = this.host.pessimistic;
    if (!this.pessimistic || host === undefined) {
      // optimistic: mark the keys; the commit checks them (client-go: flags only, no RPC)
      for (const k of ks) this.buffer.updateFlags(k, [FlagsOp.setKeyLocked]);
      if (returnValues) return this.batchGet(ks, { signal: o.signal });
      return out;
    }
    // a key held in share mode cannot become exclusive (client-go: upgrading is not supported)
    if (!o.shared) {
      const held = ks.find((k) => hasLockedInShareMode(this.buffer.getFlags(k) ?? 0));
      if (held) throw new SharedLockMisuseError("upgrade", held);
    }
    // sorted and deduplicated; keys this transaction already locked are not locked again
    const unique = [...new Map(ks.map((k) => [k.toString("latin1"), k])).values()].sort(Buffer.compare);
    let todo = this.keysToLock(unique);
    let forUpdateTs = o.forUpdateTs ?? (await host.timestamp());
    let learned = new Map<string, LockedKeyValue>();
    const session = this.aggressive;
    let plan: { ownsPrimary: boolean; fromLast: Buffer[] } | undefined;
    if (session && todo.length > 0) {
      const p = this.planAggressiveLock(session, host, todo, forUpdateTs, returnValues, o.checkExistence);
      todo = p.toLock;
      plan = p;
    }
    await this.releases.settled(todo);
    if (todo.length > 0) {
      const isFirstLock = !this.lockedAny && todo.length === 1;
      const waitStart = Date.now();
      for (let attempt = 1; ; attempt++) {
        try {
          learned = await host.lock(
            this,
            todo,
            {
              forUpdateTs,
              isFirstLock,
              lockWaitMs: remainingWait(o.lockWaitMs, waitStart),
              returnValues,
              checkExistence: o.checkExistence,
              lockOnlyIfExists: o.lockOnlyIfExists,
              shared: o.shared,
              forceLock: session !== undefined && todo.length === 1,
              ownsPrimary: plan?.ownsPrimary ?? false,
              deadlineMs: o.deadlineMs,
              presumedAbsent: (k) => hasPresumeKeyNotExists(this.buffer.getFlags(k) ?? 0),
              execDetails: o.execDetails,
            },
            o.signal,
          );
          break;
        } catch (e) {
          // refused before anything was sent: the keys are as they were
          if (e instanceof SharedLockMisuseError) throw e;
          // the presumption failed or is unproven: later locks of these keys do not assert it
          for (const k of todo) {
            if (hasPresumeKeyNotExists(this.buffer.getFlags(k) ?? 0)) {
              this.buffer.updateFlags(k, [FlagsOp.delPresumeKeyNotExists]);
            }
          }
          // a key changed after this lock's for_update_ts (typically: we waited for its holder,
          // which then committed): lock again at a fresh ts, as TiDB retries the statement. Not
          // when the caller fixed the for_update_ts, nor past the wait budget.
          if (
            !(e instanceof WriteConflictError) ||
            o.forUpdateTs !== undefined ||
            attempt >= MAX_LOCK_RETRIES ||
            remainingWait(o.lockWaitMs, waitStart) === LOCK_NO_WAIT
          ) {
            // keys the previous aggressive attempt locked are ours still: release them
            if (session && plan && plan.fromLast.length > 0) this.releaseKeys(session, plan.fromLast);
            throw e;
          }
          forUpdateTs = await host.timestamp();
        }
      }
      this.lockedAny = true;
      if (forUpdateTs > this.forUpdateTsValue) this.forUpdateTsValue = forUpdateTs;
      for (const k of todo) {
        const got = learned.get(k.toString("latin1"));
        // lock-only-if-exists leaves absent keys unlocked
        if (o.lockOnlyIfExists && got && !got.exists) continue;
        // aggressive locking keeps its locks apart until done
        if (session) {
          session.record(k, got, forUpdateTs, { returnValues, checkExistence: o.checkExistence });
          this.aggressiveDirty = true;
          continue;
        }
        const ops: FlagsOp[] = [
          ...lockedKeyOps(got?.exists),
          o.shared ? FlagsOp.setKeyLockedInShareMode : FlagsOp.setKeyLockedInExclusiveMode,
        ];
        this.buffer.updateFlags(k, ops);
      }
    }
    if (!returnValues) return out;
    // keys the aggressive session took over from its previous attempt: what their lock read
    if (session) {
      for (const k of ks) {
        const v = session.valueOf(k);
        if (v.found && !learned.has(k.toString("latin1"))) {
          learned.set(k.toString("latin1"), { value: v.value, exists: v.value !== undefined });
        }
      }
    }
    for (const [i, k] of ks.entries()) {
      // the transaction's own writes come first, then what the lock read
      const own = this.buffer.get(k);
      if (own !== undefined) out[i] = own.length === 0 ? undefined : own;
      else out[i] = learned.get(k.toString("latin1"))?.value;
    }
    // keys locked earlier were not read again: read them at the latest for_update_ts
    const missing = ks
      .map((k, i) => [k, i] as const)
      .filter(
        ([k, i]) =>
          out[i] === undefined && !learned.has(k.toString("latin1")) && this.buffer.get(k) === undefined,
      );
    if (missing.length > 0) {
      const snap = await this.snapshotAt(this.forUpdateTsValue);
      const vs = await snap.batchGet(
        missing.map(([k]) => k),
        { signal: o.signal },
      );
      missing.forEach(([, i], j) => {
        out[i] = vs[j];
      });
    }
    return out;
  }

  /** @internal a snapshot at another ts with this transaction's read options */
  snapshotAt: (ts: bigint) => Promise<Snapshot> = async () => this.snapshot;

  /** The commit ts once committed, 0 before. */
  get commitTs(): bigint {
    return this.commitTsValue;
  }

  /** The protocol the commit used and its fallbacks (undefined before commit, or for a read-only one). */
  get commitInfo(): CommitInfo | undefined {
    return this.commitInfoValue;
  }

  /**
   * What the commit did (client-go CommitDetails): phase times, keys and bytes written, regions
   * and requests of the prewrite, backoffs, the slowest prewrite request. Undefined before the
   * commit, when it failed, or when nothing was written.
   *
   * @example
   * ```ts
   * await txn.commit();
   * const d = txn.commitDetails;
   * console.log(d?.prewriteTimeMs, d?.writeKeys, d?.prewriteRegionNum);
   * ```
   */
  get commitDetails(): CommitDetails | undefined {
    return this.commitDetailsValue;
  }

  /** Where the transaction stands. */
  get state(): TransactionState {
    return this.stateValue;
  }

  /** True while no write was buffered and aggressive locking locked nothing (client-go IsReadOnly). */
  get isReadOnly(): boolean {
    return !this.buffer.dirty && !this.aggressiveDirty;
  }

  /** Number of buffered keys (client-go Len). */
  get len(): number {
    return this.buffer.len;
  }

  /** Bytes of buffered keys and values (client-go Size). */
  get size(): number {
    return this.buffer.size;
  }

  /** Estimated bytes the client holds for this transaction's buffer (client-go Mem). */
  get memoryFootprint(): number {
    return this.buffer.mem;
  }

  /**
   * Calls `hook(bytes)` whenever {@link memoryFootprint} changes (client-go
   * SetMemoryFootprintChangeHook), e.g. to enforce a memory quota: an exception it throws reaches
   * the write that caused it (the write itself is applied). `undefined` removes it; a non-function
   * gets InvalidArgumentError.
   *
   * @example
   * ```ts
   * txn.onMemoryFootprintChange((bytes) => {
   *   if (bytes > 64 * 1024 * 1024) throw new Error("statement uses too much memory");
   * });
   * ```
   */
  onMemoryFootprintChange(hook: ((bytes: number) => void) | undefined): void {
    this.buffer.setMemoryFootprintChangeHook(hook);
  }

  /**
   * The value of `key` as this transaction sees it: its own write, else the snapshot's value.
   *
   * @example
   * ```ts
   * const v = await txn.get("k"); // undefined when absent or deleted here
   * ```
   */
  async get(key: KeyInput, options?: CallOptions): Promise<Buffer | undefined> {
    this.checkActive();
    const k = toKey(key);
    const own = this.buffer.get(k);
    if (own !== undefined) return own.length === 0 ? undefined : own;
    return this.snapshot.get(k, options);
  }

  /** The values of `keys`, positional: buffered writes win, buffered deletes read as undefined. */
  async batchGet(keys: readonly KeyInput[], options?: CallOptions): Promise<Array<Buffer | undefined>> {
    this.checkActive();
    const ks = toKeys(keys);
    return readThrough(
      ks,
      (i) => this.buffer.get(ks[i] as Buffer),
      (rest) => this.snapshot.batchGet(rest, options),
    );
  }

  /**
   * Buffers a write of `value` to `key`. An empty value is refused (client-go
   * ErrCannotSetNilValue): TiKV has no empty values in transactions; use {@link delete}.
   *
   * @example
   * ```ts
   * txn.set("user:1", JSON.stringify({ name: "Ada" }));
   * ```
   */
  set(key: KeyInput, value: KeyInput, options?: WriteOptions): void {
    this.checkActive();
    const k = toKey(key);
    const v = toKey(value, "value");
    if (v.length === 0) throw new CannotSetNilValueError();
    this.buffer.set(k, v, writeOps(options));
  }

  /**
   * Buffers a delete of `key`.
   *
   * @example
   * ```ts
   * txn.delete("user:1", { assert: "exist" }); // with assertionLevel "strict": fails if absent
   * ```
   */
  delete(key: KeyInput, options?: WriteOptions): void {
    this.checkActive();
    this.buffer.delete(toKey(key), writeOps(options));
  }

  /** Up to `limit` pairs of `[start, end)` as this transaction sees them (empty end = unbounded). */
  async scan(start: KeyInput, end: KeyInput, limit: number, options?: TxnScanOptions): Promise<KvPair[]> {
    checkLimit(limit);
    const out: KvPair[] = [];
    if (limit === 0) return out;
    for await (const p of this.iterate(start, end, options)) {
      out.push(p);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Every pair of `[start, end)` as this transaction sees them, in key order: buffered writes
   * win over the snapshot and buffered deletes are hidden. Writes made while iterating are seen
   * when they are ahead of the cursor.
   *
   * @example
   * ```ts
   * for await (const { key, value } of txn.iterate("cart:", "cart;")) total += Number(value);
   * ```
   */
  iterate(start: KeyInput, end: KeyInput, options?: TxnScanOptions): AsyncGenerator<KvPair, void, undefined> {
    return this.union(start, end, false, options);
  }

  /** Every pair of `[start, end)` in descending key order (end must not be empty). */
  iterateReverse(
    start: KeyInput,
    end: KeyInput,
    options?: TxnScanOptions,
  ): AsyncGenerator<KvPair, void, undefined> {
    return this.union(start, end, true, options);
  }

  /**
   * Commits: prewrites every write, then commits the primary key; resolves with the commit ts
   * (secondary keys are committed in the background). A transaction that wrote nothing commits
   * at once without any RPC. Fails with WriteConflictError / KeyAlreadyExistsError (retryable
   * ones have `isRetryable`), or ResultUndeterminedError when the outcome is unknown.
   *
   * `signal` interrupts the prewrite phase only (client-go's kill signal): a 2PC commit aborted
   * there fails with AbortedError and its prewrites are rolled back; an async-commit or 1PC
   * prewrite already sent may commit by itself, so aborting it gives ResultUndeterminedError.
   * Once the primary commit is under way the commit is not interrupted: it ends with a definite
   * answer (or an undetermined one, as without a signal).
   *
   * @example
   * ```ts
   * await txn.commit({ signal: AbortSignal.timeout(5_000) });
   * ```
   */
  async commit(options: { signal?: AbortSignal } = {}): Promise<bigint> {
    this.checkActive();
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError("must be an object", "options");
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidArgumentError("must be an AbortSignal", "signal");
    }
    this.closeIdleSession("commit");
    this.stateValue = "committing";
    try {
      const { commitTs, info, details } = await this.host.commit(this, this.buffer, options.signal);
      this.commitTsValue = commitTs;
      this.commitInfoValue = info;
      this.commitDetailsValue = details;
      this.stateValue = "committed";
      this.recorder?.committed({ commitTs, info });
      this.report(undefined);
      return commitTs;
    } catch (e) {
      this.stateValue = "failed";
      const rec = this.recorder;
      if (rec) {
        rec.rolledBack(e, e instanceof ResultUndeterminedError);
        // a traced transaction's failure carries its path (traceOf(error))
        const t = rec.trace();
        if (t && e instanceof Error) attachTrace(e, t);
      }
      this.report(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  }

  /**
   * The path this transaction took so far, as a JSON-safe trace (states of its committer, RPCs
   * and their outcomes, backoffs, locks met, timings); undefined unless it began with
   * `trace: true`. Render it with `npx tikv-ts inspect trace.json --out trace.html`.
   *
   * @example
   * ```ts
   * const txn = await client.txn().begin({ trace: true });
   * txn.set("k", "v");
   * await txn.commit();
   * writeFileSync("trace.json", JSON.stringify(txn.trace()));
   * ```
   */
  trace(): TxnTrace | undefined {
    return this.recorder?.trace();
  }

  // the commit callback sees every settled commit; its own failures are not the commit's
  private report(error: Error | undefined): void {
    const cb = this.protocol.onCommitted;
    if (!cb) return;
    try {
      cb(
        {
          startTs: this.startTs,
          commitTs: this.commitTsValue,
          info: this.commitInfoValue,
          details: this.commitDetailsValue,
        },
        error,
      );
    } catch {
      // ignored: documented
    }
  }

  /**
   * Discards the buffered writes; a pessimistic transaction also releases the locks it holds
   * (PessimisticRollback). Nothing was sent to TiKV for an optimistic transaction.
   */
  async rollback(): Promise<void> {
    if (this.stateValue !== "active") {
      if (this.stateValue === "rolledBack" || this.stateValue === "failed") return;
      throw new InvalidTxnError(`transaction ${this.startTs} is ${this.stateValue}`);
    }
    this.closeIdleSession("rollback");
    this.stateValue = "rolledBack";
    this.recorder?.rolledBack(undefined);
    const host = this.host.pessimistic;
    if (this.pessimistic && host !== undefined) {
      // also ends the committer of a transaction whose locks all failed
      const locked: Buffer[] = [];
      for (const e of this.buffer.iterateWithFlags()) if (hasLocked(e.flags)) locked.push(e.key);
      await host.release(this, locked, this.forUpdateTsValue);
    }
    this.buffer.reset();
  }

  private union(start: KeyInput, end: KeyInput, reverse: boolean, options?: TxnScanOptions) {
    this.checkActive();
    const s = toKey(start, "start");
    const e = toKey(end, "end");
    const remote = this.snapshot.pairs(s, e, 0, reverse, options);
    return unionScan(this.buffer, remote, s, e, reverse);
  }

  /** @internal Throws InvalidTxnError unless the transaction is active. */
  protected checkActive(): void {
    if (this.stateValue !== "active") {
      throw new InvalidTxnError(`transaction ${this.startTs} is ${this.stateValue}`);
    }
  }
}

/** @internal Validates lock options (typed errors) and resolves their defaults. */
export function checkLockOptions(o: LockOptions): {
  lockWaitMs: number;
  forUpdateTs: bigint | undefined;
  lockOnlyIfExists: boolean;
  checkExistence: boolean;
  shared: boolean;
  deadlineMs: number | undefined;
  signal: AbortSignal | undefined;
  execDetails: ExecDetails | undefined;
} {
  if (o === null || typeof o !== "object") throw new InvalidArgumentError("must be an object", "options");
  let lockWaitMs = DEFAULT_LOCK_WAIT_MS;
  if (o.noWait) lockWaitMs = LOCK_NO_WAIT;
  else if (o.waitTimeoutMs === "forever") lockWaitMs = LOCK_ALWAYS_WAIT;
  else if (o.waitTimeoutMs !== undefined) {
    if (typeof o.waitTimeoutMs !== "number" || !Number.isInteger(o.waitTimeoutMs) || o.waitTimeoutMs < 0) {
      throw new InvalidArgumentError(
        `must be a non-negative integer or "forever", got ${String(o.waitTimeoutMs)}`,
        "waitTimeoutMs",
      );
    }
    lockWaitMs = o.waitTimeoutMs === 0 ? LOCK_NO_WAIT : o.waitTimeoutMs;
  }
  if (o.forUpdateTs !== undefined && (typeof o.forUpdateTs !== "bigint" || o.forUpdateTs <= 0n)) {
    throw new InvalidArgumentError("must be a positive bigint timestamp", "forUpdateTs");
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new InvalidArgumentError("must be an AbortSignal", "signal");
  if (o.execDetails !== undefined && !(o.execDetails instanceof ExecDetails))
    throw new InvalidArgumentError("must be an ExecDetails", "execDetails");
  const d = o.maxExecutionDeadlineMs;
  if (d !== undefined && (typeof d !== "number" || !Number.isFinite(d) || d <= 0)) {
    throw new InvalidArgumentError("must be a positive epoch-ms number", "maxExecutionDeadlineMs");
  }
  for (const k of ["lockOnlyIfExists", "checkExistence", "noWait", "shared"] as const) {
    if (o[k] !== undefined && typeof o[k] !== "boolean")
      throw new InvalidArgumentError("must be a boolean", k);
  }
  return {
    lockWaitMs,
    forUpdateTs: o.forUpdateTs,
    lockOnlyIfExists: !!o.lockOnlyIfExists,
    checkExistence: !!o.checkExistence,
    shared: !!o.shared,
    deadlineMs: o.maxExecutionDeadlineMs,
    signal: o.signal,
    execDetails: o.execDetails,
  };
}
