// A store plus the pessimistic engine, with minimal stand-ins for prewrite / commit /
// rollback that write the MVCC records directly (the real commands belong to engine-txn;
// these only set up the states TiKV's tests build with must_prewrite_* / must_commit).
import { expect } from "vitest";
import {
  isSharedLocks,
  type Lock,
  MvccReader,
  MvccStore,
  MvccTxn,
  newLock,
  newRollback,
  newWrite,
  type SharedLocks,
  storeKey,
  writeTypeFromLockType,
} from "../../../../../src/cluster/engine/mvcc/index.js";
import { PessimisticEngine } from "../../../../../src/cluster/engine/txn/pessimistic/index.js";
import {
  Assertion,
  Op,
  PessimisticLockRequest,
  type PessimisticLockResponse,
  PessimisticLockWakeUpMode,
  PessimisticRollbackRequest,
} from "../../../../../src/proto/kvrpcpb.js";

export const b = (s: string): Buffer => Buffer.from(s);

/** Options of one KvPessimisticLock request in tests. */
export interface LockOpts {
  primary?: string;
  returnValues?: boolean;
  checkExistence?: boolean;
  lockOnlyIfExists?: boolean;
  shouldNotExist?: boolean;
  force?: boolean;
  waitTimeout?: bigint;
  isFirstLock?: boolean;
  ttl?: bigint;
  minCommitTs?: bigint;
  /** Op::SharedPessimisticLock instead of PessimisticLock. */
  shared?: boolean;
}

export function lockRequest(
  keys: string[],
  startTs: number,
  forUpdateTs: number,
  o: LockOpts = {},
): PessimisticLockRequest {
  return PessimisticLockRequest.fromPartial({
    mutations: keys.map((k) => ({
      op: o.shared ? Op.SharedPessimisticLock : Op.PessimisticLock,
      key: b(k),
      assertion: o.shouldNotExist ? Assertion.NotExist : Assertion.None,
    })),
    primaryLock: b(o.primary ?? keys[0] ?? ""),
    startVersion: BigInt(startTs),
    forUpdateTs: BigInt(forUpdateTs),
    lockTtl: o.ttl ?? 3000n,
    isFirstLock: o.isFirstLock ?? false,
    waitTimeout: o.waitTimeout ?? -1n,
    returnValues: o.returnValues ?? false,
    checkExistence: o.checkExistence ?? false,
    lockOnlyIfExists: o.lockOnlyIfExists ?? false,
    minCommitTs: o.minCommitTs ?? 0n,
    wakeUpMode: o.force
      ? PessimisticLockWakeUpMode.WakeUpModeForceLock
      : PessimisticLockWakeUpMode.WakeUpModeNormal,
  });
}

export class Fixture {
  readonly store = new MvccStore();
  readonly engine: PessimisticEngine;
  readonly reader = new MvccReader(this.store);

  constructor(now: () => number = () => Date.now()) {
    this.engine = new PessimisticEngine(this.store, { now });
  }

  lock(
    keys: string[],
    startTs: number,
    forUpdateTs: number,
    o: LockOpts = {},
  ): Promise<PessimisticLockResponse> {
    return this.engine.pessimisticLock(lockRequest(keys, startTs, forUpdateTs, o));
  }

  async mustLock(
    key: string,
    startTs: number,
    forUpdateTs: number,
    o: LockOpts = {},
  ): Promise<PessimisticLockResponse> {
    const r = await this.lock([key], startTs, forUpdateTs, o);
    expect(r.errors).toEqual([]);
    return r;
  }

  async lockErr(key: string, startTs: number, forUpdateTs: number, o: LockOpts = {}) {
    const r = await this.lock([key], startTs, forUpdateTs, o);
    expect(r.errors).toHaveLength(1);
    return r.errors[0] as NonNullable<(typeof r.errors)[0]>;
  }

  pessimisticRollback(key: string, startTs: number, forUpdateTs: number) {
    return this.engine.pessimisticRollback(
      PessimisticRollbackRequest.fromPartial({
        keys: [b(key)],
        startVersion: BigInt(startTs),
        forUpdateTs: BigInt(forUpdateTs),
      }),
    );
  }

  /** The exclusive lock of key (fails the test on shared locks). */
  lockOf(key: string): Lock | undefined {
    const r = this.reader.loadLock(b(key));
    if (r && isSharedLocks(r)) throw new Error(`${key} holds shared locks, not an exclusive lock`);
    return r;
  }

  /** The shared locks of key (fails the test on an exclusive lock). */
  sharedLocksOf(key: string): SharedLocks | undefined {
    const r = this.reader.loadLock(b(key));
    if (r && !isSharedLocks(r)) throw new Error(`${key} holds an exclusive lock, not shared locks`);
    return r;
  }

  mustPessimisticLocked(key: string, startTs: number, forUpdateTs: number): Lock {
    const l = this.lockOf(key);
    expect(l?.lockType).toBe("Pessimistic");
    expect(l?.startTs).toBe(BigInt(startTs));
    expect(l?.forUpdateTs).toBe(BigInt(forUpdateTs));
    return l as Lock;
  }

  /** Writes an optimistic (or, with forUpdateTs, pessimistic) prewrite lock. */
  prewrite(
    key: string,
    kind: "Put" | "Delete" | "Lock",
    startTs: number,
    value?: string,
    forUpdateTs = 0,
  ): void {
    const txn = new MvccTxn(BigInt(startTs));
    txn.putLock(
      b(key),
      newLock({
        lockType: kind,
        primary: b(key),
        startTs: BigInt(startTs),
        ttl: 3000n,
        shortValue: value === undefined ? undefined : b(value),
        forUpdateTs: BigInt(forUpdateTs),
      }),
      true,
    );
    this.store.write(txn);
  }

  /** Commits the txn's lock on key (releases it, waking waiters). */
  commit(key: string, startTs: number, commitTs: number): void {
    const lock = this.lockOf(key);
    if (!lock || lock.startTs !== BigInt(startTs)) throw new Error(`no lock of ${startTs} on ${key}`);
    const txn = new MvccTxn(BigInt(startTs));
    const wt = writeTypeFromLockType(lock.lockType);
    txn.unlockKey(b(key), lock.lockType === "Pessimistic", BigInt(commitTs));
    if (wt) txn.putWrite(b(key), BigInt(commitTs), newWrite(wt, BigInt(startTs), lock.shortValue));
    this.store.write(txn);
  }

  /** Prewrite + commit of a put / delete / lock. */
  put(
    key: string,
    value: string | undefined,
    startTs: number,
    commitTs: number,
    kind: "Put" | "Delete" | "Lock" = "Put",
  ) {
    this.prewrite(key, kind, startTs, value);
    this.commit(key, startTs, commitTs);
  }

  /**
   * Marks the write committed at `commitTs` as carrying an overlapped rollback with a GC
   * fence (tikv must_cleanup_with_gc_fence with without_target_write): `gcFence` is the
   * commit_ts of the next version, which is taken as already GC-ed; 0 = no newer version.
   */
  setGcFence(key: string, commitTs: number, gcFence: number): void {
    const v = this.reader.writesOf(b(key)).find((w) => w.commitTs === BigInt(commitTs));
    if (!v) throw new Error(`no write at ${commitTs} on ${key}`);
    this.store.putWrite(storeKey(b(key)), v.commitTs, {
      ...v.write,
      hasOverlappedRollback: true,
      gcFence: BigInt(gcFence),
    });
  }

  /** Rolls back start_ts on key: removes its lock if any and writes a rollback record. */
  rollback(key: string, startTs: number, isProtected = false): void {
    const lock = this.lockOf(key);
    const txn = new MvccTxn(BigInt(startTs));
    if (lock && lock.startTs === BigInt(startTs)) txn.unlockKey(b(key), lock.lockType === "Pessimistic", 0n);
    txn.putWrite(b(key), BigInt(startTs), newRollback(BigInt(startTs), isProtected));
    this.store.write(txn);
  }
}
