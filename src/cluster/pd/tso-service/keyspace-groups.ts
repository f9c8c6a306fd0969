// TSO keyspace groups of the mock PD in API (microservice) mode (pd pkg/keyspace/
// tso_keyspace_group.go, pkg/tso/keyspace_group_manager.go): every keyspace belongs to one group,
// recorded in its config as "tso_keyspace_group_id"; each group has member TSO servers, one of
// them primary, and its own allocator. The default group 0 allocates with PD's own oracle, since
// PD's Tso forwards to it in API mode; other groups start above what PD has handed out.
import type { KeyspaceRegistry } from "../keyspaces.js";
import { TimestampOracle } from "../tso.js";

/** The keyspace config key PD writes a keyspace's TSO group id to. */
export const TSO_KEYSPACE_GROUP_ID_KEY = "tso_keyspace_group_id";
/** constant.DefaultKeyspaceGroupID. */
export const DEFAULT_KEYSPACE_GROUP_ID = 0;
/** The null keyspace (API v1 / no keyspace): served by the default group. */
const NULL_KEYSPACE_ID = 0xffffffff;

/** One keyspace group of {@link TsoMicroserviceOptions.keyspaceGroups}. */
export interface TsoKeyspaceGroupSpec {
  /** Group id (1 .. 4095; group 0, the default group, always exists). */
  id: number;
  /** Keyspace ids assigned to the group (their config gets tso_keyspace_group_id). */
  keyspaces?: readonly number[];
  /** Indexes of the TSO servers that are members (default: every server). */
  members?: readonly number[];
  /** Index of the primary TSO server (default: the member at position id % members). */
  primary?: number;
}

/** TSO microservice mode of the embedded cluster. */
export interface TsoMicroserviceOptions {
  /** Number of TSO servers, each on its own gRPC port (default 2). */
  servers?: number;
  /** Keyspace groups besides the default group 0 (which serves every unassigned keyspace). */
  keyspaceGroups?: readonly TsoKeyspaceGroupSpec[];
}

/** A keyspace group as the TSO servers see it. */
export interface TsoKeyspaceGroup {
  readonly id: number;
  readonly members: readonly number[];
  /** Index of the primary server; undefined while no member is up. */
  primary: number | undefined;
  readonly allocator: TimestampOracle;
}

/** The keyspace-group state every TSO server shares (PD keeps it in etcd). */
export class TsoKeyspaceGroups {
  private readonly groups = new Map<number, TsoKeyspaceGroup>();
  // assignments of keyspaces not created yet: written to their config once they exist
  private readonly pending = new Map<number, number>();
  private readonly down = new Set<number>();
  /** Revision of the group metadata; bumped on every change (FindGroupByKeyspaceID's mod_revision). */
  modRevision = 1n;

  constructor(
    readonly servers: number,
    private readonly keyspaces: KeyspaceRegistry,
    pdTso: TimestampOracle,
    specs: readonly TsoKeyspaceGroupSpec[] = [],
    now: () => number = Date.now,
  ) {
    if (!Number.isInteger(servers) || servers < 1)
      throw new RangeError(`TSO servers must be a positive integer, got ${servers}`);
    const all = Array.from({ length: servers }, (_, i) => i);
    this.groups.set(0, { id: 0, members: all, primary: 0, allocator: pdTso });
    for (const spec of specs) {
      if (!Number.isInteger(spec.id) || spec.id < 1 || spec.id > 4095 || this.groups.has(spec.id))
        throw new RangeError(`keyspace group id must be a unique integer in [1, 4095], got ${spec.id}`);
      const members = [...(spec.members ?? all)];
      if (members.length === 0 || members.some((m) => !Number.isInteger(m) || m < 0 || m >= servers))
        throw new RangeError(`keyspace group ${spec.id}: members must be TSO server indexes < ${servers}`);
      const primary = spec.primary ?? (members[spec.id % members.length] as number);
      if (!members.includes(primary))
        throw new RangeError(`keyspace group ${spec.id}: primary ${primary} is not a member`);
      const allocator = new TimestampOracle(now);
      allocator.advanceTo(pdTso.peek());
      this.groups.set(spec.id, { id: spec.id, members, primary, allocator });
      for (const ks of spec.keyspaces ?? []) this.assign(ks, spec.id);
    }
  }

  /** The group `id`, if it exists. */
  get(id: number): TsoKeyspaceGroup | undefined {
    return this.groups.get(id);
  }

  /** Every group, by id. */
  all(): TsoKeyspaceGroup[] {
    return [...this.groups.values()].sort((a, b) => a.id - b.id);
  }

  /**
   * The group keyspace `keyspaceId` belongs to: its config's tso_keyspace_group_id, else group 0
   * (PD puts new keyspaces there). Undefined when the config names a group that does not exist.
   * Writes a pending assignment into the config of a keyspace created since (PdState calls it
   * on creation, as PD writes the config when it creates a keyspace).
   */
  groupOf(keyspaceId: number): TsoKeyspaceGroup | undefined {
    if (keyspaceId === NULL_KEYSPACE_ID) return this.groups.get(DEFAULT_KEYSPACE_GROUP_ID);
    const meta = this.keyspaces.getById(keyspaceId);
    const pending = this.pending.get(keyspaceId);
    if (meta && pending !== undefined) {
      meta.config[TSO_KEYSPACE_GROUP_ID_KEY] = String(pending);
      this.pending.delete(keyspaceId);
    }
    const configured =
      meta?.config[TSO_KEYSPACE_GROUP_ID_KEY] ?? (pending === undefined ? undefined : String(pending));
    const id = configured === undefined ? DEFAULT_KEYSPACE_GROUP_ID : Number(configured);
    return this.groups.get(id);
  }

  /**
   * Moves keyspace `keyspaceId` into group `groupId` (PD's keyspace group update). The target
   * group's TSO is raised above the source's, as PD's split does (checkTSOSplit), so the
   * keyspace's timestamps keep increasing across the move.
   */
  assign(keyspaceId: number, groupId: number): void {
    const target = this.groups.get(groupId);
    if (!target) throw new RangeError(`no keyspace group ${groupId}`);
    const source = this.groupOf(keyspaceId);
    if (source && source !== target) target.allocator.advanceTo(source.allocator.peek());
    const meta = this.keyspaces.getById(keyspaceId);
    if (meta) meta.config[TSO_KEYSPACE_GROUP_ID_KEY] = String(groupId);
    else this.pending.set(keyspaceId, groupId);
    this.modRevision++;
  }

  /** Whether TSO server `index` is down. */
  isDown(index: number): boolean {
    return this.down.has(index);
  }

  /** Marks a server down (or up again): groups it led elect the next live member as primary. */
  setDown(index: number, down: boolean): void {
    if (down) this.down.add(index);
    else this.down.delete(index);
    for (const g of this.groups.values()) {
      if (!g.members.includes(index)) continue;
      if (down && g.primary === index) this.elect(g);
      else if (!down && g.primary === undefined) this.elect(g);
    }
  }

  /** Makes server `index` the primary of group `groupId` (it must be a live member). */
  setPrimary(groupId: number, index: number): void {
    const g = this.groups.get(groupId);
    if (!g) throw new RangeError(`no keyspace group ${groupId}`);
    if (!g.members.includes(index) || this.down.has(index))
      throw new RangeError(`TSO server ${index} is not a live member of keyspace group ${groupId}`);
    g.primary = index;
    this.modRevision++;
  }

  private elect(g: TsoKeyspaceGroup): void {
    const at = g.primary === undefined ? 0 : g.members.indexOf(g.primary) + 1;
    g.primary = undefined;
    for (let i = 0; i < g.members.length; i++) {
      const m = g.members[(at + i) % g.members.length] as number;
      if (!this.down.has(m)) {
        g.primary = m;
        break;
      }
    }
    this.modRevision++;
  }
}
