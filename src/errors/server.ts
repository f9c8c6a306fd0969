// Errors about servers, regions, transport and the client itself (client-go error/error.go
// sentinels, oracle errors, rawkv.ErrMaxScanLimitExceeded).

import type { Error as RegionErrorProto } from "../proto/errorpb.js";
import { ErrorType as PdErrorType } from "../proto/pdpb.js";
import { TikvError, type TikvErrorOptions } from "./base.js";
import type { TikvErrorCode } from "./codes.js";

/** Declares a message-only error class with a fixed code and default message. */
function simpleError(code: TikvErrorCode, defaultMessage: string) {
  return class extends TikvError {
    constructor(message: string = defaultMessage, options?: TikvErrorOptions) {
      super(code, message, options);
    }
  };
}

/** A response arrived without a body (client-go ErrBodyMissing). */
export class BodyMissingError extends simpleError("BODY_MISSING", "response body is missing") {}
/** The client is shutting down; requests are not retried (client-go ErrTiDBShuttingDown). */
export class ShuttingDownError extends simpleError("SHUTTING_DOWN", "client is shutting down") {}
/** TiKV did not answer in time (client-go ErrTiKVServerTimeout). */
export class TikvServerTimeoutError extends simpleError("TIKV_SERVER_TIMEOUT", "tikv server timeout") {}
/** TiKV reported a stale command until the backoff budget ran out (client-go ErrTiKVStaleCommand). */
export class StaleCommandError extends simpleError("TIKV_STALE_COMMAND", "tikv stale command") {}
/** TiKV's max_ts was not synced for async commit (client-go ErrTiKVMaxTimestampNotSynced). */
export class MaxTimestampNotSyncedError extends simpleError(
  "TIKV_MAX_TIMESTAMP_NOT_SYNCED",
  "tikv max timestamp not synced",
) {}
/** TiKV stayed busy until the backoff budget ran out (client-go ErrTiKVServerBusy). */
export class ServerBusyError extends simpleError("TIKV_SERVER_BUSY", "tikv server busy") {}
/** No usable leader/peer was found for a region (client-go ErrRegionUnavailable). */
export class RegionUnavailableError extends simpleError("REGION_UNAVAILABLE", "region unavailable") {}
/** A stale read asked for data newer than the region's safe ts (client-go ErrRegionDataNotReady). */
export class RegionDataNotReadyError extends simpleError("REGION_DATA_NOT_READY", "region data not ready") {}
/** The region's peer is not initialized yet (client-go ErrRegionNotInitialized). */
export class RegionNotInitializedError extends simpleError(
  "REGION_NOT_INITIALIZED",
  "region not initialized",
) {}
/** TiKV's disk is full (client-go ErrTiKVDiskFull). */
export class DiskFullError extends simpleError("TIKV_DISK_FULL", "tikv disk full") {}
/** The region is being recovered online (client-go ErrRegionRecoveryInProgress). */
export class RegionRecoveryInProgressError extends simpleError(
  "REGION_RECOVERY_IN_PROGRESS",
  "region is being online unsafe recovered",
) {}
/** The region is in flashback (client-go ErrRegionFlashbackInProgress). */
export class RegionFlashbackInProgressError extends simpleError(
  "REGION_FLASHBACK_IN_PROGRESS",
  "region is in the flashback progress",
) {}
/** Flashback was not prepared on the region (client-go ErrRegionFlashbackNotPrepared). */
export class RegionFlashbackNotPreparedError extends simpleError(
  "REGION_FLASHBACK_NOT_PREPARED",
  "region is not prepared for the flashback",
) {}
/** The request reached a witness peer (client-go ErrIsWitness). */
export class IsWitnessError extends simpleError("IS_WITNESS", "peer is witness") {}
/** An error of unknown kind (client-go ErrUnknown). */
export class UnknownError extends simpleError("UNKNOWN", "unknown") {}
/** PD did not answer in time (client-go ErrPDServerTimeout). */
export class PdServerTimeoutError extends simpleError("PD_SERVER_TIMEOUT", "pd server timeout") {}
/** PD belongs to another cluster than the one the client joined (client-go MismatchClusterID). */
export class ClusterIdMismatchError extends simpleError("CLUSTER_ID_MISMATCH", "mismatch cluster id") {}
/** Stale read at "latest" (max ts) is not allowed (client-go oracle.ErrLatestStaleRead). */
export class LatestStaleReadError extends simpleError(
  "LATEST_STALE_READ",
  "cannot set read ts to max uint64 for stale read",
) {}

/** How to get a cluster that keeps TTLs; part of every {@link TtlNotEnabledError} message. */
export const TTL_NOT_ENABLED_FIX =
  "the cluster serves API v1 with TTL off (TiKV's default): start the embedded cluster with " +
  "`tikv-ts cluster --api-version v1ttl` (or `--api-version v2`), or a TiKV with " +
  "storage.enable-ttl = true (or storage.api-version = 2), and connect with the matching apiVersion";

/**
 * A TTL was given to, or asked of, a cluster whose storage keeps none (TiKV TtlNotEnabled, and
 * "get ttl on non-ttl store" for RawGetKeyTTL: API v1 without TTL). The message is TiKV's text
 * followed by the fix ({@link TTL_NOT_ENABLED_FIX}); `serverMessage` is TiKV's text alone.
 */
export class TtlNotEnabledError extends TikvError {
  /** TiKV's text of the error. */
  readonly serverMessage: string;

  constructor(
    serverMessage = "ttl is not enabled, but get put request with ttl",
    options?: TikvErrorOptions,
  ) {
    super("TTL_NOT_ENABLED", `${serverMessage}: ${TTL_NOT_ENABLED_FIX}`, options);
    this.serverMessage = serverMessage;
  }
}

/**
 * The request's API version is not the one of TiKV's storage (TiKV ApiVersionNotMatched): the
 * client's `apiVersion` option does not match the cluster's `storage.api-version`.
 */
export class ApiVersionMismatchError extends TikvError {
  constructor(
    message: string,
    /** TiKV's name of the command ("raw_put", "prewrite"...), when known. */
    readonly command?: string,
    /** The storage's API version as TiKV names it ("V1", "V1ttl", "V2"), when known. */
    readonly storageApiVersion?: string,
    /** The request's API version as TiKV names it, when known. */
    readonly requestApiVersion?: string,
    options?: TikvErrorOptions,
  ) {
    super("API_VERSION_NOT_MATCHED", message, options);
  }
}

/**
 * TiKV refused a key or range outside the request's key mode (TiKV InvalidKeyMode /
 * InvalidKeyRangeMode: in API v2 raw keys start with 'r' and transactional keys with 'x').
 */
export class InvalidKeyModeError extends TikvError {
  constructor(
    message: string,
    /** TiKV's name of the command, when known. */
    readonly command?: string,
    options?: TikvErrorOptions,
  ) {
    super("INVALID_KEY_MODE", message, options);
  }
}

/** A region error that reached the caller (errorpb.Error), e.g. one the retry layer does not handle. */
export class RegionError extends TikvError {
  constructor(
    /** The raw region error. */
    readonly regionError: RegionErrorProto,
    /** Id of the region the request was sent to, when known. */
    readonly regionId?: bigint,
    options?: TikvErrorOptions,
  ) {
    super(
      "REGION_ERROR",
      `region error${regionId === undefined ? "" : ` on region ${regionId}`}: ${regionError.message || regionErrorKind(regionError)}`,
      options,
    );
  }
}

/** Name of the first set field of an errorpb.Error ("notLeader", "epochNotMatch"...), or "unknown". */
export function regionErrorKind(err: RegionErrorProto): string {
  for (const [k, v] of Object.entries(err)) {
    if (k !== "message" && v !== undefined) return k;
  }
  return "unknown";
}

/** PD returned an error header (client-go PDError wrapping pdpb.Error). */
export class PdError extends TikvError {
  constructor(
    /** pdpb.ErrorType of the error. */
    readonly pdErrorType: PdErrorType,
    /** PD's message. */
    readonly pdMessage: string,
    options?: TikvErrorOptions,
  ) {
    super("PD_ERROR", `pd error ${PdErrorType[pdErrorType] ?? pdErrorType}: ${pdMessage}`, options);
  }
}

/** A gRPC call failed with a status (transport error, unavailable store, deadline...). */
export class GrpcError extends TikvError {
  constructor(
    /** The gRPC status code (@grpc/grpc-js `status`). */
    readonly grpcCode: number,
    /** The status details. */
    readonly details: string,
    /** Address of the server, when known. */
    readonly address?: string,
    options?: TikvErrorOptions,
  ) {
    super("GRPC_ERROR", `grpc error ${grpcCode}${address ? ` from ${address}` : ""}: ${details}`, options);
  }
}

/** An operation exceeded its deadline. */
export class TimeoutError extends TikvError {
  constructor(
    /** What timed out. */
    readonly operation: string,
    /** The deadline in ms. */
    readonly timeoutMs: number,
    options?: TikvErrorOptions,
  ) {
    super("TIMEOUT", `${operation} timed out after ${timeoutMs}ms`, options);
  }
}

/**
 * The caller cancelled the operation (AbortSignal), or it was interrupted
 * (client-go ErrQueryInterruptedWithSignal). The abort reason is also the error's `cause`
 * (unless another cause is given).
 */
export class AbortedError extends TikvError {
  constructor(
    /** The abort reason given by the caller, if any. */
    readonly reason?: unknown,
    /** Interrupt signal number, for parity with client-go's kill signal. */
    readonly signal?: number,
    options?: TikvErrorOptions,
  ) {
    super("ABORTED", signal !== undefined ? `query interrupted by signal ${signal}` : "operation aborted", {
      cause: options?.cause ?? reason,
    });
  }
}

/** A retry loop spent its whole backoff budget (client-go Backoffer: "maxSleep is exceeded"). */
export class BackoffExhaustedError extends TikvError {
  constructor(
    /** Name of the backoff kind that ran out (e.g. "regionMiss", "tikvRPC", "txnLock"). */
    readonly backoffKind: string,
    /** Total time slept, in ms. */
    readonly totalSleepMs: number,
    /** The budget, in ms. */
    readonly maxSleepMs: number,
    /** The errors met on the way, oldest first; the last one is also `cause`. */
    readonly errors: readonly unknown[] = [],
    options?: TikvErrorOptions,
  ) {
    super(
      "BACKOFF_EXHAUSTED",
      `backoff ${backoffKind} exhausted: slept ${totalSleepMs}ms of ${maxSleepMs}ms` +
        (errors.length > 0 ? `, last error: ${describe(errors[errors.length - 1])}` : ""),
      { cause: options?.cause ?? errors[errors.length - 1] },
    );
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A read ts is ahead of the newest ts PD handed out (client-go oracle.ErrFutureTSRead). */
export class FutureTsReadError extends TikvError {
  constructor(
    readonly readTs: bigint,
    readonly currentTs: bigint,
    options?: TikvErrorOptions,
  ) {
    super(
      "FUTURE_TS_READ",
      `cannot set read timestamp to a future time, readTS: ${readTs}, currentTS: ${currentTs}`,
      options,
    );
  }
}

/**
 * The store ran out of request tokens (client-go ErrTokenLimit): the client already has `limit`
 * requests in flight to it (ConnectOptions.storeLimit). The request was not sent; the client does
 * not retry it (as client-go), the caller may once requests in flight finish.
 */
export class TokenLimitError extends TikvError {
  constructor(
    readonly storeId: bigint,
    /** The per-store limit in force (0 when unknown). */
    readonly limit = 0,
    options?: TikvErrorOptions,
  ) {
    super("TOKEN_LIMIT", `store token is up to the limit, store id = ${storeId}`, options);
  }
}

/** A raw scan asked for more than the maximum limit (client-go rawkv.ErrMaxScanLimitExceeded). */
export class MaxScanLimitExceededError extends TikvError {
  constructor(
    readonly limit: number,
    readonly maxLimit: number,
    options?: TikvErrorOptions,
  ) {
    super(
      "MAX_SCAN_LIMIT_EXCEEDED",
      `limit ${limit} should be less than max scan limit ${maxLimit}`,
      options,
    );
  }
}
