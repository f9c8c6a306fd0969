// Errors of the key codecs in src/kv (memcomparable and API v2 keyspace codecs).
// client-go reports the first as apicodec "decodeError" (region cache fails without backoff)
// and the second as errKeyOutOfBound.

import { hexKey, TikvError, type TikvErrorOptions } from "./base.js";

/** Why a key could not be decoded. */
export type KeyDecodeFailure =
  /** The input ended inside a group or before the final group. */
  | "truncated"
  /** A group's marker byte encodes an impossible padding count. */
  | "bad-marker"
  /** Padding bytes are not the pad value. */
  | "bad-padding"
  /** The key is not an API v2 key (no 'r'/'x' mode prefix, or shorter than the keyspace prefix). */
  | "not-api-v2";

/** A key (usually a region boundary from PD or TiKV) is malformed. Not retryable. */
export class KeyDecodeError extends TikvError {
  constructor(
    /** What is wrong. */
    readonly failure: KeyDecodeFailure,
    /** The bytes that failed to decode. */
    readonly input: Buffer,
    /** Byte offset where decoding failed. */
    readonly offset: number,
    options?: TikvErrorOptions,
  ) {
    super("KEY_DECODE_ERROR", `cannot decode key ${hexKey(input)}: ${failure} at offset ${offset}`, options);
  }
}

/** A key or range does not belong to the client's keyspace (API v2). */
export class KeyOutOfKeyspaceError extends TikvError {
  constructor(
    /** The offending (encoded) key, or the start of the offending range. */
    readonly key: Buffer,
    /** The codec's keyspace prefix (mode byte + 3-byte keyspace id). */
    readonly keyspacePrefix: Buffer,
    options?: TikvErrorOptions,
  ) {
    super(
      "KEY_OUT_OF_KEYSPACE",
      `key ${hexKey(key)} does not belong to the keyspace with prefix ${hexKey(keyspacePrefix)}`,
      options,
    );
  }
}
