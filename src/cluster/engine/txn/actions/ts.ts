import { TS_MAX } from "../../mvcc/types.js";

const LOGICAL_BITS = 18n;

/** Physical (ms) part of a TSO timestamp. */
export function physical(ts: bigint): bigint {
  return ts >> LOGICAL_BITS;
}

/** Whether a lock started at startTs with ttl (ms) has expired at currentTs (tikv: start + ttl < current). */
export function lockExpired(startTs: bigint, ttl: bigint, currentTs: bigint): boolean {
  return physical(startTs) + ttl < physical(currentTs);
}

/** The larger of two timestamps. */
export function maxTs(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Whether ts is TimeStamp::max() (u64::MAX). */
export function isMaxTs(ts: bigint): boolean {
  return ts === TS_MAX;
}
