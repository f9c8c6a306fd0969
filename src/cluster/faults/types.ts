import type { status } from "@grpc/grpc-js";
import type { DeepPartial, Error as RegionError } from "../../proto/errorpb.js";
import type { KeyError } from "../../proto/kvrpcpb.js";
import type { Error as PdHeaderError } from "../../proto/pdpb.js";
import type { RpcName } from "./rpc-names.js";

/** Key bytes as tests like to write them (strings are UTF-8). */
export type FaultKey = Buffer | Uint8Array | string;

/** Which calls a fault applies to. Unset fields match everything. */
export interface FaultScope {
  /** One RPC, several, or "*" for every RPC. */
  rpc: RpcName | readonly RpcName[] | "*";
  /** Only calls served by this store (TiKV) — ignored for PD calls, which carry no store. */
  storeId?: number | bigint;
  /** Only calls whose context.region_id is this region. */
  regionId?: number | bigint;
  /** Only calls that touch this key (one of the request's keys, or a scan's start key). */
  key?: FaultKey;
}

/**
 * What an injected failure looks like on the wire:
 * - `regionError`: the response carries this errorpb.Error (TiKV) — see `RegionErrors` for
 *   TiKV-shaped builders;
 * - `keyError`: the response carries this KeyError where that response type puts key errors
 *   (`error`, `errors[]`, or a string `error` for raw/range responses);
 * - `grpcStatus`: the call fails with this gRPC status (the request is not executed);
 * - `pdError`: a PD response header error (mock PD only).
 */
export type FaultError =
  | { regionError: DeepPartial<RegionError> }
  | { keyError: DeepPartial<KeyError> }
  | { grpcStatus: status; message?: string }
  | { pdError: DeepPartial<PdHeaderError> };

/** `failNext`: fail the next `count` matching calls (default 1; `Infinity` = until cancelled). */
export interface FailSpec extends FaultScope {
  count?: number;
  error: FaultError;
}

/** `delay`: hold matching calls for `ms` before executing them (default: every call). */
export interface DelaySpec extends FaultScope {
  ms: number;
  count?: number;
}

/**
 * `dropReply`: execute the next `count` matching calls (default 1), then lose the reply
 * (`outcome`): `"hang"` never answers (the client times out), a status fails the call after it was applied.
 */
export interface DropReplySpec extends FaultScope {
  count?: number;
  /** Named `outcome`, not `then`: a `then` key would make the spec look like a promise. */
  outcome?: "hang" | { grpcStatus: status; message?: string };
}

/**
 * One call as the servers report it to the registry. A TiKV BatchCommands stream is reported
 * once as "BatchCommands" when it opens (an error fault fails the stream), then each request
 * in it under its unary name.
 */
export interface CallInfo {
  rpc: RpcName;
  storeId?: bigint;
  regionId?: bigint;
  keys?: readonly Uint8Array[];
  /** The decoded request (read-only; for hooks). */
  request?: unknown;
}

/** Sees every call; returning a FaultError fails that call. */
// biome-ignore lint/suspicious/noConfusingVoidType: hooks that only observe return nothing.
export type RequestHook = (call: CallInfo) => FaultError | undefined | void;

/** What the server must do with one call. */
export interface FaultDecision {
  /** Wait this long before executing (0 = none). */
  delayMs: number;
  /** Answer with this instead of executing. */
  error?: FaultError;
  /** Execute, then drop the reply this way. */
  dropReply?: "hang" | { grpcStatus: status; message?: string };
}

/** Handle on one registered fault. */
export interface FaultHandle {
  /** How many times it has fired. */
  readonly fired: number;
  /** How many more times it will fire (Infinity for unbounded delays). */
  readonly remaining: number;
  /** Stop it from firing again. */
  cancel(): void;
}
