/**
 * Request validation done by TiKV's storage layer before a raw command runs:
 * API version / key mode, column family, key size and TTL permission.
 * Semantics follow tikv src/storage/mod.rs (`check_api_version`,
 * `check_api_version_ranges`, `rawkv_cf`, `check_key_size!`,
 * `check_ttl_valid`, `check_key_ranges`) and components/api_version/src/api_v2.rs
 * (`parse_key_mode`, `parse_range_mode`).
 */
import { APIVersion, type KeyRange } from "../../../proto/kvrpcpb.js";
import {
  apiVersionNotMatched,
  cfDeprecated,
  invalidCf,
  invalidKeyMode,
  invalidKeyRangeMode,
  keyTooLarge,
  type RawCommandKind,
  ttlLenNotEqualsToPairs,
  ttlNotEnabled,
} from "./raw-errors.js";

/** The raw column families TiKV accepts under API V1/V1TTL. */
export type RawCfName = "default" | "lock" | "write";

/** API V2 raw-mode key prefix ('r'). */
export const RAW_KEY_PREFIX = 0x72;

/** TiKV's default `storage.max-key-size` (8 KiB). */
export const DEFAULT_MAX_KEY_SIZE = 8 * 1024;

/**
 * The request's API version. rust-protobuf decodes an unknown enum value as the
 * field's default, so TiKV sees anything but V1TTL/V2/V3 as V1.
 */
export function requestApiVersion(req: { context?: { apiVersion: APIVersion } | undefined }): APIVersion {
  const v = req.context?.apiVersion;
  return v === APIVersion.V1TTL || v === APIVersion.V2 || v === APIVersion.V3 ? v : APIVersion.V1;
}

/**
 * Checks a raw request's API version against the storage's, and under V2 that
 * each key is in raw mode. Raw requests are accepted as V1 on V1 and V1TTL
 * storage, and as V2 on V2 storage; every other combination is a mismatch.
 */
export function checkApiVersion(
  storage: APIVersion,
  request: APIVersion,
  cmd: RawCommandKind,
  keys: readonly Uint8Array[],
): void {
  if (request === APIVersion.V1 && (storage === APIVersion.V1 || storage === APIVersion.V1TTL)) {
    return;
  }
  if (storage === APIVersion.V2 && request === APIVersion.V2) {
    for (const key of keys) {
      if (key.length === 0 || key[0] !== RAW_KEY_PREFIX) throw invalidKeyMode(cmd, storage, key);
    }
    return;
  }
  throw apiVersionNotMatched(cmd, storage, request);
}

/** Single-key form of `checkApiVersion` that allocates nothing on the fast path. */
export function checkApiVersionKey(
  storage: APIVersion,
  request: APIVersion,
  cmd: RawCommandKind,
  key: Uint8Array,
): void {
  if (request === APIVersion.V1 && (storage === APIVersion.V1 || storage === APIVersion.V1TTL)) {
    return;
  }
  checkApiVersion(storage, request, cmd, [key]);
}

/** A range as TiKV checks it: `undefined` stands for Rust's `None` (unbounded). */
export type CheckedRange = readonly [start: Uint8Array | undefined, end: Uint8Array | undefined];

/** API V2's `parse_range_mode(...) == KeyMode::Raw`. */
function isRawRange(start: Uint8Array | undefined, end: Uint8Array | undefined): boolean {
  if (start === undefined || end === undefined || start.length === 0 || end.length === 0) {
    return false;
  }
  // Both ends share the mode byte, or end is exactly the next mode byte ("r".."s").
  const sameMode = start[0] === end[0] || (end.length === 1 && end[0] === start[0]! + 1);
  return sameMode && start[0] === RAW_KEY_PREFIX;
}

/** Range form of `checkApiVersion`. */
export function checkApiVersionRanges(
  storage: APIVersion,
  request: APIVersion,
  cmd: RawCommandKind,
  ranges: readonly CheckedRange[],
): void {
  if (request === APIVersion.V1 && (storage === APIVersion.V1 || storage === APIVersion.V1TTL)) {
    return;
  }
  if (storage === APIVersion.V2 && request === APIVersion.V2) {
    for (const [start, end] of ranges) {
      if (!isRawRange(start, end)) throw invalidKeyRangeMode(cmd, storage, start, end);
    }
    return;
  }
  throw apiVersionNotMatched(cmd, storage, request);
}

/** Maps a request's `cf` to a column family: "" = default; V2 forbids naming one. */
export function rawkvCf(storage: APIVersion, cf: string): RawCfName {
  if (cf === "") return "default";
  if (storage === APIVersion.V2) throw cfDeprecated(cf);
  if (cf === "default" || cf === "lock" || cf === "write") return cf;
  throw invalidCf(cf);
}

/** TiKV's `check_key_size!`: every key must be at most `limit` bytes. */
export function checkKeySize(keys: readonly Uint8Array[], limit: number): void {
  for (const key of keys) {
    if (key.length > limit) throw keyTooLarge(key.length, limit);
  }
}

/** True when the storage keeps TTLs (V1TTL and V2; plain V1 does not). */
export function isTtlEnabled(storage: APIVersion): boolean {
  return storage === APIVersion.V1TTL || storage === APIVersion.V2;
}

/** A single TTL is only allowed on TTL-enabled storage. */
export function checkTtlAllowed(storage: APIVersion, ttl: bigint): void {
  if (ttl !== 0n && !isTtlEnabled(storage)) throw ttlNotEnabled();
}

/**
 * TiKV's `check_ttl_valid`: without TTL support every TTL must be 0; with it
 * there must be exactly one TTL per pair.
 */
export function checkTtlsValid(storage: APIVersion, pairCount: number, ttls: readonly bigint[]): void {
  if (!isTtlEnabled(storage)) {
    if (ttls.some((t) => t !== 0n)) throw ttlNotEnabled();
  } else if (ttls.length !== pairCount) {
    throw ttlLenNotEqualsToPairs();
  }
}

/**
 * TiKV's `check_key_ranges` for batch scan: each range must be non-empty in the
 * scan direction; a range with an empty end is bounded by the next range's start.
 */
export function checkKeyRanges(ranges: readonly KeyRange[], reverse: boolean): boolean {
  for (let i = 0; i < ranges.length; i++) {
    const start = ranges[i]!.startKey;
    let end = ranges[i]!.endKey;
    if (end.length === 0 && i + 1 !== ranges.length) end = ranges[i + 1]!.startKey;
    if (end.length === 0) continue;
    const cmp = Buffer.compare(start, end);
    if ((!reverse && cmp >= 0) || (reverse && cmp <= 0)) return false;
  }
  return true;
}
