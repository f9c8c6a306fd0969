// pdpb.PD implementation for one member of the mock PD. Each handler answers as PD's
// server/grpc_service.go and server/gc_service.go do: errors in the response header where PD
// puts them there, gRPC statuses where PD returns them. This file holds membership and TSO;
// the other handlers live in region-, gc- and admin-handlers.ts.
import type { ServerDuplexStream } from "@grpc/grpc-js";
import {
  GetClusterInfoResponse,
  GetMembersResponse,
  GetMinTSResponse,
  type PDServer,
  ServiceMode,
  type TsoRequest,
  TsoResponse,
} from "../../proto/pdpb.js";
import { adminHandlers } from "./admin-handlers.js";
import { guardStream, handlerKit } from "./call-guard.js";
import { mismatchClusterIdError, tsoNotLeaderError } from "./errors.js";
import { gcHandlers } from "./gc-handlers.js";
import type { PdState } from "./pd-state.js";
import { regionHandlers } from "./region-handlers.js";
import { unpackTs } from "./tso.js";

/** Builds the pdpb.PD service implementation of member `member`. */
export function createPdService(state: PdState, member: number): PDServer {
  const kit = handlerKit(state, member);
  const { ok, unary } = kit;
  return {
    getMembers: unary("GetMembers", { leaderOnly: false, checkClusterId: false }, () => {
      const leader = state.leader();
      return GetMembersResponse.fromPartial({
        header: ok(),
        members: state.members,
        leader,
        etcdLeader: leader,
      });
    }),

    getClusterInfo: unary("GetClusterInfo", { leaderOnly: false, checkClusterId: false }, () =>
      GetClusterInfoResponse.fromPartial({
        header: ok(),
        // API mode: timestamps come from the TSO servers (pd server/grpc_service.go GetClusterInfo)
        serviceModes: [state.tsoServers ? ServiceMode.API_SVC_MODE : ServiceMode.PD_SVC_MODE],
        tsoUrls: state.tsoServers?.liveEndpoints.map((e) => `http://${e}`) ?? [],
      }),
    ),

    tso: (call: ServerDuplexStream<TsoRequest, TsoResponse>) =>
      guardStream(state, member, "Tso", call, (req) => {
        const got = req.header?.clusterId ?? 0n;
        if (got !== state.clusterId) throw mismatchClusterIdError(state.clusterId, got);
        if (!state.isLeader(member)) throw tsoNotLeaderError();
        const ts = state.tso.generate(req.count);
        return TsoResponse.fromPartial({
          header: ok(),
          count: req.count,
          timestamp: { physical: BigInt(ts.physical), logical: BigInt(ts.logical), suffixBits: 0 },
        });
      }),

    getMinTs: unary("GetMinTS", {}, () => {
      // API mode: the minimum over every keyspace group's TSO (PD asks all TSO servers)
      const ts = state.tsoServers ? unpackTs(state.tsoServers.minTs()) : state.tso.generate(1);
      return GetMinTSResponse.fromPartial({
        header: ok(),
        timestamp: { physical: BigInt(ts.physical), logical: BigInt(ts.logical), suffixBits: 0 },
      });
    }),

    ...regionHandlers(kit),
    ...gcHandlers(kit),
    ...adminHandlers(kit),
  };
}
