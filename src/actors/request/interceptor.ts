// RPC interceptors (client-go tikvrpc/interceptor): functions that wrap every TiKV RPC the client
// sends, to observe it (before / after, with its request, target and outcome) or to refuse it.
// Set per client (connect option `interceptors`), per transaction (begin option `interceptor`)
// and per snapshot (snapshot option `interceptor`); they compose client → transaction/snapshot.

import { InvalidArgumentError, TikvError, type TikvErrorOptions } from "../../errors/base.js";
import type { Context } from "../../proto/kvrpcpb.js";

/** One TiKV RPC as an interceptor sees it (one attempt: a retry is intercepted again). */
export interface RpcRequest {
  /** The TiKV command, e.g. "Get", "Prewrite", "RawPut". */
  readonly command: string;
  /** The region the attempt goes to. */
  readonly regionId: bigint;
  /** The target store. */
  readonly storeId: bigint;
  /** The target store's address (client-go's `target`). */
  readonly address: string;
  /** The request's kvrpcpb.Context (shared with other requests: do not modify). */
  readonly context: Readonly<Context>;
  /** The request message as it will be sent. */
  readonly request: unknown;
  /**
   * 0 for the first attempt to a region, then 1, 2... for the retries the routing layer makes
   * (a call that re-splits its keys after a region change starts again at 0).
   */
  readonly attempt: number;
  /**
   * Voters and learners of the region (client-go Request.ReplicaNumber, the factor of a write's
   * RU cost); 1 when the region's peers are not known.
   */
  readonly replicaCount?: number;
  /**
   * The call's abort signal, when it has one (client-go passes the request's ctx): an
   * interceptor that waits (e.g. for resource-group tokens) should stop waiting when it fires.
   */
  readonly signal?: AbortSignal;
}

/**
 * Sends one RPC (the rest of the chain, then the transport): resolves with the response (which
 * may carry a region error the client handles), rejects with the transport's error.
 */
export type RpcInvoker = (req: RpcRequest) => Promise<unknown>;

/**
 * Wraps an {@link RpcInvoker} with code run before and after it (client-go RPCInterceptor).
 * Throwing (or rejecting) before calling `next` refuses the call: throw an
 * {@link RpcRejectedError} to fail it at once, without retries.
 *
 * @example
 * ```ts
 * const log = rpcInterceptor("log", (next) => async (req) => {
 *   const t = Date.now();
 *   try {
 *     return await next(req);
 *   } finally {
 *     console.log(req.command, req.address, Date.now() - t, "ms");
 *   }
 * });
 * ```
 */
export interface RpcInterceptor {
  /** Name; a chain keeps only the last interceptor of each name. */
  readonly name: string;
  /** The invoker that runs this interceptor around `next`. */
  wrap(next: RpcInvoker): RpcInvoker;
}

/** An interceptor refused an RPC: the call fails with this error, it is not retried and was not sent. */
export class RpcRejectedError extends TikvError {
  constructor(
    /** Why the call was refused. */
    message: string,
    options?: TikvErrorOptions,
  ) {
    super("RPC_REJECTED", message, options);
  }
}

/** Builds an {@link RpcInterceptor} from its name and wrap function (client-go NewRPCInterceptor). */
export function rpcInterceptor(name: string, wrap: (next: RpcInvoker) => RpcInvoker): RpcInterceptor {
  if (typeof name !== "string") throw new InvalidArgumentError("must be a string", "name");
  if (typeof wrap !== "function") throw new InvalidArgumentError("must be a function", "wrap");
  return { name, wrap };
}

/**
 * Interceptors run in link order, as an onion: the first linked runs first and returns last
 * (client-go RPCInterceptorChain). Linking a chain links its members; linking a name already
 * present removes the earlier one.
 */
export class RpcInterceptorChain implements RpcInterceptor {
  readonly name = "interceptor-chain";
  private readonly chain: RpcInterceptor[] = [];

  /** Appends `it` (or the members of a chain); returns this chain. */
  link(it: RpcInterceptor): this {
    checkInterceptor(it, "interceptor");
    if (it instanceof RpcInterceptorChain) {
      for (const i of it.chain) this.link(i);
      return this;
    }
    const i = this.chain.findIndex((c) => c.name === it.name);
    if (i >= 0) this.chain.splice(i, 1);
    this.chain.push(it);
    return this;
  }

  /** Number of interceptors in the chain. */
  get length(): number {
    return this.chain.length;
  }

  /** Names of the interceptors, in run order. */
  get names(): string[] {
    return this.chain.map((c) => c.name);
  }

  wrap(next: RpcInvoker): RpcInvoker {
    let f = next;
    for (let n = this.chain.length - 1; n >= 0; n--) f = (this.chain[n] as RpcInterceptor).wrap(f);
    return f;
  }
}

/** A new chain of `first` then `rest`, in order (client-go ChainRPCInterceptors). */
export function chainRpcInterceptors(first: RpcInterceptor, ...rest: RpcInterceptor[]): RpcInterceptorChain {
  const chain = new RpcInterceptorChain().link(first);
  for (const it of rest) chain.link(it);
  return chain;
}

/** Checks an interceptor option; throws InvalidArgumentError naming `name`. */
export function checkInterceptor(v: unknown, name: string): RpcInterceptor {
  if (
    v === null ||
    typeof v !== "object" ||
    typeof (v as RpcInterceptor).name !== "string" ||
    typeof (v as RpcInterceptor).wrap !== "function"
  ) {
    throw new InvalidArgumentError("must be an RpcInterceptor { name, wrap(next) }", name);
  }
  return v as RpcInterceptor;
}

/**
 * The interceptor of `outer` then `inner` (either may be absent): what a transaction or snapshot
 * runs on top of its client's interceptors.
 */
export function composeInterceptors(
  outer: RpcInterceptor | undefined,
  inner: RpcInterceptor | undefined,
): RpcInterceptor | undefined {
  if (outer === undefined) return inner;
  if (inner === undefined) return outer;
  return chainRpcInterceptors(outer, inner);
}
