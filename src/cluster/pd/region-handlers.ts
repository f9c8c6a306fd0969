// Region and store lookups of the mock PD (server/grpc_service.go GetRegion, GetPrevRegion,
// GetRegionByID, ScanRegions, BatchScanRegions, GetStore, GetAllStores; answers built as in
// pkg/utils/grpcutil/cluster.go). Region reads may be served by followers when the client sets
// the follower-handle metadata.
import { NodeState } from "../../proto/metapb.js";
import {
  BatchScanRegionsResponse,
  ErrorType,
  GetAllStoresResponse,
  GetRegionResponse,
  GetStoreResponse,
  type PDServer,
  ScanRegionsResponse,
} from "../../proto/pdpb.js";
import type { RegionInfo } from "../topology/types.js";
import type { HandlerKit } from "./call-guard.js";
import {
  downPeerStats,
  encodeRegionMeta,
  locateEncoded,
  pdRegion,
  pendingPeers,
  regionBuckets,
  scanEncoded,
  storeMeta,
} from "./region-answers.js";

const REGION_NOT_FOUND_MESSAGE = "region not found";

type RegionMethods =
  | "getRegion"
  | "getPrevRegion"
  | "getRegionById"
  | "scanRegions"
  | "batchScanRegions"
  | "getStore"
  | "getAllStores";

/** Region and store handlers of one member. */
export function regionHandlers(kit: HandlerKit): Pick<PDServer, RegionMethods> {
  const { state, ok, err, unary } = kit;
  const followerRead = { followerReadable: true };

  const regionAnswer = (
    r: RegionInfo | undefined,
    follower: boolean,
    needBuckets = false,
  ): GetRegionResponse => {
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
      // a follower-handled read never carries buckets (grpc_service.go: !followerHandle && need)
      buckets: regionBuckets(state, r, needBuckets && !follower),
    });
  };

  return {
    getRegion: unary("GetRegion", followerRead, (req: { regionKey: Buffer; needBuckets: boolean }, ctx) =>
      regionAnswer(locateEncoded(state, req.regionKey), ctx.follower, req.needBuckets),
    ),

    getPrevRegion: unary(
      "GetPrevRegion",
      followerRead,
      (req: { regionKey: Buffer; needBuckets: boolean }, ctx) => {
        const cur = locateEncoded(state, req.regionKey);
        const start = cur?.storedRegion.startKey;
        const prev = start && start.length > 0 ? state.regionView().prevStoredRegion(start) : undefined;
        return regionAnswer(prev, ctx.follower, req.needBuckets);
      },
    ),

    getRegionById: unary(
      "GetRegionByID",
      followerRead,
      (req: { regionId: bigint; needBuckets: boolean }, ctx) =>
        regionAnswer(state.regionView().regionById(req.regionId), ctx.follower, req.needBuckets),
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
      (req: { ranges: { startKey: Buffer; endKey: Buffer }[]; limit: number; needBuckets: boolean }, ctx) => {
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
          regions: out.map((r) => pdRegion(state, r, req.needBuckets && !ctx.follower)),
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
  };
}

/** Joins ranges that touch exactly (end == next start), as pd keyutil.KeyRanges.Merge. */
function mergeRanges(ranges: { startKey: Buffer; endKey: Buffer }[]): { startKey: Buffer; endKey: Buffer }[] {
  const out: { startKey: Buffer; endKey: Buffer }[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last?.endKey.equals(r.startKey)) last.endKey = r.endKey;
    else out.push({ startKey: r.startKey, endKey: r.endKey });
  }
  return out;
}
