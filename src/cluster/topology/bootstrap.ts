// Ready-made cluster layouts: one store, N stores with every region on all (or `replicas`) of
// them, regions cut at given keys, and zones x stores with zone/host labels.
import { ClusterTopology } from "./cluster-topology.js";
import { TopologyError } from "./errors.js";
import type { RegionKeyEncoding } from "./stored-keys.js";

/** Layout of a freshly bootstrapped cluster. */
export interface BootstrapOptions {
  /** Stores (per zone when `zones` is set). Default 1. */
  stores?: number;
  /** Number of zones; stores get labels zone=z<i> and host=h<storeId>. */
  zones?: number;
  /** Peers per region (default: every store). Region i is placed round-robin. */
  replicas?: number;
  /** Keys at which the key space is cut into regions (user keys, written per `keyEncoding`). */
  splitKeys?: readonly (Uint8Array | string)[];
  /** How user split keys become boundaries (default "raw": as they are). */
  keyEncoding?: RegionKeyEncoding;
  /** Address of each store ("" by default; the mock stores set it when they listen). */
  addressOf?: (storeIndex: number) => string;
  /** First id of the allocator (default 1). */
  firstId?: bigint;
  /** Clock (ms) used for store start times and down-peer times. */
  now?: () => number;
}

/** Builds a topology with the given layout. */
export function bootstrapTopology(opts: BootstrapOptions = {}): ClusterTopology {
  const perZone = opts.stores ?? 1;
  const zones = opts.zones ?? 0;
  const total = zones > 0 ? zones * perZone : perZone;
  if (!Number.isInteger(total) || total < 1)
    throw new TopologyError("INVALID_ARGUMENT", `bad store count ${total}`);
  const replicas = opts.replicas ?? total;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > total) {
    throw new TopologyError("INVALID_ARGUMENT", `replicas must be in [1, ${total}], got ${replicas}`);
  }
  const topo = new ClusterTopology({ firstId: opts.firstId, now: opts.now, keyEncoding: opts.keyEncoding });
  const storeIds: bigint[] = [];
  for (let i = 0; i < total; i++) {
    const labels = zones > 0 ? { zone: `z${Math.floor(i / perZone) + 1}`, host: `h${i + 1}` } : undefined;
    storeIds.push(topo.addStore({ address: opts.addressOf?.(i) ?? "", labels }).id);
  }
  // With zones, place replicas across zones first (store order z1h1, z2h1, ...).
  const order =
    zones > 0
      ? Array.from({ length: total }, (_, j) => storeIds[(j % zones) * perZone + Math.floor(j / zones)]!)
      : storeIds;
  topo.bootstrapRegions(
    (i) => Array.from({ length: replicas }, (_, k) => order[(i + k) % total]!),
    opts.splitKeys ?? [],
  );
  return topo;
}
