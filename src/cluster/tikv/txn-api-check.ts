// API version / key mode check TiKV's storage makes before a transactional command runs.
// Follows tikv src/storage/mod.rs `check_api_version` / `check_api_version_ranges` and
// components/api_version/src/api_v2.rs `parse_key_mode` / `parse_range_mode`. Raw commands are
// checked by the RawEngine itself.

import { hexUpper } from "../../kv/key.js";
import { APIVersion } from "../../proto/kvrpcpb.js";

const TXN_PREFIX = 0x78; // 'x'
const TIDB_META = 0x6d; // 'm'
const TIDB_TABLE = 0x74; // 't'

/** Rust Debug name of an ApiVersion (rust-protobuf spells V1TTL `V1ttl`). */
function apiName(v: APIVersion): string {
  return v === APIVersion.V1TTL ? "V1ttl" : v === APIVersion.V2 ? "V2" : v === APIVersion.V3 ? "V3" : "V1";
}

/** A failed check: TiKV's Display text (string error fields) and Debug text (KeyError.abort). */
export interface TxnApiError {
  display: string;
  debug: string;
}

type Mode = "txn" | "tidb" | "other";

function keyMode(key: Uint8Array): Mode {
  if (key.length === 0) return "other";
  const b = key[0];
  if (b === TXN_PREFIX) return "txn";
  if (b === TIDB_META || b === TIDB_TABLE) return "tidb";
  return "other";
}

function rangeMode(start: Uint8Array, end: Uint8Array): Mode {
  if (start.length === 0 || end.length === 0) return "other";
  const s0 = start[0] as number;
  const sameMode = s0 === end[0] || (end.length === 1 && end[0] === s0 + 1);
  return sameMode ? keyMode(start) : "other";
}

function notMatched(cmd: string, storage: APIVersion, req: APIVersion): TxnApiError {
  const s = apiName(storage);
  const r = apiName(req);
  return {
    display: `Api version in request does not match with TiKV storage, cmd: ${cmd}, storage: ${s}, request: ${r}`,
    debug: `Error(ApiVersionNotMatched { cmd: ${cmd}, storage_api_version: ${s}, req_api_version: ${r} })`,
  };
}

/** Which key mode a (storage, request) pair demands, or an error when the pair is refused. */
function wantedMode(cmd: string, storage: APIVersion, req: APIVersion): Mode | "any" | TxnApiError {
  if (storage === APIVersion.V1 && req === APIVersion.V1) return "any";
  if (storage === APIVersion.V2 && req === APIVersion.V1) return "tidb";
  if (storage === APIVersion.V2 && req === APIVersion.V2) return "txn";
  return notMatched(cmd, storage, req);
}

/** Checks the keys of a txn command; returns undefined when they are acceptable. */
export function checkTxnKeys(
  cmd: string,
  storage: APIVersion,
  req: APIVersion,
  keys: readonly Uint8Array[],
): TxnApiError | undefined {
  const want = wantedMode(cmd, storage, req);
  if (typeof want === "object") return want;
  if (want === "any") return undefined;
  for (const k of keys) {
    if (keyMode(k) !== want) {
      const s = apiName(storage);
      const hex = hexUpper(k);
      return {
        display: `Key mode mismatched with the request mode, cmd: ${cmd}, storage: ${s}, key: ${hex}`,
        debug: `Error(InvalidKeyMode { cmd: ${cmd}, storage_api_version: ${s}, key: "${hex}" })`,
      };
    }
  }
  return undefined;
}

/** Checks the ranges of a txn command (empty start/end = unbounded). */
export function checkTxnRanges(
  cmd: string,
  storage: APIVersion,
  req: APIVersion,
  ranges: readonly (readonly [Uint8Array, Uint8Array])[],
): TxnApiError | undefined {
  const want = wantedMode(cmd, storage, req);
  if (typeof want === "object") return want;
  if (want === "any") return undefined;
  for (const [start, end] of ranges) {
    if (rangeMode(start, end) !== want) {
      const s = apiName(storage);
      const opt = (b: Uint8Array) => (b.length === 0 ? "None" : `Some("${hexUpper(b)}")`);
      const r = `(${opt(start)}, ${opt(end)})`;
      return {
        display: `Key mode mismatched with the request mode, cmd: ${cmd}, storage: ${s}, range: ${r}`,
        debug: `Error(InvalidKeyRangeMode { cmd: ${cmd}, storage_api_version: ${s}, range: ${r} })`,
      };
    }
  }
  return undefined;
}
