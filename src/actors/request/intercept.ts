// One attempt sent through an RPC interceptor chain (client-go internal/client/client_interceptor.go).
// Used only when a chain is set: the request sender's path without interceptors never comes here.

import { TikvError } from "../../errors/base.js";
import { PeerRole } from "../../proto/metapb.js";
import { notSent } from "../../rpc/errors.js";
import type { TikvCommand, TikvRequest, TikvResponse } from "../../rpc/tikv-commands.js";
import { type RpcInterceptor, RpcRejectedError, type RpcRequest } from "./interceptor.js";
import type { RpcContext } from "./rpc-context.js";
import type { StoreSender, StoreSendOptions } from "./store-sender.js";

/**
 * Sends `req` to `rc`'s store through `chain`. An error raised before the chain reached the
 * transport means the call was refused: it is marked not sent, and anything but a TikvError
 * becomes an {@link RpcRejectedError} (so the retry policy fails the call instead of blaming
 * the store).
 */
export async function sendIntercepted<C extends TikvCommand>(
  store: StoreSender,
  chain: RpcInterceptor,
  rc: RpcContext,
  cmd: C,
  req: TikvRequest<C>,
  opts: StoreSendOptions,
): Promise<TikvResponse<C>> {
  let reached = false;
  const invoke = chain.wrap((r: RpcRequest) => {
    reached = true;
    return store.send(
      { storeId: r.storeId, address: r.address, forwardedHost: rc.forwardedHost },
      cmd,
      r.request as TikvRequest<C>,
      opts,
    );
  });
  const info: RpcRequest = {
    command: cmd,
    regionId: rc.region.id,
    storeId: rc.storeId,
    address: rc.address,
    context: rc.context,
    request: req,
    attempt: rc.attempt,
    replicaCount: replicaCount(rc),
    signal: opts.signal,
  };
  let resp: unknown;
  try {
    resp = await invoke(info);
  } catch (e) {
    if (reached) throw e;
    throw notSent(
      e instanceof TikvError
        ? e
        : new RpcRejectedError(
            `${cmd} refused by an interceptor: ${e instanceof Error ? e.message : String(e)}`,
            {
              cause: e,
            },
          ),
    );
  }
  if (resp === null || typeof resp !== "object") {
    const err = new RpcRejectedError(`${cmd}: an interceptor returned no response`);
    throw reached ? err : notSent(err);
  }
  return resp as TikvResponse<C>;
}

// voters and learners of the attempt's region, as client-go counts them for RU
function replicaCount(rc: RpcContext): number {
  let n = 0;
  for (const p of rc.region.meta.peers) if (p.role === PeerRole.Voter || p.role === PeerRole.Learner) n++;
  return n > 0 ? n : 1;
}
