// Starts the resource group controller of a client when `resourceControl` is on, and puts its
// interceptor first in the client's chain (client-go: the resource control interceptor runs
// before the context's RPC interceptors).

import type { PdActor } from "../../actors/pd/pd-actor.js";
import { chainRpcInterceptors } from "../../actors/request/interceptor.js";
import { ResourceGroupsController } from "../../actors/resource-control/controller.js";
import { PdResourceManager } from "../../actors/resource-control/pd-resource-manager.js";
import type { ResolvedConnectOptions } from "../options.js";

// the id PD keys this client's token slot by (client-go: random per process)
function clientUniqueId(): bigint {
  const b = new BigUint64Array(1);
  crypto.getRandomValues(b);
  return b[0] as bigint;
}

/** The controller (undefined when resource control is off); `opts.interceptor` gains its interceptor. */
export function startResourceControl(
  opts: ResolvedConnectOptions,
  pd: PdActor,
): ResourceGroupsController | undefined {
  const cfg = opts.resourceControl;
  if (cfg === undefined) return undefined;
  const port = new PdResourceManager(
    () => pd.leader,
    { tls: opts.tls, grpcOptions: opts.grpcOptions },
    opts.pdTimeoutMs,
  );
  const rc = new ResourceGroupsController(port, { ...cfg, clientId: clientUniqueId() });
  opts.interceptor =
    opts.interceptor === undefined ? rc.interceptor : chainRpcInterceptors(rc.interceptor, opts.interceptor);
  return rc;
}
