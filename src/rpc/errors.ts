// Transport-level errors: the shared classes of src/errors, plus the gRPC conversion.

import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { GrpcError, ShuttingDownError } from "../errors/server.js";
import { TlsError, tlsFailureReason } from "../errors/tls.js";

export {
  AbortedError,
  BackoffExhaustedError,
  ClusterIdMismatchError,
  FutureTsReadError,
  GrpcError,
  PdError,
  ShuttingDownError,
  TimeoutError,
} from "../errors/server.js";

/** Wraps a grpc-js ServiceError (or any thrown value) into a {@link GrpcError}. */
export function toGrpcError(err: unknown, address?: string): GrpcError {
  if (err instanceof GrpcError) return err;
  const se = err as Partial<ServiceError> | undefined;
  const code = typeof se?.code === "number" ? se.code : GrpcStatus.UNKNOWN;
  const msg =
    typeof se?.details === "string" && se.details ? se.details : String((err as Error)?.message ?? err);
  return new GrpcError(code, msg, address, { cause: err });
}

/**
 * A failed store call as its caller should see it: a {@link TlsError} when the status says the
 * server refused our handshake or certificate (its CA, expiry, or cert-allowed-cn: retrying the
 * same configuration cannot help, and the request never reached the service), else the GrpcError.
 */
export function storeCallError(err: unknown, address?: string): GrpcError | TlsError {
  const e = toGrpcError(err, address);
  const code = e.grpcCode;
  if (code !== GrpcStatus.UNAVAILABLE && code !== GrpcStatus.UNAUTHENTICATED) return e;
  const reason = tlsFailureReason(e.details);
  return reason === undefined ? e : notSent(new TlsError(reason, e.details, address, { cause: e }));
}

/** True for gRPC failures that mean "the peer is unreachable right now" (worth a retry elsewhere/later). */
export function isUnavailable(err: unknown): boolean {
  return (
    err instanceof GrpcError &&
    (err.grpcCode === GrpcStatus.UNAVAILABLE || err.grpcCode === GrpcStatus.DEADLINE_EXCEEDED)
  );
}

// Transport errors raised before the request was written to the wire. The routing layer needs
// to know them apart: a write that failed that way cannot have been applied, while one that
// failed after it left the client (timeout, abort, lost stream) may have been.
const UNSENT = new WeakSet<object>();

/** Marks `err` as raised before its request left the client (the server never saw it). */
export function notSent<E extends Error>(err: E): E {
  UNSENT.add(err);
  return err;
}

/** True when `err` was raised before its request left the client (see {@link notSent}). */
export function wasNotSent(err: unknown): boolean {
  return typeof err === "object" && err !== null && UNSENT.has(err);
}

/**
 * A not-sent error for a request refused because of `err`, which other requests (already written)
 * may share: same class and status where it matters to the retry policy, `err` as cause.
 */
export function notSentBecause(err: Error): Error {
  if (err instanceof ShuttingDownError) return notSent(new ShuttingDownError(err.message, { cause: err }));
  if (err instanceof GrpcError)
    return notSent(new GrpcError(err.grpcCode, err.details, err.address, { cause: err }));
  if (err instanceof TlsError)
    return notSent(new TlsError(err.reason, err.details, err.address, { cause: err }));
  return notSent(new GrpcError(GrpcStatus.UNAVAILABLE, err.message, undefined, { cause: err }));
}
