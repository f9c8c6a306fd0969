// One interface for the key codecs of every API version, so the request layer does not branch
// on the version. Mirrors client-go internal/apicodec/codec.go (Codec) and codec_v1.go.

import { APIVersion, type Context } from "../proto/kvrpcpb.js";
import type { KeyRange } from "./key.js";
import { decodeRegionBoundary, encodeBytes } from "./memcomparable.js";

/** Which TiKV API a client speaks: raw (RawKV) or transactional (TxnKV). */
export type KeyMode = "raw" | "txn";

/** PD's "no keyspace" id (pd client constants.NullKeyspaceID); API v1 requests carry it. */
export const NULL_KEYSPACE_ID = 0xffffffff;

/**
 * Converts keys between the user's view and the wire/PD view.
 *
 * - "keys" are the bytes of requests and responses: identical to user keys in API v1, prefixed
 *   with the keyspace prefix in API v2.
 * - "region keys" are region boundaries as PD stores them: memcomparable-encoded wire keys,
 *   except API v1 raw where they are plain.
 *
 * Decoders throw KeyDecodeError (malformed memcomparable input) or KeyOutOfKeyspaceError.
 */
export interface ApiCodec {
  /** API version written into request contexts (V1, V1TTL or V2). */
  readonly apiVersion: APIVersion;
  /** Raw or transactional. */
  readonly mode: KeyMode;
  /** Keyspace id (NULL_KEYSPACE_ID in API v1). */
  readonly keyspaceId: number;
  /** Keyspace name, when the codec was built from keyspace metadata. */
  readonly keyspaceName: string | undefined;
  /** The 4-byte keyspace prefix in API v2; empty in API v1. */
  readonly keyspacePrefix: Buffer;
  /** False when encodeKey/decodeKey are the identity (API v1): response key decoding can be skipped. */
  readonly encodesKeys: boolean;
  /** Encodes a user key for the wire. */
  encodeKey(key: Uint8Array): Buffer;
  /** Encodes user keys for the wire. */
  encodeKeys(keys: readonly Uint8Array[]): Buffer[];
  /** Decodes a wire key to a user key; an empty key stays empty. */
  decodeKey(encoded: Uint8Array): Buffer;
  /**
   * Encodes a user range `[start, end)` (empty end = +inf). With `reverse` (reverse scans) `start`
   * is the exclusive upper bound and `end` the inclusive lower bound, both may be empty.
   */
  encodeRange(start: Uint8Array, end: Uint8Array, reverse?: boolean): KeyRange;
  /** Maps a wire range back to user keys, clamped to the keyspace (empty = unbounded). */
  decodeRange(start: Uint8Array, end: Uint8Array): KeyRange;
  /** Encodes a user key into PD's region-boundary form. */
  encodeRegionKey(key: Uint8Array): Buffer;
  /** Decodes a region boundary from PD/TiKV into a user key (empty stays empty). */
  decodeRegionKey(encoded: Uint8Array): Buffer;
  /** Encodes a user range into PD's region-boundary form (empty end = +inf). */
  encodeRegionRange(start: Uint8Array, end: Uint8Array): KeyRange;
  /**
   * Decodes region boundaries from PD/TiKV into user keys, clamped to the keyspace in API v2
   * (a region that starts before the keyspace gets start "", one that ends after it gets end "").
   * Throws KeyOutOfKeyspaceError when the region does not overlap the keyspace.
   */
  decodeRegionRange(encodedStart: Uint8Array, encodedEnd: Uint8Array): KeyRange;
  /** Decodes region bucket keys, clamped to the keyspace (client-go DecodeBucketKeys). */
  decodeBucketKeys(keys: readonly Uint8Array[]): Buffer[];
  /** Writes api version, keyspace id and keyspace name into a request context (client-go setAPICtx). */
  applyToContext(ctx: Context): void;
}

/** Wraps bytes as a Buffer without copying. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * API v1 codec (client-go codec_v1.go): keys are sent as is. Region boundaries are plain for raw
 * mode and memcomparable-encoded for txn mode.
 */
export class ApiV1Codec implements ApiCodec {
  readonly keyspaceId = NULL_KEYSPACE_ID;
  readonly keyspaceName = undefined;
  readonly keyspacePrefix = Buffer.alloc(0);
  readonly encodesKeys = false;
  private readonly memcomparableRegions: boolean;

  /**
   * @param mode raw or txn
   * @param apiVersion V1 (default) or V1TTL (raw with TTL)
   */
  constructor(
    readonly mode: KeyMode,
    readonly apiVersion: APIVersion.V1 | APIVersion.V1TTL = APIVersion.V1,
  ) {
    this.memcomparableRegions = mode === "txn";
  }

  encodeKey(key: Uint8Array): Buffer {
    return asBuffer(key);
  }

  encodeKeys(keys: readonly Uint8Array[]): Buffer[] {
    return keys.map(asBuffer);
  }

  decodeKey(encoded: Uint8Array): Buffer {
    return asBuffer(encoded);
  }

  encodeRange(start: Uint8Array, end: Uint8Array): KeyRange {
    return { start: asBuffer(start), end: asBuffer(end) };
  }

  decodeRange(start: Uint8Array, end: Uint8Array): KeyRange {
    return { start: asBuffer(start), end: asBuffer(end) };
  }

  encodeRegionKey(key: Uint8Array): Buffer {
    return this.memcomparableRegions ? encodeBytes(key) : asBuffer(key);
  }

  decodeRegionKey(encoded: Uint8Array): Buffer {
    return this.memcomparableRegions ? decodeRegionBoundary(encoded) : asBuffer(encoded);
  }

  encodeRegionRange(start: Uint8Array, end: Uint8Array): KeyRange {
    // An empty end is +inf and stays empty (it is not encoded).
    return {
      start: this.encodeRegionKey(start),
      end: end.length > 0 ? this.encodeRegionKey(end) : Buffer.alloc(0),
    };
  }

  decodeRegionRange(encodedStart: Uint8Array, encodedEnd: Uint8Array): KeyRange {
    return { start: this.decodeRegionKey(encodedStart), end: this.decodeRegionKey(encodedEnd) };
  }

  decodeBucketKeys(keys: readonly Uint8Array[]): Buffer[] {
    return keys.map((k) => this.decodeRegionKey(k));
  }

  applyToContext(ctx: Context): void {
    // Requests always say V1, V1TTL clusters included: TiKV's V1TTL storage accepts only V1 raw
    // requests, and client-go's V1 codec reports V1 (internal/apicodec/codec_v1.go).
    ctx.apiVersion = APIVersion.V1;
    ctx.keyspace = { $case: "keyspaceId", keyspaceId: NULL_KEYSPACE_ID };
  }
}
