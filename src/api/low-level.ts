// The low-level request API (client-go tikvrpc + KVStore.SendReq): send any unary TiKV command of
// our proto subset to the region of a key, to a region id, or to one store, through the same
// routing, retry and backoff as the client's own calls. The command names, request and response
// types are read off the generated tikvpb service definition, so they cannot drift from it.

import { Bo } from "../actors/backoff/backoff-config.js";
import type { CachedRegion } from "../actors/region-cache/cached-region.js";
import type { ReplicaReadType } from "../actors/region-cache/replica-selector.js";
import { makeControl } from "../actors/runtime/control.js";
import type { RequestControl } from "../actors/runtime/raw-sender.js";
import { poolStoreSender } from "../actors/runtime/routed-sender.js";
import { InvalidArgumentError } from "../errors/base.js";
import { AbortedError, PdError, TimeoutError } from "../errors/server.js";
import type { KeyMode } from "../kv/api-codec.js";
import { toKey } from "../kv/key.js";
import { codecCommand, encodeRequest } from "../kv/request-codec.js";
import { wasNotSent } from "../rpc/errors.js";
import { type TikvCommand, UNARY_METHODS } from "../rpc/tikv-commands.js";
import {
  type AdminContext,
  checkId,
  checkKeyMode,
  checkOptionsObject,
  checkSignal,
} from "./admin/admin-context.js";
import type {
  RequestTarget,
  SendRequestOptions,
  TikvRpcInput,
  TikvRpcName,
  TikvRpcRequest,
  TikvRpcResponse,
} from "./low-level-types.js";
import { checkNonNegativeInt, checkTimeoutMs } from "./options.js";

export type { RequestTarget, SendRequestOptions, TikvRpcInput, TikvRpcName, TikvRpcRequest, TikvRpcResponse };

const PATH_PREFIX = "/tikvpb.Tikv/";

// Our transport's command for each tikvpb RPC name, from the unary method table (the one place
// that pairs the two names).
const COMMANDS: ReadonlyMap<string, Exclude<TikvCommand, "Empty">> = new Map(
  (Object.entries(UNARY_METHODS) as Array<[Exclude<TikvCommand, "Empty">, { path: string }]>).map(
    ([cmd, m]) => [m.path.slice(PATH_PREFIX.length), cmd],
  ),
);

/** Every RPC name {@link TikvClient.sendRequest} accepts. */
export function tikvRpcNames(): string[] {
  return [...COMMANDS.keys()];
}

type AnyMethod = { requestSerialize(v: unknown): Buffer; requestDeserialize(b: Buffer): object };

const REPLICA_READS: readonly ReplicaReadType[] = ["leader", "follower", "mixed", "learner", "preferLeader"];

const EMPTY = Buffer.alloc(0);

// The full request message: proto defaults, then the caller's fields; it must encode (a malformed
// request fails here, typed, rather than inside the transport).
function fullRequest(name: string, method: AnyMethod, input: object): object {
  if ("context" in input && (input as { context?: unknown }).context !== undefined) {
    throw new InvalidArgumentError("the context is filled in by the sender; leave it out", "request.context");
  }
  const req = { ...method.requestDeserialize(EMPTY), ...input };
  delete (req as { context?: unknown }).context;
  try {
    method.requestSerialize(req);
  } catch (e) {
    throw new InvalidArgumentError(`cannot encode a ${name} request: ${(e as Error).message}`, "request", {
      cause: e,
    });
  }
  return req;
}

function checkTarget(t: RequestTarget): { key: Buffer } | { regionId: bigint } | { storeId: bigint } {
  if (t === null || typeof t !== "object") {
    throw new InvalidArgumentError("must be { key } | { regionId } | { storeId }", "target");
  }
  const given = (["key", "regionId", "storeId"] as const).filter(
    (k) => (t as Record<string, unknown>)[k] !== undefined,
  );
  if (given.length !== 1) {
    throw new InvalidArgumentError(
      `give exactly one of key, regionId, storeId (got ${given.length === 0 ? "none" : given.join(", ")})`,
      "target",
    );
  }
  if ("key" in t && t.key !== undefined) return { key: toKey(t.key, "target.key") };
  if ("regionId" in t && t.regionId !== undefined)
    return { regionId: checkId(t.regionId, "target.regionId") };
  return { storeId: checkId((t as { storeId: bigint | number }).storeId, "target.storeId") };
}

/** {@link TikvClient.sendRequest}. */
export async function sendRequest<N extends TikvRpcName>(
  ctx: AdminContext,
  command: N,
  request: TikvRpcInput<N>,
  target: RequestTarget,
  options?: SendRequestOptions,
): Promise<TikvRpcResponse<N>> {
  ctx.checkOpen();
  const cmd = typeof command === "string" ? COMMANDS.get(command) : undefined;
  if (cmd === undefined) {
    throw new InvalidArgumentError(
      `unknown TiKV command ${JSON.stringify(command)} (one of the tikvpb.Tikv unary RPCs, e.g. "KvGet")`,
      "command",
    );
  }
  if (request === null || typeof request !== "object")
    throw new InvalidArgumentError("must be an object", "request");
  const to = checkTarget(target);
  const opts = checkOptionsObject(options);
  const signal = checkSignal(opts.signal);
  const timeoutMs =
    opts.timeoutMs === undefined ? ctx.options.timeoutMs : checkTimeoutMs(opts.timeoutMs, "timeoutMs", true);
  const maxBackoffMs =
    opts.maxBackoffMs === undefined
      ? ctx.options.maxBackoffMs
      : checkNonNegativeInt(opts.maxBackoffMs, "maxBackoffMs");
  const mode =
    opts.keyMode === undefined ? (command.startsWith("Raw") ? "raw" : "txn") : checkKeyMode(opts.keyMode);
  if (opts.replicaRead !== undefined && !REPLICA_READS.includes(opts.replicaRead)) {
    throw new InvalidArgumentError(
      `must be one of ${REPLICA_READS.join(", ")}, got ${String(opts.replicaRead)}`,
      "replicaRead",
    );
  }
  const req = fullRequest(command, UNARY_METHODS[cmd] as unknown as AnyMethod, request);
  if (signal?.aborted) throw new AbortedError(signal.reason);
  const ctl = makeControl({ maxBackoffMs, timeoutMs, signal, metrics: ctx.metrics });
  if (opts.replicaRead !== undefined) ctl.routing = { replicaRead: opts.replicaRead };
  const sender = ctx.sender(mode);
  if ("storeId" in to) return (await sendToStore(ctx, to.storeId, cmd, req, ctl, mode)) as TikvRpcResponse<N>;
  // region targets: resend after every region change the routing layer hands back (a region
  // error it could not handle by itself), within the call's budget
  for (;;) {
    let region: CachedRegion | Promise<CachedRegion> =
      "key" in to ? sender.locate(to.key, ctl) : sender.cache.locateRegionById(to.regionId, ctl.bo);
    if (region instanceof Promise) region = await region;
    const { resp } = await sender.sendOnce(region, cmd, req as never, ctl);
    if (resp) return resp as TikvRpcResponse<N>;
  }
}

// A store-level command: resolve the store's address (PD), send with the key codec applied, and
// retry failed sends that never left the client (TiKVRPC backoff); a store cannot answer with a
// region error to act on.
async function sendToStore(
  ctx: AdminContext,
  storeId: bigint,
  cmd: Exclude<TikvCommand, "Empty">,
  req: object,
  ctl: RequestControl,
  mode: KeyMode,
): Promise<unknown> {
  const sender = ctx.sender(mode);
  const transport = poolStoreSender(ctx.stores, sender.codec, ctx.metrics);
  const encoded = encodeRequest(sender.codec, codecCommand(cmd), req as never);
  for (;;) {
    const store = await sender.cache.stores.resolve(storeId).catch((e: unknown) => {
      // PD's definite answer about this id ("invalid store ID ..., not found")
      if (e instanceof PdError) {
        throw new InvalidArgumentError(`store ${storeId}: ${e.pdMessage}`, "target.storeId", { cause: e });
      }
      throw e;
    });
    if (store.address === "")
      throw new InvalidArgumentError(`store ${storeId} is unknown or a tombstone`, "target.storeId");
    const remaining = ctl.deadline > 0 ? ctl.deadline - Date.now() : 0;
    if (ctl.deadline > 0 && remaining <= 0) throw new TimeoutError(cmd, ctl.timeoutMs);
    try {
      return await transport.send({ storeId, address: store.address }, cmd, encoded as never, {
        timeoutMs: ctl.deadline > 0 ? remaining : undefined,
        signal: ctl.signal,
      });
    } catch (e) {
      if (!wasNotSent(e)) throw e;
      await ctl.bo.backoff(Bo.TiKVRPC, e);
    }
  }
}
