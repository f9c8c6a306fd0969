// Base of every error tikv-ts throws. The error kinds mirror client-go's `error` package
// (tikverr.Err*), see client-go error/error.go.

import type { TikvErrorCode } from "./codes.js";

/** Options accepted by every {@link TikvError} constructor. */
export interface TikvErrorOptions {
  /** The error that caused this one (kept as the standard `Error.cause`). */
  cause?: unknown;
}

/**
 * Base class of all tikv-ts errors. `code` is a stable string callers can switch on
 * (it never changes between versions, unlike messages); `isRetryable` tells whether
 * retrying the whole transaction / statement may succeed, as client-go's callers assume.
 */
export class TikvError extends Error {
  /** Stable machine-readable error code, e.g. `"WRITE_CONFLICT"`. */
  readonly code: TikvErrorCode;
  /** True when the operation (or transaction) may succeed if retried from the start. */
  isRetryable: boolean;

  constructor(code: TikvErrorCode, message: string, options?: TikvErrorOptions & { retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.isRetryable = options?.retryable ?? false;
  }
}

/** Bad input given by the caller (wrong type, out-of-range number, malformed key...). */
export class InvalidArgumentError extends TikvError {
  /** Name of the offending argument, when known. */
  readonly argument: string | undefined;

  constructor(message: string, argument?: string, options?: TikvErrorOptions) {
    super("INVALID_ARGUMENT", argument ? `invalid argument ${argument}: ${message}` : message, options);
    this.argument = argument;
  }
}

/** Hex rendering of a key for error messages (client-go prints keys the same way unless redacted). */
export function hexKey(key: Uint8Array | undefined): string {
  if (!key || key.length === 0) return '""';
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex").toUpperCase();
}

/**
 * Finds an error of the given class in `err` or its `cause` chain (client-go's errors.As).
 * Returns undefined when none matches.
 */
export function findError<T extends Error>(
  err: unknown,
  cls: abstract new (...args: never[]) => T,
): T | undefined {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur instanceof Error && !seen.has(cur)) {
    if (cur instanceof cls) return cur;
    seen.add(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when `err` or any error in its cause chain is a TikvError with the given code. */
export function hasErrorCode(err: unknown, code: TikvErrorCode): boolean {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur instanceof Error && !seen.has(cur)) {
    if (cur instanceof TikvError && cur.code === code) return true;
    seen.add(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}
