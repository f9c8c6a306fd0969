/**
 * The embedded cluster's raw key-value storage, shared by all mock stores.
 *
 * One method per TiKV raw command: it takes the ts-proto request and returns
 * the ts-proto response the way TiKV fills it (tikv src/server/service/kv.rs
 * `future_raw_*`, src/storage/mod.rs `raw_*`, src/storage/raw/store.rs). Region
 * checks (epoch, leader, key in region) belong to the server layer; scans take
 * the region's key range so they stop at the region boundary like TiKV's
 * region snapshot does.
 *
 * Raw data lives apart from the transactional engine's data. Keys are the
 * bytes on the wire (under API V2 they carry the 'r' + keyspace prefix).
 * Written buffers are copied; buffers in responses are shared with the store
 * and must not be mutated by the caller.
 */

import {
  APIVersion,
  type KeyError,
  type KeyRange,
  type KvPair,
  type RawBatchDeleteRequest,
  type RawBatchDeleteResponse,
  type RawBatchGetRequest,
  type RawBatchGetResponse,
  type RawBatchPutRequest,
  type RawBatchPutResponse,
  type RawBatchScanRequest,
  type RawBatchScanResponse,
  type RawCASRequest,
  type RawCASResponse,
  type RawChecksumRequest,
  type RawChecksumResponse,
  type RawDeleteRangeRequest,
  type RawDeleteRangeResponse,
  type RawDeleteRequest,
  type RawDeleteResponse,
  type RawGetKeyTTLRequest,
  type RawGetKeyTTLResponse,
  type RawGetRequest,
  type RawGetResponse,
  type RawPutRequest,
  type RawPutResponse,
  type RawScanRequest,
  type RawScanResponse,
} from "../../../proto/kvrpcpb.js";
import { Crc64Xz } from "./crc64.js";
import {
  type CheckedRange,
  checkApiVersion,
  checkApiVersionKey,
  checkApiVersionRanges,
  checkKeyRanges,
  checkKeySize,
  checkTtlAllowed,
  checkTtlsValid,
  DEFAULT_MAX_KEY_SIZE,
  type RawCfName,
  rawkvCf,
  requestApiVersion,
} from "./raw-checks.js";
import { indexKey, RawColumn } from "./raw-column.js";
import { otherError, RawStorageError } from "./raw-errors.js";

/** Options of `RawEngine`. */
export interface RawEngineOptions {
  /** Wall clock in milliseconds since the epoch (TTL expiry); defaults to `Date.now`. */
  now?: () => number;
  /**
   * The storage's `storage.api-version` (TiKV default V1). V1 has no TTL; V1TTL
   * accepts V1 requests and keeps TTLs; V2 accepts only V2 requests with 'r' keys.
   */
  apiVersion?: APIVersion;
  /** `storage.max-key-size` in bytes (TiKV default 8 KiB). */
  maxKeySize?: number;
}

/** A region's key range (user keys as on the wire; empty end = unbounded). */
export interface RegionKeyRange {
  start: Buffer;
  end: Buffer;
}

const EMPTY = Buffer.alloc(0);
const U64_MAX = (1n << 64n) - 1n;

function displayOf(e: unknown): string {
  if (e instanceof RawStorageError) return e.display;
  throw e;
}

/** The single KvPair TiKV answers with when a whole read fails (`extract_kv_pairs`). */
function errorPairs(e: unknown): KvPair[] {
  if (!(e instanceof RawStorageError)) throw e;
  const error: KeyError = { retryable: "", abort: e.debug };
  return [{ error, key: EMPTY, value: EMPTY, commitTs: 0n }];
}

function pair(key: Buffer, value: Buffer): KvPair {
  return { error: undefined, key, value, commitTs: 0n };
}

/** Clamps a scan's lower bound to the region start. */
function maxLower(a: string, regionStart: string | undefined): string {
  return regionStart !== undefined && regionStart > a ? regionStart : a;
}

/** Clamps an optional upper bound to the region end (undefined = unbounded). */
function minUpper(a: string | undefined, regionEnd: string | undefined): string | undefined {
  if (a === undefined) return regionEnd;
  if (regionEnd === undefined) return a;
  return regionEnd < a ? regionEnd : a;
}

interface RegionBounds {
  start: string | undefined;
  end: string | undefined;
}

function regionBounds(range: RegionKeyRange | undefined): RegionBounds {
  if (range === undefined) return { start: undefined, end: undefined };
  return {
    start: range.start.length === 0 ? undefined : indexKey(range.start),
    end: range.end.length === 0 ? undefined : indexKey(range.end),
  };
}

/** In-memory raw KV storage with TiKV's raw command semantics. */
export class RawEngine {
  /** The storage API version this engine emulates. */
  readonly apiVersion: APIVersion;
  /** Maximum key size in bytes for writes. */
  readonly maxKeySize: number;
  private readonly now: () => number;
  /** TiKV's `ttl_current_ts`: whole Unix seconds (a field so it can be passed without binding). */
  private readonly nowSec = (): number => Math.floor(this.now() / 1000);
  private readonly cfs: Record<RawCfName, RawColumn> = {
    default: new RawColumn(),
    lock: new RawColumn(),
    write: new RawColumn(),
  };

  constructor(options: RawEngineOptions = {}) {
    const v = options.apiVersion ?? APIVersion.V1;
    if (v !== APIVersion.V1 && v !== APIVersion.V1TTL && v !== APIVersion.V2) {
      throw new RangeError(`RawEngine: unsupported storage API version ${v}`);
    }
    this.apiVersion = v;
    this.maxKeySize = options.maxKeySize ?? DEFAULT_MAX_KEY_SIZE;
    this.now = options.now ?? Date.now;
  }

  /** TiKV's `ttl_to_expire_ts`: 0 = no expiry, else now + ttl saturating at u64::MAX. */
  private expireTs(ttl: bigint): bigint | undefined {
    if (ttl === 0n) return undefined;
    const ts = ttl + BigInt(this.nowSec());
    return ts > U64_MAX ? U64_MAX : ts;
  }

  /** Writes one pair; the value is copied because callers may reuse their buffers. */
  private write(col: RawColumn, key: Buffer, value: Buffer, expireTs: bigint | undefined): void {
    col.put(key, Buffer.from(value), expireTs);
  }

  /** The visible value of `key` in `col`, or undefined when absent or expired. */
  private liveValue(col: RawColumn, key: Buffer): Buffer | undefined {
    return col.get(indexKey(key), this.nowSec);
  }

  /** RawGet: the value, or `notFound`. */
  rawGet(req: RawGetRequest): RawGetResponse {
    try {
      checkApiVersionKey(this.apiVersion, requestApiVersion(req), "raw_get", req.key);
      const col = this.cfs[rawkvCf(this.apiVersion, req.cf)];
      const value = this.liveValue(col, req.key);
      if (value === undefined) return { regionError: undefined, error: "", value: EMPTY, notFound: true };
      return { regionError: undefined, error: "", value, notFound: false };
    } catch (e) {
      return { regionError: undefined, error: displayOf(e), value: EMPTY, notFound: false };
    }
  }

  /** RawBatchGet: pairs for the keys that exist, in request order (missing keys are omitted). */
  rawBatchGet(req: RawBatchGetRequest): RawBatchGetResponse {
    try {
      checkApiVersion(this.apiVersion, requestApiVersion(req), "raw_batch_get", req.keys);
      const col = this.cfs[rawkvCf(this.apiVersion, req.cf)];
      const pairs: KvPair[] = [];
      for (const key of req.keys) {
        const value = this.liveValue(col, key);
        if (value !== undefined) pairs.push(pair(key, value));
      }
      return { regionError: undefined, pairs };
    } catch (e) {
      return { regionError: undefined, pairs: errorPairs(e) };
    }
  }

  /** RawPut (or, with `forCas`, TiKV's atomic store path, which skips the key size check). */
  rawPut(req: RawPutRequest): RawPutResponse {
    try {
      const api = requestApiVersion(req);
      let cf: RawCfName;
      if (req.forCas) {
        checkApiVersionKey(this.apiVersion, api, "raw_atomic_store", req.key);
        cf = rawkvCf(this.apiVersion, req.cf);
        checkTtlsValid(this.apiVersion, 1, [req.ttl]);
      } else {
        checkApiVersionKey(this.apiVersion, api, "raw_put", req.key);
        checkKeySize([req.key], this.maxKeySize);
        checkTtlAllowed(this.apiVersion, req.ttl);
        cf = rawkvCf(this.apiVersion, req.cf);
      }
      this.write(this.cfs[cf], req.key, req.value, this.expireTs(req.ttl));
      return { regionError: undefined, error: "" };
    } catch (e) {
      return { regionError: undefined, error: displayOf(e) };
    }
  }

  /** RawBatchPut: `ttls` empty = no TTL, one TTL = for every pair, else one per pair. */
  rawBatchPut(req: RawBatchPutRequest): RawBatchPutResponse {
    try {
      const n = req.pairs.length;
      // Normalisation done by TiKV's kv.rs for old clients that send a single TTL.
      const ttls =
        req.ttls.length === 0
          ? new Array<bigint>(n).fill(0n)
          : req.ttls.length === 1
            ? new Array<bigint>(n).fill(req.ttls[0]!)
            : req.ttls;
      const keys = req.pairs.map((p) => p.key);
      const api = requestApiVersion(req);
      let cf: RawCfName;
      if (req.forCas) {
        checkApiVersion(this.apiVersion, api, "raw_atomic_store", keys);
        cf = rawkvCf(this.apiVersion, req.cf);
        checkTtlsValid(this.apiVersion, n, ttls);
      } else {
        checkApiVersion(this.apiVersion, api, "raw_batch_put", keys);
        cf = rawkvCf(this.apiVersion, req.cf);
        checkKeySize(keys, this.maxKeySize);
        checkTtlsValid(this.apiVersion, n, ttls);
      }
      const col = this.cfs[cf];
      // TiKV zips pairs with ttls, so surplus pairs (possible only without TTL support) are dropped.
      const count = Math.min(n, ttls.length);
      for (let i = 0; i < count; i++) {
        const p = req.pairs[i]!;
        this.write(col, p.key, p.value, this.expireTs(ttls[i]!));
      }
      return { regionError: undefined, error: "" };
    } catch (e) {
      return { regionError: undefined, error: displayOf(e) };
    }
  }

  /** RawDelete (with `forCas`: the atomic store path, no key size check). */
  rawDelete(req: RawDeleteRequest): RawDeleteResponse {
    try {
      const api = requestApiVersion(req);
      let cf: RawCfName;
      if (req.forCas) {
        checkApiVersionKey(this.apiVersion, api, "raw_atomic_store", req.key);
        cf = rawkvCf(this.apiVersion, req.cf);
      } else {
        checkApiVersionKey(this.apiVersion, api, "raw_delete", req.key);
        checkKeySize([req.key], this.maxKeySize);
        cf = rawkvCf(this.apiVersion, req.cf);
      }
      this.cfs[cf].delete(indexKey(req.key));
      return { regionError: undefined, error: "" };
    } catch (e) {
      return { regionError: undefined, error: displayOf(e) };
    }
  }

  /** RawBatchDelete (with `forCas`: the atomic store path, no key size check). */
  rawBatchDelete(req: RawBatchDeleteRequest): RawBatchDeleteResponse {
    try {
      const api = requestApiVersion(req);
      let cf: RawCfName;
      if (req.forCas) {
        checkApiVersion(this.apiVersion, api, "raw_atomic_store", req.keys);
        cf = rawkvCf(this.apiVersion, req.cf);
      } else {
        checkApiVersion(this.apiVersion, api, "raw_batch_delete", req.keys);
        cf = rawkvCf(this.apiVersion, req.cf);
        checkKeySize(req.keys, this.maxKeySize);
      }
      const col = this.cfs[cf];
      for (const key of req.keys) col.delete(indexKey(key));
      return { regionError: undefined, error: "" };
    } catch (e) {
      return { regionError: undefined, error: displayOf(e) };
    }
  }

  /**
   * The storage-layer checks TiKV makes on a RawDeleteRange before it reaches raft (key size,
   * API version, column family; tikv src/storage/mod.rs raw_delete_range). Returns the error
   * text the response carries, or "" when the request may be proposed. The server layer runs
   * it before its apply-time range checks, to keep TiKV's order.
   */
  validateRawDeleteRange(req: RawDeleteRangeRequest): string {
    try {
      checkKeySize([req.startKey, req.endKey], this.maxKeySize);
      checkApiVersionRanges(this.apiVersion, requestApiVersion(req), "raw_delete_range", [
        [req.startKey, req.endKey],
      ]);
      rawkvCf(this.apiVersion, req.cf);
      return "";
    } catch (e) {
      return displayOf(e);
    }
  }

  /**
   * RawDeleteRange over [startKey, endKey); an empty end key means unbounded. An empty or
   * inverted range (end not above start) deletes nothing. The region-level rejections TiKV's
   * apply makes (end outside the region, start not below end) are the server layer's job
   * (src/cluster/tikv/apply-checks.ts), so this never sets region_error.
   */
  rawDeleteRange(req: RawDeleteRangeRequest): RawDeleteRangeResponse {
    const error = this.validateRawDeleteRange(req);
    if (error !== "") return { regionError: undefined, error };
    if (req.endKey.length > 0 && Buffer.compare(req.startKey, req.endKey) >= 0) {
      return { regionError: undefined, error: "" };
    }
    const cf = rawkvCf(this.apiVersion, req.cf);
    const end = req.endKey.length === 0 ? undefined : indexKey(req.endKey);
    this.cfs[cf].deleteRange(indexKey(req.startKey), end);
    return { regionError: undefined, error: "" };
  }

  /**
   * Forward scan of [start, end) or reverse scan of [end, start) (start is the
   * exclusive upper bound), clamped to `region`; `limit` 0 returns nothing.
   */
  private scanInto(
    out: KvPair[],
    col: RawColumn,
    start: Buffer,
    end: Buffer | undefined,
    limit: number,
    keyOnly: boolean,
    reverse: boolean,
    region: RegionBounds,
    nowSec: number,
  ): void {
    if (limit === 0) return;
    let n = 0;
    const visit = (key: Buffer, value: Buffer): boolean => {
      out.push(pair(key, keyOnly ? EMPTY : value));
      return ++n < limit;
    };
    if (reverse) {
      const upper = minUpper(indexKey(start), region.end)!;
      const lowerReq = end === undefined ? undefined : indexKey(end);
      const lower = lowerReq === undefined ? region.start : maxLower(lowerReq, region.start);
      col.reverse(upper, lower, nowSec, visit);
    } else {
      const lower = maxLower(indexKey(start), region.start);
      const upper = minUpper(end === undefined ? undefined : indexKey(end), region.end);
      col.forward(lower, upper, nowSec, visit);
    }
  }

  /** RawScan within the region `range` (see `scanInto` for bound semantics). */
  rawScan(req: RawScanRequest, range?: RegionKeyRange): RawScanResponse {
    try {
      const end = req.endKey.length === 0 ? undefined : req.endKey;
      checkApiVersionRanges(this.apiVersion, requestApiVersion(req), "raw_scan", [[req.startKey, end]]);
      const col = this.cfs[rawkvCf(this.apiVersion, req.cf)];
      const kvs: KvPair[] = [];
      this.scanInto(
        kvs,
        col,
        req.startKey,
        end,
        req.limit,
        req.keyOnly,
        req.reverse,
        regionBounds(range),
        this.nowSec(),
      );
      return { regionError: undefined, kvs };
    } catch (e) {
      return { regionError: undefined, kvs: errorPairs(e) };
    }
  }

  /**
   * RawBatchScan: each range scanned with `eachLimit`, results concatenated. A
   * range with an empty end key is bounded by the next range's start key.
   */
  rawBatchScan(req: RawBatchScanRequest, range?: RegionKeyRange): RawBatchScanResponse {
    try {
      const checked: CheckedRange[] = req.ranges.map((r) => [r.startKey, r.endKey]);
      checkApiVersionRanges(this.apiVersion, requestApiVersion(req), "raw_batch_scan", checked);
      const col = this.cfs[rawkvCf(this.apiVersion, req.cf)];
      if (!checkKeyRanges(req.ranges, req.reverse)) throw otherError("Invalid KeyRanges");
      const kvs: KvPair[] = [];
      const region = regionBounds(range);
      const nowSec = this.nowSec();
      for (let i = 0; i < req.ranges.length; i++) {
        const r = req.ranges[i]!;
        let end: Buffer | undefined = r.endKey;
        if (end.length === 0) end = i + 1 === req.ranges.length ? undefined : req.ranges[i + 1]!.startKey;
        this.scanInto(kvs, col, r.startKey, end, req.eachLimit, req.keyOnly, req.reverse, region, nowSec);
      }
      return { regionError: undefined, kvs };
    } catch (e) {
      return { regionError: undefined, kvs: errorPairs(e) };
    }
  }

  /**
   * RawGetKeyTTL: remaining seconds (0 = no TTL), or `notFound` when absent or
   * expired. Real TiKV panics on a storage without TTL (API V1); this engine
   * answers with that panic message as the error instead of crashing.
   */
  rawGetKeyTTL(req: RawGetKeyTTLRequest): RawGetKeyTTLResponse {
    try {
      checkApiVersionKey(this.apiVersion, requestApiVersion(req), "raw_get_key_ttl", req.key);
      const col = this.cfs[rawkvCf(this.apiVersion, req.cf)];
      if (this.apiVersion === APIVersion.V1) throw otherError("get ttl on non-ttl store");
      const nowSec = this.nowSec();
      const e = col.getExpiry(indexKey(req.key), () => nowSec);
      if (e === undefined) return { regionError: undefined, error: "", ttl: 0n, notFound: true };
      const ttl = e.expireTs === undefined ? 0n : e.expireTs - BigInt(nowSec);
      return { regionError: undefined, error: "", ttl, notFound: false };
    } catch (e) {
      return { regionError: undefined, error: displayOf(e), ttl: 0n, notFound: false };
    }
  }

  /**
   * RawCompareAndSwap: compares the visible value with `previousValue` (or
   * absence, with `previousNotExist`); on a match writes `value` with `ttl`, or
   * deletes the key when `delete` is set. Always returns the previous value.
   * Follows tikv src/storage/txn/commands/compare_and_swap.rs.
   */
  rawCompareAndSwap(req: RawCASRequest): RawCASResponse {
    try {
      checkApiVersionKey(this.apiVersion, requestApiVersion(req), "raw_compare_and_swap", req.key);
      const col = this.cfs[rawkvCf(this.apiVersion, req.cf)];
      checkTtlAllowed(this.apiVersion, req.ttl);
      const old = this.liveValue(col, req.key);
      const expected = req.previousNotExist ? undefined : req.previousValue;
      const succeed = old === undefined || expected === undefined ? old === expected : old.equals(expected);
      if (succeed) {
        if (req.delete) {
          if (expected !== undefined) col.delete(indexKey(req.key));
        } else {
          this.write(col, req.key, req.value, this.expireTs(req.ttl));
        }
      }
      return {
        regionError: undefined,
        error: "",
        succeed,
        previousNotExist: old === undefined,
        previousValue: old ?? EMPTY,
      };
    } catch (e) {
      return {
        regionError: undefined,
        error: displayOf(e),
        succeed: false,
        previousNotExist: false,
        previousValue: EMPTY,
      };
    }
  }

  /**
   * RawChecksum (Crc64_Xor) over the default column family: XOR over visible
   * pairs of CRC-64/XZ(key ‖ value), plus pair count and key+value byte total.
   * An empty range end means the region end. Follows tikv
   * src/storage/raw/store.rs `raw_checksum_ranges`.
   */
  rawChecksum(req: RawChecksumRequest, range?: RegionKeyRange): RawChecksumResponse {
    try {
      // An unknown algorithm cannot reach TiKV: rust-protobuf decodes it as the
      // default (Crc64_Xor), so every request is treated as Crc64_Xor here too.
      const checked: CheckedRange[] = req.ranges.map((r: KeyRange) => [r.startKey, r.endKey]);
      checkApiVersionRanges(this.apiVersion, requestApiVersion(req), "raw_checksum", checked);
      const col = this.cfs.default;
      const region = regionBounds(range);
      const nowSec = this.nowSec();
      let checksum = 0n;
      let totalKvs = 0n;
      let totalBytes = 0;
      for (const r of req.ranges) {
        const lower = maxLower(indexKey(r.startKey), region.start);
        const upper = minUpper(r.endKey.length === 0 ? undefined : indexKey(r.endKey), region.end);
        col.forward(lower, upper, nowSec, (key, value) => {
          checksum ^= new Crc64Xz().update(key).update(value).sum64();
          totalKvs++;
          totalBytes += key.length + value.length;
          return true;
        });
      }
      return { regionError: undefined, error: "", checksum, totalKvs, totalBytes: BigInt(totalBytes) };
    } catch (e) {
      return { regionError: undefined, error: displayOf(e), checksum: 0n, totalKvs: 0n, totalBytes: 0n };
    }
  }

  /**
   * Drops every raw key in [start, end) in all column families (empty end =
   * unbounded), as UnsafeDestroyRange does to a store's data.
   */
  unsafeDestroyRange(start: Buffer, end: Buffer): void {
    const s = indexKey(start);
    const e = end.length === 0 ? undefined : indexKey(end);
    for (const col of Object.values(this.cfs)) col.deleteRange(s, e);
  }
}
