// resource_manager.ResourceManager for the mock PD (PD's resource manager running inside the
// PD server, pkg/mcs/resourcemanager/server/grpc_service.go): group CRUD as unary calls, token
// grants on the AcquireTokenBuckets stream (one answer per message, in order). Only the leader
// serves (PD checkServing); PD's errors go out as gRPC UNKNOWN with PD's text, as a Go handler's
// plain error does. Faults injected on these method names apply as on PD's own RPCs.

import { type ServerDuplexStream, status } from "@grpc/grpc-js";
import {
  type DeleteResourceGroupRequest,
  DeleteResourceGroupResponse,
  type GetResourceGroupRequest,
  GetResourceGroupResponse,
  type ListResourceGroupsRequest,
  ListResourceGroupsResponse,
  type PutResourceGroupRequest,
  PutResourceGroupResponse,
  type ResourceManagerServer,
  type TokenBucketsRequest,
  TokenBucketsResponse,
} from "../../../proto/resource_manager.js";
import { guardStream, guardUnary } from "../call-guard.js";
import { notLeaderError, statusError } from "../errors.js";
import type { PdState } from "../pd-state.js";
import { ResourceGroupRegistry, ResourceManagerError } from "./groups.js";

// one registry per PD cluster, shared by its members (kept beside the state, not in it)
const registries = new WeakMap<PdState, ResourceGroupRegistry>();

/** The resource groups of the PD cluster whose state is `state` (created on first use). */
export function resourceManagerOf(state: PdState): ResourceGroupRegistry {
  let r = registries.get(state);
  if (!r) {
    r = new ResourceGroupRegistry(state.now);
    registries.set(state, r);
  }
  return r;
}

const SUCCESS = "Success!";

// PD's errors become UNKNOWN statuses with the message (as grpc-go does with a plain error)
function pdError(e: unknown): Error {
  return e instanceof ResourceManagerError ? statusError(status.UNKNOWN, e.message) : (e as Error);
}

/** Builds the resource manager service of member `member`. */
export function createResourceManagerService(state: PdState, member: number): ResourceManagerServer {
  const rm = resourceManagerOf(state);
  const unary = <Req, Res>(method: string, fn: (req: Req) => Res) =>
    guardUnary<Req, Res>(state, member, method, { checkClusterId: false }, (req) => {
      try {
        return fn(req);
      } catch (e) {
        throw pdError(e);
      }
    });
  return {
    listResourceGroups: unary("ListResourceGroups", (req: ListResourceGroupsRequest) =>
      ListResourceGroupsResponse.fromPartial({ groups: rm.list(req.keyspaceId, req.withRuStats) }),
    ),
    getResourceGroup: unary("GetResourceGroup", (req: GetResourceGroupRequest) =>
      GetResourceGroupResponse.fromPartial({
        group: rm.get(req.resourceGroupName, req.keyspaceId, req.withRuStats),
      }),
    ),
    addResourceGroup: unary("AddResourceGroup", (req: PutResourceGroupRequest) => {
      rm.add(req.group);
      return PutResourceGroupResponse.fromPartial({ body: SUCCESS });
    }),
    modifyResourceGroup: unary("ModifyResourceGroup", (req: PutResourceGroupRequest) => {
      rm.modify(req.group);
      return PutResourceGroupResponse.fromPartial({ body: SUCCESS });
    }),
    deleteResourceGroup: unary("DeleteResourceGroup", (req: DeleteResourceGroupRequest) => {
      rm.delete(req.resourceGroupName, req.keyspaceId);
      return DeleteResourceGroupResponse.fromPartial({ body: SUCCESS });
    }),
    acquireTokenBuckets: (call: ServerDuplexStream<TokenBucketsRequest, TokenBucketsResponse>) =>
      guardStream(state, member, "AcquireTokenBuckets", call, (req) => {
        if (!state.isLeader(member)) throw notLeaderError();
        try {
          return TokenBucketsResponse.fromPartial({ responses: rm.acquire(req) });
        } catch (e) {
          throw pdError(e);
        }
      }),
  };
}
