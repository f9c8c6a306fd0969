// Glue: the PD actor seen as the region cache's RegionSource, and the API codec seen as the PD
// actor's RegionKeyCodec (client-go CodecPDClient: encode lookups, decode/clamp boundaries).

import { KeyOutOfKeyspaceError } from "../../errors/codec.js";
import { RegionUnavailableError } from "../../errors/server.js";
import type { ApiCodec } from "../../kv/api-codec.js";
import type { Region, Store } from "../../proto/metapb.js";
import type { PdActor } from "../pd/pd-actor.js";
import type { PdRegion, RegionKeyCodec } from "../pd/region-types.js";
import type { RegionInfo, RegionSource } from "../region-cache/region-source.js";
import type { ClientMetrics } from "./metrics.js";
import type { RegionCacheOp } from "./metrics-sink.js";

/** Adapts an {@link ApiCodec} to the PD actor's region-boundary codec. */
export function regionKeyCodec(codec: ApiCodec): RegionKeyCodec {
  return {
    encodeKey: (k) => codec.encodeRegionKey(k),
    // An empty end is +inf; in API v2 it becomes the keyspace's end.
    encodeEndKey: (k) => codec.encodeRegionRange(Buffer.alloc(0), k).end,
    decodeRegion: (r: Region): Region | undefined => {
      try {
        const { start, end } = codec.decodeRegionRange(r.startKey, r.endKey);
        return start === r.startKey && end === r.endKey ? r : { ...r, startKey: start, endKey: end };
      } catch (e) {
        if (e instanceof KeyOutOfKeyspaceError) return undefined; // outside this client's keyspace
        // a boundary not in the cluster's key form will not become one: fail at once (client-go
        // loadRegion: IsDecodeError, no backoff), saying what is wrong
        throw new RegionUnavailableError(
          `region ${r.id} boundaries from PD cannot be decoded (${(e as Error).message}): a transactional ` +
            "client on API v1 needs memcomparable-encoded region keys, as TiDB splits them; these " +
            "regions were split at raw keys (an EmbeddedCluster for transactions takes " +
            'regionKeyEncoding: "memcomparable")',
          { cause: e },
        );
      }
    },
    decodeBucketKeys: (keys) => codec.decodeBucketKeys(keys),
  };
}

function toInfo(r: PdRegion | undefined): RegionInfo | undefined {
  if (!r) return undefined;
  return {
    meta: r.meta,
    leader: r.leader,
    downPeers: r.downPeers.map((d) => d.peer).filter((p): p is NonNullable<typeof p> => p !== undefined),
    pendingPeers: r.pendingPeers,
    buckets: r.buckets,
  };
}

/**
 * The PD actor as a {@link RegionSource}, counting lookups into `metrics`. `regionCodec` overrides
 * the actor's own region codec (the transactional side of a client).
 */
export class PdRegionSource implements RegionSource {
  // client-go loadRegion / loadRegionByID always ask for buckets (opt.WithBuckets); scans do not
  private readonly opts: { regionCodec?: RegionKeyCodec; needBuckets?: boolean } | undefined;
  private readonly withBuckets: { regionCodec?: RegionKeyCodec; needBuckets: true };

  constructor(
    private readonly pd: PdActor,
    private readonly metrics: ClientMetrics,
    regionCodec?: RegionKeyCodec,
  ) {
    this.opts = regionCodec ? { regionCodec } : undefined;
    this.withBuckets = regionCodec ? { regionCodec, needBuckets: true } : { needBuckets: true };
  }

  async getRegion(key: Buffer): Promise<RegionInfo | undefined> {
    this.metrics.pdRegionLookups++;
    return toInfo(await this.observed("get_region_when_miss", this.pd.getRegion(key, this.withBuckets)));
  }

  async getPrevRegion(key: Buffer): Promise<RegionInfo | undefined> {
    this.metrics.pdRegionLookups++;
    return toInfo(await this.observed("get_region_when_miss", this.pd.getPrevRegion(key, this.withBuckets)));
  }

  async getRegionById(id: bigint): Promise<RegionInfo | undefined> {
    this.metrics.pdRegionLookups++;
    return toInfo(await this.observed("get_region_by_id", this.pd.getRegionById(id, this.withBuckets)));
  }

  async scanRegions(start: Buffer, end: Buffer, limit: number): Promise<RegionInfo[]> {
    this.metrics.pdRegionLookups++;
    const out: RegionInfo[] = [];
    for (const r of await this.observed("scan_regions", this.pd.scanRegions(start, end, limit, this.opts))) {
      const info = toInfo(r);
      if (info) out.push(info);
    }
    return out;
  }

  async getStore(id: bigint): Promise<Store | undefined> {
    this.metrics.pdStoreLookups++;
    // fresh: the store cache asks again only when it suspects a change (address, tombstone)
    return this.observed("get_store", this.pd.getStore(Number(id), { fresh: true }));
  }

  // mirrors a lookup's outcome to the metrics exporter and the tracer; with neither attached,
  // the promise as is
  private observed<T>(op: RegionCacheOp, p: Promise<T>): Promise<T> {
    const m = this.metrics;
    if (m.tracer !== undefined) {
      const lookup = p;
      p = m.tracer.span(LOAD_SPANS[op], {}, () => lookup, "client");
    }
    if (!m.sink) return p;
    return p.then(
      (v) => {
        m.countRegionCacheOp(op, true);
        return v;
      },
      (e: unknown) => {
        m.countRegionCacheOp(op, false);
        throw e;
      },
    );
  }
}

// client-go region cache span names (loadRegion, loadRegionByID, scanRegions; stores: loadStore)
const LOAD_SPANS: Record<RegionCacheOp, string> = {
  get_region_when_miss: "loadRegion",
  get_region_by_id: "loadRegionByID",
  scan_regions: "scanRegions",
  get_store: "loadStore",
};
