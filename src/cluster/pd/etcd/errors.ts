// etcd's gRPC errors (go.etcd.io/etcd/api/v3/v3rpc/rpctypes): clients such as clientv3 map
// them back to typed errors by their exact message, so codes and texts match etcd's.
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";

/** An etcd server error: a gRPC status code and etcd's message. */
export class EtcdError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = "EtcdError";
  }

  /** The error as a grpc-js handler returns it. */
  toServiceError(): ServiceError {
    const err = new Error(`${this.code} ${status[this.code]}: ${this.message}`) as ServiceError;
    err.code = this.code;
    err.details = this.message;
    err.metadata = new Metadata();
    return err;
  }
}

const e = (code: status, message: string) => () => new EtcdError(code, message);

export const errEmptyKey = e(status.INVALID_ARGUMENT, "etcdserver: key is not provided");
export const errKeyNotFound = e(status.INVALID_ARGUMENT, "etcdserver: key not found");
export const errValueProvided = e(status.INVALID_ARGUMENT, "etcdserver: value is provided");
export const errLeaseProvided = e(status.INVALID_ARGUMENT, "etcdserver: lease is provided");
export const errTooManyOps = e(status.INVALID_ARGUMENT, "etcdserver: too many operations in txn request");
export const errDuplicateKey = e(status.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request");
export const errCompacted = e(status.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted");
export const errFutureRev = e(
  status.OUT_OF_RANGE,
  "etcdserver: mvcc: required revision is a future revision",
);
export const errLeaseNotFound = e(status.NOT_FOUND, "etcdserver: requested lease not found");
export const errLeaseExist = e(status.FAILED_PRECONDITION, "etcdserver: lease already exists");
export const errLeaseTtlTooLarge = e(status.OUT_OF_RANGE, "etcdserver: too large lease TTL");

/** Maps anything a handler threw to a grpc-js error (non-etcd errors become UNKNOWN). */
export function toEtcdServiceError(err: unknown): ServiceError {
  if (err instanceof EtcdError) return err.toServiceError();
  return new EtcdError(status.UNKNOWN, err instanceof Error ? err.message : String(err)).toServiceError();
}
