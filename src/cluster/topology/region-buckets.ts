// Region buckets as TiKV's raftstore keeps them (components/raftstore/src/store/fsm/peer.rs
// on_refresh_region_buckets, store/util.rs gen_bucket_version): boundary keys from the region's
// start to its end, and a version whose high 32 bits are the leader's raft term and whose low
// bits count changes within that term. The topology models no raft terms, so the term is 1.
import { hex, TopologyError } from "./errors.js";
import type { RegionBuckets } from "./types.js";

/** The raft term the embedded cluster stamps into bucket versions (terms are not modelled). */
const TERM = 1n;

/**
 * The version after `current` (TiKV gen_bucket_version): `current + 1` within the same term,
 * otherwise `term << 32`. TiKV restarts the counter after a split or merge resets the buckets;
 * here `current` is the last version the region ever had, so versions only grow (PD drops a
 * report whose version is not newer, pkg/core CompareAndSetReportBuckets).
 */
export function nextBucketVersion(current: bigint): bigint {
  return current >> 32n === TERM ? current + 1n : TERM << 32n;
}

/**
 * The boundary list of a region `[start, end)` cut at `cuts`: `[start, ...sorted unique cuts, end]`.
 * Each cut must lie strictly inside the region (TopologyError INVALID_ARGUMENT otherwise).
 */
export function bucketBoundaries(start: Buffer, end: Buffer, cuts: readonly Buffer[]): Buffer[] {
  for (const k of cuts) {
    if (Buffer.compare(k, start) <= 0 || (end.length > 0 && Buffer.compare(k, end) >= 0)) {
      throw new TopologyError(
        "INVALID_ARGUMENT",
        `bucket key ${hex(k)} is not inside region [${hex(start)}, ${hex(end)})`,
      );
    }
  }
  const inner = [...new Map(cuts.map((k) => [k.toString("latin1"), k])).values()].sort(Buffer.compare);
  return [start, ...inner, end];
}

/** The cuts (inner boundaries) of `buckets`, or none. */
export function bucketCuts(buckets: RegionBuckets | undefined): Buffer[] {
  return buckets ? buckets.keys.slice(1, -1) : [];
}

/** True when both boundary lists are the same keys. */
export function sameBucketKeys(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((k, i) => k.equals(b[i] as Buffer));
}
