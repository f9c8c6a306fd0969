// GC and safe-point handlers of the mock PD (server/gc_service.go). The new APIs report
// failures in the response header (ErrorType UNKNOWN); the legacy ones (UpdateGCSafePoint,
// UpdateServiceGCSafePoint, GetGCSafePoint) return them as gRPC statuses.
import {
  AdvanceGCSafePointResponse,
  AdvanceTxnSafePointResponse,
  DeleteGCBarrierResponse,
  DeleteGlobalGCBarrierResponse,
  ErrorType,
  GCBarrierInfo,
  GCState,
  type GetAllKeyspacesGCStatesRequest,
  GetAllKeyspacesGCStatesResponse,
  GetGCSafePointResponse,
  GetGCStateResponse,
  GlobalGCBarrierInfo,
  type KeyspaceScope,
  type PDServer,
  type ResponseHeader,
  SetGCBarrierResponse,
  SetGlobalGCBarrierResponse,
  UpdateGCSafePointResponse,
  UpdateServiceGCSafePointResponse,
} from "../../proto/pdpb.js";
import type { HandlerKit } from "./call-guard.js";
import {
  barrierTtlSeconds,
  type GcBarrier,
  GcError,
  type GcStateView,
  NULL_KEYSPACE_ID,
} from "./gc-state.js";

type GcMethods =
  | "getGcState"
  | "advanceTxnSafePoint"
  | "advanceGcSafePoint"
  | "updateGcSafePoint"
  | "updateServiceGcSafePoint"
  | "getGcSafePoint"
  | "setGcBarrier"
  | "deleteGcBarrier"
  | "getAllKeyspacesGcStates"
  | "setGlobalGcBarrier"
  | "deleteGlobalGcBarrier";

function keyspaceIdOf(scope: KeyspaceScope | undefined): number {
  if (!scope) return NULL_KEYSPACE_ID;
  return scope.keyspace?.$case === "keyspaceId" ? scope.keyspace.keyspaceId : 0;
}

function globalBarrierInfo(b: GcBarrier, nowMs: number): GlobalGCBarrierInfo {
  return GlobalGCBarrierInfo.fromPartial({
    barrierId: b.barrierId,
    barrierTs: b.barrierTs,
    ttlSeconds: barrierTtlSeconds(b, nowMs),
  });
}

function barrierInfo(b: GcBarrier, nowMs: number): GCBarrierInfo {
  return GCBarrierInfo.fromPartial({
    barrierId: b.barrierId,
    barrierTs: b.barrierTs,
    ttlSeconds: barrierTtlSeconds(b, nowMs),
  });
}

function gcStateProto(v: GcStateView, nowMs: number): GCState {
  return GCState.fromPartial({
    keyspaceScope: { keyspace: { $case: "keyspaceId", keyspaceId: v.keyspaceId } },
    isKeyspaceLevelGc: v.isKeyspaceLevel,
    txnSafePoint: v.txnSafePoint,
    gcSafePoint: v.gcSafePoint,
    gcBarriers: v.barriers.map((b) => barrierInfo(b, nowMs)),
  });
}

/** GC handlers of one member. */
export function gcHandlers(kit: HandlerKit): Pick<PDServer, GcMethods> {
  const { state, ok, err, unary } = kit;
  const gcHeaderError = <T>(build: (h: ResponseHeader) => T, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof GcError) return build(err(ErrorType.UNKNOWN, e.message));
      throw e;
    }
  };

  return {
    getGcState: unary(
      "GetGCState",
      {},
      (req: {
        keyspaceScope?: KeyspaceScope;
        excludeGcBarriers: boolean;
        includeGlobalGcBarriers: boolean;
      }) =>
        gcHeaderError(
          (header) => GetGCStateResponse.fromPartial({ header }),
          () => {
            const v = state.gc.getState(keyspaceIdOf(req.keyspaceScope), req.excludeGcBarriers);
            return GetGCStateResponse.fromPartial({
              header: ok(),
              gcState: gcStateProto(v, state.now()),
              globalGcBarriers: req.includeGlobalGcBarriers
                ? { barriers: state.gc.globalBarriers().map((b) => globalBarrierInfo(b, state.now())) }
                : undefined,
            });
          },
        ),
    ),

    advanceTxnSafePoint: unary(
      "AdvanceTxnSafePoint",
      {},
      (req: { keyspaceScope?: KeyspaceScope; target: bigint }) =>
        gcHeaderError(
          (header) => AdvanceTxnSafePointResponse.fromPartial({ header }),
          () => {
            const r = state.gc.advanceTxnSafePoint(keyspaceIdOf(req.keyspaceScope), req.target);
            return AdvanceTxnSafePointResponse.fromPartial({
              header: ok(),
              oldTxnSafePoint: r.oldTxnSafePoint,
              newTxnSafePoint: r.newTxnSafePoint,
              blockerDescription: r.blockerDescription,
            });
          },
        ),
    ),

    advanceGcSafePoint: unary(
      "AdvanceGCSafePoint",
      {},
      (req: { keyspaceScope?: KeyspaceScope; target: bigint }) =>
        gcHeaderError(
          (header) => AdvanceGCSafePointResponse.fromPartial({ header }),
          () => {
            const r = state.gc.advanceGcSafePoint(keyspaceIdOf(req.keyspaceScope), req.target);
            return AdvanceGCSafePointResponse.fromPartial({
              header: ok(),
              oldGcSafePoint: r.old,
              newGcSafePoint: r.next,
            });
          },
        ),
    ),

    // Legacy APIs return errors as gRPC statuses (status Unknown), not in the header.
    updateGcSafePoint: unary("UpdateGCSafePoint", {}, (req: { safePoint: bigint }) => {
      const r = state.gc.advanceGcSafePoint(NULL_KEYSPACE_ID, req.safePoint, true);
      return UpdateGCSafePointResponse.fromPartial({ header: ok(), newSafePoint: r.next });
    }),

    updateServiceGcSafePoint: unary(
      "UpdateServiceGCSafePoint",
      {},
      (req: { serviceId: Buffer; TTL: bigint; safePoint: bigint }) => {
        // PD reads the current TSO first (its "now" for TTLs).
        state.tso.generate(1);
        const nowSec = BigInt(Math.floor(state.now() / 1000));
        const min = state.gc.updateServiceSafePoint(
          NULL_KEYSPACE_ID,
          req.serviceId.toString(),
          req.safePoint,
          req.TTL,
        );
        return UpdateServiceGCSafePointResponse.fromPartial({
          header: ok(),
          serviceId: Buffer.from(min.serviceId),
          TTL: min.expiresAtSec - nowSec,
          minSafePoint: min.safePoint,
        });
      },
    ),

    getGcSafePoint: unary("GetGCSafePoint", {}, () =>
      GetGCSafePointResponse.fromPartial({ header: ok(), safePoint: state.gc.gcSafePoint(NULL_KEYSPACE_ID) }),
    ),

    setGcBarrier: unary(
      "SetGCBarrier",
      {},
      (req: { keyspaceScope?: KeyspaceScope; barrierId: string; barrierTs: bigint; ttlSeconds: bigint }) =>
        gcHeaderError(
          (header) => SetGCBarrierResponse.fromPartial({ header }),
          () => {
            const b = state.gc.setBarrier(
              keyspaceIdOf(req.keyspaceScope),
              req.barrierId,
              req.barrierTs,
              req.ttlSeconds,
            );
            return SetGCBarrierResponse.fromPartial({
              header: ok(),
              newBarrierInfo: barrierInfo(b, state.now()),
            });
          },
        ),
    ),

    deleteGcBarrier: unary(
      "DeleteGCBarrier",
      {},
      (req: { keyspaceScope?: KeyspaceScope; barrierId: string }) =>
        gcHeaderError(
          (header) => DeleteGCBarrierResponse.fromPartial({ header }),
          () => {
            const b = state.gc.deleteBarrier(keyspaceIdOf(req.keyspaceScope), req.barrierId);
            return DeleteGCBarrierResponse.fromPartial({
              header: ok(),
              deletedBarrierInfo: b && barrierInfo(b, state.now()),
            });
          },
        ),
    ),

    getAllKeyspacesGcStates: unary("GetAllKeyspacesGCStates", {}, (req: GetAllKeyspacesGCStatesRequest) => {
      const now = state.now();
      const states = state.gc.allStates(state.keyspaces.ids(), req.excludeGcBarriers);
      return GetAllKeyspacesGCStatesResponse.fromPartial({
        header: ok(),
        gcStates: states.map((s) => gcStateProto(s, now)),
        globalGcBarriers: req.excludeGlobalGcBarriers
          ? []
          : state.gc.globalBarriers().map((b) => globalBarrierInfo(b, now)),
      });
    }),

    setGlobalGcBarrier: unary(
      "SetGlobalGCBarrier",
      {},
      (req: { barrierId: string; barrierTs: bigint; ttlSeconds: bigint }) =>
        gcHeaderError(
          (header) => SetGlobalGCBarrierResponse.fromPartial({ header }),
          () => {
            const b = state.gc.setGlobalBarrier(req.barrierId, req.barrierTs, req.ttlSeconds);
            return SetGlobalGCBarrierResponse.fromPartial({
              header: ok(),
              newBarrierInfo: globalBarrierInfo(b, state.now()),
            });
          },
        ),
    ),

    deleteGlobalGcBarrier: unary("DeleteGlobalGCBarrier", {}, (req: { barrierId: string }) =>
      gcHeaderError(
        (header) => DeleteGlobalGCBarrierResponse.fromPartial({ header }),
        () => {
          const b = state.gc.deleteGlobalBarrier(req.barrierId);
          return DeleteGlobalGCBarrierResponse.fromPartial({
            header: ok(),
            deletedBarrierInfo: b && globalBarrierInfo(b, state.now()),
          });
        },
      ),
    ),
  };
}
