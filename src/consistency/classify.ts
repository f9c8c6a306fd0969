// Error -> outcome: "fail" only when the operation certainly had no effect, "info" when it may
// have. A wrong "fail" is what makes a checker cry wolf (or, worse, hides a lost write behind a
// "failed" one), so anything without a server verdict is info.

import { findError, TikvError } from "../errors/base.js";
import {
  AbortedError,
  BackoffExhaustedError,
  GrpcError,
  ShuttingDownError,
  TimeoutError,
  UnknownError,
} from "../errors/server.js";
import { ResultUndeterminedError } from "../errors/txn.js";
import type { OpOutcome } from "./types.js";

/** What the failed operation could have changed: nothing (a read) or the store (a write / commit). */
export type OpEffect = "read" | "write";

/** "ClassName(CODE): message" of an error, for the history. */
export function describeError(err: unknown): string {
  if (err instanceof TikvError) return `${err.name}(${err.code}): ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

// Failures that carry no verdict from the server: the request may have been applied.
function withoutVerdict(err: unknown): boolean {
  return (
    err instanceof TimeoutError ||
    err instanceof AbortedError ||
    err instanceof GrpcError ||
    err instanceof ShuttingDownError ||
    err instanceof UnknownError
  );
}

/**
 * Classifies a failed operation. Reads fail (they change nothing whatever happened). Writes are
 * info when the client reports the outcome undetermined (ResultUndeterminedError anywhere in the
 * cause chain), when the failure has no server verdict (timeout, abort, gRPC error, client
 * shutting down, an unknown server error — even if the client believes nothing was sent), when a
 * backoff budget was spent on such failures, and for anything that is not a typed TikvError (an
 * unexpected exception says nothing about what reached the server). Every other typed error is
 * the server's or the client's definite refusal (a conflict, a lock, a region error that reached
 * the caller, bad input): fail.
 *
 * @example
 * ```ts
 * try { await raw.put(k, v); } catch (e) { return classify(e, "write"); }
 * ```
 */
export function classify(err: unknown, effect: OpEffect): Extract<OpOutcome, { type: "fail" | "info" }> {
  const error = describeError(err);
  if (effect === "read") return { type: "fail", error };
  return { type: mayHaveApplied(err) ? "info" : "fail", error };
}

/** True when a failed write may have taken effect (see {@link classify}). */
export function mayHaveApplied(err: unknown): boolean {
  if (findError(err, ResultUndeterminedError)) return true;
  if (!(err instanceof TikvError)) return true;
  if (withoutVerdict(err)) return true;
  const bo = findError(err, BackoffExhaustedError);
  if (bo && (bo.errors.some(withoutVerdict) || withoutVerdict(bo.cause))) return true;
  return false;
}
