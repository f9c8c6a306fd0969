// TSO timestamps: a 64-bit value whose high 46 bits are a physical time in milliseconds since the
// Unix epoch and whose low 18 bits are a logical counter. Follows client-go oracle/oracle.go
// (ComposeTS, ExtractPhysical, ExtractLogical, GoTimeToTS, GetTimeFromTS) and the lock-expiry
// arithmetic of oracle/oracles/pd.go (IsExpired, UntilExpired).

import { InvalidArgumentError } from "../errors/base.js";

/** Number of logical bits in a timestamp. */
export const LOGICAL_BITS = 18;
/** Largest logical value (2^18 - 1). */
export const MAX_LOGICAL = (1 << LOGICAL_BITS) - 1;
/** Largest physical time in ms that fits in a timestamp (2^46 - 1). */
export const MAX_PHYSICAL_MS = 2 ** (64 - LOGICAL_BITS) - 1;
/** Largest timestamp (2^64 - 1); TiKV treats it as "read the latest". */
export const MAX_TS = (1n << 64n) - 1n;

const SHIFT = BigInt(LOGICAL_BITS);
const LOGICAL_MASK = BigInt(MAX_LOGICAL);

function checkTs(ts: bigint, argument: string): void {
  if (typeof ts !== "bigint") throw new InvalidArgumentError(`expected a bigint, got ${typeof ts}`, argument);
  if (ts < 0n || ts > MAX_TS) throw new InvalidArgumentError(`must be in [0, 2^64 - 1], got ${ts}`, argument);
}

/** Checks a read or lock timestamp argument: a positive bigint of at most 64 bits. */
export function checkPositiveTs(ts: unknown, argument: string): void {
  if (typeof ts !== "bigint" || ts <= 0n || ts > MAX_TS) {
    throw new InvalidArgumentError(`must be a positive 64-bit bigint timestamp, got ${String(ts)}`, argument);
  }
}

function checkInt(v: number, max: number, argument: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new InvalidArgumentError(`must be an integer in [0, ${max}], got ${String(v)}`, argument);
  }
}

/** Builds a timestamp from a physical time (ms) and a logical counter (client-go ComposeTS). */
export function composeTs(physicalMs: number, logical: number): bigint {
  checkInt(physicalMs, MAX_PHYSICAL_MS, "physicalMs");
  checkInt(logical, MAX_LOGICAL, "logical");
  return (BigInt(physicalMs) << SHIFT) | BigInt(logical);
}

/** The physical part (ms since the epoch) of a timestamp (client-go ExtractPhysical). */
export function physicalOf(ts: bigint): number {
  checkTs(ts, "ts");
  return Number(ts >> SHIFT);
}

/** The logical part of a timestamp (client-go ExtractLogical). */
export function logicalOf(ts: bigint): number {
  checkTs(ts, "ts");
  return Number(ts & LOGICAL_MASK);
}

/**
 * Moves a timestamp by `ms` milliseconds of physical time (negative moves back); the logical
 * part is kept. Throws InvalidArgumentError if the result leaves [0, 2^64 - 1].
 */
export function addMs(ts: bigint, ms: number): bigint {
  checkTs(ts, "ts");
  if (typeof ms !== "number" || !Number.isSafeInteger(ms)) {
    throw new InvalidArgumentError(`must be a safe integer, got ${String(ms)}`, "ms");
  }
  const out = ts + (BigInt(ms) << SHIFT);
  if (out < 0n || out > MAX_TS) {
    throw new InvalidArgumentError(`moving ts ${ts} by ${ms}ms leaves the timestamp range`, "ms");
  }
  return out;
}

/** Moves a timestamp `ms` milliseconds back; same as `addMs(ts, -ms)`. */
export function subtractMs(ts: bigint, ms: number): bigint {
  return addMs(ts, -ms);
}

/** The timestamp of a point in time, logical part 0 (client-go GoTimeToTS). */
export function tsFromDate(d: Date): bigint {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
    throw new InvalidArgumentError("expected a valid Date", "date");
  }
  return composeTs(d.getTime(), 0);
}

/** The timestamp of a time in ms since the epoch, logical part 0. */
export function tsFromMs(ms: number): bigint {
  return composeTs(ms, 0);
}

/** The point in time of a timestamp's physical part (client-go GetTimeFromTS). */
export function dateFromTs(ts: bigint): Date {
  return new Date(physicalOf(ts));
}

/**
 * Smallest start ts an uncommitted transaction can have if transactions take at most
 * `maxTxnTimeUseMs` (client-go GoTimeToLowerLimitStartTS).
 */
export function lowerLimitStartTs(now: Date, maxTxnTimeUseMs: number): bigint {
  return tsFromMs(now.getTime() - maxTxnTimeUseMs);
}

/**
 * Milliseconds until a lock with start ts `lockTs` and `ttlMs` expires, measured against the
 * timestamp `currentTs` (negative once expired); client-go pdOracle.UntilExpired.
 */
export function untilExpiredMs(lockTs: bigint, ttlMs: number | bigint, currentTs: bigint): number {
  return physicalOf(lockTs) + Number(ttlMs) - physicalOf(currentTs);
}

/** True when a lock with start ts `lockTs` and `ttlMs` has expired at `currentTs` (client-go pdOracle.IsExpired). */
export function isLockExpired(lockTs: bigint, ttlMs: number | bigint, currentTs: bigint): boolean {
  return untilExpiredMs(lockTs, ttlMs, currentTs) <= 0;
}
