// pdpb.PD implementation for one member of the mock PD. Each handler answers as PD's
// server/grpc_service.go and server/gc_service.go do: errors in the response header where PD
// puts them there, gRPC statuses where PD returns them.
import {
  type handleUnaryCall,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerWritableStream,
  status,
} from "@grpc/grpc-js";
import { NodeState } from "../../proto/metapb.js";
import {
  AdvanceGCSafePointResponse,
  AdvanceTxnSafePointResponse,
  AllocIDResponse,
  BatchScanRegionsResponse,
  DeleteGCBarrierResponse,
  ErrorType,
  GCBarrierInfo,
  GCState,
  type GetAllKeyspacesGCStatesRequest,
  GetAllKeyspacesGCStatesResponse,
  GetAllStoresResponse,
  GetClusterConfigResponse,
  GetClusterInfoResponse,
  GetExternalTimestampResponse,
  GetGCSafePointResponse,
  GetGCStateResponse,
  GetMembersResponse,
  GetMinTSResponse,
  GetOperatorResponse,
  GetRegionResponse,
  GetStoreResponse,
  type KeyspaceScope,
  LoadGlobalConfigResponse,
  OperatorStatus,
  type PDServer,
  type ReportBucketsRequest,
  ReportBucketsResponse,
  ScanRegionsResponse,
  ScatterRegionResponse,
  ServiceMode,
  SetExternalTimestampResponse,
  SetGCBarrierResponse,
  SplitAndScatterRegionsResponse,
  SplitRegionsResponse,
  StoreGlobalConfigResponse,
  StoreHeartbeatResponse,
  type TsoRequest,
  TsoResponse,
  UpdateGCSafePointResponse,
  UpdateServiceGCSafePointResponse,
  type WatchGlobalConfigRequest,
  type WatchGlobalConfigResponse,
} from "../../proto/pdpb.js";
import type { RegionInfo } from "../topology/types.js";
import { faultError, type GuardOptions, guardUnary, type HandlerContext, sleep } from "./call-guard.js";
import { errorHeader, mismatchClusterIdError, okHeader, statusError, tsoNotLeaderError } from "./errors.js";
import {
  barrierTtlSeconds,
  type GcBarrier,
  GcError,
  type GcStateView,
  NULL_KEYSPACE_ID,
} from "./gc-state.js";
import type { PdState } from "./pd-state.js";
import {
  downPeerStats,
  encodeRegionMeta,
  locateEncoded,
  pdRegion,
  pendingPeers,
  scanEncoded,
  storeMeta,
} from "./region-answers.js";
import { packTs } from "./tso.js";

const REGION_NOT_FOUND_MESSAGE = "region not found";

function keyspaceIdOf(scope: KeyspaceScope | undefined): number {
  if (!scope) return NULL_KEYSPACE_ID;
  return scope.keyspace?.$case === "keyspaceId" ? scope.keyspace.keyspaceId : 0;
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

/** Builds the pdpb.PD service implementation of member `member`. */
export function createPdService(state: PdState, member: number): PDServer {
  const ok = () => okHeader(state.clusterId);
  const err = (type: ErrorType, msg: string) => errorHeader(state.clusterId, type, msg);
  const unary = <Req, Res>(
    method: string,
    opts: GuardOptions,
    fn: (req: Req, ctx: HandlerContext) => Res | Promise<Res>,
  ): handleUnaryCall<Req, Res> => guardUnary(state, member, method, opts, fn);
  const followerRead = { followerReadable: true };

  const regionAnswer = (r: RegionInfo | undefined, follower: boolean): GetRegionResponse => {
    if (!r) {
      // The leader answers "no region" with an OK header; a follower says REGION_NOT_FOUND.
      return GetRegionResponse.fromPartial({
        header: follower ? err(ErrorType.REGION_NOT_FOUND, REGION_NOT_FOUND_MESSAGE) : ok(),
      });
    }
    return GetRegionResponse.fromPartial({
      header: ok(),
      region: encodeRegionMeta(state, r),
      leader: r.leader,
      downPeers: downPeerStats(state, r),
      pendingPeers: pendingPeers(r),
    });
  };

  // Groups split keys (PD form) per region and splits; keys on an existing boundary stay
  // unprocessed, as pkg/schedule/splitter/region_splitter.go leaves them.
  const splitKeys = (keys: Buffer[]): { percentage: number; newIds: bigint[] } => {
    if (keys.length === 0) return { percentage: 0, newIds: [] };
    const groups = new Map<bigint, Buffer[]>();
    for (const k of keys) {
      const user = state.codec.decode(k);
      if (!user || user.length === 0) continue;
      const r = state.topology.locateKey(user);
      if (!r || r.startKey.equals(user)) continue;
      const g = groups.get(r.id);
      if (g) g.push(user);
      else groups.set(r.id, [user]);
    }
    const newIds: bigint[] = [];
    let processed = 0;
    for (const [id, ks] of groups) {
      const uniq = [...new Map(ks.map((k) => [k.toString("latin1"), k])).values()];
      const res = state.topology.splitRegion(id, uniq);
      for (const r of res) if (r.id !== id) newIds.push(r.id);
      processed += ks.length;
    }
    const unprocessed = keys.length - processed;
    return { percentage: 100 - Math.floor((unprocessed * 100) / keys.length), newIds };
  };

  const scatter = (ids: bigint[]): { percentage: number; failed: bigint[] } => {
    const failed: bigint[] = [];
    let ops = 0;
    for (const id of ids) {
      if (!state.topology.regionById(id)) {
        failed.push(id);
        continue;
      }
      ops++;
      state.operators.set(id, {
        desc: "scatter-region",
        kind: "admin,region",
        status: OperatorStatus.SUCCESS,
      });
    }
    const percentage =
      failed.length > 0 ? 100 - Math.floor((100 * failed.length) / (ops + failed.length)) : 100;
    return { percentage, failed };
  };

  const gcHeaderError = <T>(build: (h: ReturnType<typeof ok>) => T, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof GcError) return build(err(ErrorType.UNKNOWN, e.message));
      throw e;
    }
  };

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
        serviceModes: [ServiceMode.PD_SVC_MODE],
        tsoUrls: [],
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
      const ts = state.tso.generate(1);
      return GetMinTSResponse.fromPartial({
        header: ok(),
        timestamp: { physical: BigInt(ts.physical), logical: BigInt(ts.logical), suffixBits: 0 },
      });
    }),

    getRegion: unary("GetRegion", followerRead, (req: { regionKey: Buffer }, ctx) =>
      regionAnswer(locateEncoded(state, req.regionKey), ctx.follower),
    ),

    getPrevRegion: unary("GetPrevRegion", followerRead, (req: { regionKey: Buffer }, ctx) => {
      const cur = locateEncoded(state, req.regionKey);
      const prev = cur && cur.startKey.length > 0 ? state.topology.prevRegion(cur.startKey) : undefined;
      return regionAnswer(prev, ctx.follower);
    }),

    getRegionById: unary("GetRegionByID", followerRead, (req: { regionId: bigint }, ctx) =>
      regionAnswer(state.topology.regionById(req.regionId), ctx.follower),
    ),

    scanRegions: unary(
      "ScanRegions",
      followerRead,
      (req: { startKey: Buffer; endKey: Buffer; limit: number }, ctx) => {
        const regions = scanEncoded(state, req.startKey, req.endKey, req.limit);
        if (ctx.follower && regions.length === 0) {
          return ScanRegionsResponse.fromPartial({
            header: err(ErrorType.REGION_NOT_FOUND, REGION_NOT_FOUND_MESSAGE),
          });
        }
        const pd = regions.map((r) => pdRegion(state, r));
        return ScanRegionsResponse.fromPartial({
          header: ok(),
          regionMetas: pd.map((r) => r.region!),
          leaders: pd.map((r) => r.leader!),
          regions: pd,
        });
      },
    ),

    batchScanRegions: unary(
      "BatchScanRegions",
      followerRead,
      (req: { ranges: { startKey: Buffer; endKey: Buffer }[]; limit: number }, ctx) => {
        const ranges = req.ranges;
        for (let i = 0; i < ranges.length; i++) {
          const r = ranges[i]!;
          if (i > 0 && Buffer.compare(r.startKey, ranges[i - 1]!.endKey) < 0) {
            return BatchScanRegionsResponse.fromPartial({
              header: err(ErrorType.UNKNOWN, "invalid key range, ranges overlapped"),
            });
          }
          if (r.endKey.length > 0 && Buffer.compare(r.startKey, r.endKey) > 0) {
            return BatchScanRegionsResponse.fromPartial({
              header: err(ErrorType.UNKNOWN, "invalid key range, start key > end key"),
            });
          }
        }
        const out: RegionInfo[] = [];
        for (const r of mergeRanges(ranges)) {
          let found = scanEncoded(state, r.startKey, r.endKey, req.limit);
          if (out.length > 0 && found.length > 0 && out[out.length - 1]!.id === found[0]!.id)
            found = found.slice(1);
          out.push(...found);
          if (req.limit > 0 && out.length >= req.limit) {
            out.length = req.limit;
            break;
          }
        }
        if (ctx.follower && out.length === 0) {
          return BatchScanRegionsResponse.fromPartial({
            header: err(ErrorType.REGION_NOT_FOUND, REGION_NOT_FOUND_MESSAGE),
          });
        }
        return BatchScanRegionsResponse.fromPartial({
          header: ok(),
          regions: out.map((r) => pdRegion(state, r)),
        });
      },
    ),

    getStore: unary("GetStore", {}, (req: { storeId: bigint }) => {
      const s = state.topology.store(req.storeId);
      if (!s) {
        return GetStoreResponse.fromPartial({
          header: err(ErrorType.UNKNOWN, `invalid store ID ${req.storeId}, not found`),
        });
      }
      return GetStoreResponse.fromPartial({
        header: ok(),
        store: storeMeta(state, s),
        stats: {
          storeId: s.id,
          startTime: Number(s.startTimestamp),
          regionCount: state.topology.regionsOnStore(s.id).length,
        },
      });
    }),

    getAllStores: unary("GetAllStores", {}, (req: { excludeTombstoneStores: boolean }) => {
      let stores = state.topology.stores().map((s) => storeMeta(state, s));
      if (req.excludeTombstoneStores) stores = stores.filter((s) => s.nodeState !== NodeState.Removed);
      return GetAllStoresResponse.fromPartial({ header: ok(), stores });
    }),

    scatterRegion: unary("ScatterRegion", {}, (req: { regionId: bigint; regionsId: bigint[] }) => {
      if (req.regionsId.length > 0) {
        const { percentage, failed } = scatter(req.regionsId);
        return ScatterRegionResponse.fromPartial({
          header: ok(),
          finishedPercentage: BigInt(percentage),
          failedRegionsId: failed,
        });
      }
      if (!state.topology.regionById(req.regionId)) {
        // PD sends this literal (its format verb is never filled in).
        return ScatterRegionResponse.fromPartial({
          header: err(ErrorType.REGION_NOT_FOUND, "region %d not found"),
        });
      }
      scatter([req.regionId]);
      return ScatterRegionResponse.fromPartial({ header: ok(), finishedPercentage: 100n });
    }),

    getOperator: unary("GetOperator", {}, (req: { regionId: bigint }) => {
      const op = state.operators.get(req.regionId);
      if (!op)
        return GetOperatorResponse.fromPartial({ header: err(ErrorType.REGION_NOT_FOUND, "Not Found") });
      return GetOperatorResponse.fromPartial({
        header: ok(),
        regionId: req.regionId,
        desc: Buffer.from(op.desc),
        kind: Buffer.from(op.kind),
        status: op.status,
      });
    }),

    splitRegions: unary("SplitRegions", {}, (req: { splitKeys: Buffer[] }) => {
      const { percentage, newIds } = splitKeys(req.splitKeys);
      return SplitRegionsResponse.fromPartial({
        header: ok(),
        regionsId: newIds,
        finishedPercentage: BigInt(percentage),
      });
    }),

    splitAndScatterRegions: unary("SplitAndScatterRegions", {}, (req: { splitKeys: Buffer[] }) => {
      const { percentage, newIds } = splitKeys(req.splitKeys);
      const sc = scatter(newIds);
      return SplitAndScatterRegionsResponse.fromPartial({
        header: ok(),
        regionsId: newIds,
        splitFinishedPercentage: BigInt(percentage),
        scatterFinishedPercentage: BigInt(sc.percentage),
      });
    }),

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
              globalGcBarriers: req.includeGlobalGcBarriers ? { barriers: [] } : undefined,
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
        globalGcBarriers: [],
      });
    }),

    getExternalTimestamp: unary("GetExternalTimestamp", {}, () =>
      GetExternalTimestampResponse.fromPartial({ header: ok(), timestamp: state.externalTs }),
    ),

    setExternalTimestamp: unary("SetExternalTimestamp", {}, (req: { timestamp: bigint }) => {
      const global = packTs(state.tso.generate(1));
      if (req.timestamp > global) {
        return SetExternalTimestampResponse.fromPartial({
          header: err(ErrorType.INVALID_VALUE, "the external timestamp should not be larger than global ts"),
        });
      }
      if (req.timestamp <= state.externalTs) {
        return SetExternalTimestampResponse.fromPartial({
          header: err(
            ErrorType.INVALID_VALUE,
            "the external timestamp should be larger than current external timestamp",
          ),
        });
      }
      state.externalTs = req.timestamp;
      return SetExternalTimestampResponse.fromPartial({ header: ok() });
    }),

    allocId: unary("AllocID", {}, (req: { count: number }) => {
      const count = req.count === 0 ? 1 : req.count;
      // PD answers the LAST id of the batch (pkg/id/id.go Alloc), and count only when > 1.
      const last = state.topology.ids.allocBatch(count) + BigInt(count - 1);
      return AllocIDResponse.fromPartial({ header: ok(), id: last, count: count > 1 ? count : 0 });
    }),

    getClusterConfig: unary("GetClusterConfig", {}, () =>
      GetClusterConfigResponse.fromPartial({
        header: ok(),
        cluster: { id: state.clusterId, maxPeerCount: state.maxPeerCount },
      }),
    ),

    storeHeartbeat: unary("StoreHeartbeat", {}, (req: { stats?: { storeId: bigint } }) => {
      if (!req.stats) throw statusError(status.UNKNOWN, "invalid store heartbeat command");
      const s = state.topology.store(req.stats.storeId);
      if (s?.state === "tombstone") {
        return StoreHeartbeatResponse.fromPartial({
          header: err(ErrorType.STORE_TOMBSTONE, "store is tombstone"),
        });
      }
      if (!s) {
        return StoreHeartbeatResponse.fromPartial({
          header: err(ErrorType.UNKNOWN, `store ${req.stats.storeId} not found`),
        });
      }
      return StoreHeartbeatResponse.fromPartial({ header: ok(), clusterVersion: state.storeVersion });
    }),

    reportBuckets: (call: ServerReadableStream<ReportBucketsRequest, ReportBucketsResponse>, callback) => {
      // Buckets are not modelled: accept and drop them.
      call.on("data", (req: ReportBucketsRequest) => state.faults.enter("ReportBuckets", member, req));
      call.on("end", () => callback(null, ReportBucketsResponse.fromPartial({ header: ok() })));
      call.on("error", () => {});
    },

    loadGlobalConfig: (call, callback) => {
      state.faults.enter("LoadGlobalConfig", member, call.request);
      const path = call.request.configPath || "/global/config/";
      const items = call.request.names.map((name) => {
        const v = state.globalConfig.get(path + name);
        return v
          ? { name, value: v.value, payload: v.payload }
          : { name, error: { type: ErrorType.GLOBAL_CONFIG_NOT_FOUND, message: `${name} not found` } };
      });
      callback(null, LoadGlobalConfigResponse.fromPartial({ items, revision: 0n }));
    },

    storeGlobalConfig: (call, callback) => {
      state.faults.enter("StoreGlobalConfig", member, call.request);
      const path = call.request.configPath || "/global/config/";
      for (const c of call.request.changes) {
        if (c.kind === 1) state.globalConfig.delete(path + c.name);
        else state.globalConfig.set(path + c.name, { value: c.value, payload: c.payload });
      }
      callback(null, StoreGlobalConfigResponse.fromPartial({}));
    },

    watchGlobalConfig: (call: ServerWritableStream<WatchGlobalConfigRequest, WatchGlobalConfigResponse>) => {
      // No change feed: keep the stream open until the client goes away.
      state.faults.enter("WatchGlobalConfig", member, call.request);
      call.on("cancelled", () => call.end());
    },
  };
}

/** Merges touching/overlapping sorted ranges (pd keyutil.KeyRanges.Merge). */
function mergeRanges(ranges: { startKey: Buffer; endKey: Buffer }[]): { startKey: Buffer; endKey: Buffer }[] {
  const out: { startKey: Buffer; endKey: Buffer }[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && last.endKey.length > 0 && Buffer.compare(r.startKey, last.endKey) <= 0) {
      if (r.endKey.length === 0 || Buffer.compare(r.endKey, last.endKey) > 0) last.endKey = r.endKey;
      continue;
    }
    if (last && last.endKey.length === 0) continue;
    out.push({ startKey: r.startKey, endKey: r.endKey });
  }
  return out;
}
