// Size limits of the transaction buffer (client-go SetEntrySizeLimit and the key length cap of
// the ART memdb). Checked before a write touches anything, so a rejected write changes nothing
// (client-go applies the write and then reports ErrTxnTooLarge; we refuse it instead).

import { InvalidArgumentError } from "../../errors/base.js";
import { EntryTooLargeError, KeyTooLargeError, TxnTooLargeError } from "../../errors/txn.js";

/** Longest key the buffer accepts, in bytes (client-go art MaxKeyLen: the length is stored in 16 bits). */
export const MAX_KEY_LENGTH = 0xffff;

/** The two size limits; 0 means unlimited. */
export interface SizeLimits {
  /** Largest key + value of one entry, in bytes (0 = unlimited). */
  readonly entryLimit: number;
  /** Largest total key + value bytes of the buffer (`MemDb.size`), in bytes (0 = unlimited). */
  readonly totalLimit: number;
}

/** No limits. */
export const UNLIMITED: SizeLimits = { entryLimit: 0, totalLimit: 0 };

/** Validates limits given by a caller: non-negative safe integers. */
export function checkLimits(entryLimit: unknown, totalLimit: unknown): SizeLimits {
  return {
    entryLimit: checkLimit(entryLimit, "entryLimit"),
    totalLimit: checkLimit(totalLimit, "totalLimit"),
  };
}

function checkLimit(v: unknown, argument: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidArgumentError(
      `expected a non-negative integer (0 = unlimited), got ${String(v)}`,
      argument,
    );
  }
  return v;
}

/** Throws KeyTooLargeError when `key` is longer than {@link MAX_KEY_LENGTH}. */
export function checkKeyLength(key: Buffer): void {
  if (key.length > MAX_KEY_LENGTH) throw new KeyTooLargeError(key.length);
}

/**
 * Throws when a value write would break a limit: EntryTooLargeError when key + value exceeds the
 * entry limit, TxnTooLargeError when the buffer's size after the write (`projectedSize`) exceeds
 * the total limit.
 */
export function checkValueWrite(
  limits: SizeLimits,
  keyLength: number,
  valueLength: number,
  projectedSize: number,
): void {
  const entry = keyLength + valueLength;
  if (limits.entryLimit > 0 && entry > limits.entryLimit)
    throw new EntryTooLargeError(limits.entryLimit, entry);
  if (limits.totalLimit > 0 && projectedSize > limits.totalLimit) throw new TxnTooLargeError(projectedSize);
}
