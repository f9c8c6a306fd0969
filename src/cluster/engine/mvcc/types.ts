// Records of the three column families, modelled on tikv components/txn_types
// (lock.rs, write.rs, types.rs). Records are treated as immutable values: to change one,
// copy it (`{ ...lock, ttl }`) and put the copy through an MvccTxn.
import { LockInfo, Op } from "../../../proto/kvrpcpb.js";

/** Values up to this many bytes are inlined in the lock / write record (tikv SHORT_VALUE_MAX_LEN). */
export const SHORT_VALUE_MAX_LEN = 255;

/** TiKV's TimeStamp::max(): reads at this ts ignore the primary lock of a non-async txn. */
export const TS_MAX = 0xffff_ffff_ffff_ffffn;

/** Whether a value is stored inline (short value) rather than in the default CF. */
export function isShortValue(value: Uint8Array): boolean {
  return value.length <= SHORT_VALUE_MAX_LEN;
}

/**
 * Type of an exclusive lock, or of one holder's sub-lock inside {@link SharedLocks} (tikv
 * LockType; TiKV's `Shared` type is the container, modelled by SharedLocks itself).
 */
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

/**
 * The lock CF record of a key locked in shared mode by one or more txns (tikv SharedLocks).
 * Each holder has a sub-lock: Pessimistic while acquired, Lock once prewritten (Op::SharedLock).
 */
export interface SharedLocks {
  readonly lockType: "Shared";
  /**
   * Set (for good) by the first exclusive request that meets the shared locks: no new holder
   * may join, so the exclusive request can wait for the current holders to leave.
   */
  readonly shrinkOnly: boolean;
  /** One sub-lock per holder, by start_ts ascending (TiKV keeps a hash map; we keep an order). */
  readonly locks: readonly Lock[];
}

/** What the lock CF holds for a key: one exclusive lock, or shared locks (tikv LockOrSharedLocks). */
export type LockRecord = Lock | SharedLocks;

/** True when the record holds shared locks. */
export function isSharedLocks(r: LockRecord): r is SharedLocks {
  return r.lockType === "Shared";
}

/** An empty, non-shrink-only shared-lock record. */
export function newSharedLocks(): SharedLocks {
  return { lockType: "Shared", shrinkOnly: false, locks: [] };
}

/** The sub-lock of the txn started at startTs, if it holds one. */
export function sharedLockOf(s: SharedLocks, startTs: bigint): Lock | undefined {
  return s.locks.find((l) => l.startTs === startTs);
}

/** A copy with `lock` inserted, or replacing the sub-lock of the same start_ts. */
export function withSharedLock(s: SharedLocks, lock: Lock): SharedLocks {
  const locks = s.locks.filter((l) => l.startTs !== lock.startTs);
  let i = locks.length;
  while (i > 0 && (locks[i - 1] as Lock).startTs > lock.startTs) i--;
  locks.splice(i, 0, lock);
  return { ...s, locks };
}

/** A copy without the sub-lock of startTs. */
export function withoutSharedLock(s: SharedLocks, startTs: bigint): SharedLocks {
  return { ...s, locks: s.locks.filter((l) => l.startTs !== startTs) };
}

/**
 * The LockInfo TiKV reports for shared locks (tikv SharedLocks::into_lock_info): lock_type
 * SharedLock, the key, and one LockInfo per holder in shared_lock_infos; every other field is
 * left at its default (no primary, lock_version 0, ttl 0).
 */
export function sharedLocksToLockInfo(s: SharedLocks, key: Buffer): LockInfo {
  return LockInfo.fromPartial({
    key,
    lockType: Op.SharedLock,
    sharedLockInfos: s.locks.map((l) => lockToLockInfo(l, key)),
  });
}

/** The LockInfo of an exclusive lock or of shared locks. */
export function lockRecordToLockInfo(r: LockRecord, key: Buffer): LockInfo {
  return isSharedLocks(r) ? sharedLocksToLockInfo(r, key) : lockToLockInfo(r, key);
}

/** The start_ts of every txn a lock info stands for: the holders of shared locks, else the owner. */
export function lockInfoHolders(info: LockInfo): bigint[] {
  return info.lockType === Op.SharedLock
    ? info.sharedLockInfos.map((l) => l.lockVersion)
    : [info.lockVersion];
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
