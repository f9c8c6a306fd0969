/**
 * TiKV storage errors that raw commands can return, rendered exactly as TiKV
 * renders them on the wire.
 *
 * TiKV puts a storage error into a raw response in one of two textual forms
 * (tikv src/server/service/kv.rs, src/storage/errors.rs):
 * - most raw responses carry `error: format!("{}", e)` — the Display form;
 * - RawBatchGet / RawScan / RawBatchScan have no `error` field, so the error
 *   becomes one KvPair whose KeyError has `abort: format!("{:?}", e)` — the
 *   Rust Debug form of `storage::Error(ErrorInner::...)`.
 * Messages follow tikv src/storage/errors.rs (ErrorInner's `#[error]` strings).
 */
import { hexUpper } from "../../../kv/key.js";
import { APIVersion } from "../../../proto/kvrpcpb.js";

/** Names TiKV's `CommandKind` prints for the raw commands. */
export type RawCommandKind =
  | "raw_get"
  | "raw_batch_get"
  | "raw_scan"
  | "raw_batch_scan"
  | "raw_put"
  | "raw_batch_put"
  | "raw_delete"
  | "raw_delete_range"
  | "raw_batch_delete"
  | "raw_get_key_ttl"
  | "raw_compare_and_swap"
  | "raw_atomic_store"
  | "raw_checksum";

/** A storage-layer error with TiKV's Display (`display`) and Debug (`debug`) renderings. */
export class RawStorageError extends Error {
  constructor(
    /** `format!("{}", e)`: goes into the response's `error` string. */
    readonly display: string,
    /** `format!("{:?}", e)`: goes into `KvPair.error.abort`. */
    readonly debug: string,
  ) {
    super(display);
    this.name = "RawStorageError";
  }
}

/** Rust's `{:?}` for a `str`: quoted, with Rust's escapes. */
export function rustDebugStr(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\0") out += "\\0";
    else if (cp < 0x20 || cp === 0x7f) out += `\\u{${cp.toString(16)}}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Rust Debug name of a kvrpcpb ApiVersion value (rust-protobuf spells V1TTL as `V1ttl`). */
export function apiVersionName(v: APIVersion): string {
  switch (v) {
    case APIVersion.V1:
      return "V1";
    case APIVersion.V1TTL:
      return "V1ttl";
    case APIVersion.V2:
      return "V2";
    case APIVersion.V3:
      return "V3";
    default:
      return String(v);
  }
}

function debugOptHex(b: Uint8Array | undefined): string {
  return b === undefined ? "None" : `Some(${rustDebugStr(hexUpper(b))})`;
}

/** `ErrorInner::KeyTooLarge`. */
export function keyTooLarge(size: number, limit: number): RawStorageError {
  return new RawStorageError(
    `max key size exceeded, size: ${size}, limit: ${limit}`,
    `Error(KeyTooLarge { size: ${size}, limit: ${limit} })`,
  );
}

/** `ErrorInner::InvalidCf`: unknown column family under API V1/V1TTL. */
export function invalidCf(cf: string): RawStorageError {
  return new RawStorageError(`invalid cf name: ${cf}`, `Error(InvalidCf(${rustDebugStr(cf)}))`);
}

/** `ErrorInner::CfDeprecated`: any explicit column family under API V2. */
export function cfDeprecated(cf: string): RawStorageError {
  return new RawStorageError(
    `cf is deprecated in API V2, cf name: ${cf}`,
    `Error(CfDeprecated(${rustDebugStr(cf)}))`,
  );
}

/** `ErrorInner::TtlNotEnabled`: a non-zero TTL on a storage without TTL (API V1). */
export function ttlNotEnabled(): RawStorageError {
  return new RawStorageError("ttl is not enabled, but get put request with ttl", "Error(TtlNotEnabled)");
}

/** `ErrorInner::TtlLenNotEqualsToPairs`. */
export function ttlLenNotEqualsToPairs(): RawStorageError {
  return new RawStorageError(
    "The length of ttls does not equal to the length of pairs",
    "Error(TtlLenNotEqualsToPairs)",
  );
}

/** `ErrorInner::ApiVersionNotMatched`. */
export function apiVersionNotMatched(
  cmd: RawCommandKind,
  storage: APIVersion,
  request: APIVersion,
): RawStorageError {
  const s = apiVersionName(storage);
  const r = apiVersionName(request);
  return new RawStorageError(
    `Api version in request does not match with TiKV storage, cmd: ${cmd}, storage: ${s}, request: ${r}`,
    `Error(ApiVersionNotMatched { cmd: ${cmd}, storage_api_version: ${s}, req_api_version: ${r} })`,
  );
}

/** `ErrorInner::InvalidKeyMode`: an API V2 raw request with a key outside the 'r' prefix. */
export function invalidKeyMode(cmd: RawCommandKind, storage: APIVersion, key: Uint8Array): RawStorageError {
  const s = apiVersionName(storage);
  const k = hexUpper(key);
  return new RawStorageError(
    `Key mode mismatched with the request mode, cmd: ${cmd}, storage: ${s}, key: ${k}`,
    `Error(InvalidKeyMode { cmd: ${cmd}, storage_api_version: ${s}, key: ${rustDebugStr(k)} })`,
  );
}

/** `ErrorInner::InvalidKeyRangeMode`: an API V2 raw range that is not inside the 'r' prefix. */
export function invalidKeyRangeMode(
  cmd: RawCommandKind,
  storage: APIVersion,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
): RawStorageError {
  const s = apiVersionName(storage);
  const range = `(${debugOptHex(start)}, ${debugOptHex(end)})`;
  return new RawStorageError(
    `Key mode mismatched with the request mode, cmd: ${cmd}, storage: ${s}, range: ${range}`,
    `Error(InvalidKeyRangeMode { cmd: ${cmd}, storage_api_version: ${s}, range: ${range} })`,
  );
}

/** `ErrorInner::Other(box_err!(msg))`. */
export function otherError(msg: string): RawStorageError {
  return new RawStorageError(msg, `Error(Other(${rustDebugStr(msg)}))`);
}
