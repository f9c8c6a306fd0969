// keyspacepb.Keyspace for the mock PD (pd server/keyspace_service.go): LoadKeyspace validates
// leadership and cluster id like every PD request, then answers the metadata or
// ENTRY_NOT_FOUND in the header.
import {
  type KeyspaceServer,
  type LoadKeyspaceRequest,
  LoadKeyspaceResponse,
} from "../../proto/keyspacepb.js";
import { ErrorType } from "../../proto/pdpb.js";
import { guardUnary } from "./call-guard.js";
import { errorHeader, okHeader } from "./errors.js";
import { KEYSPACE_NOT_FOUND_MESSAGE } from "./keyspaces.js";
import type { PdState } from "./pd-state.js";

/** Builds the keyspace service of member `member`. */
export function createKeyspaceService(state: PdState, member: number): KeyspaceServer {
  return {
    loadKeyspace: guardUnary(state, member, "LoadKeyspace", {}, (req: LoadKeyspaceRequest) => {
      const meta = state.keyspaces.get(req.name);
      if (!meta) {
        return LoadKeyspaceResponse.fromPartial({
          header: errorHeader(state.clusterId, ErrorType.ENTRY_NOT_FOUND, KEYSPACE_NOT_FOUND_MESSAGE),
        });
      }
      return LoadKeyspaceResponse.fromPartial({ header: okHeader(state.clusterId), keyspace: meta });
    }),
  };
}
