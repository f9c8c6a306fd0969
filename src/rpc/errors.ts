// Transport-level errors: the shared classes of src/api/errors, plus the gRPC conversion.

import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { GrpcError } from "../api/errors/server.js";

export {
  AbortedError,
  BackoffExhaustedError,
  ClusterIdMismatchError,
  FutureTsReadError,
  GrpcError,
  PdError,
  ShuttingDownError,
  TimeoutError,
} from "../api/errors/server.js";

/** Wraps a grpc-js ServiceError (or any thrown value) into a {@link GrpcError}. */
export function toGrpcError(err: unknown, address?: string): GrpcError {
  if (err instanceof GrpcError) return err;
  const se = err as Partial<ServiceError> | undefined;
  const code = typeof se?.code === "number" ? se.code : GrpcStatus.UNKNOWN;
  const msg =
    typeof se?.details === "string" && se.details ? se.details : String((err as Error)?.message ?? err);
  return new GrpcError(code, msg, address, { cause: err });
}

/** True for gRPC failures that mean "the peer is unreachable right now" (worth a retry elsewhere/later). */
export function isUnavailable(err: unknown): boolean {
  return (
    err instanceof GrpcError &&
    (err.grpcCode === GrpcStatus.UNAVAILABLE || err.grpcCode === GrpcStatus.DEADLINE_EXCEEDED)
  );
}
