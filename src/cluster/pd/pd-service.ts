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
import { faultError, handlerKit, sleep } from "./call-guard.js";
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

    tso: (call: ServerDuplexStream<TsoRequest, TsoResponse>) => {
      // Answers go out in request order even when a delay is injected.
      let chain = Promise.resolve();
      let failed = false;
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        call.emit("error", e);
      };
      call.on("data", (req: TsoRequest) => {
        const fault = state.faults.enter("Tso", member, req);
        chain = chain.then(async () => {
          if (failed) return;
          const delay = state.faults.delayOf("Tso");
          if (delay > 0) await sleep(delay);
          if (fault) return fail(faultError(fault, true));
          const got = req.header?.clusterId ?? 0n;
          if (got !== state.clusterId) return fail(mismatchClusterIdError(state.clusterId, got));
          if (!state.isLeader(member)) return fail(tsoNotLeaderError());
          try {
            const ts = state.tso.generate(req.count);
            call.write(
              TsoResponse.fromPartial({
                header: ok(),
                count: req.count,
                timestamp: { physical: BigInt(ts.physical), logical: BigInt(ts.logical), suffixBits: 0 },
              }),
            );
          } catch (e) {
            fail(e as Error);
          }
        });
      });
      call.on("end", () => {
        void chain.then(() => {
          if (!failed) call.end();
        });
      });
      call.on("error", () => {
        failed = true;
      });
    },

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
