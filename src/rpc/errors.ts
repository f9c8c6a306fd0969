// Transport-level errors. They extend the shared TikvError base so callers can switch on `code`.
// (If src/api/errors grows the same kinds, these become re-exports; the codes stay the same.)

import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { TikvError, type TikvErrorOptions } from "../api/errors/base.js";

/** A gRPC call or stream failed; `grpcCode` is the gRPC status code (grpc.status). */
export class GrpcError extends TikvError {
  /** gRPC status code, e.g. 14 (UNAVAILABLE). */
  readonly grpcCode: number;
  /** Address of the peer the call went to, when known. */
  readonly address: string | undefined;

  constructor(grpcCode: number, message: string, address?: string, options?: TikvErrorOptions) {
    super("GRPC", `${GrpcStatus[grpcCode] ?? grpcCode}: ${message}${address ? ` (${address})` : ""}`, {
      ...options,
      retryable: grpcCode === GrpcStatus.UNAVAILABLE || grpcCode === GrpcStatus.DEADLINE_EXCEEDED,
    });
    this.grpcCode = grpcCode;
    this.address = address;
  }
}

/** A request did not get its reply within its timeout. */
export class TimeoutError extends TikvError {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number, options?: TikvErrorOptions) {
    super("TIMEOUT", `${message} (timeout ${timeoutMs}ms)`, { ...options, retryable: true });
    this.timeoutMs = timeoutMs;
  }
}

/** The caller aborted the request through its AbortSignal. */
export class AbortedError extends TikvError {
  constructor(message = "request aborted", options?: TikvErrorOptions) {
    super("ABORTED", message, options);
  }
}

/** PD answered with an error header, or PD could not be reached / followed. */
export class PdError extends TikvError {
  /** pdpb.ErrorType name when PD sent one (e.g. "NOT_BOOTSTRAPPED"), else undefined. */
  readonly pdErrorType: string | undefined;

  constructor(message: string, pdErrorType?: string, options?: TikvErrorOptions & { retryable?: boolean }) {
    super("PD", `[pd] ${message}`, options);
    this.pdErrorType = pdErrorType;
  }
}

/** The actor the request was sent to was stopped (client closed). */
export class ClosedError extends TikvError {
  constructor(message = "client closed", options?: TikvErrorOptions) {
    super("CLOSED", message, options);
  }
}

/** Wraps a grpc-js ServiceError (or any thrown value) into a {@link GrpcError}. */
export function toGrpcError(err: unknown, address?: string): GrpcError {
  if (err instanceof GrpcError) return err;
  const se = err as Partial<ServiceError> | undefined;
  const code = typeof se?.code === "number" ? se.code : GrpcStatus.UNKNOWN;
  const msg =
    typeof se?.details === "string" && se.details ? se.details : String((err as Error)?.message ?? err);
  return new GrpcError(code, msg, address, { cause: err });
}
