// The resource group tagger (client-go ResourceGroupTagger) as an interceptor: each attempt that
// carries no resource_group_tag gets the tagger's answer. The context is shared and frozen, so
// the tagged attempt sends a copy of the request with a copy of its context.

import type { Context } from "../../proto/kvrpcpb.js";
import { type RpcInterceptor, type RpcRequest, rpcInterceptor } from "./interceptor.js";

/** Tags requests without a resource group tag with `tagger`'s answer (undefined: left untagged). */
export function resourceTagInterceptor(
  tagger: (req: RpcRequest) => Buffer | Uint8Array | undefined,
): RpcInterceptor {
  return rpcInterceptor("resource-group-tagger", (next) => (req) => {
    // the request's own context: the call's fields (a set tag among them) are merged into it
    const ctx = (req.request as { context?: Context }).context ?? req.context;
    if (ctx.resourceGroupTag.length > 0) return next(req);
    const tag = tagger(req);
    if (tag === undefined || tag.length === 0) return next(req);
    const resourceGroupTag = Buffer.from(tag.buffer, tag.byteOffset, tag.byteLength);
    const context = { ...ctx, resourceGroupTag };
    return next({ ...req, context, request: { ...(req.request as object), context } });
  });
}
