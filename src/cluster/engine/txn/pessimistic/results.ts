// Building PessimisticLockResponse from per-key results.
// Semantics follow tikv src/storage/types.rs (PessimisticLockResults::into_pb,
// into_legacy_values_and_not_founds) and src/server/service/kv.rs
// (future_acquire_pessimistic_lock).
import {
  type KeyError,
  PessimisticLockKeyResult,
  PessimisticLockKeyResultType,
  PessimisticLockResponse,
} from "../../../../proto/kvrpcpb.js";
import type { KeyLockResult } from "./acquire.js";

const EMPTY = Buffer.alloc(0);

/** A key result as sent in `results` (WakeUpModeForceLock). */
export function keyResultToPb(r: KeyLockResult): PessimisticLockKeyResult {
  switch (r.kind) {
    case "empty":
      return PessimisticLockKeyResult.fromPartial({ type: PessimisticLockKeyResultType.LockResultNormal });
    case "value":
      return PessimisticLockKeyResult.fromPartial({
        type: PessimisticLockKeyResultType.LockResultNormal,
        existence: r.value !== undefined,
        value: r.value ?? EMPTY,
      });
    case "existence":
      return PessimisticLockKeyResult.fromPartial({
        type: PessimisticLockKeyResultType.LockResultNormal,
        existence: r.exists,
      });
    case "lockedWithConflict":
      return PessimisticLockKeyResult.fromPartial({
        type: PessimisticLockKeyResultType.LockResultLockedWithConflict,
        existence: r.value !== undefined,
        value: r.value ?? EMPTY,
        lockedWithConflictTs: r.conflictTs,
      });
  }
}

/** The `results` entry of a key that failed. */
export function failedKeyResult(): PessimisticLockKeyResult {
  return PessimisticLockKeyResult.fromPartial({ type: PessimisticLockKeyResultType.LockResultFailed });
}

/** Response of a successful request in WakeUpModeNormal: values / not_founds by the first result's kind. */
export function legacyResponse(results: readonly KeyLockResult[]): PessimisticLockResponse {
  const first = results[0];
  if (first === undefined || first.kind === "empty") return PessimisticLockResponse.fromPartial({});
  if (first.kind === "existence") {
    return PessimisticLockResponse.fromPartial({
      notFounds: results.map((r) => !(r.kind === "existence" && r.exists)),
    });
  }
  const values: Buffer[] = [];
  const notFounds: boolean[] = [];
  for (const r of results) {
    const v = r.kind === "value" ? r.value : undefined;
    values.push(v ?? EMPTY);
    notFounds.push(v === undefined);
  }
  return PessimisticLockResponse.fromPartial({ values, notFounds });
}

/** Response in WakeUpModeForceLock: `results`, plus the first failure's KeyError. */
export function forceLockResponse(
  results: PessimisticLockKeyResult[],
  error?: KeyError,
): PessimisticLockResponse {
  return PessimisticLockResponse.fromPartial({ results, errors: error ? [error] : [] });
}

/** Response of a request that failed as a whole. */
export function errorResponse(error: KeyError): PessimisticLockResponse {
  return PessimisticLockResponse.fromPartial({ errors: [error] });
}
