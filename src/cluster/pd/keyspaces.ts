// Keyspace registry of the mock PD (pd pkg/keyspace): name -> id, state and config. The
// "DEFAULT" keyspace (id 0) always exists. Unknown names answer ENTRY_NOT_FOUND with
// errs.ErrKeyspaceNotFound's message (server/keyspace_service.go getErrorHeader).
import { KeyspaceMeta, KeyspaceState } from "../../proto/keyspacepb.js";
import type { ClusterTopology } from "../topology/cluster-topology.js";
import type { RegionInfo } from "../topology/types.js";
import { pdErrorMessage } from "./errors.js";

/** Name of the keyspace that always exists. */
export const DEFAULT_KEYSPACE_NAME = "DEFAULT";
/** Keyspace config key selecting the GC mode. */
export const GC_MANAGEMENT_TYPE = "gc_management_type";
/** Value of {@link GC_MANAGEMENT_TYPE} that enables keyspace-level GC. */
export const KEYSPACE_LEVEL_GC = "keyspace_level";
/** errs.ErrKeyspaceNotFound rendered. */
export const KEYSPACE_NOT_FOUND_MESSAGE = pdErrorMessage(
  "PD:keyspace:ErrKeyspaceNotFound",
  "keyspace does not exist",
);

/** Options of {@link KeyspaceRegistry.add}. */
export interface KeyspaceSpec {
  name: string;
  /** Default: next free id. */
  id?: number;
  /** Default ENABLED. */
  state?: KeyspaceState;
  config?: Record<string, string>;
}

/** In-memory keyspace metadata. */
export class KeyspaceRegistry {
  private readonly byName = new Map<string, KeyspaceMeta>();
  private readonly byId = new Map<number, KeyspaceMeta>();
  private nextId = 1;

  constructor(private readonly now: () => number = Date.now) {
    this.add({ name: DEFAULT_KEYSPACE_NAME, id: 0 });
  }

  /** Registers (or replaces) a keyspace and returns its metadata. */
  add(spec: KeyspaceSpec): KeyspaceMeta {
    const id = spec.id ?? this.nextId;
    if (!Number.isInteger(id) || id < 0 || id > 0xffffff)
      throw new RangeError(`keyspace id out of range: ${id}`);
    const other = this.byId.get(id);
    if (other && other.name !== spec.name)
      throw new RangeError(`keyspace id ${id} is taken by ${other.name}`);
    const sec = BigInt(Math.floor(this.now() / 1000));
    const meta = KeyspaceMeta.fromPartial({
      keyspace: { $case: "id", id },
      name: spec.name,
      state: spec.state ?? KeyspaceState.ENABLED,
      createdAt: sec,
      stateChangedAt: sec,
      config: { ...(spec.config ?? {}) },
    });
    this.byName.set(spec.name, meta);
    this.byId.set(id, meta);
    if (id >= this.nextId) this.nextId = id + 1;
    return meta;
  }

  /** Changes a keyspace's state. */
  setState(name: string, state: KeyspaceState): KeyspaceMeta {
    const meta = this.byName.get(name);
    if (!meta) throw new RangeError(`keyspace ${name} not found`);
    meta.state = state;
    meta.stateChangedAt = BigInt(Math.floor(this.now() / 1000));
    return meta;
  }

  /** Metadata by name. */
  get(name: string): KeyspaceMeta | undefined {
    return this.byName.get(name);
  }

  /** Metadata by id. */
  getById(id: number): KeyspaceMeta | undefined {
    return this.byId.get(id);
  }

  /** Ids of every keyspace. */
  ids(): number[] {
    return [...this.byId.keys()].sort((a, b) => a - b);
  }

  /** GC lookup for {@link GcStateManager}. */
  gcInfo(id: number): { name: string; keyspaceLevel: boolean } | undefined {
    const m = this.byId.get(id);
    return m && { name: m.name, keyspaceLevel: m.config[GC_MANAGEMENT_TYPE] === KEYSPACE_LEVEL_GC };
  }
}

/**
 * User-key boundaries of a keyspace's regions (pd pkg/keyspace/util.go MakeRegionBound): the
 * raw ('r') and txn ('x') ranges [prefix + id, prefix + id + 1), ids as 3 big-endian bytes.
 */
export function keyspaceRegionBounds(id: number): Buffer[] {
  const bound = (prefix: number, v: number) => {
    // (prefix << 24 | v) as 4 bytes: id + 1 = 2^24 carries into the prefix byte.
    const b = Buffer.alloc(4);
    b.writeUInt32BE(prefix * 0x1000000 + v);
    return b;
  };
  return [bound(0x72, id), bound(0x72, id + 1), bound(0x78, id), bound(0x78, id + 1)];
}

/**
 * Splits the regions at keyspace `id`'s raw and txn bounds, as PD does when it bootstraps the
 * default keyspace and when it creates one (pd pkg/keyspace/keyspace.go splitKeyspaceRegion; PD
 * labels the ranges and its scheduler splits there; here the split is immediate). On a
 * memcomparable topology the bounds are stored encoded, as PD's EncodeKeyspaceBoundary writes
 * them. Bounds already on a region boundary are left alone. Returns the regions created.
 *
 * @example splitKeyspaceRegions(topology, 0) // regions cut at r000, r001, x000, x001
 */
export function splitKeyspaceRegions(topology: ClusterTopology, id: number): RegionInfo[] {
  return topology.splitAt(keyspaceRegionBounds(id));
}
