// Unary call helpers: deadline, AbortSignal -> cancel, typed errors.

import { type Client, status as GrpcStatus, Metadata, type ServiceError } from "@grpc/grpc-js";
import { AbortedError, GrpcError, notSent, storeCallError, TimeoutError } from "./errors.js";

/** Per-request options accepted by every transport call. */
export interface CallOptions {
  /** Fail with TimeoutError when no reply arrives within this many milliseconds. */
  timeoutMs?: number;
  /** Abort the request (fails with AbortedError, the gRPC call is cancelled). */
  signal?: AbortSignal;
}

/** Node-style reply callback used on the hot path instead of promises. */
export type Reply<T> = (err: Error | null, resp?: T) => void;

/** The parts of a ts-proto grpc-js method definition a unary call needs. */
export interface UnaryMethod<Req, Resp> {
  readonly path: string;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Resp;
}

const EMPTY_METADATA = new Metadata();

/**
 * Issues one unary call on `client` and reports through `reply` exactly once; `metadata` goes
 * with the call (e.g. tikv-forwarded-host when a follower forwards it).
 * Errors: TimeoutError (deadline), AbortedError (signal), GrpcError (any other status).
 */
export function unaryCall<Req, Resp>(
  client: Client,
  method: UnaryMethod<Req, Resp>,
  req: Req,
  opts: CallOptions | undefined,
  reply: Reply<Resp>,
  address?: string,
  metadata: Metadata = EMPTY_METADATA,
): void {
  const signal = opts?.signal;
  if (signal?.aborted) {
    queueMicrotask(() => reply(notSent(new AbortedError(signal.reason))));
    return;
  }
  const timeoutMs = opts?.timeoutMs;
  let aborted = false;
  let onAbort: (() => void) | undefined;
  const call = client.makeUnaryRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    req,
    metadata,
    timeoutMs !== undefined && timeoutMs > 0 ? { deadline: Date.now() + timeoutMs } : {},
    (err: ServiceError | null, resp?: Resp) => {
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      if (!err) return reply(null, resp);
      // the caller's reason is the cause (the CANCELLED status only echoes the cancel)
      if (aborted) return reply(new AbortedError(signal?.reason));
      if (err.code === GrpcStatus.DEADLINE_EXCEEDED && timeoutMs !== undefined) {
        return reply(new TimeoutError(`${method.path} to ${address ?? "peer"}`, timeoutMs, { cause: err }));
      }
      reply(storeCallError(err, address));
    },
  );
  if (signal) {
    onAbort = () => {
      aborted = true;
      call.cancel();
    };
    signal.addEventListener("abort", onAbort, { once: true });
  }
}

/** Promise form of {@link unaryCall}. */
export function unaryCallAsync<Req, Resp>(
  client: Client,
  method: UnaryMethod<Req, Resp>,
  req: Req,
  opts?: CallOptions,
  address?: string,
): Promise<Resp> {
  return new Promise((resolve, reject) =>
    unaryCall(client, method, req, opts, (err, resp) => (err ? reject(err) : resolve(resp as Resp)), address),
  );
}

/** Waits until the channel of `client` is connected, or fails with a GrpcError(UNAVAILABLE). */
export function waitForReady(client: Client, timeoutMs: number, address?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => {
      if (!err) return resolve();
      reject(
        new GrpcError(GrpcStatus.UNAVAILABLE, `connect failed: ${err.message}`, address, { cause: err }),
      );
    });
  });
}
