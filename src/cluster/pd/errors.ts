// PD's error surface (pd pkg/errs/errno.go, pkg/utils/grpcutil): gRPC status errors for
// transport-level refusals, and pdpb.ResponseHeader errors (ErrorType + message) for the rest.
// Messages of normalized errors render as "[RFC code]message", as pingcap/errors does.
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { type ErrorType, ResponseHeader } from "../../proto/pdpb.js";

/** PD's not-leader marker; clients look for it in messages (pkg/errs NotLeaderErr). */
export const NOT_LEADER_ERR = "is not leader";

/** A gRPC status error as a server handler returns it. */
export function statusError(code: status, details: string): ServiceError {
  const err = new Error(`${code} ${status[code]}: ${details}`) as ServiceError;
  err.code = code;
  err.details = details;
  err.metadata = new Metadata();
  return err;
}

/** errs.ErrNotLeader: a non-leader member refusing a leader-only request. */
export const notLeaderError = (): ServiceError => statusError(status.UNAVAILABLE, "not leader");
/** errs.ErrNotStarted: the member is down / closed. */
export const notStartedError = (): ServiceError => statusError(status.UNAVAILABLE, "server not started");
/** errs.ErrMismatchClusterID. */
export const mismatchClusterIdError = (need: bigint, got: bigint): ServiceError =>
  statusError(status.FAILED_PRECONDITION, `mismatch cluster id, need ${need} but got ${got}`);
/** errs.ErrFollowerHandlingNotAllowed (unused unless follower handling is requested but off). */
export const followerHandlingNotAllowedError = (): ServiceError =>
  statusError(status.UNAVAILABLE, "not leader and follower handling not allowed");

/** Renders a normalized pingcap error: "[code]message". */
export function pdErrorMessage(rfcCode: string, message: string): string {
  return `[${rfcCode}]${message}`;
}

/** The TSO stream error a non-leader returns (pkg/tso/allocator.go GenerateTSO). */
export const tsoNotLeaderError = (): ServiceError =>
  statusError(
    status.UNKNOWN,
    pdErrorMessage(
      "PD:tso:ErrGenerateTimestamp",
      `generate timestamp failed, requested pd ${NOT_LEADER_ERR} of cluster`,
    ),
  );

/** A TSO generation failure (errs.ErrGenerateTimestamp wrapped in errs.ErrUnknown). */
export const tsoGenerateError = (reason: string): ServiceError =>
  statusError(
    status.UNKNOWN,
    pdErrorMessage("PD:tso:ErrGenerateTimestamp", `generate timestamp failed, ${reason}`),
  );

/** An OK response header. */
export function okHeader(clusterId: bigint): ResponseHeader {
  return ResponseHeader.fromPartial({ clusterId });
}

/** A response header carrying a PD error. */
export function errorHeader(clusterId: bigint, type: ErrorType, message: string): ResponseHeader {
  return ResponseHeader.fromPartial({ clusterId, error: { type, message } });
}

/** A PD-side failure that the handler turns into a header error of `type`. */
export class PdHeaderError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
  ) {
    super(message);
    this.name = "PdHeaderError";
  }
}
