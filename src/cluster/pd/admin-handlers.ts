// Scheduling and cluster-level handlers of the mock PD (server/grpc_service.go): split and
// scatter (scatter operators really move peers and leaders, see scatterer.ts), AllocID, external timestamp, cluster config, store
// heartbeats, bucket reports and global config.
import type { ServerReadableStream, ServerWritableStream } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import {
  AllocIDResponse,
  ErrorType,
  GetClusterConfigResponse,
  GetExternalTimestampResponse,
  GetOperatorResponse,
  LoadGlobalConfigResponse,
  OperatorStatus,
  type PDServer,
  type ReportBucketsRequest,
  ReportBucketsResponse,
  ScatterRegionResponse,
  SetExternalTimestampResponse,
  SplitAndScatterRegionsResponse,
  SplitRegionsResponse,
  StoreGlobalConfigResponse,
  StoreHeartbeatResponse,
  type WatchGlobalConfigRequest,
  type WatchGlobalConfigResponse,
} from "../../proto/pdpb.js";
import type { HandlerKit } from "./call-guard.js";
import { pdErrorMessage, statusError } from "./errors.js";
import { SCATTER_DESC } from "./scatterer.js";
import { packTs } from "./tso.js";

type AdminMethods =
  | "scatterRegion"
  | "getOperator"
  | "splitRegions"
  | "splitAndScatterRegions"
  | "getExternalTimestamp"
  | "setExternalTimestamp"
  | "allocId"
  | "getClusterConfig"
  | "storeHeartbeat"
  | "reportBuckets"
  | "loadGlobalConfig"
  | "storeGlobalConfig"
  | "watchGlobalConfig";

/** Scheduling and cluster-level handlers of one member. */
export function adminHandlers(kit: HandlerKit): Pick<PDServer, AdminMethods> {
  const { state, member, ok, err, unary } = kit;

  // Groups split keys (PD form) per region and splits; keys on an existing boundary stay
  // unprocessed, as pkg/schedule/splitter/region_splitter.go leaves them.
  const splitKeys = (keys: Buffer[]): { percentage: number; newIds: bigint[] } => {
    if (keys.length === 0) return { percentage: 0, newIds: [] };
    const groups = new Map<bigint, Buffer[]>();
    for (const k of keys) {
      // PD splits at the bytes it is sent (raw or encoded keys alike).
      const stored = state.wire.decode(k);
      if (!stored || stored.length === 0) continue;
      const r = state.topology.locateStoredKey(stored);
      if (!r || r.storedRegion.startKey.equals(stored)) continue;
      const g = groups.get(r.id);
      if (g) g.push(stored);
      else groups.set(r.id, [stored]);
    }
    const newIds: bigint[] = [];
    let processed = 0;
    for (const [id, ks] of groups) {
      const uniq = [...new Map(ks.map((k) => [k.toString("latin1"), k])).values()];
      const res = state.topology.splitStoredRegion(id, uniq);
      for (const r of res) if (r.id !== id) newIds.push(r.id);
      processed += ks.length;
    }
    const unprocessed = keys.length - processed;
    return { percentage: 100 - Math.floor((unprocessed * 100) / keys.length), newIds };
  };

  // ScatterRegionsByID: unknown regions and regions that cannot be scattered are failures;
  // a single unknown id fails the whole call (errs.ErrRegionNotFound, never formatted).
  const scatter = (ids: bigint[], group: string): { percentage: number; failed: bigint[] } => {
    if (ids.length === 1 && !state.topology.regionById(ids[0] as bigint)) {
      throw statusError(status.UNKNOWN, pdErrorMessage("PD:region:ErrRegionNotFound", "region %v not found"));
    }
    const failed: bigint[] = [];
    let ops = 0;
    for (const id of new Set(ids)) {
      if (state.scatterer.scatter(id, group).ok) ops++;
      else failed.push(id);
    }
    const percentage =
      failed.length > 0 ? 100 - Math.floor((100 * failed.length) / (ops + failed.length)) : 100;
    return { percentage, failed };
  };

  return {
    scatterRegion: unary(
      "ScatterRegion",
      {},
      (req: { regionId: bigint; regionsId: bigint[]; region?: object; group: string }) => {
        if (req.regionsId.length > 0) {
          const { percentage, failed } = scatter(req.regionsId, req.group);
          return ScatterRegionResponse.fromPartial({
            header: ok(),
            finishedPercentage: BigInt(percentage),
            failedRegionsId: failed,
          });
        }
        // PD falls back to the region carried in the request when it does not know the id.
        if (!state.topology.regionById(req.regionId) && !req.region) {
          // PD sends this literal (its format verb is never filled in).
          return ScatterRegionResponse.fromPartial({
            header: err(ErrorType.REGION_NOT_FOUND, "region %d not found"),
          });
        }
        if (!state.topology.regionById(req.regionId)) {
          // A region PD does not hold cannot be moved here: its operator is done at once.
          state.operators.set(req.regionId, {
            desc: SCATTER_DESC,
            kind: "admin",
            status: OperatorStatus.SUCCESS,
            group: req.group,
          });
        } else {
          const res = state.scatterer.scatter(req.regionId, req.group);
          // PD returns the scatterer's error as the call's error (grpc_service.go ScatterRegion).
          if (!res.ok) throw statusError(status.UNKNOWN, res.reason);
        }
        return ScatterRegionResponse.fromPartial({ header: ok(), finishedPercentage: 100n });
      },
    ),

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

    splitAndScatterRegions: unary(
      "SplitAndScatterRegions",
      {},
      (req: { splitKeys: Buffer[]; group: string }) => {
        const { percentage, newIds } = splitKeys(req.splitKeys);
        // Scattering no regions is errs.ErrEmptyRegion, returned as the call's error.
        if (newIds.length === 0) {
          throw statusError(status.UNKNOWN, pdErrorMessage("PD:scatter:ErrEmptyRegion", "empty region"));
        }
        const sc = scatter(newIds, req.group);
        return SplitAndScatterRegionsResponse.fromPartial({
          header: ok(),
          regionsId: newIds,
          splitFinishedPercentage: BigInt(percentage),
          scatterFinishedPercentage: BigInt(sc.percentage),
        });
      },
    ),

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
      // The topology is PD's source of buckets (ClusterTopology.setRegionBuckets, reset on
      // split/merge); reports from a store are accepted and dropped.
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
