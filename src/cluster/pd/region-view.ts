// What PD answers region lookups from: normally the live topology; while "frozen", a snapshot
// taken earlier, to model PD lagging behind TiKV (region heartbeats not yet reported, as in
// client-go's stale-region tests).
import type { RegionInfo } from "../topology/types.js";

/** Region lookups PD needs, keys in stored form; ClusterTopology provides them live. */
export interface RegionView {
  locateStoredKey(key: Uint8Array): RegionInfo | undefined;
  prevStoredRegion(key: Uint8Array): RegionInfo | undefined;
  regionById(id: bigint): RegionInfo | undefined;
  regions(): RegionInfo[];
  /** Regions from the one containing `start` onwards. */
  scanStoredRegions(start: Uint8Array): RegionInfo[];
}

/** An immutable region map captured at one moment (region snapshots are immutable). */
export class FrozenRegionView implements RegionView {
  private readonly sorted: RegionInfo[];
  private readonly byId: Map<bigint, RegionInfo>;

  constructor(regions: readonly RegionInfo[]) {
    this.sorted = [...regions].sort((a, b) =>
      Buffer.compare(a.storedRegion.startKey, b.storedRegion.startKey),
    );
    this.byId = new Map(this.sorted.map((r) => [r.id, r]));
  }

  private indexOf(key: Uint8Array): number {
    // Last region whose start key <= key.
    let lo = 0;
    let hi = this.sorted.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.sorted[mid]!.storedRegion.startKey, key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return -1;
    const r = this.sorted[found]!.storedRegion;
    return r.endKey.length === 0 || Buffer.compare(key, r.endKey) < 0 ? found : -1;
  }

  locateStoredKey(key: Uint8Array): RegionInfo | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.sorted[i];
  }

  prevStoredRegion(key: Uint8Array): RegionInfo | undefined {
    const i = this.indexOf(key);
    return i <= 0 ? undefined : this.sorted[i - 1];
  }

  regionById(id: bigint): RegionInfo | undefined {
    return this.byId.get(id);
  }

  regions(): RegionInfo[] {
    return [...this.sorted];
  }

  scanStoredRegions(start: Uint8Array): RegionInfo[] {
    const i = this.indexOf(start);
    return i < 0 ? [] : this.sorted.slice(i);
  }
}
