// Records of the three column families, modelled on tikv components/txn_types
// (lock.rs, write.rs, types.rs). Records are treated as immutable values: to change one,
// copy it (`{ ...lock, ttl }`) and put the copy through an MvccTxn.
import { type LockInfo, Op } from "../../../proto/kvrpcpb.js";

/** Values up to this many bytes are inlined in the lock / write record (tikv SHORT_VALUE_MAX_LEN). */
export const SHORT_VALUE_MAX_LEN = 255;

/** TiKV's TimeStamp::max(): reads at this ts ignore the primary lock of a non-async txn. */
export const TS_MAX = 0xffff_ffff_ffff_ffffn;

/** Whether a value is stored inline (short value) rather than in the default CF. */
export function isShortValue(value: Uint8Array): boolean {
  return value.length <= SHORT_VALUE_MAX_LEN;
}

/** Lock CF record type (tikv LockType; shared locks are not modelled). */
export type LockType = "Put" | "Delete" | "Lock" | "Pessimistic";

/** Write CF record type (tikv WriteType). */
export type WriteType = "Put" | "Delete" | "Lock" | "Rollback";

/** A lock CF record: key -> Lock. */
export interface Lock {
  readonly lockType: LockType;
  readonly primary: Buffer;
  /** start_ts of the owning transaction. */
  readonly startTs: bigint;
  readonly ttl: bigint;
  /** Inlined value (<= 255 bytes) of a Put lock; larger values live in the default CF. */
  readonly shortValue?: Buffer | undefined;
  /** Non-zero means the lock belongs to a pessimistic transaction. */
  readonly forUpdateTs: bigint;
  readonly txnSize: bigint;
  readonly minCommitTs: bigint;
  readonly useAsyncCommit: boolean;
  /** Only in memory: 1PC locks become writes directly and are never stored. */
  readonly useOnePc: boolean;
  /** Only set on the primary lock of an async-commit transaction. */
  readonly secondaries: readonly Buffer[];
  /** Start ts of protected rollbacks done on this key while this lock was held (async commit). */
  readonly rollbackTs: readonly bigint[];
  readonly txnSource: bigint;
  /** Pessimistic lock acquired in fair-lock mode despite a newer write. */
  readonly isLockedWithConflict: boolean;
  /** Pipelined-DML (Flush) generation; 0 for ordinary locks. */
  readonly generation: bigint;
  /** Lock written by a "txn file" transaction (reported back in LockInfo.is_txn_file). */
  readonly isTxnFile: boolean;
}

/** Fields of a new lock; the rest default to zero / false / empty. */
export interface LockInit {
  lockType: LockType;
  primary: Buffer;
  startTs: bigint;
  ttl?: bigint;
  shortValue?: Buffer | undefined;
  forUpdateTs?: bigint;
  txnSize?: bigint;
  minCommitTs?: bigint;
  useAsyncCommit?: boolean;
  useOnePc?: boolean;
  secondaries?: readonly Buffer[];
  rollbackTs?: readonly bigint[];
  txnSource?: bigint;
  isLockedWithConflict?: boolean;
  generation?: bigint;
  isTxnFile?: boolean;
}

/** Builds a lock with TiKV's defaults for unset fields. */
export function newLock(init: LockInit): Lock {
  return {
    lockType: init.lockType,
    primary: init.primary,
    startTs: init.startTs,
    ttl: init.ttl ?? 0n,
    shortValue: init.shortValue,
    forUpdateTs: init.forUpdateTs ?? 0n,
    txnSize: init.txnSize ?? 0n,
    minCommitTs: init.minCommitTs ?? 0n,
    useAsyncCommit: init.useAsyncCommit ?? false,
    useOnePc: init.useOnePc ?? false,
    secondaries: init.secondaries ?? [],
    rollbackTs: init.rollbackTs ?? [],
    txnSource: init.txnSource ?? 0n,
    isLockedWithConflict: init.isLockedWithConflict ?? false,
    generation: init.generation ?? 0n,
    isTxnFile: init.isTxnFile ?? false,
  };
}

/** True when the lock belongs to a pessimistic transaction (for_update_ts != 0). */
export function isPessimisticTxn(lock: Lock): boolean {
  return lock.forUpdateTs !== 0n;
}

/** True for a pessimistic (not yet prewritten) lock. */
export function isPessimisticLock(lock: Lock): boolean {
  return lock.lockType === "Pessimistic";
}

const LOCK_TYPE_TO_OP: Record<LockType, Op> = {
  Put: Op.Put,
  Delete: Op.Del,
  Lock: Op.Lock,
  Pessimistic: Op.PessimisticLock,
};

/** Op used for a lock type in LockInfo / MvccLock. */
export function lockTypeToOp(t: LockType): Op {
  return LOCK_TYPE_TO_OP[t];
}

/**
 * The LockInfo TiKV reports for a lock (tikv Lock::into_lock_info). TiKV leaves
 * duration_to_last_update_ms at 0; is_txn_file is reported for txn-file locks.
 */
export function lockToLockInfo(lock: Lock, key: Buffer): LockInfo {
  return {
    primaryLock: lock.primary,
    lockVersion: lock.startTs,
    key,
    lockTtl: lock.ttl,
    txnSize: lock.txnSize,
    lockType: lockTypeToOp(lock.lockType),
    lockForUpdateTs: lock.forUpdateTs,
    useAsyncCommit: lock.useAsyncCommit,
    minCommitTs: lock.minCommitTs,
    secondaries: [...lock.secondaries],
    durationToLastUpdateMs: 0n,
    sharedLockInfos: [],
    isTxnFile: lock.isTxnFile,
  };
}

/** A write CF record: (key, commit_ts) -> Write. */
export interface Write {
  readonly writeType: WriteType;
  readonly startTs: bigint;
  /** Inlined value of a Put (<= 255 bytes); for Rollback, "p" marks a protected rollback. */
  readonly shortValue?: Buffer | undefined;
  /** A rollback of the txn whose start_ts equals this record's commit_ts was merged in here. */
  readonly hasOverlappedRollback: boolean;
  /**
   * undefined: never rewritten; 0n: rewritten for an overlapped rollback with no newer
   * version; ts: rewritten, and the next Put/Delete version's commit_ts is ts.
   */
  readonly gcFence?: bigint | undefined;
  readonly txnSource: bigint;
}

/** Short value marking a rollback record that must not be collapsed (tikv write.rs). */
export const PROTECTED_ROLLBACK_SHORT_VALUE = Buffer.from("p");

/** Builds a write record. */
export function newWrite(writeType: WriteType, startTs: bigint, shortValue?: Buffer): Write {
  return { writeType, startTs, shortValue, hasOverlappedRollback: false, gcFence: undefined, txnSource: 0n };
}

/** Builds a rollback record, protected (never collapsed) or not. */
export function newRollback(startTs: bigint, isProtected: boolean): Write {
  return newWrite("Rollback", startTs, isProtected ? PROTECTED_ROLLBACK_SHORT_VALUE : undefined);
}

/** Whether a rollback record is protected from being collapsed. */
export function isProtectedRollback(w: Write): boolean {
  return (
    w.writeType === "Rollback" &&
    w.shortValue !== undefined &&
    w.shortValue.equals(PROTECTED_ROLLBACK_SHORT_VALUE)
  );
}

/** The write type a committed lock turns into; Pessimistic locks have none. */
export function writeTypeFromLockType(t: LockType): WriteType | undefined {
  return t === "Pessimistic" ? undefined : t;
}

/**
 * Whether a write found as the latest version at read_ts is valid given its GC fence
 * (tikv Write::check_gc_fence_as_latest_version).
 */
export function checkGcFenceAsLatestVersion(w: Write, readTs: bigint): boolean {
  return !(w.gcFence !== undefined && w.gcFence !== 0n && w.gcFence <= readTs);
}

/** A write record and its commit ts, as found by seeking the write CF. */
export interface WriteVersion {
  readonly commitTs: bigint;
  readonly write: Write;
}

/** A default CF value and its start ts. */
export interface ValueVersion {
  readonly startTs: bigint;
  readonly value: Buffer;
}

/** A lock removed by commit / rollback / resolve; feeds the lock-wait queue. */
export interface ReleasedLock {
  readonly key: Buffer;
  readonly startTs: bigint;
  /** 0n when the lock was rolled back. */
  readonly commitTs: bigint;
  readonly pessimistic: boolean;
}
