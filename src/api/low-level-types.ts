// The public types of the low-level request API, apart from its implementation so the published
// declarations of TikvClient do not reach the actors (and xstate) through them. The command
// names, request and response types are read off the generated tikvpb service definition.

import type { ReplicaReadType } from "../actors/region-cache/replica-selector.js";
import type { KeyMode } from "../kv/api-codec.js";
import type { KeyInput } from "../kv/key.js";
import type { TikvService } from "../proto/tikvpb.js";

type Service = typeof TikvService;
type Unary = { requestStream: false; responseStream: false };

/** Name of a unary tikvpb.Tikv RPC, as in the proto ("KvGet", "RawPut", "SplitRegion", ...). */
export type TikvRpcName = {
  [K in keyof Service]: Service[K] extends Unary & { path: `/tikvpb.Tikv/${infer N}` } ? N : never;
}[keyof Service];

type MethodOf<N extends TikvRpcName> = {
  [K in keyof Service]: Service[K] extends Unary & { path: `/tikvpb.Tikv/${N}` } ? Service[K] : never;
}[keyof Service];

/** The request message of RPC `N` (e.g. kvrpcpb.GetRequest for "KvGet"). */
export type TikvRpcRequest<N extends TikvRpcName> = Parameters<MethodOf<N>["requestSerialize"]>[0];
/** The response message of RPC `N` (e.g. kvrpcpb.GetResponse for "KvGet"). */
export type TikvRpcResponse<N extends TikvRpcName> = ReturnType<MethodOf<N>["responseDeserialize"]>;

/**
 * What a caller gives: the request without its `context` (the sender fills it in), any field
 * left out taking its proto default. Nested messages must be complete.
 */
export type TikvRpcInput<N extends TikvRpcName> = Partial<Omit<TikvRpcRequest<N>, "context">>;

/** Where a low-level request goes: the region holding a key, a region by id, or a store. */
export type RequestTarget = { key: KeyInput } | { regionId: bigint | number } | { storeId: bigint | number };

/** Options of {@link TikvClient.sendRequest}. */
export interface SendRequestOptions {
  /** Deadline of the call in ms, retries included (default: the client's `timeoutMs`; 0 = none). */
  timeoutMs?: number;
  /** Retry budget in ms (default: the client's `maxBackoffMs`). */
  maxBackoffMs?: number;
  /** Cancels the call (AbortedError). */
  signal?: AbortSignal;
  /** Which replicas may serve a read (KvGet, KvBatchGet, KvScan; default "leader"). */
  replicaRead?: ReplicaReadType;
  /**
   * Key codec and region cache of the request (default: "raw" for Raw* commands, "txn" for the
   * others). Matters for the region routing (transactional region boundaries are memcomparable)
   * and, in API v2, for the keyspace prefix put on every key.
   */
  keyMode?: KeyMode;
}
