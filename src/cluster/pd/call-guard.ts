// The checks PD runs before a handler (server/grpc_service.go unaryFollowerMiddleware and
// validateRoleInRequest): injected faults and delays first, then leadership (followers answer
// region reads only when the client sets the follower-handle metadata), then the cluster id.
import {
  type handleUnaryCall,
  type Metadata,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import type { ErrorType, RequestHeader, ResponseHeader } from "../../proto/pdpb.js";
import {
  errorHeader,
  mismatchClusterIdError,
  notLeaderError,
  notStartedError,
  okHeader,
  statusError,
  tsoNotLeaderError,
} from "./errors.js";
import type { PdFaultKind } from "./faults.js";
import type { PdState } from "./pd-state.js";

/** Metadata key a client sets to let followers answer (pd grpcutil FollowerHandleMetadataKey). */
export const FOLLOWER_HANDLE_METADATA_KEY = "pd-allow-follower-handle";

/** How PD validates a method. */
export interface GuardOptions {
  /** Only the leader answers (default true). */
  leaderOnly?: boolean;
  /** Followers answer when the request carries the follower-handle metadata. */
  followerReadable?: boolean;
  /** The request header's cluster id must match (default true). */
  checkClusterId?: boolean;
}

/** Context passed to a guarded handler. */
export interface HandlerContext {
  /** Whether a follower is answering (follower-handle read). */
  follower: boolean;
}

/** The error an injected fault produces. */
export function faultError(fault: PdFaultKind, stream: boolean): ServiceError {
  switch (fault.kind) {
    case "notLeader":
      return stream ? tsoNotLeaderError() : notLeaderError();
    case "unavailable":
      // What a closed PD server answers (errs.ErrNotStarted).
      return notStartedError();
    case "status":
      return statusError(fault.code, fault.details);
  }
}

/** Resolves after `ms` milliseconds (injected delays). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function toServiceError(e: unknown): ServiceError {
  if (e && typeof e === "object" && "code" in e && typeof (e as ServiceError).code === "number")
    return e as ServiceError;
  // A Go handler returning a plain error surfaces as status Unknown with its message.
  return statusError(status.UNKNOWN, e instanceof Error ? e.message : String(e));
}

/**
 * Serves a duplex stream of member `member` (PD's Tso, the resource manager's token stream):
 * every message goes through the fault registry, answers go out in request order even with an
 * injected delay, and the first failure (a fault, or `answer` throwing: a ServiceError as is,
 * anything else as PD's Unknown) ends the stream.
 */
export function guardStream<Req, Res>(
  state: PdState,
  member: number,
  method: string,
  call: ServerDuplexStream<Req, Res>,
  answer: (req: Req) => Res,
): void {
  let chain = Promise.resolve();
  let failed = false;
  const fail = (e: ServiceError) => {
    if (failed) return;
    failed = true;
    call.emit("error", e);
  };
  call.on("data", (req: Req) => {
    const fault = state.faults.enter(method, member, req);
    chain = chain.then(async () => {
      if (failed) return;
      const delay = state.faults.delayOf(method);
      if (delay > 0) await sleep(delay);
      if (fault) return fail(faultError(fault, true));
      try {
        call.write(answer(req));
      } catch (e) {
        fail(toServiceError(e));
      }
    });
  });
  call.on("end", () => {
    void chain.then(() => {
      if (!failed) call.end();
    });
  });
  call.on("error", () => {
    failed = true;
  });
}

/** Wraps a unary handler of member `member` with PD's checks and the fault registry. */
export function guardUnary<Req, Res>(
  state: PdState,
  member: number,
  method: string,
  opts: GuardOptions,
  fn: (req: Req, ctx: HandlerContext) => Res | Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  const leaderOnly = opts.leaderOnly ?? true;
  const checkClusterId = opts.checkClusterId ?? true;
  return (call, callback) => {
    void (async () => {
      const fault = state.faults.enter(method, member, call.request);
      const delay = state.faults.delayOf(method);
      if (delay > 0) await sleep(delay);
      if (fault) return callback(faultError(fault, false));
      let follower = false;
      if (leaderOnly && !state.isLeader(member)) {
        if (!opts.followerReadable || !hasFollowerHandle(call.metadata)) return callback(notLeaderError());
        follower = true;
      }
      const got = (call.request as { header?: RequestHeader }).header?.clusterId ?? 0n;
      if (checkClusterId && got !== state.clusterId)
        return callback(mismatchClusterIdError(state.clusterId, got));
      try {
        callback(null, await fn(call.request, { follower }));
      } catch (e) {
        callback(toServiceError(e));
      }
    })();
  };
}

function hasFollowerHandle(md: Metadata): boolean {
  return md.get(FOLLOWER_HANDLE_METADATA_KEY).length > 0;
}

/** What every handler file needs: the shared state, this member, header builders and guard. */
export interface HandlerKit {
  state: PdState;
  member: number;
  /** An OK header with the cluster id. */
  ok(): ResponseHeader;
  /** A header carrying a PD error. */
  err(type: ErrorType, message: string): ResponseHeader;
  /** A unary handler wrapped in PD's checks (see {@link guardUnary}). */
  unary<Req, Res>(
    method: string,
    opts: GuardOptions,
    fn: (req: Req, ctx: HandlerContext) => Res | Promise<Res>,
  ): handleUnaryCall<Req, Res>;
}

/** Builds the {@link HandlerKit} of member `member`. */
export function handlerKit(state: PdState, member: number): HandlerKit {
  return {
    state,
    member,
    ok: () => okHeader(state.clusterId),
    err: (type, message) => errorHeader(state.clusterId, type, message),
    unary: (method, opts, fn) => guardUnary(state, member, method, opts, fn),
  };
}
