// Key -> bucket lookups on a cached region (client-go internal/locate/region_cache.go
// KeyLocation.locateBucket / LocateBucket / clampBucketToRegion). Buckets may be stale: their
// keys can lie outside the region, so the strict lookup may find none and the lenient one
// clamps to the region's range.
import type { Buckets } from "../../proto/metapb.js";

/** One bucket: `[startKey, endKey)`, empty end = +inf. */
export interface Bucket {
  readonly startKey: Buffer;
  readonly endKey: Buffer;
}

/** The part of a region a bucket lookup needs. */
export interface BucketedRange {
  readonly startKey: Buffer;
  readonly endKey: Buffer;
  readonly buckets: Buckets | undefined;
}

/** True when `key` lies in `[start, end)` (empty end = +inf). */
function inRange(start: Buffer, end: Buffer, key: Uint8Array): boolean {
  return Buffer.compare(start, key) <= 0 && (end.length === 0 || Buffer.compare(key, end) < 0);
}

/** True when `key` lies in the bucket. */
export function bucketContains(b: Bucket, key: Uint8Array): boolean {
  return inRange(b.startKey, b.endKey, key);
}

/**
 * The bucket holding `key` by the bucket keys alone, or undefined when the keys do not cover it
 * (stale buckets, or a key before the first / at or after the last key; client-go locateBucket).
 */
export function findBucket(buckets: Buckets | undefined, key: Uint8Array): Bucket | undefined {
  const keys = buckets?.keys ?? [];
  const last = keys.length - 1;
  if (last < 1) return undefined;
  // first i in [0, last) with key < keys[i]; `last` when none
  let lo = 0;
  let hi = last;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (Buffer.compare(key, keys[mid] as Buffer) < 0) hi = mid;
    else lo = mid + 1;
  }
  const lastKey = keys[last] as Buffer;
  if (lo === 0 || (lo === last && lastKey.length > 0 && Buffer.compare(key, lastKey) >= 0)) return undefined;
  return { startKey: keys[lo - 1] as Buffer, endKey: keys[lo] as Buffer };
}

/**
 * `bucket` cut to the region's range; the whole region when the cut leaves nothing (client-go
 * clampBucketToRegion, a guard against stale bucket keys).
 */
export function clampBucket(region: BucketedRange, bucket: Bucket): Bucket {
  let start = bucket.startKey;
  let end = bucket.endKey;
  if (Buffer.compare(start, region.startKey) < 0) start = region.startKey;
  if (region.endKey.length > 0 && (end.length === 0 || Buffer.compare(end, region.endKey) > 0))
    end = region.endKey;
  if (end.length > 0 && Buffer.compare(start, end) >= 0)
    return { startKey: region.startKey, endKey: region.endKey };
  return start === bucket.startKey && end === bucket.endKey ? bucket : { startKey: start, endKey: end };
}

/**
 * The bucket of `region` holding `key`, or undefined when the key is outside the region
 * (client-go LocateBucket). A key the bucket keys do not cover gets the gap between the region's
 * edge and the nearest bucket key; a region without buckets is one bucket.
 *
 * @example
 * const b = locateBucket(cache.tryLocateKey(key)!, key); // { startKey, endKey }
 */
export function locateBucket(region: BucketedRange, key: Uint8Array): Bucket | undefined {
  const found = findBucket(region.buckets, key);
  if (found) return clampBucket(region, found);
  if (!inRange(region.startKey, region.endKey, key)) return undefined;
  const keys = region.buckets?.keys ?? [];
  if (keys.length === 0) return { startKey: region.startKey, endKey: region.endKey };
  const first = keys[0] as Buffer;
  if (Buffer.compare(key, first) < 0) return { startKey: region.startKey, endKey: first };
  return { startKey: keys[keys.length - 1] as Buffer, endKey: region.endKey };
}
